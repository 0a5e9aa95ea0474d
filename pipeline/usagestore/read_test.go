package usagestore

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/store"
)

// historyStart is the first day of the histories the read tests and benchmarks write.
var historyStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// history returns the buckets of days days from historyStart: in each slot, one bucket of an
// entry written at the slot's boundary instant and one of an entry 7 minutes into it, for each
// of sessions sessions. They are in key order.
func history(days, sessions int) []usage.Bucket {
	var out []usage.Bucket
	for slot := range days * 24 * 4 {
		start := historyStart.Add(time.Duration(slot) * usage.SlotDuration)
		for _, at := range []time.Time{start, start.Add(7 * time.Minute)} {
			for s := range sessions {
				e := usage.Entry{Time: at, Session: fmt.Sprintf("s%d", s), Project: "p", Model: sonnet, Input: 10, Output: 20, CostAuto: 0.5, Seq: int64(slot)}
				out = append(out, usage.NewBucket(e))
			}
		}
	}
	slices.SortFunc(out, func(a, b usage.Bucket) int { return a.Key.Compare(b.Key) })
	return out
}

// putBuckets stores buckets as the rollup's state, as Consume would have.
func putBuckets(t testing.TB, st *store.Store, buckets []usage.Bucket) {
	t.Helper()
	for chunk := range slices.Chunk(buckets, 4096) {
		b := st.NewBatch()
		for _, bu := range chunk {
			v, err := bu.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			b.PutState(Name, bu.Key.AppendKey([]byte{bucketPrefix}), v)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// collect returns what a sequence of Buckets yields, failing the test on an error.
func collect(t testing.TB, seq func(yield func(usage.Bucket, error) bool)) []usage.Bucket {
	t.Helper()
	var out []usage.Bucket
	for bu, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bu)
	}
	return out
}

// startingIn is the reference Buckets is held to: the buckets that start from `from` (inclusive)
// to `to` (exclusive), zero times open, as a filter over them all.
func startingIn(all []usage.Bucket, from, to time.Time) []usage.Bucket {
	var out []usage.Bucket
	for _, bu := range all {
		if (from.IsZero() || !bu.Key.Start.Before(from)) && (to.IsZero() || bu.Key.Start.Before(to)) {
			out = append(out, bu)
		}
	}
	return out
}

// TestBuckets reads spans of a three-day history: from and to on slot boundaries, inside a slot,
// a nanosecond either side of one, open at either end, empty and inverted; each gives the
// buckets that start in the span, in key order.
func TestBuckets(t *testing.T) {
	st := openPebble(t)
	all := history(3, 2)
	putBuckets(t, st, all)
	day2 := historyStart.Add(24 * time.Hour)
	tests := []struct {
		name     string
		from, to time.Time
		want     int // buckets, as a check on the reference
	}{
		{"everything", time.Time{}, time.Time{}, len(all)},
		{"from day 2", day2, time.Time{}, len(all) * 2 / 3},
		{"to day 2", time.Time{}, day2, len(all) / 3},
		{"day 2", day2, day2.Add(24 * time.Hour), len(all) / 3},
		{"one slot", day2, day2.Add(usage.SlotDuration), 4},
		{"from inside a slot", day2.Add(time.Minute), day2.Add(2 * usage.SlotDuration), 4},
		{"from a nanosecond after a boundary", day2.Add(time.Nanosecond), day2.Add(2 * usage.SlotDuration), 4},
		{"from a nanosecond before a boundary", day2.Add(-time.Nanosecond), day2.Add(usage.SlotDuration), 4},
		{"to a nanosecond after a boundary", day2, day2.Add(time.Nanosecond), 4},
		{"to a boundary", day2.Add(-usage.SlotDuration), day2, 4},
		{"empty", day2, day2, 0},
		{"inverted", day2.Add(time.Hour), day2, 0},
		{"before the history", historyStart.Add(-48 * time.Hour), historyStart, 0},
		{"after the history", historyStart.Add(72 * time.Hour), time.Time{}, 0},
		{"far ends", time.Unix(-1<<40, 0), time.Unix(1<<40, 0), len(all)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := collect(t, Buckets(st, tt.from, tt.to)), startingIn(all, tt.from, tt.to)
			if len(want) != tt.want {
				t.Fatalf("the reference gives %d buckets, the case says %d", len(want), tt.want)
			}
			compareBuckets(t, tt.name, got, want)
		})
	}
}

