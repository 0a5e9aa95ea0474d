//go:build wasip1

// Command loop is an adversarial plugin: it never returns from a record.
package main

import (
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

var sink uint64

func init() {
	pdk.HandleCapture(func(pdk.Record) ([]sdk.Event, error) {
		for i := uint64(0); ; i++ {
			sink += i * i
		}
	})
}

func main() {}
