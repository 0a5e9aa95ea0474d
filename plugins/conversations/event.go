package main

import (
	"encoding/hex"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// event is the part of an input event (sdk.Event.MarshalJSON) the reconstruction reads.
type event struct {
	id      string
	kind    string
	session string
	t       int64 // Unix ms
	// attribute values, by key, as gjson results (strings, numbers, booleans)
	attrs []attr
}

// attr is one attribute of an input event: its key and its JSON value.
type attr struct {
	key string
	val gjson.Result
}

// parseEvent reads an input record: one stored event as sdk.Event.MarshalJSON writes it. It
// reports false for a record that is not such an event (no kind, no session): those are ignored.
func parseEvent(js string) (event, bool) {
	var ev event
	gjson.Parse(js).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "id":
			ev.id = v.Str
		case "kind":
			ev.kind = v.Str
		case "session_id":
			ev.session = v.Str
		case "time":
			if t, err := time.Parse(time.RFC3339Nano, v.Str); err == nil {
				ev.t = t.UnixMilli()
			}
		case "attrs":
			v.ForEach(func(_, a gjson.Result) bool {
				var at attr
				a.ForEach(func(k, v gjson.Result) bool {
					switch k.Str {
					case "key":
						at.key = v.Str
					case "value":
						at.val = v
					}
					return true
				})
				if at.key != "" {
					ev.attrs = append(ev.attrs, at)
				}
				return true
			})
		}
		return true
	})
	if ev.kind == "" || ev.session == "" {
		return ev, false
	}
	return ev, strings.HasPrefix(ev.kind, "hook.") || strings.HasPrefix(ev.kind, "transcript.")
}

// get returns the value of attribute key.
func (ev *event) get(key string) gjson.Result {
	for i := range ev.attrs {
		if ev.attrs[i].key == key {
			return ev.attrs[i].val
		}
	}
	return gjson.Result{}
}

func (ev *event) str(key string) string { return ev.get(key).Str }
func (ev *event) num(key string) int64  { return ev.get(key).Int() }
func (ev *event) flag(key string) bool  { return ev.get(key).Type == gjson.True }
func (ev *event) has(key string) bool   { return ev.get(key).Exists() }

// hashBytes decodes a hash attribute (hex), or returns nil.
func (ev *event) hashBytes(key string) []byte {
	b, err := hex.DecodeString(ev.str(key))
	if err != nil || len(b) == 0 {
		return nil
	}
	return b
}
