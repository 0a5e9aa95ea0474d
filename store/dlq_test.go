package store_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/store"
)

// addDLQ commits one batch adding the records, and returns their sequence numbers.
func addDLQ(t testing.TB, s *store.Store, recs ...*store.DLQRecord) []uint64 {
	t.Helper()
	b := s.NewBatch()
	defer b.Close()
	var seqs []uint64
	for _, r := range recs {
		seq, err := b.AddDLQ(r)
		if err != nil {
			t.Fatalf("AddDLQ: %v", err)
		}
		if seq != r.Seq {
			t.Errorf("AddDLQ returned %d, but set r.Seq = %d", seq, r.Seq)
		}
		seqs = append(seqs, seq)
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return seqs
}

func deleteDLQ(t testing.TB, s *store.Store, seqs ...uint64) {
	t.Helper()
	b := s.NewBatch()
	defer b.Close()
	for _, seq := range seqs {
		b.DeleteDLQ(seq)
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func scanDLQ(t testing.TB, s *store.Store) []uint64 {
	t.Helper()
	var seqs []uint64
	if err := s.ScanDLQ(func(r store.DLQRecord) bool { seqs = append(seqs, r.Seq); return true }); err != nil {
		t.Fatalf("ScanDLQ: %v", err)
	}
	return seqs
}

func TestDLQ(t *testing.T) {
	s, _ := newStore(t)
	top := t // reopen with the test's t, so that the store outlives the subtest
	received := t0.Add(-time.Minute)
	full := &store.DLQRecord{
		Time:       t0,
		Stage:      "capture",
		Reason:     "unexpected end of JSON input",
		Source:     "hook",
		Platform:   "claude-code",
		RecordID:   id("raw-1"),
		ReceivedAt: received,
		Attempts:   1,
		Payload:    []byte(`{"tool_name":"Bash"`),
	}
	before := time.Now()
	minimal := &store.DLQRecord{Stage: "consumer:stats", Reason: "boom"}
	seqs := addDLQ(t, s, full, minimal)
	seqs = append(seqs, addDLQ(t, s, &store.DLQRecord{Stage: "capture", Reason: "third"})...)
	if want := []uint64{1, 2, 3}; !slices.Equal(seqs, want) {
		t.Fatalf("AddDLQ sequence numbers = %v, want %v", seqs, want)
	}
	if minimal.Time.Before(before) || minimal.Time.After(time.Now()) || minimal.Time.Location() != time.UTC {
		t.Errorf("AddDLQ set Time = %v, want now in UTC", minimal.Time)
	}
	if !full.Time.Equal(t0) {
		t.Errorf("AddDLQ changed a set Time to %v", full.Time)
	}
	if got := s.DLQCount(); got != 3 {
		t.Errorf("DLQCount() = %d, want 3", got)
	}

	t.Run("DLQ round trip", func(t *testing.T) {
		got, err := s.DLQ(1)
		if err != nil {
			t.Fatal(err)
		}
		if got.Seq != 1 || !got.Time.Equal(t0) || got.Stage != full.Stage || got.Reason != full.Reason ||
			got.Source != full.Source || got.Platform != full.Platform || got.RecordID != full.RecordID ||
			!got.ReceivedAt.Equal(received) || got.Attempts != 1 || string(got.Payload) != string(full.Payload) {
			t.Errorf("DLQ(1) = %+v, want %+v", got, *full)
		}
		got, err = s.DLQ(2)
		if err != nil || got.Stage != "consumer:stats" || got.Payload != nil || !got.RecordID.IsZero() || !got.ReceivedAt.IsZero() {
			t.Errorf("DLQ(2) = %+v, %v, want the minimal record", got, err)
		}
	})
	t.Run("DLQ missing", func(t *testing.T) {
		for _, seq := range []uint64{0, 4, 99} {
			if _, err := s.DLQ(seq); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("DLQ(%d) error = %v, want ErrNotFound", seq, err)
			}
		}
	})
	t.Run("ScanDLQ stops early", func(t *testing.T) {
		var got []uint64
		if err := s.ScanDLQ(func(r store.DLQRecord) bool { got = append(got, r.Seq); return len(got) < 2 }); err != nil {
			t.Fatal(err)
		}
		if want := []uint64{1, 2}; !slices.Equal(got, want) {
			t.Errorf("ScanDLQ = %v, want %v", got, want)
		}
	})

	t.Run("UpdateDLQ", func(t *testing.T) {
		r, err := s.DLQ(2)
		if err != nil {
			t.Fatal(err)
		}
		for i, reason := range []string{"still broken", "broken again"} {
			if err := s.UpdateDLQ(r, reason); err != nil {
				t.Fatalf("UpdateDLQ: %v", err)
			}
			if r, err = s.DLQ(2); err != nil {
				t.Fatal(err)
			}
			if r.Seq != 2 || r.Attempts != i+1 || r.Reason != reason || r.Stage != "consumer:stats" {
				t.Errorf("after update %d: DLQ(2) = seq %d, attempts %d, reason %q, stage %q; want 2, %d, %q, consumer:stats",
					i+1, r.Seq, r.Attempts, r.Reason, r.Stage, i+1, reason)
			}
		}
		if got := s.DLQCount(); got != 3 {
			t.Errorf("DLQCount() after updates = %d, want 3", got)
		}
		if got, want := scanDLQ(t, s), []uint64{1, 2, 3}; !slices.Equal(got, want) {
			t.Errorf("ScanDLQ after updates = %v, want %v", got, want)
		}
	})

	t.Run("DeleteDLQ", func(t *testing.T) {
		deleteDLQ(t, s, 2)
		if _, err := s.DLQ(2); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DLQ(2) after delete = %v, want ErrNotFound", err)
		}
		if got := s.DLQCount(); got != 2 {
			t.Errorf("DLQCount() = %d, want 2", got)
		}
		if got, want := scanDLQ(t, s), []uint64{1, 3}; !slices.Equal(got, want) {
			t.Errorf("ScanDLQ = %v, want %v", got, want)
		}
	})

	t.Run("newest deleted, then reopened: numbers not reused", func(t *testing.T) {
		deleteDLQ(t, s, 3)
		s = reopen(top, s)
		if got := s.DLQCount(); got != 1 {
			t.Errorf("DLQCount() after reopen = %d, want 1", got)
		}
		if got := addDLQ(t, s, &store.DLQRecord{Stage: "capture"}); !slices.Equal(got, []uint64{4}) {
			t.Errorf("AddDLQ after reopen = %v, want [4]", got)
		}
		if got, want := scanDLQ(t, s), []uint64{1, 4}; !slices.Equal(got, want) {
			t.Errorf("ScanDLQ = %v, want %v", got, want)
		}
	})

	t.Run("all deleted, then reopened", func(t *testing.T) {
		deleteDLQ(t, s, 1, 4)
		s = reopen(top, s)
		if got := s.DLQCount(); got != 0 {
			t.Errorf("DLQCount() = %d, want 0", got)
		}
		if got := addDLQ(t, s, &store.DLQRecord{Stage: "capture"}); !slices.Equal(got, []uint64{5}) {
			t.Errorf("AddDLQ = %v, want [5]", got)
		}
	})
}

// TestDLQNumbersCommittedOutOfOrder checks that DLQ numbers are not reused when the batch holding
// the newest number commits before one holding an older number, and the newest is then deleted.
func TestDLQNumbersCommittedOutOfOrder(t *testing.T) {
	s, _ := newStore(t)
	older, newer := s.NewBatch(), s.NewBatch()
	defer older.Close()
	defer newer.Close()
	r1, r2 := &store.DLQRecord{Stage: "a"}, &store.DLQRecord{Stage: "b"}
	if _, err := older.AddDLQ(r1); err != nil {
		t.Fatal(err)
	}
	if _, err := newer.AddDLQ(r2); err != nil {
		t.Fatal(err)
	}
	if r1.Seq != 1 || r2.Seq != 2 {
		t.Fatalf("sequence numbers %d, %d, want 1, 2", r1.Seq, r2.Seq)
	}
	if err := newer.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := older.Commit(); err != nil {
		t.Fatal(err)
	}
	deleteDLQ(t, s, 2)
	s = reopen(t, s)
	r3 := &store.DLQRecord{Stage: "c"}
	addDLQ(t, s, r3)
	if r3.Seq != 3 {
		t.Errorf("AddDLQ after reopen = %d, want 3: number 2 was handed out before", r3.Seq)
	}
}

func TestDLQAbandonedBatch(t *testing.T) {
	s, _ := newStore(t)
	addDLQ(t, s, &store.DLQRecord{Stage: "a"})
	b := s.NewBatch()
	if _, err := b.AddDLQ(&store.DLQRecord{Stage: "abandoned"}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if got := s.DLQCount(); got != 1 {
		t.Errorf("DLQCount() = %d, want 1", got)
	}
	if got, want := scanDLQ(t, s), []uint64{1}; !slices.Equal(got, want) {
		t.Errorf("ScanDLQ = %v, want %v", got, want)
	}
	// Numbers handed out to an abandoned batch may be skipped, never reused for another record.
	if got := addDLQ(t, s, &store.DLQRecord{Stage: "b"}); got[0] <= 1 {
		t.Errorf("AddDLQ after an abandoned batch = %d, want above 1", got[0])
	}
}
