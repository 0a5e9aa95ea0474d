package usage

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func ms(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestKeyFor(t *testing.T) {
	tests := []struct {
		name    string
		at      string
		start   string
		atStart bool
	}{
		{"inside a slot", "2025-06-02T10:07:30.500Z", "2025-06-02T10:00:00Z", false},
		{"exactly on a slot boundary", "2025-06-02T10:15:00Z", "2025-06-02T10:15:00Z", true},
		{"one millisecond after", "2025-06-02T10:15:00.001Z", "2025-06-02T10:15:00Z", false},
		{"one millisecond before", "2025-06-02T10:14:59.999Z", "2025-06-02T10:00:00Z", false},
		{"sub-millisecond is truncated", "2025-06-02T10:15:00.0009Z", "2025-06-02T10:15:00Z", true},
		{"before the epoch", "1969-12-31T23:59:59.999Z", "1969-12-31T23:45:00Z", false},
		{"zone is ignored", "2025-06-02T15:45:00+05:30", "2025-06-02T10:15:00Z", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := KeyFor(Entry{Time: ms(tt.at), Session: "s", Project: "p", Model: "m"})
			want := BucketKey{Start: ms(tt.start).UTC(), AtStart: tt.atStart, Session: "s", Project: "p", Model: "m"}
			if got != want {
				t.Errorf("KeyFor(%s) = %+v, want %+v", tt.at, got, want)
			}
		})
	}
}

func randomKey(r *rand.Rand) BucketKey {
	strs := []string{"", "a", "a\x00", "a\x00b", "a\x01", "ab", "b", "\x00", "\xff", "a\xff"}
	ms := r.Int64N(4e12) - 1e12
	if r.IntN(3) == 0 {
		ms -= ms % slotMillis
	}
	return KeyFor(Entry{
		Time:    time.UnixMilli(ms),
		Session: strs[r.IntN(len(strs))],
		Project: strs[r.IntN(len(strs))],
		Model:   strs[r.IntN(len(strs))],
	})
}

func TestBucketKeyEncodingOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([]BucketKey, 2000)
	for i := range keys {
		keys[i] = randomKey(r)
	}
	for i := 1; i < len(keys); i++ {
		a, b := keys[i-1], keys[i]
		ea, eb := a.AppendKey(nil), b.AppendKey(nil)
		if got, want := bytes.Compare(ea, eb), a.Compare(b); got != want {
			t.Fatalf("bytes.Compare(%+v, %+v) = %d, Compare = %d", a, b, got, want)
		}
		back, err := ParseBucketKey(ea)
		if err != nil || back != a {
			t.Fatalf("ParseBucketKey(AppendKey(%+v)) = %+v, %v", a, back, err)
		}
	}
}

// TestAppendTimeBound: a key sorts at or above the bound of t exactly when its bucket starts at or
// after t, for times on, beside and between slot boundaries, before 1970 and at the ends of the
// range a key can hold.
func TestAppendTimeBound(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	boundary := ms("2025-06-08T10:45:00Z")
	times := []time.Time{{}, time.Unix(0, 0), ms("1969-12-31T23:59:59.999Z"), time.Unix(-1<<62, 0), time.Unix(1<<62, 0),
		time.UnixMilli(-maxSlot / 2 * slotMillis), time.UnixMilli(maxSlot / 2 * slotMillis), time.UnixMilli(maxSlot / 2 * slotMillis).Add(time.Nanosecond)}
	for _, d := range []time.Duration{-SlotDuration, -time.Millisecond, -time.Nanosecond, 0, time.Nanosecond, time.Millisecond, 7 * time.Minute, SlotDuration - time.Nanosecond, SlotDuration} {
		times = append(times, boundary.Add(d), time.Unix(0, 0).Add(d))
	}
	for range 300 {
		times = append(times, time.UnixMilli(r.Int64N(4e12)-1e12).Add(time.Duration(r.IntN(1e6))))
	}
	keys := make([]BucketKey, 0, 600)
	for range 500 {
		keys = append(keys, randomKey(r))
	}
	for _, at := range []time.Time{boundary, boundary.Add(time.Millisecond), boundary.Add(SlotDuration), time.Unix(0, 0), time.UnixMilli(-maxSlot / 2 * slotMillis), time.UnixMilli(maxSlot / 2 * slotMillis)} {
		keys = append(keys, KeyFor(Entry{Time: at, Session: "s"}))
	}
	for _, at := range times {
		bound := AppendTimeBound(nil, at)
		if got := AppendTimeBound([]byte("p"), at); !bytes.Equal(got, append([]byte("p"), bound...)) {
			t.Fatalf("AppendTimeBound appends %x to a prefix, want %x", got, bound)
		}
		for _, k := range keys {
			if got, want := bytes.Compare(k.AppendKey(nil), bound) >= 0, !k.Start.Before(at); got != want {
				t.Fatalf("key of %v (at start %v) at or above the bound of %v: %v, want %v", k.Start, k.AtStart, at, got, want)
			}
		}
	}
}

