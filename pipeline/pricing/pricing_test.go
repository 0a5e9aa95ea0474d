package pricing

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

// sonnet4 is claude-sonnet-4-20250514 in the snapshot: $3/$15 per Mtok, cache write $3.75, cache
// read $0.30; above 200k tokens $6/$22.50, $7.50, $0.60.
const sonnet4 = "claude-sonnet-4-20250514"

func TestCostTiers(t *testing.T) {
	for _, tc := range []struct {
		name string
		u    Usage
		want float64
	}{
		{"input exactly 200k is all base", Usage{Input: 200_000}, 200_000 * 3e-6},
		{"input 200k+1: one token at the long rate", Usage{Input: 200_001}, 200_000*3e-6 + 6e-6},
		{"output above 200k", Usage{Output: 250_000}, 200_000*15e-6 + 50_000*22.5e-6},
		{"cache read above 200k", Usage{CacheRead: 300_000}, 200_000*0.3e-6 + 100_000*0.6e-6},
		{"5m cache write above 200k", Usage{CacheCreation5m: 300_000}, 200_000*3.75e-6 + 100_000*7.5e-6},
		{"classes are tiered separately, not summed", Usage{Input: 150_000, CacheRead: 150_000}, 150_000*3e-6 + 150_000*0.3e-6},
		{"only the class above 200k is tiered", Usage{Input: 300_000, Output: 10}, 200_000*3e-6 + 100_000*6e-6 + 10*15e-6},
		{"1h cache write is twice the input rate", Usage{CacheCreation5m: 100, CacheCreation1h: 400}, 100*3.75e-6 + 400*6e-6},
		{"1h cache write above 200k: twice the long input rate", Usage{CacheCreation1h: 300_000}, 200_000*6e-6 + 100_000*12e-6},
		{"nothing", Usage{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Default().Cost(sonnet4, tc.u)
			if !ok || !near(got, tc.want) {
				t.Errorf("Cost = %v, %v; want %v, true", got, ok, tc.want)
			}
		})
	}
}

func TestCostWholeRequestTier(t *testing.T) {
	// claude-opus-4-6-think is only in the models.dev table: $5/$25, cache write $6.25, read $0.50;
	// its context tier (above 200k) is $10/$37.50, $12.50, $1, for the whole request.
	const model = "claude-opus-4-6-think"
	for _, tc := range []struct {
		name string
		u    Usage
		want float64
	}{
		{"context exactly 200k stays base", Usage{Input: 100, Output: 10, CacheRead: 199_900}, 100*5e-6 + 10*25e-6 + 199_900*0.5e-6},
		{"context 200k+1 bills everything long", Usage{Input: 101, Output: 10, CacheRead: 199_900}, 101*10e-6 + 10*37.5e-6 + 199_900*1e-6},
		{"cache writes count toward the context", Usage{Input: 1, CacheCreation5m: 100_000, CacheCreation1h: 100_000}, 1*10e-6 + 100_000*12.5e-6 + 100_000*20e-6},
		{"output does not count toward the context", Usage{Output: 300_000}, 300_000 * 25e-6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Default().Cost(model, tc.u)
			if !ok || !near(got, tc.want) {
				t.Errorf("Cost = %v, %v; want %v, true", got, ok, tc.want)
			}
		})
	}
}

func TestCostFast(t *testing.T) {
	u := Usage{Input: 1000, Output: 2000, CacheCreation1h: 10_000}
	base := 1000*5e-6 + 2000*25e-6 + 10_000*10e-6
	for _, tc := range []struct {
		model string
		mult  float64
	}{
		{"claude-opus-4-6", 6},                     // ccusage's override for the claude-opus-4-6 family
		{"claude-opus-4-8", 2},                     // LiteLLM's provider_specific_entry.fast
		{"claude-opus-4-5", 1},                     // no fast multiplier
		{"global.anthropic.claude-opus-4-6-v1", 6}, // the override matches the family in any key
	} {
		p, ok := Default().Lookup(tc.model)
		if !ok {
			t.Fatalf("Lookup(%q) = false", tc.model)
		}
		fast := u
		fast.Fast = true
		if got := p.Cost(fast); !near(got, base*tc.mult) {
			t.Errorf("%s fast: %v, want %v", tc.model, got, base*tc.mult)
		}
		if got := p.Cost(u); !near(got, base) {
			t.Errorf("%s standard: %v, want %v", tc.model, got, base)
		}
	}
}

