package pdk

import (
	"encoding/binary"
	"math/bits"
	"strings"
	"unsafe"
)

// littleEndian is whether this machine stores the low byte of a word first, as WASM does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// IndexByte returns the index of the first c in s, or -1, as strings.IndexByte does. In a guest,
// strings.IndexByte is a loop over single bytes (Go emits no SIMD for WASM); IndexByte tests eight
// bytes per step instead, with word arithmetic, which makes it several times faster on the long
// strings a record carries (file contents, tool output). Natively, use strings.IndexByte.
func IndexByte(s string, c byte) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	if !littleEndian {
		return strings.IndexByte(s, c) // the borrow argument below needs the first byte lowest
	}
	p := unsafe.Pointer(unsafe.StringData(s))
	pattern := uint64(c) * ones
	i := 0
	// Four words per iteration while they last: a guest's loops pay for the host's fuel check at
	// each loop body (host/internal/wasmrewrite), so fewer iterations pay less.
	for ; i+32 <= len(s); i += 32 {
		w0 := *(*uint64)(unsafe.Add(p, i)) ^ pattern
		w1 := *(*uint64)(unsafe.Add(p, i+8)) ^ pattern
		w2 := *(*uint64)(unsafe.Add(p, i+16)) ^ pattern
		w3 := *(*uint64)(unsafe.Add(p, i+24)) ^ pattern
		if ((w0-ones)&^w0|(w1-ones)&^w1|(w2-ones)&^w2|(w3-ones)&^w3)&highs != 0 {
			break // the word loop below finds it
		}
	}
	for ; i+8 <= len(s); i += 8 {
		// A byte of w is zero where s holds c. The lowest set high bit of (w-ones) &^ w marks the
		// first zero byte exactly: a borrow only ever reaches the bytes above a zero byte.
		w := *(*uint64)(unsafe.Add(p, i)) ^ pattern
		if t := (w - ones) &^ w & highs; t != 0 {
			return i + bits.TrailingZeros64(t)/8
		}
	}
	for ; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
