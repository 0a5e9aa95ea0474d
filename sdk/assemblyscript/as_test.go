// Package assemblyscript_test builds the AssemblyScript SDK's example plugin and a test plugin
// from source (npm and asc) and runs them under Extism, checking that their output is the batch
// ABI v1 with events in the sdk binary encoding v1, byte for byte what the Go encoders write.
package assemblyscript_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tidwall/gjson"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
)

// fixtures holds real Claude Code hook payloads (the repository's ../shared).
const fixtures = "../../../shared/fixtures/claude-code/hooks"

var npmOnce struct {
	sync.Once
	err error
	out []byte
}

// build compiles an AssemblyScript entry file (relative to example/) into a .wasm in a temp dir,
// installing the example's node_modules from its package-lock.json first if they are missing.
func build(t *testing.T, entry string) []byte {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("npm is not on PATH, and CI must build the AssemblyScript plugins")
		}
		t.Skip("npm is not on PATH")
	}
	npmOnce.Do(func() {
		if _, err := os.Stat("example/node_modules/.bin/asc"); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = "example"
		npmOnce.out, npmOnce.err = cmd.CombinedOutput()
	})
	if npmOnce.err != nil {
		t.Fatalf("npm ci: %v\n%s", npmOnce.err, npmOnce.out)
	}
	out := filepath.Join(t.TempDir(), "plugin.wasm")
	cmd := exec.Command("npx", "--no-install", "asc", entry, "--config", "asconfig.json", "--target", "release", "--outFile", out)
	cmd.Dir = "example"
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("asc %s: %v\n%s", entry, err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// kvStore backs the test's hangar.kv_get and kv_set.
type kvStore struct {
	mu   sync.Mutex
	m    map[string][]byte
	logs []string
}

// hangarFunctions are the host functions of module "hangar", with the signatures the host gives
// them: log(level i64, msg i64), kv_get(key i64) i64, kv_set(key i64, value i64).
func hangarFunctions(kv *kvStore) []extism.HostFunction {
	i64 := extism.ValueTypeI64
	logFn := extism.NewHostFunctionWithStack("log", func(_ context.Context, p *extism.CurrentPlugin, stack []uint64) {
		msg, _ := p.ReadString(stack[1])
		kv.mu.Lock()
		kv.logs = append(kv.logs, msg)
		kv.mu.Unlock()
	}, []extism.ValueType{i64, i64}, nil)
	get := extism.NewHostFunctionWithStack("kv_get", func(_ context.Context, p *extism.CurrentPlugin, stack []uint64) {
		key, _ := p.ReadBytes(stack[0])
		kv.mu.Lock()
		v, ok := kv.m[string(key)]
		kv.mu.Unlock()
		stack[0] = 0
		if ok {
			stack[0], _ = p.WriteBytes(v)
		}
	}, []extism.ValueType{i64}, []extism.ValueType{i64})
	set := extism.NewHostFunctionWithStack("kv_set", func(_ context.Context, p *extism.CurrentPlugin, stack []uint64) {
		key, _ := p.ReadBytes(stack[0])
		val, _ := p.ReadBytes(stack[1])
		kv.mu.Lock()
		kv.m[string(key)] = val
		kv.mu.Unlock()
	}, []extism.ValueType{i64, i64}, nil)
	fns := []extism.HostFunction{logFn, get, set}
	for i := range fns {
		fns[i].SetNamespace("hangar")
	}
	return fns
}

// call runs export over records and returns the raw output.
func call(t *testing.T, wasm []byte, kv *kvStore, export string, records [][]byte) []byte {
	t.Helper()
	ctx := context.Background()
	m := extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: wasm}}}
	p, err := extism.NewPlugin(ctx, m, extism.PluginConfig{EnableWasi: false}, hangarFunctions(kv))
	if err != nil {
		t.Fatalf("load plugin (no WASI): %v", err)
	}
	defer p.Close(ctx)
	rc, out, err := p.Call(export, abi.AppendInput(nil, records))
	if err != nil || rc != 0 {
		t.Fatalf("call %s: rc %d, %v", export, rc, err)
	}
	return bytes.Clone(out)
}

