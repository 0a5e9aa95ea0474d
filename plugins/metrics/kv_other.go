//go:build !wasip1

package main

// hostKV is the kv keyspace the handler works on: natively (tests) an empty one in memory.
var hostKV kvStore = newMemKV()
