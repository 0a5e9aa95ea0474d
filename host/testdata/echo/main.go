//go:build wasip1

// Command echo is a minimal capture plugin for host tests: one event per record, of kind
// "hook.<hook_event_name>", with the tool name when there is one.
package main

import (
	"errors"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() { pdk.HandleCapture(capture) }

func capture(rec pdk.Record) ([]sdk.Event, error) {
	name := rec.Get("hook_event_name").String()
	if name == "" {
		return nil, errors.New("no hook_event_name")
	}
	ev := sdk.Event{Kind: "hook." + name, SessionID: rec.Get("session_id").String()}
	if t := rec.Get("tool_name").String(); t != "" {
		ev.Attrs = append(ev.Attrs, sdk.Ident("tool_name", t))
	}
	return []sdk.Event{ev}, nil
}

func main() {}
