//go:build wasip1

// Command flood is an adversarial plugin: it emits far more output than its limit.
package main

import (
	"strconv"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() {
	pdk.HandleCapture(func(pdk.Record) ([]sdk.Event, error) {
		evs := make([]sdk.Event, 2000)
		for i := range evs {
			evs[i] = sdk.Event{Kind: "flood.event", Attrs: []sdk.Attr{sdk.Ident("n", "value_"+strconv.Itoa(i)), sdk.Int("i", int64(i))}}
		}
		return evs, nil
	})
}

func main() {}
