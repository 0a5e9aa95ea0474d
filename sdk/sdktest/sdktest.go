// Package sdktest provides what the conformance tests of the guest SDKs written in other languages
// than Go (sdk/assemblyscript, sdk/rust, sdk/c) share, in the manner of net/http/httptest: the
// real hook payloads, what the Go reference plugin (host/testdata/echo) makes of them, a runner
// that calls a module on the bare batch ABI with the host's imports played by the test (Bare),
// the per-record comparison of an output with the Go encoders', the cases every SDK must encode
// alike (EncodingCases, AttrRecords), the real host set up for a test, and the skip-or-fail rule
// for a missing toolchain.
//
// It is for tests only: no package but a _test.go file imports it. It imports host, so that the
// tests can also run the modules under the real host; the SDKs themselves import nothing of it.
package sdktest

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
)

// Require skips the test when a toolchain it needs is missing (missing says what is, "" if
// nothing), unless the CI environment variable is set: CI must build every SDK's plugins, so
// there it fails. lang names the plugins ("Rust", "C").
func Require(t testing.TB, missing, lang string) {
	t.Helper()
	if missing == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s, and CI must build the %s plugins", missing, lang)
	}
	t.Skip(missing)
}

// HookPayloads returns the real Claude Code hook payloads of the shared fixtures
// (hosttest.HookPayloads), failing the test if there are fewer than 1,000: the SDK tests run on
// all 2,000 or so of ../shared.
func HookPayloads(t testing.TB) [][]byte {
	t.Helper()
	out := hosttest.HookPayloads(t)
	if len(out) < 1000 {
		t.Fatalf("%d payloads in the fixtures, want the 2,000 or so of ../shared", len(out))
	}
	return out
}

// Compact returns the payloads compacted (json.Compact), as the host's capture stage passes them;
// one that does not parse stays as it is.
func Compact(payloads [][]byte) [][]byte {
	out := make([][]byte, len(payloads))
	for i, p := range payloads {
		var buf bytes.Buffer
		if json.Compact(&buf, p) == nil {
			out[i] = buf.Bytes()
		} else {
			out[i] = p
		}
	}
	return out
}

// OddHookRecords are records every SDK's JSON reader must get right as the Go reference reads
// them: escapes, a nested member of the same name, whitespace, an escaped quote, a name beyond the
// BMP, a missing name, an empty object.
var OddHookRecords = [][]byte{
	[]byte(`{"tool_input":{"hook_event_name":"Nested","x":[1,{"y":"}"}]},"hook_event_name":"Pre\u0054oolUse","tool_name":"B\u0061sh"}`),
	[]byte(" {\n \"tool_name\" : \"Edit\" ,\t\"hook_event_name\" :\"PostToolUse\" } "),
	[]byte(`{"session_id":"s\"1","hook_event_name":"Stop"}`),
	[]byte(`{"hook_event_name":"Caf\u00e9\ud83d\ude00"}`),
	[]byte(`{"tool_name":"Bash"}`),
	[]byte(`{}`),
}

// Echo is what the Go reference plugin (host/testdata/echo) makes of a record: one event of kind
// "hook.<hook_event_name>" with the session id and the tool name, or the record's failure if it
// has no hook_event_name. Every SDK's example is that plugin.
func Echo(rec []byte) abi.Result {
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

// EchoAll is Echo of every record.
func EchoAll(records [][]byte) []abi.Result {
	out := make([]abi.Result, len(records))
	for i, r := range records {
		out[i] = Echo(r)
	}
	return out
}

// Output is the Go encoders' output for results (abi.AppendOutput), failing the test if they
// cannot be encoded.
func Output(t testing.TB, res []abi.Result) []byte {
	t.Helper()
	b, err := abi.AppendOutput(nil, res)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Split cuts an output of n results into each result's bytes, decoding it strictly and encoding
// each result again alone, so that a difference can be told by record. It fails the test if the
// output does not decode.
func Split(t testing.TB, out []byte, n int) [][]byte {
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

// CompareOutput fails the test unless out is byte for byte the Go encoders' output for want; if
// it is not, it reports each record whose result differs, named by name(i).
func CompareOutput(t testing.TB, out []byte, want []abi.Result, name func(i int) string) {
	t.Helper()
	wantOut := Output(t, want)
	if bytes.Equal(out, wantOut) {
		return
	}
	t.Errorf("output differs from the Go encoders' (%d bytes, want %d)", len(out), len(wantOut))
	got, w := Split(t, out, len(want)), Split(t, wantOut, len(want))
	for i := range want {
		if !bytes.Equal(got[i], w[i]) {
			var evs []sdk.Event
			abi.DecodeOutput(got[i], 1, func(_ int, e []sdk.Event, _ string) error { evs = e; return nil })
			t.Errorf("%s:\n got %x\nwant %x\n got %v\nwant %v %q", name(i), got[i], w[i], evs, want[i].Events, want[i].Err)
		}
	}
}

// RecordName names record i of records for CompareOutput: its index and its first 200 bytes.
func RecordName(records [][]byte) func(int) string {
	return func(i int) string {
		r := records[i]
		if len(r) > 200 {
			r = r[:200]
		}
		return "record " + strconv.Itoa(i) + " " + string(r)
	}
}
