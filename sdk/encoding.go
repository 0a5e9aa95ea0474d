package sdk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// EncodingVersion is the version byte that starts every encoded event.
const EncodingVersion = 1

// Errors from UnmarshalBinary.
var (
	// ErrUnknownVersion means the bytes were written by a newer (or unknown) encoding.
	ErrUnknownVersion = errors.New("sdk: unknown event encoding version")
	// ErrCorrupt means the bytes are not a well-formed event.
	ErrCorrupt = errors.New("sdk: corrupt event encoding")
)

// zeroTime encodes the zero time.Time, which UnixNano cannot represent.
const zeroTime = math.MinInt64

// AppendBinary appends the event's encoding to b:
//
//	version byte (1) | id (16 bytes) | platform | kind | session id | time | ingest time |
//	attribute count (uvarint) | attributes
//
// where strings are a uvarint length then bytes, times are zigzag varint Unix nanoseconds
// (math.MinInt64 for the zero time), and each attribute is its key, a kind byte and the value:
// zigzag varint (int), 8 bytes little-endian IEEE 754 (float), 1 byte (bool), a string (ident,
// hash), or for a sketch a uvarint entry count and that many entries of 2 bytes of index and 4 of
// float32 bits, little-endian. It does not validate the event; a sketch whose indices and values
// differ in number is an error. Errors name an attribute by its index, never by its key: a key is
// the plugin's text, and the host keeps errors in logs and dead letters.
//
// Kind byte 6 (sketch) was added to version 1 without changing it: every encoding written before
// decodes as it did, and decoders that predate the kind reject it as corrupt.
func (e *Event) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, EncodingVersion)
	b = append(b, e.ID[:]...)
	b = appendString(b, e.Platform)
	b = appendString(b, e.Kind)
	b = appendString(b, e.SessionID)
	b = binary.AppendVarint(b, timeNanos(e.Time))
	b = binary.AppendVarint(b, timeNanos(e.IngestTime))
	b = binary.AppendUvarint(b, uint64(len(e.Attrs)))
	for i, a := range e.Attrs {
		b = appendString(b, a.Key)
		b = append(b, byte(a.Value.kind))
		switch a.Value.kind {
		case KindInt:
			b = binary.AppendVarint(b, a.Value.Int())
		case KindFloat:
			b = binary.LittleEndian.AppendUint64(b, a.Value.num)
		case KindBool:
			b = append(b, byte(a.Value.num))
		case KindIdent, KindHash:
			b = appendString(b, a.Value.str)
		case KindSketch:
			if a.Value.num != 0 || len(a.Value.str)%sketchEntry != 0 {
				return nil, fmt.Errorf("encode attribute %d: sketch indices and values differ in number", i)
			}
			b = binary.AppendUvarint(b, uint64(len(a.Value.str)/sketchEntry))
			b = append(b, a.Value.str...)
		default:
			return nil, fmt.Errorf("encode attribute %d: %v", i, a.Value.kind)
		}
	}
	return b, nil
}

// MarshalBinary returns the event's encoding; see AppendBinary.
func (e *Event) MarshalBinary() ([]byte, error) { return e.AppendBinary(nil) }

// UnmarshalBinary decodes what AppendBinary wrote. Unknown versions return an error wrapping
// ErrUnknownVersion, malformed bytes one wrapping ErrCorrupt. It never panics.
func (e *Event) UnmarshalBinary(data []byte) error {
	d := decoder{buf: data}
	v := d.byte()
	if d.err == nil && v != EncodingVersion {
		return fmt.Errorf("decode event: %w: %d", ErrUnknownVersion, v)
	}
	var ev Event
	copy(ev.ID[:], d.bytes(len(ev.ID)))
	ev.Platform = d.string()
	ev.Kind = d.string()
	ev.SessionID = d.string()
	ev.Time = nanosTime(d.varint())
	ev.IngestTime = nanosTime(d.varint())
	n := d.uvarint()
	// Each attribute takes at least 3 bytes, which bounds n before allocating.
	if d.err == nil && n > uint64(len(d.buf)-d.off)/3 {
		d.fail("attribute count %d exceeds input", n)
	}
	if d.err == nil && n > 0 {
		ev.Attrs = make([]Attr, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		key := d.string()
		var val Value
		switch k := ValueKind(d.byte()); k {
		case KindInt:
			val = IntValue(d.varint())
		case KindFloat:
			if p := d.bytes(8); p != nil {
				val = Value{kind: KindFloat, num: binary.LittleEndian.Uint64(p)}
			}
		case KindBool:
			switch d.byte() {
			case 0:
				val = BoolValue(false)
			case 1:
				val = BoolValue(true)
			default:
				d.fail("attribute %d: bool byte not 0 or 1", i)
			}
		case KindIdent:
			val = IdentValue(d.string())
		case KindHash:
			val = HashValue([]byte(d.string()))
		case KindSketch:
			n := d.uvarint()
			if d.err == nil && n > uint64(len(d.buf)-d.off)/sketchEntry {
				d.fail("attribute %d: sketch of %d entries exceeds input", i, n)
			}
			if p := d.bytes(int(n) * sketchEntry); p != nil {
				val = Value{kind: KindSketch, str: string(p)}
			}
		default:
			d.fail("attribute %d: unknown value kind %d", i, k)
		}
		ev.Attrs = append(ev.Attrs, Attr{Key: key, Value: val})
	}
	if d.err == nil && d.off != len(d.buf) {
		d.fail("%d trailing bytes", len(d.buf)-d.off)
	}
	if d.err != nil {
		return fmt.Errorf("decode event: %w", d.err)
	}
	*e = ev
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return zeroTime
	}
	return t.UnixNano()
}

func nanosTime(n int64) time.Time {
	if n == zeroTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// decoder reads an encoding, keeping the first error; reads after an error return zero values.
type decoder struct {
	buf []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrCorrupt, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) byte() byte {
	if p := d.bytes(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf)-d.off {
		d.fail("need %d bytes, have %d", n, len(d.buf)-d.off)
		return nil
	}
	p := d.buf[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.buf)-d.off) {
		d.fail("string of %d bytes exceeds input", n)
		return ""
	}
	return string(d.bytes(int(n)))
}
