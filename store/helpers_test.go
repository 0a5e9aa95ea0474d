package store_test

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
	"github.com/hangar-dev/hangar/store/seal"
)

// t0 is a fixed event time the tests build on.
var t0 = time.Date(2025, 6, 14, 9, 26, 53, 589793238, time.UTC)

// testKey is the payload key the test stores seal dead letters' payloads with.
var testKey = func() *seal.Key {
	k, err := seal.NewKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return k
}()

// openStore opens the store in dir, with testKey, and closes it when the test ends.
func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(dir, store.Options{PayloadKey: testKey})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newStore opens a store in a fresh directory.
func newStore(t testing.TB) (*store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	return openStore(t, dir), dir
}

// reopen closes s and opens its directory again.
func reopen(t testing.TB, s *store.Store) *store.Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openStore(t, s.Dir())
}

// id derives a test event id from a name.
func id(name string) sdk.ID { return sdk.NewID("test", []byte(name)) }

// event builds a realistic valid event named name in a session at time tm.
func event(name, session string, tm time.Time) sdk.Event {
	return sdk.Event{
		ID:        id(name),
		Platform:  "claude-code",
		Kind:      "hook.PostToolUse",
		SessionID: session,
		Time:      tm,
		Attrs: []sdk.Attr{
			sdk.Ident("tool_name", "Bash"),
			sdk.Bool("success", true),
			sdk.Int("duration_ms", 1234),
			sdk.Hash("input_hash", []byte("0123456789abcdef")),
		},
	}
}

// commit adds the events in one batch and commits it, returning what AddEvent reported.
func commit(t testing.TB, s *store.Store, evs ...*sdk.Event) []bool {
	t.Helper()
	b := s.NewBatch()
	defer b.Close()
	added := make([]bool, len(evs))
	for i, ev := range evs {
		ok, err := b.AddEvent(ev)
		if err != nil {
			t.Fatalf("AddEvent(%d): %v", i, err)
		}
		added[i] = ok
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return added
}

// ptrs returns pointers to the elements of evs.
func ptrs(evs []sdk.Event) []*sdk.Event {
	out := make([]*sdk.Event, len(evs))
	for i := range evs {
		out[i] = &evs[i]
	}
	return out
}

// many builds n events named prefix0..prefixN-1, one second apart from start, in session.
func many(prefix, session string, start time.Time, n int) []sdk.Event {
	evs := make([]sdk.Event, n)
	for i := range evs {
		evs[i] = event(prefix+strconv.Itoa(i), session, start.Add(time.Duration(i)*time.Second))
	}
	return evs
}

// logEntry is what a scan saw of one event.
type logEntry struct {
	Seq uint64
	ID  sdk.ID
}

func (e logEntry) String() string { return fmt.Sprintf("%d:%s", e.Seq, e.ID.String()[:8]) }

func collector(out *[]logEntry) func(seq uint64, ev *sdk.Event) error {
	return func(seq uint64, ev *sdk.Event) error {
		*out = append(*out, logEntry{seq, ev.ID})
		return nil
	}
}

// readLog returns the entries ReadLog passes, and its result.
func readLog(t testing.TB, s *store.Store, after uint64, max int) ([]logEntry, uint64) {
	t.Helper()
	var got []logEntry
	last, err := s.ReadLog(after, max, collector(&got))
	if err != nil {
		t.Fatalf("ReadLog(%d, %d): %v", after, max, err)
	}
	return got, last
}

func sessionEvents(t testing.TB, s *store.Store, session string) []logEntry {
	t.Helper()
	var got []logEntry
	if err := s.SessionEvents(session, collector(&got)); err != nil {
		t.Fatalf("SessionEvents(%q): %v", session, err)
	}
	return got
}

func eventsBetween(t testing.TB, s *store.Store, from, to time.Time) []logEntry {
	t.Helper()
	var got []logEntry
	if err := s.EventsBetween(from, to, collector(&got)); err != nil {
		t.Fatalf("EventsBetween(%v, %v): %v", from, to, err)
	}
	return got
}

// entries builds the expected entries from alternating sequence numbers and event names.
func entries(pairs ...any) []logEntry {
	var out []logEntry
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, logEntry{uint64(pairs[i].(int)), id(pairs[i+1].(string))})
	}
	return out
}

func has(t testing.TB, s *store.Store, name string) bool {
	t.Helper()
	ok, err := s.Has(id(name))
	if err != nil {
		t.Fatalf("Has(%s): %v", name, err)
	}
	return ok
}

// protect calls fn, turning a panic into an error.
func protect(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn()
}

var errBoom = errors.New("boom")
