package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
	"github.com/hangar-dev/hangar/store/canarytest"
)

// canarySession is a session id planted to be purged: no trace of it may remain on disk.
const canarySession = "canary-9f3c2e71-5d4b-4a8e-b0c6-purge-me"

// fill stores events of a kept session and of the canary one, a derived record and consumer
// state keyed by the canary session, and dead letters of both.
func fill(t *testing.T, s *store.Store) {
	t.Helper()
	commit(t, s, ptrs(many("keep", "kept-session", t0, 50))...)
	commit(t, s, ptrs(many("gone", canarySession, t0.Add(time.Hour), 50))...)
	b := s.NewBatch()
	defer b.Close()
	d := event("derived", canarySession, t0)
	d.Kind = "tool-stats"
	if err := b.AddDerived("tool-stats", &d); err != nil {
		t.Fatal(err)
	}
	b.PutState("plugin:stats", []byte("k"+canarySession), []byte(canarySession))
	b.SetCursor("plugin:stats", 100)
	b.PutState("usage", []byte("b"+canarySession), []byte("bucket"))
	b.PutState("usage", []byte("p"), []byte("table-id"))
	b.SetCursor("usage", 100)
	b.PutState("other", []byte("kept"), []byte("kept"))
	b.SetCursor("other", 7)
	for i, payload := range []string{`{"session_id":"` + canarySession + `"}`, `{"session_id":"kept-session"}`} {
		if _, err := b.AddDLQ(&store.DLQRecord{Stage: "capture", Reason: "test", RecordID: id("dlq" + string(rune('a'+i))), Payload: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.AddDLQ(&store.DLQRecord{Stage: "consumer:plugin:stats", Reason: "test", RecordID: id("keep3")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

// findCanary returns the files of dir (recursively) that hold the canary in any form.
func findCanary(t *testing.T, dir string) []string {
	t.Helper()
	f := canarytest.NewFinder(canarySession)
	var found []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil // deleted since it was listed (an obsolete file of Pebble's)
		}
		if err != nil {
			return err
		}
		if at, form := f.Find(data); at >= 0 {
			found = append(found, filepath.Base(path)+" ("+form+")")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestPurgeSessionScrubs purges a session: its events, index entries and dead letters go, the
// counters follow, the other session stays whole, and after ResetDerived and Scrub no file of the
// store holds the session id, in any form (while before the purge the files did: the check can
// fail).
func TestPurgeSessionScrubs(t *testing.T) {
	s, dir := newStore(t)
	fill(t, s)
	if err := s.Compact(); err != nil { // the canary in tables, not only in the log
		t.Fatal(err)
	}
	fill(t, s) // and in the log
	if found := findCanary(t, dir); len(found) == 0 {
		t.Fatal("the canary is in no file before the purge: the scan cannot see it")
	}
	res, err := s.PurgeEvents(store.PurgeSelection{Session: canarySession})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 50 || res.DeadLetters != 2 {
		t.Errorf("PurgeEvents = %+v, want 50 events and 2 dead letters (the session's payloads, twice)", res)
	}
	if got := sessionEvents(t, s, canarySession); len(got) != 0 {
		t.Errorf("the purged session still has %d events", len(got))
	}
	if got := sessionEvents(t, s, "kept-session"); len(got) != 50 {
		t.Errorf("the kept session has %d events, want 50", len(got))
	}
	if n := s.EventCount(); n != 50 {
		t.Errorf("EventCount = %d, want 50", n)
	}
	if has(t, s, "gone3") || !has(t, s, "keep3") {
		t.Error("the id index does not follow the purge")
	}
	if got := eventsBetween(t, s, t0.Add(-time.Hour), t0.Add(24*time.Hour)); len(got) != 50 {
		t.Errorf("the time index holds %d events, want 50", len(got))
	}
	rr, err := s.ResetDerived(store.ResetOptions{Consumers: []string{"usage"}, Keep: map[string][][]byte{"usage": {[]byte("p")}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"plugin:stats", "usage"}; !slices.Equal(rr.Consumers, want) || rr.DeadLetters != 2 {
		t.Errorf("ResetDerived = %+v, want consumers %v and the 2 dead letters of plugin:stats", rr, want)
	}
	if v, err := s.State("usage", []byte("p")); err != nil || string(v) != "table-id" {
		t.Errorf("usage p = %q, %v: the kept key went", v, err)
	}
	if v, err := s.State("other", []byte("kept")); err != nil || string(v) != "kept" {
		t.Errorf("another consumer's state = %q, %v: it is not ours to reset", v, err)
	}
	if c, _ := s.Cursor("other"); c != 7 {
		t.Errorf("another consumer's cursor = %d, want 7", c)
	}
	for _, c := range []string{"usage", "plugin:stats"} {
		if cur, _ := s.Cursor(c); cur != 0 {
			t.Errorf("cursor of %s = %d after the reset, want 0", c, cur)
		}
	}
	if _, err := s.State("usage", []byte("b"+canarySession)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("usage bucket after the reset: %v, want ErrNotFound", err)
	}
	n := 0
	if _, err := s.ScanDerived("tool-stats", 0, 0, func(uint64, *sdk.Event) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("derived records after the reset: %d (%v)", n, err)
	}
	if s.DLQCount() != 2 {
		t.Errorf("DLQCount = %d, want 2 (the kept session's capture dead letters)", s.DLQCount())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Scrub(ctx); err != nil {
		t.Fatal(err)
	}
	if found := findCanary(t, dir); len(found) > 0 {
		t.Errorf("after purge and scrub the session id is still in %v", found)
	}
	// What is left works, and survives a reopen.
	s = reopen(t, s)
	if n := s.EventCount(); n != 50 {
		t.Errorf("after reopen EventCount = %d, want 50", n)
	}
	if found := findCanary(t, dir); len(found) > 0 {
		t.Errorf("after reopen the session id is in %v", found)
	}
}

// TestPurgeBeforeAndAll purges by event time, then everything, checking the counters and that new
// events are stored after it with new sequence numbers.
func TestPurgeBeforeAndAll(t *testing.T) {
	s, _ := newStore(t)
	commit(t, s, ptrs(many("old", "s1", t0, 30))...)
	commit(t, s, ptrs(many("new", "s2", t0.Add(24*time.Hour), 20))...)
	res, err := s.PurgeEvents(store.PurgeSelection{Before: t0.Add(12 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 30 || s.EventCount() != 20 {
		t.Errorf("purge before: %+v, EventCount %d; want 30 purged and 20 left", res, s.EventCount())
	}
	if got, _ := readLog(t, s, 0, 100); len(got) != 20 || got[0].Seq != 31 {
		t.Errorf("log after the purge: %v", got)
	}
	last := s.LastSeq()
	res, err = s.PurgeEvents(store.PurgeSelection{All: true})
	if err != nil || res.Events != 20 || s.EventCount() != 0 {
		t.Errorf("purge all: %+v, %v, EventCount %d", res, err, s.EventCount())
	}
	if got, _ := readLog(t, s, 0, 100); len(got) != 0 {
		t.Errorf("log after purging all: %v", got)
	}
	if s.Counts()[store.PlatformKind{Platform: "claude-code", Kind: "hook.PostToolUse"}] != 0 {
		t.Errorf("counts after purging all: %v", s.Counts())
	}
	// A purged event may come again (its id is free), and sequence numbers are not reused.
	ev := event("new3", "s2", t0)
	commit(t, s, &ev)
	if got, _ := readLog(t, s, 0, 100); len(got) != 1 || got[0].Seq <= last {
		t.Errorf("log after a new event: %v, want one event after seq %d", got, last)
	}
	s = reopen(t, s)
	if s.EventCount() != 1 {
		t.Errorf("after reopen EventCount = %d, want 1", s.EventCount())
	}
	for _, bad := range []store.PurgeSelection{{}, {All: true, Session: "x"}} {
		if _, err := s.PurgeEvents(bad); !errors.Is(err, store.ErrPurgeSelection) {
			t.Errorf("PurgeEvents(%+v) = %v, want ErrPurgeSelection", bad, err)
		}
	}
}
