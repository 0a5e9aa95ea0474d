// Package rust_test builds the Rust SDK's example plugin and a test plugin from source (with
// Debian's /usr/bin/rustc and its wasm32-wasi std, through sdk/rust/build.sh) and runs them, under
// Extism with the batch ABI's host functions played by the test and under the real host, checking
// that their output is the batch ABI v1 with events in the sdk binary encoding v1, byte for byte
// what the Go encoders write.
package rust_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero/api"
	"github.com/tidwall/gjson"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
)

// rustc is Debian's compiler, which has the wasm32-wasi std (libstd-rust-dev-wasm32); a rustup
// toolchain earlier on PATH may not.
const rustc = "/usr/bin/rustc"

// toolchain skips the test if rustc or its wasm32-wasi std is missing, unless CI is set: CI
// must build the Rust plugins, so there it fails.
func toolchain(t testing.TB) {
	t.Helper()
	missing := ""
	if _, err := os.Stat(rustc); err != nil {
		missing = rustc + " is missing (apt-get install rustc)"
	} else if out, err := exec.Command(rustc, "--print", "sysroot").Output(); err != nil {
		missing = "rustc --print sysroot: " + err.Error()
	} else if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(out)), "lib", "rustlib", "wasm32-wasi")); err != nil {
		missing = "rustc has no wasm32-wasi std (apt-get install libstd-rust-dev-wasm32)"
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s, and CI must build the Rust plugins", missing)
	}
	t.Skip(missing)
}

var built struct {
	sync.Mutex
	wasm map[string][]byte
}

// build compiles a plugin's root source file (relative to this folder) with build.sh into a temp
// dir, once per test binary, and returns the module.
func build(t testing.TB, src string) []byte {
	t.Helper()
	toolchain(t)
	built.Lock()
	defer built.Unlock()
	if w, ok := built.wasm[src]; ok {
		return w
	}
	out := filepath.Join(t.TempDir(), "plugin.wasm")
	cmd := exec.Command("sh", "build.sh", src, out)
	cmd.Env = append(os.Environ(), "RUSTC="+rustc)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh %s: %v\n%s", src, err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if built.wasm == nil {
		built.wasm = map[string][]byte{}
	}
	built.wasm[src] = wasm
	return wasm
}

// fakeHost plays the host functions of module "hangar" for a plugin run under Extism alone, so
// that the test sees the raw output: input_read and output_write, log, kv_read and kv_write, salt,
// and leaks, which answers true for a string that holds "leak" or is "rec<record index>".
type fakeHost struct {
	mu     sync.Mutex
	input  []byte
	output []byte
	kv     map[string][]byte
	logs   []string
	salt   []byte
	leakQs []uint32 // the record index of each leaks call
	// mem is the guest's own memory (CurrentPlugin.Memory is Extism's kernel memory).
	mem api.Memory
}

// guestMemory returns the linear memory of an Extism plugin's own module. Extism go-sdk does not
// expose it: Plugin.Module returns an *extism.Module whose only field is the wazero module,
// unexported; the host reads it the same way (host/extismmod.go), after checking the layout.
func guestMemory(t testing.TB, p *extism.Plugin) api.Memory {
	t.Helper()
	typ := reflect.TypeFor[extism.Module]()
	if typ.Kind() != reflect.Struct || typ.NumField() != 1 || typ.Field(0).Type != reflect.TypeFor[api.Module]() {
		t.Fatal("extism.Module is not one api.Module field: update guestMemory")
	}
	return (*(*api.Module)(unsafe.Pointer(p.Module()))).Memory()
}

