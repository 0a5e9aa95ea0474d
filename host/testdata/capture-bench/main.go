//go:build wasip1

// Command capture-bench is a realistic Claude Code capture plugin for the host's benchmarks: per
// hook payload it emits one event with the hook, session, tool name, permission mode, the tool
// input's size and key count, and the file extension it touches.
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
	name := rec.Get("hook_event_name")
	if name.Str == "" {
		return nil, errors.New("no hook_event_name")
	}
	ev := sdk.Event{Kind: "hook." + name.Str, SessionID: rec.Get("session_id").Str}
	if t := rec.Get("tool_name").Str; t != "" {
		ev.Attrs = append(ev.Attrs, sdk.Ident("tool_name", t))
	}
	if m := rec.Get("permission_mode").Str; m != "" {
		ev.Attrs = append(ev.Attrs, sdk.Ident("permission_mode", m))
	}
	if in := rec.Get("tool_input"); in.Exists() {
		keys := 0
		in.ForEach(func(_, _ gjson.Result) bool { keys++; return true })
		ev.Attrs = append(ev.Attrs, sdk.Int("tool_input_bytes", int64(len(in.Raw))), sdk.Int("tool_input_keys", int64(keys)))
		if fp := in.Get("file_path").Str; fp != "" {
			if ext := path.Ext(fp); len(ext) > 1 && len(ext) <= 10 {
				ev.Attrs = append(ev.Attrs, sdk.Ident("file_ext", ext[1:]))
			}
		}
	}
	return []sdk.Event{ev}, nil
}

func main() {}
