package sdk

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

const goldenDir = "testdata/encoding"

// goldenCase is one directory under testdata/encoding.
type goldenCase struct {
	name    string
	dir     string
	event   Event
	hexPath string
}

// loadGolden reads every case's event.json. It does not read encoded.hex, which -update may rewrite.
func loadGolden(tb testing.TB) []goldenCase {
	tb.Helper()
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		tb.Fatal(err)
	}
	var cases []goldenCase
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(goldenDir, e.Name())
		js, err := os.ReadFile(filepath.Join(dir, "event.json"))
		if err != nil {
			tb.Fatal(err)
		}
		var ev Event
		if err := ev.UnmarshalJSON(js); err != nil {
			tb.Fatalf("%s: %v", dir, err)
		}
		cases = append(cases, goldenCase{name: e.Name(), dir: dir, event: ev, hexPath: filepath.Join(dir, "encoded.hex")})
	}
	if len(cases) == 0 {
		tb.Fatalf("no golden cases under %s", goldenDir)
	}
	return cases
}

// formatHex is the form of encoded.hex: lowercase hex, 64 digits a line, each line ending in a newline.
func formatHex(b []byte) string {
	h := hex.EncodeToString(b)
	var sb strings.Builder
	for len(h) > 64 {
		sb.WriteString(h[:64])
		sb.WriteByte('\n')
		h = h[64:]
	}
	sb.WriteString(h)
	sb.WriteByte('\n')
	return sb.String()
}

// parseHex reads an encoded.hex file, ignoring line breaks.
func parseHex(tb testing.TB, path string) []byte {
	tb.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -run TestEncodingGolden -update to create it)", err)
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(text)), ""))
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return b
}

func mustMarshal(tb testing.TB, e *Event) []byte {
	tb.Helper()
	b, err := e.MarshalBinary()
	if err != nil {
		tb.Fatalf("MarshalBinary: %v", err)
	}
	return b
}

