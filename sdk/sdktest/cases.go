package sdktest

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
)

// Case is a record and the result an SDK's test plugin must give it, byte for byte as the Go
// encoders write it.
type Case struct {
	Name   string
	Record string
	Want   abi.Result
}

// Records returns the cases' records and their results, in order.
func Records(cases []Case) ([][]byte, []abi.Result) {
	records := make([][]byte, len(cases))
	want := make([]abi.Result, len(cases))
	for i, c := range cases {
		records[i], want[i] = []byte(c.Record), c.Want
	}
	return records, want
}

// CaseName names record i of cases for CompareOutput.
func CaseName(cases []Case) func(int) string {
	return func(i int) string { return cases[i].Name }
}

// EncodingCases are the records every SDK's test plugin (testdata/allkinds) reads alike, and what
// it must emit for them: no events, an event with no attributes, a failure, a session and a time
// (negative too), several events, the extreme and small integers, every attribute kind but the
// sketch (whose input each plugin takes its own way), false and zero, and the host's withheld
// marker. Each plugin's input is a JSON object whose members say what to emit:
//
//	{"kind": "k", "session": "s", "t": unix-nanos, "count": events (default 1), "fail": "message",
//	 "n": int, "f": float, "b": bool, "id": ident, "h": hash, "w": a string maybe "<withheld>"}
//
// with the kind "test" by default, and the attributes in the order n, f, b, id, h (then each
// SDK's own). An SDK's test adds the cases only its plugin does.
func EncodingCases() []Case {
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	ev := func(attrs ...sdk.Attr) abi.Result {
		return abi.Result{Events: []sdk.Event{{Kind: "test", Attrs: attrs}}}
	}
	minInt := sdk.Event{Kind: "test", Attrs: []sdk.Attr{sdk.Int("n", math.MinInt64)}}
	return []Case{
		{"empty", `{"count":0}`, abi.Result{}},
		{"bare", `{}`, ev()},
		{"fail", `{"fail":"bad record \u2014 really"}`, abi.Result{Err: "bad record — really"}},
		{"session and time", `{"kind":"k.x","session":"abc-123","t":` + jsonInt(when.UnixNano()) + `}`,
			abi.Result{Events: []sdk.Event{{Kind: "k.x", SessionID: "abc-123", Time: when}}}},
		{"negative time", `{"t":-1}`, abi.Result{Events: []sdk.Event{{Kind: "test", Time: time.Unix(0, -1).UTC()}}}},
		{"ints", `{"count":3,"n":-9223372036854775808}`, abi.Result{Events: []sdk.Event{minInt, minInt, minInt}}},
		{"max int", `{"n":9223372036854775807}`, ev(sdk.Int("n", math.MaxInt64))},
		{"small ints", `{"n":-64}`, ev(sdk.Int("n", -64))},
		{"every kind but the sketch", `{"n":300,"f":-1.5e-7,"b":true,"id":"Bash","h":"0123456789abcdef0123456789abcdef"}`,
			ev(sdk.Int("n", 300), sdk.Float("f", -1.5e-7), sdk.Bool("b", true), sdk.Ident("id", "Bash"),
				sdk.Hash("h", []byte("0123456789abcdef0123456789abcdef")))},
		{"false", `{"b":false,"f":0}`, ev(sdk.Float("f", 0), sdk.Bool("b", false))},
		{"withheld", `{"w":"<withheld>"}`, ev(sdk.Bool("withheld", true))},
		{"not withheld", `{"w":"<withheld"}`, ev(sdk.Bool("withheld", false))},
	}
}

// jsonInt returns n as a JSON number.
func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// AttrKeys are the keys an SDK's attribute test plugin looks up in each record's attributes.
var AttrKeys = []string{"tool_name", "count", "ratio", "ok", "h", "latency", "missing", "key", "big"}

// AttrRecords returns the records of the attribute getters' test: stored events and derived
// records as their JSON (sdk.Event.MarshalJSON), with every attribute type, extreme integers, a
// key's name as another attribute's value and keys that start alike; and hand-written JSON the
// reader must get right too: whitespace, members in another order, an escaped value, attrs that
// are not an array, an attrs member inside a value.
//
// The plugin emits, for each record, one event of kind "attrs" with, for each of AttrKeys found
// in the record's attrs array, "<key>_type" (ident: the type) and "<key>" (the value: int, float,
// bool, ident for an ident or a hash, and for any other type the int length of its raw JSON),
// then "kind", the record's kind (ident), if it has one. AttrWant computes it with gjson.
func AttrRecords(t testing.TB) [][]byte {
	t.Helper()
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
	return append(records,
		[]byte(" { \"kind\" : \"x\" , \"attrs\" : [ { \"value\" : 7 , \"type\" : \"int\" , \"key\" : \"count\" } ,\n{\"type\":\"ident\",\"key\":\"tool_\\u006eame\",\"value\":\"Gr\\u0065p\"} ] } "),
		[]byte(`{"kind":"y","attrs":{"key":"count","type":"int","value":3}}`),
		[]byte(`{"kind":"z","meta":{"attrs":[{"key":"count","type":"int","value":9}]},"attrs":[]}`),
	)
}

// AttrWant returns what the attribute test plugin must emit for records (see AttrRecords), as
// gjson's attrs.#(key=="...") reads them, and fails the test unless they hold an attribute of
// every type among them.
func AttrWant(t testing.TB, records [][]byte) []abi.Result {
	t.Helper()
	want := make([]abi.Result, len(records))
	seen := map[string]bool{}
	for i, rec := range records {
		ev := sdk.Event{Kind: "attrs"}
		attrs := gjson.GetBytes(rec, "attrs")
		for _, k := range AttrKeys {
			if !attrs.IsArray() {
				break
			}
			a := attrs.Get(`#(key=="` + k + `")`)
			if !a.Exists() {
				continue
			}
			typ, v := a.Get("type").String(), a.Get("value")
			seen[typ] = true
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
	for _, typ := range []string{"int", "float", "bool", "ident", "hash", "sketch"} {
		if !seen[typ] {
			t.Errorf("no attribute of type %s in the test records", typ)
		}
	}
	return want
}

// HasKinds fails the test for each kind of want that kinds counts no event of.
func HasKinds(t testing.TB, kinds map[string]int, want ...string) {
	t.Helper()
	for _, k := range want {
		if kinds[k] == 0 {
			t.Errorf("no %s event; got %v", k, kinds)
		}
	}
}

// Kinds counts the events of an output of n results by kind, failing the test if it does not
// decode strictly.
func Kinds(t testing.TB, out []byte, n int) map[string]int {
	t.Helper()
	kinds := map[string]int{}
	if err := abi.DecodeOutput(out, n, func(_ int, evs []sdk.Event, _ string) error {
		for _, ev := range evs {
			kinds[ev.Kind]++
		}
		return nil
	}); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	return kinds
}
