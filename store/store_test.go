package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// appendFixture commits, in two batches, events of two sessions whose event times are not in
// sequence order:
//
//	seq name session time
//	1   a1   s1      t0+2s
//	2   a2   s1      t0
//	3   b1   s2      t0+1s
//	4   a3   s1      t0+1s
//	5   c1   -       t0+3s
func appendFixture(t *testing.T) (*store.Store, []sdk.Event) {
	t.Helper()
	s, _ := newStore(t)
	evs := []sdk.Event{
		event("a1", "s1", t0.Add(2*time.Second)),
		event("a2", "s1", t0),
		event("b1", "s2", t0.Add(time.Second)),
		event("a3", "s1", t0.Add(time.Second)),
		event("c1", "", t0.Add(3*time.Second)),
	}
	evs[4].Kind = "transcript.assistant"
	p := ptrs(evs)
	commit(t, s, p[:3]...)
	commit(t, s, p[3:]...)
	return s, evs
}

func TestReadLog(t *testing.T) {
	s, _ := appendFixture(t)
	tests := []struct {
		name     string
		after    uint64
		max      int
		want     []logEntry
		wantLast uint64
	}{
		{"all", 0, 100, entries(1, "a1", 2, "a2", 3, "b1", 4, "a3", 5, "c1"), 5},
		{"exactly all", 0, 5, entries(1, "a1", 2, "a2", 3, "b1", 4, "a3", 5, "c1"), 5},
		{"max 2", 0, 2, entries(1, "a1", 2, "a2"), 2},
		{"max 1", 0, 1, entries(1, "a1"), 1},
		{"after 2", 2, 100, entries(3, "b1", 4, "a3", 5, "c1"), 5},
		{"after 2 max 1", 2, 1, entries(3, "b1"), 3},
		{"after 4", 4, 100, entries(5, "c1"), 5},
		{"after last", 5, 100, nil, 5},
		{"after beyond last", 99, 100, nil, 99},
		{"max 0", 1, 0, nil, 1},
		{"max negative", 0, -1, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, last := readLog(t, s, tt.after, tt.max)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ReadLog(%d, %d) passed %v, want %v", tt.after, tt.max, got, tt.want)
			}
			if last != tt.wantLast {
				t.Errorf("ReadLog(%d, %d) = %d, want %d", tt.after, tt.max, last, tt.wantLast)
			}
		})
	}

	t.Run("callback error stops the scan", func(t *testing.T) {
		var got []uint64
		last, err := s.ReadLog(0, 100, func(seq uint64, ev *sdk.Event) error {
			if seq == 3 {
				return errBoom
			}
			got = append(got, seq)
			return nil
		})
		if !errors.Is(err, errBoom) {
			t.Errorf("ReadLog error = %v, want %v", err, errBoom)
		}
		if last != 2 {
			t.Errorf("ReadLog = %d, want 2, the last event passed without error", last)
		}
		if want := []uint64{1, 2}; !slices.Equal(got, want) {
			t.Errorf("ReadLog passed %v, want %v", got, want)
		}
	})
	if got := s.LastSeq(); got != 5 {
		t.Errorf("LastSeq() = %d, want 5", got)
	}
}

func TestEventLookups(t *testing.T) {
	s, evs := appendFixture(t)
	for i, want := range evs {
		seq := uint64(i + 1)
		t.Run(want.Kind+"/"+want.ID.String()[:8], func(t *testing.T) {
			got, err := s.Event(seq)
			if err != nil {
				t.Fatalf("Event(%d): %v", seq, err)
			}
			if !got.IngestTime.Equal(want.IngestTime) || got.IngestTime.IsZero() {
				t.Errorf("Event(%d).IngestTime = %v, want %v set by AddEvent", seq, got.IngestTime, want.IngestTime)
			}
			// Times decode in UTC; compare them with Equal, the rest exactly.
			if !got.Time.Equal(want.Time) {
				t.Errorf("Event(%d).Time = %v, want %v", seq, got.Time, want.Time)
			}
			g, w := got, want
			g.Time, g.IngestTime, w.Time, w.IngestTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("Event(%d) = %+v, want %+v", seq, g, w)
			}

			gotSeq, byID, err := s.EventByID(want.ID)
			if err != nil {
				t.Fatalf("EventByID(%s): %v", want.ID, err)
			}
			if gotSeq != seq || byID.ID != want.ID || byID.Kind != want.Kind {
				t.Errorf("EventByID(%s) = %d, %s %s, want %d, %s %s", want.ID, gotSeq, byID.ID, byID.Kind, seq, want.ID, want.Kind)
			}
			if ok, err := s.Has(want.ID); err != nil || !ok {
				t.Errorf("Has(%s) = %v, %v, want true, nil", want.ID, ok, err)
			}
		})
	}

	missing := []struct {
		name string
		err  func() error
	}{
		{"Event(0)", func() error { _, err := s.Event(0); return err }},
		{"Event(6)", func() error { _, err := s.Event(6); return err }},
		{"EventByID(unknown)", func() error { _, _, err := s.EventByID(id("nope")); return err }},
	}
	for _, tt := range missing {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.err(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s error = %v, want ErrNotFound", tt.name, err)
			}
		})
	}
	if ok, err := s.Has(id("nope")); ok || err != nil {
		t.Errorf("Has(unknown) = %v, %v, want false, nil", ok, err)
	}
}

