//go:build wasip1

// Command salt is a test plugin that emits its salt (pdk.Salt) as a hash attribute, and whether a
// second call returned the same bytes.
package main

import (
	"bytes"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() {
	pdk.HandleCapture(func(pdk.Record) ([]sdk.Event, error) {
		s := pdk.Salt()
		again := pdk.Salt()
		s2 := bytes.Clone(again)
		again[0] ^= 0xff // the caller's copy: the next Salt is unchanged
		return []sdk.Event{{Kind: "salt", Attrs: []sdk.Attr{
			sdk.Hash("salt", s),
			sdk.Bool("same", bytes.Equal(s, s2) && bytes.Equal(pdk.Salt(), s)),
			sdk.Int("len", int64(len(s))),
		}}}, nil
	})
}

func main() {}
