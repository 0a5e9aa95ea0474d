package store_test

import (
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/store"
)

func TestCheckpoints(t *testing.T) {
	s, _ := newStore(t)
	const src = "claude-code-transcript"
	if _, err := s.Checkpoint(src, "/a/x.jsonl"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Checkpoint of nothing: %v, want ErrNotFound", err)
	}
	cps := map[string]store.Checkpoint{
		"/a/x.jsonl":   {Dev: 1, Ino: 2, Size: 300, HeadLen: 64, Head: math.MaxUint64, Offset: 250, Updated: t0},
		"/a/y.jsonl":   {Dev: math.MaxUint64, Ino: 7, Size: 0, HeadLen: 0, Offset: 0, Updated: t0},
		"/ab/z.jsonl":  {Dev: 3, Ino: 4, Size: 10, HeadLen: 10, Head: 42, Offset: 10},
		"/a/é ü.jsonl": {Dev: 5, Ino: 6, Size: 1 << 40, HeadLen: 64, Head: 1, Offset: 1<<40 - 1, Updated: t0},
	}
	for f, cp := range cps {
		if err := s.PutCheckpoint(src, f, cp); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutCheckpoint("other-source", "/a/x.jsonl", store.Checkpoint{Offset: 99}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s) // durable

	list := func(prefix string) map[string]store.Checkpoint {
		t.Helper()
		out := map[string]store.Checkpoint{}
		if err := s.Checkpoints(src, prefix, func(f string, cp store.Checkpoint) error {
			out[f] = cp
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := list("")
	if len(all) != len(cps) {
		t.Fatalf("listed %d checkpoints, want %d (another source's kept apart)", len(all), len(cps))
	}
	for f, want := range cps {
		got := all[f]
		if want.Updated.IsZero() {
			if got.Updated.IsZero() || time.Since(got.Updated) > time.Minute {
				t.Errorf("%s: Updated = %v, want set when written", f, got.Updated)
			}
			got.Updated = time.Time{}
		}
		if !got.Updated.Equal(want.Updated) {
			t.Errorf("%s: Updated = %v, want %v", f, got.Updated, want.Updated)
		}
		got.Updated, want.Updated = time.Time{}, time.Time{}
		if got != want {
			t.Errorf("%s: got %+v, want %+v", f, got, want)
		}
		one, err := s.Checkpoint(src, f)
		if err != nil || one.Offset != cps[f].Offset {
			t.Errorf("Checkpoint(%s) = %+v, %v", f, one, err)
		}
	}
	if got := list("/a/"); len(got) != 3 {
		t.Errorf("prefix /a/: %d checkpoints, want 3 (not /ab/)", len(got))
	}

	if err := s.DeleteCheckpoint(src, "/a/x.jsonl"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCheckpoint(src, "/a/x.jsonl"); err != nil {
		t.Errorf("deleting again: %v", err)
	}
	if _, err := s.Checkpoint(src, "/a/x.jsonl"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if cp, err := s.Checkpoint("other-source", "/a/x.jsonl"); err != nil || cp.Offset != 99 {
		t.Errorf("the other source's checkpoint: %+v, %v", cp, err)
	}

	for _, bad := range [][2]string{{"", "/f"}, {src, ""}, {"a\x00b", "/f"}, {src, "/f\x00"}} {
		if err := s.PutCheckpoint(bad[0], bad[1], store.Checkpoint{}); !errors.Is(err, store.ErrCheckpoint) {
			t.Errorf("PutCheckpoint(%q, %q) = %v, want ErrCheckpoint", bad[0], bad[1], err)
		}
	}
}

func TestSwapCheckpoint(t *testing.T) {
	s, _ := newStore(t)
	const src, f = "src", "/f.jsonl"
	a := store.Checkpoint{Dev: 1, Ino: 1, Offset: 10}
	b := store.Checkpoint{Dev: 1, Ino: 1, Offset: 20}
	swap := func(from, to *store.Checkpoint, want bool) {
		t.Helper()
		ok, err := s.SwapCheckpoint(src, f, from, to)
		if err != nil || ok != want {
			t.Fatalf("SwapCheckpoint(%v -> %v) = %v, %v; want %v", from, to, ok, err, want)
		}
	}
	swap(&a, &b, false) // none stored, a expected
	swap(nil, &a, true) // none stored, none expected
	swap(nil, &b, false)
	stored, _ := s.Checkpoint(src, f)
	swap(&stored, &b, true) // Updated does not matter
	swap(&a, nil, false)
	swap(&b, nil, true)
	if _, err := s.Checkpoint(src, f); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a swap to nil: %v", err)
	}
	s.Close()
	if _, err := s.SwapCheckpoint(src, f, nil, &a); !errors.Is(err, store.ErrClosed) {
		t.Errorf("on a closed store: %v", err)
	}
	if err := s.Checkpoints(src, "", nil); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("listing on a closed store: %v", err)
	}
}

// TestSwapCheckpointConcurrent hammers one checkpoint with compare-and-swaps from several
// goroutines, each moving it one byte on from what it read: every swap that reports success moved
// it, so the final offset is the number of successes (a lost update would leave it behind).
func TestSwapCheckpointConcurrent(t *testing.T) {
	s, _ := newStore(t)
	const src, f, workers, tries = "src", "/f.jsonl", 8, 50
	if _, err := s.SwapCheckpoint(src, f, nil, &store.Checkpoint{Dev: 1, Ino: 1}); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range tries {
				cur, err := s.Checkpoint(src, f)
				if err != nil {
					t.Error(err)
					return
				}
				next := cur
				next.Offset++
				ok, err := s.SwapCheckpoint(src, f, &cur, &next)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					wins.Add(1)
				}
			}
		})
	}
	wg.Wait()
	got, err := s.Checkpoint(src, f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Offset != wins.Load() || wins.Load() == 0 {
		t.Errorf("offset %d after %d successful swaps; want them equal and not 0", got.Offset, wins.Load())
	}
}
