package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// keyedEvent builds a keyed derived record: key, session and a count.
func keyedEvent(name, kind, key string, n int64) sdk.Event {
	return sdk.Event{ID: id(name), Platform: "claude-code", Kind: kind, SessionID: "s1", Time: t0,
		Attrs: []sdk.Attr{sdk.Ident("key", key), sdk.Int("count", n)}}
}

// addDerived commits the records in one batch.
func addDerived(t *testing.T, s *store.Store, kind string, evs ...sdk.Event) {
	t.Helper()
	b := s.NewBatch()
	defer b.Close()
	for i := range evs {
		if err := b.AddDerived(kind, &evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

// view returns a kind's view from a key on, as key=count pairs.
func view(t *testing.T, s *store.Store, kind string, from string) []string {
	t.Helper()
	var out []string
	if err := s.ScanView(kind, []byte(from), func(key []byte, ev *sdk.Event) error {
		v, _ := ev.Attr("count")
		out = append(out, fmt.Sprintf("%s=%d", key, v.Int()))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestViewReplacesByKey(t *testing.T) {
	s, _ := newStore(t)
	addDerived(t, s, "conversation.session", keyedEvent("a1", "conversation.session", "s-b", 1), keyedEvent("a2", "conversation.session", "s-a", 1))
	// A later batch replaces s-b; within one batch, the last record of a key wins.
	addDerived(t, s, "conversation.session", keyedEvent("a3", "conversation.session", "s-b", 2), keyedEvent("a4", "conversation.session", "s-c", 1), keyedEvent("a5", "conversation.session", "s-c", 3))
	// A record without a key, or whose key is not an ident, is only in the log.
	unkeyed := derivedEvent("a6", "conversation.session", 9)
	intKey := sdk.Event{ID: id("a7"), Platform: "claude-code", Kind: "conversation.session", Time: t0, Attrs: []sdk.Attr{sdk.Int("key", 5), sdk.Int("count", 9)}}
	addDerived(t, s, "conversation.session", unkeyed, intKey)

	if got, want := fmt.Sprint(view(t, s, "conversation.session", "")), "[s-a=1 s-b=2 s-c=3]"; got != want {
		t.Errorf("view = %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(view(t, s, "conversation.session", "s-b")), "[s-b=2 s-c=3]"; got != want {
		t.Errorf("view from s-b = %s, want %s", got, want)
	}
	if got, want := len(scanAll(t, s, "conversation.session", 0)), 7; got != want {
		t.Errorf("the log holds %d records, want %d: it keeps every one", got, want)
	}
	ev, err := s.GetView("conversation.session", []byte("s-b"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := ev.Attr("count"); v.Int() != 2 || ev.ID != id("a3") {
		t.Errorf("GetView(s-b) = %v count %d, want a3's record with count 2", ev.ID, v.Int())
	}
	if ev.IngestTime.IsZero() || time.Since(ev.IngestTime) > time.Hour {
		t.Errorf("GetView(s-b).IngestTime = %v, want the time it was stored", ev.IngestTime)
	}
	if _, err := s.GetView("conversation.session", []byte("s-z")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetView(missing) = %v, want ErrNotFound", err)
	}

	// The view survives a reopen.
	s = reopen(t, s)
	if got, want := fmt.Sprint(view(t, s, "conversation.session", "")), "[s-a=1 s-b=2 s-c=3]"; got != want {
		t.Errorf("view after reopen = %s, want %s", got, want)
	}
}

func TestViewKindsApart(t *testing.T) {
	s, _ := newStore(t)
	// "tool" is a prefix of "tool.x", and the same key in both must not mix.
	addDerived(t, s, "tool", keyedEvent("b1", "tool", "k1", 1), keyedEvent("b2", "tool", "k2", 2))
	addDerived(t, s, "tool.x", keyedEvent("b3", "tool.x", "k1", 10))
	addDerived(t, s, "conversation.turn", keyedEvent("b4", "conversation.turn", "s1/000002", 2), keyedEvent("b5", "conversation.turn", "s1/000001", 1),
		keyedEvent("b6", "conversation.turn", "s10/000001", 7), keyedEvent("b7", "conversation.turn", "s2/000001", 3))
	tests := []struct {
		name, kind, from string
		want             string
	}{
		{"a kind", "tool", "", "[k1=1 k2=2]"},
		{"a kind whose name extends another's", "tool.x", "", "[k1=10]"},
		{"none", "tool.y", "", "[]"},
		{"from a key", "conversation.turn", "s10/", "[s10/000001=7 s2/000001=3]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(view(t, s, tt.kind, tt.from)); got != tt.want {
				t.Errorf("ScanView(%q, %q) = %s, want %s", tt.kind, tt.from, got, tt.want)
			}
		})
	}
	var got []string
	if err := s.ScanViewPrefix("conversation.turn", []byte("s1/"), func(key []byte, ev *sdk.Event) error {
		got = append(got, string(key))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := "[s1/000001 s1/000002]"; fmt.Sprint(got) != want {
		t.Errorf("ScanViewPrefix(s1/) = %v, want %s", got, want)
	}
	got = nil
	if err := s.ScanViewRange("conversation.turn", []byte("s1/000002"), []byte("s2"), func(key []byte, ev *sdk.Event) error {
		got = append(got, string(key))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := "[s1/000002 s10/000001]"; fmt.Sprint(got) != want {
		t.Errorf("ScanViewRange = %v, want %s", got, want)
	}
	kinds, err := s.DerivedKinds()
	if err != nil {
		t.Fatal(err)
	}
	if want := "[conversation.turn tool tool.x]"; fmt.Sprint(kinds) != want {
		t.Errorf("DerivedKinds = %v, want %s", kinds, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.ScanView("conversation.turn", nil, func([]byte, *sdk.Event) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("ScanView with fn failing = %v after %d calls, want stop after 1", err, n)
	}
}

// TestViewExactlyOnceWithBatch shows that the view moves with its batch: a batch that fails to
// commit, or is abandoned, leaves no view record, as it leaves no log record and no cursor.
func TestViewExactlyOnceWithBatch(t *testing.T) {
	s, dir := newStore(t)
	addDerived(t, s, "metrics.1d", keyedEvent("c1", "metrics.1d", "1700000000/all/-", 1))

	// Abandoned.
	b := s.NewBatch()
	ev := keyedEvent("c2", "metrics.1d", "1700000000/all/-", 2)
	if err := b.AddDerived("metrics.1d", &ev); err != nil {
		t.Fatal(err)
	}
	ev = keyedEvent("c3", "metrics.1d", "1700086400/all/-", 1)
	if err := b.AddDerived("metrics.1d", &ev); err != nil {
		t.Fatal(err)
	}
	b.SetCursor("plugin:metrics", 9)
	b.Close()
	if got, want := fmt.Sprint(view(t, s, "metrics.1d", "")), "[1700000000/all/-=1]"; got != want {
		t.Errorf("view after an abandoned batch = %s, want %s", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Failed: Pebble refuses the commit (the store is read-only).
	ro, err := store.Open(dir, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	b = ro.NewBatch()
	ev = keyedEvent("c4", "metrics.1d", "1700000000/all/-", 4)
	if err := b.AddDerived("metrics.1d", &ev); err != nil {
		t.Fatal(err)
	}
	b.SetCursor("plugin:metrics", 9)
	if err := b.Commit(); err == nil {
		t.Fatal("a commit to a read-only store succeeded")
	}
	if got, want := fmt.Sprint(view(t, ro, "metrics.1d", "")), "[1700000000/all/-=1]"; got != want {
		t.Errorf("view after a failed commit = %s, want %s", got, want)
	}
	if got := ro.LastDerivedSeq(); got != 1 {
		t.Errorf("LastDerivedSeq after a failed commit = %d, want 1", got)
	}
	ro.Close()

	// The next batch that commits numbers its records after the last committed one, and the
	// view, the log and the cursor agree.
	s = openStore(t, dir)
	b = s.NewBatch()
	ev = keyedEvent("c5", "metrics.1d", "1700000000/all/-", 5)
	if err := b.AddDerived("metrics.1d", &ev); err != nil {
		t.Fatal(err)
	}
	b.SetCursor("plugin:metrics", 9)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(view(t, s, "metrics.1d", "")), "[1700000000/all/-=5]"; got != want {
		t.Errorf("view = %s, want %s", got, want)
	}
	var log []string
	if _, err := s.ScanDerived("metrics.1d", 0, 0, func(seq uint64, ev *sdk.Event) error {
		v, _ := ev.Attr("count")
		log = append(log, fmt.Sprintf("%d:%d", seq, v.Int()))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(log), "[1:1 2:5]"; got != want {
		t.Errorf("log = %s, want %s", got, want)
	}
	if c, err := s.Cursor("plugin:metrics"); err != nil || c != 9 {
		t.Errorf("cursor = %d, %v; want 9", c, err)
	}
}
