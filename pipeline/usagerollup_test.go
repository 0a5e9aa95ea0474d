package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/pipeline/pricing"
	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
	"github.com/tidwall/gjson"
)

const transcriptDir = "../../shared/fixtures/claude-code/projects/-Users-chip-dev-ai-music"

// usageCapture reduces a transcript line to a transcript.usage event as the Claude Code plugin
// does (plugins/claude-code), without WASM: the rollup is under test here, not the plugin.
func usageCapture(rec *RawRecord) ([]sdk.Event, error) {
	line := gjson.ParseBytes(rec.Payload)
	u := line.Get("message.usage")
	if !u.IsObject() || !u.Get("input_tokens").Exists() || !u.Get("output_tokens").Exists() {
		return nil, nil
	}
	ts, err := time.Parse(time.RFC3339Nano, line.Get("timestamp").String())
	if err != nil {
		return nil, Permanent(err)
	}
	ev := sdk.Event{ID: EventID(rec, 0), Platform: rec.Platform, Kind: UsageKind, SessionID: line.Get("sessionId").String(), Time: ts}
	folder := sha256.Sum256([]byte(filepath.Base(line.Get("cwd").String())))
	ev.Attrs = append(ev.Attrs, sdk.Hash("project", folder[:16]))
	for _, f := range [][2]string{{"message.model", "model"}, {"message.id", "message_id"}, {"requestId", "request_id"}} {
		if v := line.Get(f[0]).String(); v != "" {
			ev.Attrs = append(ev.Attrs, sdk.Ident(f[1], v))
		}
	}
	for _, f := range [][2]string{{"input_tokens", "input_tokens"}, {"output_tokens", "output_tokens"}, {"cache_creation_input_tokens", "cache_creation_tokens"}, {"cache_read_input_tokens", "cache_read_tokens"}} {
		ev.Attrs = append(ev.Attrs, sdk.Int(f[1], u.Get(f[0]).Int()))
	}
	for _, f := range [][2]string{{"cache_creation.ephemeral_5m_input_tokens", "cache_creation_5m_tokens"}, {"cache_creation.ephemeral_1h_input_tokens", "cache_creation_1h_tokens"}} {
		if v := u.Get(f[0]); v.Exists() {
			ev.Attrs = append(ev.Attrs, sdk.Int(f[1], v.Int()))
		}
	}
	if v := u.Get("speed").String(); v != "" {
		ev.Attrs = append(ev.Attrs, sdk.Ident("speed", v))
	}
	if v := line.Get("costUSD"); v.Exists() {
		ev.Attrs = append(ev.Attrs, sdk.Float("cost_usd", v.Float()))
	}
	ev.Attrs = append(ev.Attrs, sdk.Bool("sidechain", line.Get("isSidechain").Bool()))
	return []sdk.Event{ev}, nil
}

// transcriptRecords returns one record per line of the fixture transcripts, in ccusage's order
// (files by path, lines in order).
func transcriptRecords(t testing.TB) []RawRecord {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(transcriptDir, "*.jsonl"))
	if err != nil || len(files) != 4 {
		t.Fatalf("fixture transcripts: %v, %d files", err, len(files))
	}
	sort.Strings(files)
	var recs []RawRecord
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			line := append([]byte{}, sc.Bytes()...)
			recs = append(recs, RawRecord{ID: sdk.NewID("t", []byte(f), line), Platform: testPlatform, Source: "transcript", ReceivedAt: testDay, Payload: line})
		}
	}
	return recs
}

