package pricing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// opt is a rate a table may or may not publish.
type opt struct {
	v  float64
	ok bool
}

func (o opt) or(base float64) float64 {
	if o.ok {
		return o.v
	}
	return base
}

// entry is one row of a table, in the shape ccusage keeps it: base rates with ccusage's defaults
// filled in, and each long-context rate only if the source publishes it.
type entry struct {
	key    string
	source Source

	in, out, cw5, cr                 float64
	inLong, outLong, cw5Long, crLong opt

	// threshold and whole are set for models.dev context tiers; LiteLLM tiers are marginal at
	// DefaultThreshold.
	threshold int64
	whole     bool

	fast float64
}

func (e entry) hasTier() bool { return e.inLong.ok || e.outLong.ok || e.cw5Long.ok || e.crLong.ok }

func (e entry) price() Price {
	p := Price{
		Key:    e.key,
		Source: e.source,
		Base: Rates{
			Input:        e.in,
			Output:       e.out,
			CacheWrite5m: e.cw5,
			CacheWrite1h: e.in * cacheWrite1hInputMultiplier,
			CacheRead:    e.cr,
		},
		FastMultiplier: e.fast,
	}
	p.Long = Rates{
		Input:        e.inLong.or(e.in),
		Output:       e.outLong.or(e.out),
		CacheWrite5m: e.cw5Long.or(e.cw5),
		CacheWrite1h: p.Base.CacheWrite1h,
		CacheRead:    e.crLong.or(e.cr),
	}
	if e.inLong.ok {
		p.Long.CacheWrite1h = e.inLong.v * cacheWrite1hInputMultiplier
	}
	switch {
	case e.whole:
		p.Threshold, p.WholeRequest = e.threshold, true
	case e.hasTier():
		p.Threshold = DefaultThreshold
	}
	return p
}

// ccusage prices a 1-hour cache write at twice the input rate, whatever the table says.
const cacheWrite1hInputMultiplier = 2.0

// ccusage's defaults for rates a table leaves out.
const (
	defaultCacheWriteInputMultiplier = 1.25
	defaultCacheReadInputMultiplier  = 0.1
)

// LiteLLM field names of the rates ccusage reads.
const (
	fieldInput          = "input_cost_per_token"
	fieldOutput         = "output_cost_per_token"
	fieldCacheWrite     = "cache_creation_input_token_cost"
	fieldCacheRead      = "cache_read_input_token_cost"
	fieldInputLong      = "input_cost_per_token_above_200k_tokens"
	fieldOutputLong     = "output_cost_per_token_above_200k_tokens"
	fieldCacheWriteLong = "cache_creation_input_token_cost_above_200k_tokens"
	fieldCacheReadLong  = "cache_read_input_token_cost_above_200k_tokens"
	fieldProvider       = "provider_specific_entry"
	fieldMaxInput       = "max_input_tokens"
)

// parseLiteLLM decodes a LiteLLM price table into entries.
func parseLiteLLM(data []byte) (map[string]entry, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return nil, fmt.Errorf("parse price table: %w: not JSON: %v", ErrInvalidTable, err)
	}
	if !isObject(data) {
		return nil, fmt.Errorf("parse price table: %w: top level is %s, want an object of model prices",
			ErrInvalidTable, jsonKind(data))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse price table: %w: %v", ErrInvalidTable, err)
	}
	entries := make(map[string]entry, len(raw))
	for model, value := range raw {
		e, ok, err := parseLiteLLMEntry(model, value)
		if err != nil {
			return nil, fmt.Errorf("parse price table: %w: model %q: %v", ErrInvalidTable, model, err)
		}
		if ok {
			entries[model] = e
		}
	}
	return entries, nil
}

