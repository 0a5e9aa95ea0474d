// Package wire is the one decoder of Hangar's binary encodings: varints, fixed-width fields and
// length-prefixed bytes, read with a sticky error. A [Decoder] keeps the first error it meets and
// every later read returns a zero value, so a format's decoder reads field after field and checks
// the error once, at the end ([Decoder.End]), and it never panics nor reads past its input,
// however malformed.
//
// Its users are the event encoding (package sdk, Event.UnmarshalBinary), the batch ABI (sdk/abi)
// and the stored usage rollup (pipeline/usage's buckets, pipeline/usagestore's entries). It lives
// here, an sdk subpackage that imports nothing of Hangar's, because that is the one place all of
// them may import: package sdk may import only sdk/... (so neither sdk/abi, which imports sdk,
// nor anything under pipeline), and an sdk/internal package could not be imported from pipeline.
// It is public by necessity, and small on purpose: a Go plugin that reads the ABI by hand may use
// it too, but it promises nothing beyond the methods here.
//
// Each format keeps its own sentinel error: errors a Decoder makes wrap the one given to
// [NewDecoder] (sdk.ErrCorrupt, abi.ErrMalformed, usage.ErrCorrupt ...), with the offset at which
// decoding failed.
//
// A Decoder is a small value meant to live on its caller's stack; it is not safe for concurrent
// use. Byte slices it returns alias its input.
package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Decoder reads an encoding from the front, keeping the first error; reads after an error return
// zero values.
type Decoder struct {
	buf     []byte
	off     int
	err     error
	corrupt error
}

// NewDecoder returns a Decoder of b whose errors wrap corrupt.
func NewDecoder(b []byte, corrupt error) Decoder {
	return Decoder{buf: b, corrupt: corrupt}
}

// Err returns the first error, or nil.
func (d *Decoder) Err() error { return d.err }

// Offset returns how many bytes have been read.
func (d *Decoder) Offset() int { return d.off }

// Len returns how many bytes are left to read.
func (d *Decoder) Len() int { return len(d.buf) - d.off }

// Fail records an error, unless one is recorded already: the format's sentinel, the offset, and
// the message format and args make. A format's decoder calls it for what the Decoder cannot
// check itself (a value out of range, an unknown kind).
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", d.corrupt, d.off, fmt.Sprintf(format, args...))
	}
}

// End fails if bytes are left, and returns the first error.
func (d *Decoder) End() error {
	if d.err == nil && d.off != len(d.buf) {
		d.Fail("%d trailing bytes", len(d.buf)-d.off)
	}
	return d.err
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if p := d.Bytes(1); p != nil {
		return p[0]
	}
	return 0
}

// Bytes reads the next n bytes; nil after an error.
func (d *Decoder) Bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf)-d.off {
		d.Fail("need %d bytes, have %d", n, len(d.buf)-d.off)
		return nil
	}
	p := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return p
}

// Uvarint reads an unsigned varint (encoding/binary's).
func (d *Decoder) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		d.Fail("bad uvarint")
		return 0
	}
	d.off += n
	return v
}

// Varint reads a signed (zigzag) varint (encoding/binary's).
func (d *Decoder) Varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf[d.off:])
	if n <= 0 {
		d.Fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

// Float64 reads a float64 as 8 bytes of IEEE 754 bits, little-endian.
func (d *Decoder) Float64() float64 {
	if p := d.Bytes(8); p != nil {
		return math.Float64frombits(binary.LittleEndian.Uint64(p))
	}
	return 0
}

// Count reads a uvarint count of items that each take at least size bytes (size >= 1), and fails
// if that many cannot fit in what is left: a count read so bounds an allocation by the input's
// length.
func (d *Decoder) Count(size int) int {
	v := d.Uvarint()
	if d.err == nil && v > uint64(d.Len()/size) {
		d.Fail("count %d exceeds input", v)
		return 0
	}
	return int(v)
}

// Prefixed reads a uvarint length and that many bytes.
func (d *Decoder) Prefixed() []byte {
	n := d.Uvarint()
	if d.err == nil && n > uint64(d.Len()) {
		d.Fail("length %d exceeds input", n)
		return nil
	}
	return d.Bytes(int(n))
}
