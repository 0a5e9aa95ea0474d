package host

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
)

// interruptExport is the name of the exported global instrumentInterrupts adds.
const interruptExport = "hangar_interrupt"

// Errors of instrumentInterrupts. Each error it returns wraps one of them; the caller falls back to
// wazero's WithCloseOnContextDone for any of them.
var (
	// errInstrumentUnsupported means the module uses an instruction or an encoding that
	// instrumentInterrupts does not decode (exception handling, GC, typed function references,
	// relaxed SIMD, an unknown opcode). The module may still be valid.
	errInstrumentUnsupported = errors.New("host: not supported by interrupt instrumentation")
	// errInstrumentMalformed means the module does not follow the WebAssembly binary format.
	errInstrumentMalformed = errors.New("host: malformed WASM module")
	// errInstrumentExported means the module already exports a name instrumentInterrupts needs.
	errInstrumentExported = errors.New("host: module already exports " + interruptExport)
)

// Section ids of the WebAssembly binary format that instrumentInterrupts reads or writes.
const (
	wasmSecCustom = 0
	wasmSecImport = 2
	wasmSecMemory = 5
	wasmSecGlobal = 6
	wasmSecExport = 7
	wasmSecCode   = 10
	wasmSecMaxID  = 13 // the tag section
)

// wasmSecRank is the place of each section id in the order the binary format requires. Custom
// sections (rank 0) may appear anywhere.
var wasmSecRank = [wasmSecMaxID + 1]int8{
	1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13,
}

// interruptFuel is how many checks a guest passes between two exits to Go (see the check).
const interruptFuel = 1 << 16

// interruptFlagEntry is the interrupt flag's global: mutable i32, initialised by `i32.const 0`.
var interruptFlagEntry = []byte{0x7f, 0x01, 0x41, 0x00, 0x0b}

// interruptFuelEntry is the fuel's global: mutable i32, initialised to interruptFuel.
var interruptFuelEntry = append(append([]byte{0x7f, 0x01, 0x41}, wasmAppendSLEB(nil, interruptFuel)...), 0x0b)

// globalEntries returns the globals instrumentInterrupts appends: the flag, and the fuel when the
// module has a memory.
func (p *interruptPlan) globalEntries() []byte {
	if !p.memory {
		return interruptFlagEntry
	}
	return append(slices.Clip(interruptFlagEntry), interruptFuelEntry...)
}

// newGlobals is how many globals instrumentInterrupts appends.
func (p *interruptPlan) newGlobals() uint32 {
	if !p.memory {
		return 1
	}
	return 2
}

// wasmAppendSLEB appends v in signed LEB128.
func wasmAppendSLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// instrumentInterrupts returns a copy of a WASM binary module in which every function body begins,
// and every `loop` body begins, with `global.get $g; if (empty) unreachable end`, where $g is a new
// mutable i32 global initialised to 0 and exported as interruptExport.
//
// Setting that global to 1 (api.MutableGlobal.Set, from any goroutine) makes the guest trap with
// "unreachable" at its next loop iteration or function call: a cheap substitute for wazero's
// WithCloseOnContextDone, which exits to Go at every loop header. Custom sections named ".debug*"
// are dropped, since code offsets change; all other sections are kept in order.
//
// It decodes every instruction and fails, wrapping errInstrumentUnsupported, on one it does not
// know, naming the opcode and the function index; it fails, wrapping errInstrumentMalformed, on
// input that is not a well-formed binary module, and never panics. It checks only what it reads:
// the compiler validates the rest. It makes one decoding pass and one output allocation, of
// exactly the output's size. It is safe for concurrent use and does not modify wasm.
func instrumentInterrupts(wasm []byte) ([]byte, error) {
	p, err := planInterrupts(wasm)
	if err != nil {
		return nil, fmt.Errorf("instrument interrupts: %w", err)
	}
	out := p.write()
	if len(out) != p.size {
		return nil, fmt.Errorf("instrument interrupts: wrote %d bytes, planned %d", len(out), p.size)
	}
	return out, nil
}

