package store

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hangar-dev/hangar/sdk"
)

// retentionChunk bounds how many events one retention batch deletes.
const retentionChunk = 4096

// RetentionResult says what retention removed.
type RetentionResult struct {
	Events      int `json:"events"`
	DeadLetters int `json:"dead_letters"`
	// Derived counts the derived records and view entries removed.
	Derived int `json:"derived,omitempty"`
}

// DeleteEventsBefore removes the events ingested before cutoff, with their index entries
// (ExpireEvents), then the derived records and view entries stored before cutoff
// (DeleteDerivedBefore), and returns how many events it removed. A daemon with a retention of
// its own for some derived kinds calls ExpireEvents and ExpireDerived instead.
func (s *Store) DeleteEventsBefore(cutoff time.Time) (int, error) {
	total, err := s.ExpireEvents(cutoff)
	if err != nil {
		return total, err
	}
	if _, err := s.DeleteDerivedBefore(cutoff); err != nil {
		return total, err
	}
	return total, nil
}

// ExpireEvents removes the events ingested before cutoff, with their index entries, and returns
// how many. Retention goes by ingest time, which never decreases along the log, so what expires
// is always a prefix of the log: it is removed with a range delete, and the index entries of the
// removed events with point deletes. A consumer whose cursor is behind the cutoff skips what
// expired. Derived records are left to ExpireDerived.
func (s *Store) ExpireEvents(cutoff time.Time) (int, error) {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	total := 0
	for {
		n, more, err := s.expireEvents(cutoff)
		total += n
		if err != nil {
			return total, fmt.Errorf("expire events: %w", err)
		}
		if !more {
			return total, nil
		}
	}
}

// DeleteDerivedBefore removes the derived records, of every kind, stored before cutoff, and returns
// how many. DeleteEventsBefore calls it with its own cutoff: derived records are kept as long as
// events, counted from when each was stored (its IngestTime, set by AddDerived), whatever the age
// of what it was derived from.
//
// A derived key is its kind and its seq (docs/ARCHITECTURE.md), the derived sequence, one across
// all kinds, handed out at commit; it is not the sequence number of a source event (a record may
// summarize many events, or other derived records), so the first event the log retains says
// nothing about which derived records expire. But within a kind keys sort by seq, which is commit
// order, and a record is stamped when it is added to its batch, shortly before that batch
// commits: what expires of a kind is a prefix of it. Retention finds each kind with one seek, reads its records from the
// first while they are older than cutoff, and removes that prefix with one range delete; all
// kinds' deletes commit in one batch. The cost is reading the expired records once plus one seek
// per kind: no point deletes, and no counters to update (none count derived records).
//
// Stamps are nearly, not strictly, ordered by seq: AddDerived stamps a record when it is added and
// Commit numbers it, so a batch built before another but committed after it puts older stamps after
// newer ones (as does a wall clock stepped back). Retention stops at a kind's first record that is
// not expired, so such a record is never removed early: it goes with the first run after the
// records before it expire, late by at most the gap between the stamps.
//
// A reader whose ScanDerived cursor is behind what expired continues at the first record retained.
// Sequence numbers are not reused, even if every derived record expires. It is safe concurrently
// with commits of derived records, which take higher sequence numbers than any it reads.
func (s *Store) DeleteDerivedBefore(cutoff time.Time) (int, error) {
	return s.ExpireDerived(DerivedCutoffs{Default: cutoff})
}

// DeleteDLQBefore removes the dead-letter records queued before cutoff, with a range delete, and
// returns how many.
func (s *Store) DeleteDLQBefore(cutoff time.Time) (int, error) {
	n, err := s.expireDLQ(cutoff)
	if err != nil {
		return n, fmt.Errorf("expire dead letters: %w", err)
	}
	return n, nil
}

