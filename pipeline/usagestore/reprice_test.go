package usagestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/pricing"
	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// TestRecordInferInputs recovers a version 1 record's pricing inputs only when they are
// certain, and pricing with them again gives the costs it had.
func TestRecordInferInputs(t *testing.T) {
	calc := func(model string, u pricing.Usage) float64 {
		c, _ := pricing.Default().Cost(model, u)
		return c
	}
	plain := pricing.Usage{Input: 1000, Output: 2000, CacheRead: 3000}
	entry := func(model string, auto, calculate, display float64) usage.Entry {
		return usage.Entry{Time: recTime, Model: model, Input: 1000, Output: 2000, CacheRead: 3000, CostAuto: auto, CostCalculate: calculate, CostDisplay: display}
	}
	c := calc(sonnet, plain)
	withCache := entry(sonnet, c, c, 0)
	withCache.CacheCreation = 10
	noTokens := usage.Entry{Time: recTime, Model: "acme-coder-1"}
	tests := []struct {
		name   string
		entry  usage.Entry
		wantOK bool
		want   priceInputs
	}{
		{"calculated", entry(sonnet, c, c, 0), true, priceInputs{model: sonnet}},
		{"recorded cost", entry(sonnet, 0.5, c, 0.5), true, priceInputs{model: sonnet, costUSD: 0.5, hasCost: true}},
		{"recorded cost 0", entry(sonnet, 0, c, 0), true, priceInputs{model: sonnet, hasCost: true}},
		{"no model", entry("", 0, 0, 0), true, priceInputs{}},
		{"no tokens", noTokens, true, priceInputs{model: "acme-coder-1"}},
		{"cache writes", withCache, false, priceInputs{}},
		{"fast", entry(sonnet+"-fast", c, c, 0), false, priceInputs{}},
		{"no price or recorded 0", entry("acme-coder-1", 0, 0, 0), false, priceInputs{}},
		{"display and auto disagree", entry(sonnet, 0.4, c, 0.5), false, priceInputs{}},
		{"auto neither recorded nor calculated", entry(sonnet, 0.4, c, 0), false, priceInputs{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &record{entry: tt.entry}
			got := r.inferInputs()
			if got != tt.wantOK || r.in != tt.want || r.hasInputs != tt.wantOK {
				t.Fatalf("got %v %+v (inputs %v), want %v %+v", got, r.in, r.hasInputs, tt.wantOK, tt.want)
			}
			if !got {
				return
			}
			before := r.entry
			r.price(pricing.Default())
			if !sameCosts(&before, &r.entry) {
				t.Errorf("priced again: costs %v %v %v, want %v %v %v", r.entry.CostAuto, r.entry.CostCalculate, r.entry.CostDisplay,
					before.CostAuto, before.CostCalculate, before.CostDisplay)
			}
		})
	}
}