// interruptPlan is what instrumentInterrupts learns about a module in its decoding pass: all it
// needs to write the copy.
type interruptPlan struct {
	// in is the input module; sections are its sections, in order.
	in       []byte
	sections []wasmSection
	// global, export and code are the indexes in sections of those sections, or -1 if the module
	// has none.
	global, export, code int
	// importedFuncs and importedGlobals count the imports of each kind.
	importedFuncs, importedGlobals uint32
	// memory says whether the module imports or defines a memory.
	memory bool
	// index is the new global's index.
	index uint32
	// check is the instruction sequence inserted at each function and loop entry.
	check []byte
	// checks are the offsets in `in` where a check goes, ascending.
	checks []int32
	// codeSize is the payload size of the rewritten code section.
	codeSize int
	// size is the output's size.
	size int
}

// wasmSection is one section of an input module.
type wasmSection struct {
	id byte
	// start, payload and end are the offsets of its id byte, of its payload, and after it.
	start, payload, end int
	// count and rest are, for the global, export and code sections, the entry count and the
	// offset after it.
	count uint32
	rest  int
	// drop says the section is left out of the output.
	drop bool
}

// planInterrupts reads a module's sections, in one pass, into a plan.
func planInterrupts(wasm []byte) (*interruptPlan, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, fmt.Errorf("%w: no WASM magic number", errInstrumentMalformed)
	}
	if !bytes.Equal(wasm[4:8], []byte{1, 0, 0, 0}) {
		return nil, fmt.Errorf("%w: binary format version %x", errInstrumentUnsupported, wasm[4:8])
	}
	if len(wasm) > math.MaxInt32 {
		return nil, fmt.Errorf("%w: module of %d bytes", errInstrumentUnsupported, len(wasm))
	}
	p := &interruptPlan{in: wasm, global: -1, export: -1, code: -1, sections: make([]wasmSection, 0, 16)}
	r := wasmReader{b: wasm, off: 8}
	var rank int8
	for r.off < len(wasm) {
		start := r.off
		s := wasmSection{start: start, id: r.byte()}
		size := r.u32()
		if r.err != nil || int(size) > len(wasm)-r.off {
			return nil, fmt.Errorf("%w: truncated section at offset %d", errInstrumentMalformed, s.start)
		}
		s.payload, s.end = r.off, r.off+int(size)
		r.off = s.end
		if s.id > wasmSecMaxID {
			return nil, fmt.Errorf("%w: unknown section id %d at offset %d", errInstrumentMalformed, s.id, s.start)
		}
		if s.id != wasmSecCustom {
			if wasmSecRank[s.id] <= rank {
				return nil, fmt.Errorf("%w: section %d out of order or repeated", errInstrumentMalformed, s.id)
			}
			rank = wasmSecRank[s.id]
		}
		if err := p.readSection(&s); err != nil {
			return nil, fmt.Errorf("section %d at offset %d: %w", s.id, s.start, err)
		}
		p.sections = append(p.sections, s)
	}
	if err := p.plan(); err != nil {
		return nil, err
	}
	return p, nil
}

// readSection reads what the plan needs from one section, and notes where the global, export
// and code sections are.
func (p *interruptPlan) readSection(s *wasmSection) error {
	switch s.id {
	case wasmSecCustom:
		r := wasmReader{b: p.in[:s.end], off: s.payload}
		name := r.rawName()
		if r.err != nil {
			return fmt.Errorf("%w: custom section name: %w", errInstrumentMalformed, r.err)
		}
		s.drop = bytes.HasPrefix(name, []byte(".debug"))
	case wasmSecImport:
		return p.readImports(s)
	case wasmSecMemory:
		if err := p.readCount(s); err != nil {
			return err
		}
		p.memory = p.memory || s.count > 0
	case wasmSecGlobal:
		p.global = len(p.sections)
		return p.readCount(s)
	case wasmSecExport:
		p.export = len(p.sections)
		return p.readExports(s)
	case wasmSecCode:
		p.code = len(p.sections)
		return p.scanCode(s)
	}
	return nil
}

