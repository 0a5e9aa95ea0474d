//go:build wasip1

package main

import (
	"runtime/debug"

	"github.com/hangar-dev/hangar/sdk/pdk"
)

// memoryLimit is the Go heap's soft limit, below the module's memory (memory_pages in
// plugin.toml, 64 MiB), so that the collector works harder before the module runs out.
const memoryLimit = 48 << 20

// gcPercent lets the heap grow to five times the live heap between collections: a guest's
// collections are single-threaded and were a large share of a call. (Turning them off until
// the limit was slower: the host copies the module's memory each time it grows.)
const gcPercent = 400

// pdkKV is the plugin's kv keyspace through the host.
type pdkKV struct{}

func (pdkKV) Get(key []byte) ([]byte, bool) { return pdk.KVGet(key) }
func (pdkKV) Set(key, value []byte)         { pdk.KVSet(key, value) }

func init() {
	debug.SetMemoryLimit(memoryLimit)
	debug.SetGCPercent(gcPercent)
	pdk.HandleEnrichBatch(func(recs []pdk.Record) []pdk.Result {
		strs := make([]string, len(recs))
		for i, r := range recs {
			strs[i] = r.String()
		}
		return enrich(pdkKV{}, strs)
	})
}