// TestUsageRollupMatchesCcusage runs the real transcripts through the intake and the usage rollup
// and compares the daily and session reports with ccusage's: tokens exact, costs within 1e-6. It
// then restarts the consumer and submits everything again: nothing changes.
func TestUsageRollupMatchesCcusage(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, Captures{testPlatform: capFunc(usageCapture)}, IntakeConfig{})
	recs := transcriptRecords(t)
	// Submit in small batches, so duplicates of one response land in different Consume calls.
	for i := 0; i < len(recs); i += 7 {
		submit(t, in, recs[i:min(i+7, len(recs))])
	}
	r := startConsumers(t, st, ConsumersConfig{BatchSize: 5}, NewUsageRollup(st, nil, nil))
	waitConsumed(t, r)
	checkUsageReports(t, st)

	r.Close()
	submit(t, in, recs)
	r2 := startConsumers(t, st, ConsumersConfig{}, NewUsageRollup(st, nil, nil))
	waitConsumed(t, r2)
	checkUsageReports(t, st)
}

func checkUsageReports(t *testing.T, st *store.Store) {
	t.Helper()
	var err error
	opts := usage.Options{Location: time.UTC}
	daily, derr := usage.Daily(UsageBuckets(st, time.Time{}, time.Time{}, &err), opts)
	if derr != nil || err != nil {
		t.Fatal(derr, err)
	}
	compareReport(t, "daily", &daily, "ccusage-daily.json")
	sess, serr := usage.Session(UsageBuckets(st, time.Time{}, time.Time{}, &err), opts)
	if serr != nil || err != nil {
		t.Fatal(serr, err)
	}
	compareReport(t, "session", &sess, "ccusage-session.json")
}

// compareReport compares a report's JSON with ccusage's, numbers within 1e-6, except the session
// report's projectPath: ccusage shows the folder, Hangar never stores it.
func compareReport(t *testing.T, name string, r interface{ WriteJSON(w io.Writer) error }, file string) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("../../shared/fixtures/claude-code/expected", file))
	if err != nil {
		t.Fatal(err)
	}
	var got, exp any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &exp); err != nil {
		t.Fatal(err)
	}
	jsonClose(t, name, got, exp)
}

func jsonClose(t *testing.T, path string, got, want any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", path, got, want)
			return
		}
		for k, wv := range w {
			if k == "projectPath" {
				continue
			}
			jsonClose(t, path+"."+k, g[k], wv)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", path, got, want)
			return
		}
		for i := range w {
			jsonClose(t, fmt.Sprintf("%s[%d]", path, i), g[i], w[i])
		}
	case float64:
		g, ok := got.(float64)
		if !ok || math.Abs(g-w) > 1e-6 {
			t.Errorf("%s: got %v, want %v", path, got, want)
		}
	default:
		if got != want {
			t.Errorf("%s: got %v, want %v", path, got, want)
		}
	}
}

