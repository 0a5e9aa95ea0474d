package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/tidwall/gjson"
)

var update = flag.Bool("update", false, "rewrite golden files")

// hooksDir holds real Claude Code hook payloads (see its SOURCES.md), relative to this package's
// directory, the working directory of its tests.
const hooksDir = "../../shared/fixtures/claude-code/hooks"

// goldenTime is the ReceivedAt of every record in the golden test.
var goldenTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// hookFile is one fixture file: a JSON array of payloads.
type hookFile struct {
	rel      string // relative to hooksDir, such as "SilviuSavu__g3/stop.json"
	payloads [][]byte
}

// loadHookFiles reads every fixture file, in a stable order, keeping each payload's bytes as they
// are in the file.
func loadHookFiles(tb testing.TB) []hookFile {
	tb.Helper()
	var files []hookFile
	err := filepath.WalkDir(hooksDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(hooksDir, path)
		if err != nil {
			return err
		}
		f := hookFile{rel: filepath.ToSlash(rel)}
		dec := json.NewDecoder(bytes.NewReader(data))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return fmt.Errorf("%s: not a JSON array (%v, %v)", rel, tok, err)
		}
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return fmt.Errorf("%s payload %d: %w", rel, len(f.payloads), err)
			}
			f.payloads = append(f.payloads, raw)
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		tb.Fatalf("load hook fixtures from %s: %v", hooksDir, err)
	}
	if len(files) == 0 {
		tb.Fatalf("no hook fixtures under %s", hooksDir)
	}
	return files
}

// fixtureRecord returns the record of the i-th payload of a fixture file.
func fixtureRecord(rel string, i int, payload []byte) *RawRecord {
	return &RawRecord{
		ID:         sdk.NewID("fixture", []byte(rel), []byte(strconv.Itoa(i))),
		Platform:   PlatformClaudeCode,
		Source:     "hook",
		ReceivedAt: goldenTime,
		Payload:    payload,
	}
}