func (f *fakeHost) functions() []extism.HostFunction {
	i32, i64 := extism.ValueTypeI32, extism.ValueTypeI64
	fns := []extism.HostFunction{
		extism.NewHostFunctionWithStack("input_read", func(_ context.Context, p *extism.CurrentPlugin, s []uint64) {
			f.mem.Write(uint32(s[0]), f.input[:uint32(s[1])])
		}, []extism.ValueType{i32, i32}, nil),
		extism.NewHostFunctionWithStack("output_write", func(_ context.Context, p *extism.CurrentPlugin, s []uint64) {
			b, _ := f.mem.Read(uint32(s[0]), uint32(s[1]))
			f.output = bytes.Clone(b)
		}, []extism.ValueType{i32, i32}, nil),
		extism.NewHostFunctionWithStack("log", func(_ context.Context, p *extism.CurrentPlugin, s []uint64) {
			msg, _ := p.ReadString(s[1])
			f.mu.Lock()
			f.logs = append(f.logs, msg)
			f.mu.Unlock()
		}, []extism.ValueType{i64, i64}, nil),
		extism.NewHostFunctionWithStack("kv_read", func(_ context.Context, p *extism.CurrentPlugin, s []uint64) {
			key, _ := f.mem.Read(uint32(s[0]), uint32(s[1]))
			v, ok := f.kv[string(key)]
			if !ok {
				s[0] = uint64(uint32(0xffffffff)) // -1
				return
			}
			if len(v) <= int(uint32(s[3])) {
				f.mem.Write(uint32(s[2]), v)
			}
			s[0] = uint64(len(v))
		}, []extism.ValueType{i32, i32, i32, i32}, []extism.ValueType{i32}),
		extism.NewHostFunctionWithStack("kv_write", func(_ context.Context, p *extism.CurrentPlugin, s []uint64) {
			key, _ := f.mem.Read(uint32(s[0]), uint32(s[1]))
			val, _ := f.mem.Read(uint32(s[2]), uint32(s[3]))
			f.kv[string(key)] = bytes.Clone(val)
		}, []extism.ValueType{i32, i32, i32, i32}, nil),
		extism.NewHostFunctionWithStack("salt", func(_ context.Context, p *extism.CurrentPlugin, s []uint64) {
			s[0], _ = p.WriteBytes(f.salt)
		}, nil, []extism.ValueType{i64}),
		extism.NewHostFunctionWithStack("leaks", func(_ context.Context, p *extism.CurrentPlugin, s []uint64) {
			rec := uint32(s[0])
			q, _ := f.mem.Read(uint32(s[1]), uint32(s[2]))
			var bits []byte
			k := 0
			for len(q) > 0 {
				n, w := binary.Uvarint(q)
				str := string(q[w : w+int(n)])
				q = q[w+int(n):]
				if k%8 == 0 {
					bits = append(bits, 0)
				}
				if strings.Contains(str, "leak") || str == fmt.Sprintf("rec%d", rec) {
					bits[k/8] |= 1 << (k % 8)
				}
				k++
			}
			f.mem.Write(uint32(s[3]), bits)
			f.leakQs = append(f.leakQs, rec)
			s[0] = uint64(k)
		}, []extism.ValueType{i32, i32, i32, i32}, []extism.ValueType{i32}),
	}
	for i := range fns {
		fns[i].SetNamespace("hangar")
	}
	return fns
}

// newFake returns a fakeHost with an empty kv store and a fixed salt.
func newFake() *fakeHost {
	return &fakeHost{kv: map[string][]byte{}, salt: bytes.Repeat([]byte{0xa5, 0x5a}, 16)}
}

// rawCall runs export over input under Extism with the fake host, and returns the raw output,
// or the call's error.
func (f *fakeHost) rawCall(t testing.TB, wasm []byte, export string, input []byte) ([]byte, error) {
	t.Helper()
	ctx := context.Background()
	m := extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: wasm}}}
	p, err := extism.NewPlugin(ctx, m, extism.PluginConfig{EnableWasi: true}, f.functions())
	if err != nil {
		t.Fatalf("load plugin: %v", err)
	}
	defer p.Close(ctx)
	f.mem = guestMemory(t, p)
	f.input, f.output = input, nil
	rc, _, err := p.Call(export, input)
	if err == nil && rc != 0 {
		err = fmt.Errorf("exit status %d", rc)
	}
	return f.output, err
}

