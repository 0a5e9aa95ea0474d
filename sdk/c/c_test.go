// Package c_test builds the C SDK's example plugin and a test plugin from source (clang with
// wasi-libc) and runs them under the real host and on the bare ABI, checking that their output is
// the batch ABI v1 with events in the sdk binary encoding v1, byte for byte what the Go encoders
// write.
package c_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	wasip1 "github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tidwall/gjson"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
)

// cflags are the example's build flags (example/build.sh), for the test plugins.
var cflags = []string{"--target=wasm32-wasi", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
	"-nostartfiles", "-Wl,--no-entry", "-Wl,--export=capture", "-Wl,--strip-all"}

// toolchain checks once that clang can build a WASI module that uses wasi-libc (malloc, strtod)
// and the wasm32 compiler-rt (strtod's long double arithmetic).
var toolchain struct {
	sync.Once
	missing string
}

// needClang skips the test when the C toolchain is absent, or fails it when CI is set: CI must
// build the C plugins.
func needClang(t testing.TB) {
	t.Helper()
	toolchain.Do(func() {
		if _, err := exec.LookPath("clang"); err != nil {
			toolchain.missing = "clang is not on PATH"
			return
		}
		dir, err := os.MkdirTemp("", "hangar-c-probe")
		if err != nil {
			toolchain.missing = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		src := filepath.Join(dir, "probe.c")
		probe := "#include <stdlib.h>\nint probe(const char *s) { char *e; void *p = malloc(8); free(p); return (int)strtod(s, &e); }\n"
		if err := os.WriteFile(src, []byte(probe), 0o644); err != nil {
			toolchain.missing = err.Error()
			return
		}
		cmd := exec.Command("clang", append(slices.Clone(cflags[:len(cflags)-2]), "-Wl,--export=probe", "-o", filepath.Join(dir, "probe.wasm"), src)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			toolchain.missing = fmt.Sprintf("clang cannot build for wasm32-wasi (wasi-libc or the wasm32 compiler-rt missing?): %v\n%s", err, out)
		}
	})
	if toolchain.missing == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s, and CI must build the C plugins (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)", toolchain.missing)
	}
	t.Skip(toolchain.missing)
}

// buildExample builds example/ with its build.sh into a temp dir and returns that dir, which holds
// c-example.wasm and its sealed plugin.toml.
func buildExample(t testing.TB) string {
	t.Helper()
	needClang(t)
	dir := t.TempDir()
	if out, err := exec.Command("sh", "example/build.sh", dir).CombinedOutput(); err != nil {
		t.Fatalf("example/build.sh: %v\n%s", err, out)
	}
	return dir
}

