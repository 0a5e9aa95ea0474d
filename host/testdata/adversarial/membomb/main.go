//go:build wasip1

// Command membomb is an adversarial plugin: it allocates without bound.
package main

import (
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

var hoard [][]byte

func init() {
	pdk.HandleCapture(func(pdk.Record) ([]sdk.Event, error) {
		for {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = byte(i)
			}
			hoard = append(hoard, b)
		}
	})
}

func main() {}
