package store

import (
	"bytes"
	"math"
	"slices"
	"testing"
	"time"
)

func TestSortableTimeOrder(t *testing.T) {
	// In increasing time order; each must sort strictly after the one before.
	times := []struct {
		name string
		t    time.Time
	}{
		{"zero time (year 1)", time.Time{}},
		{"year 1 plus 1ns, out of UnixNano range", time.Time{}.Add(1)},
		{"year 1000, out of UnixNano range", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"lowest representable", time.Unix(0, math.MinInt64+1)},
		{"1900", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"1ns before epoch", time.Unix(0, -1)},
		{"epoch", time.Unix(0, 0)},
		{"1ns after epoch", time.Unix(0, 1)},
		{"2025", time.Date(2025, 6, 14, 9, 26, 53, 589793238, time.UTC)},
		{"2025 plus 1ns, other zone", time.Date(2025, 6, 14, 11, 26, 53, 589793239, time.FixedZone("CEST", 2*3600))},
		{"highest representable", time.Unix(0, math.MaxInt64)},
	}
	for i := 1; i < len(times); i++ {
		prev, cur := times[i-1], times[i]
		t.Run(prev.name+" < "+cur.name, func(t *testing.T) {
			a, b := sortableTime(prev.t), sortableTime(cur.t)
			// Out-of-range times clamp to the ends, so only strictly in-range neighbours must differ.
			inRange := func(x time.Time) bool {
				return !x.IsZero() && !x.Before(time.Unix(0, math.MinInt64+1)) && !x.After(time.Unix(0, math.MaxInt64))
			}
			if inRange(prev.t) && inRange(cur.t) {
				if a >= b {
					t.Errorf("sortableTime(%v) = %#x, not below sortableTime(%v) = %#x", prev.t, a, cur.t, b)
				}
			} else if a > b {
				t.Errorf("sortableTime(%v) = %#x, above sortableTime(%v) = %#x", prev.t, a, cur.t, b)
			}
			ka, kb := timeKey(prev.t, 7), timeKey(cur.t, 1)
			if a < b && bytes.Compare(ka, kb) >= 0 {
				t.Errorf("timeKey(%v) = %x does not sort before timeKey(%v) = %x", prev.t, ka, cur.t, kb)
			}
		})
	}

	t.Run("zero time sorts before every representable time", func(t *testing.T) {
		if got, lowest := sortableTime(time.Time{}), sortableTime(time.Unix(0, math.MinInt64+1)); got >= lowest {
			t.Errorf("sortableTime(zero) = %#x, want below %#x", got, lowest)
		}
	})
	t.Run("far future sorts after 2025", func(t *testing.T) {
		if got, y2025 := sortableTime(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)), sortableTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)); got <= y2025 {
			t.Errorf("sortableTime(9999) = %#x, want above sortableTime(2025) = %#x", got, y2025)
		}
	})
	t.Run("same instant in two zones", func(t *testing.T) {
		u := time.Date(2025, 6, 14, 9, 0, 0, 5, time.UTC)
		if got, want := sortableTime(u.In(time.FixedZone("X", -7*3600))), sortableTime(u); got != want {
			t.Errorf("sortableTime in another zone = %#x, want %#x", got, want)
		}
	})
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		want []byte
	}{
		{"empty", []byte{}, nil},
		{"one byte", []byte("a"), []byte("b")},
		{"trailing zero", []byte("a\x00"), []byte("a\x01")},
		{"trailing 0xff", []byte("a\xff"), []byte("b")},
		{"several trailing 0xff", []byte("ab\xff\xff\xff"), []byte("ac")},
		{"0xfe becomes 0xff", []byte("a\xfe"), []byte("a\xff")},
		{"0xff in the middle", []byte("a\xffb"), []byte("a\xffc")},
		{"all 0xff", []byte("\xff\xff"), nil},
		{"single 0xff", []byte("\xff"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Clone(tt.p)
			got := prefixEnd(in)
			if !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("prefixEnd(%q) = %q, want %q", tt.p, got, tt.want)
			}
			if !bytes.Equal(in, tt.p) {
				t.Errorf("prefixEnd changed its input to %q", in)
			}
			if got == nil {
				return
			}
			// got bounds every key with the prefix, and is itself not such a key.
			for _, suffix := range [][]byte{nil, {0}, {0xff}, {0xff, 0xff, 0xff}} {
				k := append(bytes.Clone(tt.p), suffix...)
				if bytes.Compare(k, got) >= 0 {
					t.Errorf("key %q with the prefix is not below prefixEnd %q", k, got)
				}
			}
			if bytes.HasPrefix(got, tt.p) {
				t.Errorf("prefixEnd %q itself has the prefix %q", got, tt.p)
			}
		})
	}
}

func TestSeqOf(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		want uint64
	}{
		{"nil", nil, 0},
		{"shorter than 8 bytes", []byte{1, 2, 3, 4, 5, 6, 7}, 0},
		{"exactly 8 bytes", []byte{0, 0, 0, 0, 0, 0, 1, 2}, 0x102},
		{"event key", eventKey(42), 42},
		{"dlq key max", dlqKey(math.MaxUint64), math.MaxUint64},
		{"time key", timeKey(time.Unix(1, 0), 9), 9},
		{"session key", sessionKey("sess-1", time.Unix(1, 0), 1<<40), 1 << 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := seqOf(tt.key); got != tt.want {
				t.Errorf("seqOf(%x) = %d, want %d", tt.key, got, tt.want)
			}
		})
	}
}

func TestKeysSortNumerically(t *testing.T) {
	seqs := []uint64{0, 1, 255, 256, 1 << 32, math.MaxUint64 - 1, math.MaxUint64}
	var keys [][]byte
	for _, s := range seqs {
		keys = append(keys, eventKey(s))
	}
	if !slices.IsSortedFunc(keys, bytes.Compare) {
		t.Errorf("event keys of %v do not sort numerically: %x", seqs, keys)
	}
	// Session keys of one session sort by time, then sequence number, and stay within the prefix.
	p := sessionPrefix("s1")
	k1 := sessionKey("s1", time.Unix(5, 0), 9)
	k2 := sessionKey("s1", time.Unix(6, 0), 1)
	k3 := sessionKey("s1", time.Unix(6, 0), 2)
	other := sessionKey("s10", time.Unix(0, 0), 0)
	if !(bytes.Compare(k1, k2) < 0 && bytes.Compare(k2, k3) < 0) {
		t.Errorf("session keys out of order: %x %x %x", k1, k2, k3)
	}
	for _, k := range [][]byte{k1, k2, k3} {
		if !bytes.HasPrefix(k, p) {
			t.Errorf("session key %x lacks prefix %x", k, p)
		}
	}
	if bytes.HasPrefix(other, p) {
		t.Errorf("key of session s10 %x has the prefix of session s1 %x", other, p)
	}
	if a, b := stateKey("a", []byte("b")), stateKey("ab", nil); bytes.HasPrefix(b, stateKey("a", nil)) || bytes.Equal(a, b) {
		t.Errorf("state keys of consumers a and ab overlap: %x %x", a, b)
	}
}
