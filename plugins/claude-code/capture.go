package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
	"github.com/tidwall/gjson"
)

// enums are the enumerations whose values the plugin keeps, and the values it accepts: anything
// else is dropped, so that a free-text value can never slip through.
var enums = []struct {
	field   string
	allowed map[string]bool
}{
	{"source", map[string]bool{"startup": true, "resume": true, "clear": true, "compact": true}},
	{"reason", map[string]bool{"clear": true, "logout": true, "prompt_input_exit": true, "other": true, "bypass_permissions_disabled": true}},
	{"trigger", map[string]bool{"manual": true, "auto": true}},
	{"notification_type", map[string]bool{"permission_prompt": true, "idle_prompt": true, "auth_success": true, "elicitation_dialog": true}},
}

// sizes are the content fields whose size in bytes the plugin keeps, by attribute name: a
// string's unescaped UTF-8 bytes, or the JSON of an object or array.
var sizes = [][2]string{
	{"tool_input", "tool_input_bytes"},
	{"tool_response", "tool_response_bytes"},
	{"prompt", "prompt_bytes"},
	{"message", "message_bytes"},
	{"last_assistant_message", "assistant_message_bytes"},
	{"custom_instructions", "custom_instructions_bytes"},
}

// capture turns one projected hook payload into its event.
func capture(rec pdk.Record) ([]sdk.Event, error) {
	if !gjson.ValidBytes(rec.JSON) {
		return nil, errors.New("payload is not valid JSON")
	}
	root := gjson.ParseBytes(rec.JSON)
	if !root.IsObject() {
		return nil, errors.New("payload is not a JSON object")
	}
	fields := root.Map()
	name := fields["hook_event_name"]
	if name.Type != gjson.String || name.Str == "" {
		return nil, errors.New("payload has no hook_event_name")
	}
	ev := sdk.Event{Kind: "hook." + name.Str}
	if !isIdent(ev.Kind) {
		return nil, errors.New("hook_event_name is not an identifier")
	}
	if s := fields["session_id"]; s.Type == gjson.String && s.Str != "" {
		ev.SessionID = s.Str
		if !isIdent(s.Str) {
			// Not a UUID as Claude Code sends: keep a stable stand-in, never the value.
			sum := sha256.Sum256([]byte(s.Str))
			ev.SessionID = "h-" + hex.EncodeToString(sum[:12])
		}
	}
	var attrs []sdk.Attr
	for _, f := range []string{"tool_name", "tool_use_id", "permission_mode", "model"} {
		if v := fields[f]; v.Type == gjson.String && isIdent(v.Str) {
			attrs = append(attrs, sdk.Ident(f, v.Str))
		}
	}
	for _, e := range enums {
		if v := fields[e.field]; v.Type == gjson.String && e.allowed[v.Str] {
			attrs = append(attrs, sdk.Ident(e.field, v.Str))
		}
	}
	for _, f := range sizes {
		if v, ok := fields[f[0]]; ok && v.Type != gjson.Null {
			n := len(v.Raw)
			if v.Type == gjson.String {
				n = len(v.Str)
			}
			attrs = append(attrs, sdk.Int(f[1], int64(n)))
		}
	}
	if v := fields["stop_hook_active"]; v.IsBool() {
		attrs = append(attrs, sdk.Bool("stop_hook_active", v.Bool()))
	}
	if resp := fields["tool_response"]; resp.IsObject() {
		for _, f := range []string{"success", "interrupted", "is_error"} {
			if v := resp.Get(f); v.IsBool() {
				attrs = append(attrs, sdk.Bool(f, v.Bool()))
			}
		}
		if v := resp.Get("durationMs"); v.Type == gjson.Number && v.Num >= 0 && v.Num < 1<<53 {
			attrs = append(attrs, sdk.Int("duration_ms", int64(v.Num)))
		}
	}
	ev.Attrs = attrs
	return []sdk.Event{ev}, nil
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