// readCount reads the entry count that begins a section's payload.
func (p *interruptPlan) readCount(s *wasmSection) error {
	r := wasmReader{b: p.in[:s.end], off: s.payload}
	s.count = r.u32()
	if r.err != nil {
		return fmt.Errorf("%w: entry count: %w", errInstrumentMalformed, r.err)
	}
	s.rest = r.off
	return nil
}

// readImports counts the imported functions and globals.
func (p *interruptPlan) readImports(s *wasmSection) error {
	r := wasmReader{b: p.in[:s.end], off: s.payload}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.rawName()
		r.rawName()
		switch kind := r.byte(); kind {
		case 0: // function: type index
			r.u32()
			p.importedFuncs++
		case 1: // table: reference type, limits
			if err := wasmSimpleType(r.byte()); err != nil {
				return err
			}
			r.limits()
		case 2: // memory: limits
			r.limits()
			p.memory = true
		case 3: // global: value type, mutability
			if err := wasmSimpleType(r.byte()); err != nil {
				return err
			}
			r.byte()
			p.importedGlobals++
		case 4: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			if r.err == nil {
				r.err = fmt.Errorf("import kind %d", kind)
			}
		}
	}
	if r.err == nil && r.off != s.end {
		r.err = errors.New("bytes after the last import")
	}
	if r.err != nil {
		return fmt.Errorf("%w: imports: %w", errInstrumentMalformed, r.err)
	}
	return nil
}

// readExports checks that the module does not export interruptExport already.
func (p *interruptPlan) readExports(s *wasmSection) error {
	if err := p.readCount(s); err != nil {
		return err
	}
	r := wasmReader{b: p.in[:s.end], off: s.rest}
	for n := s.count; n > 0 && r.err == nil; n-- {
		name := r.rawName()
		r.byte()
		r.u32()
		if r.err == nil && string(name) == interruptExport {
			return errInstrumentExported
		}
	}
	if r.err == nil && r.off != s.end {
		r.err = errors.New("bytes after the last export")
	}
	if r.err != nil {
		return fmt.Errorf("%w: exports: %w", errInstrumentMalformed, r.err)
	}
	return nil
}

// wasmSimpleType refuses the value and reference types of the GC proposal, the only ones encoded
// in more than one byte.
func wasmSimpleType(t byte) error {
	if t == 0x63 || t == 0x64 {
		return fmt.Errorf("%w: reference type 0x%02x", errInstrumentUnsupported, t)
	}
	return nil
}

// newGlobalIndex returns the index of the global instrumentInterrupts adds, and sets the check
// that reads it.
func (p *interruptPlan) newGlobalIndex() error {
	n := uint64(p.importedGlobals)
	if p.global >= 0 {
		n += uint64(p.sections[p.global].count)
	}
	if n >= math.MaxUint32 {
		return fmt.Errorf("%w: %d globals", errInstrumentUnsupported, n)
	}
	p.index = uint32(n)
	if p.memory {
		p.check = interruptCheck(p.index, p.index+1)
	} else {
		// A module without memory cannot exit to Go through memory.grow: it only tests the
		// flag (global.get $flag; if unreachable end). It can do nothing useful as a plugin
		// (its input and output go through memory) but it is still stopped.
		p.check = append(wasmAppendLEB([]byte{0x23}, p.index), 0x04, 0x40, 0x00, 0x0b)
	}
	return nil
}

