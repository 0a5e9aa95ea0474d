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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
//	m <dedup key>               → the entry that won its duplicates (usageRecord), with its
//	                              pricing inputs from version 2 on
//	x <bucket key> 0xff <dedup> → nothing: which entries a bucket holds, to rebuild it
//	u <model>                   → nothing: a model (as the price table matches it) that had no
//	                              price when one of its entries was last priced: it counts 0 USD
//	p                           → the id of the price table the last complete Reprice used
//	                              (absent: never repriced, so the embedded table)
//
// A dedup key is message id 0x00 request id, as ccusage keys usage copies; an entry without a
// message id is never a duplicate and is keyed 0x01 and its event id.
const (
	usageBucketPrefix   = 'b'
	usageEntryPrefix    = 'm'
	usageIndexPrefix    = 'x'
	usageUnpricedPrefix = 'u'
	usageTableKey       = 'p'
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
//
// An entry whose model has no price costs 0: the rollup logs one warning per model and keeps the
// model's name in its state (see [UnpricedModels]) until a [UsageRollup.Reprice] finds a price.
//
// Consume, SetPrices and Reprice are safe for concurrent use; Consume and Reprice never overlap.
type UsageRollup struct {
	st     *store.Store
	prices atomic.Pointer[pricing.Table]
	log    *slog.Logger

	run sync.Mutex // held by Consume and Reprice

	mu      sync.Mutex
	unknown map[string]bool // models already warned about
}

var _ Consumer = (*UsageRollup)(nil)

// NewUsageRollup returns the consumer over st, pricing with prices (nil: pricing.Default(), read
// when the first usage event needs it, so that a command that opens the store only to read pays
// nothing for it) and logging to log (nil discards).
func NewUsageRollup(st *store.Store, prices *pricing.Table, log *slog.Logger) *UsageRollup {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := &UsageRollup{st: st, log: log, unknown: map[string]bool{}}
	if prices != nil {
		u.prices.Store(prices)
	}
	return u
}

// table returns the table the rollup prices with.
func (u *UsageRollup) table() *pricing.Table {
	if t := u.prices.Load(); t != nil {
		return t
	}
	return pricing.Default()
}

// SetPrices makes the rollup price the entries it consumes from now on with prices. Stored
// entries keep their costs: [UsageRollup.Reprice] prices them again.
func (u *UsageRollup) SetPrices(prices *pricing.Table) { u.prices.Store(prices) }

// Name implements Consumer.
func (*UsageRollup) Name() string { return UsageRollupName }

// usageRecord is one deduplicated entry as the rollup keeps it.
type usageRecord struct {
	entry     usage.Entry
	sidechain bool
	speedSet  bool
	// hasInputs is false for a version 1 record, which kept no pricing inputs; in is then zero.
	hasInputs bool
	in        priceInputs
}

// priceInputs are what pricing an entry takes besides its token counts (usage.Entry).
type priceInputs struct {
	// model is the name the price table is asked for: the event's model, without the "-fast"
	// that usage.Entry.Model gets; "" for none or "<synthetic>", which costs 0.
	model string
	// cache1h is the 1-hour share of the entry's cache writes (the rest are 5-minute writes).
	cache1h int64
	fast    bool // usage.speed == "fast"
	// costUSD is the transcript's recorded costUSD, if hasCost.
	costUSD float64
	hasCost bool
}

// usage returns the entry's token usage as the price table takes it.
func (r *usageRecord) usage() pricing.Usage {
	e := &r.entry
	return pricing.Usage{Input: e.Input, Output: e.Output, CacheCreation5m: e.CacheCreation - r.in.cache1h,
		CacheCreation1h: r.in.cache1h, CacheRead: e.CacheRead, Fast: r.in.fast}
}

// price sets the entry's three costs from its pricing inputs with t, as ccusage prices an entry
// under each cost mode, and reports whether t lacks a price the entry needed (it then costs 0).
func (r *usageRecord) price(t *pricing.Table) (unpriced bool) {
	pu := r.usage()
	for _, m := range []struct {
		mode pricing.Mode
		dst  *float64
	}{{pricing.Auto, &r.entry.CostAuto}, {pricing.Calculate, &r.entry.CostCalculate}, {pricing.Display, &r.entry.CostDisplay}} {
		usd, priced := t.EntryCost(m.mode, r.in.model, pu, r.in.costUSD, r.in.hasCost)
		*m.dst = usd
		unpriced = unpriced || !priced
	}
	return unpriced
}

// inferInputs recovers the pricing inputs of a version 1 record from what it kept, when they are
// certain, and reports whether they were. They are not when the entry has cache writes (their
// 1-hour share is lost), a model name ending in "-fast" (fast mode, or a name that ends so), or
// a model name, tokens and a cost of 0 in every mode (no price, or a recorded costUSD of 0).
func (r *usageRecord) inferInputs() bool {
	e := &r.entry
	if r.hasInputs {
		return true
	}
	if e.CacheCreation != 0 || strings.HasSuffix(e.Model, "-fast") {
		return false
	}
	in := priceInputs{model: e.Model}
	switch {
	case e.CostDisplay != 0: // display is the recorded costUSD, and auto uses it
		if e.CostAuto != e.CostDisplay {
			return false
		}
		in.costUSD, in.hasCost = e.CostDisplay, true
	case e.CostAuto != e.CostCalculate: // a recorded costUSD of 0
		if e.CostAuto != 0 {
			return false
		}
		in.hasCost = true
	case e.CostCalculate != 0: // no costUSD: auto calculated
	case e.Model == "" || e.Tokens() == 0: // every reading costs 0 in every mode
	default:
		return false
	}
	r.hasInputs, r.in = true, in
	return true
}

// rollupBatch is the state one Consume call reads and writes: reads go through it, so that
// entries of one call see each other, and writes land in the store batch at the end.
type rollupBatch struct {
	st       *store.Store
	entries  map[string]*usageRecord // by dedup key; nil when known absent
	buckets  map[string]*usage.Bucket
	index    map[string]bool // x keys added (true) or deleted (false) in this call
	rebuild  map[string]bool // bucket keys whose first or last entry was removed
	unpriced map[string]bool // models without a price in this call
}

// Consume implements Consumer.
func (u *UsageRollup) Consume(_ context.Context, entries []Entry, b *store.Batch) error {
	u.run.Lock()
	defer u.run.Unlock()
	var prices *pricing.Table // read at the first usage event
	rb := &rollupBatch{st: u.st, entries: map[string]*usageRecord{}, buckets: map[string]*usage.Bucket{}, index: map[string]bool{}, rebuild: map[string]bool{}, unpriced: map[string]bool{}}
	for _, e := range entries {
		if e.Event.Kind != UsageKind {
			continue
		}
		rec, key, err := u.record(e)
		if err != nil {
			return err
		}
		if prices == nil {
			prices = u.table()
		}
		if rec.price(prices) {
			rb.unpriced[rec.in.model] = true
			u.warnUnknown(rec.in.model)
		}
		if err := rb.add(key, rec); err != nil {
			return err
		}
	}
	return rb.write(b)
}

// record turns a usage event into its entry (not priced yet) and dedup key. A usage event with
// bad counts is a permanent error: the entry goes to the dead-letter queue with the reason.
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
	var tok [6]int64
	for i, k := range []string{"input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "cache_creation_5m_tokens", "cache_creation_1h_tokens"} {
		n, err := count(k)
		if err != nil {
			return nil, "", err
		}
		tok[i] = n
	}
	rec := &usageRecord{hasInputs: true}
	cacheCreation := tok[2]
	_, has5 := get("cache_creation_5m_tokens")
	_, has1 := get("cache_creation_1h_tokens")
	if has5 || has1 {
		// With a breakdown, ccusage prices and counts the two cache writes and ignores the total.
		cacheCreation, rec.in.cache1h = tok[4]+tok[5], tok[5]
	}
	speed := ident("speed")
	rec.speedSet, rec.in.fast = speed != "", speed == "fast"
	if v, ok := get("cost_usd"); ok && v.Kind() == sdk.KindFloat && !math.IsNaN(v.Float()) && v.Float() >= 0 {
		rec.in.costUSD, rec.in.hasCost = v.Float(), true
	}
	rec.entry = usage.Entry{
		Time:          ev.Time,
		Session:       ev.SessionID,
		Input:         tok[0],
		Output:        tok[1],
		CacheCreation: cacheCreation,
		CacheRead:     tok[3],
		Seq:           int64(e.Seq),
	}
	if v, ok := get("project"); ok && v.Kind() == sdk.KindHash {
		rec.entry.Project = hex.EncodeToString(v.Hash())
	}
	if model := ident("model"); model != "" && model != "<synthetic>" {
		rec.in.model, rec.entry.Model = model, model
		if rec.in.fast {
			rec.entry.Model += "-fast"
		}
	}
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
	for model := range rb.unpriced {
		b.PutState(UsageRollupName, append([]byte{usageUnpricedPrefix}, model...), nil)
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

// repriceBatchEntries is about how many entries one batch of a Reprice rewrites (a variable for
// tests).
var repriceBatchEntries = 1024

// RepriceResult is what a [UsageRollup.Reprice] did.
type RepriceResult struct {
	// Entries counts the stored entries (deduplicated usage); Buckets the buckets summed again.
	Entries int `json:"entries"`
	Buckets int `json:"buckets"`
	// Repriced counts the entries priced again from their pricing inputs; Changed those of them
	// whose cost changed in some cost mode.
	Repriced int `json:"repriced"`
	Changed  int `json:"changed"`
	// Kept counts the entries an older agent stored without the pricing inputs a price needs
	// (and that cannot be inferred exactly): they keep their costs.
	Kept int `json:"kept"`
	// Unpriced are the models that still have no price, sorted: their usage counts 0 USD.
	Unpriced []string `json:"unpriced"`
}

// Reprice makes prices the rollup's table (as SetPrices does) and prices every stored entry again
// with it: each entry's costs are computed from its pricing inputs, each bucket is summed again
// from its entries, and the models without a price are recorded anew. tableID names the table:
// [UsageRollup.TableID] returns it once the reprice is complete.
//
// Reprice writes in batches of whole buckets, so a bucket always holds the sum of its entries. A
// Reprice that fails or is cut by a crash leaves some buckets priced with the new table and some
// with the old, and TableID unchanged; running it again completes it (repricing is idempotent).
// Version 1 entries whose pricing inputs cannot be inferred exactly keep their costs.
//
// Reprice must not run while a batch the consumer filled may still be committing: Consume's writes
// commit after it returns, and would overwrite Reprice's. The caller stops the Consumers runner
// (Close) before and starts a new one after; a Consume called meanwhile (a dead-letter replay)
// waits until Reprice returns.
func (u *UsageRollup) Reprice(ctx context.Context, prices *pricing.Table, tableID string) (RepriceResult, error) {
	u.run.Lock()
	defer u.run.Unlock()
	u.prices.Store(prices)
	res := RepriceResult{Unpriced: []string{}}
	unpriced := map[string]bool{}
	b := u.st.NewBatch()
	defer func() { b.Close() }()
	pending := 0
	commit := func() error {
		if err := b.Commit(); err != nil {
			return err
		}
		b, pending = u.st.NewBatch(), 0
		return nil
	}
	err := u.st.ScanState(UsageRollupName, []byte{usageBucketPrefix}, func(k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := u.repriceBucket(b, bytes.Clone(k[1:]), v, prices, unpriced, &res)
		if err != nil {
			return err
		}
		if pending += n + 1; pending >= repriceBatchEntries {
			return commit()
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("reprice usage: %w", err)
	}
	err = u.st.ScanState(UsageRollupName, []byte{usageUnpricedPrefix}, func(k, _ []byte) error {
		if !unpriced[string(k[1:])] {
			b.DeleteState(UsageRollupName, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("reprice usage: %w", err)
	}
	for model := range unpriced {
		b.PutState(UsageRollupName, append([]byte{usageUnpricedPrefix}, model...), nil)
		res.Unpriced = append(res.Unpriced, model)
	}
	b.PutState(UsageRollupName, []byte{usageTableKey}, []byte(tableID))
	if err := commit(); err != nil {
		return res, fmt.Errorf("reprice usage: %w", err)
	}
	slices.Sort(res.Unpriced)
	u.mu.Lock()
	u.unknown = unpriced // reported by the reprice: no need to warn again
	u.mu.Unlock()
	return res, nil
}

// repriceBucket prices the entries of the bucket whose key bytes are bk and whose stored value is
// old, sums the bucket again, and puts what changed into b. It returns the bucket's entry count.
func (u *UsageRollup) repriceBucket(b *store.Batch, bk, old []byte, prices *pricing.Table, unpriced map[string]bool, res *RepriceResult) (int, error) {
	key, err := usage.ParseBucketKey(bk)
	if err != nil {
		return 0, fmt.Errorf("usage bucket key: %w", err)
	}
	prefix := append(append([]byte{usageIndexPrefix}, bk...), 0xff)
	var members [][]byte
	err = u.st.ScanState(UsageRollupName, prefix, func(k, _ []byte) error {
		members = append(members, append([]byte{usageEntryPrefix}, k[len(prefix):]...))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("scan usage bucket entries: %w", err)
	}
	bu := usage.Bucket{Key: key}
	for _, mk := range members {
		v, err := u.st.State(UsageRollupName, mk)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read usage entry: %w", err)
		}
		rec, err := decodeUsageRecord(v)
		if err != nil {
			return 0, fmt.Errorf("usage entry %q: %w", mk[1:], err)
		}
		res.Entries++
		if rec.inferInputs() {
			before := rec.entry
			if rec.price(prices) {
				unpriced[rec.in.model] = true
			}
			res.Repriced++
			if !sameCosts(&before, &rec.entry) {
				res.Changed++
			}
			if nv := rec.appendBinary(nil); !bytes.Equal(nv, v) {
				b.PutState(UsageRollupName, mk, nv)
			}
		} else {
			res.Kept++
			if model := strings.TrimSuffix(rec.entry.Model, "-fast"); model != "" && rec.entry.Tokens() > 0 {
				if _, ok := prices.Lookup(model); !ok {
					unpriced[model] = true
				}
			}
		}
		bu.Add(rec.entry)
	}
	res.Buckets++
	bkey := append([]byte{usageBucketPrefix}, bk...)
	if bu.Entries == 0 {
		b.DeleteState(UsageRollupName, bkey)
		return 0, nil
	}
	nv, err := bu.AppendBinary(nil)
	if err != nil {
		return 0, fmt.Errorf("usage bucket: %w", err)
	}
	if !bytes.Equal(nv, old) {
		b.PutState(UsageRollupName, bkey, nv)
	}
	return len(members), nil
}

// sameCosts reports whether two entries have the same costs, to the bit.
func sameCosts(a, b *usage.Entry) bool {
	return math.Float64bits(a.CostAuto) == math.Float64bits(b.CostAuto) &&
		math.Float64bits(a.CostCalculate) == math.Float64bits(b.CostCalculate) &&
		math.Float64bits(a.CostDisplay) == math.Float64bits(b.CostDisplay)
}

// TableID returns the id of the price table of the last complete Reprice, "" if none ran.
func (u *UsageRollup) TableID() (string, error) {
	v, err := u.st.State(UsageRollupName, []byte{usageTableKey})
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read usage price table id: %w", err)
	}
	return string(v), nil
}

// UnpricedModels returns, sorted, the models the usage rollup found no price for: their usage
// counts 0 USD until a reprice finds one.
func UnpricedModels(st *store.Store) ([]string, error) {
	out := []string{}
	err := st.ScanState(UsageRollupName, []byte{usageUnpricedPrefix}, func(k, _ []byte) error {
		out = append(out, string(k[1:]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("unpriced models: %w", err)
	}
	return out, nil
}

// Versions of a stored usageRecord.
const (
	usageRecordV1 = 1 // the entry and its costs
	usageRecordV2 = 2 // and its pricing inputs, so that it can be priced again
)

// Flags of a stored usageRecord; version 1 knows only the first two.
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
func (r *usageRecord) appendBinary(b []byte) []byte {
	var flags byte
	if r.sidechain {
		flags |= recSidechain
	}
	if r.speedSet {
		flags |= recSpeedSet
	}
	e := &r.entry
	if !r.hasInputs {
		b = append(b, usageRecordV1, flags)
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
		b = append(b, usageRecordV2, flags)
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

// errUsageRecord means a stored usage record does not decode.
var errUsageRecord = errors.New("usage rollup: malformed stored entry")

// decodeUsageRecord decodes a record of version 1 or 2 (see appendBinary).
func decodeUsageRecord(b []byte) (*usageRecord, error) {
	if len(b) < 2 {
		return nil, errUsageRecord
	}
	version, flags := b[0], b[1]
	switch {
	case version == usageRecordV1 && flags&^recV1Flags == 0:
	case version == usageRecordV2 && flags&^recV2Flags == 0:
	default:
		return nil, errUsageRecord
	}
	r := &usageRecord{sidechain: flags&recSidechain != 0, speedSet: flags&recSpeedSet != 0, hasInputs: version == usageRecordV2}
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
	uvarint := func() int64 {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > math.MaxInt64 {
			bad = true
			return 0
		}
		b = b[n:]
		return int64(v)
	}
	str := func() string {
		n := uvarint()
		if bad || n > int64(len(b)) {
			bad = true
			return ""
		}
		s := string(b[:n])
		b = b[n:]
		return s
	}
	float := func() float64 {
		if bad || len(b) < 8 {
			bad = true
			return 0
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(b))
		b = b[8:]
		return f
	}
	e := &r.entry
	e.Time = time.UnixMilli(varint()).UTC()
	e.Seq = varint()
	e.Session, e.Project, e.Model = str(), str(), str()
	if r.hasInputs {
		r.in.model = e.Model
		if flags&recPriceModel != 0 {
			r.in.model = str()
		}
	}
	for _, p := range []*int64{&e.Input, &e.Output, &e.CacheCreation, &e.CacheRead} {
		*p = uvarint()
	}
	if r.hasInputs {
		r.in.cache1h = uvarint()
		r.in.fast = flags&recFast != 0
		if r.in.cache1h > e.CacheCreation {
			bad = true
		}
	}
	e.CostAuto, e.CostCalculate, e.CostDisplay = float(), float(), float()
	if flags&recCostUSD != 0 {
		r.in.costUSD, r.in.hasCost = float(), true
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