func TestEncodingGolden(t *testing.T) {
	for _, tc := range loadGolden(t) {
		t.Run(tc.name, func(t *testing.T) {
			// Golden events are events the store would accept.
			if err := tc.event.Validate(); err != nil {
				t.Fatalf("event.json does not validate: %v", err)
			}
			got := mustMarshal(t, &tc.event)
			if *update {
				if err := os.WriteFile(tc.hexPath, []byte(formatHex(got)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			text, err := os.ReadFile(tc.hexPath)
			if err != nil {
				t.Fatalf("%v (run go test -run TestEncodingGolden -update to create it)", err)
			}
			if got, want := formatHex(got), string(text); got != want {
				t.Errorf("encoding differs from %s\ngot:\n%swant:\n%s", tc.hexPath, got, want)
			}

			var back Event
			if err := back.UnmarshalBinary(got); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !reflect.DeepEqual(back, tc.event) {
				t.Errorf("round trip:\ngot  %+v\nwant %+v", back, tc.event)
			}
			for _, tm := range []time.Time{back.Time, back.IngestTime} {
				if !tm.IsZero() && tm.Location() != time.UTC {
					t.Errorf("decoded time %v is in %v, want UTC", tm, tm.Location())
				}
			}

			// AppendBinary appends to, and leaves alone, what is already there.
			prefix := []byte("prefix")
			app, err := tc.event.AppendBinary(bytes.Clone(prefix))
			if err != nil {
				t.Fatalf("AppendBinary: %v", err)
			}
			if got, want := app, append(bytes.Clone(prefix), got...); !bytes.Equal(got, want) {
				t.Errorf("AppendBinary(prefix) = %x, want %x", got, want)
			}
		})
	}
}

// TestEncodingGoldenFloatBits checks what DeepEqual on the decoded event cannot tell from the JSON
// alone: that the float golden case really carries the bits it claims (negative zero keeps its sign,
// 0.1 is the nearest double).
func TestEncodingGoldenFloatBits(t *testing.T) {
	enc := parseHex(t, filepath.Join(goldenDir, "float_tenth", "encoded.hex"))
	var ev Event
	if err := ev.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key  string
		want uint64
	}{
		{"cost_usd", 0x3fb999999999999a},
		{"ratio", math.Float64bits(1e-300)},
		{"big", math.Float64bits(math.MaxFloat64)},
		{"neg_zero", 1 << 63},
	}
	for _, tt := range tests {
		v, ok := ev.Attr(tt.key)
		if !ok {
			t.Errorf("no attribute %q", tt.key)
			continue
		}
		if got, want := math.Float64bits(v.Float()), tt.want; got != want {
			t.Errorf("%s bits = %#x, want %#x", tt.key, got, want)
		}
	}
}

// errorsBase is a small valid event whose encoding ends in a bool attribute, so the last bytes
// are, from the end: the bool byte, the kind byte, the key "ok" with its length, and the count.
var errorsBase = Event{ID: NewID("test", []byte("errors")), Platform: "p", Kind: "k", Attrs: []Attr{Bool("ok", true)}}

func TestUnmarshalBinaryErrors(t *testing.T) {
	valid := mustMarshal(t, &errorsBase)
	n := len(valid)
	with := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	set := func(off int, v byte) []byte { return with(func(b []byte) []byte { b[off] = v; return b }) }
	// header is the encoding up to and including the ingest time, with no attribute count.
	header := valid[:n-6]
	if got, want := valid[n-6], byte(1); got != want {
		t.Fatalf("attribute count byte = %d, want %d: errorsBase's layout changed", got, want)
	}
	idHeader := valid[:1+len(ID{})]

	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"nil", nil, ErrCorrupt},
		{"empty", []byte{}, ErrCorrupt},
		{"version 0", set(0, 0), ErrUnknownVersion},
		{"version 2", set(0, 2), ErrUnknownVersion},
		{"version 255", set(0, 255), ErrUnknownVersion},
		{"version 2 alone", []byte{2}, ErrUnknownVersion},
		{"trailing byte", append(bytes.Clone(valid), 0), ErrCorrupt},
		{"trailing attribute", with(func(b []byte) []byte { return append(b, 2, 'o', 'k', byte(KindBool), 1) }), ErrCorrupt},
		{"attribute count max uint64", binary.AppendUvarint(bytes.Clone(header), math.MaxUint64), ErrCorrupt},
		{"attribute count 1<<62", binary.AppendUvarint(bytes.Clone(header), 1<<62), ErrCorrupt},
		{"attribute count one too many", set(n-6, 2), ErrCorrupt},
		{"attribute count varint overflow", append(bytes.Clone(header), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), ErrCorrupt},
		{"bool byte 2", set(n-1, 2), ErrCorrupt},
		{"bool byte 0xff", set(n-1, 0xff), ErrCorrupt},
		{"value kind invalid", set(n-2, byte(KindInvalid)), ErrCorrupt},
		{"value kind 6 (sketch) reads the bool byte as its count", set(n-2, byte(KindSketch)), ErrCorrupt},
		{"value kind 7", set(n-2, 7), ErrCorrupt},
		{"value kind 0xff", set(n-2, 0xff), ErrCorrupt},
		{"key length exceeds input", set(n-5, 5), ErrCorrupt},
		{"key length 0x7f", set(n-5, 0x7f), ErrCorrupt},
		{"platform length exceeds input", append(binary.AppendUvarint(bytes.Clone(idHeader), 1000), 'p'), ErrCorrupt},
		{"platform length max uint64", binary.AppendUvarint(bytes.Clone(idHeader), math.MaxUint64), ErrCorrupt},
		{"ident length exceeds input", with(func(b []byte) []byte {
			b = append(b[:n-6], 1, 1, 'i', byte(KindIdent))
			return append(binary.AppendUvarint(b, 200), "short"...)
		}), ErrCorrupt},
		{"hash length exceeds input", with(func(b []byte) []byte {
			b = append(b[:n-6], 1, 1, 'h', byte(KindHash))
			return append(binary.AppendUvarint(b, 33), make([]byte, 32)...)
		}), ErrCorrupt},
		{"sketch count exceeds input", with(func(b []byte) []byte {
			b = append(b[:n-6], 1, 1, 's', byte(KindSketch), 2)
			return append(b, 1, 0, 0, 0, 0x80, 0x3f, 2, 0, 0, 0, 0x80)
		}), ErrCorrupt},
		{"sketch count max uint64", with(func(b []byte) []byte {
			return binary.AppendUvarint(append(b[:n-6], 1, 1, 's', byte(KindSketch)), math.MaxUint64)
		}), ErrCorrupt},
		{"sketch count varint overflow", with(func(b []byte) []byte {
			return append(b[:n-6], 1, 1, 's', byte(KindSketch), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02)
		}), ErrCorrupt},
		{"float too short", with(func(b []byte) []byte {
			return append(b[:n-6], 1, 1, 'f', byte(KindFloat), 0, 0, 0, 0, 0, 0, 0)
		}), ErrCorrupt},
		{"time varint overflow", append(bytes.Clone(valid[:n-26]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The event is left alone on error.
			got := Event{Platform: "untouched"}
			err := got.UnmarshalBinary(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("UnmarshalBinary(%x) = %v, want %v", tt.data, err, tt.want)
			}
			for _, other := range []error{ErrCorrupt, ErrUnknownVersion} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("error %v also wraps %v", err, other)
				}
			}
			if want := (Event{Platform: "untouched"}); !reflect.DeepEqual(got, want) {
				t.Errorf("event after failed decode = %+v, want it untouched", got)
			}
		})
	}
}