func TestUnknownModel(t *testing.T) {
	for _, model := range []string{"", "claude-unknown-9", "Claude-Sonnet-4-20250514", "claude-sonnet-4-7", "gpt-4o"} {
		if got, ok := Default().Cost(model, Usage{Input: 1000}); got != 0 || ok {
			t.Errorf("Cost(%q) = %v, %v; want 0, false", model, got, ok)
		}
	}
}

func TestLookupNames(t *testing.T) {
	for _, tc := range []struct {
		model, key string
		source     Source
	}{
		{"claude-sonnet-4-20250514", "claude-sonnet-4-20250514", SourceLiteLLM},
		{"us.anthropic.claude-sonnet-4-20250514-v1:0", "us.anthropic.claude-sonnet-4-20250514-v1:0", SourceLiteLLM},
		// A provider prefix: the key is contained in the name after a '/' boundary.
		{"anthropic/claude-sonnet-4-20250514", "claude-sonnet-4-20250514", SourceLiteLLM},
		{"anthropic/claude-opus-4.1", "claude-opus-4-1", SourceLiteLLM},
		// The name is contained in longer keys: the longest wins, then the lexically smallest.
		{"claude-3-5-sonnet-20241022", "eu.anthropic.claude-3-5-sonnet-20241022-v2:0", SourceLiteLLM},
		{"claude-sonnet-4@20250514", "global.anthropic.claude-sonnet-4-20250514-v1:0", SourceLiteLLM},
		{"claude-opus-4.1", "eu.anthropic.claude-opus-4-1-20250805-v1:0", SourceLiteLLM},
		// A date suffix does not start a new version; other suffixes after a boundary are fine.
		{"claude-sonnet-5-20260901", "claude-sonnet-5", SourceLiteLLM},
		{"claude-sonnet-4-5-20250929-v2", "claude-sonnet-4-5-20250929", SourceLiteLLM},
		{"claude-opus-4-6[1m]", "claude-opus-4-6", SourceLiteLLM},
		// Built-in rates for names LiteLLM lacks.
		{"claude-3-5-haiku-20241022", "claude-3-5-haiku-20241022", SourceBuiltin},
		{"claude-sonnet-4", "claude-sonnet-4", SourceBuiltin},
		// models.dev: exact-only tiers win over the fuzzy match of their base model.
		{"claude-opus-5-fast", "claude-opus-5-fast", SourceModelsDev},
		{"claude-opus-5.fast", "claude-opus-5-fast", SourceModelsDev},
		{"claude-opus-5-eu", "claude-opus-5@eu", SourceModelsDev},
		{"claude-3-7-sonnet-latest", "claude-3-7-sonnet-latest", SourceModelsDev},
	} {
		p, ok := Default().Lookup(tc.model)
		if !ok || p.Key != tc.key || p.Source != tc.source {
			t.Errorf("Lookup(%q) = %q from %s, %v; want %q from %s", tc.model, p.Key, p.Source, ok, tc.key, tc.source)
		}
	}
	for _, model := range []string{
		"claude-sonnet-4-7", // a new minor version does not match claude-sonnet-4
		"claude-opus-4-10",  // nor claude-opus-4-1
		"claude-haiku-4-6",
		"Claude-Sonnet-4-20250514", // case-sensitive
	} {
		if p, ok := Default().Lookup(model); ok {
			t.Errorf("Lookup(%q) = %q, want no price", model, p.Key)
		}
	}
}

