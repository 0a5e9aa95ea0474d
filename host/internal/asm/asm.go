// Package asm assembles WebAssembly modules byte by byte, in the binary format, for tests: the
// hand-written modules that exercise the interrupt rewrite and the host's refusals, down to single
// instructions and malformed encodings that no compiler would emit. It checks nothing.
package asm

import (
	"bytes"
	"encoding/binary"
)

// Module returns a module of the given sections, after the magic number and version 1.
func Module(sections ...[]byte) []byte {
	return Cat(append([][]byte{[]byte("\x00asm\x01\x00\x00\x00")}, sections...)...)
}

// Section returns a section: its id, its size, its payload.
func Section(id byte, payload ...[]byte) []byte {
	p := Cat(payload...)
	return Cat([]byte{id}, ULEB(uint64(len(p))), p)
}

// Vec returns a vector: its length, its items.
func Vec(items ...[]byte) []byte {
	return Cat(append([][]byte{ULEB(uint64(len(items)))}, items...)...)
}

// Name returns a name: its length, its bytes.
func Name(s string) []byte { return Cat(ULEB(uint64(len(s))), []byte(s)) }

// Export returns an export entry: its name, its kind (0 function, 1 table, 2 memory, 3 global)
// and index.
func Export(name string, kind byte, index uint64) []byte {
	return Cat(Name(name), []byte{kind}, ULEB(index))
}

// Body returns a function body with its size: local declarations (a vector), then code.
func Body(locals []byte, code ...[]byte) []byte {
	b := Cat(append([][]byte{locals}, code...)...)
	return Cat(ULEB(uint64(len(b))), b)
}

// Custom returns a custom section of a name and data.
func Custom(name string, data []byte) []byte { return Section(0, Name(name), data) }

// ULEB returns v in unsigned LEB128.
func ULEB(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// PadULEB returns v in unsigned LEB128 padded to n bytes (continuation bits set on the padding),
// or in its shortest encoding if that is longer.
func PadULEB(v uint64, n int) []byte {
	var b []byte
	for i := 1; i < n || v >= 0x80; i++ {
		b = append(b, byte(v&0x7f)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// SLEB returns v in signed LEB128.
func SLEB(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// Cat concatenates byte slices.
func Cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// I32 returns i32.const v; I64 returns i64.const v.
func I32(v int64) []byte { return Cat([]byte{0x41}, SLEB(v)) }

// I64 returns i64.const v.
func I64(v int64) []byte { return Cat([]byte{0x42}, SLEB(v)) }