// appendV1 encodes a record as version 1 did, before records kept their pricing inputs.
func appendV1(r *usageRecord) []byte {
	var flags byte
	if r.sidechain {
		flags |= 1
	}
	if r.speedSet {
		flags |= 2
	}
	e := &r.entry
	b := []byte{1, flags}
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

const sonnet = "claude-sonnet-4-20250514"

var recTime = time.Date(2025, 6, 8, 10, 47, 11, 325e6, time.UTC)

// testEntry is an entry of sonnet with cache writes.
func testEntry() usage.Entry {
	return usage.Entry{Time: recTime, Session: "s1", Project: "p1", Model: sonnet, Input: 4, Output: 5,
		CacheCreation: 3877, CacheRead: 10215, CostAuto: 0.1, CostCalculate: 0.1, Seq: 7}
}

// TestUsageRecordEncoding decodes records of both versions, and re-encodes each as it was.
func TestUsageRecordEncoding(t *testing.T) {
	fast := testEntry()
	fast.Model += "-fast"
	reset := testEntry()
	reset.LimitReset = recTime.Add(time.Hour)
	noModel := testEntry()
	noModel.Model = ""
	inputs := func(in priceInputs) priceInputs {
		if in.model == "" {
			in.model = sonnet
		}
		return in
	}
	tests := []struct {
		name string
		rec  usageRecord
		v1   bool // encode as version 1 did
	}{
		{"v1", usageRecord{entry: testEntry(), sidechain: true, speedSet: true}, true},
		{"v1 limit reset", usageRecord{entry: reset}, true},
		{"v1 no model", usageRecord{entry: noModel}, true},
		{"v2", usageRecord{entry: testEntry(), hasInputs: true, in: inputs(priceInputs{})}, false},
		{"v2 1h cache writes", usageRecord{entry: testEntry(), hasInputs: true, in: inputs(priceInputs{cache1h: 3000})}, false},
		{"v2 all 1h", usageRecord{entry: testEntry(), hasInputs: true, in: inputs(priceInputs{cache1h: 3877})}, false},
		{"v2 fast", usageRecord{entry: fast, speedSet: true, hasInputs: true, in: inputs(priceInputs{fast: true})}, false},
		{"v2 costUSD", usageRecord{entry: testEntry(), hasInputs: true, in: inputs(priceInputs{costUSD: 0.25, hasCost: true})}, false},
		{"v2 costUSD 0", usageRecord{entry: testEntry(), hasInputs: true, in: inputs(priceInputs{hasCost: true})}, false},
		{"v2 no model", usageRecord{entry: noModel, hasInputs: true}, false},
		{"v2 sidechain limit reset", usageRecord{entry: reset, sidechain: true, hasInputs: true, in: inputs(priceInputs{})}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.rec.appendBinary(nil)
			wantVersion := byte(usageRecordV2)
			if tt.v1 {
				b, wantVersion = appendV1(&tt.rec), usageRecordV1
			}
			if b[0] != wantVersion {
				t.Fatalf("version %d, want %d", b[0], wantVersion)
			}
			got, err := decodeUsageRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.rec) {
				t.Errorf("got %+v, want %+v", *got, tt.rec)
			}
			if again := got.appendBinary(nil); !bytes.Equal(again, b) {
				t.Errorf("encoded again: got %x, want %x", again, b)
			}
		})
	}
}

// TestUsageRecordMalformed refuses bytes that are no record.
func TestUsageRecordMalformed(t *testing.T) {
	v2 := usageRecord{entry: testEntry(), hasInputs: true, in: priceInputs{model: sonnet, costUSD: 1, hasCost: true}}
	good := v2.appendBinary(nil)
	tooMany1h := v2
	tooMany1h.in.cache1h = v2.entry.CacheCreation + 1
	with := func(b []byte, i int, v byte) []byte {
		b = bytes.Clone(b)
		b[i] = v
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version only", []byte{2}},
		{"version 0", with(good, 0, 0)},
		{"version 3", with(good, 0, 3)},
		{"v1 with a v2 flag", with(appendV1(&v2), 1, recFast)},
		{"v2 with an unknown flag", with(good, 1, good[1]|1<<5)},
		{"truncated", good[:len(good)-1]},
		{"costUSD cut", good[:len(good)-9]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"1h over the cache writes", tooMany1h.appendBinary(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := decodeUsageRecord(tt.b); !errors.Is(err, errUsageRecord) {
				t.Errorf("got %+v, %v; want errUsageRecord", got, err)
			}
		})
	}
}

// FuzzDecodeUsageRecord: decoding never panics, and what decodes encodes to bytes that decode to
// the same encoding.
func FuzzDecodeUsageRecord(f *testing.F) {
	v2 := usageRecord{entry: testEntry(), hasInputs: true, in: priceInputs{model: "m", cache1h: 5, fast: true, costUSD: 1, hasCost: true}}
	f.Add(v2.appendBinary(nil))
	f.Add(appendV1(&v2))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeUsageRecord(b)
		if err != nil {
			return
		}
		b2 := r.appendBinary(nil)
		r2, err := decodeUsageRecord(b2)
		if err != nil {
			t.Fatalf("%x decodes, its encoding %x does not: %v", b, b2, err)
		}
		if b3 := r2.appendBinary(nil); !bytes.Equal(b3, b2) {
			t.Fatalf("encodings differ: %x, %x", b2, b3)
		}
	})
}

