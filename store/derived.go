package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hangar-dev/hangar/sdk"
)

// Derived records are what enrich and insight plugins make of events: sdk.Events whose Kind is the
// derived kind (such as "tool-stats", or "insight.<plugin>" for an insight plugin's output). They
// are kept by kind, under one sequence that orders all kinds (keyspace r, see
// docs/ARCHITECTURE.md).
//
// A batch adds them with AddDerived, so that they commit atomically with the writer's cursor:
// a consumer that commits its cursor with its derived records writes each exactly once. Commit
// numbers a batch's derived records and commits them holding one lock, so sequence numbers commit
// in order and a reader that remembers the last sequence number it read (ScanDerived's after)
// never skips a record committed later.

// prefixDerived is the derived records' keyspace.
const prefixDerived = 'r'

// ErrDerivedKind is wrapped by the error of AddDerived for a kind that is not an identifier.
var ErrDerivedKind = errors.New("store: bad derived kind")

// derivedState is the store's side of derived records.
type derivedState struct {
	mu     sync.Mutex    // held by a batch from numbering its derived records to the end of its commit
	last   uint64        // guarded by mu: the highest committed derived sequence number
	notify chan struct{} // guarded by Store.mu; closed and replaced on every derived commit
}

// pendingDerived is a derived record of a batch, numbered at commit.
type pendingDerived struct {
	kind string
	enc  []byte
	// key is the record's view key (its ident attribute ViewKeyAttr); "" if it is not keyed.
	key string
}

func derivedPrefix(kind string) []byte {
	k := make([]byte, 0, len(kind)+2)
	k = append(k, prefixDerived)
	k = append(k, kind...)
	return append(k, 0)
}

func derivedKey(kind string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(derivedPrefix(kind), seq)
}

// checkDerivedKind accepts a kind of 1 to 128 printable ASCII bytes without spaces.
func checkDerivedKind(kind string) error {
	if kind == "" || len(kind) > sdk.MaxIdentLen {
		return fmt.Errorf("%w: %q: 1 to %d bytes", ErrDerivedKind, kind, sdk.MaxIdentLen)
	}
	for i := 0; i < len(kind); i++ {
		if c := kind[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: %q: printable ASCII without spaces", ErrDerivedKind, kind)
		}
	}
	return nil
}

// AddDerived adds a derived record of a kind. ev must pass Validate; its IngestTime is set to now.
// The record gets its sequence number when the batch commits. A keyed record (an ident attribute
// ViewKeyAttr) also replaces the record of its kind and key in the view (view.go), in the same
// commit.
func (b *Batch) AddDerived(kind string, ev *sdk.Event) error {
	if b.done {
		return fmt.Errorf("add derived record: batch already ended")
	}
	if err := checkDerivedKind(kind); err != nil {
		return fmt.Errorf("add derived record: %w", err)
	}
	ev.IngestTime = time.Now().UTC()
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("add derived record: %w", err)
	}
	enc, err := ev.MarshalBinary()
	if err != nil {
		return fmt.Errorf("add derived record: %w", err)
	}
	key, _ := keyOf(ev)
	b.derived = append(b.derived, pendingDerived{kind: kind, enc: enc, key: key})
	return nil
}

// Derived returns how many derived records the batch adds.
func (b *Batch) Derived() int { return len(b.derived) }

// setDerived writes the batch's derived records under the next sequence numbers and returns the
// last. The caller holds derived.mu until the commit ends.
func (b *Batch) setDerived() uint64 {
	seq := b.s.derived.last
	for _, d := range b.derived {
		seq++
		b.b.Set(derivedKey(d.kind, seq), d.enc, nil)
		if d.key != "" {
			b.b.Set(viewKey(d.kind, []byte(d.key)), d.enc, nil)
		}
	}
	b.b.Set(metaLastDerived, binary.BigEndian.AppendUint64(nil, seq), nil)
	return seq
}

// derivedCommitted publishes a commit of derived records up to last. The caller holds derived.mu.
func (s *Store) derivedCommitted(last uint64) {
	s.derived.last = last
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed.Load() {
		close(s.derived.notify)
		s.derived.notify = make(chan struct{})
	}
}

// loadDerived reads the last derived sequence number.
func (s *Store) loadDerived() error {
	v, closer, err := s.db.Get(metaLastDerived)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("read last derived sequence: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return fmt.Errorf("read last derived sequence: value of %d bytes", len(v))
	}
	s.derived.last = binary.BigEndian.Uint64(v)
	return nil
}

// LastDerivedSeq returns the highest committed derived sequence number, of any kind; 0 if none.
func (s *Store) LastDerivedSeq() uint64 {
	s.derived.mu.Lock()
	defer s.derived.mu.Unlock()
	return s.derived.last
}

// DerivedNotify returns a channel that is closed when the next batch of derived records commits,
// or the store closes.
func (s *Store) DerivedNotify() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.derived.notify
}

// ScanDerived calls fn, in sequence order, for up to max (all if max <= 0) derived records of a
// kind whose sequence number is greater than after, and returns the last sequence number it
// passed to fn (after, if none). ev is valid only during the call. An error from fn stops the
// scan and is returned.
func (s *Store) ScanDerived(kind string, after uint64, max int, fn func(seq uint64, ev *sdk.Event) error) (uint64, error) {
	if s.closed.Load() {
		return after, fmt.Errorf("scan derived %q: %w", kind, ErrClosed)
	}
	if after == ^uint64(0) {
		return after, nil
	}
	prefix := derivedPrefix(kind)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: derivedKey(kind, after+1), UpperBound: prefixEnd(prefix)})
	if err != nil {
		return after, fmt.Errorf("scan derived %q: %w", kind, err)
	}
	defer it.Close()
	last, n := after, 0
	var ev sdk.Event
	for ok := it.First(); ok && (max <= 0 || n < max); ok = it.Next() {
		k := it.Key()
		if len(k) != len(prefix)+8 {
			return last, fmt.Errorf("scan derived %q: bad key %q", kind, k)
		}
		seq := seqOf(k)
		if err := ev.UnmarshalBinary(it.Value()); err != nil {
			return last, fmt.Errorf("scan derived %q: record %d: %w", kind, seq, err)
		}
		if err := fn(seq, &ev); err != nil {
			return last, err
		}
		last = seq
		n++
	}
	if err := it.Error(); err != nil {
		return last, fmt.Errorf("scan derived %q: %w", kind, err)
	}
	return last, nil
}
