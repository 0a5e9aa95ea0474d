package pricing

import (
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// Errors returned by this package, wrapped with the operation that failed.
var (
	// ErrInvalidTable reports a price table that [Parse] refuses.
	ErrInvalidTable = errors.New("pricing: invalid price table")
	// ErrUnknownMode reports a cost mode other than auto, calculate or display.
	ErrUnknownMode = errors.New("pricing: unknown cost mode")
)

// DefaultThreshold is the token count above which LiteLLM's *_above_200k_tokens rates apply.
const DefaultThreshold = 200_000

var (
	//go:embed litellm.json
	litellmSnapshot []byte
	//go:embed modelsdev.json
	modelsDevSnapshot []byte
)

// Usage is the token usage of ONE request (one deduplicated transcript entry). Tiers apply per
// request, so usages must not be summed before pricing.
type Usage struct {
	Input  int64 // usage.input_tokens
	Output int64 // usage.output_tokens
	// CacheCreation5m is usage.cache_creation.ephemeral_5m_input_tokens when usage.cache_creation
	// is present, else all of usage.cache_creation_input_tokens.
	CacheCreation5m int64
	// CacheCreation1h is usage.cache_creation.ephemeral_1h_input_tokens (0 without the breakdown).
	CacheCreation1h int64
	CacheRead       int64 // usage.cache_read_input_tokens
	Fast            bool  // usage.speed == "fast"
}

// Rates are prices in USD per token, one per token class.
type Rates struct {
	Input        float64
	Output       float64
	CacheWrite5m float64
	CacheWrite1h float64
	CacheRead    float64
}

// Source names the table a [Price] comes from.
type Source string

// Sources of a price.
const (
	SourceLiteLLM   Source = "litellm"    // the LiteLLM table (embedded, or given to Parse)
	SourceBuiltin   Source = "builtin"    // ccusage's built-in rates for names LiteLLM lacks
	SourceModelsDev Source = "models.dev" // ccusage's models.dev fallback table
)

// Price is the price of one model, as resolved by [Table.Lookup]. It is a value; changing it
// changes nothing else.
type Price struct {
	// Key is the table key that priced the model, Source the table it belongs to.
	Key    string
	Source Source
	// Base are the rates at or below Threshold.
	Base Rates
	// Long are the rates above Threshold. A class without a published long-context rate has its
	// base rate here.
	Long Rates
	// Threshold is the token count above which Long applies; 0 when the model has no tier.
	Threshold int64
	// WholeRequest is how Threshold applies: false (LiteLLM) compares each class's tokens with it
	// and bills only the tokens beyond it at the Long rate; true (models.dev) compares the request's
	// input + cache tokens with it and bills the whole request at the Long rates.
	WholeRequest bool
	// FastMultiplier multiplies the cost of a request whose speed is "fast".
	FastMultiplier float64
}

// Cost returns the cost in USD of one request with usage u.
func (p Price) Cost(u Usage) float64 {
	mult := 1.0
	if u.Fast {
		mult = p.FastMultiplier
	}
	if p.Threshold > 0 && p.WholeRequest {
		r := p.Base
		if u.Input+u.CacheRead+u.CacheCreation5m+u.CacheCreation1h > p.Threshold {
			r = p.Long
		}
		return (float64(u.Input)*r.Input +
			float64(u.Output)*r.Output +
			float64(u.CacheCreation5m)*r.CacheWrite5m +
			float64(u.CacheCreation1h)*r.CacheWrite1h +
			float64(u.CacheRead)*r.CacheRead) * mult
	}
	th := p.Threshold
	return (tiered(u.Input, p.Base.Input, p.Long.Input, th) +
		tiered(u.Output, p.Base.Output, p.Long.Output, th) +
		tiered(u.CacheCreation5m, p.Base.CacheWrite5m, p.Long.CacheWrite5m, th) +
		tiered(u.CacheCreation1h, p.Base.CacheWrite1h, p.Long.CacheWrite1h, th) +
		tiered(u.CacheRead, p.Base.CacheRead, p.Long.CacheRead, th)) * mult
}

// tiered bills the first th tokens at base and the rest at long (marginal tiering).
func tiered(tokens int64, base, long float64, th int64) float64 {
	if tokens == 0 {
		return 0
	}
	if th > 0 && long != base && tokens > th {
		return float64(th)*base + float64(tokens-th)*long
	}
	return float64(tokens) * base
}

// Table is a set of model prices with ccusage's name matching. It is immutable and safe for
// concurrent use; lookups are memoized.
type Table struct {
	primary  map[string]entry // LiteLLM entries, then built-ins for the keys LiteLLM lacks
	fallback map[string]entry // models.dev entries
	exact    exactOnly        // models.dev ids that only an exact request may use
	memo     sync.Map         // model name -> lookupResult
	memoLen  atomic.Int64     // entries in memo, capped at maxMemo
}

// maxMemo bounds the lookups a Table remembers, whatever names a transcript holds.
const maxMemo = 4096

type lookupResult struct {
	price Price
	ok    bool
}

var defaultTable = sync.OnceValue(func() *Table {
	primary, err := parseLiteLLM(litellmSnapshot)
	if err != nil {
		panic(fmt.Sprintf("pricing: embedded litellm.json: %v", err))
	}
	fallback, exact, err := parseModelsDev(modelsDevSnapshot)
	if err != nil {
		panic(fmt.Sprintf("pricing: embedded modelsdev.json: %v", err))
	}
	for key, e := range builtins() {
		if _, ok := primary[key]; !ok {
			primary[key] = e
		}
	}
	t := &Table{primary: primary, fallback: fallback, exact: exact}
	t.fillLongContext()
	return t
})

// SnapshotID identifies the embedded prices [Default] is made of (the two snapshots and the
// built-in entries): "embedded:" and the first 16 hex digits of their SHA-256. It changes with
// them, so that usage priced by another build's prices can be told apart and repriced. It is
// computed once, on first use.
func SnapshotID() string { return snapshotID() }

var snapshotID = sync.OnceValue(func() string {
	return snapshotIDOf(litellmSnapshot, modelsDevSnapshot, builtinsText())
})

// builtinsText renders the built-in entries, sorted by name, for SnapshotID.
func builtinsText() []byte {
	m := builtins()
	var b []byte
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = fmt.Appendf(b, "%s %+v\n", k, m[k])
	}
	return b
}