// countingStore counts the keys a read of the rollup's state is given by the store.
type countingStore struct {
	st   *store.Store
	keys int
}

func (c *countingStore) ScanStateRange(consumer string, lower, upper []byte, fn func(key, value []byte) error) error {
	return c.st.ScanStateRange(consumer, lower, upper, func(k, v []byte) error {
		c.keys++
		return fn(k, v)
	})
}

// TestBucketsSeeks reads the last day of a 60-day history: the store is asked for that day's
// keys alone, not for every bucket from the first on.
func TestBucketsSeeks(t *testing.T) {
	st := openPebble(t)
	all := history(60, 1)
	putBuckets(t, st, all)
	from := historyStart.Add(59 * 24 * time.Hour)
	c := &countingStore{st: st}
	got := collect(t, buckets(c, from, time.Time{}))
	compareBuckets(t, "last day", got, startingIn(all, from, time.Time{}))
	if want := 2 * 96; len(got) != want || c.keys != want {
		t.Errorf("last day of %d buckets: %d buckets, %d keys read; want %d and %d", len(all), len(got), c.keys, want, want)
	}
}

// TestBucketsStop: a consumer that stops early gets nothing more, and no error.
func TestBucketsStop(t *testing.T) {
	st := openPebble(t)
	all := history(1, 1)
	putBuckets(t, st, all)
	n := 0
	for bu, err := range Buckets(st, time.Time{}, time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		if bu.Key != all[n].Key {
			t.Fatalf("bucket %d: %v, want %v", n, bu.Key, all[n].Key)
		}
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("%d buckets before the break, want 3", n)
	}
}

// TestBucketsErrors: a bucket that does not decode, or a closed store, ends the sequence with
// one error after the buckets before it.
func TestBucketsErrors(t *testing.T) {
	all := history(1, 1)
	tests := []struct {
		name    string
		corrupt func(t *testing.T, b *store.Batch)
		close   bool
		wantN   int
		wantErr error
	}{
		{"bad value", func(t *testing.T, b *store.Batch) {
			b.PutState(Name, all[5].Key.AppendKey([]byte{bucketPrefix}), []byte{9, 9})
		}, false, 5, usage.ErrCorrupt},
		{"bad key", func(t *testing.T, b *store.Batch) {
			// Sorts after all[5]'s key: the same time and session, a project cut short.
			k := all[5].Key.AppendKey([]byte{bucketPrefix})
			b.PutState(Name, append(k[:1+8+len(all[5].Key.Session)+2], 'q'), []byte{})
		}, false, 6, usage.ErrCorrupt},
		{"closed store", nil, true, 0, store.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openPebble(t)
			putBuckets(t, st, all)
			if tt.corrupt != nil {
				b := st.NewBatch()
				tt.corrupt(t, b)
				if err := b.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			if tt.close {
				st.Close()
			}
			n, errs := 0, 0
			var got error
			for _, err := range Buckets(st, time.Time{}, time.Time{}) {
				if err != nil {
					errs++
					got = err
					continue
				}
				if errs > 0 {
					t.Fatal("a bucket after the error")
				}
				n++
			}
			if n != tt.wantN || errs != 1 || !errors.Is(got, tt.wantErr) {
				t.Errorf("%d buckets, then %d errors (%v); want %d, then one wrapping %v", n, errs, got, tt.wantN, tt.wantErr)
			}
		})
	}
}
