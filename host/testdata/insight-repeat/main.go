//go:build wasip1

// Command insight-repeat is a test insight plugin: it reads derived "tool-stats" records and
// emits a "repeated-tool" insight when a tool's count in a session reaches 3.
package main

import (
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

// threshold is the count at which a tool counts as repeated.
const threshold = 3

func init() {
	pdk.HandleInsight(func(rec pdk.Record) ([]sdk.Event, error) {
		if rec.Get("kind").String() != "tool-stats" {
			return nil, nil
		}
		if rec.Get(`attrs.#(key=="count").value`).Int() != threshold {
			return nil, nil
		}
		return []sdk.Event{{
			Kind:      "repeated-tool",
			SessionID: rec.Get("session_id").String(),
			Attrs: []sdk.Attr{
				sdk.Ident("tool", rec.Get(`attrs.#(key=="tool").value`).String()),
				sdk.Int("count", threshold),
			},
		}}, nil
	})
}

func main() {}
