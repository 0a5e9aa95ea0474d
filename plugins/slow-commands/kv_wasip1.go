//go:build wasip1

package main

import "github.com/hangar-dev/hangar/sdk/pdk"

func kvGet(key string) []byte {
	v, _ := pdk.KVGet([]byte(key))
	return v
}

func kvSet(key string, value []byte) { pdk.KVSet([]byte(key), value) }
