package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/tidwall/gjson"
)

// PlatformClaudeCode is the platform name of Anthropic's Claude Code.
const PlatformClaudeCode = "claude-code"

// ClaudeCode is the built-in capture of Claude Code hook payloads. It keeps an allowlist of
// metadata (event name, session id, tool name, tool use id, permission mode, success flags, a few
// enumerations and sizes) and never text, code, paths or command arguments. The Claude Code WASM
// platform plugin replaces it.
type ClaudeCode struct{}

var _ Capture = ClaudeCode{}

// Enumerations whose values ClaudeCode keeps, and the values it accepts: anything else is dropped,
// so a free-text value can never slip through.
var claudeEnums = []struct {
	field   string
	allowed map[string]bool
}{
	{"source", map[string]bool{"startup": true, "resume": true, "clear": true, "compact": true}},
	{"reason", map[string]bool{"clear": true, "logout": true, "prompt_input_exit": true, "other": true, "bypass_permissions_disabled": true}},
	{"trigger", map[string]bool{"manual": true, "auto": true}},
	{"notification_type", map[string]bool{"permission_prompt": true, "idle_prompt": true, "auth_success": true, "elicitation_dialog": true}},
}

// claudeSizes are the payload fields whose size in bytes ClaudeCode keeps, by attribute name: a
// string's unescaped UTF-8 bytes, or the JSON of an object or array.
var claudeSizes = [][2]string{
	{"tool_input", "tool_input_bytes"},
	{"tool_response", "tool_response_bytes"},
	{"prompt", "prompt_bytes"},
	{"message", "message_bytes"},
	{"last_assistant_message", "assistant_message_bytes"},
	{"custom_instructions", "custom_instructions_bytes"},
}

// Capture implements Capture for one hook payload.
func (ClaudeCode) Capture(rec *RawRecord) ([]sdk.Event, error) {
	if rec.Oversize > 0 {
		return []sdk.Event{OversizedEvent(rec)}, nil
	}
	ev := sdk.Event{ID: EventID(rec, 0), Platform: rec.Platform, Time: rec.ReceivedAt}
	p := rec.Payload
	if len(bytes.TrimSpace(p)) == 0 {
		return nil, Permanent(errors.New("empty payload"))
	}
	if !gjson.ValidBytes(p) {
		return nil, Permanent(errors.New("payload is not valid JSON"))
	}
	root := gjson.ParseBytes(p)
	if !root.IsObject() {
		return nil, Permanent(fmt.Errorf("payload is a JSON %s, not an object", jsonType(root)))
	}
	fields := root.Map()
	name := fields["hook_event_name"]
	if name.Type != gjson.String || name.Str == "" {
		return nil, Permanent(errors.New("payload has no hook_event_name"))
	}
	// The kind, prefix and all, must be an identifier: a name that is one but too long for the
	// prefix would make an event that Validate rejects.
	if ev.Kind = "hook." + name.Str; !isIdent(ev.Kind) {
		return nil, Permanent(errors.New("hook_event_name is not an identifier"))
	}
	if s := fields["session_id"]; s.Type == gjson.String && s.Str != "" {
		ev.SessionID = s.Str
		if !isIdent(s.Str) {
			// Not a UUID as Claude Code sends: keep a stable stand-in, never the value.
			sum := sha256.Sum256([]byte(s.Str))
			ev.SessionID = "h-" + hex.EncodeToString(sum[:12])
		}
	}
	attrs := []sdk.Attr{PayloadBytes(rec)}
	for _, f := range []string{"tool_name", "tool_use_id", "permission_mode", "model"} {
		if v := fields[f]; v.Type == gjson.String && isIdent(v.Str) {
			attrs = append(attrs, sdk.Ident(f, v.Str))
		}
	}
	for _, e := range claudeEnums {
		if v := fields[e.field]; v.Type == gjson.String && e.allowed[v.Str] {
			attrs = append(attrs, sdk.Ident(e.field, v.Str))
		}
	}
	for _, f := range claudeSizes {
		if v, ok := fields[f[0]]; ok && v.Type != gjson.Null {
			attrs = append(attrs, sdk.Int(f[1], int64(textSize(v))))
		}
	}
	if v := fields["stop_hook_active"]; v.IsBool() {
		attrs = append(attrs, sdk.Bool("stop_hook_active", v.Bool()))
	}
	if resp := fields["tool_response"]; resp.IsObject() {
		for _, f := range [][2]string{{"success", "success"}, {"interrupted", "interrupted"}, {"is_error", "is_error"}} {
			if v := resp.Get(f[0]); v.IsBool() {
				attrs = append(attrs, sdk.Bool(f[1], v.Bool()))
			}
		}
		if v := resp.Get("durationMs"); v.Type == gjson.Number && v.Num >= 0 && v.Num < 1<<53 {
			attrs = append(attrs, sdk.Int("duration_ms", int64(v.Num)))
		}
	}
	ev.Attrs = attrs
	return []sdk.Event{ev}, nil
}

// textSize is the size of a value as text: a string's UTF-8 bytes once unescaped, and the JSON of
// anything else.
func textSize(v gjson.Result) int {
	if v.Type == gjson.String {
		return len(v.Str)
	}
	return len(v.Raw)
}

func jsonType(r gjson.Result) string {
	switch r.Type {
	case gjson.String:
		return "string"
	case gjson.Number:
		return "number"
	case gjson.True, gjson.False:
		return "boolean"
	case gjson.Null:
		return "null"
	}
	if r.IsArray() {
		return "array"
	}
	return "value"
}

// isIdent reports whether s is a non-empty identifier that sdk.Event.Validate accepts.
func isIdent(s string) bool {
	if s == "" || len(s) > sdk.MaxIdentLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}