// TestUnmarshalBinaryTruncated decodes every proper prefix of every valid encoding we have: each must
// fail with ErrCorrupt, and none may panic.
func TestUnmarshalBinaryTruncated(t *testing.T) {
	encodings := map[string][]byte{"errors_base": mustMarshal(t, &errorsBase)}
	for _, tc := range loadGolden(t) {
		encodings[tc.name] = parseHex(t, tc.hexPath)
	}
	for name, enc := range encodings {
		t.Run(name, func(t *testing.T) {
			var ev Event
			if err := ev.UnmarshalBinary(enc); err != nil {
				t.Fatalf("full encoding: %v", err)
			}
			for n := range len(enc) {
				var ev Event
				err := ev.UnmarshalBinary(enc[:n:n])
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("prefix of %d of %d bytes: err = %v, want %v", n, len(enc), err, ErrCorrupt)
				}
			}
		})
	}
}

func TestAppendBinaryInvalidKind(t *testing.T) {
	tests := []struct {
		name string
		v    Value
	}{
		{"zero value", Value{}},
		{"kind 7", Value{kind: 7}},
		{"sketch of mismatched lengths", SketchValue([]uint16{1, 2}, []float32{1})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := Event{ID: NewID("test"), Platform: "p", Kind: "k", Attrs: []Attr{{Key: "bad", Value: tt.v}}}
			got, err := ev.AppendBinary([]byte("x"))
			if err == nil {
				t.Fatalf("AppendBinary = %x, nil; want an error", got)
			}
			if got != nil {
				t.Errorf("AppendBinary returned %x with the error, want nil", got)
			}
		})
	}
}

