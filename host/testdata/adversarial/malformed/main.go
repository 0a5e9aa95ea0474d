//go:build wasip1

// Command malformed is an adversarial plugin written on Extism's raw ABI: its capture export sets
// an output that is not a batch.
package main

//go:wasmimport extism:host/env alloc
func extismAlloc(length uint64) uint64

//go:wasmimport extism:host/env store_u8
func extismStoreU8(offset uint64, v uint32)

//go:wasmimport extism:host/env output_set
func extismOutputSet(offset, length uint64)

//go:wasmexport capture
func capture() int32 {
	garbage := []byte("\x01\x07not a batch at all")
	off := extismAlloc(uint64(len(garbage)))
	for i, c := range garbage {
		extismStoreU8(off+uint64(i), uint32(c))
	}
	extismOutputSet(off, uint64(len(garbage)))
	return 0
}

func main() {}
