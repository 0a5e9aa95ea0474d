package store_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// TestHammer commits batches from several goroutines, with ids shared between them, while a reader
// follows the log. Every distinct id must be stored once, under dense sequence numbers.
func TestHammer(t *testing.T) {
	const (
		writers  = 8
		batches  = 200
		perBatch = 10
		shared   = 3 // the first events of each batch have ids all writers use
	)
	if testing.Short() {
		t.Skip("hammer test skipped in -short mode")
	}
	s, _ := newStore(t)
	name := func(w, i, j int) string {
		if j < shared {
			return fmt.Sprintf("shared-%d-%d", i, j)
		}
		return fmt.Sprintf("w%d-%d-%d", w, i, j)
	}
	distinct := batches*shared + writers*batches*(perBatch-shared)

	writersDone := make(chan struct{})
	type readResult struct {
		seen  map[sdk.ID]uint64
		last  uint64
		reads int
		err   error
	}
	readDone := make(chan readResult, 1)
	go func() {
		r := readResult{seen: map[sdk.ID]uint64{}}
		defer func() { readDone <- r }()
		for {
			ch := s.Notify()
			before := r.last
			r.last, r.err = s.ReadLog(r.last, 500, func(seq uint64, ev *sdk.Event) error {
				if seq != r.last+1 {
					return fmt.Errorf("read sequence number %d after %d", seq, r.last)
				}
				if prev, dup := r.seen[ev.ID]; dup {
					return fmt.Errorf("id %s at %d and %d", ev.ID, prev, seq)
				}
				r.seen[ev.ID] = seq
				r.last = seq
				return nil
			})
			r.reads++
			if r.err != nil {
				return
			}
			select {
			case <-writersDone:
				if r.last >= s.LastSeq() {
					return
				}
				continue
			default:
			}
			if r.last == before { // caught up: wait for the next commit
				select {
				case <-ch:
				case <-writersDone:
				}
			}
		}
	}()

	var added atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				b := s.NewBatch()
				for j := range perBatch {
					// Writers go through the shared ids in different orders.
					jj := (j + w) % perBatch
					ev := event(name(w, i, jj), fmt.Sprintf("session-%d", w), t0)
					ok, err := b.AddEvent(&ev)
					if err != nil {
						t.Errorf("writer %d batch %d AddEvent: %v", w, i, err)
						b.Close()
						return
					}
					if ok {
						added.Add(1)
					}
				}
				if i%7 == 3 { // some batches also write consumer state
					b.SetCursor(fmt.Sprintf("writer-%d", w), uint64(i))
				}
				if err := b.Commit(); err != nil {
					t.Errorf("writer %d batch %d Commit: %v", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(writersDone)
	r := <-readDone
	if r.err != nil {
		t.Fatalf("reader: %v", r.err)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d events, reader made %d reads", len(r.seen), r.reads)

	if got := added.Load(); got != int64(distinct) {
		t.Errorf("AddEvent reported %d events added, want %d", got, distinct)
	}
	if got := s.LastSeq(); got != uint64(distinct) {
		t.Errorf("LastSeq() = %d, want %d", got, distinct)
	}
	if got := s.EventCount(); got != int64(distinct) {
		t.Errorf("EventCount() = %d, want %d", got, distinct)
	}
	if len(r.seen) != distinct || r.last != uint64(distinct) {
		t.Errorf("reader saw %d events up to %d, want %d", len(r.seen), r.last, distinct)
	}

	check := func(t *testing.T, s *store.Store) {
		stored := map[sdk.ID]uint64{}
		var next uint64 = 1
		if _, err := s.ReadLog(0, 1<<30, func(seq uint64, ev *sdk.Event) error {
			if seq != next {
				return fmt.Errorf("sequence number %d, want %d", seq, next)
			}
			next++
			if prev, dup := stored[ev.ID]; dup {
				return fmt.Errorf("id %s stored at %d and %d", ev.ID, prev, seq)
			}
			stored[ev.ID] = seq
			return nil
		}); err != nil {
			t.Fatalf("ReadLog: %v", err)
		}
		if len(stored) != distinct {
			t.Errorf("log holds %d events, want %d", len(stored), distinct)
		}
		for w := range writers {
			for i := range batches {
				for j := range perBatch {
					n := name(w, i, j)
					seq, ok := stored[id(n)]
					if !ok {
						t.Fatalf("event %s not stored", n)
					}
					if rs := r.seen[id(n)]; rs != seq {
						t.Fatalf("event %s: reader saw it at %d, stored at %d", n, rs, seq)
					}
				}
			}
		}
		if got := s.EventCount(); got != int64(distinct) {
			t.Errorf("EventCount() = %d, want %d", got, distinct)
		}
		for _, ks := range []byte("eist") {
			if got, err := store.KeyCount(s, ks); err != nil || got != distinct {
				t.Errorf("keyspace %c holds %d keys (%v), want %d", ks, got, err, distinct)
			}
		}
		if got := s.LastSeq(); got != uint64(distinct) {
			t.Errorf("LastSeq() = %d, want %d", got, distinct)
		}
	}
	t.Run("open", func(t *testing.T) { check(t, s) })
	s = reopen(t, s)
	t.Run("reopened", func(t *testing.T) { check(t, s) })
}
