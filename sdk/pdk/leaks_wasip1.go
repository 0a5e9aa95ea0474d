//go:build wasip1

package pdk

import (
	"encoding/binary"
	"unsafe"
)

// The leaks host function, in the "hangar" module (host/leaks.go).

//go:wasmimport hangar leaks
func hangarLeaks(record uint32, src unsafe.Pointer, n uint32, dst unsafe.Pointer) uint32

// leakQuery is Leaks' query buffer, reused from call to call.
var leakQuery []byte

// Leaks reports, for each of ss, whether the host would refuse an emission carrying it for the
// record being handled: whether it holds 12 or more consecutive bytes of the content the plugin
// was shown for that record, verbatim or with whitespace removed, less the parts equal to a
// granted read field's value; or 12 such bytes of any other content this instance of the plugin
// was shown (the call's other records, earlier calls, files it read), less the parts inside a
// granted read value and those found in the plugin's own module. Those are the checks the host
// applies to every emitted kind, session id, attribute key and ident or hash value, refusing the
// whole record when one fails; a plugin that derives strings from content asks first, and
// withholds what would fail. The host answers natively, much faster than a guest scanning the
// content itself. It needs no capability; for a plugin shown no content every answer is false.
// Call it only from a handler.
func Leaks(ss []string) []bool {
	hits := make([]bool, len(ss))
	if len(ss) == 0 {
		return hits
	}
	q := leakQuery[:0]
	for _, s := range ss {
		q = binary.AppendUvarint(q, uint64(len(s)))
		q = append(q, s...)
	}
	bitmap := make([]byte, (len(ss)+7)/8)
	var src unsafe.Pointer
	if len(q) > 0 {
		src = unsafe.Pointer(&q[0])
	}
	hangarLeaks(uint32(current), src, uint32(len(q)), unsafe.Pointer(&bitmap[0]))
	if cap(q) <= maxKeptOutput {
		leakQuery = q
	}
	for k := range hits {
		hits[k] = bitmap[k/8]&(1<<(k%8)) != 0
	}
	return hits
}