// hookPayloads reads every payload of the fixtures (files hold one object or an array).
func hookPayloads(t *testing.T) [][]byte {
	t.Helper()
	var files []string
	err := filepath.WalkDir(fixtures, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatalf("read fixtures: %v", err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := gjson.ParseBytes(b)
		if r.IsArray() {
			for _, p := range r.Array() {
				out = append(out, []byte(p.Raw))
			}
		} else {
			out = append(out, b)
		}
	}
	if len(out) < 50 {
		t.Fatalf("%d payloads in %s, want at least 50", len(out), fixtures)
	}
	return out
}

// echo is what the Go reference (host/testdata/echo) makes of a record.
func echo(rec []byte) abi.Result {
	name := gjson.GetBytes(rec, "hook_event_name").String()
	if name == "" {
		return abi.Result{Err: "no hook_event_name"}
	}
	ev := sdk.Event{Kind: "hook." + name, SessionID: gjson.GetBytes(rec, "session_id").String()}
	if tool := gjson.GetBytes(rec, "tool_name").String(); tool != "" {
		ev.Attrs = append(ev.Attrs, sdk.Ident("tool_name", tool))
	}
	return abi.Result{Events: []sdk.Event{ev}}
}

func TestExampleCapturesHookPayloads(t *testing.T) {
	wasm := build(t, "assembly/index.ts")
	records := hookPayloads(t)
	// Records the SDK's JSON reader must get right: escapes, nesting, whitespace, a missing name.
	records = append(records,
		[]byte(`{"tool_input":{"hook_event_name":"Nested","x":[1,{"y":"}"}]},"hook_event_name":"Pre\u0054oolUse","tool_name":"B\u0061sh"}`),
		[]byte(" {\n \"tool_name\" : \"Edit\" ,\t\"hook_event_name\" :\"PostToolUse\" } "),
		[]byte(`{"session_id":"s\"1","hook_event_name":"Stop"}`),
		[]byte(`{"hook_event_name":"Caf\u00e9\ud83d\ude00"}`),
		[]byte(`{"tool_name":"Bash"}`),
		[]byte(`{}`),
	)
	out := call(t, wasm, &kvStore{m: map[string][]byte{}}, "capture", records)

	want := make([]abi.Result, len(records))
	for i, r := range records {
		want[i] = echo(r)
	}
	wantOut, err := abi.AppendOutput(nil, want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, wantOut) {
		t.Errorf("output differs from the Go encoders' (%d bytes, want %d)", len(out), len(wantOut))
	}

	// And through the strict decoder, record by record.
	kinds := map[string]int{}
	err = abi.DecodeOutput(out, len(records), func(i int, evs []sdk.Event, errMsg string) error {
		if errMsg != want[i].Err {
			t.Errorf("record %d: error %q, want %q", i, errMsg, want[i].Err)
			return nil
		}
		if errMsg != "" {
			return nil
		}
		if len(evs) != 1 {
			t.Errorf("record %d: %d events, want 1", i, len(evs))
			return nil
		}
		got, w := evs[0], want[i].Events[0]
		if got.Kind != w.Kind || got.SessionID != w.SessionID || !got.Time.IsZero() || !got.ID.IsZero() || got.Platform != "" {
			t.Errorf("record %d: got %+v, want %+v", i, got, w)
		}
		gotTool, _ := got.Attr("tool_name")
		wantTool, _ := w.Attr("tool_name")
		if gotTool.Ident() != wantTool.Ident() || len(got.Attrs) != len(w.Attrs) {
			t.Errorf("record %d: attrs %v, want %v", i, got.Attrs, w.Attrs)
		}
		kinds[got.Kind]++
		return nil
	})
	if err != nil {
		t.Fatalf("decode output: %v", err)
	}
	for _, k := range []string{"hook.PreToolUse", "hook.PostToolUse", "hook.UserPromptSubmit", "hook.Stop", "hook.Café😀"} {
		if kinds[k] == 0 {
			t.Errorf("no %s event; got %v", k, kinds)
		}
	}
}

func TestEncodingMatchesGo(t *testing.T) {
	wasm := build(t, "../testdata/allkinds.ts")
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name   string
		record string
		want   abi.Result
	}{
		{"empty", `{"count":0}`, abi.Result{}},
		{"bare", `{}`, abi.Result{Events: []sdk.Event{{Kind: "test"}}}},
		{"fail", `{"fail":"bad record \u2014 really"}`, abi.Result{Err: "bad record — really"}},
		{"session and time", `{"kind":"k.x","session":"abc-123","t":` + jsonInt(when.UnixNano()) + `}`,
			abi.Result{Events: []sdk.Event{{Kind: "k.x", SessionID: "abc-123", Time: when}}}},
		{"negative time", `{"t":-1}`, abi.Result{Events: []sdk.Event{{Kind: "test", Time: time.Unix(0, -1).UTC()}}}},
		{"ints", `{"count":3,"n":-9223372036854775808}`, abi.Result{Events: []sdk.Event{
			{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", math.MinInt64)}},
			{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", math.MinInt64)}},
			{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", math.MinInt64)}},
		}}},
		{"max int", `{"n":9223372036854775807}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", math.MaxInt64)}}}}},
		{"small ints", `{"n":-64}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", -64)}}}}},
		{"every kind", `{"n":300,"f":-1.5e-7,"b":true,"id":"Bash","h":"0123456789abcdef0123456789abcdef"}`,
			abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{
				sdk.Int("n", 300), sdk.Float("f", -1.5e-7), sdk.Bool("b", true), sdk.Ident("id", "Bash"),
				sdk.Hash("h", []byte("0123456789abcdef0123456789abcdef")),
			}}}}},
		{"false", `{"b":false,"f":0}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Float("f", 0), sdk.Bool("b", false)}}}}},
		{"withheld", `{"w":"<withheld>"}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Bool("withheld", true)}}}}},
		{"not withheld", `{"w":"<withheld"}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Bool("withheld", false)}}}}},
		{"kv and log", `{"kv":"stored","log":"hello from AS"}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Ident("kv", "stored")}}}}},
	}
	kv := &kvStore{m: map[string][]byte{}}
	records := make([][]byte, len(tests))
	want := make([]abi.Result, len(tests))
	for i, tt := range tests {
		records[i], want[i] = []byte(tt.record), tt.want
	}
	out := call(t, wasm, kv, "capture", records)
	if wantOut := mustOutput(t, want); !bytes.Equal(out, wantOut) {
		t.Errorf("output differs from the Go encoders'\n got %x\nwant %x", out, wantOut)
	}
	// Split both outputs per record so that a difference names its case.
	gotRaw, wantRaw := splitResults(t, out, len(tests)), splitResults(t, mustOutput(t, want), len(tests))
	for i, tt := range tests {
		if !bytes.Equal(gotRaw[i], wantRaw[i]) {
			t.Errorf("%s: result bytes\n got %x\nwant %x", tt.name, gotRaw[i], wantRaw[i])
		}
	}
	if err := abi.DecodeOutput(out, len(tests), func(int, []sdk.Event, string) error { return nil }); err != nil {
		t.Errorf("strict decode: %v", err)
	}
	if len(kv.logs) != 1 || kv.logs[0] != "hello from AS" {
		t.Errorf("logs %q, want one line", kv.logs)
	}

	// Other exports have no handler: the call fails, as the Go SDK's does.
	p, err := extism.NewPlugin(context.Background(), extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: wasm}}}, extism.PluginConfig{}, hangarFunctions(kv))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if _, _, err := p.Call("enrich", abi.AppendInput(nil, nil)); err == nil || !strings.Contains(err.Error(), "no enrich handler") {
		t.Errorf("enrich without a handler: %v", err)
	}
	if _, _, err := p.Call("capture", []byte{2, 0}); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("capture of a version 2 batch: %v", err)
	}
	if _, _, err := p.Call("capture", []byte{1, 1, 5, '{'}); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("capture of a truncated batch: %v", err)
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func mustOutput(t *testing.T, res []abi.Result) []byte {
	t.Helper()
	b, err := abi.AppendOutput(nil, res)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// splitResults cuts an output into its results' bytes, re-encoding each decoded result alone.
func splitResults(t *testing.T, out []byte, n int) [][]byte {
	t.Helper()
	parts := make([][]byte, n)
	err := abi.DecodeOutput(out, n, func(i int, evs []sdk.Event, errMsg string) error {
		b, err := abi.AppendOutput(nil, []abi.Result{{Events: evs, Err: errMsg}})
		parts[i] = b
		return err
	})
	if err != nil {
		t.Fatalf("decode output: %v", err)
	}
	return parts
}

// TestAttrGetters runs testdata/attrs.ts over stored events and derived records as their JSON
// (sdk.Event.MarshalJSON) and compares what its attribute getters read, by key, with gjson's
// attrs.#(key=="...") in Go, byte for byte.
func TestAttrGetters(t *testing.T) {
	wasm := build(t, "../testdata/attrs.ts")
	when := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	events := []sdk.Event{
		{ID: sdk.NewID("a"), Platform: "claude-code", Kind: "hook.PostToolUse", SessionID: "s-1", Time: when, Attrs: []sdk.Attr{
			sdk.Int("payload_bytes", 812), sdk.Ident("tool_name", "Bash"), sdk.Int("count", -42), sdk.Float("ratio", 0.125),
			sdk.Bool("ok", true), sdk.Hash("h", []byte("0123456789abcdef")), sdk.Int("big", math.MaxInt64),
		}},
		{ID: sdk.NewID("b"), Platform: "claude-code", Kind: "metrics.1d", Time: when, Attrs: []sdk.Attr{
			sdk.Ident("key", "1772323200/tool/mcp__srv__do_it"), sdk.Int("count", 0), sdk.Bool("ok", false), sdk.Float("ratio", -1.5e-9),
			sdk.Sketch("latency", []uint16{0, 81, 97}, []float32{1, 12, 0.5}), sdk.Int("big", math.MinInt64),
		}},
		// The value "tool_name" as another attribute's value, and keys that start alike.
		{ID: sdk.NewID("c"), Platform: "claude-code", Kind: "conversation.tool", Attrs: []sdk.Attr{
			sdk.Ident("tool_name_2", "tool_name"), sdk.Ident("command", "count"), sdk.Ident("tool_name", "Read"),
		}},
		{ID: sdk.NewID("d"), Platform: "claude-code", Kind: "session.start"},
	}
	var records [][]byte
	for _, ev := range events {
		js, err := ev.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, js)
	}
	// Hand-written JSON the reader must get right too: whitespace, members in another order, an
	// escaped key, attrs that are not an array, an attrs member inside a value.
	records = append(records,
		[]byte(" { \"kind\" : \"x\" , \"attrs\" : [ { \"value\" : 7 , \"type\" : \"int\" , \"key\" : \"count\" } ,\n{\"type\":\"ident\",\"key\":\"tool_\\u006eame\",\"value\":\"Gr\\u0065p\"} ] } "),
		[]byte(`{"kind":"y","attrs":{"key":"count","type":"int","value":3}}`),
		[]byte(`{"kind":"z","meta":{"attrs":[{"key":"count","type":"int","value":9}]},"attrs":[]}`),
	)
	keys := []string{"tool_name", "count", "ratio", "ok", "h", "latency", "missing", "key", "big"}
	want := make([]abi.Result, len(records))
	for i, rec := range records {
		ev := sdk.Event{Kind: "attrs"}
		attrs := gjson.GetBytes(rec, "attrs")
		for _, k := range keys {
			if !attrs.IsArray() {
				break
			}
			a := attrs.Get(`#(key=="` + k + `")`)
			if !a.Exists() {
				continue
			}
			typ, v := a.Get("type").String(), a.Get("value")
			ev.Attrs = append(ev.Attrs, sdk.Ident(k+"_type", typ))
			switch typ {
			case "int":
				ev.Attrs = append(ev.Attrs, sdk.Int(k, v.Int()))
			case "float":
				ev.Attrs = append(ev.Attrs, sdk.Float(k, v.Float()))
			case "bool":
				ev.Attrs = append(ev.Attrs, sdk.Bool(k, v.Bool()))
			case "ident", "hash":
				ev.Attrs = append(ev.Attrs, sdk.Ident(k, v.String()))
			default:
				ev.Attrs = append(ev.Attrs, sdk.Int(k, int64(len(v.Raw))))
			}
		}
		if kind := gjson.GetBytes(rec, "kind"); kind.Exists() {
			ev.Attrs = append(ev.Attrs, sdk.Ident("kind", kind.String()))
		}
		want[i] = abi.Result{Events: []sdk.Event{ev}}
	}
	out := call(t, wasm, &kvStore{m: map[string][]byte{}}, "insight", records)
	gotRaw, wantRaw := splitResults(t, out, len(records)), splitResults(t, mustOutput(t, want), len(records))
	for i := range records {
		if !bytes.Equal(gotRaw[i], wantRaw[i]) {
			var got []sdk.Event
			abi.DecodeOutput(gotRaw[i], 1, func(_ int, evs []sdk.Event, _ string) error { got = evs; return nil })
			t.Errorf("record %d %s:\n got %v\nwant %v", i, records[i], got, want[i].Events)
		}
	}
	// The fixture covers every type and the edge cases it claims to.
	seen := map[string]bool{}
	for _, r := range want {
		for _, a := range r.Events[0].Attrs {
			if strings.HasSuffix(a.Key, "_type") {
				seen[a.Value.Ident()] = true
			}
		}
	}
	for _, typ := range []string{"int", "float", "bool", "ident", "hash", "sketch"} {
		if !seen[typ] {
			t.Errorf("no attribute of type %s in the test records", typ)
		}
	}
}
