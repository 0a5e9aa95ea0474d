package usagestore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/pricing"
	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// Name is the name of the usage rollup consumer: its cursor and its state in the store.
const Name = "usage"

// Kind is the kind of the events the usage rollup reads: one assistant API response's token
// usage, as the Claude Code capture plugin reduces a transcript line.
const Kind = "transcript.usage"

// Rollup is a built-in consumer that keeps the usage rollup in the store up to date as usage
// events arrive: it deduplicates usage copies as ccusage does, prices each entry under the three
// cost modes (pipeline/pricing) and adds it to its 15-minute bucket (pipeline/usage). Reports are
// then sums of buckets, never a rescan. Its state commits with its cursor, so buckets count each
// usage event exactly once across crashes.
//
// Claude Code writes several copies of a streamed response with growing output counts. Of two
// copies the non-sidechain one wins, then the one with more tokens, then the one that states its
// speed; the first otherwise. A winning later copy replaces the earlier one in its bucket, and
// keeps the earlier copy's place in file order (its Seq).
//
// An entry whose model has no price costs 0: the rollup logs one warning per model and keeps the
// model's name in its state (see [UnpricedModels]) until a [Rollup.Reprice] finds a price.
//
// Consume, SetPrices and Reprice are safe for concurrent use; Consume and Reprice never overlap.
type Rollup struct {
	st     *store.Store
	prices atomic.Pointer[pricing.Table]
	log    *slog.Logger

	run sync.Mutex // held by Consume and Reprice

	mu      sync.Mutex
	unknown map[string]bool // models already warned about
}

var _ pipeline.Consumer = (*Rollup)(nil)

// New returns the consumer over st, pricing with prices (nil: pricing.Default(), read when the
// first usage event needs it, so that a command that opens the store only to read pays nothing
// for it) and logging to log (nil discards).
func New(st *store.Store, prices *pricing.Table, log *slog.Logger) *Rollup {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := &Rollup{st: st, log: log, unknown: map[string]bool{}}
	if prices != nil {
		u.prices.Store(prices)
	}
	return u
}

// Name implements pipeline.Consumer.
func (*Rollup) Name() string { return Name }

// rollupBatch is the state one Consume call reads and writes: reads go through it, so that
// entries of one call see each other, and writes land in the store batch at the end.
type rollupBatch struct {
	st       *store.Store
	entries  map[string]*record // by dedup key; nil when known absent
	buckets  map[string]*usage.Bucket
	index    map[string]bool // x keys added (true) or deleted (false) in this call
	rebuild  map[string]bool // bucket keys whose first or last entry was removed
	unpriced map[string]bool // models without a price in this call
}

// Consume implements pipeline.Consumer.
func (u *Rollup) Consume(_ context.Context, entries []pipeline.Entry, b *store.Batch) error {
	u.run.Lock()
	defer u.run.Unlock()
	var prices *pricing.Table // read at the first usage event
	rb := &rollupBatch{st: u.st, entries: map[string]*record{}, buckets: map[string]*usage.Bucket{}, index: map[string]bool{}, rebuild: map[string]bool{}, unpriced: map[string]bool{}}
	for _, e := range entries {
		if e.Event.Kind != Kind {
			continue
		}
		rec, key, err := recordOf(e)
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

// recordOf turns a usage event into its entry (not priced yet) and dedup key: message id 0x00
// request id, or for an entry without a message id, which is never a duplicate, 0x01 and its event
// id. A usage event with bad counts is a permanent error: the entry goes to the dead-letter queue
// with the reason.
func recordOf(e pipeline.Entry) (*record, string, error) {
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
			return 0, pipeline.Permanent(fmt.Errorf("usage event %s: %s is not a token count", ev.ID, key))
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
	rec := &record{hasInputs: true}
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
func (u *Rollup) warnUnknown(model string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.unknown[model] {
		u.unknown[model] = true
		u.log.Warn("model has no price: its usage costs 0 (update prices with `agent pricing update --file`)", "model", model)
	}
}

// wins reports whether copy c replaces the kept copy k of the same response.
func wins(c, k *record) bool {
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
func (rb *rollupBatch) add(key string, rec *record) error {
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
func (rb *rollupBatch) remove(key string, old *record) error {
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

// entry returns the kept entry of a dedup key, or nil.
func (rb *rollupBatch) entry(key string) (*record, error) {
	if rec, ok := rb.entries[key]; ok {
		return rec, nil
	}
	v, err := rb.st.State(Name, append([]byte{entryPrefix}, key...))
	if errors.Is(err, store.ErrNotFound) {
		rb.entries[key] = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read usage entry: %w", err)
	}
	rec, err := decodeRecord(v)
	if err != nil {
		return nil, pipeline.Permanent(err)
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
	v, err := rb.st.State(Name, append([]byte{bucketPrefix}, key...))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("read usage bucket: %w", err)
	default:
		if err := bu.UnmarshalBinary(v); err != nil {
			return nil, pipeline.Permanent(fmt.Errorf("usage bucket: %w", err))
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
			b.PutState(Name, append([]byte{entryPrefix}, key...), rec.appendBinary(nil))
		}
	}
	for model := range rb.unpriced {
		b.PutState(Name, append([]byte{unpricedPrefix}, model...), nil)
	}
	for key, add := range rb.index {
		k := append([]byte{indexPrefix}, key...)
		if add {
			b.PutState(Name, k, nil)
		} else {
			b.DeleteState(Name, k)
		}
	}
	for key, bu := range rb.buckets {
		k := append([]byte{bucketPrefix}, key...)
		if bu.Entries == 0 {
			b.DeleteState(Name, k)
			continue
		}
		v, err := bu.AppendBinary(nil)
		if err != nil {
			return pipeline.Permanent(err)
		}
		b.PutState(Name, k, v)
	}
	return nil
}

// rebuildBucket sums a bucket again from the entries it holds: after a removal that took its
// first or last entry, First and Last cannot be known otherwise.
func (rb *rollupBatch) rebuildBucket(bk string) error {
	members := map[string]bool{}
	prefix := append([]byte{indexPrefix}, bk...)
	prefix = append(prefix, 0xff)
	err := rb.st.ScanState(Name, prefix, func(k, _ []byte) error {
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
