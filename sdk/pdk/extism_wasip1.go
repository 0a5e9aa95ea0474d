//go:build wasip1

package pdk

import (
	"encoding/binary"
	"runtime"
	"unsafe"
)

// The Extism guest ABI: the host keeps input, output and allocations in its own memory, addressed
// by 64-bit offsets.

//go:wasmimport extism:host/env input_length
func extismInputLength() uint64

//go:wasmimport extism:host/env alloc
func extismAlloc(length uint64) uint64

//go:wasmimport extism:host/env free
func extismFree(offset uint64)

//go:wasmimport extism:host/env length
func extismLength(offset uint64) uint64

//go:wasmimport extism:host/env load_u8
func extismLoadU8(offset uint64) uint32

//go:wasmimport extism:host/env load_u64
func extismLoadU64(offset uint64) uint64

//go:wasmimport extism:host/env store_u8
func extismStoreU8(offset uint64, v uint32)

//go:wasmimport extism:host/env store_u64
func extismStoreU64(offset uint64, v uint64)

//go:wasmimport extism:host/env error_set
func extismErrorSet(offset uint64)

// Hangar's batch-ABI host functions move a call's whole input and output in one copy each;
// Extism's kernel functions would take one host call per 8 bytes.

//go:wasmimport hangar input_read
func hangarInputRead(dst unsafe.Pointer, n uint32)

//go:wasmimport hangar output_write
func hangarOutputWrite(src unsafe.Pointer, n uint32)

// input returns the call's input, in a new buffer: records alias it, and so may the strings a
// handler keeps, so it is never reused.
func input() []byte {
	n := extismInputLength()
	buf := make([]byte, n)
	if n > 0 {
		hangarInputRead(unsafe.Pointer(&buf[0]), uint32(n))
	}
	return buf
}

// store copies data into Extism's memory and returns its offset. Under wazero's
// WithCloseOnContextDone every loop iteration would cost a trip to the host's Go code, so the copy
// loops move 32 bytes per iteration.
func store(data []byte) uint64 {
	n := uint64(len(data))
	off := extismAlloc(n)
	i := uint64(0)
	for ; i+32 <= n; i += 32 {
		b := data[i : i+32 : i+32]
		extismStoreU64(off+i, binary.LittleEndian.Uint64(b[0:]))
		extismStoreU64(off+i+8, binary.LittleEndian.Uint64(b[8:]))
		extismStoreU64(off+i+16, binary.LittleEndian.Uint64(b[16:]))
		extismStoreU64(off+i+24, binary.LittleEndian.Uint64(b[24:]))
	}
	for ; i+8 <= n; i += 8 {
		extismStoreU64(off+i, binary.LittleEndian.Uint64(data[i:]))
	}
	for ; i < n; i++ {
		extismStoreU8(off+i, uint32(data[i]))
	}
	return off
}

// load copies a block of host memory and frees it.
func load(off uint64) []byte {
	if off == 0 {
		return nil
	}
	n := extismLength(off)
	buf := make([]byte, n)
	i := uint64(0)
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], extismLoadU64(off+i))
	}
	for ; i < n; i++ {
		buf[i] = byte(extismLoadU8(off + i))
	}
	extismFree(off)
	return buf
}

func output(data []byte) {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	hangarOutputWrite(p, uint32(len(data)))
}

func setError(msg string) { extismErrorSet(store(unsafe.Slice(unsafe.StringData(msg), len(msg)))) }

// call runs an export: 0 on success, 1 with Extism's error set on failure.
//
// Before it returns, it yields to the Go scheduler. An exported function runs on its own
// goroutine, and wasip1 has one thread and no preemption: the garbage collector's background
// workers run only when that goroutine yields. A plugin that never blocks would otherwise never
// finish a collection, and its heap would grow by its garbage on every call until it ran out of
// memory (about 4,000 calls of 100 records for capture-bench under a 256 MiB limit).
func call(export string) int32 {
	defer runtime.Gosched()
	out, err := process(export, input())
	if err != nil {
		setError(err.Error())
		return 1
	}
	output(out)
	return 0
}

//go:wasmexport capture
func exportCapture() int32 { return call("capture") }

//go:wasmexport enrich
func exportEnrich() int32 { return call("enrich") }

//go:wasmexport insight
func exportInsight() int32 { return call("insight") }
