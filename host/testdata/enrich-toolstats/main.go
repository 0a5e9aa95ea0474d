//go:build wasip1

// Command enrich-toolstats is a test enrich plugin: it counts tool uses per session and tool in its
// kv keyspace and, for each hook.PostToolUse event, emits a derived "tool-stats" record with the
// running count.
package main

import (
	"strconv"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() {
	pdk.HandleEnrich(func(rec pdk.Record) ([]sdk.Event, error) {
		if rec.Get("kind").String() != "hook.PostToolUse" {
			return nil, nil
		}
		session := rec.Get("session_id").String()
		tool := rec.Get(`attrs.#(key=="tool_name").value`).String()
		if session == "" || tool == "" {
			return nil, nil
		}
		key := []byte(session + "\x00" + tool)
		n := 0
		if v, ok := pdk.KVGet(key); ok {
			n, _ = strconv.Atoi(string(v))
		}
		n++
		pdk.KVSet(key, []byte(strconv.Itoa(n)))
		return []sdk.Event{{
			Kind:      "tool-stats",
			SessionID: session,
			Attrs:     []sdk.Attr{sdk.Ident("tool", tool), sdk.Int("count", int64(n))},
		}}, nil
	})
}

func main() {}
