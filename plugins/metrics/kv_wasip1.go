//go:build wasip1

package main

import "github.com/hangar-dev/hangar/sdk/pdk"

// pdkKV is the plugin's kv keyspace on the host.
type pdkKV struct{}

func (pdkKV) Get(key []byte) ([]byte, bool) {
	v, ok := pdk.KVGet(key)
	if !ok || len(v) == 0 {
		return nil, false
	}
	return v, true
}

func (pdkKV) Set(key, value []byte) { pdk.KVSet(key, value) }

// hostKV is the kv keyspace the handler works on.
var hostKV kvStore = pdkKV{}
