// Package rust_test builds the Rust SDK's example plugin and a test plugin from source (with
// Debian's /usr/bin/rustc and its wasm32-wasi std, through sdk/rust/build.sh) and runs them, on
// the bare batch ABI with the host's functions played by the test (sdktest.Bare) and under the
// real host, checking
// that their output is the batch ABI v1 with events in the sdk binary encoding v1, byte for byte
// what the Go encoders write.
package rust_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
	"github.com/hangar-dev/hangar/sdk/sdktest"
)

// rustMissing is what of the Rust toolchain is missing, probed once (sdktest.RustMissing).
var rustMissing = sync.OnceValue(sdktest.RustMissing)

var built struct {
	sync.Mutex
	wasm map[string][]byte
}

// build compiles a plugin's root source file (relative to this folder) with build.sh into a temp
// dir, once per test binary, and returns the module.
func build(t testing.TB, src string) []byte {
	t.Helper()
	sdktest.Require(t, rustMissing(), "Rust")
	built.Lock()
	defer built.Unlock()
	if w, ok := built.wasm[src]; ok {
		return w
	}
	out := filepath.Join(t.TempDir(), "plugin.wasm")
	cmd := exec.Command("sh", "build.sh", src, out)
	cmd.Env = append(os.Environ(), "RUSTC="+sdktest.Rustc)
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

// hookPayloads reads every payload of the shared fixtures, compacted as the host's capture stage
// passes them.
func hookPayloads(t testing.TB) [][]byte {
	t.Helper()
	return sdktest.Compact(sdktest.HookPayloads(t))
}

// oddRecords are records the SDK's JSON reader must get right (sdktest.OddHookRecords), and a
// string with a long run before its escape, and a lone surrogate.
var oddRecords = append(slices.Clone(sdktest.OddHookRecords),
	[]byte(`{"x":"`+strings.Repeat("0123456789abcdef", 9)+`\"}\\","hook_event_name":"Long","tool_name":""}`),
	[]byte(`{"hook_event_name":"Lone\ud83d"}`),
)

// TestExampleCapturesHookPayloads runs the example over every real hook payload and the odd
// records, under Extism, and compares the raw output with the Go encoders' for what the Go
// reference plugin makes of the same records.
func TestExampleCapturesHookPayloads(t *testing.T) {
	wasm := build(t, "example/lib.rs")
	records := append(hookPayloads(t), oddRecords...)
	out := sdktest.NewBare().Records(t, wasm, "capture", records)
	sdktest.CompareOutput(t, out, sdktest.EchoAll(records), sdktest.RecordName(records))
	sdktest.HasKinds(t, sdktest.Kinds(t, out, len(records)),
		"hook.PreToolUse", "hook.PostToolUse", "hook.UserPromptSubmit", "hook.Stop", "hook.Café😀", "hook.Lone\uFFFD")
}

// exampleCaps are the example's grants (its plugin.toml).
var exampleCaps = sdktest.EchoCaps

// newHost returns a real host over a temp compilation cache, with a kv store and a secret.
func newHost(t testing.TB, kv host.KV) *host.Host {
	t.Helper()
	return sdktest.NewHost(t, host.Config{KV: kv, Secret: bytes.Repeat([]byte("s"), 32)})
}

// load loads a module into h as a capture plugin of a name with the grants given, emitting hook
// events and the kinds given.
func load(t testing.TB, h *host.Host, name string, wasm []byte, caps []string, emits ...string) *host.Plugin {
	t.Helper()
	return sdktest.Load(t, h, sdktest.CaptureManifest(name, wasm, caps, append([]string{"hook.*"}, emits...)...), wasm)
}

// TestExampleUnderHost runs the example and the Go reference plugin under the real host, granted
// the same fields, over every real hook payload, and compares what the host made of each
// record's emissions (checked and completed: ids, platform, times) byte for byte.
func TestExampleUnderHost(t *testing.T) {
	wasm := build(t, "example/lib.rs")
	records := append(hookPayloads(t), oddRecords...)
	if n := sdktest.CompareWithEcho(t, "rust-example", wasm, records); n < len(records)/2 {
		t.Errorf("%d events from %d records", n, len(records))
	}
}

// TestEncodingMatchesGo runs the test plugin's capture over records that use every attribute kind,
// times, extreme integers, failures and the host functions, and compares the raw output byte for
// byte with the Go encoders'.
func TestEncodingMatchesGo(t *testing.T) {
	wasm := build(t, "testdata/allkinds.rs")
	bare := sdktest.NewBare()
	ev := func(attrs ...sdk.Attr) abi.Result {
		return abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: attrs}}}
	}
	cases := append(sdktest.EncodingCases(), []sdktest.Case{
		{Name: "fail empty", Record: `{"fail":""}`, Want: abi.Result{Err: "failed"}},
		{Name: "varint edges", Record: `{"n":8191}`, Want: ev(sdk.Int("n", 8191))},
		{Name: "every kind", Record: `{"n":300,"f":-1.5e-7,"b":true,"id":"Bash","h":"0123456789abcdef0123456789abcdef","sk":[[0,1],[81,12.5],[65535,-0.25]]}`,
			Want: ev(sdk.Int("n", 300), sdk.Float("f", -1.5e-7), sdk.Bool("b", true), sdk.Ident("id", "Bash"),
				sdk.Hash("h", []byte("0123456789abcdef0123456789abcdef")),
				sdk.Sketch("sk", []uint16{0, 81, 65535}, []float32{1, 12.5, -0.25}))},
		{Name: "floats", Record: `{"f":1.7976931348623157e308}`, Want: ev(sdk.Float("f", math.MaxFloat64))},
		{Name: "path", Record: `{"a":{"b":[0,{"c":"deep"}]},"path":"a.b.1.c"}`, Want: ev(sdk.Ident("at", "deep"))},
		{Name: "no path", Record: `{"a":{"b":[]},"path":"a.b.0"}`, Want: ev(sdk.Ident("at", "<none>"))},
		{Name: "kv and log", Record: `{"kv":"stored","log":"hello from Rust"}`, Want: ev(sdk.Ident("kv", "stored"), sdk.Bool("kv_missing", true))},
		{Name: "salt", Record: `{"salt":1}`, Want: ev(sdk.Hash("salt", bare.Salt), sdk.Bool("salt_same", true))},
	}...)
	// The last record of the batch: "rec<its index>" is the bare host's leak for it.
	leakRec := len(cases)
	cases = append(cases, sdktest.Case{Name: "leaks", Record: fmt.Sprintf(`{"leaks":["a leak","clean","rec%d","rec3","","x","x","x","x leak"]}`, leakRec),
		Want: ev(sdk.Bool("leak_0", true), sdk.Bool("leak_1", false), sdk.Bool("leak_2", true), sdk.Bool("leak_3", false), sdk.Bool("leak_4", false),
			sdk.Bool("leak_5", false), sdk.Bool("leak_6", false), sdk.Bool("leak_7", false), sdk.Bool("leak_8", true))})
	records, want := sdktest.Records(cases)
	out := bare.Records(t, wasm, "capture", records)
	sdktest.CompareOutput(t, out, want, sdktest.CaseName(cases))
	if len(bare.Logs) != 1 || bare.Logs[0] != "hello from Rust" {
		t.Errorf("logs %q, want one line", bare.Logs)
	}
	if len(bare.LeakQueries) != 1 || bare.LeakQueries[0] != uint32(leakRec) {
		t.Errorf("leaks asked about records %v, want [%d]", bare.LeakQueries, leakRec)
	}

	// A malformed batch, and a panic, fail the whole call.
	for _, tt := range []struct {
		name, input, want string
	}{
		{"version 2", "\x02\x00", "version 2"},
		{"truncated", "\x01\x01\x05{", "malformed"},
		{"trailing", "\x01\x00\x00", "malformed"},
	} {
		if _, err := bare.Run(wasm, "capture", []byte(tt.input)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	if _, err := bare.Run(wasm, "capture", abi.AppendInput(nil, [][]byte{[]byte(`{}`), []byte(`{"panic":"boom"}`)})); err == nil {
		t.Error("a panic did not fail the call")
	}
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
		out := sdktest.NewBare().Records(t, wasm, "enrich", recs)
		if want := sdktest.Output(t, tt.want); !bytes.Equal(out, want) {
			t.Errorf("%s:\n got %x\nwant %x", tt.name, out, want)
		}
	}
}