// interruptCheck is the sequence inserted at each function and loop entry, given the flag's and
// the fuel's global indices:
//
//	global.get $fuel; i32.const 1; i32.sub; global.set $fuel    ;; the hot path: count down
//	global.get $fuel; i32.eqz
//	if
//	  global.get $flag; if unreachable end                       ;; interrupted: trap
//	  i32.const 0; memory.grow 0; drop                           ;; exit to Go
//	  i32.const interruptFuel; global.set $fuel
//	end
//
// Compiled code cannot be preempted by the Go scheduler, and a stop-the-world (a garbage
// collection) waits for every goroutine: a guest that never left its compiled code would hold
// the whole process, the timer that sets the flag included. memory.grow is carried out by
// wazero's Go code, so every interruptFuel checks the guest passes a point where its goroutine
// can be stopped, and reads the flag. The hot path is a decrement and a branch.
func interruptCheck(flag, fuel uint32) []byte {
	c := wasmAppendLEB([]byte{0x23}, fuel)
	c = append(c, 0x41, 0x01, 0x6b, 0x24) // i32.const 1; i32.sub; global.set
	c = wasmAppendLEB(c, fuel)
	c = wasmAppendLEB(append(c, 0x23), fuel)
	c = append(c, 0x45, 0x04, 0x40, 0x23) // i32.eqz; if; global.get
	c = wasmAppendLEB(c, flag)
	c = append(c, 0x04, 0x40, 0x00, 0x0b)       // if unreachable end
	c = append(c, 0x41, 0x00, 0x40, 0x00, 0x1a) // i32.const 0; memory.grow 0; drop
	c = wasmAppendSLEB(append(c, 0x41), interruptFuel)
	c = wasmAppendLEB(append(c, 0x24), fuel)
	return append(c, 0x0b)
}

// scanCode finds where checks go in every function body of the code section, and sizes the
// rewritten section.
func (p *interruptPlan) scanCode(s *wasmSection) error {
	if err := p.readCount(s); err != nil {
		return err
	}
	// The import and global sections come before the code section: the index is final.
	if err := p.newGlobalIndex(); err != nil {
		return err
	}
	if p.checks == nil {
		// Go-built modules have about one loop per 2 KB of code.
		p.checks = make([]int32, 0, int(s.count)+(s.end-s.rest)/1024)
	}
	p.codeSize = wasmLEBLen(s.count)
	i := s.rest
	for n := uint32(0); n < s.count; n++ {
		fn := p.importedFuncs + n
		size, j := wasmLEB32(p.in[:s.end], i)
		if j < 0 || int(size) > s.end-j {
			return fmt.Errorf("%w: function %d: truncated body", errInstrumentMalformed, fn)
		}
		end := j + int(size)
		before := len(p.checks)
		if err := p.scanBody(fn, p.in[:end], j); err != nil {
			return err
		}
		newSize := uint64(size) + uint64(len(p.checks)-before)*uint64(len(p.check))
		if newSize > math.MaxUint32 {
			return fmt.Errorf("%w: function %d: instrumented body of %d bytes", errInstrumentUnsupported, fn, newSize)
		}
		p.codeSize += wasmLEBLen(uint32(newSize)) + int(newSize)
		i = end
	}
	if i != s.end {
		return fmt.Errorf("%w: bytes after the last function body", errInstrumentMalformed)
	}
	if p.codeSize > math.MaxUint32 {
		return fmt.Errorf("%w: instrumented code section of %d bytes", errInstrumentUnsupported, p.codeSize)
	}
	return nil
}

// scanBody decodes the function body b[i:] (function index fn) and appends to p.checks the offset
// after its local declarations and the offset after each `loop` block type.
func (p *interruptPlan) scanBody(fn uint32, b []byte, i int) error {
	n, i := wasmLEB32(b, i)
	for ; n > 0 && i >= 0; n-- {
		_, i = wasmLEB32(b, i)
		if i < 0 || i >= len(b) {
			i = -1
			break
		}
		if err := wasmSimpleType(b[i]); err != nil {
			return fmt.Errorf("function %d: local: %w", fn, err)
		}
		i++
	}
	if i < 0 {
		return fmt.Errorf("%w: function %d: truncated local declarations", errInstrumentMalformed, fn)
	}
	checks := append(p.checks, int32(i))
	ops := &wasmOps.main
	last := -1
	for i < len(b) {
		last = i
		op := b[i]
		i++
		switch ops[op] {
		case immNone:
		case immIdx:
			if i < len(b) && b[i] < 0x80 {
				i++
			} else {
				i = wasmSkipLEB(b, i)
			}
		case immIdx2:
			i = wasmSkipLEB(b, wasmSkipLEB(b, i))
		case immMemarg:
			if i+1 < len(b) && b[i] < 0x40 && b[i+1] < 0x80 {
				i += 2 // alignment without a memory index, offset, one byte each
			} else {
				i = wasmSkipMemarg(b, i)
			}
		case immLoop:
			i = wasmSkipBlockType(b, i)
			if i >= 0 {
				checks = append(checks, int32(i))
			}
		case immBlock:
			i = wasmSkipBlockType(b, i)
		case immBrTable:
			i = wasmSkipBrTable(b, i)
		case immBytes4:
			i += 4
		case immBytes8:
			i += 8
		case immSelectT:
			i = wasmSkipSelectTypes(b, i)
		case immPrefixFC, immPrefixFD, immPrefixFE:
			i = wasmSkipPrefixed(op, b, i)
		default:
			return fmt.Errorf("function %d: opcode 0x%02x at offset %d: %w", fn, op, last, errInstrumentUnsupported)
		}
		if i < 0 || i > len(b) {
			return p.bodyError(fn, b, last, i)
		}
	}
	if last < 0 || b[last] != 0x0b {
		return fmt.Errorf("%w: function %d: body does not end with `end`", errInstrumentMalformed, fn)
	}
	p.checks = checks
	return nil
}

