package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
)

var errTest = errors.New("test: corrupt")

// TestDecoderReads reads one of each field from a well-formed input.
func TestDecoderReads(t *testing.T) {
	b := []byte{7}
	b = binary.AppendUvarint(b, 300)
	b = binary.AppendVarint(b, -5)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(1.25))
	b = binary.AppendUvarint(b, 3)
	b = append(b, "abc"...)
	b = binary.AppendUvarint(b, 2) // a count of 2 items of 2 bytes
	b = append(b, 1, 2, 3, 4)
	d := NewDecoder(b, errTest)
	if got := d.Byte(); got != 7 {
		t.Errorf("Byte: got %d, want 7", got)
	}
	if got := d.Uvarint(); got != 300 {
		t.Errorf("Uvarint: got %d, want 300", got)
	}
	if got := d.Varint(); got != -5 {
		t.Errorf("Varint: got %d, want -5", got)
	}
	if got := d.Float64(); got != 1.25 {
		t.Errorf("Float64: got %v, want 1.25", got)
	}
	if got := string(d.Prefixed()); got != "abc" {
		t.Errorf("Prefixed: got %q, want abc", got)
	}
	if got := d.Count(2); got != 2 {
		t.Errorf("Count: got %d, want 2", got)
	}
	if got, want := d.Len(), 4; got != want {
		t.Errorf("Len: got %d, want %d", got, want)
	}
	if got := d.Bytes(4); !bytes.Equal(got, []byte{1, 2, 3, 4}) || cap(got) != 4 {
		t.Errorf("Bytes: got %v (cap %d), want [1 2 3 4] (cap 4)", got, cap(got))
	}
	if err := d.End(); err != nil || d.Offset() != len(b) {
		t.Errorf("End: %v at %d, want nil at %d", err, d.Offset(), len(b))
	}
}

// TestDecoderErrors: each malformed input fails with the format's sentinel and the offset of the
// failure, and every read after it returns zero without moving.
func TestDecoderErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		read    func(d *Decoder)
		wantMsg string
	}{
		{"byte of nothing", nil, func(d *Decoder) { d.Byte() }, "at byte 0: need 1 bytes, have 0"},
		{"bytes past the end", []byte{1, 2}, func(d *Decoder) { d.Byte(); d.Bytes(2) }, "at byte 1: need 2 bytes, have 1"},
		{"negative bytes", []byte{1}, func(d *Decoder) { d.Bytes(-1) }, "need -1 bytes"},
		{"truncated uvarint", []byte{0x80}, func(d *Decoder) { d.Uvarint() }, "at byte 0: bad uvarint"},
		{"uvarint overflow", bytes.Repeat([]byte{0xff}, 11), func(d *Decoder) { d.Uvarint() }, "bad uvarint"},
		{"truncated varint", []byte{0x80}, func(d *Decoder) { d.Varint() }, "bad varint"},
		{"short float", make([]byte, 7), func(d *Decoder) { d.Float64() }, "need 8 bytes, have 7"},
		{"count over the input", []byte{3, 0, 0, 0, 0, 0}, func(d *Decoder) { d.Count(2) }, "count 3 exceeds input"},
		{"count max uint64", binary.AppendUvarint(nil, math.MaxUint64), func(d *Decoder) { d.Count(1) }, "exceeds input"},
		{"length over the input", []byte{4, 'a', 'b', 'c'}, func(d *Decoder) { d.Prefixed() }, "length 4 exceeds input"},
		{"length max uint64", binary.AppendUvarint(nil, math.MaxUint64), func(d *Decoder) { d.Prefixed() }, "exceeds input"},
		{"trailing bytes", []byte{1, 2, 3}, func(d *Decoder) { d.Byte(); d.End() }, "at byte 1: 2 trailing bytes"},
		{"a format's own check", []byte{9}, func(d *Decoder) { d.Fail("kind %d", d.Byte()) }, "at byte 1: kind 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(tt.in, errTest)
			tt.read(&d)
			off := d.Offset()
			if d.Byte() != 0 || d.Uvarint() != 0 || d.Varint() != 0 || d.Float64() != 0 || d.Bytes(0) != nil || d.Prefixed() != nil {
				t.Errorf("a read after the error returned a value")
			}
			err := d.End()
			if !errors.Is(err, errTest) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("got %v, want an error wrapping errTest saying %q", err, tt.wantMsg)
			}
			if d.Err() != err {
				t.Errorf("Err: got %v, want %v", d.Err(), err)
			}
			if d.Offset() != off {
				t.Errorf("offset moved after the error: %d, then %d", off, d.Offset())
			}
		})
	}
}

// TestDecoderFirstErrorKept: a second failure does not replace the first.
func TestDecoderFirstErrorKept(t *testing.T) {
	d := NewDecoder(nil, errTest)
	d.Fail("first")
	d.Fail("second")
	if err := d.Err(); err == nil || !strings.Contains(err.Error(), "first") || strings.Contains(err.Error(), "second") {
		t.Errorf("got %v, want the first failure only", err)
	}
}

// FuzzDecoder reads any bytes as a program of reads: it never panics, never reads past the input,
// and an error, once there, stays.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 0xff, 0x80, 0x01})
	f.Add(binary.AppendUvarint([]byte{5}, math.MaxUint64))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(b, errTest)
		var sticky error
		for i := 0; i < 64 && d.Len() > 0; i++ {
			op := d.Byte()
			switch op % 7 {
			case 0:
				d.Uvarint()
			case 1:
				d.Varint()
			case 2:
				d.Float64()
			case 3:
				d.Prefixed()
			case 4:
				d.Count(int(op%5) + 1)
			case 5:
				d.Bytes(int(op % 9))
			case 6:
				d.Byte()
			}
			if d.Offset() < 0 || d.Offset() > len(b) {
				t.Fatalf("offset %d outside [0, %d]", d.Offset(), len(b))
			}
			if sticky != nil && d.Err() != sticky {
				t.Fatalf("error changed from %v to %v", sticky, d.Err())
			}
			sticky = d.Err()
			if sticky != nil && !errors.Is(sticky, errTest) {
				t.Fatalf("error %v does not wrap the sentinel", sticky)
			}
		}
	})
}
