//go:build wasip1

package pdk

import "unsafe"

// Hangar's host functions, in the "hangar" module. Each checks the plugin's grants; calling one
// that was not granted fails the call.

//go:wasmimport hangar log
func hostLog(level uint64, msg uint64)

// kv_read and kv_write take the key and value in the guest's own memory, one host call each;
// the host keeps kv_get and kv_set (through Extism's memory, 8 bytes per host call) for plugins
// built before them.

//go:wasmimport hangar kv_read
func hostKVRead(key unsafe.Pointer, keyLen uint32, dst unsafe.Pointer, capacity uint32) int32

//go:wasmimport hangar kv_write
func hostKVWrite(key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32)

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
	// kvBuf holds the value as the host writes it; the value returned is a copy of its length.
	if kvBuf == nil {
		kvBuf = make([]byte, 64<<10)
	}
	n := hostKVRead(ptr(key), uint32(len(key)), unsafe.Pointer(&kvBuf[0]), uint32(len(kvBuf)))
	if n < 0 {
		return nil, false
	}
	if int(n) <= len(kvBuf) {
		return append(make([]byte, 0, n), kvBuf[:n]...), true
	}
	// Larger than any value kv_set stores; read it again into a buffer of its size.
	for {
		v := make([]byte, n)
		m := hostKVRead(ptr(key), uint32(len(key)), unsafe.Pointer(&v[0]), uint32(n))
		if m < 0 {
			return nil, false
		}
		if m <= n {
			return v[:m], true
		}
		n = m // it changed in between
	}
}

// kvBuf is KVGet's buffer, made on first use: the largest value the host stores
// (host.MaxKVValue).
var kvBuf []byte

// KVSet stores a value in the plugin's own keyspace (capability "kv").
func KVSet(key, value []byte) {
	hostKVWrite(ptr(key), uint32(len(key)), ptr(value), uint32(len(value)))
}

// ptr returns the address of b's first byte, or nil for an empty b.
func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}
