package main

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
	"github.com/hangar-dev/hangar/sdk/pdk"
	"github.com/pelletier/go-toml/v2"
	"github.com/tidwall/gjson"
)

// testSalt is the salt of the native tests. (Through the host, the salt derives from testSecret,
// host_test.go.)
var testSalt = bytes.Repeat([]byte{0x42}, 32)

// afterTests are run once the tests are done.
var afterTests []func()

func TestMain(m *testing.M) {
	saltSource = func() []byte { return testSalt }
	code := m.Run()
	for _, f := range afterTests {
		f()
	}
	os.Exit(code)
}

// project keeps the granted fields of a payload, nested as the host's projection nests them, and
// types the read fields as the host does (sdk/abi): their values that are not metadata by type
// are withheld.
func project(payload string) []byte {
	out := []byte("{}")
	for _, f := range readFields {
		if v := gjson.Get(payload, f); v.Exists() {
			out = setRaw(out, f, typed(v))
		}
	}
	for _, f := range contentFields {
		if v := gjson.Get(payload, f); v.Exists() {
			out = setRaw(out, f, v.Raw)
		}
	}
	return out
}

// withheldJSON is abi.Withheld as a JSON string.
const withheldJSON = `"` + abi.Withheld + `"`

// typed returns the JSON of a read field's value as the host passes it (valid JSON only): a
// number, flag, null or identifier as it is, an object or array member by member (keys
// included), anything else withheld.
func typed(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		if len(v.Raw) >= 2 && abi.IsIdentifier(v.Raw[1:len(v.Raw)-1]) {
			return v.Raw
		}
	case gjson.Number:
		if len(v.Raw) <= abi.MaxNumber {
			return v.Raw
		}
	case gjson.True, gjson.False, gjson.Null:
		return v.Raw
	case gjson.JSON:
		var b strings.Builder
		obj := v.IsObject()
		b.WriteByte(v.Raw[0])
		n := 0
		v.ForEach(func(k, e gjson.Result) bool {
			if n++; n > 1 {
				b.WriteByte(',')
			}
			if obj {
				b.WriteString(typed(k))
				b.WriteByte(':')
			}
			b.WriteString(typed(e))
			return true
		})
		b.WriteByte(map[bool]byte{true: '}', false: ']'}[obj])
		return b.String()
	}
	return withheldJSON
}

// setRaw sets the value at a dotted path of a JSON object to raw JSON.
func setRaw(obj []byte, path, raw string) []byte {
	head, rest, nested := strings.Cut(path, ".")
	cur := gjson.GetBytes(obj, head)
	if nested {
		inner := []byte("{}")
		if cur.IsObject() {
			inner = []byte(cur.Raw)
		}
		raw = string(setRaw(inner, rest, raw))
	}
	var b []byte
	b = append(b, '{')
	gjson.ParseBytes(obj).ForEach(func(k, v gjson.Result) bool {
		if k.Str != head {
			b = append(append(append(append(b, k.Raw...), ':'), v.Raw...), ',')
		}
		return true
	})
	b = append(append(append(append(b, '"'), head...), `":`...), raw...)
	return append(b, '}')
}

// run captures one payload, projected.
func run(t *testing.T, payload string) ([]sdk.Event, error) {
	t.Helper()
	return capture(pdk.Record{JSON: project(payload)})
}

// attrMap returns an event's attributes by key, as strings.
func attrMap(ev sdk.Event) map[string]string {
	m := map[string]string{}
	for _, a := range ev.Attrs {
		m[a.Key] = a.Value.String()
	}
	return m
}

// TestManifestFields checks that plugin.toml asks for exactly the fields the code reads.
func TestManifestFields(t *testing.T) {
	data, err := os.ReadFile("plugin.toml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Capabilities []string `toml:"capabilities"`
	}
	if err := toml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range readFields {
		want = append(want, "read:payload."+f)
	}
	for _, f := range contentFields {
		want = append(want, "content:"+f)
	}
	want = append(want, "emit:events")
	if !slices.Equal(m.Capabilities, want) {
		t.Errorf("plugin.toml capabilities:\n%q\nwant (fields.go):\n%q", m.Capabilities, want)
	}
}