// call is rawCall over records, failing the test if the call fails.
func (f *fakeHost) call(t testing.TB, wasm []byte, export string, records [][]byte) []byte {
	t.Helper()
	out, err := f.rawCall(t, wasm, export, abi.AppendInput(nil, records))
	if err != nil {
		t.Fatalf("call %s: %v", export, err)
	}
	return out
}

// hookPayloads reads every payload of the shared fixtures, compacted as the host's capture stage
// passes them.
func hookPayloads(t testing.TB) [][]byte {
	t.Helper()
	out := hosttest.HookPayloads(t)
	for i, p := range out {
		var buf bytes.Buffer
		if json.Compact(&buf, p) == nil {
			out[i] = buf.Bytes()
		}
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

// oddRecords are records the SDK's JSON reader must get right: escapes, nesting, whitespace, a
// missing name, a string with a long run before its escape.
var oddRecords = [][]byte{
	[]byte(`{"tool_input":{"hook_event_name":"Nested","x":[1,{"y":"}"}]},"hook_event_name":"Pre\u0054oolUse","tool_name":"B\u0061sh"}`),
	[]byte(" {\n \"tool_name\" : \"Edit\" ,\t\"hook_event_name\" :\"PostToolUse\" } "),
	[]byte(`{"session_id":"s\"1","hook_event_name":"Stop"}`),
	[]byte(`{"hook_event_name":"Caf\u00e9\ud83d\ude00"}`),
	[]byte(`{"x":"` + strings.Repeat("0123456789abcdef", 9) + `\"}\\","hook_event_name":"Long","tool_name":""}`),
	[]byte(`{"hook_event_name":"Lone\ud83d"}`),
	[]byte(`{"tool_name":"Bash"}`),
	[]byte(`{}`),
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
func splitResults(t testing.TB, out []byte, n int) [][]byte {
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

// TestExampleCapturesHookPayloads runs the example over every real hook payload and the odd
// records, under Extism, and compares the raw output with the Go encoders' for what the Go
// reference plugin makes of the same records.
func TestExampleCapturesHookPayloads(t *testing.T) {
	wasm := build(t, "example/lib.rs")
	records := append(hookPayloads(t), oddRecords...)
	out := newFake().call(t, wasm, "capture", records)
	want := make([]abi.Result, len(records))
	for i, r := range records {
		want[i] = echo(r)
	}
	if wantOut := mustOutput(t, want); !bytes.Equal(out, wantOut) {
		t.Errorf("output differs from the Go encoders' (%d bytes, want %d)", len(out), len(wantOut))
		got, w := splitResults(t, out, len(records)), splitResults(t, wantOut, len(records))
		for i := range records {
			if !bytes.Equal(got[i], w[i]) {
				t.Errorf("record %d %.200s:\n got %x\nwant %x", i, records[i], got[i], w[i])
			}
		}
	}
	kinds := map[string]int{}
	if err := abi.DecodeOutput(out, len(records), func(_ int, evs []sdk.Event, _ string) error {
		for _, ev := range evs {
			kinds[ev.Kind]++
		}
		return nil
	}); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	for _, k := range []string{"hook.PreToolUse", "hook.PostToolUse", "hook.UserPromptSubmit", "hook.Stop", "hook.Café😀", "hook.Lone\uFFFD"} {
		if kinds[k] == 0 {
			t.Errorf("no %s event; got %v", k, kinds)
		}
	}
}

// exampleCaps are the example's grants (its plugin.toml).
var exampleCaps = []string{"emit:events", "read:payload.hook_event_name", "read:payload.session_id", "read:payload.tool_name"}

// newHost returns a real host over a temp compilation cache, with a kv store and a secret.
func newHost(t testing.TB, kv host.KV) *host.Host {
	t.Helper()
	h, err := host.New(host.Config{CacheDir: filepath.Join(t.TempDir(), "cache"), KV: kv, Secret: bytes.Repeat([]byte("s"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	return h
}

// load loads a module into h as a capture plugin of a name with the grants given.
func load(t testing.TB, h *host.Host, name string, wasm []byte, caps []string, emits ...string) *host.Plugin {
	t.Helper()
	sum := sha256.Sum256(wasm)
	m := host.Manifest{
		Name: name, Version: "1.0.0", Kind: host.KindCapture, ABI: host.ABIVersion, Platform: "claude-code",
		Wasm: name + ".wasm", SHA256: hex.EncodeToString(sum[:]), Capabilities: caps, Emits: append([]string{"hook.*"}, emits...),
	}
	g, err := host.NewGrants(caps)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, wasm, g)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return p
}

var goEcho struct {
	sync.Once
	wasm []byte
	err  error
}

// echoWasm builds the Go reference plugin host/testdata/echo (GOOS=wasip1), once.
func echoWasm(t testing.TB) []byte {
	t.Helper()
	goEcho.Do(func() {
		dir, err := os.MkdirTemp("", "hangar-rust-test")
		if err != nil {
			goEcho.err = err
			return
		}
		defer os.RemoveAll(dir)
		w, err := hosttest.BuildPlugins(dir, map[string]string{"echo": "echo"})
		goEcho.wasm, goEcho.err = w["echo"], err
	})
	if goEcho.err != nil {
		t.Fatal(goEcho.err)
	}
	return goEcho.wasm
}

// TestExampleUnderHost runs the example and the Go reference plugin under the real host, granted
// the same fields, over every real hook payload, and compares what the host made of each
// record's emissions (checked and completed: ids, platform, times) byte for byte.
func TestExampleUnderHost(t *testing.T) {
	wasm := build(t, "example/lib.rs")
	records := append(hookPayloads(t), oddRecords...)
	h := newHost(t, nil)
	rs := load(t, h, "rust-example", wasm, exampleCaps)
	gop := load(t, h, "go-echo", echoWasm(t), exampleCaps)
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	recs := make([]host.Record, len(records))
	for i, r := range records {
		recs[i] = host.Record{ID: sdk.NewID("payload", r), Received: now, Payload: r}
	}
	// Batches of 100, as the capture stage sends them.
	captured := 0
	for start := 0; start < len(recs); start += 100 {
		batch := recs[start:min(start+100, len(recs))]
		got, err := rs.CallRecords(ctx, "capture", batch)
		if err != nil {
			t.Fatalf("rust: %v", err)
		}
		want, err := gop.CallRecords(ctx, "capture", batch)
		if err != nil {
			t.Fatalf("go: %v", err)
		}
		for i := range batch {
			g, w := got[i], want[i]
			if (g.Err == nil) != (w.Err == nil) || g.Err != nil && g.Err.Error() != w.Err.Error() {
				t.Errorf("record %d: error %v, want %v", start+i, g.Err, w.Err)
				continue
			}
			gb, gerr := abi.AppendOutput(nil, []abi.Result{{Events: g.Events}})
			wb, werr := abi.AppendOutput(nil, []abi.Result{{Events: w.Events}})
			if gerr != nil || werr != nil || !bytes.Equal(gb, wb) {
				t.Errorf("record %d: events\n got %v\nwant %v", start+i, g.Events, w.Events)
			}
			captured += len(g.Events)
		}
	}
	if captured < len(records)/2 {
		t.Errorf("%d events from %d records", captured, len(records))
	}
}

// TestEncodingMatchesGo runs the test plugin's capture over records that use every attribute kind,
// times, extreme integers, failures and the host functions, and compares the raw output byte for
// byte with the Go encoders'.
func TestEncodingMatchesGo(t *testing.T) {
	wasm := build(t, "testdata/allkinds.rs")
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	fake := newFake()
	ev := func(attrs ...sdk.Attr) []sdk.Event { return []sdk.Event{{Kind: "test", Attrs: attrs}} }
	tests := []struct {
		name   string
		record string
		want   abi.Result
	}{
		{"empty", `{"count":0}`, abi.Result{}},
		{"bare", `{}`, abi.Result{Events: ev()}},
		{"fail", `{"fail":"bad record \u2014 really"}`, abi.Result{Err: "bad record — really"}},
		{"fail empty", `{"fail":""}`, abi.Result{Err: "failed"}},
		{"session and time", `{"kind":"k.x","session":"abc-123","t":` + jsonInt(when.UnixNano()) + `}`,
			abi.Result{Events: []sdk.Event{{Kind: "k.x", SessionID: "abc-123", Time: when}}}},
		{"negative time", `{"t":-1}`, abi.Result{Events: []sdk.Event{{Kind: "test", Time: time.Unix(0, -1).UTC()}}}},
		{"ints", `{"count":3,"n":-9223372036854775808}`, abi.Result{Events: []sdk.Event{
			{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", math.MinInt64)}},
			{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", math.MinInt64)}},
			{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", math.MinInt64)}},
		}}},
		{"max int", `{"n":9223372036854775807}`, abi.Result{Events: ev(sdk.Int("n", math.MaxInt64))}},
		{"small ints", `{"n":-64}`, abi.Result{Events: ev(sdk.Int("n", -64))}},
		{"varint edges", `{"n":8191}`, abi.Result{Events: ev(sdk.Int("n", 8191))}},
		{"every kind", `{"n":300,"f":-1.5e-7,"b":true,"id":"Bash","h":"0123456789abcdef0123456789abcdef","sk":[[0,1],[81,12.5],[65535,-0.25]]}`,
			abi.Result{Events: ev(sdk.Int("n", 300), sdk.Float("f", -1.5e-7), sdk.Bool("b", true), sdk.Ident("id", "Bash"),
				sdk.Hash("h", []byte("0123456789abcdef0123456789abcdef")),
				sdk.Sketch("sk", []uint16{0, 81, 65535}, []float32{1, 12.5, -0.25}))}},
		{"floats", `{"f":1.7976931348623157e308}`, abi.Result{Events: ev(sdk.Float("f", math.MaxFloat64))}},
		{"false", `{"b":false,"f":0}`, abi.Result{Events: ev(sdk.Float("f", 0), sdk.Bool("b", false))}},
		{"withheld", `{"w":"<withheld>"}`, abi.Result{Events: ev(sdk.Bool("withheld", true))}},
		{"not withheld", `{"w":"<withheld"}`, abi.Result{Events: ev(sdk.Bool("withheld", false))}},
		{"path", `{"a":{"b":[0,{"c":"deep"}]},"path":"a.b.1.c"}`, abi.Result{Events: ev(sdk.Ident("at", "deep"))}},
		{"no path", `{"a":{"b":[]},"path":"a.b.0"}`, abi.Result{Events: ev(sdk.Ident("at", "<none>"))}},
		{"kv and log", `{"kv":"stored","log":"hello from Rust"}`, abi.Result{Events: ev(sdk.Ident("kv", "stored"), sdk.Bool("kv_missing", true))}},
		{"salt", `{"salt":1}`, abi.Result{Events: ev(sdk.Hash("salt", fake.salt), sdk.Bool("salt_same", true))}},
		// This is record 19 of the batch: "rec19" is the fake host's leak for it.
		{"leaks", `{"leaks":["a leak","clean","rec19","rec3","","x","x","x","x leak"]}`, abi.Result{Events: ev(
			sdk.Bool("leak_0", true), sdk.Bool("leak_1", false), sdk.Bool("leak_2", true), sdk.Bool("leak_3", false), sdk.Bool("leak_4", false),
			sdk.Bool("leak_5", false), sdk.Bool("leak_6", false), sdk.Bool("leak_7", false), sdk.Bool("leak_8", true))}},
	}
	records := make([][]byte, len(tests))
	want := make([]abi.Result, len(tests))
	for i, tt := range tests {
		records[i], want[i] = []byte(tt.record), tt.want
	}
	out := fake.call(t, wasm, "capture", records)
	if wantOut := mustOutput(t, want); !bytes.Equal(out, wantOut) {
		t.Errorf("output differs from the Go encoders'\n got %x\nwant %x", out, wantOut)
	}
	gotRaw, wantRaw := splitResults(t, out, len(tests)), splitResults(t, mustOutput(t, want), len(tests))
	for i, tt := range tests {
		if !bytes.Equal(gotRaw[i], wantRaw[i]) {
			t.Errorf("%s: result bytes\n got %x\nwant %x", tt.name, gotRaw[i], wantRaw[i])
		}
	}
	if len(fake.logs) != 1 || fake.logs[0] != "hello from Rust" {
		t.Errorf("logs %q, want one line", fake.logs)
	}
	if len(fake.leakQs) != 1 || fake.leakQs[0] != 19 {
		t.Errorf("leaks asked about records %v, want [19]", fake.leakQs)
	}

	// A malformed batch, and a panic, fail the whole call.
	for _, tt := range []struct {
		name, input, want string
	}{
		{"version 2", "\x02\x00", "version 2"},
		{"truncated", "\x01\x01\x05{", "malformed"},
		{"trailing", "\x01\x00\x00", "malformed"},
	} {
		if _, err := fake.rawCall(t, wasm, "capture", []byte(tt.input)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	if _, err := fake.rawCall(t, wasm, "capture", abi.AppendInput(nil, [][]byte{[]byte(`{}`), []byte(`{"panic":"boom"}`)})); err == nil {
		t.Error("a panic did not fail the call")
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestBatchHandler runs the test plugin's enrich, a batch handler: every record in one call, its
// failures failing only their records, a missing last result counting as no events.
func TestBatchHandler(t *testing.T) {
	wasm := build(t, "testdata/allkinds.rs")
	batch := func(i, n int64) abi.Result {
		return abi.Result{Events: []sdk.Event{{Kind: "batch", Attrs: []sdk.Attr{sdk.Int("index", i), sdk.Int("of", n)}}}}
	}
	for _, tt := range []struct {
		name    string
		records []string
		want    []abi.Result
	}{
		{"none", nil, nil},
		{"three", []string{`{}`, `{"fail":"no"}`, `{}`}, []abi.Result{batch(0, 3), {Err: "no"}, batch(2, 3)}},
		{"short", []string{`{}`, `{"short":1}`}, []abi.Result{batch(0, 2), {}}},
	} {
		recs := make([][]byte, len(tt.records))
		for i, r := range tt.records {
			recs[i] = []byte(r)
		}
		out := newFake().call(t, wasm, "enrich", recs)
		if want := mustOutput(t, tt.want); !bytes.Equal(out, want) {
			t.Errorf("%s:\n got %x\nwant %x", tt.name, out, want)
		}
	}
}

// TestAttrGetters runs the test plugin's insight over stored events and derived records as their
// JSON (sdk.Event.MarshalJSON) and compares what its attribute getters read, by key, with gjson's
// attrs.#(key=="...") in Go, byte for byte.
func TestAttrGetters(t *testing.T) {
	wasm := build(t, "testdata/allkinds.rs")
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
		[]byte(" { \"kind\" : \"x\" , \"attrs\" : [ { \"value\" : 7 , \"type\" : \"int\" , \"key\" : \"count\" } ,\n{\"type\":\"ident\",\"\\u006bey\":\"tool_\\u006eame\",\"value\":\"Gr\\u0065p\"} ] } "),
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
	out := newFake().call(t, wasm, "insight", records)
	gotRaw, wantRaw := splitResults(t, out, len(records)), splitResults(t, mustOutput(t, want), len(records))
	for i := range records {
		if !bytes.Equal(gotRaw[i], wantRaw[i]) {
			var got []sdk.Event
			abi.DecodeOutput(gotRaw[i], 1, func(_ int, evs []sdk.Event, _ string) error { got = evs; return nil })
			t.Errorf("record %d %s:\n got %v\nwant %v", i, records[i], got, want[i].Events)
		}
	}
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

// memKV is a host.KV in memory.
type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (k *memKV) Get(plugin string, key []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.m[plugin+"\x00"+string(key)], nil
}

func (k *memKV) Set(plugin string, key, value []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[plugin+"\x00"+string(key)] = bytes.Clone(value)
	return nil
}

// TestHostFunctionsUnderHost runs the test plugin under the real host: kv through kv_read and
// kv_write, the salt (32 bytes, the same on every call, different from another plugin's), log,
// and the leak query against content the plugin was shown.
func TestHostFunctionsUnderHost(t *testing.T) {
	wasm := build(t, "testdata/allkinds.rs")
	kv := &memKV{m: map[string][]byte{}}
	h := newHost(t, kv)
	caps := []string{"emit:events", "kv", "log", "content:prompt", "read:payload.kv", "read:payload.salt", "read:payload.leak_of", "read:payload.panic"}
	p := load(t, h, "rust-allkinds", wasm, caps, "test")
	q := load(t, h, "rust-allkinds-2", wasm, caps, "test")
	ctx := context.Background()
	secret := "the user typed a secret sentence here"
	outs, err := p.Call(ctx, "capture", [][]byte{
		[]byte(`{"kv":"stored"}`),
		[]byte(`{"salt":1}`),
		[]byte(`{"prompt":"` + secret + `","leak_of":"prompt"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		if o.Err != nil || len(o.Events) != 1 {
			t.Fatalf("record %d: %v, %d events", i, o.Err, len(o.Events))
		}
	}
	if v, _ := outs[0].Events[0].Attr("kv"); v.Ident() != "stored" {
		t.Errorf("kv read back %v, want stored", v)
	}
	if got, _ := kv.Get("rust-allkinds", []byte("k")); string(got) != "stored" {
		t.Errorf("kv store holds %q", got)
	}
	salt, _ := outs[1].Events[0].Attr("salt")
	same, _ := outs[1].Events[0].Attr("salt_same")
	if len(salt.Hash()) != 32 || !same.Bool() {
		t.Errorf("salt %x, same %v", salt.Hash(), same)
	}
	l0, _ := outs[2].Events[0].Attr("leak_of_0")
	l1, _ := outs[2].Events[0].Attr("leak_of_1")
	if !l0.Bool() || l1.Bool() || l1.Kind() != sdk.KindBool {
		t.Errorf("leaks: content %v, clean %v; want true, false", l0, l1)
	}
	outs2, err := q.Call(ctx, "capture", [][]byte{[]byte(`{"salt":1}`)})
	if err != nil || outs2[0].Err != nil {
		t.Fatal(err, outs2)
	}
	if salt2, _ := outs2[0].Events[0].Attr("salt"); bytes.Equal(salt2.Hash(), salt.Hash()) {
		t.Error("two plugins got the same salt")
	}
	// A panic traps: the host fails the call.
	if _, err := p.Call(ctx, "capture", [][]byte{[]byte(`{"panic":"boom"}`)}); err == nil {
		t.Error("a panic did not fail the call")
	}
}

// TestReaderSurvivesDamagedJSON runs the example and the test plugin's path lookups over real
// payloads damaged at random (hosttest.Mutate): the SDK's JSON reader must never panic, which
// would trap and fail the whole call, and every record must get a well-formed result.
func TestReaderSurvivesDamagedJSON(t *testing.T) {
	wasm := build(t, "example/lib.rs")
	payloads := hookPayloads(t)
	rng := rand.New(rand.NewPCG(18, 1))
	records := make([][]byte, 2000)
	for i := range records {
		records[i] = hosttest.Mutate(rng, payloads[rng.IntN(len(payloads))])
	}
	out := newFake().call(t, wasm, "capture", records)
	ok := 0
	if err := abi.DecodeOutput(out, len(records), func(_ int, evs []sdk.Event, msg string) error {
		if msg == "" {
			ok++
		}
		return nil
	}); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	if ok == 0 || ok == len(records) {
		t.Errorf("%d of %d damaged records captured: want some, not all", ok, len(records))
	}
}