// parseTable parses a price table in LiteLLM's format.
func parseTable(t testing.TB, litellm string) *pricing.Table {
	t.Helper()
	tab, err := pricing.Parse(strings.NewReader(litellm))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// newPrices prices sonnet differently from the embedded table, and acme-coder-1, which the
// embedded table lacks, with a fast multiplier.
const newPrices = `{
  "claude-sonnet-4-20250514": {"input_cost_per_token": 1e-6, "output_cost_per_token": 7e-6, "cache_creation_input_token_cost": 2e-6,
    "cache_read_input_token_cost": 1.5e-7, "input_cost_per_token_above_200k_tokens": 2e-6, "output_cost_per_token_above_200k_tokens": 9e-6},
  "acme-coder-1": {"input_cost_per_token": 2e-6, "output_cost_per_token": 4e-6, "provider_specific_entry": {"fast": 3}}
}`

// syntheticLine is a transcript line of an assistant response of session "synthetic".
func syntheticLine(id, model, ts, usageJSON, extra string) []byte {
	return fmt.Appendf(nil, `{"type":"assistant","isSidechain":false,"cwd":"/x/synthetic","sessionId":"synthetic","requestId":"req_%s","timestamp":%q,%s"message":{"id":"msg_%s","model":%q,"usage":{%s}}}`,
		id, ts, extra, id, model, usageJSON)
}

// syntheticLines are lines the shared transcripts lack: an unknown model, fast mode, 1-hour cache
// writes and a recorded costUSD. Each is its own response (no duplicates). It returns the lines
// and each one's usage as the price table takes it.
func syntheticLines() (lines [][]byte, usages []pricing.Usage, models []string, costs []float64) {
	add := func(id, model, usageJSON, extra string, u pricing.Usage, cost float64) {
		lines = append(lines, syntheticLine(id, model, "2025-07-01T10:0"+id+":00.000Z", usageJSON, extra))
		usages, models, costs = append(usages, u), append(models, model), append(costs, cost)
	}
	add("1", "acme-coder-1", `"input_tokens":1000,"output_tokens":2000,"cache_creation_input_tokens":300,"cache_read_input_tokens":4000`, "",
		pricing.Usage{Input: 1000, Output: 2000, CacheCreation5m: 300, CacheRead: 4000}, -1)
	add("2", "acme-coder-1", `"input_tokens":10,"output_tokens":20,"speed":"fast"`, "",
		pricing.Usage{Input: 10, Output: 20, Fast: true}, -1)
	add("3", sonnet, `"input_tokens":10,"output_tokens":20,"cache_creation_input_tokens":1300,"cache_read_input_tokens":400,"cache_creation":{"ephemeral_5m_input_tokens":300,"ephemeral_1h_input_tokens":1000}`, "",
		pricing.Usage{Input: 10, Output: 20, CacheCreation5m: 300, CacheCreation1h: 1000, CacheRead: 400}, -1)
	add("4", sonnet, `"input_tokens":300000,"output_tokens":20`, `"costUSD":0.125,`,
		pricing.Usage{Input: 300000, Output: 20}, 0.125)
	return lines, usages, models, costs
}

// rollupOf consumes recs into a fresh store with a usage rollup pricing with prices, and returns
// the store, the rollup and its (stopped) runner.
func rollupOf(t testing.TB, recs []pipeline.RawRecord, prices *pricing.Table) (*store.Store, *Rollup) {
	t.Helper()
	st := openPebble(t)
	in := startIntake(t, st, pipeline.Captures{testPlatform: capFunc(usageCapture)}, pipeline.IntakeConfig{})
	for i := 0; i < len(recs); i += 7 {
		submit(t, in, recs[i:min(i+7, len(recs))])
	}
	u := New(st, prices, nil)
	r := startConsumers(t, st, pipeline.ConsumersConfig{BatchSize: 5}, u)
	waitConsumed(t, r)
	r.Close() // Reprice runs with no consumer running
	return st, u
}

// repriceRecords are the shared transcripts and the synthetic lines, as raw records.
func repriceRecords(t testing.TB) []pipeline.RawRecord {
	recs := transcriptRecords(t)
	lines, _, _, _ := syntheticLines()
	for _, l := range lines {
		recs = append(recs, pipeline.RawRecord{ID: sdk.NewID("t", l), Platform: testPlatform, Source: "transcript", ReceivedAt: testDay, Payload: l})
	}
	return recs
}

// TestRollupReprice reprices the real transcripts and synthetic lines with another table:
// the buckets equal those of a rollup that priced with that table from the start, the synthetic
// session costs what pricing.Table.Cost says, a second reprice changes nothing, and a reprice
// with the original table gives back the original entries and buckets.
func TestRollupReprice(t *testing.T) {
	recs := repriceRecords(t)
	st, u := rollupOf(t, recs, nil)
	before := usageState(t, st)
	beforeBuckets := bucketsOf(t, st)
	if got, want := unpricedModels(t, st), []string{"acme-coder-1"}; !slices.Equal(got, want) {
		t.Errorf("unpriced before: got %v, want %v", got, want)
	}
	entries := 0
	for k := range before {
		if k[0] == entryPrefix {
			entries++
		}
	}

	prices := parseTable(t, newPrices)
	res, err := u.Reprice(context.Background(), prices, "new")
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries != entries || res.Repriced != entries || res.Kept != 0 || res.Changed == 0 || len(res.Unpriced) != 0 || res.Buckets != len(beforeBuckets) {
		t.Errorf("reprice: %+v, want %d entries all repriced, some changed, %d buckets, none unpriced", res, entries, len(beforeBuckets))
	}
	if id, err := u.TableID(); err != nil || id != "new" {
		t.Errorf("table id: %q, %v; want new", id, err)
	}
	checkBucketsConsistent(t, st)
	fresh, _ := rollupOf(t, recs, prices)
	compareBuckets(t, "repriced vs priced from the start", bucketsOf(t, st), bucketsOf(t, fresh))

	_, usages, models, recorded := syntheticLines()
	var wantAuto, wantCalc, wantDisplay float64
	for i, uu := range usages {
		c, ok := prices.Cost(models[i], uu)
		if !ok {
			t.Fatalf("no price for %s", models[i])
		}
		wantCalc += c
		if recorded[i] >= 0 {
			wantAuto += recorded[i]
			wantDisplay += recorded[i]
		} else {
			wantAuto += c
		}
	}
	var gotAuto, gotCalc, gotDisplay float64
	for _, bu := range bucketsOf(t, st) {
		if bu.Key.Session == "synthetic" {
			gotAuto, gotCalc, gotDisplay = gotAuto+bu.CostAuto, gotCalc+bu.CostCalculate, gotDisplay+bu.CostDisplay
		}
	}
	for _, c := range []struct {
		mode      string
		got, want float64
	}{{"auto", gotAuto, wantAuto}, {"calculate", gotCalc, wantCalc}, {"display", gotDisplay, wantDisplay}} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("synthetic session, %s: got %v, want %v", c.mode, c.got, c.want)
		}
	}

	once := usageState(t, st)
	if _, err := u.Reprice(context.Background(), prices, "new"); err != nil {
		t.Fatal(err)
	}
	if again := usageState(t, st); !maps.Equal(again, once) {
		t.Errorf("a second reprice with the same table changed the state")
	}

	if _, err := u.Reprice(context.Background(), pricing.Default(), "embedded"); err != nil {
		t.Fatal(err)
	}
	after := usageState(t, st)
	for k, v := range before {
		if k[0] != bucketPrefix && after[k] != v {
			t.Errorf("key %q after repricing with the original table: got %x, want %x", k, after[k], v)
		}
	}
	compareBuckets(t, "back to the original table", bucketsOf(t, st), beforeBuckets)
}