// bodyError explains why the instruction at b[at:] could not be decoded: i is what decoding it
// returned.
func (p *interruptPlan) bodyError(fn uint32, b []byte, at, i int) error {
	if i == wasmUnsupported {
		op := fmt.Sprintf("0x%02x", b[at])
		if sub, j := wasmLEB32(b, at+1); j >= 0 && wasmOps.main[b[at]] >= immPrefixFC {
			op += fmt.Sprintf(" 0x%02x", sub)
		}
		return fmt.Errorf("function %d: opcode %s at offset %d: %w", fn, op, at, errInstrumentUnsupported)
	}
	return fmt.Errorf("%w: function %d: truncated instruction 0x%02x at offset %d", errInstrumentMalformed, fn, b[at], at)
}

// plan sizes the output, once every section is read.
func (p *interruptPlan) plan() error {
	if p.check == nil { // no code section
		if err := p.newGlobalIndex(); err != nil {
			return err
		}
	}
	p.size = 8
	for i := range p.sections {
		s := &p.sections[i]
		switch {
		case s.drop:
		case i == p.global || i == p.export || i == p.code:
			p.size += wasmSectionLen(p.payloadLen(i))
		default:
			p.size += s.end - s.start
		}
	}
	if p.global < 0 {
		p.size += wasmSectionLen(p.payloadLen(-1))
	}
	if p.export < 0 {
		p.size += wasmSectionLen(p.payloadLen(-2))
	}
	return nil
}

// payloadLen returns the rewritten payload size of section i, which is p.global, p.export or
// p.code, or -1 for a new global section, -2 for a new export section.
func (p *interruptPlan) payloadLen(i int) int {
	switch {
	case i == -1:
		return 1 + len(p.globalEntries())
	case i == -2:
		return 1 + p.exportEntryLen()
	case i == p.code:
		return p.codeSize
	}
	s := &p.sections[i]
	if i == p.global {
		return wasmLEBLen(s.count+p.newGlobals()) + s.end - s.rest + len(p.globalEntries())
	}
	return wasmLEBLen(s.count+1) + s.end - s.rest + p.exportEntryLen()
}

// exportEntryLen is the size of the export entry of the new global.
func (p *interruptPlan) exportEntryLen() int {
	return 1 + len(interruptExport) + 1 + wasmLEBLen(p.index)
}

