//go:build wasip1

// Command enrich-badkind is a test enrich plugin that emits, for each hook.UserPromptSubmit
// event, a derived record of a kind it was not granted; other events it leaves alone.
package main

import (
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() {
	pdk.HandleEnrich(func(rec pdk.Record) ([]sdk.Event, error) {
		if rec.Get("kind").String() != "hook.UserPromptSubmit" {
			return nil, nil
		}
		return []sdk.Event{{Kind: "not-granted", SessionID: rec.Get("session_id").String()}}, nil
	})
}

func main() {}
