package usagestore

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/sdk/wire"
)

// Prefixes of the keys of the rollup's state (consumer Name). docs/ARCHITECTURE.md ("State of
// the built-in consumers") says what each holds, and what a dedup key is.
const (
	bucketPrefix   = 'b'
	entryPrefix    = 'm'
	indexPrefix    = 'x'
	unpricedPrefix = 'u'
	tableKey       = 'p'
)

// indexKey is the key, without its prefix, saying that a bucket holds an entry.
func indexKey(bucketKey, dedupKey string) string { return bucketKey + "\xff" + dedupKey }

// record is one deduplicated entry as the rollup keeps it.
type record struct {
	entry     usage.Entry
	sidechain bool
	speedSet  bool
	// hasInputs is false for a version 1 record, which kept no pricing inputs; in is then zero.
	hasInputs bool
	in        priceInputs
}

// Versions of a stored record.
const (
	recordV1 = 1 // the entry and its costs
	recordV2 = 2 // and its pricing inputs, so that it can be priced again
)

// Flags of a stored record; version 1 knows only the first two.
const (
	recSidechain  = 1 << 0
	recSpeedSet   = 1 << 1
	recFast       = 1 << 2 // v2: usage.speed == "fast"
	recCostUSD    = 1 << 3 // v2: a recorded costUSD follows the costs
	recPriceModel = 1 << 4 // v2: the priced model name follows the model, which it differs from
	recV1Flags    = recSidechain | recSpeedSet
	recV2Flags    = recV1Flags | recFast | recCostUSD | recPriceModel
)

// appendBinary encodes the record, as version 2:
//
//	version (2) | flags | Unix ms, seq (varints) | session, project, model (uvarint length and
//	bytes) | [priced model] | input, output, cache creation, cache read, 1-hour cache creation
//	(uvarints) | the three costs (float64 bits, little-endian) | [costUSD (float64 bits)] |
//	limit reset (varint Unix ms, 0 for none)
//
// Flags: bit 0 sidechain, bit 1 speed set, bit 2 fast, bit 3 costUSD present, bit 4 priced model
// present (written only when it differs from the model, as for fast mode's "-fast"). Version 1
// lacks the bracketed fields, the 1-hour cache creation and flag bits 2 to 4. A record without
// pricing inputs (decoded from version 1) is written as version 1 again.
func (r *record) appendBinary(b []byte) []byte {
	var flags byte
	if r.sidechain {
		flags |= recSidechain
	}
	if r.speedSet {
		flags |= recSpeedSet
	}
	e := &r.entry
	if !r.hasInputs {
		b = append(b, recordV1, flags)
	} else {
		if r.in.fast {
			flags |= recFast
		}
		if r.in.hasCost {
			flags |= recCostUSD
		}
		if r.in.model != e.Model {
			flags |= recPriceModel
		}
		b = append(b, recordV2, flags)
	}
	b = binary.AppendVarint(b, e.Time.UnixMilli())
	b = binary.AppendVarint(b, e.Seq)
	strs := []string{e.Session, e.Project, e.Model}
	if flags&recPriceModel != 0 {
		strs = append(strs, r.in.model)
	}
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	counts := []int64{e.Input, e.Output, e.CacheCreation, e.CacheRead}
	if r.hasInputs {
		counts = append(counts, r.in.cache1h)
	}
	for _, n := range counts {
		b = binary.AppendUvarint(b, uint64(n))
	}
	costs := []float64{e.CostAuto, e.CostCalculate, e.CostDisplay}
	if flags&recCostUSD != 0 {
		costs = append(costs, r.in.costUSD)
	}
	for _, f := range costs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	var reset int64
	if !e.LimitReset.IsZero() {
		reset = e.LimitReset.UnixMilli()
	}
	return binary.AppendVarint(b, reset)
}

// errRecord is wrapped by the errors of stored records that do not decode.
var errRecord = errors.New("usage rollup: malformed stored entry")

// decodeRecord decodes a record of version 1 or 2 (see appendBinary).
func decodeRecord(b []byte) (*record, error) {
	d := wire.NewDecoder(b, errRecord)
	version, flags := d.Byte(), d.Byte()
	switch {
	case d.Err() != nil:
		return nil, d.Err()
	case version == recordV1 && flags&^recV1Flags == 0:
	case version == recordV2 && flags&^recV2Flags == 0:
	default:
		d.Fail("version %d, flags %#x", version, flags)
		return nil, d.Err()
	}
	r := &record{sidechain: flags&recSidechain != 0, speedSet: flags&recSpeedSet != 0, hasInputs: version == recordV2}
	count := func() int64 {
		v := d.Uvarint()
		if v > math.MaxInt64 {
			d.Fail("count %d out of range", v)
			return 0
		}
		return int64(v)
	}
	e := &r.entry
	e.Time = time.UnixMilli(d.Varint()).UTC()
	e.Seq = d.Varint()
	e.Session, e.Project, e.Model = string(d.Prefixed()), string(d.Prefixed()), string(d.Prefixed())
	if r.hasInputs {
		r.in.model = e.Model
		if flags&recPriceModel != 0 {
			r.in.model = string(d.Prefixed())
		}
	}
	for _, p := range []*int64{&e.Input, &e.Output, &e.CacheCreation, &e.CacheRead} {
		*p = count()
	}
	if r.hasInputs {
		r.in.cache1h = count()
		r.in.fast = flags&recFast != 0
		if r.in.cache1h > e.CacheCreation {
			d.Fail("1-hour cache creation %d over the cache creation %d", r.in.cache1h, e.CacheCreation)
		}
	}
	e.CostAuto, e.CostCalculate, e.CostDisplay = d.Float64(), d.Float64(), d.Float64()
	if flags&recCostUSD != 0 {
		r.in.costUSD, r.in.hasCost = d.Float64(), true
	}
	if reset := d.Varint(); reset != 0 {
		e.LimitReset = time.UnixMilli(reset).UTC()
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	return r, nil
}