// write writes the instrumented module.
func (p *interruptPlan) write() []byte {
	out := make([]byte, 0, p.size)
	out = append(out, p.in[:8]...)
	globalDone, exportDone := p.global >= 0, p.export >= 0
	for i := range p.sections {
		s := &p.sections[i]
		if s.drop {
			continue
		}
		if r := wasmSecRank[s.id]; r != 0 {
			if !globalDone && r > wasmSecRank[wasmSecGlobal] {
				out, globalDone = p.appendNewGlobals(out), true
			}
			if !exportDone && r > wasmSecRank[wasmSecExport] {
				out, exportDone = p.appendNewExports(out), true
			}
		}
		switch i {
		case p.global:
			out = p.appendGlobals(out, s)
		case p.export:
			out = p.appendExports(out, s)
		case p.code:
			out = p.appendCode(out, s)
		default:
			out = append(out, p.in[s.start:s.end]...)
		}
	}
	if !globalDone {
		out = p.appendNewGlobals(out)
	}
	if !exportDone {
		out = p.appendNewExports(out)
	}
	return out
}

// appendNewGlobals appends a global section holding only the new global.
func (p *interruptPlan) appendNewGlobals(out []byte) []byte {
	out = append(out, wasmSecGlobal)
	out = wasmAppendLEB(out, uint32(p.payloadLen(-1)))
	out = append(out, byte(p.newGlobals()))
	return append(out, p.globalEntries()...)
}

// appendNewExports appends an export section holding only the new global's export.
func (p *interruptPlan) appendNewExports(out []byte) []byte {
	out = append(out, wasmSecExport)
	out = wasmAppendLEB(out, uint32(p.payloadLen(-2)))
	out = append(out, 1)
	return p.appendExportEntry(out)
}

// appendGlobals appends the global section s with the new global last.
func (p *interruptPlan) appendGlobals(out []byte, s *wasmSection) []byte {
	out = append(out, wasmSecGlobal)
	out = wasmAppendLEB(out, uint32(p.payloadLen(p.global)))
	out = wasmAppendLEB(out, s.count+p.newGlobals())
	out = append(out, p.in[s.rest:s.end]...)
	return append(out, p.globalEntries()...)
}

// appendExports appends the export section s with the new global's export last.
func (p *interruptPlan) appendExports(out []byte, s *wasmSection) []byte {
	out = append(out, wasmSecExport)
	out = wasmAppendLEB(out, uint32(p.payloadLen(p.export)))
	out = wasmAppendLEB(out, s.count+1)
	out = append(out, p.in[s.rest:s.end]...)
	return p.appendExportEntry(out)
}

// appendExportEntry appends the export of the new global.
func (p *interruptPlan) appendExportEntry(out []byte) []byte {
	out = wasmAppendLEB(out, uint32(len(interruptExport)))
	out = append(out, interruptExport...)
	out = append(out, 3) // global
	return wasmAppendLEB(out, p.index)
}

// appendCode appends the code section s with a check at each offset in p.checks.
func (p *interruptPlan) appendCode(out []byte, s *wasmSection) []byte {
	out = append(out, wasmSecCode)
	out = wasmAppendLEB(out, uint32(p.codeSize))
	out = wasmAppendLEB(out, s.count)
	checks := p.checks
	i := s.rest
	for n := s.count; n > 0; n-- {
		size, j := wasmLEB32(p.in, i) // read before: cannot fail
		end := j + int(size)
		k := 0
		for k < len(checks) && int(checks[k]) < end {
			k++
		}
		out = wasmAppendLEB(out, size+uint32(k*len(p.check)))
		for _, at := range checks[:k] {
			out = append(out, p.in[j:at]...)
			out = append(out, p.check...)
			j = int(at)
		}
		out = append(out, p.in[j:end]...)
		checks = checks[k:]
		i = end
	}
	return out
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

// wasmUnsupported is returned by the wasmSkip functions for an instruction instrumentInterrupts
// does not decode; they return -1 for a truncated one.
const wasmUnsupported = -2

// wasmLEB32 reads an unsigned LEB128 number of at most 32 bits at b[i:], and returns it and the
// offset after it, or -1 if it is truncated or too long. A negative i is passed through.
func wasmLEB32(b []byte, i int) (uint32, int) {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		if uint(i) >= uint(len(b)) {
			return 0, -1
		}
		c := b[i]
		i++
		v |= uint32(c&0x7f) << shift
		if c < 0x80 {
			if shift == 28 && c > 0x0f {
				return 0, -1
			}
			return v, i
		}
	}
	return 0, -1
}