// buildC compiles a C file with the example's flags and returns the module.
func buildC(t testing.TB, src string) []byte {
	t.Helper()
	needClang(t)
	out := filepath.Join(t.TempDir(), "plugin.wasm")
	if msg, err := exec.Command("clang", append(slices.Clone(cflags), "-o", out, src)...).CombinedOutput(); err != nil {
		t.Fatalf("clang %s: %v\n%s", src, err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// ---------------------------------------------------------------------------------------------
// The bare ABI: the module on plain wazero, with the imports it may use implemented here as the
// host implements them (host/abifuncs.go, host/hostfuncs.go), so that the test sees the exact
// bytes the plugin writes with output_write. The host only ever sees them decoded.

// bareCall is what one call of an export made.
type bareCall struct {
	out    []byte // output_write's bytes
	err    string // error_set's message, if the call failed (rc 1)
	rc     uint32
	logs   []string
	kv     map[string][]byte
	blocks map[uint64][]byte // Extism's memory: blocks by offset
	next   uint64
}

func (c *bareCall) block(off uint64) ([]byte, uint64) {
	for start, b := range c.blocks {
		if off >= start && off < start+uint64(len(b)) {
			return b, off - start
		}
	}
	panic(fmt.Sprintf("no Extism block at %d", off))
}

// allowedImports are the functions a module built with hangar.h may import, besides WASI's (see
// moduleImports).
var allowedImports = map[string]bool{
	"extism:host/env.input_length": true, "extism:host/env.alloc": true, "extism:host/env.store_u8": true,
	"extism:host/env.store_u64": true, "extism:host/env.error_set": true,
	"hangar.input_read": true, "hangar.output_write": true, "hangar.log": true, "hangar.kv_read": true, "hangar.kv_write": true,
}

// callBare runs export over an input (abi.AppendInput's bytes) on a fresh instance.
func callBare(t testing.TB, wasm []byte, export string, input []byte, kv map[string][]byte) *bareCall {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	c := &bareCall{kv: kv, blocks: map[uint64][]byte{}, next: 1}
	_, err := r.NewHostModuleBuilder("extism:host/env").
		NewFunctionBuilder().WithFunc(func() uint64 { return uint64(len(input)) }).Export("input_length").
		NewFunctionBuilder().WithFunc(func(n uint64) uint64 {
		off := c.next
		c.blocks[off] = make([]byte, n)
		c.next += n + 1
		return off
	}).Export("alloc").
		NewFunctionBuilder().WithFunc(func(off uint64, v uint32) { b, i := c.block(off); b[i] = byte(v) }).Export("store_u8").
		NewFunctionBuilder().WithFunc(func(off, v uint64) {
		b, i := c.block(off)
		for k := range 8 {
			b[i+uint64(k)] = byte(v >> (8 * k))
		}
	}).Export("store_u64").
		NewFunctionBuilder().WithFunc(func(off uint64) { b, _ := c.block(off); c.err = string(b) }).Export("error_set").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mem := func(m api.Module, p, n uint32) []byte {
		b, ok := m.Memory().Read(p, n)
		if !ok {
			panic("guest memory out of bounds")
		}
		return b
	}
	_, err = r.NewHostModuleBuilder("hangar").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, dst, n uint32) {
		if int(n) != len(input) {
			panic("input_read of the wrong length")
		}
		copy(mem(m, dst, n), input)
	}).Export("input_read").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, src, n uint32) {
		c.out = bytes.Clone(mem(m, src, n))
	}).Export("output_write").
		NewFunctionBuilder().WithFunc(func(level, off uint64) { b, _ := c.block(off); c.logs = append(c.logs, string(b)) }).Export("log").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, key, keyLen, dst, capacity uint32) int32 {
		v, ok := c.kv[string(mem(m, key, keyLen))]
		if !ok {
			return -1
		}
		if len(v) <= int(capacity) {
			copy(mem(m, dst, uint32(len(v))), v)
		}
		return int32(len(v))
	}).Export("kv_read").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, key, keyLen, val, valLen uint32) {
		c.kv[string(mem(m, key, keyLen))] = bytes.Clone(mem(m, val, valLen))
	}).Export("kv_write").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	wasi := false
	for _, f := range compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch {
		case mod == wasip1.ModuleName:
			wasi = true
		case !allowedImports[mod+"."+name]:
			t.Fatalf("the module imports %s.%s", mod, name)
		}
	}
	if wasi {
		// The host gives every plugin WASI, with no files, arguments or environment.
		wasip1.MustInstantiate(ctx, r)
	}
	m, err := r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	fn := m.ExportedFunction(export)
	if fn == nil {
		t.Fatalf("no export %q", export)
	}
	res, err := fn.Call(ctx)
	if err != nil {
		t.Fatalf("call %s: %v", export, err)
	}
	c.rc = uint32(res[0])
	return c
}

// moduleImports lists the functions a module imports, as "module.name".
func moduleImports(t testing.TB, wasm []byte) []string {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	var out []string
	for _, f := range compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		out = append(out, mod+"."+name)
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// The real host.

// now is the test host's clock: events without a time of their own get it.
var now = time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)

