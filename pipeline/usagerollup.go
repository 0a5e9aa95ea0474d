package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/hangar-dev/hangar/pipeline/pricing"
	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// UsageRollupName is the name of the usage rollup consumer.
const UsageRollupName = "usage"

// UsageKind is the kind of the events the usage rollup reads: one assistant API response's token
// usage, as the Claude Code capture plugin reduces a transcript line.
const UsageKind = "transcript.usage"

// Keys of the usage rollup's state (consumer "usage"):
//
//	b <bucket key>              → usage.Bucket (binary): the rollup reports read
//	m <dedup key>               → the entry that won its duplicates (usageRecord)
//	x <bucket key> 0xff <dedup> → nothing: which entries a bucket holds, to rebuild it
//
// A dedup key is message id 0x00 request id, as ccusage keys usage copies; an entry without a
// message id is never a duplicate and is keyed 0x01 and its event id.
const (
	usageBucketPrefix = 'b'
	usageEntryPrefix  = 'm'
	usageIndexPrefix  = 'x'
)

// UsageRollup is a built-in consumer that keeps usage rollups up to date as usage events arrive:
// it deduplicates usage copies as ccusage does, prices each entry under the three cost modes
// (pipeline/pricing) and adds it to its 15-minute bucket (pipeline/usage). Reports are then sums
// of buckets, never a rescan. Its state commits with its cursor, so buckets count each usage event
// exactly once across crashes.
//
// Claude Code writes several copies of a streamed response with growing output counts. Of two
// copies the non-sidechain one wins, then the one with more tokens, then the one that states its
// speed; the first otherwise. A winning later copy replaces the earlier one in its bucket, and
// keeps the earlier copy's place in file order (its Seq).
type UsageRollup struct {
	st     *store.Store
	prices *pricing.Table
	log    *slog.Logger

	mu      sync.Mutex
	unknown map[string]bool // models already warned about
}

var _ Consumer = (*UsageRollup)(nil)

