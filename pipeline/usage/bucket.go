package usage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hangar-dev/hangar/sdk/wire"
)

// SlotDuration is the width of a bucket's time slot. It divides every real time-zone offset and
// every whole hour, which is what makes day, week, month and block reports exact sums of buckets.
const SlotDuration = 15 * time.Minute

const slotMillis = int64(SlotDuration / time.Millisecond)

// Errors from decoding keys and buckets.
var (
	// ErrCorrupt means bytes are not a well-formed bucket key or bucket value.
	ErrCorrupt = errors.New("usage: corrupt bucket encoding")
)

// BucketKey identifies a [Bucket]: a time slot, a session, a project key and a model.
//
// The slot is [Start, Start+SlotDuration) split in two: the instant Start itself (AtStart true)
// and the open interval after it (AtStart false). ccusage ends a billing block at a whole hour
// and keeps an entry written exactly at that instant in the ending block, while an entry a
// millisecond later starts the next one; keeping boundary instants apart makes blocks exact.
// Day boundaries are slot boundaries too, and both halves of a slot lie in the same day.
type BucketKey struct {
	// Start is the slot's start: a multiple of SlotDuration since the Unix epoch, in UTC.
	Start time.Time
	// AtStart is true for the bucket that holds only entries written exactly at Start.
	AtStart bool
	// Session, Project and Model are the entries' [Entry.Session], [Entry.Project] and
	// [Entry.Model].
	Session, Project, Model string
}

// KeyFor returns the key of the bucket that e belongs to.
func KeyFor(e Entry) BucketKey {
	ms := e.Time.UnixMilli()
	start := floorDiv(ms, slotMillis) * slotMillis
	return BucketKey{
		Start:   time.UnixMilli(start).UTC(),
		AtStart: ms == start,
		Session: e.Session,
		Project: e.Project,
		Model:   e.Model,
	}
}

// slot numbers the half-slots in time order: the boundary instant of slot n is 2n, the open
// interval after it 2n+1.
func (k BucketKey) slot() int64 {
	n := floorDiv(k.Start.UnixMilli(), slotMillis) * 2
	if !k.AtStart {
		n++
	}
	return n
}

// Compare orders keys as their encodings do: by time (a slot's boundary instant before its open
// interval), then session, project and model. It returns -1, 0 or +1.
func (k BucketKey) Compare(o BucketKey) int {
	if a, b := k.slot(), o.slot(); a != b {
		if a < b {
			return -1
		}
		return 1
	}
	if c := strings.Compare(k.Session, o.Session); c != 0 {
		return c
	}
	if c := strings.Compare(k.Project, o.Project); c != 0 {
		return c
	}
	return strings.Compare(k.Model, o.Model)
}

// AppendKey appends the key's order-preserving encoding: bytes.Compare of two encodings agrees
// with [BucketKey.Compare], so a range scan over a time span is a scan over a key range.
//
//	half-slot (8 bytes, big-endian, sign bit flipped) | session | project | model
//
// Each string is written with 0x00 escaped as 0x00 0xFF and ends with 0x00 0x01. A Start that is
// not on a slot boundary is floored to one.
func (k BucketKey) AppendKey(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(k.slot())^(1<<63))
	for _, s := range [...]string{k.Session, k.Project, k.Model} {
		for i := 0; i < len(s); i++ {
			if s[i] == 0 {
				dst = append(dst, 0, 0xFF)
			} else {
				dst = append(dst, s[i])
			}
		}
		dst = append(dst, 0, 1)
	}
	return dst
}

// maxSlot bounds the half-slot numbers whose start, in milliseconds, fits in an int64.
const maxSlot = math.MaxInt64 / slotMillis * 2

// AppendTimeBound appends the time prefix that parts the bucket keys at t: the key of every
// bucket whose Start is before t sorts below it, and the key of every bucket whose Start is at or
// after t sorts at or above it ([BucketKey.AppendKey]). The buckets of a time span [from, to) are
// thus the keys from AppendTimeBound(from) up to AppendTimeBound(to), a range a store can seek
// to instead of scanning from its first bucket.
func AppendTimeBound(dst []byte, t time.Time) []byte {
	// The first slot boundary at or after t, as a half-slot number (the boundary instant's).
	var slot int64
	switch lo, hi := time.UnixMilli(-maxSlot/2*slotMillis), time.UnixMilli(maxSlot/2*slotMillis); {
	case !t.After(lo):
		slot = -maxSlot
	case t.After(hi):
		slot = maxSlot + 2 // above every key ParseBucketKey accepts
	default:
		n := floorDiv(t.UnixMilli(), slotMillis)
		if time.UnixMilli(n * slotMillis).Before(t) {
			n++
		}
		slot = 2 * n
	}
	return binary.BigEndian.AppendUint64(dst, uint64(slot)^(1<<63))
}

