//go:build wasip1

package main

import (
	"runtime/debug"

	"github.com/hangar-dev/hangar/sdk/pdk"
)

// memoryLimit is the Go heap's soft limit, below the module's memory (memory_pages in
// plugin.toml, 64 MiB). Garbage collection waits for it (GC percent off): a call allocates a
// few MiB at most, and collecting on every few of them cost more than the reconstruction.
const memoryLimit = 48 << 20

// pdkKV is the plugin's kv keyspace through the host.
type pdkKV struct{}

func (pdkKV) Get(key []byte) ([]byte, bool) { return pdk.KVGet(key) }
func (pdkKV) Set(key, value []byte)         { pdk.KVSet(key, value) }

func init() {
	debug.SetMemoryLimit(memoryLimit)
	debug.SetGCPercent(400)
	pdk.HandleEnrichBatch(func(recs []pdk.Record) []pdk.Result {
		strs := make([]string, len(recs))
		for i, r := range recs {
			strs[i] = r.String()
		}
		return enrich(pdkKV{}, strs)
	})
}