func TestMatchingPrimitives(t *testing.T) {
	for _, tc := range []struct {
		value, key string
		want       bool
	}{
		{"anthropic/claude-sonnet-4", "claude-sonnet-4", true},
		{"claude-sonnet-4-20250514", "claude-sonnet-4", true},   // 8-digit date
		{"claude-sonnet-4-5", "claude-sonnet-4", false},         // new version
		{"claude-sonnet-4.5", "claude-sonnet-4", false},         // new version, dotted
		{"claude-sonnet-4-2025051", "claude-sonnet-4", false},   // 7 digits is a version
		{"claude-sonnet-4-202505140", "claude-sonnet-4", false}, // 9 digits too
		{"claude-sonnet-4-20250514x", "claude-sonnet-4", false}, // date not at a boundary
		{"claude-sonnet-4-v1", "claude-sonnet-4", true},
		{"claude-sonnet-4x", "claude-sonnet-4", false},
		{"xclaude-sonnet-4", "claude-sonnet-4", false},
		{"claude-haiku-latest", "claude-haiku", true}, // key ends in a letter: any separator
		{"", "claude", false},
		{"claude", "", false},
	} {
		if got := containsKey(tc.value, tc.key); got != tc.want {
			t.Errorf("containsKey(%q, %q) = %v, want %v", tc.value, tc.key, got, tc.want)
		}
	}
	if got := withoutDateSuffix("claude-opus-4-6-20260205"); got != "claude-opus-4-6" {
		t.Errorf("withoutDateSuffix = %q", got)
	}
	if got := withoutDateSuffix("gpt-5.5-2026-04-23"); got != "gpt-5.5" {
		t.Errorf("withoutDateSuffix = %q", got)
	}
}

const tinyTable = `{
	"sample_spec": {"input_cost_per_token": 0, "output_cost_per_token": 0, "max_input_tokens": "max input tokens"},
	"my-model": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "litellm_provider": "custom",
		"mode": "chat", "supports_vision": true},
	"claude-sonnet-4-20250514": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6,
		"cache_read_input_token_cost": null},
	"claude-sonnet-4": {"input_cost_per_token": 3e-6, "output_cost_per_token": 15e-6},
	"image-model": {"output_cost_per_image": 0.04},
	"not-an-object": 3
}`

func TestParse(t *testing.T) {
	tab, err := Parse(strings.NewReader(tinyTable))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	// A new model, with ccusage's defaults for missing cache rates.
	p, ok := tab.Lookup("my-model")
	want := Rates{Input: 1e-6, Output: 2e-6, CacheWrite5m: 1.25e-6, CacheWrite1h: 2e-6, CacheRead: 0.1e-6}
	if !ok || p.Source != SourceLiteLLM || p.Threshold != 0 || !ratesNear(p.Base, want) {
		t.Errorf("my-model: %+v, %v; want base %+v", p, ok, want)
	}
	// An entry of the file replaces the embedded one, whole: its LiteLLM tier is gone. Having no
	// tier, it gets the context tier models.dev publishes for its undated name (claude-sonnet-4),
	// which switches the whole request, as ccusage does after loading a fresh LiteLLM table.
	if got, _ := tab.Cost(sonnet4, Usage{Input: 1000, CacheRead: 10}); !near(got, 1000*1e-6+10*0.1e-6) {
		t.Errorf("replaced entry costs %v", got)
	}
	if got, _ := tab.Cost(sonnet4, Usage{Input: 300_000, CacheRead: 10}); !near(got, 300_000*6e-6+10*0.6e-6) {
		t.Errorf("replaced entry above 200k costs %v", got)
	}
	if p, _ := tab.Lookup("claude-sonnet-4"); !p.WholeRequest || p.Threshold != 200_000 || p.Long.Input != 6e-6 {
		t.Errorf("claude-sonnet-4 tier not filled from models.dev: %+v", p)
	}
	// Everything else stays.
	if p, ok := tab.Lookup("claude-opus-4-1-20250805"); !ok || p.Base.Input != 15e-6 {
		t.Errorf("embedded entry lost: %+v, %v", p, ok)
	}
	for _, model := range []string{"sample_spec", "image-model", "not-an-object"} {
		if p, ok := tab.Lookup(model); ok && p.Key == model {
			t.Errorf("%s loaded, want it skipped", model)
		}
	}
	// Default is unchanged.
	if got, _ := Default().Cost(sonnet4, Usage{Input: 1}); got != 3e-6 {
		t.Errorf("Parse changed Default: %v", got)
	}
}