// TestRollupRepriceInterrupted cuts a reprice after some batches: every bucket is still the
// sum of its entries, the table id is unchanged, and a second reprice completes it.
func TestRollupRepriceInterrupted(t *testing.T) {
	defer func(n int) { repriceBatchEntries = n }(repriceBatchEntries)
	repriceBatchEntries = 1 // a batch per bucket
	recs := repriceRecords(t)
	st, u := rollupOf(t, recs, nil)
	prices := parseTable(t, newPrices)

	ctx := &cutContext{Context: context.Background(), left: 3}
	if _, err := u.Reprice(ctx, prices, "new"); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted reprice: %v, want context.Canceled", err)
	}
	checkBucketsConsistent(t, st)
	if id, _ := u.TableID(); id != "" {
		t.Errorf("table id after an interrupted reprice: %q, want none", id)
	}
	fresh, _ := rollupOf(t, recs, prices)
	old, _ := rollupOf(t, recs, nil)
	got, repriced, original := bucketsOf(t, st), bucketsOf(t, fresh), bucketsOf(t, old)
	var nNew, nOld int
	for i := range got {
		switch {
		case got[i].CostCalculate == original[i].CostCalculate:
			nOld++
		case math.Abs(got[i].CostCalculate-repriced[i].CostCalculate) < 1e-9:
			nNew++
		}
	}
	if nNew == 0 || nOld == 0 {
		t.Errorf("an interrupted reprice left %d buckets repriced, %d not; want some of each", nNew, nOld)
	}

	if _, err := u.Reprice(context.Background(), prices, "new"); err != nil {
		t.Fatal(err)
	}
	compareBuckets(t, "completed", bucketsOf(t, st), repriced)
	if id, _ := u.TableID(); id != "new" {
		t.Errorf("table id: %q, want new", id)
	}
}

// cutContext is canceled once Err has been asked left times.
type cutContext struct {
	context.Context
	left int
}

func (c *cutContext) Err() error {
	if c.left--; c.left < 0 {
		return context.Canceled
	}
	return nil
}

// TestRollupRepriceV1 reprices entries stored by an older agent: those whose pricing inputs
// can be inferred are repriced (and stored as version 2), the others keep their costs.
func TestRollupRepriceV1(t *testing.T) {
	st := openPebble(t)
	u := New(st, nil, nil)
	consumeNow(t, st, u,
		usageEvent(1, "plain", sonnet, recTime, sdk.Int("input_tokens", 1000), sdk.Int("output_tokens", 2000)),
		usageEvent(2, "cached", sonnet, recTime, sdk.Int("input_tokens", 1000), sdk.Int("output_tokens", 2000), sdk.Int("cache_creation_tokens", 500)))
	// Store both as version 1.
	b := st.NewBatch()
	v1 := map[string]usage.Entry{}
	err := st.ScanState(Name, []byte{entryPrefix}, func(k, v []byte) error {
		rec, err := decodeRecord(v)
		if err != nil {
			return err
		}
		b.PutState(Name, bytes.Clone(k), appendV1(rec))
		v1[string(k)] = rec.entry
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}

	prices := parseTable(t, newPrices)
	res, err := u.Reprice(context.Background(), prices, "new")
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries != 2 || res.Repriced != 1 || res.Changed != 1 || res.Kept != 1 {
		t.Errorf("reprice: %+v, want 2 entries: 1 repriced and changed, 1 kept", res)
	}
	tests := []struct {
		name        string
		key         string
		wantVersion byte
		wantCost    float64
	}{
		{"inferable", "mmsg_plain\x00req_plain", recordV2, func() float64 {
			c, _ := prices.Cost(sonnet, pricing.Usage{Input: 1000, Output: 2000})
			return c
		}()},
		{"cache writes", "mmsg_cached\x00req_cached", recordV1, v1["mmsg_cached\x00req_cached"].CostCalculate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := st.State(Name, []byte(tt.key))
			if err != nil {
				t.Fatal(err)
			}
			rec, err := decodeRecord(v)
			if err != nil {
				t.Fatal(err)
			}
			if v[0] != tt.wantVersion || rec.entry.CostCalculate != tt.wantCost || rec.entry.CostAuto != tt.wantCost {
				t.Errorf("got version %d, costs %v/%v; want version %d, cost %v", v[0], rec.entry.CostAuto, rec.entry.CostCalculate, tt.wantVersion, tt.wantCost)
			}
		})
	}
	checkBucketsConsistent(t, st)
}
