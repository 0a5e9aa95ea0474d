package store_test

import (
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// waitPast spins (without sleeping a guessed time) until the clock is past t, so that the next
// batch's ingest time is after t.
func waitPast(t time.Time) {
	for !time.Now().After(t) {
		runtime.Gosched()
	}
}

func TestDeleteEventsBefore(t *testing.T) {
	chunk := store.RetentionChunk
	tests := []struct {
		name    string
		old     []int // sizes of the batches that expire
		new     int   // size of the batch that stays
		wantDel int
	}{
		{"nothing to expire", nil, 3, 0},
		{"one event", []int{1}, 3, 1},
		{"two batches", []int{2, 3}, 3, 5},
		{"one chunk less one", []int{chunk - 1}, 2, chunk - 1},
		{"exactly one chunk", []int{chunk}, 2, chunk},
		{"one chunk plus one", []int{chunk, 1}, 2, chunk + 1},
		{"several chunks", []int{chunk + 100, chunk, 17}, 2, 2*chunk + 117},
		{"everything", []int{3, 2}, 0, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			var old []sdk.Event
			var lastOldIngest time.Time
			n := 0
			for bi, size := range tt.old {
				evs := many("old"+strconv.Itoa(bi)+"-", "s"+strconv.Itoa(bi%2), t0.Add(time.Duration(n)*time.Second), size)
				waitPast(lastOldIngest)
				commit(t, s, ptrs(evs)...)
				old = append(old, evs...)
				lastOldIngest = evs[0].IngestTime
				n += size
			}
			waitPast(lastOldIngest)
			keep := many("new-", "s0", t0.Add(-time.Hour), tt.new)
			var cutoff time.Time
			if tt.new > 0 {
				commit(t, s, ptrs(keep)...)
				cutoff = keep[0].IngestTime // events ingested at the cutoff stay
				if !cutoff.After(lastOldIngest) {
					t.Fatalf("new batch ingest %v not after old %v", cutoff, lastOldIngest)
				}
			} else {
				cutoff = time.Now().Add(time.Hour)
			}
			lastSeq := s.LastSeq()
			if got, want := s.EventCount(), int64(len(old)+len(keep)); got != want {
				t.Fatalf("EventCount() before = %d, want %d", got, want)
			}

			got, err := s.DeleteEventsBefore(cutoff)
			if err != nil {
				t.Fatalf("DeleteEventsBefore: %v", err)
			}
			if got != tt.wantDel {
				t.Errorf("DeleteEventsBefore = %d, want %d", got, tt.wantDel)
			}

			check := func(t *testing.T, s *store.Store) {
				t.Helper()
				if got, want := s.EventCount(), int64(len(keep)); got != want {
					t.Errorf("EventCount() = %d, want %d", got, want)
				}
				if got, want := s.Counts()[store.PlatformKind{"claude-code", "hook.PostToolUse"}], int64(len(keep)); got != want {
					t.Errorf("Counts() = %v, want %d", s.Counts(), want)
				}
				if got := s.LastSeq(); got != lastSeq {
					t.Errorf("LastSeq() = %d, want %d", got, lastSeq)
				}
				var wantLog []logEntry
				for i := range keep {
					wantLog = append(wantLog, logEntry{uint64(len(old) + i + 1), keep[i].ID})
				}
				if got, _ := readLog(t, s, 0, 1<<20); !slices.Equal(got, wantLog) {
					t.Errorf("log = %v, want %v", got, wantLog)
				}
				for _, i := range sample(len(old)) {
					e := old[i]
					if ok, err := s.Has(e.ID); ok || err != nil {
						t.Errorf("Has(expired %d) = %v, %v, want false, nil", i, ok, err)
					}
					if _, err := s.Event(uint64(i + 1)); err == nil {
						t.Errorf("Event(%d) of an expired event found", i+1)
					}
				}
				for _, e := range keep {
					if ok, err := s.Has(e.ID); !ok || err != nil {
						t.Errorf("Has(kept) = %v, %v, want true, nil", ok, err)
					}
				}
				// No index entries of expired events are left behind (the scans below would skip them).
				for _, ks := range []byte("eist") {
					if got, err := store.KeyCount(s, ks); err != nil || got != len(keep) {
						t.Errorf("keyspace %c holds %d keys (%v), want %d", ks, got, err, len(keep))
					}
				}
				wantIdx := entries()
				for i := range keep {
					wantIdx = append(wantIdx, logEntry{uint64(len(old) + i + 1), keep[i].ID})
				}
				if got := sessionEvents(t, s, "s0"); !slices.Equal(got, wantIdx) {
					t.Errorf("SessionEvents(s0) = %v, want %v", got, wantIdx)
				}
				if got := sessionEvents(t, s, "s1"); len(got) != 0 {
					t.Errorf("SessionEvents(s1) = %v, want none", got)
				}
				if got := eventsBetween(t, s, time.Time{}, t0.Add(100*time.Hour)); !slices.Equal(got, wantIdx) {
					t.Errorf("EventsBetween(all) = %v, want %v", got, wantIdx)
				}
			}
			t.Run("after", func(t *testing.T) { check(t, s) })

			again, err := s.DeleteEventsBefore(cutoff)
			if err != nil || again != 0 {
				t.Errorf("second DeleteEventsBefore = %d, %v, want 0, nil", again, err)
			}

			s = reopen(t, s)
			t.Run("reopened", func(t *testing.T) { check(t, s) })

			t.Run("sequence continues after reopen", func(t *testing.T) {
				e := event("after-retention", "s0", t0)
				commit(t, s, &e)
				seq, _, err := s.EventByID(e.ID)
				if err != nil || seq != lastSeq+1 {
					t.Errorf("EventByID(new) = %d, %v, want %d", seq, err, lastSeq+1)
				}
				// The id index forgets expired events: the same id is accepted again.
				if len(old) > 0 {
					again := event("old0-0", "s0", t0)
					if added := commit(t, s, &again); !added[0] {
						t.Errorf("AddEvent(id of an expired event) = false, want true")
					}
				}
			})
		})
	}
}