func parseLiteLLMEntry(model string, value json.RawMessage) (entry, bool, error) {
	if model == "" || !isObject(value) {
		return entry{}, false, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(value, &fields); err != nil {
		return entry{}, false, err
	}
	rate := func(name string) (opt, error) {
		raw, ok := fields[name]
		if !ok || isNull(raw) {
			return opt{}, nil
		}
		v, err := number(raw)
		if err != nil {
			return opt{}, fmt.Errorf("%s: %w", name, err)
		}
		return opt{v: v, ok: true}, nil
	}
	var (
		r   [8]opt
		err error
	)
	for i, name := range []string{fieldInput, fieldOutput, fieldCacheWrite, fieldCacheRead,
		fieldInputLong, fieldOutputLong, fieldCacheWriteLong, fieldCacheReadLong} {
		if r[i], err = rate(name); err != nil {
			return entry{}, false, err
		}
	}
	fast := opt{}
	if raw, ok := fields[fieldProvider]; ok && !isNull(raw) {
		if !isObject(raw) {
			return entry{}, false, nil // ccusage cannot decode the entry and skips it
		}
		var provider map[string]json.RawMessage
		if err := json.Unmarshal(raw, &provider); err != nil {
			return entry{}, false, err
		}
		if f, ok := provider["fast"]; ok && !isNull(f) {
			v, err := number(f)
			if err != nil {
				return entry{}, false, fmt.Errorf("%s.fast: %w", fieldProvider, err)
			}
			fast = opt{v: v, ok: true}
		}
	}
	if raw, ok := fields[fieldMaxInput]; ok && !isNull(raw) && !isTokenCount(raw) {
		return entry{}, false, nil // ccusage cannot decode the entry (LiteLLM's sample_spec)
	}
	in, out := r[0], r[1]
	if !in.ok || !out.ok {
		return entry{}, false, nil
	}
	return entry{
		key:     model,
		source:  SourceLiteLLM,
		in:      in.v,
		out:     out.v,
		cw5:     r[2].or(in.v * defaultCacheWriteInputMultiplier),
		cr:      r[3].or(in.v * defaultCacheReadInputMultiplier),
		inLong:  r[4],
		outLong: r[5],
		cw5Long: r[6],
		crLong:  r[7],
		fast:    fast.or(fastMultiplier(model)),
	}, true, nil
}

// modelsDevEntry is one model of ccusage's models.dev snapshot; rates are USD per million tokens.
type modelsDevEntry struct {
	Cost *struct {
		modelsDevRates
		Tiers []struct {
			modelsDevRates
			Tier *struct {
				Type string `json:"type"`
				Size int64  `json:"size"`
			} `json:"tier"`
		} `json:"tiers"`
	} `json:"cost"`
	ExactOnly bool `json:"exactOnly"`
}

type modelsDevRates struct {
	Input      *float64 `json:"input"`
	Output     *float64 `json:"output"`
	CacheRead  *float64 `json:"cache_read"`
	CacheWrite *float64 `json:"cache_write"`
}

func perToken(perMillion *float64) opt {
	if perMillion == nil {
		return opt{}
	}
	return opt{v: *perMillion / 1_000_000, ok: true}
}

// parseModelsDev decodes the embedded models.dev snapshot the way ccusage loads its own: a model
// needs input and output rates that are not both zero; of its context tiers (tier.type "context"),
// the one with the smallest positive size is kept.
func parseModelsDev(data []byte) (map[string]entry, exactOnly, error) {
	var raw map[string]modelsDevEntry
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, exactOnly{}, fmt.Errorf("parse models.dev table: %w", err)
	}
	entries := make(map[string]entry, len(raw))
	exact := exactOnly{raw: map[string]bool{}, norm: map[string]string{}}
	for model, m := range raw {
		if m.Cost == nil || m.Cost.Input == nil || m.Cost.Output == nil {
			continue
		}
		if *m.Cost.Input == 0 && *m.Cost.Output == 0 {
			continue
		}
		in, out := perToken(m.Cost.Input).v, perToken(m.Cost.Output).v
		e := entry{
			key:    model,
			source: SourceModelsDev,
			in:     in,
			out:    out,
			cw5:    perToken(m.Cost.CacheWrite).or(in * defaultCacheWriteInputMultiplier),
			cr:     perToken(m.Cost.CacheRead).or(in * defaultCacheReadInputMultiplier),
			fast:   fastMultiplier(model),
		}
		for _, tier := range m.Cost.Tiers {
			if tier.Tier == nil || tier.Tier.Type != "context" || tier.Tier.Size <= 0 {
				continue
			}
			if e.whole && tier.Tier.Size >= e.threshold {
				continue
			}
			e.whole, e.threshold = true, tier.Tier.Size
			e.inLong, e.outLong = perToken(tier.Input), perToken(tier.Output)
			e.cw5Long, e.crLong = perToken(tier.CacheWrite), perToken(tier.CacheRead)
		}
		entries[model] = e
		if m.ExactOnly {
			exact.insert(model)
		}
	}
	return entries, exact, nil
}

// exactOnly holds models.dev ids that only a request naming them may use: separately priced tiers
// such as claude-opus-5-fast, which a fuzzy match must neither return nor bypass.
type exactOnly struct {
	raw  map[string]bool
	norm map[string]string // '.'/'@'-normalized spelling -> id; "" when two ids share it
}

func (x *exactOnly) insert(id string) {
	x.raw[id] = true
	n := normalizeKey(id)
	if cur, ok := x.norm[n]; ok && cur != id {
		x.norm[n] = ""
		return
	}
	x.norm[n] = id
}

// containsAnySpelling reports whether model is an exact-only id as written or as normalized.
func (x exactOnly) containsAnySpelling(model string) bool {
	if x.raw[model] {
		return true
	}
	_, ok := x.norm[normalizeKey(model)]
	return ok
}

// idSpelledBy returns the one exact-only id that model spells with other separators.
func (x exactOnly) idSpelledBy(model string) (string, bool) {
	id := x.norm[normalizeKey(model)]
	return id, id != ""
}

