package wasmrewrite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Import is one import of a module: the module it is imported from, and its name there.
type Import struct{ Module, Name string }

// Imports returns the imports of a WASM binary module, in order, read from its import section.
// It checks only what it reads (the compiler validates the rest), and fails on a module it cannot
// read that far. It is safe for concurrent use and does not modify wasm.
func Imports(wasm []byte) ([]Import, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, errors.New("not a WASM module")
	}
	r := wasmReader{b: wasm, off: 8}
	for r.err == nil && r.off < len(r.b) {
		id := r.byte()
		size := int(r.u32())
		if r.err != nil || size > len(r.b)-r.off {
			return nil, errors.New("truncated WASM section")
		}
		if id != 2 { // not the import section
			r.off += size
			continue
		}
		sec := wasmReader{b: r.b[:r.off+size], off: r.off}
		var out []Import
		for n := sec.u32(); n > 0 && sec.err == nil; n-- {
			im := Import{Module: sec.name(), Name: sec.name()}
			switch kind := sec.byte(); kind {
			case 0: // function: type index
				sec.u32()
			case 1: // table: reference type, limits
				sec.byte()
				sec.limits()
			case 2: // memory: limits
				sec.limits()
			case 3: // global: value type, mutability
				sec.byte()
				sec.byte()
			default:
				sec.err = fmt.Errorf("import kind %d", kind)
			}
			out = append(out, im)
		}
		if sec.err != nil {
			return nil, fmt.Errorf("read WASM imports: %w", sec.err)
		}
		return out, nil
	}
	return nil, r.err
}

// wasmReader reads a WASM binary from off; the first error it meets stops it and stays in err.
type wasmReader struct {
	b   []byte
	off int
	err error
}

func (r *wasmReader) byte() byte {
	if r.err != nil || r.off >= len(r.b) {
		r.err = errors.New("truncated")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *wasmReader) u32() uint32 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 || v > 1<<32-1 {
		r.err = errors.New("bad LEB128")
		return 0
	}
	r.off += n
	return uint32(v)
}

func (r *wasmReader) name() string {
	n := int(r.u32())
	if r.err != nil || n > len(r.b)-r.off {
		r.err = errors.New("truncated name")
		return ""
	}
	s := string(r.b[r.off : r.off+n])
	r.off += n
	return s
}

func (r *wasmReader) limits() { r.limitsMin() }

// limitsMin reads limits and returns their minimum.
func (r *wasmReader) limitsMin() uint32 {
	flags := r.byte()
	min := r.u32()
	if flags&1 != 0 {
		r.u32()
	}
	return min
}

// rawName reads a name (a byte vector) without copying it.
func (r *wasmReader) rawName() []byte {
	n := int(r.u32())
	if r.err != nil || n > len(r.b)-r.off {
		if r.err == nil {
			r.err = errors.New("truncated name")
		}
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}