// sample returns indexes spread over [0, n): all of them when n is small.
func sample(n int) []int {
	if n <= 64 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	for i := 0; i < n; i += n / 50 {
		out = append(out, i)
	}
	return append(out, n-1)
}

// TestRetentionDiskSize checks that expiring most of the log, then compacting, gives back the space.
func TestRetentionDiskSize(t *testing.T) {
	s, _ := newStore(t)
	n := 3*store.RetentionChunk + 5
	old := many("old-", "s", t0, n)
	for i := 0; i < n; i += 1000 {
		commit(t, s, ptrs(old[i:min(i+1000, n)])...)
	}
	waitPast(old[n-1].IngestTime)
	keep := many("keep-", "s", t0, 10)
	commit(t, s, ptrs(keep)...)
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	full, fullTables := s.DiskSize(), store.TablesSize(s)

	if got, err := s.DeleteEventsBefore(keep[0].IngestTime); err != nil || got != n {
		t.Fatalf("DeleteEventsBefore = %d, %v, want %d", got, err, n)
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	after, afterTables := s.DiskSize(), store.TablesSize(s)
	t.Logf("with %d events: disk %d bytes, tables %d; after expiring %d: disk %d, tables %d", n+10, full, fullTables, n, after, afterTables)
	// DiskSize also counts WAL files, which Pebble recycles at sizes of its choosing: only check
	// that it did not balloon; the sstables show what retention freed.
	if after > 2*full {
		t.Errorf("DiskSize() after retention and Compact = %d, want at most twice %d, the size before", after, full)
	}
	if afterTables > fullTables/20 {
		t.Errorf("sstables after retention and Compact = %d bytes, want at most 5%% of %d", afterTables, fullTables)
	}
	if got := s.EventCount(); got != 10 {
		t.Errorf("EventCount() = %d, want 10", got)
	}
}

func TestDeleteDLQBefore(t *testing.T) {
	tests := []struct {
		name    string
		times   []int // record times, in minutes after t0, in sequence order
		cutoff  int
		want    int
		wantSeq []uint64
	}{
		{"empty queue", nil, 10, 0, nil},
		{"none expired", []int{5, 6}, 5, 0, []uint64{1, 2}},
		{"cutoff is exclusive", []int{1, 2, 3}, 2, 1, []uint64{2, 3}},
		{"all expired", []int{1, 2, 3}, 4, 3, nil},
		{"stops at the first unexpired record", []int{1, 5, 2, 6}, 3, 1, []uint64{2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			var recs []*store.DLQRecord
			for _, m := range tt.times {
				recs = append(recs, &store.DLQRecord{Time: t0.Add(time.Duration(m) * time.Minute), Stage: "capture"})
			}
			if len(recs) > 0 {
				addDLQ(t, s, recs...)
			}
			got, err := s.DeleteDLQBefore(t0.Add(time.Duration(tt.cutoff) * time.Minute))
			if err != nil {
				t.Fatalf("DeleteDLQBefore: %v", err)
			}
			if got != tt.want {
				t.Errorf("DeleteDLQBefore = %d, want %d", got, tt.want)
			}
			check := func(t *testing.T, s *store.Store) {
				if got := scanDLQ(t, s); !slices.Equal(got, tt.wantSeq) {
					t.Errorf("ScanDLQ = %v, want %v", got, tt.wantSeq)
				}
				if got, want := s.DLQCount(), int64(len(tt.wantSeq)); got != want {
					t.Errorf("DLQCount() = %d, want %d", got, want)
				}
			}
			t.Run("after", func(t *testing.T) { check(t, s) })
			s = reopen(t, s)
			t.Run("reopened", func(t *testing.T) { check(t, s) })
			t.Run("numbers not reused", func(t *testing.T) {
				if got := addDLQ(t, s, &store.DLQRecord{Stage: "capture"}); got[0] != uint64(len(tt.times)+1) {
					t.Errorf("AddDLQ = %d, want %d", got[0], len(tt.times)+1)
				}
			})
		})
	}
}

// TestIndexScanDuringRetention expires an event while an index scan that has yet to reach it is
// under way: the scan skips it instead of failing.
func TestIndexScanDuringRetention(t *testing.T) {
	for _, scan := range []string{"SessionEvents", "EventsBetween"} {
		t.Run(scan, func(t *testing.T) {
			s, _ := newStore(t)
			older := event("older", "s", t0.Add(2*time.Second)) // seq 1, scanned second
			commit(t, s, &older)
			waitPast(older.IngestTime)
			newer := event("newer", "s", t0) // seq 2, scanned first
			commit(t, s, &newer)

			var got []logEntry
			fn := func(seq uint64, ev *sdk.Event) error {
				got = append(got, logEntry{seq, ev.ID})
				if seq == 2 {
					if n, err := s.DeleteEventsBefore(newer.IngestTime); n != 1 || err != nil {
						t.Errorf("DeleteEventsBefore = %d, %v, want 1, nil", n, err)
					}
				}
				return nil
			}
			var err error
			switch scan {
			case "SessionEvents":
				err = s.SessionEvents("s", fn)
			case "EventsBetween":
				err = s.EventsBetween(t0, t0.Add(time.Hour), fn)
			}
			if err != nil {
				t.Errorf("%s: %v", scan, err)
			}
			if want := entries(2, "newer"); !slices.Equal(got, want) {
				t.Errorf("%s passed %v, want %v", scan, got, want)
			}
		})
	}
}
