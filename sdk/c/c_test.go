// Package c_test builds the C SDK's example plugin and a test plugin from source (clang with
// wasi-libc) and runs them under the real host and on the bare ABI (sdktest.Bare), checking that their output is
// the batch ABI v1 with events in the sdk binary encoding v1, byte for byte what the Go encoders
// write.
package c_test

import (
	"bytes"
	"context"
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

	"github.com/tidwall/gjson"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
	"github.com/hangar-dev/hangar/sdk/sdktest"
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
			toolchain.missing = "clang is not on PATH (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)"
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
			toolchain.missing = fmt.Sprintf("clang cannot build for wasm32-wasi (apt-get install lld wasi-libc libclang-rt-14-dev-wasm32): %v\n%s", err, out)
		}
	})
	sdktest.Require(t, toolchain.missing, "C")
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

// allowedImports are the functions a module built with hangar.h may import, besides WASI's: a
// subset of what sdktest.Bare implements.
var allowedImports = map[string]bool{
	"extism:host/env.input_length": true, "extism:host/env.alloc": true, "extism:host/env.store_u8": true,
	"extism:host/env.store_u64": true, "extism:host/env.error_set": true,
	"hangar.input_read": true, "hangar.output_write": true, "hangar.log": true, "hangar.kv_read": true, "hangar.kv_write": true,
}

// callBare runs export over an input (abi.AppendInput's bytes) on the bare ABI, after checking
// that the module imports nothing hangar.h does not, and returns what the call made; it fails the
// test if the module traps. bare may be nil for a fresh one.
func callBare(t testing.TB, bare *sdktest.Bare, wasm []byte, export string, input []byte) *sdktest.Call {
	t.Helper()
	for _, imp := range sdktest.Imports(t, wasm) {
		if !allowedImports[imp] && !strings.HasPrefix(imp, "wasi_snapshot_preview1.") {
			t.Fatalf("the module imports %s", imp)
		}
	}
	if bare == nil {
		bare = sdktest.NewBare()
	}
	c, err := bare.Run(wasm, export, input)
	if err != nil && c.RC == 0 {
		t.Fatal(err)
	}
	return c
}

// ---------------------------------------------------------------------------------------------
// The real host.

// now is the test host's clock: events without a time of their own get it.
var now = time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)