// fastOverrides are ccusage's fast-speed multipliers for table keys whose entry has none.
var fastOverrides = struct {
	exact  map[string]float64
	prefix []struct {
		base string
		mult float64
	}
}{
	exact: map[string]float64{
		"gpt-5.6-sol": 2, "gpt-5.6-terra": 2, "gpt-5.6-luna": 2, "gpt-5.5": 2.5, "gpt-5.4": 2,
		"gpt-5.3-codex": 2, "gpt-6-astra": 2,
	},
	prefix: []struct {
		base string
		mult float64
	}{{"claude-opus-4-6", 6}, {"claude-opus-4-7", 6}, {"claude-opus-4-8", 2}},
}

// fastMultiplier returns ccusage's fast multiplier for a table key: an exact override, else the
// first '/'- or ':'-separated part of the normalized key that ends in an override's base, or in
// the base followed by '-' and more ("us.anthropic.claude-opus-4-6-v1" gets claude-opus-4-6's).
func fastMultiplier(key string) float64 {
	if m, ok := fastOverrides.exact[key]; ok {
		return m
	}
	parts := strings.FieldsFunc(normalizeKey(key), func(r rune) bool { return r == '/' || r == ':' })
	for _, part := range parts {
		for _, o := range fastOverrides.prefix {
			i := strings.LastIndex(part, o.base)
			if i < 0 {
				continue
			}
			if rest := part[i+len(o.base):]; rest == "" || rest[0] == '-' {
				return o.mult
			}
		}
	}
	return 1
}

// builtins are ccusage's built-in Claude rates, used for keys the LiteLLM table lacks.
func builtins() map[string]entry {
	b := func(key string, in, out, cw, cr, fast float64) entry {
		return entry{key: key, source: SourceBuiltin, in: in, out: out, cw5: cw, cr: cr, fast: fast}
	}
	m := map[string]entry{
		"claude-opus-4-5":           b("claude-opus-4-5", 5e-6, 25e-6, 6.25e-6, 0.5e-6, 1),
		"claude-opus-4-6":           b("claude-opus-4-6", 5e-6, 25e-6, 6.25e-6, 0.5e-6, fastMultiplier("claude-opus-4-6")),
		"claude-opus-4-7":           b("claude-opus-4-7", 5e-6, 25e-6, 6.25e-6, 0.5e-6, fastMultiplier("claude-opus-4-7")),
		"claude-opus-4-8":           b("claude-opus-4-8", 5e-6, 25e-6, 6.25e-6, 0.5e-6, fastMultiplier("claude-opus-4-8")),
		"claude-haiku-4-5":          b("claude-haiku-4-5", 1e-6, 5e-6, 1.25e-6, 0.1e-6, 1),
		"claude-opus-4":             b("claude-opus-4", 15e-6, 75e-6, 18.75e-6, 1.5e-6, 1),
		"claude-sonnet-4-6":         b("claude-sonnet-4-6", 3e-6, 15e-6, 3.75e-6, 0.3e-6, 1),
		"claude-sonnet-4":           b("claude-sonnet-4", 3e-6, 15e-6, 3.75e-6, 0.3e-6, 1),
		"claude-3-5-haiku":          b("claude-3-5-haiku", 0.8e-6, 4e-6, 1.0e-6, 0.08e-6, 1),
		"claude-3-5-haiku-20241022": b("claude-3-5-haiku-20241022", 0.8e-6, 4e-6, 1.0e-6, 0.08e-6, 1),
		"claude-3-opus":             b("claude-3-opus", 15e-6, 75e-6, 18.75e-6, 1.5e-6, 1),
		"claude-3-sonnet":           b("claude-3-sonnet", 3e-6, 15e-6, 3.75e-6, 0.3e-6, 1),
		"claude-3-haiku":            b("claude-3-haiku", 0.25e-6, 1.25e-6, 0.3e-6, 0.03e-6, 1),
	}
	s := m["claude-sonnet-4"]
	s.inLong, s.outLong = opt{6e-6, true}, opt{22.5e-6, true}
	s.cw5Long, s.crLong = opt{7.5e-6, true}, opt{0.6e-6, true}
	m["claude-sonnet-4"] = s
	return m
}

func isObject(raw []byte) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

func isNull(raw []byte) bool { return string(bytes.TrimSpace(raw)) == "null" }

func jsonKind(raw []byte) string {
	t := bytes.TrimLeft(raw, " \t\r\n")
	if len(t) == 0 {
		return "empty"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// number decodes a non-negative JSON number.
func number(raw []byte) (float64, error) {
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("%s is %s, want a number", bytes.TrimSpace(raw), jsonKind(raw))
	}
	if v < 0 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%v is not a price, want a non-negative number", v)
	}
	return v, nil
}

// isTokenCount reports whether raw is a JSON integer that fits an unsigned 64-bit count.
func isTokenCount(raw []byte) bool {
	var n uint64
	return json.Unmarshal(raw, &n) == nil
}
