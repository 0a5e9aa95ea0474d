package host

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/tidwall/gjson"
)

// exfilFields are the transcript fields that hold text beside metadata: a tool's result (file
// contents, command output, paths), a session's summary, an error message.
var exfilFields = []string{"toolUseResult", "summary", "error"}

// syntheticLines returns the JSON object lines of the claude-code plugin's synthetic records
// (hook payloads with an error message among them).
func syntheticLines(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open("../plugins/claude-code/testdata/synthetic.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 && l[0] == '{' && gjson.ValidBytes(l) {
			out = append(out, bytes.Clone(l))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// referenceIdent is the type rule's identifier, written independently of the projector: the
// raw JSON of a string of at most 64 ASCII letters, digits and ". _ - : +", without escapes.
var referenceIdent = regexp.MustCompile(`^"[A-Za-z0-9._:+-]{0,64}"$`)

// textOf collects the text of every string at or below r (keys included) that is not metadata by
// type, by its first 32 bytes (what exfil emits of a string).
func textOf(r gjson.Result, into map[string]bool) {
	add := func(s gjson.Result) {
		if s.Type == gjson.String && !referenceIdent.MatchString(s.Raw) && len(s.Str) >= 12 {
			into[s.Str[:min(32, len(s.Str))]] = true
		}
	}
	add(r)
	if r.IsObject() || r.IsArray() {
		r.ForEach(func(k, v gjson.Result) bool {
			add(k)
			textOf(v, into)
			return true
		})
	}
}

// TestReadPayloadWithholdsText: a plugin granted read:payload.toolUseResult, .summary and .error
// (no content: grant, so no leak check applies to it), run on the real transcript lines of the
// shared fixtures, for Claude Code and for a platform Hangar has never heard of, never sees their
// text: it emits every string it is shown, and none of the emitted strings is text of those
// fields; it still sees their metadata (keys, numbers, flags, identifiers). Nothing is refused and
// no record fails: the projection, not a check of the output, keeps the text out.
func TestReadPayloadWithholdsText(t *testing.T) {
	lines := append(sharedTranscriptLines(t), syntheticLines(t)...)
	text := map[string]bool{}
	for _, l := range lines {
		for _, f := range exfilFields {
			textOf(gjson.GetBytes(l, f), text)
		}
	}
	if len(text) < 50 {
		t.Fatalf("%d texts in the fixtures' %v, want at least 50", len(text), exfilFields)
	}
	for _, platform := range []string{"claude-code", "never-heard-of"} {
		t.Run(platform, func(t *testing.T) {
			h := newTestHost(t, Config{})
			caps := []string{"read:payload.type"}
			for _, f := range exfilFields {
				caps = append(caps, "read:payload."+f)
			}
			m := testManifest("exfil", caps, Limits{})
			m.Platform = platform
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			g, err := NewGrants(m.Capabilities)
			if err != nil {
				t.Fatal(err)
			}
			p, err := h.Load(m, testWasm["exfil"], g)
			if err != nil {
				t.Fatal(err)
			}
			var leaked, seen int64
			for lo := 0; lo < len(lines); lo += 100 {
				recs := make([]Record, 0, 100)
				for i, l := range lines[lo:min(lo+100, len(lines))] {
					recs = append(recs, Record{ID: sdk.NewID("exfil", fmt.Append(nil, lo+i)), Received: time.Now(), Payload: l})
				}
				outs, err := p.CallRecords(context.Background(), "capture", recs)
				if err != nil {
					t.Fatal(err)
				}
				for i, o := range outs {
					if o.Err != nil {
						t.Fatalf("record %d failed: %v", lo+i, o.Err)
					}
					for _, ev := range o.Events {
						for _, a := range ev.Attrs {
							switch {
							case a.Value.Kind() == sdk.KindHash && text[string(a.Value.Hash())]:
								leaked++
							case ev.Kind == "exfil.seen" && a.Key == "strings":
								seen += a.Value.Int()
							}
						}
					}
				}
			}
			if s := p.Status(); s.Refused != 0 || s.RecordErrors != 0 {
				t.Errorf("refused %d, record errors %d; want 0 and 0", s.Refused, s.RecordErrors)
			}
			if leaked != 0 {
				t.Errorf("the plugin emitted %d strings of the text of %v, which the plugin was granted by read:payload only", leaked, exfilFields)
			}
			if seen < int64(len(lines)) {
				t.Errorf("the plugin saw %d strings in %d records: it should still see their metadata", seen, len(lines))
			}
		})
	}
}

// TestTypeRule: what a read:payload grant passes of a field's value, and what it withholds. The
// value is projected as field "v" of a record, granted read:payload.v (and, last cases, content:
// below it).
func TestTypeRule(t *testing.T) {
	const w = `"<withheld>"`
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name, value, want string
		content           []string // content: grants besides read:payload.v
	}{
		// Identifiers pass.
		{"tool name", `"Bash"`, `"Bash"`, nil},
		{"MCP tool name", `"mcp__github__create_pull_request"`, `"mcp__github__create_pull_request"`, nil},
		{"model", `"claude-sonnet-4-20250514"`, `"claude-sonnet-4-20250514"`, nil},
		{"Bedrock model", `"us.anthropic.claude-3-7-sonnet-20250219-v1:0"`, `"us.anthropic.claude-3-7-sonnet-20250219-v1:0"`, nil},
		{"UUID", `"fed8ce56-bc79-401f-a83e-af084253362f"`, `"fed8ce56-bc79-401f-a83e-af084253362f"`, nil},
		{"event name", `"PreToolUse"`, `"PreToolUse"`, nil},
		{"dotted event name", `"session.created"`, `"session.created"`, nil},
		{"enumeration", `"prompt_input_exit"`, `"prompt_input_exit"`, nil},
		{"request id", `"req_011CRx4Y6bZ9oW2"`, `"req_011CRx4Y6bZ9oW2"`, nil},
		{"ISO timestamp", `"2025-06-10T12:36:23.208Z"`, `"2025-06-10T12:36:23.208Z"`, nil},
		{"ISO timestamp with offset", `"2025-06-10T12:36:23+02:00"`, `"2025-06-10T12:36:23+02:00"`, nil},
		{"version", `"1.0.83"`, `"1.0.83"`, nil},
		{"number as a string", `"12345"`, `"12345"`, nil},
		{"float as a string", `"-1.5e3"`, `"-1.5e3"`, nil},
		{"empty string", `""`, `""`, nil},
		{"64-byte id", `"` + long(64) + `"`, `"` + long(64) + `"`, nil},
		// A bare name without a folder is identifier-shaped: it passes (docs/PLUGINS.md says so).
		{"bare file name", `"main.go"`, `"main.go"`, nil},
		// Numbers, flags and null pass.
		{"integer", `42`, `42`, nil},
		{"negative float", `-1.5`, `-1.5`, nil},
		{"exponent", `1e300`, `1e300`, nil},
		{"20 digits", `12345678901234567890`, `12345678901234567890`, nil},
		{"true", `true`, `true`, nil},
		{"false", `false`, `false`, nil},
		{"null", `null`, `null`, nil},
		// Anything else is withheld.
		{"sentence", `"Fix the failing test"`, w, nil},
		{"Unix path", `"/home/u/repo/main.go"`, w, nil},
		{"Windows path", `"C:\\Users\\Tom\\repo"`, w, nil},
		{"Windows path, forward slashes", `"C:/Users/Tom/repo"`, w, nil},
		{"relative path", `"src/main.go"`, w, nil},
		{"command", `"rm -rf build"`, w, nil},
		{"code", `"func(x){return x}"`, w, nil},
		{"URL", `"https://example.com/x"`, w, nil},
		{"email", `"alice@example.com"`, w, nil},
		{"quote", `"it's"`, w, nil},
		{"escaped quote", `"say\"hi\""`, w, nil},
		{"lone high surrogate", `"\ud800"`, w, nil},
		{"lone low surrogate", `"ab\udc90cd"`, w, nil},
		{"surrogate pair", `"\ud83d\ude00"`, w, nil},
		{"escaped identifier bytes", `"\u0041BC"`, w, nil},
		{"control character, escaped", `"a\u0003b"`, w, nil},
		{"control character, raw", "\"a\x01b\"", w, nil},
		{"tab", `"a\tb"`, w, nil},
		{"newline", `"a\nb"`, w, nil},
		{"non-ASCII", `"café"`, w, nil},
		{"invalid UTF-8", "\"a\xed\xa0\x80b\"", w, nil},
		{"angle brackets", `"<synthetic>"`, w, nil},
		{"65-byte id", `"` + long(65) + `"`, w, nil},
		{"very long id", `"` + long(10000) + `"`, w, nil},
		{"long number as a string", `"` + strings.Repeat("7", 65) + `"`, w, nil},
		{"33-byte number", strings.Repeat("9", 33), w, nil},
		// Objects and arrays keep their shape; each value and key is typed.
		{"tool result", `{"stdout":"hello world","stderr":"","exitCode":0,"interrupted":false,"filePath":"/a/b.go"}`,
			`{"stdout":` + w + `,"stderr":"","exitCode":0,"interrupted":false,"filePath":` + w + `}`, nil},
		{"key that is not an identifier", `{"/etc/passwd":1,"ok":2}`, `{` + w + `:1,"ok":2}`, nil},
		{"escaped key", `{"\u006bey":1}`, `{` + w + `:1}`, nil},
		{"array", `["ok", "two words", 3, [true, {"k": "v w"}]]`, `["ok",` + w + `,3,[true,{"k":` + w + `}]]`, nil},
		{"usage", `{"input_tokens":4,"cache_creation":{"ephemeral_5m_input_tokens":0},"service_tier":"standard"}`,
			`{"input_tokens":4,"cache_creation":{"ephemeral_5m_input_tokens":0},"service_tier":"standard"}`, nil},
		{"empty containers", `{"a":{},"b":[]}`, `{"a":{},"b":[]}`, nil},
		{"64 deep", strings.Repeat("[", 65) + strings.Repeat("]", 65), strings.Repeat("[", 65) + strings.Repeat("]", 65), nil},
		{"too deep", strings.Repeat("[", 66) + strings.Repeat("]", 66), w, nil},
		{"invalid escape inside", `{"a":"x\qy"}`, w, nil},
		{"invalid number inside", `{"a":01}`, w, nil},
		// Content granted below the read field is shown as it is.
		{"content below", `{"text":"secret words","n":1,"path":"/x"}`, `{"text":"secret words","n":1,"path":` + w + `}`, []string{"content:v.text"}},
		{"content deeper below", `{"a":[{"text":"secret words"}],"b":{"text":"other words"}}`,
			`{"a":[{"text":"secret words"}],"b":{"text":` + w + `}}`, []string{"content:v.a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewGrants(append([]string{"read:payload.v"}, tt.content...))
			if err != nil {
				t.Fatal(err)
			}
			payload := `{"before":"x y","v":` + tt.value + `,"after":1}`
			got := string(newProjector(g).project(nil, []byte(payload)))
			if want := `{"v":` + tt.want + `}`; got != want {
				t.Errorf("projection of %.80q\n got %.200s\nwant %.200s", tt.value, got, want)
			}
			if ref := referenceProjection(g, []byte(payload)); got != ref {
				t.Errorf("projection %.200s, reference %.200s", got, ref)
			}
		})
	}
}

// referenceNumber is a JSON number, as gjson.Valid decides.
var referenceNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// referenceProjection is the projection of a payload under g by the legacy projector (gjson.Get
// per path, hotpath_test.go) with the reference type rule (referenceTyped).
func referenceProjection(g Grants, payload []byte) string {
	return string(newLegacyProjector(g).project(nil, payload))
}

// referenceTyped is the type rule applied to a read field's value v, written with gjson alone:
// the reference appendTyped is tested against. inner are the values of content grants below the
// field, shown as they are where v holds them (same index in the payload, same raw JSON).
func referenceTyped(v gjson.Result, inner []gjson.Result) string {
	if v.Type == gjson.JSON && !gjson.Valid(v.Raw) {
		return withheldJSON
	}
	s, ok := referenceValue(v, inner, 0)
	if !ok {
		return withheldJSON
	}
	return s
}

// referenceValue is referenceTyped for a value at a depth inside the field; false if a container
// is too deep.
func referenceValue(v gjson.Result, inner []gjson.Result, depth int) (string, bool) {
	for _, c := range inner {
		if depth > 0 && v.Index > 0 && c.Index == v.Index && c.Raw == v.Raw {
			return c.Raw, true
		}
	}
	switch v.Type {
	case gjson.String:
		if referenceIdent.MatchString(v.Raw) {
			return v.Raw, true
		}
	case gjson.Number:
		if referenceNumber.MatchString(v.Raw) && len(v.Raw) <= 32 {
			return v.Raw, true
		}
	case gjson.True, gjson.False, gjson.Null:
		if v.Raw == "true" || v.Raw == "false" || v.Raw == "null" {
			return v.Raw, true
		}
	case gjson.JSON:
		if depth > 64 {
			return "", false
		}
		var b strings.Builder
		open, close := "[", "]"
		if v.IsObject() {
			open, close = "{", "}"
		}
		b.WriteString(open)
		ok, first := true, true
		v.ForEach(func(k, e gjson.Result) bool {
			if !first {
				b.WriteByte(',')
			}
			first = false
			if v.IsObject() {
				if referenceIdent.MatchString(k.Raw) {
					b.WriteString(k.Raw)
				} else {
					b.WriteString(withheldJSON)
				}
				b.WriteByte(':')
			}
			s, good := referenceValue(e, inner, depth+1)
			b.WriteString(s)
			ok = good
			return good
		})
		b.WriteString(close)
		return b.String(), ok
	}
	return withheldJSON, true
}

// TestReadPayloadDescribeIsTrue: install says a read:payload grant shows metadata only, and what
// passes; the projection does what it says.
func TestReadPayloadDescribeIsTrue(t *testing.T) {
	c, err := ParseCapability("read:payload.v")
	if err != nil {
		t.Fatal(err)
	}
	d := c.Describe()
	for _, want := range []string{`read the field "v" of each record`, "metadata only", "numbers, true/false and short identifiers",
		"at most 64 letters, digits or . _ - : +", "anything else in it is withheld"} {
		if !strings.Contains(d, want) {
			t.Errorf("Describe() = %q, want it to say %q", d, want)
		}
	}
	g, _ := NewGrants([]string{"read:payload.v"})
	got := string(newProjector(g).project(nil, []byte(`{"v":{"n":1.5,"ok":true,"id":"toolu_01AbC","at":"2025-06-10T12:36:23Z",`+
		`"text":"a sentence","path":"/a/b","long":"`+strings.Repeat("x", 65)+`"}}`)))
	want := `{"v":{"n":1.5,"ok":true,"id":"toolu_01AbC","at":"2025-06-10T12:36:23Z","text":"<withheld>","path":"<withheld>","long":"<withheld>"}}`
	if got != want {
		t.Errorf("projection %s, want %s", got, want)
	}
	c, _ = ParseCapability("content:prompt")
	if d := c.Describe(); !strings.Contains(d, "READ YOUR PROMPT") || strings.Contains(d, "never") {
		t.Errorf("Describe() = %q: it must say the plugin reads your prompts, and promise only what the host checks", d)
	}
}