// expireEvents deletes up to retentionChunk expired events and reports whether there may be more.
func (s *Store) expireEvents(cutoff time.Time) (int, bool, error) {
	b := s.NewBatch()
	defer b.Close()
	var first, last uint64
	n := 0
	stop := errStop
	_, scanErr := s.ReadLog(0, retentionChunk, func(seq uint64, ev *sdk.Event) error {
		if !ev.IngestTime.Before(cutoff) {
			return stop
		}
		if first == 0 {
			first = seq
		}
		last = seq
		b.b.Delete(idKey(ev.ID), nil)
		b.b.Delete(timeKey(ev.Time, seq), nil)
		if ev.SessionID != "" {
			b.b.Delete(sessionKey(ev.SessionID, ev.Time, seq), nil)
		}
		b.count(counterEvent+ev.Platform+"\x00"+ev.Kind, -1)
		n++
		return nil
	})
	if scanErr != nil && scanErr != stop {
		return 0, false, scanErr
	}
	if n == 0 {
		return 0, false, nil
	}
	if err := b.b.DeleteRange(eventKey(first), eventKey(last+1), nil); err != nil {
		return 0, false, fmt.Errorf("delete events %d-%d: %w", first, last, err)
	}
	if err := b.Commit(); err != nil {
		return 0, false, err
	}
	// A scan that stopped at an unexpired event has found the end of what expires.
	return n, scanErr == nil && n == retentionChunk, nil
}

func (s *Store) expireDLQ(cutoff time.Time) (int, error) {
	var first, last uint64
	n := 0
	if err := s.scanDLQ(false, func(r DLQRecord) bool {
		if !r.Time.Before(cutoff) {
			return false
		}
		if first == 0 {
			first = r.Seq
		}
		last = r.Seq
		n++
		return true
	}); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	b := s.NewBatch()
	defer b.Close()
	if err := b.b.DeleteRange(dlqKey(first), dlqKey(last+1), nil); err != nil {
		return 0, fmt.Errorf("delete dead letters %d-%d: %w", first, last, err)
	}
	b.count(counterDLQ, int64(-n))
	return n, b.Commit()
}

// expireDerived range-deletes the expired prefix of each derived kind, each at its own cutoff
// (cutoffs.of), in one batch.
func (s *Store) expireDerived(cutoffs DerivedCutoffs) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixDerived}, UpperBound: []byte{prefixDerived + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	b := s.NewBatch()
	defer b.Close()
	n := 0
	var ev sdk.Event
	for ok := it.First(); ok; {
		// Kinds are printable ASCII, so the first 0x00 ends the kind.
		end := bytes.IndexByte(it.Key(), 0)
		if end < 2 {
			return 0, fmt.Errorf("bad derived key %q", it.Key())
		}
		kind := string(it.Key()[1:end])
		prefix := derivedPrefix(kind)
		cutoff := cutoffs.of(kind)
		expired := 0
		var last uint64
		for ; ok && bytes.HasPrefix(it.Key(), prefix); ok = it.Next() {
			k := it.Key()
			if len(k) != len(prefix)+8 {
				return 0, fmt.Errorf("bad derived key %q", k)
			}
			if err := ev.UnmarshalBinary(it.Value()); err != nil {
				return 0, fmt.Errorf("read derived %q record %d: %w", kind, seqOf(k), err)
			}
			if cutoff.IsZero() || !ev.IngestTime.Before(cutoff) {
				break
			}
			last = seqOf(k)
			expired++
		}
		if expired > 0 {
			upper := prefixEnd(prefix)
			if last < math.MaxUint64 {
				upper = derivedKey(kind, last+1)
			}
			if err := b.b.DeleteRange(prefix, upper, nil); err != nil {
				return 0, fmt.Errorf("delete derived %q records to %d: %w", kind, last, err)
			}
			n += expired
		}
		if ok && bytes.HasPrefix(it.Key(), prefix) {
			ok = it.SeekGE(prefixEnd(prefix)) // the rest of this kind is kept: on to the next kind
		}
	}
	if err := it.Error(); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	if err := b.Commit(); err != nil {
		return 0, err
	}
	return n, nil
}

// errStop ends a scan early without an error.
var errStop = fmt.Errorf("store: stop scan")

// Compact asks Pebble to compact the whole store, reclaiming space that deletions freed.
func (s *Store) Compact() error {
	if s.closed.Load() {
		return fmt.Errorf("compact store: %w", ErrClosed)
	}
	if err := s.db.Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
		return fmt.Errorf("compact store: %w", err)
	}
	return nil
}