func TestParseBucketKeyRejects(t *testing.T) {
	good := BucketKey{Start: ms("2025-06-02T10:00:00Z").UTC(), Session: "s", Project: "p", Model: "m"}.AppendKey(nil)
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short time", good[:7]},
		{"no strings", good[:8]},
		{"unterminated", good[:len(good)-1]},
		{"trailing byte", append(slices.Clone(good), 'x')},
		{"bad escape", append(slices.Clone(good[:8]), 's', 0, 7)},
		{"time out of range", append([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, good[8:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseBucketKey(tt.in); !errors.Is(err, ErrCorrupt) {
				t.Errorf("ParseBucketKey(%x) error = %v, want ErrCorrupt", tt.in, err)
			}
		})
	}
}

// goldenBucket has every field set, a limit reset, and a cost that is not a short decimal.
func goldenBucket() Bucket {
	var b Bucket
	b.Add(Entry{Time: ms("2025-06-08T10:47:11.325Z"), Input: 4, Output: 5, CacheCreation: 3877, CacheRead: 10215,
		CostAuto: 0.0177, CostCalculate: 0.0177, CostDisplay: 0, Seq: 12})
	b.Add(Entry{Time: ms("2025-06-08T10:55:59.652Z"), Input: 3, Output: 420, CacheCreation: 2142, CacheRead: 15099,
		CostAuto: 1.0 / 3, CostCalculate: 0.015, CostDisplay: 1.0 / 3, LimitReset: time.Unix(1749600000, 0), Seq: 40})
	return b
}

func TestBucketBinaryGolden(t *testing.T) {
	g := goldenBucket()
	g.CostCalculate = g.CostAuto
	g.CostDisplay = 0
	tests := []struct {
		name   string
		bucket Bucket
	}{
		{"empty", Bucket{}},
		{"two-entries", goldenBucket()},
		{"calculated-costs", g},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.bucket.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "bucket", tt.name+".hex")
			if *update {
				if err := os.WriteFile(path, []byte(hex.EncodeToString(got)+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if h := hex.EncodeToString(got); h != strings.TrimSpace(string(want)) {
				t.Errorf("encoding = %s, want %s", h, want)
			}
			var back Bucket
			if err := back.UnmarshalBinary(got); err != nil {
				t.Fatal(err)
			}
			if !sameBucket(back, tt.bucket) {
				t.Errorf("decoded %+v, want %+v", back, tt.bucket)
			}
		})
	}
}

// sameBucket compares buckets, times by instant and costs by bits.
func sameBucket(a, b Bucket) bool {
	return a.Key == b.Key && a.Entries == b.Entries && a.Input == b.Input && a.Output == b.Output &&
		a.CacheCreation == b.CacheCreation && a.CacheRead == b.CacheRead &&
		math.Float64bits(a.CostAuto) == math.Float64bits(b.CostAuto) &&
		math.Float64bits(a.CostCalculate) == math.Float64bits(b.CostCalculate) &&
		math.Float64bits(a.CostDisplay) == math.Float64bits(b.CostDisplay) &&
		a.First.Equal(b.First) && a.Last.Equal(b.Last) && a.FirstSeq == b.FirstSeq &&
		a.LimitReset.Equal(b.LimitReset) && a.LimitResetEntry.Equal(b.LimitResetEntry)
}

func TestBucketUnmarshalRejects(t *testing.T) {
	g := goldenBucket()
	good, _ := g.AppendBinary(nil)
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"version", append([]byte{2}, good[1:]...)},
		{"unknown flag", append([]byte{1, 0x80 | good[1]}, good[2:]...)},
		{"display both zero and auto", append([]byte{1, flagDisplayZero | flagDisplayIsAuto}, good[2:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(slices.Clone(good), 0)},
		{"bad varint", []byte{1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Bucket
			if err := b.UnmarshalBinary(tt.in); !errors.Is(err, ErrCorrupt) {
				t.Errorf("UnmarshalBinary(%x) error = %v, want ErrCorrupt", tt.in, err)
			}
		})
	}
}

func TestBucketMergeEqualsAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	base := ms("2025-06-02T10:00:00Z")
	for range 200 {
		var whole, a, b Bucket
		for i := range 1 + r.IntN(6) {
			e := Entry{
				Time:  base.Add(time.Duration(r.IntN(5)) * time.Minute),
				Input: int64(r.IntN(100)), Output: int64(r.IntN(100)),
				CostAuto: float64(r.IntN(64)) / 64, Seq: int64(r.IntN(10)),
			}
			if r.IntN(4) == 0 {
				e.LimitReset = base.Add(time.Duration(r.IntN(100)) * time.Hour)
			}
			whole.Add(e)
			if i%2 == 0 {
				a.Add(e)
			} else {
				b.Add(e)
			}
		}
		ea, _ := a.AppendBinary(nil)
		eb, _ := b.AppendBinary(nil)
		merged, err := MergeBinary(nil, ea, eb)
		if err != nil {
			t.Fatal(err)
		}
		var got Bucket
		if err := got.UnmarshalBinary(merged); err != nil {
			t.Fatal(err)
		}
		if got.LimitResetEntry.Equal(whole.LimitResetEntry) {
			// Two entries at one instant with different resets: either is the first.
			got.LimitReset = whole.LimitReset
		}
		if !sameBucket(got, whole) {
			t.Fatalf("merge = %+v, want %+v", got, whole)
		}
	}
}

