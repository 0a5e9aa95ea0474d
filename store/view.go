package store

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hangar-dev/hangar/sdk"
)

// The view holds the latest record of every keyed derived record: a derived record whose ident
// attribute ViewKeyAttr names what it describes (a session, a turn, a metrics bucket). A batch's
// AddDerived writes it to the append-only log r and, when it is keyed, to the view under its kind
// and key, replacing the record there; both commit together, with the batch (keyspace v, see
// docs/ARCHITECTURE.md). So the current record of a key is one seek, and all of a kind one
// range scan in key order, never a scan of the history.
//
// Derived commits are serialized in sequence order (derived.mu), so of two records of one kind
// and key the view keeps the one with the higher sequence number, the later in the log.

// ViewKeyAttr is the ident attribute that makes a derived record keyed.
const ViewKeyAttr = "key"

// prefixView is the view's keyspace.
const prefixView = 'v'

// viewPrefix returns the prefix of a kind's view keys: v kind 0x00.
func viewPrefix(kind string) []byte {
	k := make([]byte, 0, len(kind)+2)
	k = append(k, prefixView)
	k = append(k, kind...)
	return append(k, 0)
}

// viewKey returns the view key of a kind's record of key.
func viewKey(kind string, key []byte) []byte { return append(viewPrefix(kind), key...) }

// keyOf returns the view key of a derived record: its ident attribute ViewKeyAttr, if it has one
// that is not empty.
func keyOf(ev *sdk.Event) (string, bool) {
	v, ok := ev.Attr(ViewKeyAttr)
	if !ok || v.Kind() != sdk.KindIdent || v.Ident() == "" {
		return "", false
	}
	return v.Ident(), true
}

// GetView returns the current record of a kind and key in the view, or an error wrapping
// ErrNotFound.
func (s *Store) GetView(kind string, key []byte) (sdk.Event, error) {
	var ev sdk.Event
	if s.closed.Load() {
		return ev, fmt.Errorf("get view %q: %w", kind, ErrClosed)
	}
	v, closer, err := s.db.Get(viewKey(kind, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return ev, fmt.Errorf("get view %q %q: %w", kind, key, ErrNotFound)
	}
	if err != nil {
		return ev, fmt.Errorf("get view %q: %w", kind, err)
	}
	defer closer.Close()
	if err := ev.UnmarshalBinary(v); err != nil {
		return ev, fmt.Errorf("get view %q %q: %w", kind, key, err)
	}
	return ev, nil
}

// ScanView calls fn, in key order, for the view's records of a kind whose key is at least from
// (every record when from is empty). key and ev are valid only during the call. An error from fn
// stops the scan and is returned.
func (s *Store) ScanView(kind string, from []byte, fn func(key []byte, ev *sdk.Event) error) error {
	prefix := viewPrefix(kind)
	return s.scanView(kind, append(bytes.Clone(prefix), from...), prefixEnd(prefix), len(prefix), fn)
}

// ScanViewPrefix calls fn, in key order, for the view's records of a kind whose key starts with
// prefix: a session's turns, say (key = session id / turn). As ScanView otherwise.
func (s *Store) ScanViewPrefix(kind string, prefix []byte, fn func(key []byte, ev *sdk.Event) error) error {
	lower := viewKey(kind, prefix)
	return s.scanView(kind, lower, prefixEnd(lower), len(viewPrefix(kind)), fn)
}

// ScanViewRange calls fn, in key order, for the view's records of a kind whose key is in
// [from, to) (to empty: no upper end). As ScanView otherwise.
func (s *Store) ScanViewRange(kind string, from, to []byte, fn func(key []byte, ev *sdk.Event) error) error {
	prefix := viewPrefix(kind)
	upper := prefixEnd(prefix)
	if len(to) > 0 {
		upper = viewKey(kind, to)
	}
	return s.scanView(kind, append(bytes.Clone(prefix), from...), upper, len(prefix), fn)
}

func (s *Store) scanView(kind string, lower, upper []byte, skip int, fn func(key []byte, ev *sdk.Event) error) error {
	if s.closed.Load() {
		return fmt.Errorf("scan view %q: %w", kind, ErrClosed)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("scan view %q: %w", kind, err)
	}
	defer it.Close()
	var ev sdk.Event
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if err := ev.UnmarshalBinary(it.Value()); err != nil {
			return fmt.Errorf("scan view %q: record %q: %w", kind, k[skip:], err)
		}
		if err := fn(k[skip:], &ev); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("scan view %q: %w", kind, err)
	}
	return nil
}

// DerivedKinds returns the kinds that have derived records in the log, sorted: one seek per kind.
func (s *Store) DerivedKinds() ([]string, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("list derived kinds: %w", ErrClosed)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixDerived}, UpperBound: []byte{prefixDerived + 1}})
	if err != nil {
		return nil, fmt.Errorf("list derived kinds: %w", err)
	}
	defer it.Close()
	var kinds []string
	for ok := it.First(); ok; {
		k := it.Key()
		i := bytes.IndexByte(k, 0)
		if i < 1 {
			return kinds, fmt.Errorf("list derived kinds: bad key %q", k)
		}
		kind := string(k[1:i])
		kinds = append(kinds, kind)
		ok = it.SeekGE(prefixEnd(derivedPrefix(kind)))
	}
	if err := it.Error(); err != nil {
		return kinds, fmt.Errorf("list derived kinds: %w", err)
	}
	return kinds, nil
}
