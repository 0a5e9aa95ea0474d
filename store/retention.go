package store

import (
	"context"
	"fmt"
	"time"

	"github.com/hangar-dev/hangar/sdk"
)

// retentionChunk bounds how many events one retention batch deletes.
const retentionChunk = 4096

// RetentionResult says what retention removed.
type RetentionResult struct {
	Events      int `json:"events"`
	DeadLetters int `json:"dead_letters"`
}

// DeleteEventsBefore removes the events ingested before cutoff, with their index entries, and
// returns how many. Retention goes by ingest time, which never decreases along the log, so what
// expires is always a prefix of the log: it is removed with a range delete, and the index entries
// of the removed events with point deletes. A consumer whose cursor is behind the cutoff skips what
// expired.
func (s *Store) DeleteEventsBefore(cutoff time.Time) (int, error) {
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
	if err := s.ScanDLQ(func(r DLQRecord) bool {
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