func TestSessionEvents(t *testing.T) {
	s, _ := appendFixture(t)
	// A session whose name extends s1's must not show up in s1.
	s1x := event("x1", "s1x", t0)
	s1y := event("y1", "s10", t0.Add(-time.Hour))
	commit(t, s, &s1x, &s1y)

	tests := []struct {
		session string
		want    []logEntry
	}{
		{"s1", entries(2, "a2", 4, "a3", 1, "a1")}, // event-time order, not log order
		{"s2", entries(3, "b1")},
		{"s1x", entries(6, "x1")},
		{"s10", entries(7, "y1")},
		{"s", nil},
		{"", nil}, // events without a session are not indexed by session
		{"unknown", nil},
	}
	for _, tt := range tests {
		t.Run(tt.session, func(t *testing.T) {
			if got := sessionEvents(t, s, tt.session); !slices.Equal(got, tt.want) {
				t.Errorf("SessionEvents(%q) = %v, want %v", tt.session, got, tt.want)
			}
		})
	}

	t.Run("callback error", func(t *testing.T) {
		n := 0
		err := s.SessionEvents("s1", func(uint64, *sdk.Event) error { n++; return errBoom })
		if !errors.Is(err, errBoom) || n != 1 {
			t.Errorf("SessionEvents with failing callback = %v after %d calls, want %v after 1", err, n, errBoom)
		}
	})
}

func TestSessionEventsSameTime(t *testing.T) {
	s, _ := newStore(t)
	evs := []sdk.Event{event("p", "s", t0), event("q", "s", t0), event("r", "s", t0.Add(-1))}
	commit(t, s, ptrs(evs)...)
	if got, want := sessionEvents(t, s, "s"), entries(3, "r", 1, "p", 2, "q"); !slices.Equal(got, want) {
		t.Errorf("SessionEvents = %v, want %v (time, then sequence order)", got, want)
	}
}

func TestEventsBetween(t *testing.T) {
	s, _ := appendFixture(t)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	all := entries(2, "a2", 3, "b1", 4, "a3", 1, "a1", 5, "c1")
	tests := []struct {
		name     string
		from, to time.Time
		want     []logEntry
	}{
		{"half-open: to excluded", sec(0), sec(3), entries(2, "a2", 3, "b1", 4, "a3", 1, "a1")},
		{"from included", sec(1), sec(2), entries(3, "b1", 4, "a3")},
		{"one nanosecond wide at an event", sec(3), sec(3).Add(1), entries(5, "c1")},
		{"one nanosecond wide before an event", sec(3).Add(-1), sec(3), nil},
		{"empty range", sec(1), sec(1), nil},
		{"covers all", sec(-10), sec(10), all},
		{"after all", sec(4), sec(10), nil},
		{"before all", sec(-10), sec(0), nil},
		{"zero from to far future", time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), all},
		{"from 1900", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), sec(1), entries(2, "a2")},
		{"reversed", sec(3), sec(0), nil},
		{"other zone", sec(1).In(time.FixedZone("X", 5*3600)), sec(2).In(time.FixedZone("Y", -3*3600)), entries(3, "b1", 4, "a3")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []logEntry
			err := protect(func() error { return s.EventsBetween(tt.from, tt.to, collector(&got)) })
			if err != nil {
				t.Fatalf("EventsBetween(%v, %v): %v", tt.from, tt.to, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("EventsBetween(%v, %v) = %v, want %v", tt.from, tt.to, got, tt.want)
			}
		})
	}
}

// TestEventTimesBeforeEpoch checks that events with times before 1970 and with the zero time
// sort before later ones in the time and session indexes.
func TestEventTimesBeforeEpoch(t *testing.T) {
	s, _ := newStore(t)
	evs := []sdk.Event{
		event("now", "s", t0),
		event("zero", "s", time.Time{}),
		event("1969", "s", time.Unix(0, -1)),
		event("epoch", "s", time.Unix(0, 0)),
		event("1900", "s", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)),
	}
	commit(t, s, ptrs(evs)...)
	want := entries(2, "zero", 5, "1900", 3, "1969", 4, "epoch", 1, "now")
	if got := sessionEvents(t, s, "s"); !slices.Equal(got, want) {
		t.Errorf("SessionEvents = %v, want %v", got, want)
	}
	if got := eventsBetween(t, s, time.Time{}, t0.Add(1)); !slices.Equal(got, want) {
		t.Errorf("EventsBetween(zero, now+1ns) = %v, want %v", got, want)
	}
	if got := eventsBetween(t, s, time.Unix(0, math.MinInt64+1), t0); !slices.Equal(got, want[1:4]) {
		t.Errorf("EventsBetween(lowest representable, now) = %v, want %v, without the zero time", got, want[1:4])
	}
	if got := eventsBetween(t, s, time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, 0)); !slices.Equal(got, want[1:3]) {
		t.Errorf("EventsBetween(1800, epoch) = %v, want %v", got, want[1:3])
	}
	got, err := s.Event(2)
	if err != nil || !got.Time.IsZero() {
		t.Errorf("Event(2) = time %v, %v, want the zero time", got.Time, err)
	}
}