func TestBadRecords(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", ``, "not valid JSON"},
		{"truncated", `{"hook_event_name":"Stop"`, "not valid JSON"},
		{"not JSON", `hello secret prompt`, "not valid JSON"},
		{"array", `[]`, "not an object"},
		{"string", `"x"`, "not an object"},
		{"empty object", `{}`, "no hook_event_name and no type"},
		{"empty hook name", `{"hook_event_name":""}`, "no hook_event_name"},
		{"numeric hook name", `{"hook_event_name":7}`, "no hook_event_name"},
		{"numeric type", `{"type":7}`, "type"},
		{"empty type", `{"type":""}`, "type"},
		{"assistant without message", `{"type":"assistant","sessionId":"s"}`, "message"},
		{"user message not an object", `{"type":"user","message":"the secret prompt"}`, "message"},
		{"negative tokens", usageLine(`"input_tokens":-1,"output_tokens":5`), "input_tokens is not a non-negative integer"},
		{"fractional tokens", usageLine(`"input_tokens":1.5,"output_tokens":5`), "input_tokens is not a non-negative integer"},
		{"string tokens", usageLine(`"input_tokens":"12","output_tokens":5`), "input_tokens is not"},
		{"null output tokens", usageLine(`"input_tokens":1,"output_tokens":null`), "output_tokens is not"},
		{"huge tokens", usageLine(`"input_tokens":1000000000001,"output_tokens":5`), "input_tokens is over"},
		{"huge cache reads", usageLine(`"input_tokens":1,"output_tokens":5,"cache_read_input_tokens":99999999999999999999`), "cache_read_input_tokens is over"},
		{"negative 1h cache", usageLine(`"input_tokens":1,"output_tokens":5,"cache_creation":{"ephemeral_1h_input_tokens":-3}`), "ephemeral_1h_input_tokens is not"},
		{"negative cost", strings.Replace(usageLine(`"input_tokens":1,"output_tokens":5`), `"type"`, `"costUSD":-0.5,"type"`, 1), "costUSD"},
		{"string cost", strings.Replace(usageLine(`"input_tokens":1,"output_tokens":5`), `"type"`, `"costUSD":"1","type"`, 1), "costUSD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := capture(pdk.Record{JSON: []byte(tt.in)})
			if err == nil {
				t.Fatalf("capture = %v, want an error", evs)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to mention %q", err, tt.want)
			}
			for _, secret := range []string{"secret", "hello", "12"} {
				if strings.Contains(err.Error(), secret) && strings.Contains(tt.in, secret) && !strings.Contains(tt.want, secret) {
					t.Errorf("error %q quotes the record", err)
				}
			}
		})
	}
}

// usageLine returns an assistant transcript line with the given usage members.
func usageLine(usage string) string {
	return `{"type":"assistant","sessionId":"s-1","timestamp":"2025-06-10T12:36:23.208Z","requestId":"req_1",` +
		`"message":{"id":"msg_1","model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"ok"}],"usage":{` + usage + `}}}`
}