// NewUsageRollup returns the consumer over st, pricing with prices (pricing.Default() if nil).
func NewUsageRollup(st *store.Store, prices *pricing.Table, log *slog.Logger) *UsageRollup {
	if prices == nil {
		prices = pricing.Default()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &UsageRollup{st: st, prices: prices, log: log, unknown: map[string]bool{}}
}

// Name implements Consumer.
func (*UsageRollup) Name() string { return UsageRollupName }

// usageRecord is one deduplicated entry as the rollup keeps it.
type usageRecord struct {
	entry     usage.Entry
	sidechain bool
	speedSet  bool
}

// rollupBatch is the state one Consume call reads and writes: reads go through it, so that
// entries of one call see each other, and writes land in the store batch at the end.
type rollupBatch struct {
	st      *store.Store
	entries map[string]*usageRecord // by dedup key; nil when known absent
	buckets map[string]*usage.Bucket
	index   map[string]bool // x keys added (true) or deleted (false) in this call
	rebuild map[string]bool // bucket keys whose first or last entry was removed
}

// Consume implements Consumer.
func (u *UsageRollup) Consume(_ context.Context, entries []Entry, b *store.Batch) error {
	rb := &rollupBatch{st: u.st, entries: map[string]*usageRecord{}, buckets: map[string]*usage.Bucket{}, index: map[string]bool{}, rebuild: map[string]bool{}}
	for _, e := range entries {
		if e.Event.Kind != UsageKind {
			continue
		}
		rec, key, err := u.record(e)
		if err != nil {
			return err
		}
		if err := rb.add(key, rec); err != nil {
			return err
		}
	}
	return rb.write(b)
}

// record turns a usage event into its entry and dedup key. A usage event with bad counts is a
// permanent error: the entry goes to the dead-letter queue with the reason.
func (u *UsageRollup) record(e Entry) (*usageRecord, string, error) {
	ev := &e.Event
	get := func(key string) (sdk.Value, bool) {
		for _, a := range ev.Attrs {
			if a.Key == key {
				return a.Value, true
			}
		}
		return sdk.Value{}, false
	}
	count := func(key string) (int64, error) {
		v, ok := get(key)
		if !ok {
			return 0, nil
		}
		if v.Kind() != sdk.KindInt || v.Int() < 0 {
			return 0, Permanent(fmt.Errorf("usage event %s: %s is not a token count", ev.ID, key))
		}
		return v.Int(), nil
	}
	ident := func(key string) string {
		if v, ok := get(key); ok && v.Kind() == sdk.KindIdent {
			return v.Ident()
		}
		return ""
	}
	var u5, u1 int64
	var tok [5]int64
	for i, k := range []string{"input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "cache_creation_5m_tokens"} {
		n, err := count(k)
		if err != nil {
			return nil, "", err
		}
		tok[i] = n
	}
	u5 = tok[4]
	n1, err := count("cache_creation_1h_tokens")
	if err != nil {
		return nil, "", err
	}
	u1 = n1
	_, has5 := get("cache_creation_5m_tokens")
	_, has1 := get("cache_creation_1h_tokens")
	pu := pricing.Usage{Input: tok[0], Output: tok[1], CacheCreation5m: tok[2], CacheRead: tok[3]}
	if has5 || has1 {
		// With a breakdown, ccusage prices and counts the two cache writes and ignores the total.
		pu.CacheCreation5m, pu.CacheCreation1h = u5, u1
	}
	speed := ident("speed")
	pu.Fast = speed == "fast"
	model := ident("model")
	var costUSD float64
	var hasCost bool
	if v, ok := get("cost_usd"); ok && v.Kind() == sdk.KindFloat && !math.IsNaN(v.Float()) && v.Float() >= 0 {
		costUSD, hasCost = v.Float(), true
	}
	en := usage.Entry{
		Time:          ev.Time,
		Session:       ev.SessionID,
		Input:         pu.Input,
		Output:        pu.Output,
		CacheCreation: pu.CacheCreation5m + pu.CacheCreation1h,
		CacheRead:     pu.CacheRead,
		Seq:           int64(e.Seq),
	}
	if v, ok := get("project"); ok && v.Kind() == sdk.KindHash {
		en.Project = hex.EncodeToString(v.Hash())
	}
	priceModel := model
	if model != "" && model != "<synthetic>" {
		en.Model = model
		if pu.Fast {
			en.Model += "-fast"
		}
	} else {
		priceModel = ""
	}
	for _, m := range []struct {
		mode pricing.Mode
		dst  *float64
	}{{pricing.Auto, &en.CostAuto}, {pricing.Calculate, &en.CostCalculate}, {pricing.Display, &en.CostDisplay}} {
		usd, priced := u.prices.EntryCost(m.mode, priceModel, pu, costUSD, hasCost)
		if !priced {
			u.warnUnknown(model)
		}
		*m.dst = usd
	}
	rec := &usageRecord{entry: en, speedSet: speed != ""}
	if v, ok := get("sidechain"); ok {
		rec.sidechain = v.Bool()
	}
	msg, req := ident("message_id"), ident("request_id")
	if msg == "" {
		return rec, "\x01" + string(ev.ID[:]), nil
	}
	return rec, msg + "\x00" + req, nil
}

// warnUnknown logs once per model that it has no price, so costs it with zero.
func (u *UsageRollup) warnUnknown(model string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.unknown[model] {
		u.unknown[model] = true
		u.log.Warn("model has no price: its usage costs 0 (update prices with `agent pricing update --file`)", "model", model)
	}
}

// wins reports whether copy c replaces the kept copy k of the same response.
func wins(c, k *usageRecord) bool {
	if c.sidechain != k.sidechain {
		return !c.sidechain
	}
	if ct, kt := c.entry.Tokens(), k.entry.Tokens(); ct != kt {
		return ct > kt
	}
	return c.speedSet && !k.speedSet
}

// add adds one entry under its dedup key: first copies are added to their bucket, later copies
// replace the kept one if they win.
func (rb *rollupBatch) add(key string, rec *usageRecord) error {
	old, err := rb.entry(key)
	if err != nil {
		return err
	}
	if old != nil {
		if !wins(rec, old) {
			return nil
		}
		rec.entry.Seq = old.entry.Seq
		if err := rb.remove(key, old); err != nil {
			return err
		}
	}
	rb.entries[key] = rec
	bk := string(usage.KeyFor(rec.entry).AppendKey(nil))
	bu, err := rb.bucket(bk)
	if err != nil {
		return err
	}
	bu.Add(rec.entry)
	rb.index[indexKey(bk, key)] = true
	return nil
}

// remove takes a kept entry out of its bucket.
func (rb *rollupBatch) remove(key string, old *usageRecord) error {
	bk := string(usage.KeyFor(old.entry).AppendKey(nil))
	bu, err := rb.bucket(bk)
	if err != nil {
		return err
	}
	if !bu.Remove(old.entry) {
		rb.rebuild[bk] = true
	}
	rb.index[indexKey(bk, key)] = false
	return nil
}

func indexKey(bucketKey, dedupKey string) string { return bucketKey + "\xff" + dedupKey }

// entry returns the kept entry of a dedup key, or nil.
func (rb *rollupBatch) entry(key string) (*usageRecord, error) {
	if rec, ok := rb.entries[key]; ok {
		return rec, nil
	}
	v, err := rb.st.State(UsageRollupName, append([]byte{usageEntryPrefix}, key...))
	if errors.Is(err, store.ErrNotFound) {
		rb.entries[key] = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read usage entry: %w", err)
	}
	rec, err := decodeUsageRecord(v)
	if err != nil {
		return nil, Permanent(err)
	}
	rb.entries[key] = rec
	return rec, nil
}

// bucket returns a bucket by its key bytes, read from the store the first time.
func (rb *rollupBatch) bucket(key string) (*usage.Bucket, error) {
	if bu, ok := rb.buckets[key]; ok {
		return bu, nil
	}
	bk, err := usage.ParseBucketKey([]byte(key))
	if err != nil {
		return nil, fmt.Errorf("usage bucket key: %w", err)
	}
	bu := &usage.Bucket{Key: bk}
	v, err := rb.st.State(UsageRollupName, append([]byte{usageBucketPrefix}, key...))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("read usage bucket: %w", err)
	default:
		if err := bu.UnmarshalBinary(v); err != nil {
			return nil, Permanent(fmt.Errorf("usage bucket: %w", err))
		}
		bu.Key = bk
	}
	rb.buckets[key] = bu
	return bu, nil
}

