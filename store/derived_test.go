package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// derivedEvent builds a valid derived record.
func derivedEvent(name, kind string, n int64) sdk.Event {
	return sdk.Event{ID: id(name), Platform: "claude-code", Kind: kind, SessionID: "s1", Time: t0, Attrs: []sdk.Attr{sdk.Int("count", n)}}
}

type derivedRow struct {
	seq   uint64
	kind  string
	count int64
}

func scanAll(t *testing.T, s *store.Store, kind string, after uint64) []derivedRow {
	t.Helper()
	var out []derivedRow
	if _, err := s.ScanDerived(kind, after, 0, func(seq uint64, ev *sdk.Event) error {
		out = append(out, derivedRow{seq, ev.Kind, ev.Attrs[0].Value.Int()})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDerived(t *testing.T) {
	s, _ := newStore(t)
	b := s.NewBatch()
	for i, kind := range []string{"tool-stats", "tool", "tool-stats", "insight.x"} {
		ev := derivedEvent(fmt.Sprint(i), kind, int64(i))
		if err := b.AddDerived(kind, &ev); err != nil {
			t.Fatal(err)
		}
	}
	b.SetCursor("plugin:x", 7)
	notify := s.DerivedNotify()
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-notify:
	default:
		t.Fatal("DerivedNotify not closed by the commit")
	}
	if got, want := s.LastDerivedSeq(), uint64(4); got != want {
		t.Fatalf("LastDerivedSeq = %d, want %d", got, want)
	}
	tests := []struct {
		name  string
		kind  string
		after uint64
		want  []derivedRow
	}{
		{"all of a kind", "tool-stats", 0, []derivedRow{{1, "tool-stats", 0}, {3, "tool-stats", 2}}},
		{"after a cursor", "tool-stats", 1, []derivedRow{{3, "tool-stats", 2}}},
		{"a prefix of another kind", "tool", 0, []derivedRow{{2, "tool", 1}}},
		{"insight", "insight.x", 0, []derivedRow{{4, "insight.x", 3}}},
		{"none", "nothing", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scanAll(t, s, tt.kind, tt.after)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("ScanDerived(%q, %d) = %v, want %v", tt.kind, tt.after, got, tt.want)
			}
		})
	}

	// Sequence numbers continue after a reopen.
	s = reopen(t, s)
	if got, want := s.LastDerivedSeq(), uint64(4); got != want {
		t.Fatalf("after reopen LastDerivedSeq = %d, want %d", got, want)
	}
	b = s.NewBatch()
	ev := derivedEvent("5", "tool-stats", 5)
	if err := b.AddDerived("tool-stats", &ev); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(scanAll(t, s, "tool-stats", 3)), fmt.Sprint([]derivedRow{{5, "tool-stats", 5}}); got != want {
		t.Errorf("after reopen: %s, want %s", got, want)
	}
	if got, _ := s.Cursor("plugin:x"); got != 7 {
		t.Errorf("cursor = %d, want 7: it commits with the derived records", got)
	}
}

func TestDerivedMax(t *testing.T) {
	s, _ := newStore(t)
	b := s.NewBatch()
	for i := range 5 {
		ev := derivedEvent(fmt.Sprint(i), "k", int64(i))
		if err := b.AddDerived("k", &ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	var n int
	last, err := s.ScanDerived("k", 1, 2, func(uint64, *sdk.Event) error { n++; return nil })
	if err != nil || last != 3 || n != 2 {
		t.Errorf("ScanDerived(after 1, max 2) = %d, %v after %d records; want 3, nil after 2", last, err, n)
	}
	stop := errors.New("stop")
	if _, err := s.ScanDerived("k", 0, 0, func(uint64, *sdk.Event) error { return stop }); err != stop {
		t.Errorf("ScanDerived error = %v, want fn's", err)
	}
}

func TestAddDerivedRefuses(t *testing.T) {
	s, _ := newStore(t)
	b := s.NewBatch()
	defer b.Close()
	good := derivedEvent("a", "k", 1)
	bad := good
	bad.Platform = ""
	tests := []struct {
		name string
		kind string
		ev   sdk.Event
	}{
		{"empty kind", "", good},
		{"kind with a NUL", "a\x00b", good},
		{"kind with a space", "a b", good},
		{"invalid event", "k", bad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := b.AddDerived(tt.kind, &tt.ev); err == nil {
				t.Error("AddDerived succeeded")
			}
		})
	}
	if b.Derived() != 0 {
		t.Errorf("Derived() = %d after refusals", b.Derived())
	}
}

// TestDerivedCommitOrder hammers concurrent derived writers and checks that a reader following
// its cursor sees every record exactly once: sequence numbers commit in order.
func TestDerivedCommitOrder(t *testing.T) {
	s, _ := newStore(t)
	const writers, perWriter = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				b := s.NewBatch()
				ev := derivedEvent(fmt.Sprint(w, "-", i), "k", int64(i))
				if err := b.AddDerived("k", &ev); err != nil {
					t.Error(err)
				}
				if err := b.Commit(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	seen := map[uint64]bool{}
	var cursor uint64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		var err error
		cursor, err = s.ScanDerived("k", cursor, 0, func(seq uint64, _ *sdk.Event) error {
			if seen[seq] {
				t.Errorf("record %d seen twice", seq)
			}
			seen[seq] = true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if finished {
			break
		}
	}
	if len(seen) != writers*perWriter {
		t.Errorf("reader saw %d records, want %d", len(seen), writers*perWriter)
	}
}