func TestHookEvents(t *testing.T) {
	tests := []struct {
		name, payload string
		kind          string
		want          map[string]string // attributes that must be there, with their values
		absent        []string
	}{
		{"unknown event kept", `{"hook_event_name":"FutureEvent","session_id":"s"}`, "hook.FutureEvent", nil, nil},
		{"event name not a name", `{"hook_event_name":"a b/c","session_id":"s"}`, "hook.other", nil, nil},
		{"post tool use failure", `{"hook_event_name":"PostToolUseFailure","tool_name":"Bash","tool_input":{"command":"make test"},"error":"Exit code 2\nboom","is_interrupt":false}`,
			"hook.PostToolUseFailure", map[string]string{"success": "false", "interrupted": "false", "error_bytes": "16", "command": "make", "operation": "shell", "error_kind": "exit_code"}, nil},
		{"duration at the top level (Claude Code 2.1.197)", `{"hook_event_name":"PostToolUseFailure","tool_name":"Read","error":"File does not exist.","is_interrupt":false,"duration_ms":2}`,
			"hook.PostToolUseFailure", map[string]string{"duration_ms": "2", "error_kind": "not_found"}, nil},
		{"duration in the response wins", `{"hook_event_name":"PostToolUse","tool_name":"WebFetch","tool_response":{"code":200,"durationMs":812},"duration_ms":815}`,
			"hook.PostToolUse", map[string]string{"duration_ms": "812"}, nil},
		{"duration not a number", `{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_response":{"stdout":""},"duration_ms":"5"}`,
			"hook.PostToolUse", nil, []string{"duration_ms"}},
		{"tool use id is the transcript's join key", `{"hook_event_name":"PreToolUse","tool_name":"Edit","tool_use_id":"toolu_01AbC"}`,
			"hook.PreToolUse", map[string]string{"tool_use_id": toolUseKey("toolu_01AbC")}, []string{"error_kind", "success"}},
		{"failure interrupted", `{"hook_event_name":"PostToolUseFailure","tool_name":"Bash","error":"boom","is_interrupt":true}`,
			"hook.PostToolUseFailure", map[string]string{"error_kind": "interrupted"}, nil},
		{"failure permission", `{"hook_event_name":"PostToolUseFailure","tool_name":"Read","error":"EACCES: permission denied, open '/x'"}`,
			"hook.PostToolUseFailure", map[string]string{"error_kind": "permission"}, nil},
		{"post tool use, non-zero exit", `{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_response":{"stdout":"","stderr":"","exitCode":1}}`,
			"hook.PostToolUse", map[string]string{"success": "false", "error_kind": "exit_code"}, nil},
		{"post tool use, success", `{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_response":{"stdout":"not found","exitCode":0}}`,
			"hook.PostToolUse", map[string]string{"success": "true"}, []string{"error_kind"}},
		{"exit code", `{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{"command":"false"},"tool_response":{"exitCode":1,"stdout":"","stderr":"bad"}}`,
			"hook.PostToolUse", map[string]string{"success": "false", "exit_code": "1", "stderr_bytes": "3", "command": "false"}, nil},
		{"interrupted", `{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{"command":"sleep 9"},"tool_response":{"stdout":"","stderr":"","interrupted":true}}`,
			"hook.PostToolUse", map[string]string{"success": "false", "interrupted": "true", "stderr_bytes": "0"}, []string{"exit_code"}},
		{"success string response", `{"hook_event_name":"PostToolUse","tool_name":"LS","tool_input":{"path":"/x"},"tool_response":"a\nb"}`,
			"hook.PostToolUse", map[string]string{"success": "true", "operation": "list", "tool_response_bytes": "3"}, nil},
		{"long command name", `{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"docker-compose up -d"}}`,
			"hook.PreToolUse", map[string]string{"command_kind": "other"}, []string{"command", attrWithheld}},
		{"edit", `{"hook_event_name":"PreToolUse","tool_name":"Edit","tool_input":{"file_path":"C:\\x\\y.Go","old_string":"a\nb","new_string":"c"}}`,
			"hook.PreToolUse", map[string]string{"operation": "edit", "file_ext": "go", "lines_added": "1", "lines_removed": "2"}, []string{"success"}},
		{"mcp", `{"hook_event_name":"PreToolUse","tool_name":"mcp__github__get_issue","tool_input":{"owner":"o","repo":"r","issue_number":1}}`,
			"hook.PreToolUse", map[string]string{"operation": "mcp", "mcp_server": "github", "mcp_tool": "get_issue", "tool_name": "mcp__github__get_issue"}, nil},
		{"prompt", `{"hook_event_name":"UserPromptSubmit","session_id":"s","prompt":"Fix the failing test in the parser"}`,
			"hook.UserPromptSubmit", map[string]string{"prompt_bytes": "34", "prompt_words": "7"}, nil},
		{"lone surrogates", `{"hook_event_name":"UserPromptSubmit","prompt":"caf\udc90 ok \ud800"}`,
			"hook.UserPromptSubmit", map[string]string{"prompt_words": "2", "prompt_bytes": "13"}, nil},
		{"stop failure", `{"hook_event_name":"StopFailure","error_type":"rate_limit","error":"429"}`,
			"hook.StopFailure", map[string]string{"error_type": "rate_limit", "error_bytes": "3"}, nil},
		{"stop failure, unknown error type", `{"hook_event_name":"StopFailure","error_type":"the moon fell"}`,
			"hook.StopFailure", nil, []string{"error_type"}},
		{"project from transcript path", `{"hook_event_name":"Stop","cwd":"/a/b/sub","transcript_path":"/h/.claude/projects/-a-b/s.jsonl"}`,
			"hook.Stop", map[string]string{"project": hexOf(projectHash("-a-b"))}, nil},
		{"project from cwd", `{"hook_event_name":"Stop","cwd":"/a/b"}`,
			"hook.Stop", map[string]string{"project": hexOf(projectHash("-a-b"))}, nil},
		{"notification message not read", `{"hook_event_name":"Notification","message":"Claude needs your permission","notification_type":"permission_prompt"}`,
			"hook.Notification", map[string]string{"notification_type": "permission_prompt"}, []string{"message_bytes"}},
		{"non-UUID session", `{"hook_event_name":"Stop","session_id":"my session"}`, "hook.Stop", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := run(t, tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].Kind != tt.kind {
				t.Fatalf("events %v, want one %s", evs, tt.kind)
			}
			got := attrMap(evs[0])
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (attrs %v)", k, got[k], v, got)
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s = %q, want none", k, got[k])
				}
			}
			if s := evs[0].SessionID; s != "" && !sdk.IsIdent(s) || strings.Contains(s, " ") {
				t.Errorf("session id %q", s)
			}
		})
	}
}

