package store

import (
	"bytes"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hangar-dev/hangar/sdk"
)

// DerivedCutoffs say when derived records and view entries expire, by kind: those stored before
// the cutoff of their kind. A kind named in ByKind has its own (the metrics plugin's widths:
// "metrics.1m" kept 48 hours, "metrics.1d" as long as events); every other kind has Default,
// the events' cutoff. A zero cutoff keeps the kind's records forever.
type DerivedCutoffs struct {
	Default time.Time
	ByKind  map[string]time.Time
}

// of returns the cutoff of a kind.
func (c DerivedCutoffs) of(kind string) time.Time {
	if t, ok := c.ByKind[kind]; ok {
		return t
	}
	return c.Default
}

// ExpireDerived removes, kind by kind at the kind's cutoff, the derived records (r) stored before
// it, as DeleteDerivedBefore describes, and the view entries (v: the last record of each key)
// stored before it, and returns how many records and entries it removed. A view entry is stored
// again each time its key's record changes, so an entry that expires is one whose key has not
// changed since the cutoff. View entries are in key order, not time order: each kind's entries are
// read, and the expired ones point-deleted, all kinds in one batch.
func (s *Store) ExpireDerived(c DerivedCutoffs) (int, error) {
	n, err := s.expireDerived(c)
	if err != nil {
		return n, fmt.Errorf("expire derived records: %w", err)
	}
	v, err := s.expireView(c)
	if err != nil {
		return n, fmt.Errorf("expire view entries: %w", err)
	}
	return n + v, nil
}

// expireView point-deletes the view entries stored before their kind's cutoff.
func (s *Store) expireView(c DerivedCutoffs) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixView}, UpperBound: []byte{prefixView + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	b := s.NewBatch()
	defer b.Close()
	n := 0
	var ev sdk.Event
	for ok := it.First(); ok; {
		end := bytes.IndexByte(it.Key(), 0)
		if end < 2 {
			return 0, fmt.Errorf("bad view key %q", it.Key())
		}
		kind := string(it.Key()[1:end])
		prefix := bytes.Clone(it.Key()[:end+1])
		cutoff := c.of(kind)
		if cutoff.IsZero() {
			ok = it.SeekGE(prefixEnd(prefix)) // kept forever: on to the next kind
			continue
		}
		for ; ok && bytes.HasPrefix(it.Key(), prefix); ok = it.Next() {
			if err := ev.UnmarshalBinary(it.Value()); err != nil {
				return 0, fmt.Errorf("read view entry %q: %w", it.Key(), err)
			}
			if ev.IngestTime.Before(cutoff) {
				b.b.Delete(bytes.Clone(it.Key()), nil)
				n++
			}
		}
	}
	if err := it.Error(); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	return n, b.Commit()
}
