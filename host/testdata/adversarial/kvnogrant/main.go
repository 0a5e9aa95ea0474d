//go:build wasip1

// Command kvnogrant is an adversarial plugin: it calls the kv host function without the grant.
package main

import (
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() {
	pdk.HandleCapture(func(pdk.Record) ([]sdk.Event, error) {
		pdk.KVSet([]byte("stolen"), []byte("data"))
		return []sdk.Event{{Kind: "kv.ok"}}, nil
	})
}

func main() {}