func ratesNear(a, b Rates) bool {
	return near(a.Input, b.Input) && near(a.Output, b.Output) && near(a.CacheWrite5m, b.CacheWrite5m) &&
		near(a.CacheWrite1h, b.CacheWrite1h) && near(a.CacheRead, b.CacheRead)
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, msg string
	}{
		{"not JSON", `{"a": `, "not JSON"},
		{"garbage", `hello`, "not JSON"},
		{"empty", ``, "not JSON"},
		{"array", `[{"input_cost_per_token": 1}]`, "top level is an array"},
		{"string", `"prices"`, "top level is a string"},
		{"string cost", `{"m": {"input_cost_per_token": "0.000003", "output_cost_per_token": 1e-6}}`,
			`model "m": input_cost_per_token: "0.000003" is a string, want a number`},
		{"bool tier", `{"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6, "cache_read_input_token_cost_above_200k_tokens": true}}`,
			"cache_read_input_token_cost_above_200k_tokens"},
		{"negative cost", `{"m": {"input_cost_per_token": -1e-6, "output_cost_per_token": 1e-6}}`, "want a non-negative number"},
		{"fast not a number", `{"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6, "provider_specific_entry": {"fast": "2x"}}}`,
			"provider_specific_entry.fast"},
		{"no priced model", `{"m": {"input_cost_per_token": 1e-6}, "sample_spec": {"max_input_tokens": "n"}}`, "no model with both input and output prices"},
		{"empty object", `{}`, "no model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := Parse(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("Parse = %v, want an error", tab)
			}
			if !errors.Is(err, ErrInvalidTable) {
				t.Errorf("error %v does not wrap ErrInvalidTable", err)
			}
			if !strings.HasPrefix(err.Error(), "parse price table: ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want it to mention %q", err, tc.msg)
			}
		})
	}
	if _, err := Parse(failingReader{}); err == nil || errors.Is(err, ErrInvalidTable) || !strings.Contains(err.Error(), "read price table: disk on fire") {
		t.Errorf("read error: %v", err)
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"auto", "calculate", "display"} {
		m, err := ParseMode(s)
		if err != nil || string(m) != s || m.String() != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "Auto", "calc", "costUSD"} {
		if _, err := ParseMode(s); !errors.Is(err, ErrUnknownMode) {
			t.Errorf("ParseMode(%q) error = %v, want ErrUnknownMode", s, err)
		}
	}
	if Mode("").String() != "auto" {
		t.Errorf("zero Mode is %q", Mode(""))
	}
}

func TestEntryCost(t *testing.T) {
	u := Usage{Input: 1000, Output: 100}
	calc := 1000*3e-6 + 100*15e-6
	for _, tc := range []struct {
		name       string
		mode       Mode
		model      string
		u          Usage
		cost       float64
		hasCost    bool
		want       float64
		wantPriced bool
	}{
		{"auto uses costUSD", Auto, sonnet4, u, 0.5, true, 0.5, true},
		{"auto calculates without costUSD", Auto, sonnet4, u, 0, false, calc, true},
		{"auto uses a zero costUSD", Auto, sonnet4, u, 0, true, 0, true},
		{"zero mode is auto", "", sonnet4, u, 0.5, true, 0.5, true},
		{"calculate ignores costUSD", Calculate, sonnet4, u, 0.5, true, calc, true},
		{"display uses costUSD", Display, sonnet4, u, 0.5, true, 0.5, true},
		{"display without costUSD is 0", Display, sonnet4, u, 0, false, 0, true},
		{"display never reports a model unpriced", Display, "claude-unknown", u, 0, false, 0, true},
		{"auto with costUSD needs no price", Auto, "claude-unknown", u, 0.25, true, 0.25, true},
		{"unknown model", Auto, "claude-unknown", u, 0, false, 0, false},
		{"unknown model, calculate", Calculate, "claude-unknown", u, 0.25, true, 0, false},
		{"unknown model without tokens is not reported", Auto, "<synthetic>", Usage{}, 0, false, 0, true},
		{"no model name", Auto, "", u, 0, false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, priced := Default().EntryCost(tc.mode, tc.model, tc.u, tc.cost, tc.hasCost)
			if !near(got, tc.want) || priced != tc.wantPriced {
				t.Errorf("EntryCost = %v, %v; want %v, %v", got, priced, tc.want, tc.wantPriced)
			}
		})
	}
}