// ParseBucketKey decodes a key written by [BucketKey.AppendKey].
func ParseBucketKey(b []byte) (BucketKey, error) {
	if len(b) < 8 {
		return BucketKey{}, fmt.Errorf("parse bucket key: short time: %w", ErrCorrupt)
	}
	slot := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	if slot > maxSlot || slot < -maxSlot {
		return BucketKey{}, fmt.Errorf("parse bucket key: time out of range: %w", ErrCorrupt)
	}
	n := floorDiv(slot, 2)
	k := BucketKey{Start: time.UnixMilli(n * slotMillis).UTC(), AtStart: slot == 2*n}
	rest := b[8:]
	var fields [3]string
	for i := range fields {
		var s []byte
		for {
			j := bytes.IndexByte(rest, 0)
			if j < 0 || j+1 >= len(rest) {
				return BucketKey{}, fmt.Errorf("parse bucket key: unterminated string: %w", ErrCorrupt)
			}
			s = append(s, rest[:j]...)
			esc := rest[j+1]
			rest = rest[j+2:]
			if esc == 1 {
				break
			}
			if esc != 0xFF {
				return BucketKey{}, fmt.Errorf("parse bucket key: bad escape: %w", ErrCorrupt)
			}
			s = append(s, 0)
		}
		fields[i] = string(s)
	}
	if len(rest) != 0 {
		return BucketKey{}, fmt.Errorf("parse bucket key: trailing bytes: %w", ErrCorrupt)
	}
	k.Session, k.Project, k.Model = fields[0], fields[1], fields[2]
	return k, nil
}

// Bucket is the rollup of the entries that share a [BucketKey]: token and cost sums, the entry
// count, and the first and last entry times, which is all that ccusage's reports need.
//
// The zero Bucket (with its Key set) is empty and ready for [Bucket.Add]. A Bucket is a value;
// it is not safe for concurrent mutation.
type Bucket struct {
	// Key says which entries the bucket holds; Add, Remove and Merge neither read nor set it.
	Key BucketKey
	// Entries counts the entries added.
	Entries int64
	// Input, Output, CacheCreation and CacheRead are token sums.
	Input, Output, CacheCreation, CacheRead int64
	// CostAuto, CostCalculate and CostDisplay are cost sums, one per [CostMode].
	CostAuto, CostCalculate, CostDisplay float64
	// First and Last are the times of the earliest and latest entries, in UTC with millisecond
	// precision; both are zero while the bucket is empty.
	First, Last time.Time
	// FirstSeq is the least [Entry.Seq] of the entries written at First.
	FirstSeq int64
	// LimitReset is the [Entry.LimitReset] of the earliest entry that has one, and
	// LimitResetEntry that entry's time; both are zero when no entry has one.
	LimitReset, LimitResetEntry time.Time
}

// NewBucket returns a bucket keyed for e and holding e.
func NewBucket(e Entry) Bucket {
	b := Bucket{Key: KeyFor(e)}
	b.Add(e)
	return b
}

