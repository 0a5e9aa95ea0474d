//go:build wasip1

// Command sleep is an adversarial plugin: for "mode": "sleep" it sleeps an hour, for "busy" it
// spins on the clock for an hour.
package main

import (
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() {
	pdk.HandleCapture(func(rec pdk.Record) ([]sdk.Event, error) {
		switch rec.Get("mode").String() {
		case "busy":
			for start := time.Now(); time.Since(start) < time.Hour; {
			}
		default:
			time.Sleep(time.Hour)
		}
		return []sdk.Event{{Kind: "sleep.done"}}, nil
	})
}

func main() {}