// TestSnapshots checks the embedded files: Claude entries only, with their provenance record.
func TestSnapshots(t *testing.T) {
	for _, file := range []string{"litellm.json", "modelsdev.json"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var src struct {
			Ccusage, Published string
		}
		if err := json.Unmarshal(m["_source"], &src); err != nil || src.Ccusage != "20.0.24" || src.Published == "" {
			t.Errorf("%s: _source = %s", file, m["_source"])
		}
		for k := range m {
			if k != "_source" && !strings.Contains(strings.ToLower(k), "claude") {
				t.Errorf("%s: non-Claude key %q", file, k)
			}
		}
		if len(data) > 40_000 {
			t.Errorf("%s is %d bytes; keep the snapshot small", file, len(data))
		}
	}
	d := Default()
	if len(d.primary) != 125+7 || len(d.fallback) != 261 || d.Len() != 125+7+261 {
		t.Errorf("Default has %d primary and %d fallback entries", len(d.primary), len(d.fallback))
	}
}

// TestConcurrentLookups hammers one table from many goroutines (run with -race).
func TestConcurrentLookups(t *testing.T) {
	tab, err := Parse(strings.NewReader(tinyTable))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{sonnet4, "claude-opus-4.1", "claude-opus-5-eu", "my-model", "claude-unknown", "sonnet"}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				n := names[(g+i)%len(names)]
				want, wantOK := tab.find(n)
				p, ok := tab.Lookup(n)
				if ok != wantOK || (ok && p.Key != want.key) {
					t.Errorf("Lookup(%q) = %q, %v", n, p.Key, ok)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// FuzzParse feeds Parse arbitrary bytes: it must not panic, and a table it accepts must price.
func FuzzParse(f *testing.F) {
	f.Add([]byte(tinyTable))
	f.Add([]byte(`{"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}}`))
	f.Add([]byte(`[1, 2]`))
	f.Add([]byte(`{"": {"input_cost_per_token": 1, "output_cost_per_token": 1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := Parse(strings.NewReader(string(data)))
		if err != nil {
			if !errors.Is(err, ErrInvalidTable) {
				t.Fatalf("error %v does not wrap ErrInvalidTable", err)
			}
			return
		}
		for _, model := range []string{sonnet4, "m", "claude-opus-5-eu", ""} {
			if c, _ := tab.Cost(model, Usage{Input: 300_000, Output: 1, CacheRead: 1}); c < 0 || math.IsNaN(c) {
				t.Fatalf("Cost(%q) = %v", model, c)
			}
		}
	})
}

// TestSnapshotID checks that the embedded prices' id has its form, and that it changes with any
// byte of either snapshot or of the built-in entries, and with a byte moved from one to the next.
func TestSnapshotID(t *testing.T) {
	id := SnapshotID()
	if !strings.HasPrefix(id, "embedded:") || len(id) != len("embedded:")+16 {
		t.Fatalf("SnapshotID() = %q, want embedded: and 16 hex digits", id)
	}
	if again := snapshotIDOf(litellmSnapshot, modelsDevSnapshot, builtinsText()); again != id {
		t.Errorf("the id of the same snapshots changed: %q, then %q", id, again)
	}
	changed := func(b []byte, i int) []byte {
		c := slices.Clone(b)
		c[i] ^= 1
		return c
	}
	for name, other := range map[string]string{
		"a byte of litellm.json":   snapshotIDOf(changed(litellmSnapshot, len(litellmSnapshot)/2), modelsDevSnapshot, builtinsText()),
		"a byte of modelsdev.json": snapshotIDOf(litellmSnapshot, changed(modelsDevSnapshot, 0), builtinsText()),
		"a built-in price":         snapshotIDOf(litellmSnapshot, modelsDevSnapshot, changed(builtinsText(), 40)),
		"a byte moved across":      snapshotIDOf(litellmSnapshot[:len(litellmSnapshot)-1], append(litellmSnapshot[len(litellmSnapshot)-1:len(litellmSnapshot):len(litellmSnapshot)], modelsDevSnapshot...), builtinsText()),
	} {
		if other == id {
			t.Errorf("changing %s leaves the id %q", name, id)
		}
	}
}