// wasmSkipLEB returns the offset after the LEB128 number (of at most 64 bits, signed or not) at
// b[i:], or -1 if it is truncated. A negative i is passed through.
func wasmSkipLEB(b []byte, i int) int {
	if uint(i) < uint(len(b)) && b[i] < 0x80 {
		return i + 1
	}
	for n := 0; n < 10; n++ {
		if uint(i) >= uint(len(b)) {
			return -1
		}
		c := b[i]
		i++
		if c < 0x80 {
			return i
		}
	}
	return -1
}

// wasmSkipBlockType skips a block type: empty (0x40), a value type, or a type index (s33).
func wasmSkipBlockType(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	if wasmSimpleType(b[i]) != nil {
		return wasmUnsupported
	}
	return wasmSkipLEB(b, i)
}

// wasmSkipMemarg skips a memory argument: alignment (bit 6 set: a memory index follows), offset.
func wasmSkipMemarg(b []byte, i int) int {
	align, i := wasmLEB32(b, i)
	if align&0x40 != 0 {
		i = wasmSkipLEB(b, i)
	}
	return wasmSkipLEB(b, i)
}

// wasmSkipBrTable skips br_table's immediates: a vector of labels, then the default label.
func wasmSkipBrTable(b []byte, i int) int {
	n, i := wasmLEB32(b, i)
	for ; n > 0 && i >= 0; n-- {
		i = wasmSkipLEB(b, i)
	}
	return wasmSkipLEB(b, i)
}

// wasmSkipSelectTypes skips the value types of a typed select.
func wasmSkipSelectTypes(b []byte, i int) int {
	n, i := wasmLEB32(b, i)
	if i < 0 || uint64(n) > uint64(len(b)-i) {
		return -1
	}
	for _, t := range b[i : i+int(n)] {
		if wasmSimpleType(t) != nil {
			return wasmUnsupported
		}
	}
	return i + int(n)
}

// wasmSkipPrefixed skips the sub-opcode and immediates of an instruction of prefix op (0xFC,
// 0xFD or 0xFE), whose sub-opcode starts at b[i].
func wasmSkipPrefixed(op byte, b []byte, i int) int {
	sub, i := wasmLEB32(b, i)
	if i < 0 {
		return -1
	}
	if sub > 0xff {
		return wasmUnsupported
	}
	var kind uint8
	switch op {
	case 0xfc:
		kind = wasmOps.fc[sub]
	case 0xfd:
		kind = wasmOps.fd[sub]
	default:
		kind = wasmOps.fe[sub]
	}
	switch kind {
	case immNone:
		return i
	case immIdx:
		return wasmSkipLEB(b, i)
	case immIdx2:
		return wasmSkipLEB(b, wasmSkipLEB(b, i))
	case immMemarg:
		return wasmSkipMemarg(b, i)
	case immMemargLane:
		if i = wasmSkipMemarg(b, i); i < 0 {
			return i
		}
		return i + 1
	case immLane, immFence:
		return i + 1
	case immBytes16:
		return i + 16
	}
	return wasmUnsupported
}

// Immediate kinds: what follows an opcode, as far as finding the next instruction needs.
const (
	immBad        uint8 = iota // unknown or not supported
	immNone                    // nothing
	immIdx                     // one LEB128 number (index, label, signed constant, heap type)
	immIdx2                    // two LEB128 numbers
	immMemarg                  // a memory argument
	immMemargLane              // a memory argument and a lane index
	immLoop                    // a block type, after which a check goes
	immBlock                   // a block type
	immBrTable                 // a vector of labels and a label
	immSelectT                 // a vector of value types
	immLane                    // a lane index byte
	immFence                   // atomic.fence's reserved byte
	immBytes4                  // 4 bytes (f32.const)
	immBytes8                  // 8 bytes (f64.const)
	immBytes16                 // 16 bytes (v128.const, i8x16.shuffle)
	immPrefixFC                // the 0xFC prefix: sub-opcode in wasmOps.fc
	immPrefixFD                // the 0xFD prefix (SIMD): sub-opcode in wasmOps.fd
	immPrefixFE                // the 0xFE prefix (threads): sub-opcode in wasmOps.fe
)

