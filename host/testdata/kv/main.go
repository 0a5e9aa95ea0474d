//go:build wasip1

// Command kv is a test plugin that counts records in its keyspace and emits the count.
package main

import (
	"strconv"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() {
	pdk.HandleCapture(func(pdk.Record) ([]sdk.Event, error) {
		n := 0
		if v, ok := pdk.KVGet([]byte("count")); ok {
			n, _ = strconv.Atoi(string(v))
		}
		n++
		pdk.KVSet([]byte("count"), []byte(strconv.Itoa(n)))
		pdk.Log(pdk.LevelInfo, "counted")
		return []sdk.Event{{Kind: "kv.count", Attrs: []sdk.Attr{sdk.Int("count", int64(n))}}}, nil
	})
}

func main() {}