func projectHash(name string) []byte {
	k, err := getKeys()
	if err != nil {
		panic(err)
	}
	return k.project(name)
}

func hexOf(b []byte) string { return sdk.HashValue(b).String() }

// toolUseKey is the tool_use_id attribute of a tool use id (keys.toolUseID).
func toolUseKey(id string) string {
	k, err := getKeys()
	if err != nil {
		panic(err)
	}
	return hexOf(k.toolUseID(id))
}

func TestTranscriptEvents(t *testing.T) {
	tests := []struct {
		name, line string
		kinds      []string
		want       []map[string]string
	}{
		{"usage", usageLine(`"input_tokens":4,"output_tokens":7,"cache_creation_input_tokens":100,"cache_read_input_tokens":9,"cache_creation":{"ephemeral_5m_input_tokens":60,"ephemeral_1h_input_tokens":40},"service_tier":"standard","speed":"fast"`),
			[]string{kindUsage, kindAssistant},
			[]map[string]string{{"model": "claude-sonnet-4-20250514", "message_id": "msg_1", "request_id": "req_1", "input_tokens": "4", "output_tokens": "7",
				"cache_creation_tokens": "100", "cache_creation_5m_tokens": "60", "cache_creation_1h_tokens": "40", "cache_read_tokens": "9", "service_tier": "standard", "speed": "fast"},
				{"text_bytes": "2", "tool_uses": "0"}}},
		{"synthetic model and cost", strings.Replace(strings.Replace(usageLine(`"input_tokens":0,"output_tokens":0`), "claude-sonnet-4-20250514", "<synthetic>", 1), `"type"`, `"costUSD":0.25,"type"`, 1),
			// "<synthetic>" is not an identifier: the host withholds it, and the plugin keeps no model.
			[]string{kindUsage, kindAssistant}, []map[string]string{{"model": "", "cost_usd": "0.25"}, nil}},
		{"missing usage", `{"type":"assistant","message":{"id":"m","model":"x","content":[{"type":"thinking","thinking":"hmm"},{"type":"tool_use","name":"Edit","input":{}},{"type":"tool_use","name":"Read","input":{}}]}}`,
			[]string{kindAssistant, kindToolUse, kindToolUse}, []map[string]string{{"thinking_bytes": "3", "tool_uses": "2", "tool_name": "Edit", "operation": "edit"},
				{"tool_name": "Edit", "operation": "edit", "message_id": "m", "tool_use_id": ""}, {"tool_name": "Read", "operation": "read"}}},
		{"tool uses", `{"type":"assistant","requestId":"req_9","message":{"id":"msg_9","content":[{"type":"tool_use","id":"toolu_01AbC","name":"Edit","input":{"file_path":"/r/a/main.GO","old_string":"a\nb","new_string":"a\nb\nc\n"}},` +
			`{"type":"tool_use","id":"toolu_02","name":"Bash","input":{"command":"FOO=1 go test ./... -run X"}}]}}`,
			[]string{kindAssistant, kindToolUse, kindToolUse}, []map[string]string{{"tool_uses": "2"},
				{"tool_use_id": toolUseKey("toolu_01AbC"), "tool_name": "Edit", "operation": "edit", "file_ext": "go", "lines_added": "3", "lines_removed": "2", "message_id": "msg_9", "request_id": "req_9"},
				{"tool_use_id": toolUseKey("toolu_02"), "tool_name": "Bash", "operation": "shell", "command": "go"}}},
		{"partial usage", `{"type":"assistant","message":{"content":"hi","usage":{"input_tokens":3}}}`,
			[]string{kindAssistant}, []map[string]string{{"text_bytes": "2"}}},
		{"long tool name", `{"type":"assistant","message":{"content":[{"type":"tool_use","name":"mcp__github__create_pull_request","input":{}}]}}`,
			[]string{kindAssistant, kindToolUse}, []map[string]string{{"operation": "mcp", "mcp_server": "github"}, {"operation": "mcp", "mcp_server": "github", "tool_name": ""}}},
		{"user text", `{"type":"user","sessionId":"s","cwd":"/a/b","isSidechain":false,"version":"1.0.17","message":{"role":"user","content":"push to github"}}`,
			[]string{kindUser}, []map[string]string{{"prompt_bytes": "14", "prompt_words": "3", "sidechain": "false", "version": "1.0.17", "project": hexOf(projectHash("-a-b"))}}},
		{"tool results", `{"type":"user","message":{"content":[{"type":"tool_result","content":"abc","is_error":false},{"type":"tool_result","content":[{"type":"text","text":"x"}],"is_error":true}]}}`,
			[]string{kindUser, kindResult, kindResult}, []map[string]string{{"tool_results": "2", "tool_response_bytes": "31", "is_error": "true"},
				{"is_error": "false", "tool_response_bytes": "3", "error_kind": "", "tool_use_id": ""}, {"is_error": "true", "error_kind": "other"}}},
		{"tool result kinds", `{"type":"user","message":{"content":[` +
			`{"type":"tool_result","tool_use_id":"toolu_01AbC","content":"The user doesn't want to proceed with this tool use. The tool use was rejected","is_error":true},` +
			`{"type":"tool_result","tool_use_id":"toolu_02","content":[{"type":"text","text":"Error: ENOENT: no such file or directory"}],"is_error":true},` +
			`{"type":"tool_result","tool_use_id":"toolu_03","content":"[Request interrupted by user for tool use]","is_error":true},` +
			`{"type":"tool_result","tool_use_id":"toolu_04","content":"<tool_use_error>String to replace not found in file.</tool_use_error>","is_error":true},` +
			`{"type":"tool_result","tool_use_id":"toolu_05","content":"Command timed out after 2m 0.0s","is_error":true},` +
			`{"type":"tool_result","tool_use_id":"toolu_06","content":"Error: Exit code 2\nFAIL","is_error":true},` +
			`{"type":"tool_result","tool_use_id":"toolu_07","content":"bash: /etc/x: Permission denied","is_error":true}]}}`,
			[]string{kindUser, kindResult, kindResult, kindResult, kindResult, kindResult, kindResult, kindResult}, []map[string]string{{"tool_results": "7"},
				{"tool_use_id": toolUseKey("toolu_01AbC"), "error_kind": "rejected"}, {"error_kind": "not_found"},
				{"error_kind": "interrupted", "interrupted": "true"}, {"error_kind": "invalid_input"}, {"error_kind": "timeout"},
				{"error_kind": "exit_code"}, {"error_kind": "permission"}}},
		{"meta", `{"type":"user","isMeta":true,"message":{"content":"Caveat: generated"}}`, []string{kindUser}, []map[string]string{{"meta": "true"}}},
		{"interrupted", `{"type":"user","message":{"content":[{"type":"text","text":"[Request interrupted by user for tool use]"}]}}`,
			[]string{kindUser}, []map[string]string{{"interrupted": "true"}}},
		{"summary", `{"type":"summary","summary":"AI Music Generation","leafUuid":"x"}`, []string{kindSummary}, []map[string]string{{"summary_bytes": "19"}}},
		{"compact boundary", `{"type":"system","subtype":"compact_boundary","compactMetadata":{"trigger":"auto","preTokens":155000},"content":"Conversation compacted"}`,
			[]string{kindCompact}, []map[string]string{{"trigger": "auto", "pre_tokens": "155000"}}},
		{"compact summary", `{"type":"user","isCompactSummary":true,"message":{"content":"This session is being continued"}}`,
			[]string{kindCompact}, []map[string]string{{"summary_bytes": "31"}}},
		{"system", `{"type":"system","subtype":"api_error","content":"x"}`, []string{kindSystem}, []map[string]string{{"subtype": "api_error"}}},
		{"unknown type", `{"type":"file-history-snapshot","snapshot":{}}`, []string{"transcript.file-history-snapshot"}, nil},
		{"type not a name", `{"type":"no such/type"}`, []string{kindOther}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := run(t, tt.line)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, ev := range evs {
				kinds = append(kinds, ev.Kind)
			}
			if !slices.Equal(kinds, tt.kinds) {
				t.Fatalf("kinds %v, want %v", kinds, tt.kinds)
			}
			for i, want := range tt.want {
				got := attrMap(evs[i])
				for k, v := range want {
					if got[k] != v {
						t.Errorf("event %d %s = %q, want %q (attrs %v)", i, k, got[k], v, got)
					}
				}
			}
			for _, ev := range evs {
				if ev.Kind != kindUser && ev.Kind != kindCompact {
					if _, ok := ev.Attr("prompt_hash"); ok {
						t.Errorf("%s has a prompt hash", ev.Kind)
					}
				}
			}
		})
	}
}

