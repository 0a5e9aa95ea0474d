//go:build wasip1

// Command fsread is a test plugin for the fs:read host functions. For each record
// {"path": "...", "offset": N, "max": M} it reads the file with pdk.ReadFile (max defaults to
// pdk.MaxRead) and emits "fs.read" with the int attributes bytes (how many were read) and first
// (the first byte, or -1); with "op": "stat" it emits "fs.stat" with size and ok from
// pdk.StatFile. A refused read traps, failing the call.
package main

import (
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() {
	pdk.HandleCapture(func(rec pdk.Record) ([]sdk.Event, error) {
		path := rec.Get("path").String()
		if rec.Get("op").String() == "stat" {
			size, ok := pdk.StatFile(path)
			return []sdk.Event{{Kind: "fs.stat", Attrs: []sdk.Attr{sdk.Int("size", size), sdk.Bool("ok", ok)}}}, nil
		}
		max := pdk.MaxRead
		if m := rec.Get("max"); m.Exists() {
			max = int(m.Int())
		}
		b, err := pdk.ReadFile(path, rec.Get("offset").Int(), max)
		if err != nil {
			return nil, err
		}
		first := int64(-1)
		if len(b) > 0 {
			first = int64(b[0])
		}
		return []sdk.Event{{Kind: "fs.read", Attrs: []sdk.Attr{sdk.Int("bytes", int64(len(b))), sdk.Int("first", first)}}}, nil
	})
}

func main() {}
