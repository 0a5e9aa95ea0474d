//go:build wasip1

// Command logspam is an adversarial plugin: it writes a thousand log lines per record.
package main

import (
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() {
	pdk.HandleCapture(func(pdk.Record) ([]sdk.Event, error) {
		for range 1000 {
			pdk.Log(pdk.LevelInfo, "spam spam spam")
		}
		return []sdk.Event{{Kind: "spam.done"}}, nil
	})
}

func main() {}