// wasmOpTables gives the immediate kind of every opcode, and of every sub-opcode of each prefix.
type wasmOpTables struct {
	main, fc, fd, fe [256]uint8
}

// wasmOps are the opcodes instrumentInterrupts decodes: the core specification 2.0, tail calls,
// multiple memories, threads and SIMD (not relaxed SIMD). Exception handling (0x06-0x0A,
// 0x18-0x19), typed function references (0x14-0x15, 0xD3-0xD6) and GC (0xFB) are left out.
var wasmOps = newWasmOpTables()

// newWasmOpTables builds wasmOps.
func newWasmOpTables() *wasmOpTables {
	t := &wasmOpTables{}
	set := func(tab *[256]uint8, kind uint8, from, to int) {
		for op := from; op <= to; op++ {
			tab[op] = kind
		}
	}
	m := &t.main
	for _, op := range []int{0x00, 0x01, 0x05, 0x0b, 0x0f, 0x1a, 0x1b, 0xd1} {
		m[op] = immNone
	}
	m[0x02], m[0x03], m[0x04] = immBlock, immLoop, immBlock
	for _, op := range []int{0x0c, 0x0d, 0x10, 0x12, 0x3f, 0x40, 0x41, 0x42, 0xd0, 0xd2} {
		m[op] = immIdx // br, br_if, call, return_call, memory.size/grow, i32/i64.const, ref.null/func
	}
	set(m, immIdx, 0x20, 0x26) // local.get/set/tee, global.get/set, table.get/set
	m[0x0e] = immBrTable
	m[0x11], m[0x13] = immIdx2, immIdx2 // call_indirect, return_call_indirect: type, table
	m[0x1c] = immSelectT
	set(m, immMemarg, 0x28, 0x3e)
	m[0x43], m[0x44] = immBytes4, immBytes8
	set(m, immNone, 0x45, 0xc4)
	m[0xfc], m[0xfd], m[0xfe] = immPrefixFC, immPrefixFD, immPrefixFE

	set(&t.fc, immNone, 0, 7) // saturating truncations
	for op, kind := range []uint8{
		8:  immIdx2, // memory.init: data, memory
		9:  immIdx,  // data.drop
		10: immIdx2, // memory.copy: memory, memory
		11: immIdx,  // memory.fill
		12: immIdx2, // table.init: element, table
		13: immIdx,  // elem.drop
		14: immIdx2, // table.copy: table, table
		15: immIdx,  // table.grow
		16: immIdx,  // table.size
		17: immIdx,  // table.fill
	} {
		if op >= 8 {
			t.fc[op] = kind
		}
	}

	d := &t.fd
	set(d, immNone, 0x0e, 0xff)
	for _, op := range []int{ // unassigned SIMD opcodes
		0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb, 0xc2, 0xc5, 0xc6, 0xcf, 0xd0,
		0xd2, 0xd3, 0xd4, 0xe2, 0xee,
	} {
		d[op] = immBad
	}
	set(d, immMemarg, 0x00, 0x0b) // loads, load_splat, store
	d[0x0c], d[0x0d] = immBytes16, immBytes16
	set(d, immLane, 0x15, 0x22)       // extract_lane, replace_lane
	set(d, immMemargLane, 0x54, 0x5b) // load_lane, store_lane
	d[0x5c], d[0x5d] = immMemarg, immMemarg

	set(&t.fe, immMemarg, 0x00, 0x02) // memory.atomic.notify, wait32, wait64
	t.fe[0x03] = immFence
	set(&t.fe, immMemarg, 0x10, 0x4e)
	return t
}

// wasmLEBLen returns the size of v's shortest LEB128 encoding.
func wasmLEBLen(v uint32) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// wasmAppendLEB appends v's shortest LEB128 encoding.
func wasmAppendLEB(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// wasmSectionLen returns the size of a section whose payload is n bytes.
func wasmSectionLen(n int) int { return 1 + wasmLEBLen(uint32(n)) + n }