// logBuffer collects the host's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// loadHost loads a module in a real host, granted its manifest's capabilities.
func loadHost(t testing.TB, m host.Manifest, wasm []byte) (*host.Plugin, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	h, err := host.New(host.Config{KV: &host.MemKV{}, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := host.NewGrants(m.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, wasm, g)
	if err != nil {
		t.Fatalf("load in the host: %v", err)
	}
	return p, logs
}

// hostOutput runs records through the plugin in the host, in calls of 100 (as the capture stage
// batches), and encodes the outcomes again as the plugin's output would be, with what the host
// completes undone: the id and platform it sets, and the time it gives events without one.
func hostOutput(t testing.TB, p *host.Plugin, records [][]byte) ([]byte, []abi.Result) {
	t.Helper()
	var res []abi.Result
	for lo := 0; lo < len(records); lo += 100 {
		outcomes, err := p.Call(context.Background(), "capture", records[lo:min(lo+100, len(records))])
		if err != nil {
			t.Fatalf("host call: %v", err)
		}
		for _, o := range outcomes {
			if o.Err != nil {
				res = append(res, abi.Result{Err: o.Err.Error()})
				continue
			}
			evs := slices.Clone(o.Events)
			for i := range evs {
				evs[i].ID, evs[i].Platform = sdk.ID{}, ""
				if evs[i].Time.Equal(now) {
					evs[i].Time = time.Time{}
				}
			}
			res = append(res, abi.Result{Events: evs})
		}
	}
	return mustOutput(t, res), res
}

// ---------------------------------------------------------------------------------------------

// hookPayloads reads every real hook payload of the shared fixtures.
func hookPayloads(t testing.TB) [][]byte {
	t.Helper()
	out := hosttest.HookPayloads(t)
	if len(out) < 1000 {
		t.Fatalf("%d payloads in the fixtures, want the 2,000 or so of ../shared", len(out))
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

func mustOutput(t testing.TB, res []abi.Result) []byte {
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

func TestExampleCapturesHookPayloads(t *testing.T) {
	dir := buildExample(t)
	m, wasm, err := host.ReadPluginDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fixtures := hookPayloads(t)
	// Records the SDK's JSON reader must get right: escapes, nesting, whitespace, a missing name.
	records := append(slices.Clone(fixtures),
		[]byte(`{"tool_input":{"hook_event_name":"Nested","x":[1,{"y":"}"}]},"hook_event_name":"Pre\u0054oolUse","tool_name":"B\u0061sh"}`),
		[]byte(" {\n \"tool_name\" : \"Edit\" ,\t\"hook_event_name\" :\"PostToolUse\" } "),
		[]byte(`{"session_id":"s\"1","hook_event_name":"Stop"}`),
		[]byte(`{"hook_event_name":"Caf\u00e9\ud83d\ude00"}`),
		[]byte(`{"h\u006fok_event_name":"Escaped-Key","tool_name":""}`),
		[]byte(`{"tool_name":"Bash"}`),
		[]byte(`{}`),
	)
	want := make([]abi.Result, len(records))
	for i, r := range records {
		want[i] = echo(r)
	}
	wantOut := mustOutput(t, want)

	// The example needs nothing but Extism's and Hangar's functions: no WASI.
	for _, imp := range moduleImports(t, wasm) {
		if !allowedImports[imp] {
			t.Errorf("the example imports %s", imp)
		}
	}

	// The plugin's own bytes, on the bare ABI: the Go encoders' exactly.
	c := callBare(t, wasm, "capture", abi.AppendInput(nil, records), map[string][]byte{})
	if c.rc != 0 {
		t.Fatalf("call failed: %s", c.err)
	}
	if !bytes.Equal(c.out, wantOut) {
		gotRaw, wantRaw := splitResults(t, c.out, len(records)), splitResults(t, wantOut, len(records))
		for i := range records {
			if !bytes.Equal(gotRaw[i], wantRaw[i]) {
				t.Errorf("record %d %.200s:\n got %x\nwant %x", i, records[i], gotRaw[i], wantRaw[i])
			}
		}
		t.Fatalf("output differs from the Go encoders' (%d bytes, want %d)", len(c.out), len(wantOut))
	}

	// The same module in the real host, installed as its plugin.toml says, on every real payload:
	// the host projects each record to the grants, decodes the output strictly and checks every
	// event; it must accept them all, and they must be the Go reference's.
	p, _ := loadHost(t, m, wasm)
	got, res := hostOutput(t, p, fixtures)
	kinds := map[string]int{}
	for i, r := range res {
		if r.Err != "" {
			t.Errorf("fixture %d: the host failed the record: %s", i, r.Err)
			continue
		}
		for _, ev := range r.Events {
			kinds[ev.Kind]++
		}
	}
	if wantFix := mustOutput(t, want[:len(fixtures)]); !bytes.Equal(got, wantFix) {
		t.Errorf("the host's events differ from the Go reference's (%d bytes encoded, want %d)", len(got), len(wantFix))
	}
	for _, k := range []string{"hook.PreToolUse", "hook.PostToolUse", "hook.UserPromptSubmit", "hook.Stop", "hook.SessionStart"} {
		if kinds[k] == 0 {
			t.Errorf("no %s event under the host; got %v", k, kinds)
		}
	}
	if st := p.Status(); st.Records != int64(len(fixtures)) || st.RecordErrors != 0 || st.Refused != 0 {
		t.Errorf("host status: %d records, %d failed, %d refused; want %d, 0, 0", st.Records, st.RecordErrors, st.Refused, len(fixtures))
	}
}

func TestEncodingMatchesGo(t *testing.T) {
	wasm := buildC(t, "testdata/allkinds.c")
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	sketch := sdk.Sketch("sk", []uint16{0, 81, 4095}, []float32{1, -0.5, 3.25})
	tests := []struct {
		name   string
		record string
		want   abi.Result
	}{
		{"empty", `{"count":0}`, abi.Result{}},
		{"bare", `{}`, abi.Result{Events: []sdk.Event{{Kind: "test"}}}},
		{"fail", `{"fail":"bad record \u2014 really"}`, abi.Result{Err: "bad record — really"}},
		{"fail empty", `{"fail":""}`, abi.Result{Err: "record failed"}}, // "" would read as no error
		{"count not int", `{"count":1.5}`, abi.Result{Err: "count is not an integer"}},
		{"session and time", `{"kind":"k.x","session":"abc-123","t":` + jsonInt(when.UnixNano()) + `}`,
			abi.Result{Events: []sdk.Event{{Kind: "k.x", SessionID: "abc-123", Time: when}}}},
		{"negative time", `{"t":-1}`, abi.Result{Events: []sdk.Event{{Kind: "test", Time: time.Unix(0, -1).UTC()}}}},
		{"ints", `{"count":3,"n":-9223372036854775808}`, abi.Result{Events: []sdk.Event{
			{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", math.MinInt64)}},
			{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", math.MinInt64)}},
			{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", math.MinInt64)}},
		}}},
		{"max int", `{"n":9223372036854775807}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", math.MaxInt64)}}}}},
		{"int overflow", `{"n":9223372036854775808}`, abi.Result{Events: []sdk.Event{{Kind: "test"}}}},
		{"small ints", `{"n":-64}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", -64)}}}}},
		{"every kind", `{"n":300,"f":-1.5e-7,"b":true,"id":"Bash","h":"0123456789abcdef0123456789abcdef","sk":1}`,
			abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{
				sdk.Int("n", 300), sdk.Float("f", -1.5e-7), sdk.Bool("b", true), sdk.Ident("id", "Bash"),
				sdk.Hash("h", []byte("0123456789abcdef0123456789abcdef")), sketch,
			}}}}},
		{"floats", `{"f":0.1}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Float("f", 0.1)}}}}},
		{"float extremes", `{"f":1.7976931348623157e308}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Float("f", math.MaxFloat64)}}}}},
		{"float denormal", `{"f":5e-324}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Float("f", math.SmallestNonzeroFloat64)}}}}},
		{"false", `{"b":false,"f":0}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Float("f", 0), sdk.Bool("b", false)}}}}},
		{"not a bool", `{"b":"true","n":"1"}`, abi.Result{Events: []sdk.Event{{Kind: "test"}}}},
		{"withheld", `{"w":"<withheld>"}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Bool("withheld", true)}}}}},
		{"not withheld", `{"w":"<withheld"}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Bool("withheld", false)}}}}},
		{"dotted path", `{"a":{"b":{"c":"deep"}},"get":"a.b.c"}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Ident("got", "deep")}}}}},
		{"path through a non-object", `{"a":["b"],"get":"a.b"}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Ident("got", "<none>")}}}}},
		{"long event", `{"kind":"` + strings.Repeat("k", 128) + `","id":"` + strings.Repeat("i", 128) + `","h":"` + strings.Repeat("h", 32) + `"}`,
			abi.Result{Events: []sdk.Event{{Kind: strings.Repeat("k", 128), Attrs: []sdk.Attr{sdk.Ident("id", strings.Repeat("i", 128)), sdk.Hash("h", bytes.Repeat([]byte("h"), 32))}}}}},
		{"kv and log", `{"kv":"stored","log":"hello from C"}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Ident("kv", "stored")}}}}},
		{"kv larger than the first buffer", `{"kv":"` + strings.Repeat("v", 1000) + `"}`, abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Ident("kv", strings.Repeat("v", 1000))}}}}},
	}
	records := make([][]byte, len(tests))
	want := make([]abi.Result, len(tests))
	for i, tt := range tests {
		records[i], want[i] = []byte(tt.record), tt.want
	}
	c := callBare(t, wasm, "capture", abi.AppendInput(nil, records), map[string][]byte{})
	if c.rc != 0 {
		t.Fatalf("call failed: %s", c.err)
	}
	wantOut := mustOutput(t, want)
	if !bytes.Equal(c.out, wantOut) {
		t.Errorf("output differs from the Go encoders'\n got %x\nwant %x", c.out, wantOut)
	}
	gotRaw, wantRaw := splitResults(t, c.out, len(tests)), splitResults(t, wantOut, len(tests))
	for i, tt := range tests {
		if !bytes.Equal(gotRaw[i], wantRaw[i]) {
			t.Errorf("%s: result bytes\n got %x\nwant %x", tt.name, gotRaw[i], wantRaw[i])
		}
	}
	if len(c.logs) != 1 || c.logs[0] != "hello from C" {
		t.Errorf("logs %q, want one line", c.logs)
	}

	// A batch the SDK cannot read fails the whole call, with a message that says why.
	for _, tt := range []struct {
		name, input, want string
	}{
		{"version 2", "\x02\x00", "malformed batch: version 2, want 1"},
		{"empty input", "", "malformed batch at byte 0: truncated"},
		{"truncated record", "\x01\x01\x05{", "malformed batch at byte 3: count exceeds input"},
		{"count beyond the input", "\x01\x05\x00", "malformed batch at byte 2: count exceeds input"},
		{"trailing bytes", "\x01\x01\x02{}x", "malformed batch at byte 5: trailing bytes"},
		{"uvarint overflow", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", "malformed batch at byte 11: uvarint overflows 64 bits"},
	} {
		c := callBare(t, wasm, "capture", []byte(tt.input), map[string][]byte{})
		if c.rc != 1 || c.err != tt.want || c.out != nil {
			t.Errorf("%s: rc %d, error %q, output %x; want rc 1, error %q, no output", tt.name, c.rc, c.err, c.out, tt.want)
		}
	}
}

// TestMalformedRecords feeds the JSON reader every prefix of records and records of random bytes:
// a lookup on a malformed record finds nothing or something, but never reads outside the record
// (a read outside would trap, or find bytes of the next record; each record here is followed by
// one holding the fields the plugin looks for).
func TestMalformedRecords(t *testing.T) {
	wasm := buildC(t, "testdata/allkinds.c")
	full := `{"kind":"k.x","session":"s\u0041","n":-12,"f":2.5e3,"b":true,"id":"Bash","h":"\ud83d\ude00x","get":"a.b","a":{"b":"\u00e9"},"w":"<withheld>"}`
	var records [][]byte
	for i := range len(full) {
		records = append(records, []byte(full[:i]))
	}
	for _, s := range []string{`{"kind":"\u12`, `{"kind":"\ud800"}`, `{"kind":"\ud800\u0041"}`, `{"n":-}`, `{"n":}`, `{"f":1e400}`, `{"b":tru}`,
		`{"get":"a.","a":{"":"empty key"}}`, `{"get":".","":{"":"x"}}`, `{"kind":"a\`, `{"kind" "x"}`, `{"kind":"x",}`, `[{"kind":"x"}]`, `"kind"`,
		`{"a":{"b":{"c":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`} {
		records = append(records, []byte(s))
	}
	// Each record is followed in the batch by a filler: a tempting one of 32 bytes (its length
	// byte a space), whose fields a reader running past its record would find, or a dull one of
	// 33 ('!'). A record's result must not depend on which.
	tempting, dull := []byte(`"kind":"leaked","id":"leaked"}  `), bytes.Repeat([]byte("x"), 33)
	if len(tempting) != ' ' || len(dull) != '!' {
		t.Fatal("the fillers must be 32 and 33 bytes long")
	}
	run := func(filler []byte) [][]byte {
		var batch [][]byte
		for _, r := range records {
			batch = append(batch, r, filler)
		}
		c := callBare(t, wasm, "capture", abi.AppendInput(nil, batch), map[string][]byte{})
		if c.rc != 0 {
			t.Fatalf("call failed: %s", c.err)
		}
		return splitResults(t, c.out, len(batch))
	}
	a, b := run(tempting), run(dull)
	for i, r := range records {
		if !bytes.Equal(a[2*i], b[2*i]) {
			t.Errorf("record %q: its result depends on the bytes after it:\n%x\n%x", r, a[2*i], b[2*i])
		} else if bytes.Contains(a[2*i], []byte("leaked")) {
			t.Errorf("record %q: read past its end", r)
		}
	}
	// The whole record is read right, as gjson reads it.
	last := callBare(t, wasm, "capture", abi.AppendInput(nil, [][]byte{[]byte(full)}), map[string][]byte{})
	want := mustOutput(t, []abi.Result{{Events: []sdk.Event{{Kind: "k.x", SessionID: "sA", Attrs: []sdk.Attr{
		sdk.Int("n", -12), sdk.Float("f", 2500), sdk.Bool("b", true), sdk.Ident("id", "Bash"),
		sdk.Hash("h", []byte(gjson.Get(full, "h").String())), sdk.Bool("withheld", true), sdk.Ident("got", "é"),
	}}}}})
	if !bytes.Equal(last.out, want) {
		t.Errorf("full record:\n got %x\nwant %x", last.out, want)
	}
}

// TestHostFunctions runs the test plugin in the real host, granted log and kv: the line reaches
// the agent's log, and the value the plugin writes with kv_write it reads back with kv_read.
func TestHostFunctions(t *testing.T) {
	wasm := buildC(t, "testdata/allkinds.c")
	sum := sha256.Sum256(wasm)
	m := host.Manifest{Name: "c-allkinds", Version: "0.1.0", Kind: host.KindCapture, ABI: 1, Platform: "claude-code",
		Wasm: "c-allkinds.wasm", SHA256: hex.EncodeToString(sum[:]), Emits: []string{"test"},
		Capabilities: []string{"read:payload.kv", "read:payload.log", "read:payload.n", "read:payload.fail", "emit:events", "kv", "log"}}
	p, logs := loadHost(t, m, wasm)
	records := [][]byte{
		[]byte(`{"kv":"stored-value","log":"hello-from-C","n":-9223372036854775808}`),
		[]byte(`{"fail":"bad-record"}`),
		[]byte(`{"n":42,"session":"not-granted"}`),
	}
	_, res := hostOutput(t, p, records)
	want := []abi.Result{
		{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", math.MinInt64), sdk.Ident("kv", "stored-value")}}}},
		{Err: "bad-record"},
		{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", 42)}}}}, // the host projected the session away
	}
	for i := range want {
		if want[i].Err != "" {
			if !strings.Contains(res[i].Err, want[i].Err) {
				t.Errorf("record %d: error %q, want one saying %q", i, res[i].Err, want[i].Err)
			}
			continue
		}
		if g, w := mustOutput(t, res[i:i+1]), mustOutput(t, want[i:i+1]); !bytes.Equal(g, w) {
			t.Errorf("record %d: got %v, want %v", i, res[i].Events, want[i].Events)
		}
	}
	if !strings.Contains(logs.String(), "hello-from-C") {
		t.Errorf("the plugin's log line is not in the host's log:\n%s", logs)
	}

	// Without the kv grant, kv_write is denied: the call fails, the record does not pass.
	m.Capabilities = slices.DeleteFunc(slices.Clone(m.Capabilities), func(c string) bool { return c == "kv" })
	m.Name = "c-allkinds-nokv"
	p2, _ := loadHost(t, m, wasm)
	if _, err := p2.Call(context.Background(), "capture", [][]byte{[]byte(`{"kv":"x"}`)}); err == nil {
		t.Error("kv_write without the kv grant: the call succeeded")
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