// msTime truncates t to the millisecond, in UTC.
func msTime(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// empty reports whether no entry has been added.
func (b *Bucket) empty() bool { return b.First.IsZero() && b.Last.IsZero() }

// Add adds e to the bucket. The caller ensures KeyFor(e) == b.Key.
func (b *Bucket) Add(e Entry) {
	t := msTime(e.Time)
	switch {
	case b.empty():
		b.First, b.Last, b.FirstSeq = t, t, e.Seq
	case t.Before(b.First):
		b.First, b.FirstSeq = t, e.Seq
	case t.Equal(b.First):
		b.FirstSeq = min(b.FirstSeq, e.Seq)
	}
	if t.After(b.Last) {
		b.Last = t
	}
	b.Entries++
	b.Input += e.Input
	b.Output += e.Output
	b.CacheCreation += e.CacheCreation
	b.CacheRead += e.CacheRead
	b.CostAuto += e.CostAuto
	b.CostCalculate += e.CostCalculate
	b.CostDisplay += e.CostDisplay
	if !e.LimitReset.IsZero() && (b.LimitResetEntry.IsZero() || t.Before(b.LimitResetEntry)) {
		b.LimitReset, b.LimitResetEntry = msTime(e.LimitReset), t
	}
}

// Remove takes back an entry added earlier, as when a later copy of the same message replaces
// it. Counts and sums are adjusted (float costs may keep a rounding residue of the order of
// 1e-16 of the sum). It reports whether First, Last and LimitReset are still exact: when the
// entry was written at First or Last, or carried the kept LimitReset, the bucket cannot know the
// next one and the caller must rebuild it from its remaining entries.
func (b *Bucket) Remove(e Entry) (exact bool) {
	t := msTime(e.Time)
	b.Entries--
	b.Input -= e.Input
	b.Output -= e.Output
	b.CacheCreation -= e.CacheCreation
	b.CacheRead -= e.CacheRead
	b.CostAuto -= e.CostAuto
	b.CostCalculate -= e.CostCalculate
	b.CostDisplay -= e.CostDisplay
	if b.Entries == 0 {
		b.First, b.Last, b.FirstSeq = time.Time{}, time.Time{}, 0
		b.LimitReset, b.LimitResetEntry = time.Time{}, time.Time{}
		return true
	}
	exact = t.After(b.First) && t.Before(b.Last)
	if !e.LimitReset.IsZero() && t.Equal(b.LimitResetEntry) {
		exact = false
	}
	return exact
}

// Merge adds the entries of o into b, as if each had been added with Add. Keys are not checked.
func (b *Bucket) Merge(o *Bucket) {
	switch {
	case o.empty():
	case b.empty():
		b.First, b.Last, b.FirstSeq = o.First, o.Last, o.FirstSeq
	default:
		switch {
		case o.First.Before(b.First):
			b.First, b.FirstSeq = o.First, o.FirstSeq
		case o.First.Equal(b.First):
			b.FirstSeq = min(b.FirstSeq, o.FirstSeq)
		}
		if o.Last.After(b.Last) {
			b.Last = o.Last
		}
	}
	b.Entries += o.Entries
	b.Input += o.Input
	b.Output += o.Output
	b.CacheCreation += o.CacheCreation
	b.CacheRead += o.CacheRead
	b.CostAuto += o.CostAuto
	b.CostCalculate += o.CostCalculate
	b.CostDisplay += o.CostDisplay
	if !o.LimitResetEntry.IsZero() && (b.LimitResetEntry.IsZero() || o.LimitResetEntry.Before(b.LimitResetEntry)) {
		b.LimitReset, b.LimitResetEntry = o.LimitReset, o.LimitResetEntry
	}
}

// Tokens returns the bucket's total token count.
func (b *Bucket) Tokens() int64 { return b.Input + b.Output + b.CacheCreation + b.CacheRead }

// Cost returns the bucket's cost sum under mode m.
func (b *Bucket) Cost(m CostMode) float64 {
	switch m {
	case ModeCalculate:
		return b.CostCalculate
	case ModeDisplay:
		return b.CostDisplay
	}
	return b.CostAuto
}

// Value encoding.
const (
	bucketVersion     = 1
	flagLimitReset    = 1 << 0 // limit reset fields follow
	flagCalcIsAuto    = 1 << 1 // CostCalculate has CostAuto's bits and is not written
	flagDisplayZero   = 1 << 2 // CostDisplay is +0 and is not written
	flagDisplayIsAuto = 1 << 3 // CostDisplay has CostAuto's bits and is not written
	knownFlags        = flagLimitReset | flagCalcIsAuto | flagDisplayZero | flagDisplayIsAuto
	maxBucketLength   = 2 + 5*binary.MaxVarintLen64 + 3*8 + 5*binary.MaxVarintLen64
)

// AppendBinary appends the bucket's value (not its key) to dst:
//
//	version (1) | flags (1) | entries, input, output, cache creation, cache read (varint each) |
//	cost auto, [calculate], [display] (float64 bits, 8 bytes little-endian each) |
//	first (varint Unix ms) | last - first (uvarint ms) | first seq (varint) |
//	[limit reset, limit reset entry (varint Unix ms each)]
//
// Flags: bit 0, the limit reset fields are present; bit 1, calculate is not written and equals
// auto (the usual case: no recorded costUSD); bit 2, display is not written and is zero; bit 3,
// display is not written and equals auto. A typical bucket takes 25 to 40 bytes. AppendBinary
// fails when Last is before First.
func (b *Bucket) AppendBinary(dst []byte) ([]byte, error) {
	first, last := b.First.UnixMilli(), b.Last.UnixMilli()
	if last < first {
		return dst, fmt.Errorf("encode bucket: last %v before first %v: %w", b.Last, b.First, ErrCorrupt)
	}
	auto, calc, display := math.Float64bits(b.CostAuto), math.Float64bits(b.CostCalculate), math.Float64bits(b.CostDisplay)
	var flags byte
	if !b.LimitResetEntry.IsZero() {
		flags |= flagLimitReset
	}
	if calc == auto {
		flags |= flagCalcIsAuto
	}
	switch display {
	case 0:
		flags |= flagDisplayZero
	case auto:
		flags |= flagDisplayIsAuto
	}
	dst = append(dst, bucketVersion, flags)
	for _, v := range [...]int64{b.Entries, b.Input, b.Output, b.CacheCreation, b.CacheRead} {
		dst = binary.AppendVarint(dst, v)
	}
	dst = binary.LittleEndian.AppendUint64(dst, auto)
	if flags&flagCalcIsAuto == 0 {
		dst = binary.LittleEndian.AppendUint64(dst, calc)
	}
	if flags&(flagDisplayZero|flagDisplayIsAuto) == 0 {
		dst = binary.LittleEndian.AppendUint64(dst, display)
	}
	dst = binary.AppendVarint(dst, first)
	dst = binary.AppendUvarint(dst, uint64(last-first))
	dst = binary.AppendVarint(dst, b.FirstSeq)
	if flags&flagLimitReset != 0 {
		dst = binary.AppendVarint(dst, b.LimitReset.UnixMilli())
		dst = binary.AppendVarint(dst, b.LimitResetEntry.UnixMilli())
	}
	return dst, nil
}

// MarshalBinary returns the bucket's value encoding; see [Bucket.AppendBinary].
func (b *Bucket) MarshalBinary() ([]byte, error) {
	return b.AppendBinary(make([]byte, 0, maxBucketLength))
}

// UnmarshalBinary decodes a value written by [Bucket.AppendBinary] into b, leaving b.Key as it
// is. It never panics on malformed input.
func (b *Bucket) UnmarshalBinary(data []byte) error {
	d := wire.NewDecoder(data, ErrCorrupt)
	version, flags := d.Byte(), d.Byte()
	if d.Err() == nil && version != bucketVersion {
		return fmt.Errorf("decode bucket: version %d: %w", version, ErrCorrupt)
	}
	if d.Err() == nil && (flags&^knownFlags != 0 || flags&flagDisplayZero != 0 && flags&flagDisplayIsAuto != 0) {
		return fmt.Errorf("decode bucket: flags %#x: %w", flags, ErrCorrupt)
	}
	var v Bucket
	v.Key = b.Key
	v.Entries, v.Input, v.Output, v.CacheCreation, v.CacheRead = d.Varint(), d.Varint(), d.Varint(), d.Varint(), d.Varint()
	v.CostAuto = d.Float64()
	v.CostCalculate = v.CostAuto
	if flags&flagCalcIsAuto == 0 {
		v.CostCalculate = d.Float64()
	}
	switch {
	case flags&flagDisplayZero != 0:
	case flags&flagDisplayIsAuto != 0:
		v.CostDisplay = v.CostAuto
	default:
		v.CostDisplay = d.Float64()
	}
	first := d.Varint()
	span := d.Uvarint()
	if d.Err() == nil && (span > math.MaxInt64 || first > math.MaxInt64-int64(span)) {
		return fmt.Errorf("decode bucket: last out of range: %w", ErrCorrupt)
	}
	v.First, v.Last = time.UnixMilli(first).UTC(), time.UnixMilli(first+int64(span)).UTC()
	v.FirstSeq = d.Varint()
	if flags&flagLimitReset != 0 {
		v.LimitReset, v.LimitResetEntry = time.UnixMilli(d.Varint()).UTC(), time.UnixMilli(d.Varint()).UTC()
	}
	if err := d.End(); err != nil {
		return fmt.Errorf("decode bucket: %w", err)
	}
	*b = v
	return nil
}

// MergeBinary decodes two bucket values, merges them and appends the result's encoding to dst:
// the body of a Pebble merge operator over bucket values.
func MergeBinary(dst, a, b []byte) ([]byte, error) {
	var x, y Bucket
	if err := x.UnmarshalBinary(a); err != nil {
		return dst, fmt.Errorf("merge buckets: %w", err)
	}
	if err := y.UnmarshalBinary(b); err != nil {
		return dst, fmt.Errorf("merge buckets: %w", err)
	}
	x.Merge(&y)
	return x.AppendBinary(dst)
}

// floorDiv divides rounding toward negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
