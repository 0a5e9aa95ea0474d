//go:build wasip1

package main

import "github.com/hangar-dev/hangar/sdk/pdk"

// pdkKV is the plugin's kv keyspace through the host.
type pdkKV struct{}

func (pdkKV) Get(key []byte) ([]byte, bool) { return pdk.KVGet(key) }
func (pdkKV) Set(key, value []byte)         { pdk.KVSet(key, value) }

func init() {
	pdk.HandleEnrichBatch(func(recs []pdk.Record) []pdk.Result {
		strs := make([]string, len(recs))
		for i, r := range recs {
			strs[i] = r.String()
		}
		return enrich(pdkKV{}, strs)
	})
}
