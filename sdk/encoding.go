package sdk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hangar-dev/hangar/sdk/wire"
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
	d := wire.NewDecoder(data, ErrCorrupt)
	v := d.Byte()
	if d.Err() == nil && v != EncodingVersion {
		return fmt.Errorf("decode event: %w: %d", ErrUnknownVersion, v)
	}
	var ev Event
	copy(ev.ID[:], d.Bytes(len(ev.ID)))
	ev.Platform = string(d.Prefixed())
	ev.Kind = string(d.Prefixed())
	ev.SessionID = string(d.Prefixed())
	ev.Time = nanosTime(d.Varint())
	ev.IngestTime = nanosTime(d.Varint())
	// Each attribute takes at least 3 bytes, which bounds n before allocating.
	n := d.Count(3)
	if d.Err() == nil && n > 0 {
		ev.Attrs = make([]Attr, 0, n)
	}
	for i := 0; i < n && d.Err() == nil; i++ {
		key := string(d.Prefixed())
		var val Value
		switch k := ValueKind(d.Byte()); k {
		case KindInt:
			val = IntValue(d.Varint())
		case KindFloat:
			if p := d.Bytes(8); p != nil {
				val = Value{kind: KindFloat, num: binary.LittleEndian.Uint64(p)}
			}
		case KindBool:
			switch d.Byte() {
			case 0:
				val = BoolValue(false)
			case 1:
				val = BoolValue(true)
			default:
				d.Fail("attribute %d: bool byte not 0 or 1", i)
			}
		case KindIdent:
			val = IdentValue(string(d.Prefixed()))
		case KindHash:
			val = HashValue(d.Prefixed())
		case KindSketch:
			n := d.Count(sketchEntry)
			if p := d.Bytes(n * sketchEntry); p != nil {
				val = Value{kind: KindSketch, str: string(p)}
			}
		default:
			d.Fail("attribute %d: unknown value kind %d", i, k)
		}
		ev.Attrs = append(ev.Attrs, Attr{Key: key, Value: val})
	}
	if err := d.End(); err != nil {
		return fmt.Errorf("decode event: %w", err)
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