func TestIngestTime(t *testing.T) {
	s, _ := newStore(t)
	var prev time.Time
	before := time.Now()
	for i := range 20 {
		evs := many("ingest"+string(rune('a'+i))+"-", "s", t0, 3)
		commit(t, s, ptrs(evs)...)
		for j := range evs {
			got := evs[j].IngestTime
			if got.IsZero() {
				t.Fatalf("batch %d event %d: IngestTime not set", i, j)
			}
			if !got.Equal(evs[0].IngestTime) {
				t.Errorf("batch %d event %d: IngestTime %v, want the batch's %v", i, j, got, evs[0].IngestTime)
			}
		}
		if got := evs[0].IngestTime; got.Before(prev) {
			t.Errorf("batch %d: IngestTime %v before previous batch's %v", i, got, prev)
		}
		if got := evs[0].IngestTime; got.Before(before.Truncate(time.Microsecond)) || got.After(time.Now()) {
			t.Errorf("batch %d: IngestTime %v not between %v and now", i, got, before)
		}
		prev = evs[0].IngestTime
	}
	// Stored ingest times match those AddEvent set, and do not decrease along the log.
	var last time.Time
	n := 0
	if _, err := s.ReadLog(0, 1000, func(seq uint64, ev *sdk.Event) error {
		if ev.IngestTime.Before(last) {
			t.Errorf("event %d: IngestTime %v before the previous event's %v", seq, ev.IngestTime, last)
		}
		last = ev.IngestTime
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 60 {
		t.Errorf("read %d events, want 60", n)
	}
	if !last.Equal(prev) {
		t.Errorf("last stored IngestTime %v, want %v", last, prev)
	}
	// Across a reopen, a new batch's ingest time is not before the last one.
	s = reopen(t, s)
	ev := event("after-reopen", "s", t0)
	commit(t, s, &ev)
	if ev.IngestTime.Before(prev) {
		t.Errorf("IngestTime after reopen %v, before %v", ev.IngestTime, prev)
	}
}

func TestDedup(t *testing.T) {
	x := func() sdk.Event { return event("x", "s", t0) }
	xAlt := func() sdk.Event { // same id, different content
		e := event("x", "other", t0.Add(time.Hour))
		e.Kind = "transcript.user"
		return e
	}
	y := func() sdk.Event { return event("y", "s", t0.Add(time.Second)) }

	tests := []struct {
		name    string
		batches [][]sdk.Event
		reopen  bool // between batches
		want    [][]bool
		wantLog []logEntry
	}{
		{"twice in one batch", [][]sdk.Event{{x(), xAlt()}}, false, [][]bool{{true, false}}, entries(1, "x")},
		{"duplicate between new events", [][]sdk.Event{{x(), x(), y()}}, false, [][]bool{{true, false, true}}, entries(1, "x", 2, "y")},
		{"across batches", [][]sdk.Event{{x()}, {xAlt(), y()}}, false, [][]bool{{true}, {false, true}}, entries(1, "x", 2, "y")},
		{"across three batches", [][]sdk.Event{{x()}, {x()}, {x(), y()}}, false, [][]bool{{true}, {false}, {false, true}}, entries(1, "x", 2, "y")},
		{"across reopen", [][]sdk.Event{{x()}, {xAlt(), y(), y()}}, true, [][]bool{{true}, {false, true, false}}, entries(1, "x", 2, "y")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			for i, evs := range tt.batches {
				if i > 0 && tt.reopen {
					s = reopen(t, s)
				}
				b := s.NewBatch()
				var got []bool
				for j := range evs {
					ok, err := b.AddEvent(&evs[j])
					if err != nil {
						t.Fatalf("batch %d AddEvent(%d): %v", i, j, err)
					}
					got = append(got, ok)
				}
				wantEvents := 0
				for _, ok := range tt.want[i] {
					if ok {
						wantEvents++
					}
				}
				if n := b.Events(); n != wantEvents {
					t.Errorf("batch %d: Events() = %d, want %d", i, n, wantEvents)
				}
				if err := b.Commit(); err != nil {
					t.Fatalf("batch %d Commit: %v", i, err)
				}
				if !slices.Equal(got, tt.want[i]) {
					t.Errorf("batch %d: AddEvent reported %v, want %v", i, got, tt.want[i])
				}
			}
			if got, _ := readLog(t, s, 0, 100); !slices.Equal(got, tt.wantLog) {
				t.Errorf("log = %v, want %v", got, tt.wantLog)
			}
			if got, want := s.EventCount(), int64(len(tt.wantLog)); got != want {
				t.Errorf("EventCount() = %d, want %d", got, want)
			}
			if got, want := s.LastSeq(), uint64(len(tt.wantLog)); got != want {
				t.Errorf("LastSeq() = %d, want %d", got, want)
			}
			// The first version of x is the one stored.
			_, ev, err := s.EventByID(id("x"))
			if err != nil || ev.Kind != "hook.PostToolUse" || ev.SessionID != "s" {
				t.Errorf("EventByID(x) = %s/%s, %v, want the first version hook.PostToolUse/s", ev.Kind, ev.SessionID, err)
			}
			if got := sessionEvents(t, s, "other"); len(got) != 0 {
				t.Errorf("SessionEvents(other) = %v, want nothing from the dropped duplicate", got)
			}
		})
	}
}

func TestAddEventInvalid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *sdk.Event)
	}{
		{"zero id", func(e *sdk.Event) { e.ID = sdk.ID{} }},
		{"no platform", func(e *sdk.Event) { e.Platform = "" }},
		{"session with space", func(e *sdk.Event) { e.SessionID = "a b" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			ev := event("bad", "s", t0)
			tt.mutate(&ev)
			b := s.NewBatch()
			defer b.Close()
			ok, err := b.AddEvent(&ev)
			if ok || !errors.Is(err, sdk.ErrInvalid) {
				t.Errorf("AddEvent(invalid) = %v, %v, want false and an error wrapping sdk.ErrInvalid", ok, err)
			}
			if store.AppenderHeld(s) {
				t.Errorf("a rejected first event made the batch the appender")
			}
			if err := b.Commit(); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if n := s.EventCount(); n != 0 {
				t.Errorf("EventCount() = %d, want 0", n)
			}
		})
	}
}