// TestAttrGetters runs the test plugin's insight over stored events and derived records as their
// JSON (sdk.Event.MarshalJSON) and compares what its attribute getters read, by key, with gjson's
// attrs.#(key=="...") in Go, byte for byte.
func TestAttrGetters(t *testing.T) {
	wasm := build(t, "testdata/allkinds.rs")
	// The shared records, and one whose member names are escaped.
	records := append(sdktest.AttrRecords(t),
		[]byte(" { \"kind\" : \"x\" , \"attrs\" : [ { \"value\" : 7 , \"type\" : \"int\" , \"key\" : \"count\" } ,\n{\"type\":\"ident\",\"\\u006bey\":\"tool_\\u006eame\",\"value\":\"Gr\\u0065p\"} ] } "),
	)
	out := sdktest.NewBare().Records(t, wasm, "insight", records)
	sdktest.CompareOutput(t, out, sdktest.AttrWant(t, records), sdktest.RecordName(records))
}

// TestHostFunctionsUnderHost runs the test plugin under the real host: kv through kv_read and
// kv_write, the salt (32 bytes, the same on every call, different from another plugin's), log,
// and the leak query against content the plugin was shown.
func TestHostFunctionsUnderHost(t *testing.T) {
	wasm := build(t, "testdata/allkinds.rs")
	kv := &host.MemKV{}
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
	out := sdktest.NewBare().Records(t, wasm, "capture", records)
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
