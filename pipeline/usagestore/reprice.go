package usagestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/hangar-dev/hangar/pipeline/pricing"
	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/store"
)

// table returns the table the rollup prices with.
func (u *Rollup) table() *pricing.Table {
	if t := u.prices.Load(); t != nil {
		return t
	}
	return pricing.Default()
}

// SetPrices makes the rollup price the entries it consumes from now on with prices. Stored
// entries keep their costs: [Rollup.Reprice] prices them again.
func (u *Rollup) SetPrices(prices *pricing.Table) { u.prices.Store(prices) }

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
func (r *record) usage() pricing.Usage {
	e := &r.entry
	return pricing.Usage{Input: e.Input, Output: e.Output, CacheCreation5m: e.CacheCreation - r.in.cache1h,
		CacheCreation1h: r.in.cache1h, CacheRead: e.CacheRead, Fast: r.in.fast}
}

// price sets the entry's three costs from its pricing inputs with t, as ccusage prices an entry
// under each cost mode, and reports whether t lacks a price the entry needed (it then costs 0).
func (r *record) price(t *pricing.Table) (unpriced bool) {
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
func (r *record) inferInputs() bool {
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

// repriceBatchEntries is about how many entries one batch of a Reprice rewrites (a variable for
// tests).
var repriceBatchEntries = 1024

// RepriceResult is what a [Rollup.Reprice] did.
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
// [Rollup.TableID] returns it once the reprice is complete.
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
func (u *Rollup) Reprice(ctx context.Context, prices *pricing.Table, tableID string) (RepriceResult, error) {
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
	err := u.st.ScanState(Name, []byte{bucketPrefix}, func(k, v []byte) error {
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
	err = u.st.ScanState(Name, []byte{unpricedPrefix}, func(k, _ []byte) error {
		if !unpriced[string(k[1:])] {
			b.DeleteState(Name, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("reprice usage: %w", err)
	}
	for model := range unpriced {
		b.PutState(Name, append([]byte{unpricedPrefix}, model...), nil)
		res.Unpriced = append(res.Unpriced, model)
	}
	b.PutState(Name, []byte{tableKey}, []byte(tableID))
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
func (u *Rollup) repriceBucket(b *store.Batch, bk, old []byte, prices *pricing.Table, unpriced map[string]bool, res *RepriceResult) (int, error) {
	key, err := usage.ParseBucketKey(bk)
	if err != nil {
		return 0, fmt.Errorf("usage bucket key: %w", err)
	}
	prefix := append(append([]byte{indexPrefix}, bk...), 0xff)
	var members [][]byte
	err = u.st.ScanState(Name, prefix, func(k, _ []byte) error {
		members = append(members, append([]byte{entryPrefix}, k[len(prefix):]...))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("scan usage bucket entries: %w", err)
	}
	bu := usage.Bucket{Key: key}
	for _, mk := range members {
		v, err := u.st.State(Name, mk)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read usage entry: %w", err)
		}
		rec, err := decodeRecord(v)
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
				b.PutState(Name, mk, nv)
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
	bkey := append([]byte{bucketPrefix}, bk...)
	if bu.Entries == 0 {
		b.DeleteState(Name, bkey)
		return 0, nil
	}
	nv, err := bu.AppendBinary(nil)
	if err != nil {
		return 0, fmt.Errorf("usage bucket: %w", err)
	}
	if !bytes.Equal(nv, old) {
		b.PutState(Name, bkey, nv)
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
func (u *Rollup) TableID() (string, error) {
	v, err := u.st.State(Name, []byte{tableKey})
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read usage price table id: %w", err)
	}
	return string(v), nil
}