func TestBucketRemove(t *testing.T) {
	e1 := Entry{Time: ms("2025-06-02T10:01:00Z"), Input: 1, CostAuto: 0.5}
	e2 := Entry{Time: ms("2025-06-02T10:02:00Z"), Input: 2, CostAuto: 0.25, LimitReset: ms("2025-06-02T15:00:00Z")}
	e3 := Entry{Time: ms("2025-06-02T10:03:00Z"), Input: 4, CostAuto: 0.125}
	tests := []struct {
		name      string
		remove    Entry
		wantExact bool
		wantInput int64
	}{
		{"middle entry keeps bounds but loses the reset", e2, false, 5},
		{"first entry", e1, false, 6},
		{"last entry", e3, false, 3},
		{"middle entry without a reset", Entry{Time: ms("2025-06-02T10:02:30Z"), Input: 0}, true, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Bucket
			for _, e := range []Entry{e1, e2, e3} {
				b.Add(e)
			}
			if got := b.Remove(tt.remove); got != tt.wantExact {
				t.Errorf("Remove exact = %v, want %v", got, tt.wantExact)
			}
			if b.Input != tt.wantInput || b.Entries != 2 {
				t.Errorf("after Remove: input %d entries %d, want %d and 2", b.Input, b.Entries, tt.wantInput)
			}
		})
	}
	var r Rollup
	r.Add(e1)
	if !r.Remove(e1) || r.Len() != 0 {
		t.Errorf("removing the only entry: exact and empty rollup expected, got %d buckets", r.Len())
	}
}

func FuzzBucketUnmarshal(f *testing.F) {
	for _, b := range []Bucket{{}, goldenBucket()} {
		enc, _ := b.AppendBinary(nil)
		f.Add(enc)
	}
	f.Add([]byte{1, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var b Bucket
		if err := b.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		enc, err := b.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode decoded bucket: %v", err)
		}
		var again Bucket
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("decode re-encoded bucket: %v", err)
		}
		enc2, _ := again.AppendBinary(nil)
		if !bytes.Equal(enc, enc2) || !sameBucket(b, again) {
			t.Fatalf("round trip changed the bucket: %x -> %x", enc, enc2)
		}
	})
}

func FuzzParseBucketKey(f *testing.F) {
	f.Add(BucketKey{Start: ms("2025-06-02T10:00:00Z").UTC(), Session: "s\x00", Project: "p", Model: "m"}.AppendKey(nil))
	f.Add([]byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseBucketKey(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if enc := k.AppendKey(nil); !bytes.Equal(enc, data) {
			t.Fatalf("AppendKey(ParseBucketKey(%x)) = %x", data, enc)
		}
	})
}
