package main

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"

	"github.com/hangar-dev/hangar/sdk"
)

// The counters of a bucket record, in attribute order.
const (
	cToolCalls = iota
	cToolErrors
	cTurns
	cTurnsWithError
	cEditsDecided
	cEditsAccepted
	cLinesAdded
	cLinesRemoved
	cActiveMS
	cDurationMS
	cInput
	cOutput
	cCacheCreation
	cCacheRead
	numCounters
)

var counterNames = [numCounters]string{
	"tool_calls", "tool_errors", "turns", "turns_with_error", "edits_decided", "edits_accepted",
	"lines_added", "lines_removed", "active_ms", "duration_ms",
	"input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
}

// The dimensions of a bucket record.
const (
	dimAll = iota
	dimTool
	dimModel
	dimProject
	dimErrorKind
	dimCommand
	numDims
)

var dimNames = [numDims]string{"all", "tool", "model", "project", "error_kind", "command"}

// widths are the bucket widths in seconds, with the kind each is emitted as and the horizon
// behind the watermark after which a bucket of that width is final (README.md, "State").
var widths = [...]struct {
	s       int64
	kind    string
	horizon int64 // ms
}{
	{60, "metrics.1m", 2 * day},
	{300, "metrics.5m", 7 * day},
	{3600, "metrics.1h", 62 * day},
	{86400, "metrics.1d", 400 * day},
}

const day = 24 * 3600 * 1000

// Latency sketch: index ceil(log(ms)/log(1.08)) with ms clamped to [1, 24 h], 0 for 0 ms.
const (
	sketchBase  = 1.08
	maxLatency  = 24 * 3600 * 1000
	sketchIndex = 239 // ceil(log(maxLatency)/log(1.08)) + 1: the number of indices
)

// latencyIndex returns the sketch index of a duration in ms.
func latencyIndex(ms int64) uint16 {
	if ms <= 0 {
		return 0
	}
	ms = min(ms, maxLatency)
	i := math.Ceil(math.Log(float64(ms)) / math.Log(sketchBase))
	return uint16(max(i, 0))
}

// agg is a bucket record's numbers (or a signed change of them).
type agg struct {
	n   [numCounters]int64
	lat map[uint16]int64
}

func (a *agg) add(b *agg, sign int64) {
	for i := range a.n {
		a.n[i] += sign * b.n[i]
	}
	for k, v := range b.lat {
		if a.lat == nil {
			a.lat = map[uint16]int64{}
		}
		a.lat[k] += sign * v
		if a.lat[k] == 0 {
			delete(a.lat, k)
		}
	}
}

// addLat adds sign times one observation of latency index i.
func (a *agg) addLat(i uint16, sign int64) {
	if a.lat == nil {
		a.lat = map[uint16]int64{}
	}
	a.lat[i] += sign
	if a.lat[i] == 0 {
		delete(a.lat, i)
	}
}

func (a *agg) zero() bool { return a.n == [numCounters]int64{} && len(a.lat) == 0 }

// aggKey names a bucket record: width index, bucket start (Unix s), dimension, value.
type aggKey struct {
	w     int
	start int64
	dim   int
	value string
}

// bucketKey names a bucket's state: width index and start.
type bucketKey struct {
	w     int
	start int64
}

func (k bucketKey) kvKey() []byte {
	return binary.BigEndian.AppendUint64([]byte{'b', byte(k.w)}, uint64(k.start))
}

// bucket is the state of one bucket: its records by dimension and value.
type bucket struct {
	recs  map[dimValue]*agg
	pages int
	dirty bool
}

type dimValue struct {
	dim   int
	value string
}

func encodeBucket(b *bucket) []byte {
	keys := make([]dimValue, 0, len(b.recs))
	for k, a := range b.recs {
		if !a.zero() {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y dimValue) int {
		if x.dim != y.dim {
			return x.dim - y.dim
		}
		return cmpStr(x.value, y.value)
	})
	var out []byte
	for _, k := range keys {
		a := b.recs[k]
		out = append(out, byte(k.dim))
		out = appendString(out, k.value)
		for _, n := range a.n {
			out = binary.AppendVarint(out, n)
		}
		out = appendSketch(out, a.lat)
	}
	return out
}

func decodeBucket(data []byte) *bucket {
	b := &bucket{recs: map[dimValue]*agg{}}
	d := decoder{b: data}
	for d.more() {
		k := dimValue{dim: int(d.byte1())}
		k.value = d.str()
		a := &agg{}
		for i := range a.n {
			a.n[i] = d.varint()
		}
		a.lat = d.sketch()
		if d.err {
			break
		}
		b.recs[k] = a
	}
	return b
}

func appendSketch(out []byte, lat map[uint16]int64) []byte {
	idx := make([]uint16, 0, len(lat))
	for k := range lat {
		idx = append(idx, k)
	}
	slices.Sort(idx)
	out = binary.AppendUvarint(out, uint64(len(idx)))
	for _, k := range idx {
		out = binary.AppendUvarint(out, uint64(k))
		out = binary.AppendVarint(out, lat[k])
	}
	return out
}

// recordEvent builds the derived record of a bucket key.
func recordEvent(k aggKey, a *agg) sdk.Event {
	w := widths[k.w]
	key := pad10(k.start) + "/" + dimNames[k.dim] + "/" + k.value
	attrs := make([]sdk.Attr, 0, 6+numCounters)
	attrs = append(attrs,
		sdk.Ident("key", key),
		sdk.Int("bucket", k.start),
		sdk.Int("width_s", w.s),
		sdk.Ident("dim", dimNames[k.dim]),
		sdk.Ident("value", k.value),
	)
	for i, n := range a.n {
		attrs = append(attrs, sdk.Int(counterNames[i], n))
		if i == cDurationMS {
			if idx, val := sketchOf(a.lat); len(idx) > 0 {
				attrs = append(attrs, sdk.Sketch("latency", idx, val))
			}
		}
	}
	return sdk.Event{Kind: w.kind, Time: unixTime(k.start), Attrs: attrs}
}

func sketchOf(lat map[uint16]int64) ([]uint16, []float32) {
	idx := make([]uint16, 0, len(lat))
	for k, v := range lat {
		if v > 0 {
			idx = append(idx, k)
		}
	}
	slices.Sort(idx)
	val := make([]float32, len(idx))
	for i, k := range idx {
		val[i] = float32(lat[k])
	}
	return idx, val
}

func pad10(n int64) string {
	s := strconv.FormatInt(n, 10)
	for len(s) < 10 {
		s = "0" + s
	}
	return s
}
