package store_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// derivedSpec names a derived record to add: its kind and the name its id is made from.
type derivedSpec struct{ kind, name string }

// keptRecord is what a scan of derived records saw of one.
type keptRecord struct {
	Seq  uint64
	Name string
}

// commitDerived adds the derived records in one batch, in order, and commits it. It returns them
// as stored: AddDerived sets their IngestTime.
func commitDerived(t testing.TB, s *store.Store, specs ...derivedSpec) []sdk.Event {
	t.Helper()
	b := s.NewBatch()
	defer b.Close()
	evs := make([]sdk.Event, len(specs))
	for i, sp := range specs {
		evs[i] = derivedEvent(sp.name, sp.kind, int64(i))
		evs[i].Attrs = append(evs[i].Attrs, sdk.Ident("name", sp.name))
		if err := b.AddDerived(sp.kind, &evs[i]); err != nil {
			t.Fatalf("AddDerived(%q): %v", sp.kind, err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return evs
}

// scanKept returns the derived records of a kind after a cursor, by sequence number and name.
func scanKept(t testing.TB, s *store.Store, kind string, after uint64) []keptRecord {
	t.Helper()
	var out []keptRecord
	if _, err := s.ScanDerived(kind, after, 0, func(seq uint64, ev *sdk.Event) error {
		out = append(out, keptRecord{seq, ev.Attrs[1].Value.Ident()})
		return nil
	}); err != nil {
		t.Fatalf("ScanDerived(%q, %d): %v", kind, after, err)
	}
	return out
}

func TestDeleteDerivedBefore(t *testing.T) {
	// "tool" is a prefix of "tool-stats": expiring one must not touch the other.
	kinds := []string{"tool-stats", "tool", "insight.x", "gone", "fresh"}
	tests := []struct {
		name string
		old  [][]derivedSpec // batches stored before the cutoff
		new  [][]derivedSpec // batches stored at or after it; none: the cutoff is after everything
	}{
		{"nothing stored", nil, nil},
		{"nothing expired", nil, [][]derivedSpec{{{"tool-stats", "n0"}, {"tool", "n1"}}}},
		{"one kind", [][]derivedSpec{{{"tool-stats", "o0"}, {"tool-stats", "o1"}}}, [][]derivedSpec{{{"tool-stats", "n0"}}}},
		{
			"several kinds",
			[][]derivedSpec{
				{{"tool-stats", "o0"}, {"tool", "o1"}, {"insight.x", "o2"}, {"gone", "o3"}},
				{{"tool", "o4"}, {"insight.x", "o5"}, {"tool-stats", "o6"}},
			},
			[][]derivedSpec{
				{{"insight.x", "n0"}, {"tool-stats", "n1"}, {"fresh", "n2"}},
				{{"tool", "n3"}, {"insight.x", "n4"}},
			},
		},
		{
			"a kind with nothing expired",
			[][]derivedSpec{{{"tool", "o0"}}},
			[][]derivedSpec{{{"tool-stats", "n0"}, {"tool", "n1"}}},
		},
		{"everything", [][]derivedSpec{{{"tool-stats", "o0"}, {"tool", "o1"}}, {{"insight.x", "o2"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			var seq uint64
			oldSeqs := map[string][]uint64{} // by kind
			var lastOld time.Time
			nOld := 0
			for _, batch := range tt.old {
				waitPast(lastOld)
				evs := commitDerived(t, s, batch...)
				lastOld = evs[len(evs)-1].IngestTime
				for _, sp := range batch {
					seq++
					oldSeqs[sp.kind] = append(oldSeqs[sp.kind], seq)
					nOld++
				}
			}
			waitPast(lastOld)
			want := map[string][]keptRecord{}
			nKept := 0
			cutoff := time.Now().Add(time.Hour)
			for i, batch := range tt.new {
				evs := commitDerived(t, s, batch...)
				if i == 0 {
					cutoff = evs[0].IngestTime // records stored at the cutoff stay
					if !cutoff.After(lastOld) {
						t.Fatalf("new batch stored at %v, not after the old ones at %v", cutoff, lastOld)
					}
				}
				for _, sp := range batch {
					seq++
					want[sp.kind] = append(want[sp.kind], keptRecord{seq, sp.name})
					nKept++
				}
			}
			lastSeq := s.LastDerivedSeq()
			if lastSeq != seq {
				t.Fatalf("LastDerivedSeq() = %d, want %d", lastSeq, seq)
			}

			got, err := s.DeleteDerivedBefore(cutoff)
			if err != nil {
				t.Fatalf("DeleteDerivedBefore: %v", err)
			}
			if got != nOld {
				t.Errorf("DeleteDerivedBefore = %d, want %d", got, nOld)
			}

			check := func(t *testing.T, s *store.Store) {
				t.Helper()
				for _, kind := range kinds {
					if got := scanKept(t, s, kind, 0); !slices.Equal(got, want[kind]) {
						t.Errorf("ScanDerived(%q, 0) = %v, want %v", kind, got, want[kind])
					}
					// A reader whose cursor is inside what expired goes on at the first record kept.
					if old := oldSeqs[kind]; len(old) > 0 {
						if got := scanKept(t, s, kind, old[0]); !slices.Equal(got, want[kind]) {
							t.Errorf("ScanDerived(%q, %d) = %v, want %v", kind, old[0], got, want[kind])
						}
					}
				}
				if got, err := store.KeyCount(s, 'r'); err != nil || got != nKept {
					t.Errorf("keyspace r holds %d keys (%v), want %d", got, err, nKept)
				}
				if got := s.LastDerivedSeq(); got != lastSeq {
					t.Errorf("LastDerivedSeq() = %d, want %d", got, lastSeq)
				}
			}
			t.Run("after", func(t *testing.T) { check(t, s) })

			if again, err := s.DeleteDerivedBefore(cutoff); again != 0 || err != nil {
				t.Errorf("second DeleteDerivedBefore = %d, %v, want 0, nil", again, err)
			}

			s = reopen(t, s)
			t.Run("reopened", func(t *testing.T) { check(t, s) })

			t.Run("sequence continues after reopen", func(t *testing.T) {
				commitDerived(t, s, derivedSpec{"gone", "later"})
				wantGone := append(slices.Clone(want["gone"]), keptRecord{lastSeq + 1, "later"})
				if got := scanKept(t, s, "gone", 0); !slices.Equal(got, wantGone) {
					t.Errorf("ScanDerived(gone) = %v, want %v", got, wantGone)
				}
			})
		})
	}
}

// TestDeleteDerivedBeforeCommitOrder commits a batch built earlier after one built later, so that
// a kind holds an older record after a newer one: retention keeps it until the newer one expires.
func TestDeleteDerivedBeforeCommitOrder(t *testing.T) {
	s, _ := newStore(t)
	early := s.NewBatch()
	defer early.Close()
	evEarly := derivedEvent("early", "k", 1)
	if err := early.AddDerived("k", &evEarly); err != nil {
		t.Fatal(err)
	}
	waitPast(evEarly.IngestTime)
	late := commitDerived(t, s, derivedSpec{"k", "late"}) // seq 1
	if err := early.Commit(); err != nil {                // seq 2, stored before seq 1
		t.Fatal(err)
	}
	if !evEarly.IngestTime.Before(late[0].IngestTime) {
		t.Fatalf("early record stored at %v, not before the late one at %v", evEarly.IngestTime, late[0].IngestTime)
	}

	if n, err := s.DeleteDerivedBefore(late[0].IngestTime); n != 0 || err != nil {
		t.Errorf("DeleteDerivedBefore(between) = %d, %v, want 0, nil: the older record waits", n, err)
	}
	if got, want := scanAll(t, s, "k", 0), []derivedRow{{1, "k", 0}, {2, "k", 1}}; !slices.Equal(got, want) {
		t.Errorf("ScanDerived = %v, want %v", got, want)
	}
	waitPast(late[0].IngestTime)
	if n, err := s.DeleteDerivedBefore(time.Now()); n != 2 || err != nil {
		t.Errorf("DeleteDerivedBefore(after both) = %d, %v, want 2, nil", n, err)
	}
	if got := scanAll(t, s, "k", 0); len(got) != 0 {
		t.Errorf("ScanDerived = %v, want none", got)
	}
}

// TestDeleteEventsBeforeExpiresDerived checks that event retention, which the daemon runs, expires
// derived records with the same cutoff, and reports only the events it removed.
func TestDeleteEventsBeforeExpiresDerived(t *testing.T) {
	s, _ := newStore(t)
	old := many("old-", "s", t0, 3)
	b := s.NewBatch()
	for _, ev := range ptrs(old) {
		if _, err := b.AddEvent(ev); err != nil {
			t.Fatal(err)
		}
	}
	oldDerived := derivedEvent("old-stats", "tool-stats", 1)
	if err := b.AddDerived("tool-stats", &oldDerived); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	commitDerived(t, s, derivedSpec{"insight.x", "old-insight"})
	waitPast(time.Now())

	keep := many("new-", "s", t0, 2)
	commit(t, s, ptrs(keep)...)
	cutoff := keep[0].IngestTime
	commitDerived(t, s, derivedSpec{"tool-stats", "new-stats"}, derivedSpec{"insight.x", "new-insight"})

	n, err := s.DeleteEventsBefore(cutoff)
	if n != len(old) || err != nil {
		t.Fatalf("DeleteEventsBefore = %d, %v, want %d, nil", n, err, len(old))
	}
	if got, want := s.EventCount(), int64(len(keep)); got != want {
		t.Errorf("EventCount() = %d, want %d", got, want)
	}
	for kind, want := range map[string][]keptRecord{
		"tool-stats": {{3, "new-stats"}},
		"insight.x":  {{4, "new-insight"}},
	} {
		if got := scanKept(t, s, kind, 0); !slices.Equal(got, want) {
			t.Errorf("ScanDerived(%q) = %v, want %v", kind, got, want)
		}
	}
}

// TestRetentionWithoutDerived checks that event and dead-letter retention give the same results
// with derived records stored as without, and that with none stored, retention commits nothing
// of them.
func TestRetentionWithoutDerived(t *testing.T) {
	for _, withDerived := range []bool{false, true} {
		t.Run(fmt.Sprintf("derived=%v", withDerived), func(t *testing.T) {
			s, _ := newStore(t)
			old := many("old-", "s0", t0, 5)
			commit(t, s, ptrs(old)...)
			addDLQ(t, s, &store.DLQRecord{Time: t0, Stage: "capture"})
			if withDerived {
				commitDerived(t, s, derivedSpec{"tool-stats", "d0"}, derivedSpec{"insight.x", "d1"})
			}
			waitPast(time.Now())
			keep := many("new-", "s0", t0, 3)
			commit(t, s, ptrs(keep)...)
			if withDerived {
				commitDerived(t, s, derivedSpec{"tool-stats", "d2"})
			}
			notify := s.DerivedNotify()

			if n, err := s.DeleteEventsBefore(keep[0].IngestTime); n != len(old) || err != nil {
				t.Errorf("DeleteEventsBefore = %d, %v, want %d, nil", n, err, len(old))
			}
			if n, err := s.DeleteDLQBefore(t0.Add(time.Second)); n != 1 || err != nil {
				t.Errorf("DeleteDLQBefore = %d, %v, want 1, nil", n, err)
			}
			wantLog := entries(6, "new-0", 7, "new-1", 8, "new-2")
			if got, _ := readLog(t, s, 0, 100); !slices.Equal(got, wantLog) {
				t.Errorf("log = %v, want %v", got, wantLog)
			}
			if got := sessionEvents(t, s, "s0"); !slices.Equal(got, wantLog) {
				t.Errorf("SessionEvents(s0) = %v, want %v", got, wantLog)
			}
			if got, want := s.EventCount(), int64(len(keep)); got != want {
				t.Errorf("EventCount() = %d, want %d", got, want)
			}
			if got := s.DLQCount(); got != 0 {
				t.Errorf("DLQCount() = %d, want 0", got)
			}
			for _, ks := range []byte("eist") {
				if got, err := store.KeyCount(s, ks); err != nil || got != len(keep) {
					t.Errorf("keyspace %c holds %d keys (%v), want %d", ks, got, err, len(keep))
				}
			}
			select {
			case <-notify:
				t.Error("retention woke the readers of derived records")
			default:
			}

			wantR, wantSeq := 0, uint64(0)
			if withDerived {
				wantR, wantSeq = 1, 3
				if got, want := scanKept(t, s, "tool-stats", 0), []keptRecord{{3, "d2"}}; !slices.Equal(got, want) {
					t.Errorf("ScanDerived(tool-stats) = %v, want %v", got, want)
				}
			}
			if got, err := store.KeyCount(s, 'r'); err != nil || got != wantR {
				t.Errorf("keyspace r holds %d keys (%v), want %d", got, err, wantR)
			}
			if got := s.LastDerivedSeq(); got != wantSeq {
				t.Errorf("LastDerivedSeq() = %d, want %d", got, wantSeq)
			}
			if n, err := s.DeleteDerivedBefore(time.Now().Add(-time.Hour)); n != 0 || err != nil {
				t.Errorf("DeleteDerivedBefore(before everything) = %d, %v, want 0, nil", n, err)
			}
		})
	}
}

// TestDeleteDerivedBeforeConcurrentWriters runs retention while writers commit derived records of
// the kinds it expires: it removes every expired record and none of the new ones.
func TestDeleteDerivedBeforeConcurrentWriters(t *testing.T) {
	s, _ := newStore(t)
	kinds := []string{"a", "b", "c"}
	const oldPerKind, writers, perWriter = 100, 3, 40
	var last time.Time
	for _, kind := range kinds {
		specs := make([]derivedSpec, oldPerKind)
		for i := range specs {
			specs[i] = derivedSpec{kind, fmt.Sprint("old-", kind, i)}
		}
		evs := commitDerived(t, s, specs...)
		last = evs[len(evs)-1].IngestTime
	}
	waitPast(last)
	cutoff := time.Now()
	waitPast(cutoff)

	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				kind := kinds[(w+i)%len(kinds)]
				ev := derivedEvent(fmt.Sprint("new-", w, "-", i), kind, int64(i))
				ev.Attrs = append(ev.Attrs, sdk.Ident("name", fmt.Sprint("new-", w, "-", i)))
				b := s.NewBatch()
				if err := b.AddDerived(kind, &ev); err != nil {
					t.Error(err)
				}
				if err := b.Commit(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	deleted := 0
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		n, err := s.DeleteDerivedBefore(cutoff)
		if err != nil {
			t.Errorf("DeleteDerivedBefore: %v", err)
			<-done
			return
		}
		deleted += n
	}
	if want := oldPerKind * len(kinds); deleted != want {
		t.Errorf("DeleteDerivedBefore removed %d records, want %d", deleted, want)
	}
	total := 0
	for _, kind := range kinds {
		for _, r := range scanKept(t, s, kind, 0) {
			if r.Seq <= oldPerKind*uint64(len(kinds)) {
				t.Errorf("kind %q kept expired record %v", kind, r)
			}
			total++
		}
	}
	if want := writers * perWriter; total != want {
		t.Errorf("%d new records kept, want %d", total, want)
	}
}