// captureLine is the golden form of one capture: one JSON line per event, or an error line.
func captureLine(t *testing.T, rec *RawRecord) string {
	t.Helper()
	evs, err := ClaudeCode{}.Capture(rec)
	if err != nil {
		if !IsPermanent(err) {
			t.Errorf("error %v is not permanent", err)
		}
		return "error: " + err.Error() + "\n"
	}
	var b strings.Builder
	for i := range evs {
		if err := evs[i].Validate(); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
		if want := EventID(rec, i); evs[i].ID != want {
			t.Errorf("event %d: id %v, want EventID %v", i, evs[i].ID, want)
		}
		line, err := json.Marshal(evs[i])
		if err != nil {
			t.Fatalf("marshal event %d: %v", i, err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestClaudeCodeGolden(t *testing.T) {
	total := 0
	for _, f := range loadHookFiles(t) {
		t.Run(f.rel, func(t *testing.T) {
			var got strings.Builder
			for i, p := range f.payloads {
				line := captureLine(t, fixtureRecord(f.rel, i, p))
				if strings.Count(line, "\n") != 1 {
					t.Errorf("payload %d gave %d lines, want 1", i, strings.Count(line, "\n"))
				}
				got.WriteString(line)
			}
			total += len(f.payloads)
			golden := filepath.Join("testdata", "claudecode", strings.TrimSuffix(f.rel, ".json")+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			gotLines, wantLines := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
			if len(gotLines) != len(wantLines) {
				t.Errorf("%d lines, golden %s has %d", len(gotLines), golden, len(wantLines))
			}
			bad := 0
			for i := range min(len(gotLines), len(wantLines)) {
				if gotLines[i] != wantLines[i] {
					if bad++; bad <= 5 {
						t.Errorf("payload %d:\n got %s\nwant %s", i, gotLines[i], wantLines[i])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d payloads differ from %s (run with -update to rewrite it)", bad, len(f.payloads), golden)
			}
		})
	}
	// SOURCES.md counts 2,044 payloads in the owner__repo folders; the two files at the top add more.
	if total < 2044 {
		t.Errorf("captured %d payloads, want at least 2044", total)
	}
}

// claudeAllowed are the payload fields whose values the capture may keep.
var claudeAllowed = []string{
	"hook_event_name", "session_id", "tool_name", "tool_use_id", "permission_mode", "model",
	"source", "reason", "trigger", "notification_type",
}

// jsonStrings returns every string in the JSON document p, keys and values, at any depth, with
// escapes decoded (a lone surrogate becomes U+FFFD).
func jsonStrings(p []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(p))
	var out []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if s, ok := tok.(string); ok {
			out = append(out, s)
		}
	}
}

// leaks returns the strings of at least 6 bytes in payload that appear in the binary encoding of
// evs, other than those the capture is allowed to keep: the values of the allowlisted fields, the
// platform, the kind and attribute keys, and any part of one of those.
func leaks(tb testing.TB, payload []byte, evs []sdk.Event) []string {
	tb.Helper()
	var enc []byte
	var allowed []string
	for i := range evs {
		var err error
		if enc, err = evs[i].AppendBinary(enc); err != nil {
			tb.Fatalf("encode event %d: %v", i, err)
		}
		// The session id is the payload's or a hash of it.
		allowed = append(allowed, evs[i].Platform, evs[i].Kind, evs[i].SessionID)
		for _, a := range evs[i].Attrs {
			allowed = append(allowed, a.Key)
		}
	}
	// As the capture reads them: the top-level fields, the last of duplicates winning.
	fields := gjson.ParseBytes(payload).Map()
	for _, f := range claudeAllowed {
		allowed = append(allowed, fields[f].String())
	}
	// Whatever can be read of it, even if it is not JSON to the end.
	strs, _ := jsonStrings(payload)
	var out []string
	for _, s := range strs {
		if len(s) < 6 || !bytes.Contains(enc, []byte(s)) {
			continue
		}
		if !containedIn(s, allowed) {
			out = append(out, s)
		}
	}
	return out
}

func containedIn(s string, in []string) bool {
	for _, a := range in {
		if strings.Contains(a, s) {
			return true
		}
	}
	return false
}

// No prompt, path, command, output or other free text of a payload reaches the stored events.
func TestClaudeCodePrivacy(t *testing.T) {
	checked := 0
	for _, f := range loadHookFiles(t) {
		t.Run(f.rel, func(t *testing.T) {
			for i, p := range f.payloads {
				rec := fixtureRecord(f.rel, i, p)
				evs, err := ClaudeCode{}.Capture(rec)
				if err != nil {
					t.Errorf("payload %d: %v", i, err)
					continue
				}
				strs, err := jsonStrings(p)
				if err != nil {
					t.Fatalf("payload %d: %v", i, err)
				}
				checked += len(strs)
				if l := leaks(t, p, evs); len(l) > 0 {
					t.Errorf("payload %d: events carry %q", i, l)
				}
			}
		})
	}
	if checked == 0 {
		t.Error("no strings checked")
	}
}

// The leak check itself finds what it looks for.
func TestClaudeCodeLeakCheck(t *testing.T) {
	payload := []byte(`{"hook_event_name":"Stop","session_id":"abc","tool_name":"Bash","prompt":"secret prompt"}`)
	ev := sdk.Event{ID: sdk.NewID("x"), Platform: PlatformClaudeCode, Kind: "hook.Stop", SessionID: "abc"}
	tests := []struct {
		name  string
		attrs []sdk.Attr
		want  []string
	}{
		{name: "nothing kept", want: nil},
		{name: "an allowlisted value", attrs: []sdk.Attr{sdk.Ident("tool_name", "Bash")}, want: nil},
		{name: "the prompt as an ident", attrs: []sdk.Attr{sdk.Ident("p", "secret prompt")}, want: []string{"prompt", "secret prompt"}},
		{name: "the prompt as a hash", attrs: []sdk.Attr{sdk.Hash("p", []byte("secret prompt"))}, want: []string{"prompt", "secret prompt"}},
		{name: "part of the prompt", attrs: []sdk.Attr{sdk.Ident("p", "xsecret")}, want: nil},
		{name: "a key of the payload", attrs: []sdk.Attr{sdk.Ident("prompt_bytes", "1")}, want: nil},
		{name: "a key as a value", attrs: []sdk.Attr{sdk.Ident("k", "hook_event_name")}, want: []string{"hook_event_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := ev
			ev.Attrs = tt.attrs
			if got := leaks(t, payload, []sdk.Event{ev}); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("leaks = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClaudeCodeCapture(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	longName := strings.Repeat("E", sdk.MaxIdentLen-len("hook."))
	// bytesAttr is the attribute of a payload's size, always first.
	type want struct {
		kind    string
		session string
		attrs   []sdk.Attr // after payload_bytes
		err     string     // non-empty: Capture fails with an error containing it
	}
	tests := []struct {
		name     string
		payload  string
		oversize int64
		want     want
	}{
		{name: "empty", payload: "", want: want{err: "empty payload"}},
		{name: "whitespace", payload: " \n\t\r ", want: want{err: "empty payload"}},
		{name: "not JSON", payload: "hello", want: want{err: "not valid JSON"}},
		{name: "truncated JSON", payload: `{"hook_event_name":"Stop","session_id":"ab`, want: want{err: "not valid JSON"}},
		{name: "trailing garbage", payload: `{"hook_event_name":"Stop"} x`, want: want{err: "not valid JSON"}},
		{name: "two objects", payload: `{"hook_event_name":"Stop"}{"hook_event_name":"Stop"}`, want: want{err: "not valid JSON"}},
		{name: "JSON array", payload: `[{"hook_event_name":"Stop"}]`, want: want{err: "JSON array"}},
		{name: "JSON string", payload: `"Stop"`, want: want{err: "JSON string"}},
		{name: "JSON number", payload: `42`, want: want{err: "JSON number"}},
		{name: "JSON null", payload: `null`, want: want{err: "JSON null"}},
		{name: "JSON boolean", payload: `true`, want: want{err: "JSON boolean"}},
		{name: "array nested 10,000 deep", payload: deep(10000), want: want{err: "JSON array"}},
		{
			name:    "value nested 10,000 deep",
			payload: `{"hook_event_name":"PreToolUse","session_id":"s1","tool_name":"Bash","tool_input":` + deep(10000) + `}`,
			want:    want{kind: "hook.PreToolUse", session: "s1", attrs: []sdk.Attr{sdk.Ident("tool_name", "Bash"), sdk.Int("tool_input_bytes", 20000)}},
		},
		{name: "unclosed nesting", payload: `{"hook_event_name":"Stop","x":` + strings.Repeat("[", 10000) + `}`, want: want{err: "not valid JSON"}},
		{
			name:    "invalid UTF-8 in the prompt",
			payload: "{\"hook_event_name\":\"UserPromptSubmit\",\"session_id\":\"s1\",\"prompt\":\"caf\xe9 \xff\xfe\"}",
			want:    want{kind: "hook.UserPromptSubmit", session: "s1", attrs: []sdk.Attr{sdk.Int("prompt_bytes", 7)}},
		},
		{name: "invalid UTF-8 in the event name", payload: "{\"hook_event_name\":\"Stop\xff\"}", want: want{err: "not an identifier"}},
		{
			name:    "lone surrogates in the prompt",
			payload: `{"hook_event_name":"UserPromptSubmit","session_id":"s1","prompt":"a\udc90\udc90 b \ud800"}`,
			want:    want{kind: "hook.UserPromptSubmit", session: "s1", attrs: []sdk.Attr{sdk.Int("prompt_bytes", 13)}},
		},
		{
			name:    "control characters in the prompt",
			payload: `{"hook_event_name":"UserPromptSubmit","session_id":"s1","prompt":"\u0003\u0000"}`,
			want:    want{kind: "hook.UserPromptSubmit", session: "s1", attrs: []sdk.Attr{sdk.Int("prompt_bytes", 2)}},
		},
		{name: "raw control character in a string", payload: "{\"hook_event_name\":\"Stop\",\"prompt\":\"\x03\"}", want: want{err: "not valid JSON"}},
		{name: "no hook_event_name", payload: `{"session_id":"s1"}`, want: want{err: "no hook_event_name"}},
		{name: "empty hook_event_name", payload: `{"hook_event_name":""}`, want: want{err: "no hook_event_name"}},
		{name: "hook_event_name a number", payload: `{"hook_event_name":7}`, want: want{err: "no hook_event_name"}},
		{name: "hook_event_name an object", payload: `{"hook_event_name":{"name":"Stop"}}`, want: want{err: "no hook_event_name"}},
		{name: "hook_event_name nested only", payload: `{"x":{"hook_event_name":"Stop"}}`, want: want{err: "no hook_event_name"}},
		{name: "hook_event_name with a space", payload: `{"hook_event_name":"Pre Tool Use"}`, want: want{err: "not an identifier"}},
		{name: "hook_event_name with a newline", payload: `{"hook_event_name":"Stop\n"}`, want: want{err: "not an identifier"}},
		{name: "hook_event_name too long for a kind", payload: `{"hook_event_name":"` + longName + `X"}`, want: want{err: "not an identifier"}},
		{
			name:    "longest hook_event_name",
			payload: `{"hook_event_name":"` + longName + `"}`,
			want:    want{kind: "hook." + longName},
		},
		{name: "unknown event", payload: `{"hook_event_name":"FutureEvent","session_id":"s1"}`, want: want{kind: "hook.FutureEvent", session: "s1"}},
		{name: "no session_id", payload: `{"hook_event_name":"Stop"}`, want: want{kind: "hook.Stop"}},
		{name: "session_id null", payload: `{"hook_event_name":"Stop","session_id":null}`, want: want{kind: "hook.Stop"}},
		{name: "session_id a number", payload: `{"hook_event_name":"Stop","session_id":12345678}`, want: want{kind: "hook.Stop"}},
		{
			name:    "session_id a UUID",
			payload: `{"hook_event_name":"Stop","session_id":"b23e5d8a-855f-44c5-95f0-075485a6ffcf"}`,
			want:    want{kind: "hook.Stop", session: "b23e5d8a-855f-44c5-95f0-075485a6ffcf"},
		},
		{
			name:    "session_id with spaces",
			payload: `{"hook_event_name":"Stop","session_id":"my secret session"}`,
			want:    want{kind: "hook.Stop", session: "h-810c9168f4a4815298d7eda9"},
		},
		{
			name:    "session_id too long",
			payload: `{"hook_event_name":"Stop","session_id":"` + strings.Repeat("s", sdk.MaxIdentLen+1) + `"}`,
			want:    want{kind: "hook.Stop", session: "h-"},
		},
		{
			name:    "duplicate hook_event_name: the first wins, as gjson reads it",
			payload: `{"hook_event_name":"PreToolUse","hook_event_name":"Stop"}`,
			want:    want{kind: "hook.PreToolUse"},
		},
		{
			name:    "escaped key",
			payload: `{"hook\u005fevent_name":"Stop"}`,
			want:    want{kind: "hook.Stop"},
		},
		{
			name:    "fields that are not identifiers are dropped",
			payload: `{"hook_event_name":"PreToolUse","tool_name":"rm -rf /","tool_use_id":"","permission_mode":"x\u00e9","model":7}`,
			want:    want{kind: "hook.PreToolUse"},
		},
		{
			name:    "enumerations outside their values are dropped",
			payload: `{"hook_event_name":"SessionStart","source":"my laptop","reason":"CLEAR","trigger":"auto ","notification_type":true}`,
			want:    want{kind: "hook.SessionStart"},
		},
		{
			name:    "enumerations",
			payload: `{"hook_event_name":"PreCompact","trigger":"manual","custom_instructions":""}`,
			want:    want{kind: "hook.PreCompact", attrs: []sdk.Attr{sdk.Ident("trigger", "manual"), sdk.Int("custom_instructions_bytes", 0)}},
		},
		{
			name:    "null sizes are left out",
			payload: `{"hook_event_name":"PreCompact","trigger":"auto","custom_instructions":null}`,
			want:    want{kind: "hook.PreCompact", attrs: []sdk.Attr{sdk.Ident("trigger", "auto")}},
		},
		{
			name:    "tool_response object",
			payload: `{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_response":{"stdout":"x","interrupted":false,"success":true,"is_error":false,"durationMs":12}}`,
			want: want{kind: "hook.PostToolUse", attrs: []sdk.Attr{
				sdk.Ident("tool_name", "Bash"), sdk.Int("tool_response_bytes", 82),
				sdk.Bool("success", true), sdk.Bool("interrupted", false), sdk.Bool("is_error", false), sdk.Int("duration_ms", 12),
			}},
		},
		{
			name:    "tool_response string",
			payload: `{"hook_event_name":"PostToolUse","tool_response":"success"}`,
			want:    want{kind: "hook.PostToolUse", attrs: []sdk.Attr{sdk.Int("tool_response_bytes", 7)}},
		},
		{
			name:    "tool_response array",
			payload: `{"hook_event_name":"PostToolUse","tool_response":[{"success":true}]}`,
			want:    want{kind: "hook.PostToolUse", attrs: []sdk.Attr{sdk.Int("tool_response_bytes", 18)}},
		},
		{
			name:    "durations out of range are dropped",
			payload: `{"hook_event_name":"PostToolUse","tool_response":{"durationMs":-1,"success":"yes"}}`,
			want:    want{kind: "hook.PostToolUse", attrs: []sdk.Attr{sdk.Int("tool_response_bytes", 33)}},
		},
		{
			name:    "huge duration is dropped",
			payload: `{"hook_event_name":"PostToolUse","tool_response":{"durationMs":1e300}}`,
			want:    want{kind: "hook.PostToolUse", attrs: []sdk.Attr{sdk.Int("tool_response_bytes", 20)}},
		},
		{
			name:    "stop_hook_active",
			payload: `{"hook_event_name":"Stop","stop_hook_active":true,"last_assistant_message":"done"}`,
			want:    want{kind: "hook.Stop", attrs: []sdk.Attr{sdk.Int("assistant_message_bytes", 4), sdk.Bool("stop_hook_active", true)}},
		},
		{
			name:     "oversized",
			oversize: MaxPayload + 5,
			want:     want{kind: "hook.oversized"},
		},
		{
			name:     "oversized ignores a payload",
			payload:  `{"hook_event_name":"Stop"}`,
			oversize: 1 << 40,
			want:     want{kind: "hook.oversized"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &RawRecord{
				ID:         sdk.NewID("test", []byte(tt.name)),
				Platform:   PlatformClaudeCode,
				Source:     "hook",
				ReceivedAt: goldenTime,
				Oversize:   tt.oversize,
				Payload:    []byte(tt.payload),
			}
			evs, err := ClaudeCode{}.Capture(rec)
			if tt.want.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want.err) {
					t.Fatalf("Capture: %d events, error %v; want an error containing %q", len(evs), err, tt.want.err)
				}
				if !IsPermanent(err) {
					t.Errorf("error %v is not permanent", err)
				}
				if evs != nil {
					t.Errorf("Capture returned %d events with its error", len(evs))
				}
				return
			}
			if err != nil {
				t.Fatalf("Capture: %v", err)
			}
			if len(evs) != 1 {
				t.Fatalf("Capture returned %d events, want 1", len(evs))
			}
			ev := evs[0]
			if err := ev.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			size := int64(len(tt.payload))
			if tt.oversize > 0 {
				size = tt.oversize
			}
			wantEv := sdk.Event{
				ID:        EventID(rec, 0),
				Platform:  PlatformClaudeCode,
				Kind:      tt.want.kind,
				SessionID: tt.want.session,
				Time:      goldenTime,
				Attrs:     append([]sdk.Attr{sdk.Int("payload_bytes", size)}, tt.want.attrs...),
			}
			if tt.want.session == "h-" {
				// A stand-in: check its form here, then compare the rest.
				if !strings.HasPrefix(ev.SessionID, "h-") || len(ev.SessionID) != 2+24 || strings.Contains(tt.payload, ev.SessionID[2:]) {
					t.Errorf("session %q, want h- and 24 hex digits", ev.SessionID)
				}
				wantEv.SessionID = ev.SessionID
			}
			if !reflect.DeepEqual(ev, wantEv) {
				gotJ, _ := json.Marshal(ev)
				wantJ, _ := json.Marshal(wantEv)
				t.Errorf("Capture:\n got %s\nwant %s", gotJ, wantJ)
			}
			if l := leaks(t, rec.Payload, evs); len(l) > 0 {
				t.Errorf("events carry %q", l)
			}
			// Capture is deterministic: a replayed record yields the same events.
			again, err := ClaudeCode{}.Capture(rec)
			if err != nil || !reflect.DeepEqual(again, evs) {
				t.Errorf("second Capture differs: %v, %v", again, err)
			}
		})
	}
}

func TestClaudeCodeSessionStandIn(t *testing.T) {
	capture := func(session string) string {
		t.Helper()
		payload, _ := json.Marshal(map[string]string{"hook_event_name": "Stop", "session_id": session})
		evs, err := ClaudeCode{}.Capture(&RawRecord{ID: sdk.NewID("t"), Platform: PlatformClaudeCode, Payload: payload})
		if err != nil || len(evs) != 1 {
			t.Fatalf("Capture: %d events, %v", len(evs), err)
		}
		return evs[0].SessionID
	}
	tests := []struct {
		name    string
		session string
	}{
		{name: "spaces", session: "my secret session"},
		{name: "path with non-ASCII", session: "/Users/jöe/projects"},
		{name: "Windows path with spaces", session: `C:\Users\Jane Doe\x`},
		{name: "too long", session: strings.Repeat("a", sdk.MaxIdentLen+1)},
		{name: "control character", session: "abc\x03def"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := capture(tt.session)
			if !strings.HasPrefix(got, "h-") || len(got) != 26 {
				t.Errorf("session %q, want h- and 24 hex digits", got)
			}
			if strings.Contains(got, tt.session) || strings.Contains(tt.session, got[2:]) {
				t.Errorf("session %q carries the raw value %q", got, tt.session)
			}
			if again := capture(tt.session); again != got {
				t.Errorf("stand-in is not stable: %q then %q", got, again)
			}
			if other, dup := seen[got]; dup {
				t.Errorf("%q and %q have the same stand-in %q", other, tt.session, got)
			}
			seen[got] = tt.session
		})
	}
}

func TestClaudeCodeErrorsArePermanent(t *testing.T) {
	for _, p := range []string{"", "x", "[]", `{"a":1}`, `{"hook_event_name":"a b"}`} {
		_, err := ClaudeCode{}.Capture(&RawRecord{ID: sdk.NewID("t"), Platform: PlatformClaudeCode, Payload: []byte(p)})
		if err == nil || !IsPermanent(err) {
			t.Errorf("Capture(%q): error %v, want a permanent one", p, err)
		}
		if errors.Unwrap(err) == nil {
			t.Errorf("Capture(%q): error %v wraps nothing", p, err)
		}
	}
}

func FuzzClaudeCodeCapture(f *testing.F) {
	for _, file := range loadHookFiles(f) {
		for i, p := range file.payloads {
			if i%25 == 0 {
				f.Add(p, int64(0))
			}
		}
	}
	for _, p := range []string{
		"", " ", "{}", "[]", `{"hook_event_name":"Stop"}`, `{"hook_event_name":"a b"}`,
		`{"hook_event_name":"PostToolUse","session_id":"x y","tool_response":{"success":true,"durationMs":5}}`,
		`{"hook_event_name":"UserPromptSubmit","prompt":"\udc90"}`,
	} {
		f.Add([]byte(p), int64(0))
	}
	f.Add([]byte(nil), int64(MaxPayload+1))
	f.Fuzz(func(t *testing.T, payload []byte, oversize int64) {
		rec := &RawRecord{
			ID:         sdk.NewID("fuzz", payload),
			Platform:   PlatformClaudeCode,
			Source:     "hook",
			ReceivedAt: goldenTime,
			Oversize:   oversize,
			Payload:    payload,
		}
		evs, err := ClaudeCode{}.Capture(rec)
		if err != nil {
			if !IsPermanent(err) {
				t.Fatalf("error %v is not permanent", err)
			}
			if evs != nil {
				t.Fatalf("%d events with error %v", len(evs), err)
			}
			return
		}
		if len(evs) == 0 {
			t.Fatal("no events and no error")
		}
		for i := range evs {
			if err := evs[i].Validate(); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			if want := EventID(rec, i); evs[i].ID != want {
				t.Fatalf("event %d: id %v, want %v", i, evs[i].ID, want)
			}
			if _, err := evs[i].MarshalBinary(); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
		if l := leaks(t, payload, evs); len(l) > 0 {
			t.Fatalf("events carry %q", l)
		}
	})
}