// TestTranscriptTime checks that a line's timestamp is its events' time, and that a bad one is
// left to the host.
func TestTranscriptTime(t *testing.T) {
	evs, err := run(t, usageLine(`"input_tokens":1,"output_tokens":1`))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if got, want := ev.Time.Format("2006-01-02T15:04:05.000Z07:00"), "2025-06-10T12:36:23.208Z"; got != want || ev.SessionID != "s-1" {
			t.Errorf("%s: time %s, session %q", ev.Kind, got, ev.SessionID)
		}
	}
	for _, ts := range []string{`"yesterday"`, `"0001-01-01T00:00:00Z"`, `"9999-01-01T00:00:00Z"`, `12`} {
		evs, err := run(t, `{"type":"summary","timestamp":`+ts+`}`)
		if err != nil || !evs[0].Time.IsZero() {
			t.Errorf("timestamp %s: %v, %v; want the zero time", ts, evs, err)
		}
	}
}

// TestGuard checks that an attribute whose key or value is in the record's content is withheld,
// and counted, rather than refused with the whole record.
func TestGuard(t *testing.T) {
	// A prompt that names two of the event's keys.
	evs, err := run(t, `{"hook_event_name":"UserPromptSubmit","prompt":"why is prompt_words next to prompt_sketch?"}`)
	if err != nil {
		t.Fatal(err)
	}
	got := attrMap(evs[0])
	if _, ok := got["prompt_words"]; ok {
		t.Errorf("prompt_words kept: %v", got)
	}
	if _, ok := got["prompt_sketch"]; ok {
		t.Errorf("prompt_sketch kept: %v", got)
	}
	if got[attrWithheld] != "2" || got["prompt_bytes"] == "" || got["prompt_hash"] == "" {
		t.Errorf("attrs %v, want 2 withheld and the rest kept", got)
	}
	// A read field's value is metadata: kept even where content holds it.
	evs, err = run(t, `{"hook_event_name":"PreToolUse","tool_name":"mcp__github__create_pull_request","tool_input":{"body":"calls mcp__github__create_pull_request"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := attrMap(evs[0]); got["tool_name"] != "mcp__github__create_pull_request" || got["mcp_tool"] != "" || got[attrWithheld] != "1" {
		t.Errorf("attrs %v, want tool_name kept and mcp_tool withheld", got)
	}
	// A usage count cannot be withheld: the record fails instead.
	line := strings.Replace(usageLine(`"input_tokens":1,"output_tokens":1`), `"text":"ok"`, `"text":"read usage.input_tokens"`, 1)
	if evs, err := run(t, line); err == nil || strings.Contains(err.Error(), "usage.input") {
		t.Errorf("usage line naming input_tokens: %v, %v; want an error that does not quote it", evs, err)
	}
}

// assertNoLeak checks, independently of the host and of guard, that no string of the events (kind,
// session id, attribute keys, ident and hash values) holds 12 or more consecutive bytes of the
// payload's content fields, verbatim or with whitespace removed, less the parts equal to a granted
// read field's value (which the user granted as metadata), and less the windows that occur in
// the plugin's module, as the host rules (its kinds and attribute keys are fixed there before it
// sees anything: a prompt that says "prompt_words" does not make the key a leak).
func assertNoLeak(t *testing.T, what string, payload []byte, evs []sdk.Event) {
	t.Helper()
	module := moduleBytes(t)
	var texts []string
	for _, f := range contentFields {
		v := gjson.GetBytes(payload, f)
		if !v.Exists() {
			continue
		}
		texts = append(texts, v.Raw)
		if v.Type == gjson.String {
			texts = append(texts, v.Str)
		}
		// Every string inside, decoded, and every key.
		var walk func(gjson.Result)
		walk = func(r gjson.Result) {
			r.ForEach(func(k, e gjson.Result) bool {
				texts = append(texts, k.Str, e.Str)
				if e.IsObject() || e.IsArray() {
					walk(e)
				}
				return true
			})
		}
		if v.IsObject() || v.IsArray() {
			walk(v)
		}
	}
	stripped := make([]string, len(texts))
	for i, s := range texts {
		stripped[i] = strings.Map(func(r rune) rune {
			if strings.ContainsRune(" \t\n\v\f\r", r) {
				return -1
			}
			return r
		}, s)
	}
	var reads []string
	for _, f := range readFields {
		if v := gjson.GetBytes(payload, f); v.Type == gjson.String && len(v.Str) >= leakWindow {
			reads = append(reads, v.Str)
		}
	}
	for j, ev := range evs {
		emitted := []string{ev.Kind, ev.SessionID}
		for _, a := range ev.Attrs {
			emitted = append(emitted, a.Key)
			switch a.Value.Kind() {
			case sdk.KindIdent:
				emitted = append(emitted, a.Value.Ident())
			case sdk.KindHash:
				emitted = append(emitted, string(a.Value.Hash()))
			}
		}
		for _, s := range emitted {
			for _, r := range reads {
				s = strings.ReplaceAll(s, r, "\x00")
			}
			for _, part := range strings.Split(s, "\x00") {
				for i := 0; i+leakWindow <= len(part); i++ {
					w := part[i : i+leakWindow]
					if bytes.Contains(module, []byte(w)) {
						continue
					}
					for k := range texts {
						if strings.Contains(texts[k], w) || strings.Contains(stripped[k], w) {
							t.Errorf("%s event %d (%s): an emitted string holds 12 bytes of content field text", what, j, ev.Kind)
							return
						}
					}
				}
			}
		}
	}
}

// FuzzCapture checks that capture never panics on any record, and that what it emits is valid,
// has snake_case keys, and carries no content.
func FuzzCapture(f *testing.F) {
	for _, s := range []string{
		`{"hook_event_name":"PreToolUse","session_id":"s","tool_name":"Bash","tool_input":{"command":"FOO=1 sudo make -j8 && ls"},"cwd":"/a/b"}`,
		`{"hook_event_name":"UserPromptSubmit","prompt":"caf\udc90 ok \ud800 prompt_words","transcript_path":"C:\\x\\p\\s.jsonl"}`,
		`{"hook_event_name":"PostToolUse","tool_name":"mcp__a__b","tool_input":{"edits":[{"old_string":"a","new_string":"b"}]},"tool_response":{"exitCode":3,"stderr":"x"}}`,
		usageLine(`"input_tokens":4,"output_tokens":7,"cache_creation":{"ephemeral_5m_input_tokens":1}`),
		`{"type":"user","message":{"content":[{"type":"tool_result","content":"x","is_error":true},{"type":"text","text":"hi there"}]}}`,
		`{"type":"system","subtype":"compact_boundary","compactMetadata":{"trigger":"auto","preTokens":5}}`,
		`{"type":"summary","summary":"s"}`, `{}`, `[]`, `{"type":"x y"}`, `{"hook_event_name":""}`,
	} {
		f.Add([]byte(s))
	}
	attrKey := regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	f.Fuzz(func(t *testing.T, data []byte) {
		in := data
		if gjson.ValidBytes(data) && gjson.ParseBytes(data).IsObject() {
			in = project(string(data))
		}
		evs, err := capture(pdk.Record{JSON: in})
		if err != nil {
			return
		}
		for _, ev := range evs {
			ev.ID, ev.Platform = sdk.NewID("fuzz"), "claude-code"
			if err := ev.Validate(); err != nil {
				t.Fatalf("invalid event %+v: %v", ev, err)
			}
			for _, a := range ev.Attrs {
				if !attrKey.MatchString(a.Key) {
					t.Fatalf("attribute key %q", a.Key)
				}
			}
		}
		assertNoLeak(t, "record", in, evs)
	})
}

// moduleBytes returns the committed claude-code.wasm (the Rust port), read once: the module whose
// strings the host rules are not leaks.
var moduleBytes = func() func(t *testing.T) []byte {
	var (
		once sync.Once
		wasm []byte
		err  error
	)
	return func(t *testing.T) []byte {
		once.Do(func() { wasm, err = os.ReadFile("claude-code.wasm") })
		if err != nil || len(wasm) < 64<<10 {
			t.Fatalf("claude-code.wasm: %d bytes, %v", len(wasm), err)
		}
		return wasm
	}
}()