// loadHost loads a module in a real host, granted its manifest's capabilities, and returns it
// with the host's log.
func loadHost(t testing.TB, m host.Manifest, wasm []byte) (*host.Plugin, *hosttest.Buffer) {
	t.Helper()
	logs := &hosttest.Buffer{}
	h := sdktest.NewHost(t, host.Config{KV: &host.MemKV{}, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return sdktest.Load(t, h, m, wasm), logs
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
	return sdktest.Output(t, res), res
}

// hookPayloads reads every real hook payload of the shared fixtures.
func hookPayloads(t testing.TB) [][]byte {
	t.Helper()
	return sdktest.HookPayloads(t)
}

func TestExampleCapturesHookPayloads(t *testing.T) {
	dir := buildExample(t)
	m, wasm, err := host.ReadPluginDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fixtures := hookPayloads(t)
	// Records the SDK's JSON reader must get right (sdktest.OddHookRecords), and an escaped key.
	records := append(slices.Concat(fixtures, sdktest.OddHookRecords),
		[]byte(`{"h\u006fok_event_name":"Escaped-Key","tool_name":""}`),
	)
	want := sdktest.EchoAll(records)

	// The example needs nothing but Extism's and Hangar's functions: no WASI.
	for _, imp := range sdktest.Imports(t, wasm) {
		if !allowedImports[imp] {
			t.Errorf("the example imports %s", imp)
		}
	}

	// The plugin's own bytes, on the bare ABI: the Go encoders' exactly.
	c := callBare(t, nil, wasm, "capture", abi.AppendInput(nil, records))
	if c.RC != 0 {
		t.Fatalf("call failed: %s", c.Err)
	}
	sdktest.CompareOutput(t, c.Out, want, sdktest.RecordName(records))
	if t.Failed() {
		t.FailNow()
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
	if wantFix := sdktest.Output(t, want[:len(fixtures)]); !bytes.Equal(got, wantFix) {
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
	sketch := sdk.Sketch("sk", []uint16{0, 81, 4095}, []float32{1, -0.5, 3.25})
	ev := func(attrs ...sdk.Attr) abi.Result {
		return abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: attrs}}}
	}
	cases := append(sdktest.EncodingCases(), []sdktest.Case{
		{Name: "fail empty", Record: `{"fail":""}`, Want: abi.Result{Err: "record failed"}}, // "" would read as no error
		{Name: "count not int", Record: `{"count":1.5}`, Want: abi.Result{Err: "count is not an integer"}},
		{Name: "int overflow", Record: `{"n":9223372036854775808}`, Want: ev()},
		{Name: "every kind", Record: `{"n":300,"f":-1.5e-7,"b":true,"id":"Bash","h":"0123456789abcdef0123456789abcdef","sk":1}`,
			Want: ev(sdk.Int("n", 300), sdk.Float("f", -1.5e-7), sdk.Bool("b", true), sdk.Ident("id", "Bash"),
				sdk.Hash("h", []byte("0123456789abcdef0123456789abcdef")), sketch)},
		{Name: "floats", Record: `{"f":0.1}`, Want: ev(sdk.Float("f", 0.1))},
		{Name: "float extremes", Record: `{"f":1.7976931348623157e308}`, Want: ev(sdk.Float("f", math.MaxFloat64))},
		{Name: "float denormal", Record: `{"f":5e-324}`, Want: ev(sdk.Float("f", math.SmallestNonzeroFloat64))},
		{Name: "not a bool", Record: `{"b":"true","n":"1"}`, Want: ev()},
		{Name: "dotted path", Record: `{"a":{"b":{"c":"deep"}},"get":"a.b.c"}`, Want: ev(sdk.Ident("got", "deep"))},
		{Name: "path through a non-object", Record: `{"a":["b"],"get":"a.b"}`, Want: ev(sdk.Ident("got", "<none>"))},
		{Name: "long event", Record: `{"kind":"` + strings.Repeat("k", 128) + `","id":"` + strings.Repeat("i", 128) + `","h":"` + strings.Repeat("h", 32) + `"}`,
			Want: abi.Result{Events: []sdk.Event{{Kind: strings.Repeat("k", 128), Attrs: []sdk.Attr{sdk.Ident("id", strings.Repeat("i", 128)), sdk.Hash("h", bytes.Repeat([]byte("h"), 32))}}}}},
		{Name: "kv and log", Record: `{"kv":"stored","log":"hello from C"}`, Want: ev(sdk.Ident("kv", "stored"))},
		{Name: "kv larger than the first buffer", Record: `{"kv":"` + strings.Repeat("v", 1000) + `"}`, Want: ev(sdk.Ident("kv", strings.Repeat("v", 1000)))},
	}...)
	records, want := sdktest.Records(cases)
	bare := sdktest.NewBare()
	c := callBare(t, bare, wasm, "capture", abi.AppendInput(nil, records))
	if c.RC != 0 {
		t.Fatalf("call failed: %s", c.Err)
	}
	sdktest.CompareOutput(t, c.Out, want, sdktest.CaseName(cases))
	if len(bare.Logs) != 1 || bare.Logs[0] != "hello from C" {
		t.Errorf("logs %q, want one line", bare.Logs)
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
		c := callBare(t, nil, wasm, "capture", []byte(tt.input))
		if c.RC != 1 || c.Err != tt.want || c.Out != nil {
			t.Errorf("%s: rc %d, error %q, output %x; want rc 1, error %q, no output", tt.name, c.RC, c.Err, c.Out, tt.want)
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
		c := callBare(t, nil, wasm, "capture", abi.AppendInput(nil, batch))
		if c.RC != 0 {
			t.Fatalf("call failed: %s", c.Err)
		}
		return sdktest.Split(t, c.Out, len(batch))
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
	last := callBare(t, nil, wasm, "capture", abi.AppendInput(nil, [][]byte{[]byte(full)}))
	want := sdktest.Output(t, []abi.Result{{Events: []sdk.Event{{Kind: "k.x", SessionID: "sA", Attrs: []sdk.Attr{
		sdk.Int("n", -12), sdk.Float("f", 2500), sdk.Bool("b", true), sdk.Ident("id", "Bash"),
		sdk.Hash("h", []byte(gjson.Get(full, "h").String())), sdk.Bool("withheld", true), sdk.Ident("got", "é"),
	}}}}})
	if !bytes.Equal(last.Out, want) {
		t.Errorf("full record:\n got %x\nwant %x", last.Out, want)
	}
}

// TestHostFunctions runs the test plugin in the real host, granted log and kv: the line reaches
// the agent's log, and the value the plugin writes with kv_write it reads back with kv_read.
func TestHostFunctions(t *testing.T) {
	wasm := buildC(t, "testdata/allkinds.c")
	m := sdktest.CaptureManifest("c-allkinds", wasm,
		[]string{"read:payload.kv", "read:payload.log", "read:payload.n", "read:payload.fail", "emit:events", "kv", "log"}, "test")
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
		if g, w := sdktest.Output(t, res[i:i+1]), sdktest.Output(t, want[i:i+1]); !bytes.Equal(g, w) {
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
