//go:build wasip1

package pdk

import "unsafe"

// Hangar's host functions, in the "hangar" module. Each checks the plugin's grants; calling one
// that was not granted fails the call.

//go:wasmimport hangar log
func hostLog(level uint64, msg uint64)

//go:wasmimport hangar kv_get
func hostKVGet(key uint64) uint64

//go:wasmimport hangar kv_set
func hostKVSet(key, value uint64)

// Log levels for Log.
const (
	LevelDebug = 0
	LevelInfo  = 1
	LevelWarn  = 2
	LevelError = 3
)

// Log writes a line to the agent's log under the plugin's name (capability "log").
func Log(level int, msg string) {
	hostLog(uint64(level), store(unsafe.Slice(unsafe.StringData(msg), len(msg))))
}

// KVGet returns the value stored under key in the plugin's own keyspace (capability "kv"), and
// whether there is one.
func KVGet(key []byte) ([]byte, bool) {
	off := hostKVGet(store(key))
	if off == 0 {
		return nil, false
	}
	return load(off), true
}

// KVSet stores a value in the plugin's own keyspace (capability "kv").
func KVSet(key, value []byte) { hostKVSet(store(key), store(value)) }