func TestBatchEnded(t *testing.T) {
	s, _ := newStore(t)
	b := s.NewBatch()
	if err := b.Commit(); err != nil {
		t.Fatalf("Commit of empty batch: %v", err)
	}
	ev := event("late", "s", t0)
	tests := []struct {
		name string
		err  func() error
	}{
		{"AddEvent", func() error { _, err := b.AddEvent(&ev); return err }},
		{"AddDLQ", func() error { _, err := b.AddDLQ(&store.DLQRecord{Stage: "capture"}); return err }},
		{"Commit", b.Commit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := protect(tt.err); err == nil || strings.HasPrefix(err.Error(), "panic") {
				t.Errorf("%s after Commit = %v, want an error", tt.name, err)
			}
		})
	}
	b.Close() // safe after Commit
	b.Close()
	if store.AppenderHeld(s) {
		t.Errorf("ended batch holds the appender lock")
	}
}

func TestCounters(t *testing.T) {
	s, _ := newStore(t)
	mk := func(name, platform, kind string) sdk.Event {
		e := event(name, "s", t0)
		e.Platform, e.Kind = platform, kind
		return e
	}
	evs := []sdk.Event{
		mk("1", "claude-code", "hook.PostToolUse"),
		mk("2", "claude-code", "hook.PostToolUse"),
		mk("3", "claude-code", "transcript.assistant"),
		mk("4", "codex", "hook.Stop"),
		mk("2", "claude-code", "hook.PostToolUse"), // duplicate: not counted
	}
	commit(t, s, ptrs(evs)[:2]...)
	b := s.NewBatch()
	for i := 2; i < len(evs); i++ {
		if _, err := b.AddEvent(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := b.AddDLQ(&store.DLQRecord{Stage: "capture", Reason: "bad json"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	want := map[store.PlatformKind]int64{
		{"claude-code", "hook.PostToolUse"}:     2,
		{"claude-code", "transcript.assistant"}: 1,
		{"codex", "hook.Stop"}:                  1,
	}
	check := func(t *testing.T, s *store.Store, lastSeq uint64) {
		t.Helper()
		if got := s.Counts(); !maps.Equal(got, want) {
			t.Errorf("Counts() = %v, want %v", got, want)
		}
		if got := s.EventCount(); got != 4 {
			t.Errorf("EventCount() = %d, want 4", got)
		}
		if got := s.DLQCount(); got != 2 {
			t.Errorf("DLQCount() = %d, want 2", got)
		}
		if got := s.LastSeq(); got != lastSeq {
			t.Errorf("LastSeq() = %d, want %d", got, lastSeq)
		}
	}
	t.Run("after commits", func(t *testing.T) { check(t, s, 4) })

	t.Run("after an abandoned batch", func(t *testing.T) {
		b := s.NewBatch()
		for _, e := range []sdk.Event{mk("5", "codex", "hook.Stop"), mk("6", "gemini", "x")} {
			if ok, err := b.AddEvent(&e); !ok || err != nil {
				t.Fatalf("AddEvent = %v, %v", ok, err)
			}
		}
		if _, err := b.AddDLQ(&store.DLQRecord{Stage: "capture"}); err != nil {
			t.Fatal(err)
		}
		b.SetCursor("c", 9)
		b.Close()
		check(t, s, 4)
		if has(t, s, "5") {
			t.Errorf("event of an abandoned batch is stored")
		}
		if c, err := s.Cursor("c"); err != nil || c != 0 {
			t.Errorf("Cursor of an abandoned batch = %d, %v, want 0, nil", c, err)
		}
		if store.AppenderHeld(s) {
			t.Errorf("abandoned batch still holds the appender lock")
		}
	})

	t.Run("a batch with only duplicates", func(t *testing.T) {
		dup := mk("1", "claude-code", "hook.PostToolUse")
		if got := commit(t, s, &dup); got[0] {
			t.Errorf("AddEvent(duplicate) = true")
		}
		check(t, s, 4)
	})

	s = reopen(t, s)
	t.Run("after reopen", func(t *testing.T) { check(t, s, 4) })

	t.Run("sequence continues after abandoned batch and reopen", func(t *testing.T) {
		e := mk("7", "codex", "hook.Stop")
		commit(t, s, &e)
		seq, _, err := s.EventByID(e.ID)
		if err != nil || seq != 5 {
			t.Errorf("EventByID(new) = %d, %v, want 5", seq, err)
		}
		if got := s.Counts()[store.PlatformKind{"codex", "hook.Stop"}]; got != 2 {
			t.Errorf("count of codex/hook.Stop = %d, want 2", got)
		}
	})

	s = reopen(t, s)
	t.Run("merged counters after second reopen", func(t *testing.T) {
		if got := s.EventCount(); got != 5 {
			t.Errorf("EventCount() = %d, want 5", got)
		}
		if got := s.LastSeq(); got != 5 {
			t.Errorf("LastSeq() = %d, want 5", got)
		}
	})
}

func TestNotify(t *testing.T) {
	s, _ := newStore(t)
	ch := s.Notify()
	// A batch that adds no events does not notify.
	b := s.NewBatch()
	b.SetCursor("c", 1)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatalf("Notify channel closed by a batch without events")
	default:
	}
	ev := event("n", "s", t0)
	commit(t, s, &ev)
	select {
	case <-ch:
	default:
		t.Fatalf("Notify channel not closed by a commit of events")
	}
	ch2 := s.Notify()
	if ch2 == ch {
		t.Fatalf("Notify returned the closed channel again")
	}
	s.Close()
	select {
	case <-ch2:
	default:
		t.Fatalf("Notify channel not closed by Close")
	}
}

// TestSingleAppender checks that a second batch's AddEvent waits for the first appender batch to
// end, while batches that append no events commit meanwhile.
func TestSingleAppender(t *testing.T) {
	for _, end := range []string{"commit", "close"} {
		t.Run(end, func(t *testing.T) {
			s, _ := newStore(t)
			first := s.NewBatch()
			defer first.Close()
			e1 := event("first", "s", t0)
			if _, err := first.AddEvent(&e1); err != nil {
				t.Fatal(err)
			}
			if !store.AppenderHeld(s) {
				t.Fatalf("AddEvent did not take the appender lock")
			}

			type result struct {
				added bool
				err   error
			}
			started := make(chan struct{})
			added := make(chan result, 1)
			committed := make(chan error, 1)
			e2 := event("second", "s", t0.Add(time.Second))
			go func() {
				b := s.NewBatch()
				defer b.Close()
				close(started)
				ok, err := b.AddEvent(&e2)
				added <- result{ok, err}
				if err == nil {
					err = b.Commit()
				}
				committed <- err
			}()
			<-started

			// A batch without events is not held up by the appender.
			other := make(chan error, 1)
			go func() {
				b := s.NewBatch()
				defer b.Close()
				b.SetCursor("consumer", 1)
				b.PutState("consumer", []byte("k"), []byte("v"))
				if _, err := b.AddDLQ(&store.DLQRecord{Stage: "consumer:x"}); err != nil {
					other <- err
					return
				}
				other <- b.Commit()
			}()
			select {
			case err := <-other:
				if err != nil {
					t.Fatalf("non-appending batch: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("a batch without events blocked behind the appender")
			}

			// The second AddEvent must still be waiting: the appender lock is held, and nothing
			// has come back. (This can only miss a bug, never report a false one.)
			select {
			case r := <-added:
				t.Fatalf("second AddEvent returned (%v, %v) while the first batch was open", r.added, r.err)
			case <-time.After(50 * time.Millisecond):
			}
			if !store.AppenderHeld(s) {
				t.Fatalf("appender lock released while the first batch is open")
			}
			// The first batch can keep appending while the second waits.
			e3 := event("third", "s", t0.Add(2*time.Second))
			if ok, err := first.AddEvent(&e3); !ok || err != nil {
				t.Fatalf("first batch AddEvent = %v, %v", ok, err)
			}

			var wantLog []logEntry
			switch end {
			case "commit":
				if err := first.Commit(); err != nil {
					t.Fatal(err)
				}
				wantLog = entries(1, "first", 2, "third", 3, "second")
			case "close":
				first.Close()
				wantLog = entries(1, "second")
			}
			select {
			case r := <-added:
				if !r.added || r.err != nil {
					t.Fatalf("second AddEvent = %v, %v, want true, nil", r.added, r.err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("second AddEvent still blocked 10s after the first batch ended")
			}
			if err := <-committed; err != nil {
				t.Fatalf("second Commit: %v", err)
			}
			if got, _ := readLog(t, s, 0, 10); !slices.Equal(got, wantLog) {
				t.Errorf("log = %v, want %v", got, wantLog)
			}
			if store.AppenderHeld(s) {
				t.Errorf("appender lock held after both batches ended")
			}
			if end == "commit" && e2.IngestTime.Before(e1.IngestTime) {
				t.Errorf("second batch ingest %v before first's %v", e2.IngestTime, e1.IngestTime)
			}
		})
	}
}

func TestCursors(t *testing.T) {
	s, _ := newStore(t)
	set := func(pairs map[string]uint64) {
		b := s.NewBatch()
		defer b.Close()
		for c, seq := range pairs {
			b.SetCursor(c, seq)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	set(map[string]uint64{"a": 5, "ab": 7})
	set(map[string]uint64{"a": 6, "big": 1 << 60})
	check := func(t *testing.T, s *store.Store) {
		tests := []struct {
			consumer string
			want     uint64
		}{
			{"a", 6},
			{"ab", 7},
			{"big", 1 << 60},
			{"abc", 0},
			{"", 0},
			{"unknown", 0},
		}
		for _, tt := range tests {
			t.Run(tt.consumer, func(t *testing.T) {
				got, err := s.Cursor(tt.consumer)
				if err != nil || got != tt.want {
					t.Errorf("Cursor(%q) = %d, %v, want %d, nil", tt.consumer, got, err, tt.want)
				}
			})
		}
	}
	t.Run("open", func(t *testing.T) { check(t, s) })
	s = reopen(t, s)
	t.Run("reopened", func(t *testing.T) { check(t, s) })
}

func TestState(t *testing.T) {
	s, _ := newStore(t)
	b := s.NewBatch()
	for _, kv := range []struct{ consumer, key, value string }{
		{"a", "sess/1", "one"},
		{"a", "sess/2", "two"},
		{"a", "sess/10", "ten"},
		{"a", "tool/Bash", "bash"},
		{"a", "", "empty key"},
		{"a", "\xff\xff", "high"},
		{"a", "\xff\x00", "high-low"},
		{"a", "gone", "deleted later"},
		{"ab", "sess/1", "ab one"},
		{"ab", "x", "ab x"},
		{"b", "sess/1", "b one"},
	} {
		b.PutState(kv.consumer, []byte(kv.key), []byte(kv.value))
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	b = s.NewBatch()
	b.DeleteState("a", []byte("gone"))
	b.PutState("a", []byte("sess/2"), []byte("two, updated"))
	b.DeleteState("a", []byte("never-existed"))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, s *store.Store) {
		gets := []struct {
			consumer, key string
			want          string
			wantErr       error
		}{
			{"a", "sess/1", "one", nil},
			{"a", "sess/2", "two, updated", nil},
			{"a", "", "empty key", nil},
			{"a", "gone", "", store.ErrNotFound},
			{"a", "x", "", store.ErrNotFound}, // ab's key
			{"ab", "x", "ab x", nil},
			{"ab", "sess/2", "", store.ErrNotFound}, // a's key
			{"abc", "sess/1", "", store.ErrNotFound},
			{"", "sess/1", "", store.ErrNotFound},
		}
		for _, tt := range gets {
			t.Run("State/"+tt.consumer+"/"+tt.key, func(t *testing.T) {
				got, err := s.State(tt.consumer, []byte(tt.key))
				if !errors.Is(err, tt.wantErr) || (tt.wantErr != nil) != (err != nil) {
					t.Fatalf("State(%q, %q) error = %v, want %v", tt.consumer, tt.key, err, tt.wantErr)
				}
				if string(got) != tt.want {
					t.Errorf("State(%q, %q) = %q, want %q", tt.consumer, tt.key, got, tt.want)
				}
			})
		}

		scans := []struct {
			consumer, prefix string
			want             []string // key=value
		}{
			{"a", "", []string{"=empty key", "sess/1=one", "sess/10=ten", "sess/2=two, updated", "tool/Bash=bash", "\xff\x00=high-low", "\xff\xff=high"}},
			{"a", "sess/", []string{"sess/1=one", "sess/10=ten", "sess/2=two, updated"}},
			{"a", "sess/1", []string{"sess/1=one", "sess/10=ten"}},
			{"a", "tool", []string{"tool/Bash=bash"}},
			{"a", "\xff", []string{"\xff\x00=high-low", "\xff\xff=high"}},
			{"a", "\xff\xff", []string{"\xff\xff=high"}},
			{"a", "zzz", nil},
			{"ab", "", []string{"sess/1=ab one", "x=ab x"}},
			{"b", "sess", []string{"sess/1=b one"}},
			{"abc", "", nil},
		}
		for _, tt := range scans {
			t.Run("ScanState/"+tt.consumer+"/"+tt.prefix, func(t *testing.T) {
				var got []string
				err := s.ScanState(tt.consumer, []byte(tt.prefix), func(k, v []byte) error {
					got = append(got, string(k)+"="+string(v))
					return nil
				})
				if err != nil {
					t.Fatalf("ScanState(%q, %q): %v", tt.consumer, tt.prefix, err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("ScanState(%q, %q) = %q, want %q", tt.consumer, tt.prefix, got, tt.want)
				}
			})
		}
		ranges := []struct {
			consumer     string
			lower, upper string
			open         bool // upper is nil
			want         []string
		}{
			{"a", "", "", true, []string{"=empty key", "sess/1=one", "sess/10=ten", "sess/2=two, updated", "tool/Bash=bash", "\xff\x00=high-low", "\xff\xff=high"}},
			{"a", "sess/10", "", true, []string{"sess/10=ten", "sess/2=two, updated", "tool/Bash=bash", "\xff\x00=high-low", "\xff\xff=high"}},
			{"a", "sess/10", "tool", false, []string{"sess/10=ten", "sess/2=two, updated"}},
			{"a", "sess/", "sess/10", false, []string{"sess/1=one"}},
			{"a", "", "sess/1", false, []string{"=empty key"}},
			{"a", "\xff\x01", "", true, []string{"\xff\xff=high"}},
			{"a", "tool", "sess", false, nil}, // lower above upper
			{"a", "sess/2", "sess/2", false, nil},
			{"ab", "sess/1\x00", "", true, []string{"x=ab x"}},
			{"abc", "", "", true, nil},
		}
		for _, tt := range ranges {
			t.Run("ScanStateRange/"+tt.consumer+"/"+tt.lower+"/"+tt.upper, func(t *testing.T) {
				var upper []byte
				if !tt.open {
					upper = []byte(tt.upper)
				}
				var got []string
				err := s.ScanStateRange(tt.consumer, []byte(tt.lower), upper, func(k, v []byte) error {
					got = append(got, string(k)+"="+string(v))
					return nil
				})
				if err != nil {
					t.Fatalf("ScanStateRange(%q, %q, %q): %v", tt.consumer, tt.lower, upper, err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("ScanStateRange(%q, %q, %q) = %q, want %q", tt.consumer, tt.lower, upper, got, tt.want)
				}
			})
		}
	}
	t.Run("open", func(t *testing.T) { check(t, s) })

	t.Run("State returns a copy", func(t *testing.T) {
		v, err := s.State("a", []byte("sess/1"))
		if err != nil {
			t.Fatal(err)
		}
		copy(v, "XXX")
		if v2, _ := s.State("a", []byte("sess/1")); !bytes.Equal(v2, []byte("one")) {
			t.Errorf("State after changing a returned value = %q, want %q", v2, "one")
		}
	})
	t.Run("ScanState callback error", func(t *testing.T) {
		n := 0
		err := s.ScanState("a", nil, func(k, v []byte) error { n++; return errBoom })
		if !errors.Is(err, errBoom) || n != 1 {
			t.Errorf("ScanState = %v after %d calls, want %v after 1", err, n, errBoom)
		}
	})

	s = reopen(t, s)
	t.Run("reopened", func(t *testing.T) { check(t, s) })
}

func TestFormatVersion(t *testing.T) {
	tests := []struct {
		name    string
		value   []byte
		wantErr string // "" for success
	}{
		{"version 1", store.FormatValue(1), ""},
		{"version 2", store.FormatValue(2), "store format 2, this build reads 1"},
		{"version 0", store.FormatValue(0), "store format 0"},
		{"malformed", []byte{0, 1}, "store format 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := store.Open(dir, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ev := event("kept", "s", t0)
			commit(t, s, &ev)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := store.WriteFormatKey(dir, tt.value); err != nil {
				t.Fatal(err)
			}
			s, err = store.Open(dir, store.Options{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer s.Close()
				if !has(t, s, "kept") {
					t.Errorf("event lost")
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want error %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), dir) {
				t.Errorf("Open error = %q, want it to name %s and contain %q", err, dir, tt.wantErr)
			}
			// The failed Open released the directory, and did not rewrite the format.
			if err := store.WriteFormatKey(dir, store.FormatValue(1)); err != nil {
				t.Fatalf("directory still locked after failed Open: %v", err)
			}
			s, err = store.Open(dir, store.Options{})
			if err != nil {
				t.Fatalf("Open after restoring format 1: %v", err)
			}
			defer s.Close()
			if !has(t, s, "kept") {
				t.Errorf("event lost")
			}
		})
	}
}

func TestOpenTwice(t *testing.T) {
	s, dir := newStore(t)
	_ = s
	s2, err := store.Open(dir, store.Options{})
	if err == nil {
		s2.Close()
		t.Fatalf("second Open of an open store succeeded")
	}
}

func TestClose(t *testing.T) {
	s, _ := newStore(t)
	ev := event("x", "s", t0)
	commit(t, s, &ev)
	open := s.NewBatch() // an appender batch left open across Close
	pending := event("pending", "s", t0)
	if _, err := open.AddEvent(&pending); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	t.Run("open batch commit", func(t *testing.T) {
		if err := protect(open.Commit); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Commit of a batch opened before Close = %v, want ErrClosed", err)
		}
		open.Close()
		if store.AppenderHeld(s) {
			t.Errorf("appender lock held after the batch failed")
		}
	})

	newEv := event("new", "s", t0)
	ops := []struct {
		name string
		fn   func() error
	}{
		{"Event", func() error { _, err := s.Event(1); return err }},
		{"EventByID", func() error { _, _, err := s.EventByID(ev.ID); return err }},
		{"Has", func() error { _, err := s.Has(ev.ID); return err }},
		{"ReadLog", func() error { _, err := s.ReadLog(0, 10, collector(new([]logEntry))); return err }},
		{"SessionEvents", func() error { return s.SessionEvents("s", collector(new([]logEntry))) }},
		{"EventsBetween", func() error { return s.EventsBetween(t0, t0.Add(1), collector(new([]logEntry))) }},
		{"Cursor", func() error { _, err := s.Cursor("c"); return err }},
		{"State", func() error { _, err := s.State("c", []byte("k")); return err }},
		{"ScanState", func() error { return s.ScanState("c", nil, func(k, v []byte) error { return nil }) }},
		{"ScanStateRange", func() error { return s.ScanStateRange("c", nil, nil, func(k, v []byte) error { return nil }) }},
		{"DLQ", func() error { _, err := s.DLQ(1); return err }},
		{"ScanDLQ", func() error { return s.ScanDLQ(func(store.DLQRecord) bool { return true }) }},
		{"UpdateDLQ", func() error { return s.UpdateDLQ(store.DLQRecord{Seq: 1}, "again") }},
		{"DeleteEventsBefore", func() error { _, err := s.DeleteEventsBefore(time.Now()); return err }},
		{"DeleteDLQBefore", func() error { _, err := s.DeleteDLQBefore(time.Now()); return err }},
		{"DeleteDerivedBefore", func() error { _, err := s.DeleteDerivedBefore(time.Now()); return err }},
		{"Compact", s.Compact},
		{"AddEvent", func() error {
			b := s.NewBatch()
			defer b.Close()
			_, err := b.AddEvent(&newEv)
			return err
		}},
		{"Commit with cursor", func() error {
			b := s.NewBatch()
			defer b.Close()
			b.SetCursor("c", 1)
			return b.Commit()
		}},
		{"Commit with dead letter", func() error {
			b := s.NewBatch()
			defer b.Close()
			if _, err := b.AddDLQ(&store.DLQRecord{Stage: "capture"}); err != nil {
				return err
			}
			return b.Commit()
		}},
	}
	for _, tt := range ops {
		t.Run(tt.name, func(t *testing.T) {
			err := protect(tt.fn)
			if !errors.Is(err, store.ErrClosed) {
				t.Errorf("%s after Close = %v, want an error wrapping ErrClosed", tt.name, err)
			}
		})
	}
	t.Run("accessors", func(t *testing.T) {
		err := protect(func() error {
			if got := s.LastSeq(); got != 1 {
				t.Errorf("LastSeq() = %d, want 1", got)
			}
			if got := s.EventCount(); got != 1 {
				t.Errorf("EventCount() = %d, want 1", got)
			}
			if got := s.DiskSize(); got != 0 {
				t.Errorf("DiskSize() = %d, want 0 after Close", got)
			}
			<-s.Notify() // closed
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})
	if store.AppenderHeld(s) {
		t.Errorf("appender lock held at the end")
	}
}

// TestPrepareAppends checks that an id filter built ahead of the first append (as the daemon
// builds it) deduplicates as one built by the append, and that a closed store refuses it.
func TestPrepareAppends(t *testing.T) {
	s, _ := newStore(t)
	ev := event("x", "s", t0)
	commit(t, s, &ev)
	s = reopen(t, s)
	for range 2 { // a second call is a no-op
		if err := s.PrepareAppends(); err != nil {
			t.Fatalf("PrepareAppends: %v", err)
		}
	}
	b := s.NewBatch()
	dup := event("x", "s", t0)
	if ok, err := b.AddEvent(&dup); ok || err != nil {
		t.Errorf("AddEvent of a stored id after PrepareAppends = %v, %v; want a duplicate", ok, err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := s.EventCount(); got != 1 {
		t.Errorf("EventCount() = %d, want 1", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.PrepareAppends(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("PrepareAppends after Close = %v, want ErrClosed", err)
	}
}

func TestReadOnly(t *testing.T) {
	s, evs := appendFixture(t)
	dir := s.Dir()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before := dirState(t, dir)

	ro, err := store.Open(dir, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open read-only: %v", err)
	}
	if got := ro.LastSeq(); got != uint64(len(evs)) {
		t.Errorf("LastSeq = %d, want %d", got, len(evs))
	}
	if got, err := ro.Event(3); err != nil || got.ID != evs[2].ID {
		t.Errorf("Event(3) = %v, %v, want %v", got.ID, err, evs[2].ID)
	}
	b := ro.NewBatch()
	ev := event("new", "s1", t0)
	if _, err := b.AddEvent(&ev); err == nil {
		if err := b.Commit(); err == nil {
			t.Error("a commit on a read-only store succeeded")
		}
	}
	b.Close()
	if err := ro.Close(); err != nil {
		t.Fatalf("Close read-only: %v", err)
	}
	if after := dirState(t, dir); !maps.Equal(before, after) {
		t.Errorf("a read-only open changed the store's files:\nbefore %v\nafter  %v", before, after)
	}

	// Opened for writing again, the store has what it had.
	s = openStore(t, dir)
	if got := s.LastSeq(); got != uint64(len(evs)) {
		t.Errorf("LastSeq after the read-only open = %d, want %d", got, len(evs))
	}

	if _, err := store.Open(t.TempDir(), store.Options{ReadOnly: true}); err == nil {
		t.Error("a read-only open of an empty directory succeeded")
	}
}

// dirState maps the names of dir's files to their size and modification time, but for Pebble's
// LOCK, which every open truncates.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if e.Name() == "LOCK" {
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fmt.Sprint(info.Size(), info.ModTime().UnixNano())
	}
	return out
}

// TestDiskSizeGrows: the store's size follows what is written to it before any flush. It stayed
// nearly where it was (3 events, then 403: a thousand bytes more), because Pebble counts the
// write-ahead log being written at the size it had when it was opened, and until a memtable is
// flushed nothing else on disk grows. It now also matches the files in the directory.
func TestDiskSizeGrows(t *testing.T) {
	s, dir := newStore(t)
	commit(t, s, ptrs(many("a-", "s", t0, 3))...)
	small := s.DiskSize()
	evs := many("b-", "s", t0, 400)
	for i := 0; i < len(evs); i += 100 {
		commit(t, s, ptrs(evs[i:i+100])...)
	}
	large := s.DiskSize()
	// Each event is written to the log under its sequence with its encoding, and indexed by id,
	// session and time: well over 100 bytes each.
	const atLeast = 400 * 100
	if large < small+atLeast {
		t.Errorf("DiskSize() = %d with 3 events, %d with 403: want it to grow by at least %d", small, large, atLeast)
	}
	var files uint64
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			files += uint64(info.Size())
		}
	}
	// Within 10% of the files' sizes (Pebble leaves out its lock and marker files, and a WAL it
	// recycled keeps its length on disk).
	if diff := max(files, large) - min(files, large); diff > files/10 {
		t.Errorf("DiskSize() = %d, the store's files hold %d bytes", large, files)
	}
}
