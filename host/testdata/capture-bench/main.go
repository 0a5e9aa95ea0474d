//go:build wasip1

// Command capture-bench is a realistic Claude Code capture plugin for the host's benchmarks: per
// hook payload it emits one event with the hook, session, tool name, permission mode, the tool
// input's size and key count, and the file extension it touches.
//
// It reads the record in one pass and the tool input in another, with pdk.Members, which skips
// the values it is not asked to decode (a tool input's file content) instead of unescaping them:
// a guest pays for every byte it touches, and a Get per field would scan the record once per
// field.
package main

import (
	"errors"
	"path"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
	"github.com/tidwall/gjson"
)

func init() { pdk.HandleCapture(capture) }

func capture(rec pdk.Record) ([]sdk.Event, error) {
	var name, session, tool, mode, input string
	pdk.Members(rec.String(), func(k, raw string) bool {
		switch k {
		case "hook_event_name":
			name = gjson.Parse(raw).Str
		case "session_id":
			session = gjson.Parse(raw).Str
		case "tool_name":
			tool = gjson.Parse(raw).Str
		case "permission_mode":
			mode = gjson.Parse(raw).Str
		case "tool_input":
			input = raw
		}
		return true
	})
	if name == "" {
		return nil, errors.New("no hook_event_name")
	}
	evs := make([]sdk.Event, 1)
	ev := &evs[0]
	ev.Kind, ev.SessionID = "hook."+name, session
	ev.Attrs = make([]sdk.Attr, 0, 6)
	if tool != "" {
		ev.Attrs = append(ev.Attrs, sdk.Ident("tool_name", tool))
	}
	if mode != "" {
		ev.Attrs = append(ev.Attrs, sdk.Ident("permission_mode", mode))
	}
	if input != "" {
		keys, fp := 0, ""
		pdk.Members(input, func(k, raw string) bool {
			keys++
			if k == "file_path" {
				fp = gjson.Parse(raw).Str
			}
			return true
		})
		ev.Attrs = append(ev.Attrs, sdk.Int("tool_input_bytes", int64(len(input))), sdk.Int("tool_input_keys", int64(keys)))
		if ext := path.Ext(fp); len(ext) > 1 && len(ext) <= 10 {
			ev.Attrs = append(ev.Attrs, sdk.Ident("file_ext", ext[1:]))
		}
	}
	return evs, nil
}

func main() {}