// write rebuilds the buckets that lost a first or last entry, and puts everything into b.
func (rb *rollupBatch) write(b *store.Batch) error {
	for bk := range rb.rebuild {
		if err := rb.rebuildBucket(bk); err != nil {
			return err
		}
	}
	for key, rec := range rb.entries {
		if rec != nil {
			b.PutState(UsageRollupName, append([]byte{usageEntryPrefix}, key...), rec.appendBinary(nil))
		}
	}
	for key, add := range rb.index {
		k := append([]byte{usageIndexPrefix}, key...)
		if add {
			b.PutState(UsageRollupName, k, nil)
		} else {
			b.DeleteState(UsageRollupName, k)
		}
	}
	for key, bu := range rb.buckets {
		k := append([]byte{usageBucketPrefix}, key...)
		if bu.Entries == 0 {
			b.DeleteState(UsageRollupName, k)
			continue
		}
		v, err := bu.AppendBinary(nil)
		if err != nil {
			return Permanent(err)
		}
		b.PutState(UsageRollupName, k, v)
	}
	return nil
}

// rebuildBucket sums a bucket again from the entries it holds: after a removal that took its
// first or last entry, First and Last cannot be known otherwise.
func (rb *rollupBatch) rebuildBucket(bk string) error {
	members := map[string]bool{}
	prefix := append([]byte{usageIndexPrefix}, bk...)
	prefix = append(prefix, 0xff)
	err := rb.st.ScanState(UsageRollupName, prefix, func(k, _ []byte) error {
		members[string(k[len(prefix):])] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan usage bucket entries: %w", err)
	}
	for ik, add := range rb.index {
		if dk, ok := bytes.CutPrefix([]byte(ik), []byte(bk+"\xff")); ok {
			members[string(dk)] = add
		}
	}
	bu := rb.buckets[bk]
	*bu = usage.Bucket{Key: bu.Key}
	for dk, in := range members {
		if !in {
			continue
		}
		rec, err := rb.entry(dk)
		if err != nil {
			return err
		}
		if rec != nil {
			bu.Add(rec.entry)
		}
	}
	return nil
}

// appendBinary encodes the record: version 1, flags (bit 0 sidechain, bit 1 speed set), Unix ms,
// seq (varints), session, project, model (uvarint length and bytes), input, output, cache
// creation, cache read (uvarints), the three costs (float64 bits, little-endian), limit reset
// (varint Unix ms, 0 for none).
func (r *usageRecord) appendBinary(b []byte) []byte {
	var flags byte
	if r.sidechain {
		flags |= 1
	}
	if r.speedSet {
		flags |= 2
	}
	e := &r.entry
	b = append(b, 1, flags)
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

// errUsageRecord means a stored usage record does not decode.
var errUsageRecord = errors.New("usage rollup: malformed stored entry")

func decodeUsageRecord(b []byte) (*usageRecord, error) {
	if len(b) < 2 || b[0] != 1 {
		return nil, errUsageRecord
	}
	r := &usageRecord{sidechain: b[1]&1 != 0, speedSet: b[1]&2 != 0}
	b = b[2:]
	bad := false
	varint := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	uvarint := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	str := func() string {
		n := uvarint()
		if bad || n > uint64(len(b)) {
			bad = true
			return ""
		}
		s := string(b[:n])
		b = b[n:]
		return s
	}
	e := &r.entry
	e.Time = time.UnixMilli(varint()).UTC()
	e.Seq = varint()
	e.Session, e.Project, e.Model = str(), str(), str()
	for _, p := range []*int64{&e.Input, &e.Output, &e.CacheCreation, &e.CacheRead} {
		*p = int64(uvarint())
	}
	for _, p := range []*float64{&e.CostAuto, &e.CostCalculate, &e.CostDisplay} {
		if bad || len(b) < 8 {
			bad = true
			break
		}
		*p = math.Float64frombits(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	if reset := varint(); reset != 0 {
		e.LimitReset = time.UnixMilli(reset).UTC()
	}
	if bad || len(b) != 0 {
		return nil, errUsageRecord
	}
	return r, nil
}

// UsageBuckets returns the rollup's buckets from `from` (inclusive) to `to` (exclusive), in key
// order; zero times leave that end open. The sequence stops at the first error, which it
// reports through err.
func UsageBuckets(st *store.Store, from, to time.Time, err *error) iter.Seq[usage.Bucket] {
	return func(yield func(usage.Bucket) bool) {
		stop := errors.New("stop")
		scanErr := st.ScanState(UsageRollupName, []byte{usageBucketPrefix}, func(k, v []byte) error {
			bk, perr := usage.ParseBucketKey(k[1:])
			if perr != nil {
				return fmt.Errorf("usage bucket key: %w", perr)
			}
			if !from.IsZero() && bk.Start.Before(from) {
				return nil
			}
			if !to.IsZero() && !bk.Start.Before(to) {
				return stop
			}
			bu := usage.Bucket{}
			if derr := bu.UnmarshalBinary(v); derr != nil {
				return fmt.Errorf("usage bucket: %w", derr)
			}
			bu.Key = bk
			if !yield(bu) {
				return stop
			}
			return nil
		})
		if scanErr != nil && !errors.Is(scanErr, stop) && err != nil {
			*err = scanErr
		}
	}
}