// FuzzUnmarshalBinary checks that decoding never panics, fails only with the documented errors, and
// that whatever decodes survives an encode/decode round trip.
//
// The encoding is not canonical on input: binary.Uvarint and binary.Varint accept non-minimal
// varints (0x80 0x00 for 0), so distinct byte strings can decode to the same event and re-encoding
// need not reproduce the input. So the property is instead that the encoder's output is a fixed
// point: decode(encode(ev)) deep-equals ev, encode of that is byte-identical, and it is never longer
// than the input it came from (minimal varints only shorten).
func FuzzUnmarshalBinary(f *testing.F) {
	for _, tc := range loadGolden(f) {
		f.Add(parseHex(f, tc.hexPath))
	}
	base := mustMarshal(f, &errorsBase)
	f.Add(base)
	f.Add([]byte{})
	f.Add([]byte{2})
	// A non-minimal attribute count: 0x81 0x00 is 1.
	f.Add(append(append(bytes.Clone(base[:len(base)-6]), 0x81, 0x00), base[len(base)-5:]...))
	// Sketches: one entry with a non-minimal count (0x81 0x00), none, and a count past the input.
	head := bytes.Clone(base[:len(base)-6])
	f.Add(append(bytes.Clone(head), 1, 1, 's', byte(KindSketch), 0x81, 0x00, 7, 0, 0, 0, 0x80, 0x3f))
	f.Add(append(bytes.Clone(head), 1, 1, 's', byte(KindSketch), 0))
	f.Add(append(bytes.Clone(head), 1, 1, 's', byte(KindSketch), 3, 7, 0, 0, 0, 0x80, 0x3f))
	// A NaN value's bits survive decoding and re-encoding.
	f.Add(append(bytes.Clone(head), 1, 1, 's', byte(KindSketch), 1, 7, 0, 1, 0, 0xc0, 0x7f))

	f.Fuzz(func(t *testing.T, data []byte) {
		var ev Event
		if err := ev.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("error %v wraps neither ErrCorrupt nor ErrUnknownVersion", err)
			}
			return
		}
		enc, err := ev.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of a decoded event: %v", err)
		}
		if len(enc) > len(data) {
			t.Fatalf("re-encoding is %d bytes, longer than the %d-byte input\ninput %x\nenc   %x", len(enc), len(data), data, enc)
		}
		var back Event
		if err := back.UnmarshalBinary(enc); err != nil {
			t.Fatalf("decoding the re-encoding: %v", err)
		}
		if !reflect.DeepEqual(back, ev) {
			t.Fatalf("round trip:\ngot  %+v\nwant %+v", back, ev)
		}
		if enc2 := mustMarshal(t, &back); !bytes.Equal(enc2, enc) {
			t.Fatalf("encoding is not stable:\nfirst  %x\nsecond %x", enc, enc2)
		}
	})
}

// benchEvent is a realistic hook event.
var benchEvent = Event{
	ID:         NewID("hook", []byte("0b7e5c9a-3f1d-4e2a-9c6b-8d4f2a1e7b30"), []byte("7")),
	Platform:   "claude-code",
	Kind:       "hook.PostToolUse",
	SessionID:  "0b7e5c9a-3f1d-4e2a-9c6b-8d4f2a1e7b30",
	Time:       time.Date(2025, 6, 14, 9, 26, 53, 589793238, time.UTC),
	IngestTime: time.Date(2025, 6, 14, 9, 26, 53, 912000000, time.UTC),
	Attrs: []Attr{
		Ident("tool_name", "Bash"),
		Bool("success", true),
		Int("bytes", 18432),
		Int("duration_ms", 1375),
		Hash("prompt_hash", bytes.Repeat([]byte{0xab}, 32)),
		Float("cost_usd", 0.0137),
		Ident("model", "claude-sonnet-4.5"),
	},
}

func BenchmarkEncode(b *testing.B) {
	size := len(mustMarshal(b, &benchEvent))
	b.Run("MarshalBinary", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		for b.Loop() {
			if _, err := benchEvent.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendBinary", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		buf := make([]byte, 0, 2*size)
		for b.Loop() {
			var err error
			if buf, err = benchEvent.AppendBinary(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	enc := mustMarshal(b, &benchEvent)
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	var ev Event
	for b.Loop() {
		if err := ev.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
}
