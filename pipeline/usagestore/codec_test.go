package usagestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/pipeline/usage"
)

// appendV1 encodes a record as version 1 did, before records kept their pricing inputs.
func appendV1(r *record) []byte {
	var flags byte
	if r.sidechain {
		flags |= 1
	}
	if r.speedSet {
		flags |= 2
	}
	e := &r.entry
	b := []byte{1, flags}
	b = binary.AppendVarint(b, e.Time.UnixMilli())
	b = binary.AppendVarint(b, e.Seq)
	for _, s := range []string{e.Session, e.Project, e.Model} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, n := range []int64{e.Input, e.Output, e.CacheCreation, e.CacheRead} {
		b = binary.AppendUvarint(b, uint64(n))
	}
	for _, f := range []float64{e.CostAuto, e.CostCalculate, e.CostDisplay} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	var reset int64
	if !e.LimitReset.IsZero() {
		reset = e.LimitReset.UnixMilli()
	}
	return binary.AppendVarint(b, reset)
}

// testEntry is an entry of sonnet with cache writes.
func testEntry() usage.Entry {
	return usage.Entry{Time: recTime, Session: "s1", Project: "p1", Model: sonnet, Input: 4, Output: 5,
		CacheCreation: 3877, CacheRead: 10215, CostAuto: 0.1, CostCalculate: 0.1, Seq: 7}
}

// TestRecordEncoding decodes records of both versions, and re-encodes each as it was.
func TestRecordEncoding(t *testing.T) {
	fast := testEntry()
	fast.Model += "-fast"
	reset := testEntry()
	reset.LimitReset = recTime.Add(time.Hour)
	noModel := testEntry()
	noModel.Model = ""
	inputs := func(in priceInputs) priceInputs {
		if in.model == "" {
			in.model = sonnet
		}
		return in
	}
	tests := []struct {
		name string
		rec  record
		v1   bool // encode as version 1 did
	}{
		{"v1", record{entry: testEntry(), sidechain: true, speedSet: true}, true},
		{"v1 limit reset", record{entry: reset}, true},
		{"v1 no model", record{entry: noModel}, true},
		{"v2", record{entry: testEntry(), hasInputs: true, in: inputs(priceInputs{})}, false},
		{"v2 1h cache writes", record{entry: testEntry(), hasInputs: true, in: inputs(priceInputs{cache1h: 3000})}, false},
		{"v2 all 1h", record{entry: testEntry(), hasInputs: true, in: inputs(priceInputs{cache1h: 3877})}, false},
		{"v2 fast", record{entry: fast, speedSet: true, hasInputs: true, in: inputs(priceInputs{fast: true})}, false},
		{"v2 costUSD", record{entry: testEntry(), hasInputs: true, in: inputs(priceInputs{costUSD: 0.25, hasCost: true})}, false},
		{"v2 costUSD 0", record{entry: testEntry(), hasInputs: true, in: inputs(priceInputs{hasCost: true})}, false},
		{"v2 no model", record{entry: noModel, hasInputs: true}, false},
		{"v2 sidechain limit reset", record{entry: reset, sidechain: true, hasInputs: true, in: inputs(priceInputs{})}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.rec.appendBinary(nil)
			wantVersion := byte(recordV2)
			if tt.v1 {
				b, wantVersion = appendV1(&tt.rec), recordV1
			}
			if b[0] != wantVersion {
				t.Fatalf("version %d, want %d", b[0], wantVersion)
			}
			got, err := decodeRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.rec) {
				t.Errorf("got %+v, want %+v", *got, tt.rec)
			}
			if again := got.appendBinary(nil); !bytes.Equal(again, b) {
				t.Errorf("encoded again: got %x, want %x", again, b)
			}
		})
	}
}

// TestRecordMalformed refuses bytes that are no record.
func TestRecordMalformed(t *testing.T) {
	v2 := record{entry: testEntry(), hasInputs: true, in: priceInputs{model: sonnet, costUSD: 1, hasCost: true}}
	good := v2.appendBinary(nil)
	tooMany1h := v2
	tooMany1h.in.cache1h = v2.entry.CacheCreation + 1
	with := func(b []byte, i int, v byte) []byte {
		b = bytes.Clone(b)
		b[i] = v
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version only", []byte{2}},
		{"version 0", with(good, 0, 0)},
		{"version 3", with(good, 0, 3)},
		{"v1 with a v2 flag", with(appendV1(&v2), 1, recFast)},
		{"v2 with an unknown flag", with(good, 1, good[1]|1<<5)},
		{"truncated", good[:len(good)-1]},
		{"costUSD cut", good[:len(good)-9]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"1h over the cache writes", tooMany1h.appendBinary(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := decodeRecord(tt.b); !errors.Is(err, errRecord) {
				t.Errorf("got %+v, %v; want errRecord", got, err)
			}
		})
	}
}

// FuzzDecodeRecord: decoding never panics, and what decodes encodes to bytes that decode to
// the same encoding.
func FuzzDecodeRecord(f *testing.F) {
	v2 := record{entry: testEntry(), hasInputs: true, in: priceInputs{model: "m", cache1h: 5, fast: true, costUSD: 1, hasCost: true}}
	f.Add(v2.appendBinary(nil))
	f.Add(appendV1(&v2))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		b2 := r.appendBinary(nil)
		r2, err := decodeRecord(b2)
		if err != nil {
			t.Fatalf("%x decodes, its encoding %x does not: %v", b, b2, err)
		}
		if b3 := r2.appendBinary(nil); !bytes.Equal(b3, b2) {
			t.Fatalf("encodings differ: %x, %x", b2, b3)
		}
	})
}
