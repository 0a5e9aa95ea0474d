package pdk

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
)

// TestProcess runs the guest's batch loop natively: records in, results out, one per record.
func TestProcess(t *testing.T) {
	HandleCapture(func(rec Record) ([]sdk.Event, error) {
		switch name := rec.Get("hook_event_name").String(); name {
		case "":
			return nil, errors.New("no hook_event_name")
		case "Boom":
			panic("boom")
		default:
			return []sdk.Event{{Kind: "hook." + name, Attrs: []sdk.Attr{sdk.Ident("tool_name", rec.Get("tool_name").String())}}}, nil
		}
	})
	t.Cleanup(func() { delete(handlers, "capture") })
	in := abi.AppendInput(nil, [][]byte{
		[]byte(`{"hook_event_name":"PreToolUse","tool_name":"Bash"}`),
		[]byte(`{}`),
		[]byte(`{"hook_event_name":"Boom"}`),
	})
	out, err := process("capture", in)
	if err != nil {
		t.Fatal(err)
	}
	var got []abi.Result
	if err := abi.DecodeOutput(out, 3, func(_ int, evs []sdk.Event, msg string) error {
		got = append(got, abi.Result{Events: evs, Err: msg})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []abi.Result{
		{Events: []sdk.Event{{Kind: "hook.PreToolUse", Attrs: []sdk.Attr{sdk.Ident("tool_name", "Bash")}}}},
		{Err: "no hook_event_name"},
		{Err: "panic: boom"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestProcessErrors(t *testing.T) {
	if _, err := process("enrich", abi.AppendInput(nil, nil)); err == nil {
		t.Fatal("process without an enrich handler succeeded")
	}
	HandleInsight(func(Record) ([]sdk.Event, error) { return nil, nil })
	t.Cleanup(func() { delete(handlers, "insight") })
	if _, err := process("insight", []byte{9}); !errors.Is(err, abi.ErrMalformed) {
		t.Fatalf("process of a malformed input = %v, want abi.ErrMalformed", err)
	}
}

// TestProcessMatchesAppendOutput checks that process writes what abi.AppendOutput writes, for
// events whose encodings take one, two and three bytes of length.
func TestProcessMatchesAppendOutput(t *testing.T) {
	kinds := []string{"k", strings.Repeat("m", 200), strings.Repeat("l", 20000)}
	HandleCapture(func(rec Record) ([]sdk.Event, error) {
		if rec.Get("fail").Bool() {
			return nil, errors.New("failed")
		}
		var evs []sdk.Event
		for _, k := range kinds {
			evs = append(evs, sdk.Event{Kind: k, SessionID: rec.Get("s").Str})
		}
		return evs, nil
	})
	t.Cleanup(func() { delete(handlers, "capture") })
	recs := [][]byte{[]byte(`{"s":"a"}`), []byte(`{"fail":true}`), []byte(`{"s":"b"}`)}
	var want []abi.Result
	for _, s := range []string{"a", "", "b"} {
		if s == "" {
			want = append(want, abi.Result{Err: "failed"})
			continue
		}
		var evs []sdk.Event
		for _, k := range kinds {
			evs = append(evs, sdk.Event{Kind: k, SessionID: s})
		}
		want = append(want, abi.Result{Events: evs})
	}
	wantOut, err := abi.AppendOutput(nil, want)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second call reuses the output buffer
		out, err := process("capture", abi.AppendInput(nil, recs))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, wantOut) {
			t.Fatalf("process output differs from abi.AppendOutput:\n got %x\nwant %x", out[:min(64, len(out))], wantOut[:min(64, len(wantOut))])
		}
	}
}

func TestWithheld(t *testing.T) {
	rec := Record{JSON: []byte(`{"a":"<withheld>","b":"withheld","c":1,"d":{"e":"<withheld>"}}`)}
	for path, want := range map[string]bool{"a": true, "b": false, "c": false, "d": false, "d.e": true, "missing": false} {
		if got := Withheld(rec.Get(path)); got != want {
			t.Errorf("Withheld(%s) = %v, want %v", path, got, want)
		}
	}
}

// TestProcessBatch runs a batch handler natively: it sees every record of the call at once, its
// results are encoded in order, a missing result is no events, and a panic fails every record.
func TestProcessBatch(t *testing.T) {
	var seen int
	HandleEnrichBatch(func(recs []Record) []Result {
		seen = len(recs)
		out := make([]Result, len(recs)-1) // the last record gets no result: no events
		out[1].Err = errors.New("bad record")
		total := int64(0)
		for _, r := range recs {
			total += r.Get("n").Int()
		}
		out[0].Events = []sdk.Event{{Kind: "sum", Attrs: []sdk.Attr{sdk.Int("total", total)}}}
		return out
	})
	t.Cleanup(func() { delete(batchHandlers, "enrich") })
	in := abi.AppendInput(nil, [][]byte{[]byte(`{"n":1}`), []byte(`{"n":2}`), []byte(`{"n":3}`)})
	out, err := process("enrich", in)
	if err != nil {
		t.Fatal(err)
	}
	if seen != 3 {
		t.Fatalf("the handler saw %d records, want 3 in one call", seen)
	}
	var got []abi.Result
	if err := abi.DecodeOutput(out, 3, func(_ int, evs []sdk.Event, msg string) error {
		got = append(got, abi.Result{Events: evs, Err: msg})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []abi.Result{
		{Events: []sdk.Event{{Kind: "sum", Attrs: []sdk.Attr{sdk.Int("total", 6)}}}},
		{Err: "bad record"},
		{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}

	HandleEnrichBatch(func([]Record) []Result { panic("boom") })
	out, err = process("enrich", in)
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	if err := abi.DecodeOutput(out, 3, func(_ int, evs []sdk.Event, msg string) error {
		got = append(got, abi.Result{Events: evs, Err: msg})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if r.Err != "panic: boom" {
			t.Errorf("record %d after a panic: %+v, want its error", i, r)
		}
	}

	// A per-record handler given later replaces the batch handler.
	HandleEnrich(func(Record) ([]sdk.Event, error) { return nil, errors.New("per record") })
	t.Cleanup(func() { delete(handlers, "enrich") })
	out, err = process("enrich", in)
	if err != nil {
		t.Fatal(err)
	}
	if err := abi.DecodeOutput(out, 3, func(_ int, _ []sdk.Event, msg string) error {
		if msg != "per record" {
			t.Errorf("result %q, want the per-record handler's", msg)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
