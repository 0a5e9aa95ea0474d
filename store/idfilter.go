package store

import (
	"fmt"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/cockroachdb/pebble/v2"
	"github.com/hangar-dev/hangar/sdk"
)

// idFilter answers "may this event id be stored?" from memory, so that appending a new event (nearly
// every append) skips the Pebble lookup of the dedup index; only a "maybe" pays for the exact one.
// It is a scalable bloom filter: when the newest filter holds its capacity, a new one of twice the
// capacity is added, and a query asks each. Ids removed by retention stay in it as false
// positives, which cost one lookup each. It is built from the id index when the first event is
// appended, not at Open: a command that only reads (a report, a status) never pays for it. It is
// guarded by the store's appendMu.
type idFilter struct {
	filters []*bloom.BloomFilter
	last    uint // ids in the newest filter
	cap     uint // capacity of the newest filter
}

const (
	idFilterInitial = 1 << 20 // ids; ~1.8 MB of filter at the false-positive rate below
	idFilterFP      = 0.001
)

func newIDFilter() *idFilter {
	f := &idFilter{}
	f.grow(idFilterInitial)
	return f
}

func (f *idFilter) grow(capacity uint) {
	f.filters = append(f.filters, bloom.NewWithEstimates(capacity, idFilterFP))
	f.last, f.cap = 0, capacity
}

func (f *idFilter) add(id sdk.ID) {
	if f.last >= f.cap {
		f.grow(2 * f.cap)
	}
	f.filters[len(f.filters)-1].Add(id[:])
	f.last++
}

func (f *idFilter) mayContain(id sdk.ID) bool {
	for _, b := range f.filters {
		if b.Test(id[:]) {
			return true
		}
	}
	return false
}

// PrepareAppends builds the id filter now, if no append has built it yet, so that the first
// append does not wait for it: a daemon calls it before it takes records; a command that only
// reads never does.
func (s *Store) PrepareAppends() error {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	if s.closed.Load() {
		return fmt.Errorf("prepare appends: %w", ErrClosed)
	}
	if s.ids != nil {
		return nil
	}
	return s.loadIDFilter()
}

// loadIDFilter builds the filter from the id index. The caller holds appendMu.
func (s *Store) loadIDFilter() error {
	f := newIDFilter()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixID}, UpperBound: []byte{prefixID + 1}})
	if err != nil {
		return fmt.Errorf("load id filter: %w", err)
	}
	defer it.Close()
	var id sdk.ID
	for ok := it.First(); ok; ok = it.Next() {
		if k := it.Key(); len(k) == 1+len(id) {
			copy(id[:], k[1:])
			f.add(id)
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("load id filter: %w", err)
	}
	s.ids = f
	return nil
}

// isPending reports whether id is in the event batch being committed.
func (s *Store) isPending(id sdk.ID) bool {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	_, ok := s.pending[id]
	return ok
}

func (s *Store) setPending(ids map[sdk.ID]struct{}) {
	s.pendingMu.Lock()
	s.pending = ids
	s.pendingMu.Unlock()
}