// TestUsageRecordInferInputs recovers a version 1 record's pricing inputs only when they are
// certain, and pricing with them again gives the costs it had.
func TestUsageRecordInferInputs(t *testing.T) {
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
			r := &usageRecord{entry: tt.entry}
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

// usageEvent is a transcript.usage event as the claude-code plugin emits it.
func usageEvent(seq uint64, id, model string, at time.Time, attrs ...sdk.Attr) Entry {
	ev := sdk.Event{ID: sdk.NewID("test", []byte(id)), Platform: testPlatform, Kind: UsageKind, SessionID: "s-" + id, Time: at}
	ev.Attrs = append([]sdk.Attr{sdk.Ident("model", model), sdk.Ident("message_id", "msg_"+id), sdk.Ident("request_id", "req_"+id)}, attrs...)
	return Entry{Seq: seq, Event: ev}
}

// consumeNow runs one Consume call of u and commits it.
func consumeNow(t testing.TB, st *store.Store, u *UsageRollup, entries ...Entry) {
	t.Helper()
	b := st.NewBatch()
	defer b.Close()
	if err := u.Consume(context.Background(), entries, b); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func unpricedModels(t testing.TB, st *store.Store) []string {
	t.Helper()
	got, err := UnpricedModels(st)
	if err != nil {
		t.Fatal(err)
	}
	return got
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

// TestUsageRollupUnknownModel: an entry of a model without a price costs 0, one warning names
// the model, and the model is kept in the state until a reprice finds a price for it.
func TestUsageRollupUnknownModel(t *testing.T) {
	st := openPebble(t)
	var logs syncBuf
	u := NewUsageRollup(st, nil, slog.New(slog.NewJSONHandler(&logs, nil)))
	tokens := []sdk.Attr{sdk.Int("input_tokens", 100), sdk.Int("output_tokens", 200)}
	consumeNow(t, st, u, usageEvent(1, "a", "acme-coder-1", recTime, tokens...), usageEvent(2, "b", sonnet, recTime, tokens...))
	consumeNow(t, st, u, usageEvent(3, "c", "acme-coder-1", recTime.Add(time.Minute), tokens...))
	if got, want := unpricedModels(t, st), []string{"acme-coder-1"}; !slices.Equal(got, want) {
		t.Errorf("unpriced models: got %v, want %v", got, want)
	}
	if got := strings.Count(logs.String(), `"model":"acme-coder-1"`); got != 1 {
		t.Errorf("warnings naming the model: got %d, want 1\n%s", got, logs.String())
	}
	if strings.Contains(logs.String(), sonnet) {
		t.Errorf("a warning names a priced model:\n%s", logs.String())
	}
	acmeCost := func() float64 {
		var sum float64
		var err error
		for bu := range UsageBuckets(st, time.Time{}, time.Time{}, &err) {
			if bu.Key.Model == "acme-coder-1" {
				sum += bu.CostAuto
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	if got := acmeCost(); got != 0 {
		t.Errorf("cost of the unknown model: got %v, want 0", got)
	}

	prices := parseTable(t, newPrices)
	res, err := u.Reprice(context.Background(), prices, "new")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unpriced) != 0 || len(unpricedModels(t, st)) != 0 {
		t.Errorf("after a reprice with a price: result %v, state %v, want none unpriced", res.Unpriced, unpricedModels(t, st))
	}
	one, _ := prices.Cost("acme-coder-1", pricing.Usage{Input: 100, Output: 200})
	if got, want := acmeCost(), 2*one; math.Abs(got-want) > 1e-12 {
		t.Errorf("cost of the model once priced: got %v, want %v", got, want)
	}

	res, err = u.Reprice(context.Background(), pricing.Default(), "embedded")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"acme-coder-1"}; !slices.Equal(res.Unpriced, want) || !slices.Equal(unpricedModels(t, st), want) {
		t.Errorf("after a reprice without its price: result %v, state %v, want %v", res.Unpriced, unpricedModels(t, st), want)
	}
	if got := acmeCost(); got != 0 {
		t.Errorf("cost of the unknown model again: got %v, want 0", got)
	}
}

// syncBuf is a bytes.Buffer safe for concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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

// usageState returns the usage rollup's state, key to value.
func usageState(t testing.TB, st *store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := st.ScanState(UsageRollupName, nil, func(k, v []byte) error {
		out[string(k)] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// bucketsOf returns the rollup's buckets.
func bucketsOf(t testing.TB, st *store.Store) []usage.Bucket {
	t.Helper()
	var err error
	out := slices.Collect(UsageBuckets(st, time.Time{}, time.Time{}, &err))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compareBuckets compares buckets: all exact but the costs, within 1e-9 USD (sums in another
// order).
func compareBuckets(t testing.TB, what string, got, want []usage.Bucket) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d buckets, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		for _, c := range [][2]float64{{g.CostAuto, w.CostAuto}, {g.CostCalculate, w.CostCalculate}, {g.CostDisplay, w.CostDisplay}} {
			if math.Abs(c[0]-c[1]) > 1e-9 {
				t.Errorf("%s: bucket %v: costs %v %v %v, want %v %v %v", what, g.Key, g.CostAuto, g.CostCalculate, g.CostDisplay, w.CostAuto, w.CostCalculate, w.CostDisplay)
				break
			}
		}
		g.CostAuto, g.CostCalculate, g.CostDisplay = w.CostAuto, w.CostCalculate, w.CostDisplay
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: bucket %d: got %+v, want %+v", what, i, g, w)
		}
	}
}

// checkBucketsConsistent checks that each bucket is the sum of the entries it indexes.
func checkBucketsConsistent(t testing.TB, st *store.Store) {
	t.Helper()
	state := usageState(t, st)
	sums := map[string]*usage.Bucket{}
	for k := range state {
		if k[0] != usageIndexPrefix {
			continue
		}
		bk, dk := splitIndexKey(t, k[1:])
		rec, err := decodeUsageRecord([]byte(state[string(usageEntryPrefix)+dk]))
		if err != nil {
			t.Fatalf("entry %q: %v", dk, err)
		}
		if sums[bk] == nil {
			sums[bk] = &usage.Bucket{}
		}
		sums[bk].Add(rec.entry)
	}
	n := 0
	for k, v := range state {
		if k[0] != usageBucketPrefix {
			continue
		}
		n++
		var got usage.Bucket
		if err := got.UnmarshalBinary([]byte(v)); err != nil {
			t.Fatal(err)
		}
		want := sums[k[1:]]
		if want == nil {
			t.Fatalf("bucket %x holds no entry", k)
		}
		compareBuckets(t, "consistency", []usage.Bucket{got}, []usage.Bucket{*want})
	}
	if n != len(sums) {
		t.Errorf("%d buckets, %d with entries", n, len(sums))
	}
}

// splitIndexKey splits an index key (without its prefix) into bucket key and dedup key.
func splitIndexKey(t testing.TB, k string) (bk, dk string) {
	t.Helper()
	i := 8
	for range 3 { // three strings, each ending 0x00 0x01 (0x00 0xff escapes a 0x00)
		for i+1 < len(k) && (k[i] != 0 || k[i+1] != 1) {
			if k[i] == 0 {
				i++
			}
			i++
		}
		i += 2
	}
	if i >= len(k) || k[i] != 0xff {
		t.Fatalf("index key %x: no bucket key", k)
	}
	return k[:i], k[i+1:]
}

// rollupOf consumes recs into a fresh store with a usage rollup pricing with prices, and returns
// the store, the rollup and its (stopped) runner.
func rollupOf(t testing.TB, recs []RawRecord, prices *pricing.Table) (*store.Store, *UsageRollup) {
	t.Helper()
	st := openPebble(t)
	in := startIntake(t, st, Captures{testPlatform: capFunc(usageCapture)}, IntakeConfig{})
	for i := 0; i < len(recs); i += 7 {
		submit(t, in, recs[i:min(i+7, len(recs))])
	}
	u := NewUsageRollup(st, prices, nil)
	r := startConsumers(t, st, ConsumersConfig{BatchSize: 5}, u)
	waitConsumed(t, r)
	r.Close() // Reprice runs with no consumer running
	return st, u
}

// repriceRecords are the shared transcripts and the synthetic lines, as raw records.
func repriceRecords(t testing.TB) []RawRecord {
	recs := transcriptRecords(t)
	lines, _, _, _ := syntheticLines()
	for _, l := range lines {
		recs = append(recs, RawRecord{ID: sdk.NewID("t", l), Platform: testPlatform, Source: "transcript", ReceivedAt: testDay, Payload: l})
	}
	return recs
}

// TestUsageRollupReprice reprices the real transcripts and synthetic lines with another table:
// the buckets equal those of a rollup that priced with that table from the start, the synthetic
// session costs what pricing.Table.Cost says, a second reprice changes nothing, and a reprice
// with the original table gives back the original entries and buckets.
func TestUsageRollupReprice(t *testing.T) {
	recs := repriceRecords(t)
	st, u := rollupOf(t, recs, nil)
	before := usageState(t, st)
	beforeBuckets := bucketsOf(t, st)
	if got, want := unpricedModels(t, st), []string{"acme-coder-1"}; !slices.Equal(got, want) {
		t.Errorf("unpriced before: got %v, want %v", got, want)
	}
	entries := 0
	for k := range before {
		if k[0] == usageEntryPrefix {
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
		if k[0] != usageBucketPrefix && after[k] != v {
			t.Errorf("key %q after repricing with the original table: got %x, want %x", k, after[k], v)
		}
	}
	compareBuckets(t, "back to the original table", bucketsOf(t, st), beforeBuckets)
}

// TestUsageRollupRepriceInterrupted cuts a reprice after some batches: every bucket is still the
// sum of its entries, the table id is unchanged, and a second reprice completes it.
func TestUsageRollupRepriceInterrupted(t *testing.T) {
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

// TestUsageRollupRepriceV1 reprices entries stored by an older agent: those whose pricing inputs
// can be inferred are repriced (and stored as version 2), the others keep their costs.
func TestUsageRollupRepriceV1(t *testing.T) {
	st := openPebble(t)
	u := NewUsageRollup(st, nil, nil)
	consumeNow(t, st, u,
		usageEvent(1, "plain", sonnet, recTime, sdk.Int("input_tokens", 1000), sdk.Int("output_tokens", 2000)),
		usageEvent(2, "cached", sonnet, recTime, sdk.Int("input_tokens", 1000), sdk.Int("output_tokens", 2000), sdk.Int("cache_creation_tokens", 500)))
	// Store both as version 1.
	b := st.NewBatch()
	v1 := map[string]usage.Entry{}
	err := st.ScanState(UsageRollupName, []byte{usageEntryPrefix}, func(k, v []byte) error {
		rec, err := decodeUsageRecord(v)
		if err != nil {
			return err
		}
		b.PutState(UsageRollupName, bytes.Clone(k), appendV1(rec))
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
		{"inferable", "mmsg_plain\x00req_plain", usageRecordV2, func() float64 {
			c, _ := prices.Cost(sonnet, pricing.Usage{Input: 1000, Output: 2000})
			return c
		}()},
		{"cache writes", "mmsg_cached\x00req_cached", usageRecordV1, v1["mmsg_cached\x00req_cached"].CostCalculate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := st.State(UsageRollupName, []byte(tt.key))
			if err != nil {
				t.Fatal(err)
			}
			rec, err := decodeUsageRecord(v)
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
