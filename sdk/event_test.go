package sdk

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validEvent returns a fresh valid event with one attribute of each kind, at the limits where that
// is cheap.
func validEvent() Event {
	return Event{
		ID:         NewID("test", []byte("valid")),
		Platform:   "claude-code",
		Kind:       "hook.PostToolUse",
		SessionID:  "0b7e5c9a-3f1d-4e2a-9c6b-8d4f2a1e7b30",
		Time:       time.Date(2025, 6, 14, 9, 26, 53, 589793238, time.UTC),
		IngestTime: time.Date(2025, 6, 14, 9, 26, 54, 0, time.UTC),
		Attrs: []Attr{
			Ident("tool_name", "Bash"),
			Bool("success", true),
			Int("bytes", -18432),
			Float("cost_usd", 0.0137),
			Hash("prompt_hash", bytes.Repeat([]byte{0xab}, MaxHashLen)),
			Ident("max_len", strings.Repeat("x", MaxIdentLen)),
			Ident("punct", "!~"),
		},
	}
}

func manyAttrs(n int) []Attr {
	attrs := make([]Attr, n)
	for i := range attrs {
		attrs[i] = Int("k"+strings.Repeat("x", i), int64(i))
	}
	return attrs
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("x", MaxIdentLen+1)
	tests := []struct {
		name    string
		mutate  func(e *Event)
		wantErr bool
	}{
		{"valid", func(e *Event) {}, false},
		{"no session, no times, no attrs", func(e *Event) {
			e.SessionID, e.Time, e.IngestTime, e.Attrs = "", time.Time{}, time.Time{}, nil
		}, false},
		{"max attrs", func(e *Event) { e.Attrs = manyAttrs(MaxAttrs) }, false},
		{"hash of 1 byte", func(e *Event) { e.Attrs = []Attr{Hash("h", []byte{0})} }, false},
		{"float extremes", func(e *Event) {
			e.Attrs = []Attr{Float("max", math.MaxFloat64), Float("min", -math.MaxFloat64), Float("tiny", math.SmallestNonzeroFloat64), Float("neg_zero", math.Copysign(0, -1))}
		}, false},
		{"int extremes", func(e *Event) { e.Attrs = []Attr{Int("min", math.MinInt64), Int("max", math.MaxInt64)} }, false},

		{"zero id", func(e *Event) { e.ID = ID{} }, true},
		{"missing platform", func(e *Event) { e.Platform = "" }, true},
		{"missing kind", func(e *Event) { e.Kind = "" }, true},
		{"platform with space", func(e *Event) { e.Platform = "claude code" }, true},
		{"kind with space", func(e *Event) { e.Kind = "hook. PostToolUse" }, true},
		{"session id with space", func(e *Event) { e.SessionID = "a b" }, true},
		{"platform non-ASCII", func(e *Event) { e.Platform = "clàude" }, true},
		{"kind with tab", func(e *Event) { e.Kind = "hook\tx" }, true},
		{"session id with newline", func(e *Event) { e.SessionID = "abc\n" }, true},
		{"session id with NUL", func(e *Event) { e.SessionID = "a\x00" }, true},
		{"platform with DEL", func(e *Event) { e.Platform = "a\x7f" }, true},
		{"platform too long", func(e *Event) { e.Platform = long }, true},
		{"kind too long", func(e *Event) { e.Kind = long }, true},
		{"session id too long", func(e *Event) { e.SessionID = long }, true},
		{"attr key empty", func(e *Event) { e.Attrs = append(e.Attrs, Int("", 1)) }, true},
		{"attr key with space", func(e *Event) { e.Attrs = append(e.Attrs, Int("exit code", 1)) }, true},
		{"attr key non-ASCII", func(e *Event) { e.Attrs = append(e.Attrs, Int("größe", 1)) }, true},
		{"attr key too long", func(e *Event) { e.Attrs = append(e.Attrs, Int(long, 1)) }, true},
		{"ident with space", func(e *Event) { e.Attrs = append(e.Attrs, Ident("cmd", "rm -rf")) }, true},
		{"ident non-ASCII", func(e *Event) { e.Attrs = append(e.Attrs, Ident("model", "modèle")) }, true},
		{"ident too long", func(e *Event) { e.Attrs = append(e.Attrs, Ident("model", long)) }, true},
		{"repeated key", func(e *Event) { e.Attrs = append(e.Attrs, Bool("success", false)) }, true},
		{"repeated key, different kinds", func(e *Event) { e.Attrs = []Attr{Int("a", 1), Ident("b", "x"), Float("a", 1)} }, true},
		{"too many attrs", func(e *Event) { e.Attrs = manyAttrs(MaxAttrs + 1) }, true},
		{"NaN float", func(e *Event) { e.Attrs = append(e.Attrs, Float("ratio", math.NaN())) }, true},
		{"+Inf float", func(e *Event) { e.Attrs = append(e.Attrs, Float("ratio", math.Inf(1))) }, true},
		{"-Inf float", func(e *Event) { e.Attrs = append(e.Attrs, Float("ratio", math.Inf(-1))) }, true},
		{"empty hash", func(e *Event) { e.Attrs = append(e.Attrs, Hash("h", nil)) }, true},
		{"hash too long", func(e *Event) { e.Attrs = append(e.Attrs, Hash("h", make([]byte, MaxHashLen+1))) }, true},
		{"zero value", func(e *Event) { e.Attrs = append(e.Attrs, Attr{Key: "v"}) }, true},
		{"unknown kind", func(e *Event) { e.Attrs = append(e.Attrs, Attr{Key: "v", Value: Value{kind: 7, num: 1}}) }, true},
		{"sketch of one entry", func(e *Event) { e.Attrs = []Attr{Sketch("s", []uint16{4095}, []float32{-1})} }, false},
		{"sketch of max entries", func(e *Event) { e.Attrs = []Attr{seqSketch("s", MaxSketchLen)} }, false},
		{"sketch extremes", func(e *Event) {
			e.Attrs = []Attr{Sketch("s", []uint16{0, 65535}, []float32{math.MaxFloat32, float32(math.Copysign(0, -1))})}
		}, false},
		{"empty sketch", func(e *Event) { e.Attrs = append(e.Attrs, Sketch("s", nil, nil)) }, true},
		{"sketch too long", func(e *Event) { e.Attrs = append(e.Attrs, seqSketch("s", MaxSketchLen+1)) }, true},
		{"sketch indices unsorted", func(e *Event) { e.Attrs = append(e.Attrs, Sketch("s", []uint16{2, 1}, []float32{1, 1})) }, true},
		{"sketch index repeated", func(e *Event) { e.Attrs = append(e.Attrs, Sketch("s", []uint16{1, 1}, []float32{1, 1})) }, true},
		{"sketch NaN", func(e *Event) { e.Attrs = append(e.Attrs, Sketch("s", []uint16{1}, []float32{float32(math.NaN())})) }, true},
		{"sketch +Inf", func(e *Event) { e.Attrs = append(e.Attrs, Sketch("s", []uint16{1}, []float32{float32(math.Inf(1))})) }, true},
		{"sketch more indices than values", func(e *Event) { e.Attrs = append(e.Attrs, Sketch("s", []uint16{1, 2}, []float32{1})) }, true},
		{"sketch more values than indices", func(e *Event) { e.Attrs = append(e.Attrs, Sketch("s", []uint16{1}, []float32{1, 2})) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEvent()
			tt.mutate(&e)
			err := e.Validate()
			if got, want := err != nil, tt.wantErr; got != want {
				t.Fatalf("Validate() = %v, want error: %v", err, want)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate() = %v, want it to wrap %v", err, ErrInvalid)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		attr      Attr
		wantType  string
		wantValue string // the attribute's "value" as JSON
	}{
		{"int", Int("n", 42), "int", `42`},
		{"int negative", Int("n", -1), "int", `-1`},
		{"int min", Int("n", math.MinInt64), "int", `-9223372036854775808`},
		{"int max", Int("n", math.MaxInt64), "int", `9223372036854775807`},
		{"float", Float("f", 0.1), "float", `0.1`},
		{"float negative zero", Float("f", math.Copysign(0, -1)), "float", `-0`},
		{"float max", Float("f", math.MaxFloat64), "float", `1.7976931348623157e+308`},
		{"float smallest", Float("f", math.SmallestNonzeroFloat64), "float", `5e-324`},
		{"bool true", Bool("b", true), "bool", `true`},
		{"bool false", Bool("b", false), "bool", `false`},
		{"ident", Ident("i", "claude-sonnet-4.5"), "ident", `"claude-sonnet-4.5"`},
		{"ident with JSON metacharacters", Ident("i", `a"b\c<d>`), "ident", `"a\"b\\c\u003cd\u003e"`},
		{"hash", Hash("h", []byte{0x00, 0xab, 0xff}), "hash", `"00abff"`},
		{"hash max", Hash("h", bytes.Repeat([]byte{0x5a}, MaxHashLen)), "hash", `"` + strings.Repeat("5a", MaxHashLen) + `"`},
		{"sketch", Sketch("s", []uint16{3, 17, 4095}, []float32{0.1, -0.5, 1}), "sketch", `{"i":[3,17,4095],"v":[0.1,-0.5,1]}`},
		{"sketch extremes", Sketch("s", []uint16{0, 65535}, []float32{math.MaxFloat32, math.SmallestNonzeroFloat32}), "sketch", `{"i":[0,65535],"v":[3.4028235e+38,1e-45]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEvent()
			e.Attrs = []Attr{tt.attr}
			js, err := json.Marshal(e)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}

			var raw struct {
				Attrs []struct {
					Key   string
					Type  string
					Value json.RawMessage
				}
			}
			if err := json.Unmarshal(js, &raw); err != nil {
				t.Fatal(err)
			}
			if got, want := len(raw.Attrs), 1; got != want {
				t.Fatalf("%s has %d attrs, want %d", js, got, want)
			}
			if got, want := raw.Attrs[0].Key, tt.attr.Key; got != want {
				t.Errorf("key = %q, want %q", got, want)
			}
			if got, want := raw.Attrs[0].Type, tt.wantType; got != want {
				t.Errorf("type = %q, want %q", got, want)
			}
			if got, want := string(raw.Attrs[0].Value), tt.wantValue; got != want {
				t.Errorf("value = %s, want %s", got, want)
			}

			var back Event
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatalf("Unmarshal(%s): %v", js, err)
			}
			if !reflect.DeepEqual(back, e) {
				t.Errorf("round trip of %s:\ngot  %+v\nwant %+v", js, back, e)
			}
		})
	}
}

func TestJSONForm(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{
			"minimal omits session, ingest time and attrs",
			Event{ID: ID{0: 1, 15: 0xff}, Platform: "p", Kind: "k"},
			`{"id":"010000000000000000000000000000ff","platform":"p","kind":"k","time":"0001-01-01T00:00:00Z"}`,
		},
		{
			"full",
			Event{
				ID: ID{0: 1}, Platform: "p", Kind: "k", SessionID: "s",
				Time:       time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
				IngestTime: time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC),
				Attrs:      []Attr{Int("n", 1), Bool("b", true)},
			},
			`{"id":"01000000000000000000000000000000","platform":"p","kind":"k","session_id":"s",` +
				`"time":"2025-01-02T03:04:05.000000006Z","ingest_time":"2025-01-02T03:04:06Z",` +
				`"attrs":[{"key":"n","type":"int","value":1},{"key":"b","type":"bool","value":true}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(got), tt.want; got != want {
				t.Errorf("Marshal =\n%s\nwant\n%s", got, want)
			}
			var back Event
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tt.ev) {
				t.Errorf("round trip:\ngot  %+v\nwant %+v", back, tt.ev)
			}
		})
	}
}

func TestMarshalJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		attr Attr
	}{
		{"zero value", Attr{Key: "v"}},
		{"unknown kind", Attr{Key: "v", Value: Value{kind: 7}}},
		{"sketch NaN", Sketch("s", []uint16{1}, []float32{float32(math.NaN())})},
		{"NaN", Float("f", math.NaN())},
		{"+Inf", Float("f", math.Inf(1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEvent()
			e.Attrs = []Attr{tt.attr}
			if got, err := json.Marshal(e); err == nil {
				t.Fatalf("Marshal = %s, nil; want an error", got)
			}
		})
	}
}

func TestUnmarshalJSONErrors(t *testing.T) {
	const head = `{"id":"01000000000000000000000000000000","platform":"p","kind":"k","time":"0001-01-01T00:00:00Z","attrs":[`
	tests := []struct {
		name string
		js   string
	}{
		{"not JSON", `{`},
		{"not an object", `[]`},
		{"bad id", `{"id":"xyz","platform":"p","kind":"k"}`},
		{"bad time", `{"id":"01000000000000000000000000000000","time":"yesterday"}`},
		{"unknown type", head + `{"key":"a","type":"string","value":"x"}]}`},
		{"invalid type", head + `{"key":"a","type":"invalid","value":0}]}`},
		{"missing type", head + `{"key":"a","value":1}]}`},
		{"int as string", head + `{"key":"a","type":"int","value":"1"}]}`},
		{"int with fraction", head + `{"key":"a","type":"int","value":1.5}]}`},
		{"int overflow", head + `{"key":"a","type":"int","value":9223372036854775808}]}`},
		{"float as string", head + `{"key":"a","type":"float","value":"0.1"}]}`},
		{"bool as number", head + `{"key":"a","type":"bool","value":1}]}`},
		{"ident as number", head + `{"key":"a","type":"ident","value":1}]}`},
		{"hash not hex", head + `{"key":"a","type":"hash","value":"zz"}]}`},
		{"hash odd length", head + `{"key":"a","type":"hash","value":"abc"}]}`},
		{"hash as array", head + `{"key":"a","type":"hash","value":[1]}]}`},
		{"sketch as array", head + `{"key":"a","type":"sketch","value":[1]}]}`},
		{"sketch lengths differ", head + `{"key":"a","type":"sketch","value":{"i":[1,2],"v":[1]}}]}`},
		{"sketch index too large", head + `{"key":"a","type":"sketch","value":{"i":[65536],"v":[1]}}]}`},
		{"sketch index negative", head + `{"key":"a","type":"sketch","value":{"i":[-1],"v":[1]}}]}`},
		{"sketch value beyond float32", head + `{"key":"a","type":"sketch","value":{"i":[1],"v":[1e39]}}]}`},
		{"sketch value as string", head + `{"key":"a","type":"sketch","value":{"i":[1],"v":["1"]}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Event
			if err := json.Unmarshal([]byte(tt.js), &e); err == nil {
				t.Fatalf("Unmarshal(%s) = nil, want an error; got %+v", tt.js, e)
			}
		})
	}
}

func TestValueAccessors(t *testing.T) {
	hash := []byte{0xde, 0xad}
	tests := []struct {
		name   string
		v      Value
		kind   ValueKind
		i      int64
		f      float64
		b      bool
		ident  string
		hash   []byte
		String string
	}{
		{"zero", Value{}, KindInvalid, 0, 0, false, "", nil, "<invalid>"},
		{"int", IntValue(-7), KindInt, -7, 0, false, "", nil, "-7"},
		{"float", FloatValue(2.5), KindFloat, 0, 2.5, false, "", nil, "2.5"},
		{"bool true", BoolValue(true), KindBool, 0, 0, true, "", nil, "true"},
		{"bool false", BoolValue(false), KindBool, 0, 0, false, "", nil, "false"},
		{"ident", IdentValue("Bash"), KindIdent, 0, 0, false, "Bash", nil, "Bash"},
		{"hash", HashValue(hash), KindHash, 0, 0, false, "", hash, "dead"},
		// A float's bits are not an int, and 1 is not true, across kinds.
		{"float 1 is not int", FloatValue(math.Float64frombits(1)), KindFloat, 0, math.Float64frombits(1), false, "", nil, "5e-324"},
		{"int 1 is not bool", IntValue(1), KindInt, 1, 0, false, "", nil, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := tt.v.Kind(), tt.kind; got != want {
				t.Errorf("Kind() = %v, want %v", got, want)
			}
			if got, want := tt.v.Int(), tt.i; got != want {
				t.Errorf("Int() = %d, want %d", got, want)
			}
			if got, want := tt.v.Float(), tt.f; got != want {
				t.Errorf("Float() = %g, want %g", got, want)
			}
			if got, want := tt.v.Bool(), tt.b; got != want {
				t.Errorf("Bool() = %t, want %t", got, want)
			}
			if got, want := tt.v.Ident(), tt.ident; got != want {
				t.Errorf("Ident() = %q, want %q", got, want)
			}
			if got, want := tt.v.Hash(), tt.hash; !bytes.Equal(got, want) || (got == nil) != (want == nil) {
				t.Errorf("Hash() = %#v, want %#v", got, want)
			}
			if got, want := tt.v.String(), tt.String; got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
		})
	}
}

// seqSketch returns a sketch attribute of n entries at indices 0 to n-1, each of value 1.
func seqSketch(key string, n int) Attr {
	idx, val := make([]uint16, n), make([]float32, n)
	for i := range n {
		idx[i], val[i] = uint16(i), 1
	}
	return Sketch(key, idx, val)
}

func TestSketchValue(t *testing.T) {
	idx, val := []uint16{1, 9, 300}, []float32{0.25, -0.5, float32(math.Copysign(0, -1))}
	v := SketchValue(idx, val)
	idx[0], val[0] = 7, 7 // the value holds copies
	gi, gv := v.Sketch()
	if want := []uint16{1, 9, 300}; !reflect.DeepEqual(gi, want) {
		t.Errorf("indices = %v, want %v", gi, want)
	}
	if got, want := []uint32{math.Float32bits(gv[0]), math.Float32bits(gv[1]), math.Float32bits(gv[2])},
		[]uint32{math.Float32bits(0.25), math.Float32bits(-0.5), 1 << 31}; !reflect.DeepEqual(got, want) {
		t.Errorf("value bits = %#x, want %#x", got, want)
	}
	gi[0], gv[0] = 5, 5 // and returns copies
	if gi, gv := v.Sketch(); gi[0] != 1 || gv[0] != 0.25 {
		t.Errorf("after changing the returned slices, Sketch() = %v, %v", gi, gv)
	}
	if got, want := v.String(), "{1:0.25 9:-0.5 300:-0}"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := v.Kind(), KindSketch; got != want {
		t.Errorf("Kind() = %v, want %v", got, want)
	}
	// Values stay comparable: equal entries, equal values.
	if SketchValue([]uint16{1}, []float32{2}) != SketchValue([]uint16{1}, []float32{2}) {
		t.Error("equal sketches compare unequal")
	}
	if SketchValue([]uint16{1}, []float32{2}) == SketchValue([]uint16{1}, []float32{3}) {
		t.Error("different sketches compare equal")
	}
	// Other kinds have no sketch, and a sketch is no other kind.
	if i, f := IntValue(3).Sketch(); i != nil || f != nil {
		t.Errorf("IntValue(3).Sketch() = %v, %v; want nil, nil", i, f)
	}
	if v.Int() != 0 || v.Float() != 0 || v.Bool() || v.Ident() != "" || v.Hash() != nil {
		t.Errorf("a sketch reads as another kind: %d %g %t %q %x", v.Int(), v.Float(), v.Bool(), v.Ident(), v.Hash())
	}
}

func TestHashValueCopies(t *testing.T) {
	src := []byte{1, 2, 3}
	v := HashValue(src)
	src[0] = 9
	if got, want := v.Hash(), []byte{1, 2, 3}; !bytes.Equal(got, want) {
		t.Errorf("after changing the source slice, Hash() = %x, want %x", got, want)
	}
	v.Hash()[1] = 9
	if got, want := v.Hash(), []byte{1, 2, 3}; !bytes.Equal(got, want) {
		t.Errorf("after changing a returned slice, Hash() = %x, want %x", got, want)
	}
}

func TestValueKindString(t *testing.T) {
	tests := []struct {
		k    ValueKind
		want string
	}{
		{KindInvalid, "invalid"},
		{KindInt, "int"},
		{KindFloat, "float"},
		{KindBool, "bool"},
		{KindIdent, "ident"},
		{KindHash, "hash"},
		{KindSketch, "sketch"},
		{7, "kind(7)"},
		{255, "kind(255)"},
	}
	for _, tt := range tests {
		if got, want := tt.k.String(), tt.want; got != want {
			t.Errorf("ValueKind(%d).String() = %q, want %q", uint8(tt.k), got, want)
		}
	}
}

func TestEventAttr(t *testing.T) {
	e := Event{Attrs: []Attr{Int("a", 1), Ident("b", "x"), Int("a", 2)}}
	tests := []struct {
		key    string
		want   Value
		wantOK bool
	}{
		{"a", IntValue(1), true}, // the first of a repeated key
		{"b", IdentValue("x"), true},
		{"c", Value{}, false},
		{"", Value{}, false},
	}
	for _, tt := range tests {
		got, ok := e.Attr(tt.key)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Attr(%q) = %v, %t; want %v, %t", tt.key, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestNewID(t *testing.T) {
	// Expected ids were computed outside Go: the first 16 bytes of SHA-256 over each of namespace and
	// parts as a uvarint length then the bytes. Changing them breaks deduplication of stored events.
	tests := []struct {
		name      string
		namespace string
		parts     []string
		want      string
	}{
		{"hook", "hook", []string{"0b7e5c9a-3f1d-4e2a-9c6b-8d4f2a1e7b30", "7"}, "7a59b3068922e59cf3c53ceab8ef2cdd"},
		{"short", "hook", []string{"s", "1"}, "6f7ae1d4b6b35c5608cbac0dbe872fc7"},
		{"empty namespace, no parts", "", nil, "6e340b9cffb37a989ca544e6bb780a2c"},
		{"ab c", "x", []string{"ab", "c"}, "93659a82449ebf0a1f9e32e1b710a3d7"},
		{"a bc", "x", []string{"a", "bc"}, "dad338706cbf012466e6a366e8666a5c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var parts [][]byte
			for _, p := range tt.parts {
				parts = append(parts, []byte(p))
			}
			if got, want := NewID(tt.namespace, parts...).String(), tt.want; got != want {
				t.Errorf("NewID(%q, %q) = %s, want %s", tt.namespace, tt.parts, got, want)
			}
			// Deterministic: the same inputs, freshly built, give the same id.
			if got, want := NewID(tt.namespace, parts...), NewID(tt.namespace, parts...); got != want {
				t.Errorf("NewID is not deterministic: %s then %s", got, want)
			}
		})
	}
}

func TestNewIDSeparates(t *testing.T) {
	long := bytes.Repeat([]byte{'a'}, 200) // a length that takes two uvarint bytes
	tests := []struct {
		name string
		a, b ID
	}{
		{"parts ab,c vs a,bc", NewID("x", []byte("ab"), []byte("c")), NewID("x", []byte("a"), []byte("bc"))},
		{"namespace vs part", NewID("ab"), NewID("a", []byte("b"))},
		{"namespace+part vs other split", NewID("a", []byte("bc")), NewID("ab", []byte("c"))},
		{"no parts vs one empty part", NewID("x"), NewID("x", []byte{})},
		{"one vs two empty parts", NewID("x", nil), NewID("x", nil, nil)},
		{"different namespace", NewID("hook", []byte("1")), NewID("transcript", []byte("1"))},
		{"part order", NewID("x", []byte("1"), []byte("2")), NewID("x", []byte("2"), []byte("1"))},
		{"long part split", NewID("x", long, []byte("a")), NewID("x", long[:199], []byte("aa"))},
		{"length byte looks like data", NewID("x", []byte{1, 'a'}), NewID("x", []byte{}, []byte{'a'})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a == tt.b {
				t.Errorf("both ids are %s, want them different", tt.a)
			}
			if tt.a.IsZero() || tt.b.IsZero() {
				t.Errorf("zero id: %s, %s", tt.a, tt.b)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		name    string
		s       string
		want    ID
		wantErr bool
	}{
		{"lowercase", "0123456789abcdef0123456789abcdef", ID{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, false},
		{"zero", strings.Repeat("0", 32), ID{}, false},
		{"all ff", strings.Repeat("f", 32), ID{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff, 8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff}, false},
		{"empty", "", ID{}, true},
		{"31 digits", strings.Repeat("a", 31), ID{}, true},
		{"33 digits", strings.Repeat("a", 33), ID{}, true},
		{"64 digits", strings.Repeat("a", 64), ID{}, true},
		{"not hex", strings.Repeat("g", 32), ID{}, true},
		{"not hex at end", strings.Repeat("a", 31) + "z", ID{}, true},
		{"space", " " + strings.Repeat("a", 31), ID{}, true},
		{"0x prefix", "0x" + strings.Repeat("a", 30), ID{}, true},
		{"multibyte", "é" + strings.Repeat("a", 30), ID{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseID(tt.s)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("ParseID(%q) = %v, %v; want error: %v", tt.s, got, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got != tt.want {
				t.Errorf("ParseID(%q) = %s, want %s", tt.s, got, tt.want)
			}
		})
	}
}

func TestParseIDNotHexError(t *testing.T) {
	_, err := ParseID(strings.Repeat("a", 31) + "z")
	var invalid hex.InvalidByteError
	if !errors.As(err, &invalid) {
		t.Fatalf("ParseID error = %v, want it to wrap a hex.InvalidByteError", err)
	}
	if got, want := byte(invalid), byte('z'); got != want {
		t.Errorf("invalid byte = %q, want %q", got, want)
	}
}

func TestIDRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		id   ID
	}{
		{"zero", ID{}},
		{"hook", NewID("hook", []byte("s"), []byte("1"))},
		{"bytes", ID{0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 15: 0x10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.id.String()
			if got, want := len(s), 32; got != want {
				t.Errorf("len(%q) = %d, want %d", s, got, want)
			}
			if got, want := s, strings.ToLower(s); got != want {
				t.Errorf("String() = %q, want lowercase", got)
			}
			got, err := ParseID(s)
			if err != nil {
				t.Fatalf("ParseID(%q): %v", s, err)
			}
			if got != tt.id {
				t.Errorf("ParseID(String()) = %s, want %s", got, tt.id)
			}

			js, err := json.Marshal(tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(js), `"`+s+`"`; got != want {
				t.Errorf("json.Marshal = %s, want %s", got, want)
			}
			var back ID
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			if back != tt.id {
				t.Errorf("JSON round trip = %s, want %s", back, tt.id)
			}
		})
	}
}

func TestIDUnmarshalTextError(t *testing.T) {
	id := ID{0: 7}
	if err := id.UnmarshalText([]byte("nope")); err == nil {
		t.Fatal("UnmarshalText(nope) = nil, want an error")
	}
	if got, want := id, (ID{0: 7}); got != want {
		t.Errorf("id after failed UnmarshalText = %s, want it unchanged %s", got, want)
	}
}

func TestIDIsZero(t *testing.T) {
	tests := []struct {
		name string
		id   ID
		want bool
	}{
		{"zero", ID{}, true},
		{"first byte", ID{0: 1}, false},
		{"last byte", ID{15: 1}, false},
	}
	for _, tt := range tests {
		if got, want := tt.id.IsZero(), tt.want; got != want {
			t.Errorf("%s: IsZero() = %t, want %t", tt.name, got, want)
		}
	}
}

func TestValidateTimeRange(t *testing.T) {
	base := Event{ID: NewID("t"), Platform: "p", Kind: "k"}
	tests := []struct {
		name string
		t    time.Time
		ok   bool
	}{
		{"zero", time.Time{}, true},
		{"now", time.Now(), true},
		{"year 3000", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"year 1600", time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"lowest nanosecond is the zero marker", time.Unix(0, math.MinInt64).UTC(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := base
			ev.Time = tc.t
			err := ev.Validate()
			if got := err == nil; got != tc.ok {
				t.Fatalf("Validate(time %v) = %v, want ok=%v", tc.t, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

// TestIsIdent checks IsIdent against Validate: a non-empty ident value is accepted exactly when
// IsIdent says so (IsIdent also refuses the empty string, which some fields allow).
func TestIsIdent(t *testing.T) {
	ids := []string{"", "a", "claude-sonnet-4-5", "a b", "a\tb", "é", "~", "\x7f", strings.Repeat("x", MaxIdentLen), strings.Repeat("x", MaxIdentLen+1)}
	for c := range 256 {
		ids = append(ids, "a"+string([]byte{byte(c)}))
	}
	for _, s := range ids {
		ev := Event{ID: NewID("t"), Platform: "p", Kind: "k", Time: time.Unix(1, 0), Attrs: []Attr{Ident("v", s)}}
		if got, want := IsIdent(s), s != "" && ev.Validate() == nil; got != want {
			t.Errorf("IsIdent(%q) = %v, Validate accepts it: %v", s, got, want)
		}
	}
}