// snapshotIDOf is SnapshotID for the snapshots parts: each is hashed after its length, so that
// moving bytes from one to the next changes the id.
func snapshotIDOf(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(p))))
		h.Write(p)
	}
	return "embedded:" + hex.EncodeToString(h.Sum(nil)[:8])
}

// Default returns the table of the embedded snapshots: ccusage 20.0.24's offline prices for Claude
// models. It is parsed once, on first use.
func Default() *Table { return defaultTable() }

// Parse reads a price table in LiteLLM's format (model_prices_and_context_window.json: an object
// of model name to an object with input_cost_per_token, output_cost_per_token, ...) and returns
// [Default] updated with its entries, as ccusage updates its embedded table with a fresh LiteLLM
// download: an entry of the file replaces the entry of the same name, every other entry stays.
//
// Parse refuses input that is not a JSON object, a cost field (input_cost_per_token,
// output_cost_per_token, cache_creation_input_token_cost, cache_read_input_token_cost, their
// _above_200k_tokens variants, provider_specific_entry.fast) that is not a non-negative number or
// null, and a file without a single priced model; the errors wrap [ErrInvalidTable]. It ignores
// unknown fields and, as ccusage does, skips entries that are not objects, that lack an input or an
// output price, or whose max_input_tokens is not a token count (LiteLLM's sample_spec).
func Parse(r io.Reader) (*Table, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read price table: %w", err)
	}
	entries, err := parseLiteLLM(data)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("parse price table: %w: no model with both input and output prices", ErrInvalidTable)
	}
	d := Default()
	t := &Table{primary: maps.Clone(d.primary), fallback: d.fallback, exact: d.exact}
	maps.Copy(t.primary, entries)
	t.fillLongContext()
	return t, nil
}

// Len returns the number of priced model names the table holds, fallback entries included.
func (t *Table) Len() int { return len(t.primary) + len(t.fallback) }

// Lookup returns the price of model, matched as ccusage matches it (see the package
// documentation), and whether there is one.
func (t *Table) Lookup(model string) (Price, bool) {
	if model == "" {
		return Price{}, false
	}
	if v, ok := t.memo.Load(model); ok {
		r := v.(lookupResult)
		return r.price, r.ok
	}
	e, ok := t.find(model)
	r := lookupResult{ok: ok}
	if ok {
		r.price = e.price()
	}
	if t.memoLen.Load() < maxMemo {
		if _, loaded := t.memo.LoadOrStore(model, r); !loaded {
			t.memoLen.Add(1)
		}
	}
	return r.price, r.ok
}

// Cost returns the cost in USD of one request of model with usage u, and whether the model has a
// price. An unknown model costs 0.
func (t *Table) Cost(model string, u Usage) (usd float64, known bool) {
	p, ok := t.Lookup(model)
	if !ok {
		return 0, false
	}
	return p.Cost(u), true
}

// fillLongContext copies models.dev context tiers onto primary entries that publish no
// long-context rate, looking the models.dev table up by the entry's exact key without a trailing
// date (-YYYYMMDD or -YYYY-MM-DD), as ccusage does after every load.
func (t *Table) fillLongContext() {
	for key, e := range t.primary {
		if e.hasTier() {
			continue
		}
		src, ok := t.fallback[withoutDateSuffix(key)]
		if !ok || !src.whole {
			continue
		}
		e.inLong, e.outLong, e.cw5Long, e.crLong = src.inLong, src.outLong, src.cw5Long, src.crLong
		e.threshold, e.whole = src.threshold, true
		t.primary[key] = e
	}
}

// withoutDateSuffix strips a trailing -YYYY-MM-DD or -YYYYMMDD.
func withoutDateSuffix(model string) string {
	if n := len(model); n > 11 {
		s := model[n-11:]
		if s[0] == '-' && digits(s[1:5]) && s[5] == '-' && digits(s[6:8]) && s[8] == '-' && digits(s[9:]) {
			return model[:n-11]
		}
	}
	if n := len(model); n > 9 {
		if s := model[n-9:]; s[0] == '-' && digits(s[1:]) {
			return model[:n-9]
		}
	}
	return model
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
