// Package assemblyscript_test builds the AssemblyScript SDK's example plugin and a test plugin
// from source (npm and asc) and runs them on the bare batch ABI (sdktest.Bare), checking that
// their output is the batch ABI v1 with events in the sdk binary encoding v1, byte for byte what
// the Go encoders write.
package assemblyscript_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
	"github.com/hangar-dev/hangar/sdk/sdktest"
)

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
		sdktest.Require(t, "npm is not on PATH", "AssemblyScript")
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

// TestExampleCapturesHookPayloads runs the example over every real hook payload and the odd
// records on the bare ABI, and compares the raw output with the Go encoders' for what the Go
// reference plugin makes of the same records.
func TestExampleCapturesHookPayloads(t *testing.T) {
	wasm := build(t, "assembly/index.ts")
	records := append(sdktest.HookPayloads(t), sdktest.OddHookRecords...)
	out := sdktest.NewBare().Records(t, wasm, "capture", records)
	sdktest.CompareOutput(t, out, sdktest.EchoAll(records), sdktest.RecordName(records))
	sdktest.HasKinds(t, sdktest.Kinds(t, out, len(records)), "hook.PreToolUse", "hook.PostToolUse", "hook.UserPromptSubmit", "hook.Stop", "hook.Café😀")
}

// TestExampleUnderHost runs the example and the Go reference plugin under the real host (Extism
// on wazero, the interrupt rewrite, the checks on emissions), granted the same fields, over every
// real hook payload and the odd records, and compares what the host made of each record's
// emissions byte for byte.
func TestExampleUnderHost(t *testing.T) {
	wasm := build(t, "assembly/index.ts")
	records := append(sdktest.HookPayloads(t), sdktest.OddHookRecords...)
	if n := sdktest.CompareWithEcho(t, "as-example", wasm, records); n < len(records)/2 {
		t.Errorf("%d events from %d records", n, len(records))
	}
}

// TestEncodingMatchesGo runs the test plugin's capture over the cases every SDK encodes alike and
// the AssemblyScript plugin's own, and compares the raw output byte for byte with the Go
// encoders'; then the calls that must fail.
func TestEncodingMatchesGo(t *testing.T) {
	wasm := build(t, "../testdata/allkinds.ts")
	cases := append(sdktest.EncodingCases(),
		sdktest.Case{Name: "kv and log", Record: `{"kv":"stored","log":"hello from AS"}`,
			Want: abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: []sdk.Attr{sdk.Ident("kv", "stored")}}}}},
	)
	records, want := sdktest.Records(cases)
	bare := sdktest.NewBare()
	out := bare.Records(t, wasm, "capture", records)
	sdktest.CompareOutput(t, out, want, sdktest.CaseName(cases))
	if len(bare.Logs) != 1 || bare.Logs[0] != "hello from AS" {
		t.Errorf("logs %q, want one line", bare.Logs)
	}

	// Other exports have no handler: the call fails, as the Go SDK's does. So does a batch the SDK
	// cannot read.
	for _, tt := range []struct {
		name, export, input, want string
	}{
		{"enrich without a handler", "enrich", string(abi.AppendInput(nil, nil)), "no enrich handler"},
		{"capture of a version 2 batch", "capture", "\x02\x00", "version 2"},
		{"capture of a truncated batch", "capture", "\x01\x01\x05{", "malformed"},
	} {
		if _, err := bare.Run(wasm, tt.export, []byte(tt.input)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}

// TestAttrGetters runs testdata/attrs.ts over stored events and derived records as their JSON
// (sdktest.AttrRecords) and compares what its attribute getters read, by key, with gjson's
// attrs.#(key=="...") in Go, byte for byte.
func TestAttrGetters(t *testing.T) {
	wasm := build(t, "../testdata/attrs.ts")
	records := sdktest.AttrRecords(t)
	out := sdktest.NewBare().Records(t, wasm, "insight", records)
	sdktest.CompareOutput(t, out, sdktest.AttrWant(t, records), sdktest.RecordName(records))
}
