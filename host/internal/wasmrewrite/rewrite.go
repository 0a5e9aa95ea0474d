package wasmrewrite

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sort"
)

// Names Instrument adds.
const (
	// YieldModule and YieldName name the function every instrumented module imports, and calls
	// when its fuel is spent (see appendCheck). Whoever runs the module provides it: it must end
	// the call (a panic, a trap) once the call's context is done or its deadline has passed, and
	// return otherwise. The host's is a Go function, where the guest's goroutine can be stopped.
	YieldModule = "hangar"
	YieldName   = "yield"
	// StartExport exports the function of the module's start section, which Instrument removes:
	// whoever runs the module calls it under a deadline once an instance exists, instead of
	// wazero running it, unstoppable, during instantiation.
	StartExport = "hangar_start"
)

// Errors of Instrument. Each error it returns wraps one of them: ErrUnsupported (the host falls
// back to wazero's WithCloseOnContextDone), ErrInvalid, or, unexported since the host refuses the
// module alike, errMalformed and errExported.
var (
	// ErrUnsupported means the module uses an instruction or an encoding that Instrument does not
	// decode (exception handling, GC, typed function references, relaxed SIMD, an unknown
	// opcode). The module may still be valid.
	ErrUnsupported = errors.New("wasmrewrite: not supported by interrupt instrumentation")
	// errMalformed means the module does not follow the WebAssembly binary format.
	errMalformed = errors.New("wasmrewrite: malformed WASM module")
	// ErrInvalid means the module decodes but is not valid, or not valid as a plugin: it names a
	// global it does not have (the fuel, once added), or it has no memory, or its tables could
	// hold more than a plugin may. Only the instrumented copy is compiled, so these are checked
	// on the original.
	ErrInvalid = errors.New("wasmrewrite: invalid WASM module")
	// errExported means the module already exports a name Instrument needs (StartExport).
	errExported = errors.New("wasmrewrite: module already exports a name the host reserves")
)

// Section ids of the WebAssembly binary format that Instrument reads or writes.
const (
	wasmSecCustom   = 0
	wasmSecType     = 1
	wasmSecImport   = 2
	wasmSecFunction = 3
	wasmSecTable    = 4
	wasmSecMemory   = 5
	wasmSecGlobal   = 6
	wasmSecExport   = 7
	wasmSecStart    = 8
	wasmSecElement  = 9
	wasmSecCode     = 10
	wasmSecData     = 11
	wasmSecMaxID    = 13 // the tag section
)

// wasmSecRank is the place of each section id in the order the binary format requires. Custom
// sections (rank 0) may appear anywhere.
var wasmSecRank = [wasmSecMaxID + 1]int8{
	1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13,
}

// The fuel. A guest's fuel is a budget of work between two calls to yield (see appendCheck):
// each check charges the byte size of the code it guards, each bulk memory or table instruction
// the bytes or entries it moves, and when the budget is spent the guest calls the runner's yield,
// which ends the call if its context is done or its deadline has passed, and where its goroutine
// can be stopped.
const (
	// interruptFuel is the budget: code bytes, or interruptBulkShift-scaled bytes moved.
	interruptFuel = 1 << 22
	// interruptBulkShift scales a bulk memory instruction's length to fuel: one unit per 8 bytes.
	interruptBulkShift = 3
)

// interruptGlobalEntries are the globals Instrument appends, in this order after the
// module's own: the fuel (mutable i64, interruptFuel) and a scratch i32 that holds a bulk
// instruction's length while it runs.
var interruptGlobalEntries = bytes.Join([][]byte{
	append(wasmAppendSLEB([]byte{0x7e, 0x01, 0x42}, interruptFuel), 0x0b),
	{0x7f, 0x01, 0x41, 0x00, 0x0b},
}, nil)

// interruptGlobals is how many globals Instrument appends.
const interruptGlobals = 2

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

// Instrument returns a copy of a WASM binary module that never holds its goroutine in compiled
// code for long, and whose calls end soon after their deadline. It does so with fuel, a budget of
// work the guest spends and refills itself:
//
//   - The module imports one more function, YieldModule.YieldName: the runner's yield, which
//     ends the call if its context is done or its deadline has passed. Function indices are
//     renumbered around it.
//   - Two globals are appended: the fuel (an i64 that starts at interruptFuel, 4 Mi units) and a
//     scratch slot. The module cannot name them: a module that refers to a global it does not
//     define or import (which, once they are added, would be one of them) is refused.
//   - Every function body and every loop body begins with a check (appendCheck) that charges the
//     fuel the byte size of the code it guards (a loop's body; a function's body, unless the
//     function begins with a loop, whose check then charges the whole body) and, when the fuel
//     is spent (zero or less), calls yield and refills it. So the work between two yields is
//     bounded by code size, whatever the code does.
//   - A bulk memory instruction (memory.copy, memory.fill, memory.init) of up to bulkChunk
//     bytes runs as it is and is charged one unit per 8 bytes it moved; a longer one runs
//     through a helper function added to the module, bulkChunk bytes at a time, charging the
//     fuel and yielding between chunks (bulk.go). A table bulk instruction (table.copy,
//     table.fill, table.init) is charged its length once it has run, and table.grow fails past
//     maxTableEntries.
//   - A start section is removed and its function exported as StartExport, for the runner to
//     call under a deadline.
//
// Custom sections named ".debug*" and "name" are dropped, since code offsets and function
// indices change; all other sections are kept in order.
//
// It refuses, wrapping ErrInvalid, a module without a memory (a plugin's input and output go
// through it), one that names a global it does not have, and one with more than maxTables tables
// or maxTableEntries initial entries. It decodes every instruction and fails, wrapping
// ErrUnsupported, on one it does not know, naming the opcode and the function index; it fails,
// wrapping errMalformed, on input that is not a well-formed binary module, and never panics.
// Beyond that it checks only what it reads: the compiler validates the rest. It makes one
// decoding pass and one output allocation, of exactly the output's size. It is safe for
// concurrent use and does not modify wasm.
func Instrument(wasm []byte) ([]byte, error) {
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

// interruptPlan is what Instrument learns about a module in its decoding pass: all it
// needs to write the copy.
type interruptPlan struct {
	// in is the input module; sections are its sections, in order.
	in       []byte
	sections []wasmSection
	// typ, imp, fn, global, export and code are the indexes in sections of those sections, or -1
	// if the module has none.
	typ, imp, fn, global, export, code int
	// importedFuncs and importedGlobals count the imports of each kind. The yield import's
	// function index is importedFuncs: every function index from it on moves up by one.
	importedFuncs, importedGlobals uint32
	// types counts the module's function types; yieldType is the index of a type [] -> [] and
	// bulkType of a type [i32 i32 i32] -> [], or noType until found (they are then appended).
	types, yieldType, bulkType uint32
	// definedFuncs counts the functions the module defines; helpers are the functions
	// Instrument adds after them, one per kind of bulk memory instruction the module
	// uses (bulk.go), and helperBodies their bodies, made by plan.
	definedFuncs uint32
	helpers      []bulkHelper
	helperBodies [][]byte
	// tables and tableEntries count the module's tables and their initial entries.
	tables, tableEntries uint64
	// memory says whether the module imports or defines a memory.
	memory bool
	// start is the start function, if hasStart.
	start    uint32
	hasStart bool
	// index is the fuel global's index, the scratch's is index+1. It is known once the global
	// section (or, without one, the import section) is read.
	index      uint32
	indexKnown bool
	// edits are the changes to the input, by offset, ascending; at one offset, in the order they
	// apply.
	edits []edit
	// codeSize is the payload size of the rewritten code section.
	codeSize int
	// size is the output's size.
	size int
}

// edit is a change to the input: bytes inserted at an offset, or a function index rewritten.
type edit struct {
	// at is the offset of the change in the input; end, for editFunc, the end of the index's
	// encoding, which the new index replaces.
	at, end int32
	kind    editKind
	// v is, for a check, the fuel it charges; for a function index, the index in the input; for
	// a bulk call, the helper; for a table.grow, the table.
	v uint32
}

// editKind is what an edit is.
type editKind uint8

const (
	// editCheck inserts the check that begins a function or loop body (appendCheck).
	editCheck editKind = iota
	// editBulkLen inserts, before a bulk instruction, a copy of its length (the i32 on top of
	// the stack) to the scratch global.
	editBulkLen
	// editBulkCharge inserts, after it, the charge of the scratch length.
	editBulkCharge
	// editFunc rewrites a function index of the input at least as large as importedFuncs to one
	// more, in as many bytes as it had when that suffices (toolchains pad indices they patch).
	editFunc
	// editBulkCall wraps a bulk memory instruction: it runs as it is up to bulkChunk bytes, and
	// through helper v beyond (bulk.go).
	editBulkCall
	// editTableGrow inserts, before a table.grow of table v, what makes it fail past
	// maxTableEntries (bulk.go).
	editTableGrow
)

// wasmSection is one section of an input module.
type wasmSection struct {
	id byte
	// start, payload and end are the offsets of its id byte, of its payload, and after it.
	start, payload, end int
	// count and rest are, for the vector sections read, the entry count and the offset after it.
	count uint32
	rest  int
	// drop says the section is left out of the output.
	drop bool
}

// planInterrupts reads a module's sections, in one pass, into a plan.
func planInterrupts(wasm []byte) (*interruptPlan, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, fmt.Errorf("%w: no WASM magic number", errMalformed)
	}
	if !bytes.Equal(wasm[4:8], []byte{1, 0, 0, 0}) {
		return nil, fmt.Errorf("%w: binary format version %x", ErrUnsupported, wasm[4:8])
	}
	if len(wasm) > math.MaxInt32/2 {
		return nil, fmt.Errorf("%w: module of %d bytes", ErrUnsupported, len(wasm))
	}
	p := &interruptPlan{in: wasm, typ: -1, imp: -1, fn: -1, global: -1, export: -1, code: -1, sections: make([]wasmSection, 0, 16),
		yieldType: noType, bulkType: noType}
	r := wasmReader{b: wasm, off: 8}
	var rank int8
	for r.off < len(wasm) {
		start := r.off
		s := wasmSection{start: start, id: r.byte()}
		size := r.u32()
		if r.err != nil || int(size) > len(wasm)-r.off {
			return nil, fmt.Errorf("%w: truncated section at offset %d", errMalformed, s.start)
		}
		s.payload, s.end = r.off, r.off+int(size)
		r.off = s.end
		if s.id > wasmSecMaxID {
			return nil, fmt.Errorf("%w: unknown section id %d at offset %d", errMalformed, s.id, s.start)
		}
		if s.id != wasmSecCustom {
			if wasmSecRank[s.id] <= rank {
				return nil, fmt.Errorf("%w: section %d out of order or repeated", errMalformed, s.id)
			}
			rank = wasmSecRank[s.id]
			if rank > wasmSecRank[wasmSecGlobal] {
				p.setIndex()
			}
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

// setIndex fixes the index of the fuel global, once the imports and the global section, which
// come before every section that can name a global, are read.
func (p *interruptPlan) setIndex() {
	if p.indexKnown {
		return
	}
	n := p.importedGlobals
	if p.global >= 0 {
		n += p.sections[p.global].count
	}
	p.index, p.indexKnown = n, true
}

// readSection reads what the plan needs from one section, and notes where the sections it
// rewrites are.
func (p *interruptPlan) readSection(s *wasmSection) error {
	switch s.id {
	case wasmSecCustom:
		r := wasmReader{b: p.in[:s.end], off: s.payload}
		name := r.rawName()
		if r.err != nil {
			return fmt.Errorf("%w: custom section name: %w", errMalformed, r.err)
		}
		s.drop = bytes.HasPrefix(name, []byte(".debug")) || string(name) == "name"
	case wasmSecType:
		p.typ = len(p.sections)
		return p.readTypes(s)
	case wasmSecImport:
		p.imp = len(p.sections)
		return p.readImports(s)
	case wasmSecFunction:
		p.fn = len(p.sections)
		if err := p.readCount(s); err != nil {
			return err
		}
		p.definedFuncs = s.count
	case wasmSecTable:
		return p.readTables(s)
	case wasmSecMemory:
		if err := p.readCount(s); err != nil {
			return err
		}
		p.memory = p.memory || s.count > 0
	case wasmSecGlobal:
		p.global = len(p.sections)
		return p.readGlobals(s)
	case wasmSecExport:
		p.export = len(p.sections)
		return p.readExports(s)
	case wasmSecStart:
		r := wasmReader{b: p.in[:s.end], off: s.payload}
		p.start, p.hasStart = r.u32(), true
		if r.err == nil && r.off != s.end {
			r.err = errors.New("bytes after the function index")
		}
		if r.err != nil {
			return fmt.Errorf("%w: start: %w", errMalformed, r.err)
		}
		s.drop = true
	case wasmSecElement:
		return p.readElements(s)
	case wasmSecCode:
		p.code = len(p.sections)
		return p.scanCode(s)
	case wasmSecData:
		return p.readData(s)
	}
	return nil
}

// readCount reads the entry count that begins a section's payload.
func (p *interruptPlan) readCount(s *wasmSection) error {
	r := wasmReader{b: p.in[:s.end], off: s.payload}
	s.count = r.u32()
	if r.err != nil {
		return fmt.Errorf("%w: entry count: %w", errMalformed, r.err)
	}
	// Every entry takes at least one byte: a larger count is a lie that would size allocations
	// (the edit list, the helper tables) from a hostile module's word.
	if int64(s.count) > int64(s.end-r.off) {
		return fmt.Errorf("%w: %d entries in %d bytes", errMalformed, s.count, s.end-r.off)
	}
	s.rest = r.off
	return nil
}

// readTypes counts the function types and finds one of [] -> [] for the yield import.
func (p *interruptPlan) readTypes(s *wasmSection) error {
	if err := p.readCount(s); err != nil {
		return err
	}
	p.types = s.count
	r := wasmReader{b: p.in[:s.end], off: s.rest}
	for i := uint32(0); i < s.count && r.err == nil; i++ {
		if form := r.byte(); r.err == nil && form != 0x60 {
			return fmt.Errorf("%w: type form 0x%02x", ErrUnsupported, form)
		}
		at := r.off
		params := r.u32()
		for k := params; k > 0 && r.err == nil; k-- {
			if err := wasmSimpleType(r.byte()); err != nil {
				return err
			}
		}
		results := r.u32()
		for k := results; k > 0 && r.err == nil; k-- {
			if err := wasmSimpleType(r.byte()); err != nil {
				return err
			}
		}
		switch sig := p.in[at:max(at, r.off)]; {
		case r.err != nil:
		case p.yieldType == noType && bytes.Equal(sig, yieldSig):
			p.yieldType = i
		case p.bulkType == noType && bytes.Equal(sig, bulkSig):
			p.bulkType = i
		}
	}
	return p.sectionEnd(&r, s, "types")
}

// readImports counts the imported functions and globals.
func (p *interruptPlan) readImports(s *wasmSection) error {
	if err := p.readCount(s); err != nil {
		return err
	}
	r := wasmReader{b: p.in[:s.end], off: s.rest}
	for n := s.count; n > 0 && r.err == nil; n-- {
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
			p.tables++
			p.tableEntries += uint64(r.limitsMin())
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
	if p.importedFuncs == math.MaxUint32 {
		return fmt.Errorf("%w: %d imported functions", ErrUnsupported, p.importedFuncs)
	}
	return p.sectionEnd(&r, s, "imports")
}

// readGlobals reads the global section: its count, and each global's initializer, which may
// only name an imported global.
func (p *interruptPlan) readGlobals(s *wasmSection) error {
	if err := p.readCount(s); err != nil {
		return err
	}
	r := wasmReader{b: p.in[:s.end], off: s.rest}
	for n := s.count; n > 0 && r.err == nil; n-- {
		if err := wasmSimpleType(r.byte()); err != nil {
			return err
		}
		r.byte() // mutability
		if err := p.constExpr(&r); err != nil {
			return fmt.Errorf("global initializer: %w", err)
		}
	}
	return p.sectionEnd(&r, s, "globals")
}

// readElements reads the element section's segments for the functions and globals they name.
func (p *interruptPlan) readElements(s *wasmSection) error {
	r := wasmReader{b: p.in[:s.end], off: s.payload}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		flags := r.u32()
		if r.err == nil && flags > 7 {
			r.err = fmt.Errorf("element segment flags %d", flags)
			break
		}
		if flags&1 == 0 { // active: [table index], offset
			if flags&2 != 0 {
				r.u32()
			}
			if err := p.constExpr(&r); err != nil {
				return fmt.Errorf("element offset: %w", err)
			}
		}
		if flags&3 != 0 { // element kind or reference type
			if err := wasmSimpleType(r.byte()); err != nil {
				return err
			}
		}
		for k := r.u32(); k > 0 && r.err == nil; k-- {
			if flags&4 == 0 {
				p.funcIndex(&r)
			} else if err := p.constExpr(&r); err != nil {
				return fmt.Errorf("element initializer: %w", err)
			}
		}
	}
	return p.sectionEnd(&r, s, "elements")
}

// readData reads the data section's segments for the globals their offsets name.
func (p *interruptPlan) readData(s *wasmSection) error {
	r := wasmReader{b: p.in[:s.end], off: s.payload}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		switch flags := r.u32(); flags {
		case 2: // active, memory index
			r.u32()
			fallthrough
		case 0: // active
			if err := p.constExpr(&r); err != nil {
				return fmt.Errorf("data offset: %w", err)
			}
		case 1: // passive
		default:
			if r.err == nil {
				r.err = fmt.Errorf("data segment flags %d", flags)
			}
		}
		r.rawName() // the bytes: a length, then as many bytes
	}
	return p.sectionEnd(&r, s, "data")
}

// sectionEnd checks that a section reader stopped at the end of its section without error.
func (p *interruptPlan) sectionEnd(r *wasmReader, s *wasmSection, what string) error {
	if r.err == nil && r.off != s.end {
		r.err = errors.New("bytes after the last entry")
	}
	if r.err != nil {
		return fmt.Errorf("%w: %s: %w", errMalformed, what, r.err)
	}
	return nil
}

// funcIndex reads a function index at r, noting the edit that renumbers it.
func (p *interruptPlan) funcIndex(r *wasmReader) {
	at := r.off
	if f := r.u32(); r.err == nil && f >= p.importedFuncs {
		p.edits = append(p.edits, edit{at: int32(at), end: int32(r.off), kind: editFunc, v: f})
	}
}

// constExpr reads a constant expression up to its `end`, checking that a global.get in it names
// an imported global (all a constant expression may name: the globals the host adds are never
// imported), and noting the edit of a function index it names.
func (p *interruptPlan) constExpr(r *wasmReader) error {
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0b: // end
			return nil
		case 0x41, 0x42: // i32.const, i64.const
			r.off = wasmSkipLEB(r.b, r.off)
		case 0x43: // f32.const
			r.off += 4
		case 0x44: // f64.const
			r.off += 8
		case 0x23: // global.get
			if g := r.u32(); r.err == nil && g >= p.importedGlobals {
				return fmt.Errorf("%w: a constant expression names global %d, not an imported one", ErrInvalid, g)
			}
		case 0xd0: // ref.null
			if err := wasmSimpleType(r.byte()); err != nil {
				return err
			}
		case 0xd2: // ref.func
			p.funcIndex(r)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant expressions: add, sub, mul
		case 0xfd: // v128.const
			if sub := r.u32(); r.err == nil && sub != 0x0c {
				return fmt.Errorf("%w: constant expression opcode 0xfd 0x%02x", ErrUnsupported, sub)
			}
			r.off += 16
		default:
			if r.err == nil {
				return fmt.Errorf("%w: constant expression opcode 0x%02x", ErrUnsupported, op)
			}
		}
		if r.off < 0 || r.off > len(r.b) {
			r.err = errors.New("truncated constant expression")
		}
	}
	return fmt.Errorf("%w: %w", errMalformed, r.err)
}

// readExports checks that the module exports none of the names the host adds, and no global it
// does not have, and notes the edits of the function indices it exports.
func (p *interruptPlan) readExports(s *wasmSection) error {
	if err := p.readCount(s); err != nil {
		return err
	}
	r := wasmReader{b: p.in[:s.end], off: s.rest}
	for n := s.count; n > 0 && r.err == nil; n-- {
		name := r.rawName()
		kind := r.byte()
		if r.err == nil && string(name) == StartExport {
			return fmt.Errorf("%w: %s", errExported, name)
		}
		if kind == 0 {
			p.funcIndex(&r)
			continue
		}
		if index := r.u32(); r.err == nil && kind == 3 && index >= p.index {
			return fmt.Errorf("%w: it exports global %d, and has %d", ErrInvalid, index, p.index)
		}
	}
	return p.sectionEnd(&r, s, "exports")
}

// wasmSimpleType refuses the value and reference types of the GC proposal, the only ones encoded
// in more than one byte.
func wasmSimpleType(t byte) error {
	if t == 0x63 || t == 0x64 {
		return fmt.Errorf("%w: reference type 0x%02x", ErrUnsupported, t)
	}
	return nil
}

// yield is the yield import's function index; fuel and scratch are the new globals' indices.
func (p *interruptPlan) yield() uint32   { return p.importedFuncs }
func (p *interruptPlan) fuel() uint32    { return p.index }
func (p *interruptPlan) scratch() uint32 { return p.index + 1 }

// appendCheck appends the check that begins a function or loop body whose code is weight bytes:
//
//	global.get $fuel; i64.const weight; i64.sub; global.set $fuel    ;; the hot path: charge
//	global.get $fuel; i64.const 0; i64.le_s
//	if                                                                ;; spent:
//	  call $yield                                                     ;; the host's check
//	  i64.const interruptFuel; global.set $fuel                       ;; refill
//	end
//
// Compiled code cannot be preempted by the Go scheduler, and a stop-the-world (a garbage
// collection) waits for every goroutine: a guest that never left its compiled code would hold
// the whole process, the timers that end calls included. yield is Go code, so every
// interruptFuel of work the guest passes a point where its goroutine can be stopped, and where
// the guest's own goroutine checks its call's deadline: no other goroutine has to run for a call
// to end. Charging each body its size bounds the work between two yields whatever the code: a
// loop of straight-line code runs its whole body for one check, and after a call returns, the
// caller runs on without passing a check of its own, but its body was charged in full when it
// was entered.
func (p *interruptPlan) appendCheck(b []byte, weight uint32) []byte {
	b = wasmAppendLEB(append(b, 0x23), p.fuel())
	b = wasmAppendSLEB(append(b, 0x42), int64(weight))
	b = wasmAppendLEB(append(b, 0x7d, 0x24), p.fuel())
	b = wasmAppendLEB(append(b, 0x23), p.fuel())
	b = wasmAppendLEB(append(b, 0x42, 0x00, 0x57, 0x04, 0x40, 0x10), p.yield())
	b = wasmAppendSLEB(append(b, 0x42), interruptFuel)
	b = wasmAppendLEB(append(b, 0x24), p.fuel())
	return append(b, 0x0b)
}

// appendEdit appends what an edit puts in place of p.in[e.at:e.end].
func (p *interruptPlan) appendEdit(b []byte, e edit) []byte {
	switch e.kind {
	case editCheck:
		return p.appendCheck(b, e.v)
	case editBulkLen: // global.set $scratch; global.get $scratch
		b = wasmAppendLEB(append(b, 0x24), p.scratch())
		return wasmAppendLEB(append(b, 0x23), p.scratch())
	case editBulkCharge:
		// global.get $fuel; global.get $scratch; i64.extend_i32_u; i64.sub; global.set $fuel
		b = wasmAppendLEB(append(b, 0x23), p.fuel())
		b = wasmAppendLEB(append(b, 0x23), p.scratch())
		b = append(b, 0xad, 0x7d, 0x24)
		return wasmAppendLEB(b, p.fuel())
	case editBulkCall:
		return p.appendBulkCall(b, e)
	case editTableGrow:
		return p.appendTableGrow(b, e.v)
	}
	return wasmAppendPaddedLEB(b, e.v+1, int(e.end-e.at))
}

// editDelta returns how many bytes an edit adds, as appendEdit writes them.
func (p *interruptPlan) editDelta(e edit) int {
	fuel, scratch := wasmLEBLen(p.fuel()), wasmLEBLen(p.scratch())
	switch e.kind {
	case editCheck:
		return 14 + 4*fuel + wasmLEBLen(p.yield()) + wasmSLEBLen(int64(e.v)) + wasmSLEBLen(interruptFuel)
	case editBulkLen:
		return 2 + 2*scratch
	case editBulkCharge:
		return 5 + 2*fuel + scratch
	case editBulkCall:
		return p.bulkCallLen(e)
	case editTableGrow:
		return p.tableGrowLen(e.v)
	}
	return max(wasmLEBLen(e.v+1), int(e.end-e.at)) - int(e.end-e.at)
}

// wasmSLEBLen returns the size of v in signed LEB128.
func wasmSLEBLen(v int64) int {
	n := 1
	for v >= 0x40 || v < -0x40 {
		v >>= 7
		n++
	}
	return n
}

// wasmAppendPaddedLEB appends v in unsigned LEB128, in n bytes (continuation bits set on the
// padding) if its shortest encoding is shorter, or in its shortest encoding.
func wasmAppendPaddedLEB(b []byte, v uint32, n int) []byte {
	for i := 1; i < n || v >= 0x80; i++ {
		b = append(b, byte(v&0x7f)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// scanCode finds the edits of every function body of the code section, and sizes the rewritten
// section.
func (p *interruptPlan) scanCode(s *wasmSection) error {
	if err := p.readCount(s); err != nil {
		return err
	}
	p.resolveTypes() // the code refers to them; the type section came first
	if p.edits == nil {
		// Go-built modules have about one loop, one call and a check per 1 KB of code.
		p.edits = make([]edit, 0, int(s.count)+(s.end-s.rest)/256)
	}
	p.codeSize = 0 // the bodies' entries; plan adds the count and the helpers
	i := s.rest
	for n := uint32(0); n < s.count; n++ {
		fn := p.importedFuncs + n
		size, j := wasmLEB32(p.in[:s.end], i)
		if j < 0 || int(size) > s.end-j {
			return fmt.Errorf("%w: function %d: truncated body", errMalformed, fn)
		}
		end := j + int(size)
		before := len(p.edits)
		if err := p.scanBody(fn, p.in[:end], j); err != nil {
			return err
		}
		newSize := uint64(size)
		for _, e := range p.edits[before:] {
			newSize += uint64(p.editDelta(e))
		}
		if newSize > math.MaxUint32 {
			return fmt.Errorf("%w: function %d: instrumented body of %d bytes", ErrUnsupported, fn, newSize)
		}
		p.codeSize += wasmLEBLen(uint32(newSize)) + int(newSize)
		i = end
	}
	if i != s.end {
		return fmt.Errorf("%w: bytes after the last function body", errMalformed)
	}
	if p.codeSize > math.MaxUint32 {
		return fmt.Errorf("%w: instrumented code section of %d bytes", ErrUnsupported, p.codeSize)
	}
	return nil
}

// scanBody decodes the function body b[i:] (function index fn) and appends its edits to
// p.edits: a check after its local declarations (unless the body begins with a loop) and after
// each `loop` block type, each weighing the bytes up to the end of its body (for a loop that
// begins the function, up to the function's end); a length copy and a charge around each bulk instruction;
// the renumbering of each function index. It checks that every global.get and global.set names
// one of the module's globals.
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
		return fmt.Errorf("%w: function %d: truncated local declarations", errMalformed, fn)
	}
	// A body that begins with a loop (every function of a Go module: its dispatch loop) needs no
	// check of its own: the loop's check, right after it, charges the rest of the body too.
	edits, entry := p.edits, int32(-1)
	if i < len(b) && b[i] == 0x03 {
		entry = int32(len(edits))
	} else {
		edits = append(edits, edit{at: int32(i), end: int32(i), kind: editCheck, v: uint32(len(b) - i)})
	}
	// blocks holds, for each open block, the index in edits of its check if it is a loop, or -1.
	var blocksBuf [32]int32
	blocks := blocksBuf[:0]
	ops := &wasmOps.main
	last, ended := -1, false
	for i < len(b) {
		if ended {
			return fmt.Errorf("%w: function %d: code after the body's end", errMalformed, fn)
		}
		last = i
		op := b[i]
		i++
		switch ops[op] {
		case immNone:
			if op != 0x0b { // end
				break
			}
			if len(blocks) == 0 {
				ended = true
				break
			}
			switch k := blocks[len(blocks)-1]; {
			case k >= 0 && k == entry:
				edits[k].v = uint32(int32(len(b)) - edits[k].at)
			case k >= 0:
				edits[k].v = uint32(int32(last) - edits[k].at)
			}
			blocks = blocks[:len(blocks)-1]
		case immIdx:
			if i < len(b) && b[i] < 0x80 {
				i++
			} else {
				i = wasmSkipLEB(b, i)
			}
		case immGlobal:
			var g uint32
			if g, i = wasmLEB32(b, i); i >= 0 && g >= p.index {
				return fmt.Errorf("%w: function %d: global %d at offset %d: the module has %d", ErrInvalid, fn, g, last, p.index)
			}
		case immFunc:
			at := i
			var f uint32
			if f, i = wasmLEB32(b, i); i >= 0 && f >= p.importedFuncs {
				edits = append(edits, edit{at: int32(at), end: int32(i), kind: editFunc, v: f})
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
			if i = wasmSkipBlockType(b, i); i >= 0 {
				blocks = append(blocks, int32(len(edits)))
				edits = append(edits, edit{at: int32(i), end: int32(i), kind: editCheck})
			}
		case immBlock:
			if i = wasmSkipBlockType(b, i); i >= 0 {
				blocks = append(blocks, -1)
			}
		case immBrTable:
			i = wasmSkipBrTable(b, i)
		case immBytes4:
			i += 4
		case immBytes8:
			i += 8
		case immSelectT:
			i = wasmSkipSelectTypes(b, i)
		case immPrefixFC, immPrefixFD, immPrefixFE:
			if i = wasmSkipPrefixed(op, b, i); op == 0xfc && i >= 0 && i <= len(b) {
				edits = p.bulkEdits(edits, b, last, i)
			}
		default:
			return fmt.Errorf("function %d: opcode 0x%02x at offset %d: %w", fn, op, last, ErrUnsupported)
		}
		if i < 0 || i > len(b) {
			return p.bodyError(fn, b, last, i)
		}
	}
	if !ended {
		return fmt.Errorf("%w: function %d: body does not end with `end`", errMalformed, fn)
	}
	p.edits = edits
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
		return fmt.Errorf("function %d: opcode %s at offset %d: %w", fn, op, at, ErrUnsupported)
	}
	return fmt.Errorf("%w: function %d: truncated instruction 0x%02x at offset %d", errMalformed, fn, b[at], at)
}

// resolveTypes gives the signatures the module lacks the indices they are appended at: yield's,
// then the helpers' (which is appended only if the code turns out to need a helper).
func (p *interruptPlan) resolveTypes() {
	if p.yieldType == noType {
		p.yieldType = p.types
	}
	if p.bulkType == noType {
		p.bulkType = p.types
		if p.yieldType == p.types {
			p.bulkType++
		}
	}
}

// newTypes returns how many function types Instrument appends: yield's and the helpers', when the
// module has no type of their signature.
func (p *interruptPlan) newTypes() uint32 {
	n := uint32(0)
	if p.yieldType >= p.types {
		n++
	}
	if len(p.helpers) > 0 && p.bulkType >= p.types {
		n++
	}
	return n
}

// newExports returns how many exports Instrument appends: StartExport, if the module has a start
// section.
func (p *interruptPlan) newExports() uint32 {
	if p.hasStart {
		return 1
	}
	return 0
}

// appendNewEntries appends the entries Instrument adds to a section of an id.
func (p *interruptPlan) appendNewEntries(b []byte, id byte) []byte {
	switch id {
	case wasmSecType:
		if p.yieldType >= p.types {
			b = append(append(b, 0x60), yieldSig...)
		}
		if len(p.helpers) > 0 && p.bulkType >= p.types {
			b = append(append(b, 0x60), bulkSig...)
		}
	case wasmSecFunction:
		for range p.helpers {
			b = wasmAppendLEB(b, p.bulkType)
		}
	case wasmSecImport:
		b = wasmAppendLEB(b, uint32(len(YieldModule)))
		b = append(b, YieldModule...)
		b = wasmAppendLEB(b, uint32(len(YieldName)))
		b = append(b, YieldName...)
		b = wasmAppendLEB(append(b, 0), p.yieldType)
	case wasmSecGlobal:
		b = append(b, interruptGlobalEntries...)
	case wasmSecExport:
		if p.hasStart {
			b = wasmAppendLEB(b, uint32(len(StartExport)))
			b = append(b, StartExport...)
			start := p.start
			if start >= p.importedFuncs {
				start++
			}
			b = wasmAppendLEB(append(b, 0), start)
		}
	}
	return b
}

// newCount returns how many entries Instrument adds to a section of an id.
func (p *interruptPlan) newCount(id byte) uint32 {
	switch id {
	case wasmSecType:
		return p.newTypes()
	case wasmSecImport:
		return 1
	case wasmSecFunction:
		return uint32(len(p.helpers))
	case wasmSecGlobal:
		return interruptGlobals
	case wasmSecExport:
		return p.newExports()
	}
	return 0
}

// plan checks what can only be checked once every section is read, and sizes the output.
func (p *interruptPlan) plan() error {
	p.setIndex()
	if !p.memory {
		return fmt.Errorf("%w: it has no memory, and a plugin's input and output go through one", ErrInvalid)
	}
	if p.index > math.MaxUint32-interruptGlobals {
		return fmt.Errorf("%w: %d globals", ErrUnsupported, p.index)
	}
	if err := p.checkTables(); err != nil {
		return err
	}
	p.resolveTypes()
	if p.code >= 0 {
		p.helperBodies = make([][]byte, len(p.helpers))
		for k, h := range p.helpers {
			p.helperBodies[k] = p.helperBody(h)
			p.codeSize += wasmLEBLen(uint32(len(p.helperBodies[k]))) + len(p.helperBodies[k])
		}
		p.codeSize += wasmLEBLen(p.sections[p.code].count + uint32(len(p.helpers)))
	}
	p.size = 8
	for i := range p.sections {
		if !p.sections[i].drop {
			p.size += wasmSectionLen(p.payloadLen(i))
		}
	}
	for _, id := range []byte{wasmSecType, wasmSecImport, wasmSecGlobal, wasmSecExport} {
		if p.sectionOf(id) < 0 && p.newCount(id) > 0 {
			p.size += wasmSectionLen(p.newPayloadLen(id))
		}
	}
	return nil
}

// sectionOf returns the index in p.sections of the section of an id this plan rewrites, or -1.
func (p *interruptPlan) sectionOf(id byte) int {
	switch id {
	case wasmSecType:
		return p.typ
	case wasmSecImport:
		return p.imp
	case wasmSecFunction:
		return p.fn
	case wasmSecGlobal:
		return p.global
	case wasmSecExport:
		return p.export
	}
	return -1
}

// newPayloadLen returns the payload size of a section of an id the module lacks, holding only
// the new entries.
func (p *interruptPlan) newPayloadLen(id byte) int {
	var buf [64]byte
	return wasmLEBLen(p.newCount(id)) + len(p.appendNewEntries(buf[:0], id))
}

// payloadLen returns the rewritten payload size of section i.
func (p *interruptPlan) payloadLen(i int) int {
	s := &p.sections[i]
	if i == p.code {
		return p.codeSize
	}
	if i == p.sectionOf(s.id) {
		var buf [64]byte
		return wasmLEBLen(s.count+p.newCount(s.id)) + p.editedLen(s.rest, s.end) + len(p.appendNewEntries(buf[:0], s.id))
	}
	return p.editedLen(s.payload, s.end)
}

// editedLen returns the size of p.in[from:to] once edited.
func (p *interruptPlan) editedLen(from, to int) int {
	n := to - from
	for _, e := range p.editsIn(from, to) {
		n += p.editDelta(e)
	}
	return n
}

// editsIn returns the edits at offsets in [from, to).
func (p *interruptPlan) editsIn(from, to int) []edit {
	lo := sort.Search(len(p.edits), func(i int) bool { return int(p.edits[i].at) >= from })
	hi := lo + sort.Search(len(p.edits)-lo, func(i int) bool { return int(p.edits[lo+i].at) >= to })
	return p.edits[lo:hi]
}

// appendEdited appends p.in[from:to] with its edits applied.
func (p *interruptPlan) appendEdited(out []byte, from, to int) []byte {
	for _, e := range p.editsIn(from, to) {
		out = append(out, p.in[from:e.at]...)
		out = p.appendEdit(out, e)
		from = int(e.end)
	}
	return append(out, p.in[from:to]...)
}

// write writes the instrumented module.
func (p *interruptPlan) write() []byte {
	out := make([]byte, 0, p.size)
	out = append(out, p.in[:8]...)
	added := map[byte]bool{}
	addMissing := func(before int8) {
		for _, id := range []byte{wasmSecType, wasmSecImport, wasmSecGlobal, wasmSecExport} {
			if wasmSecRank[id] < before && !added[id] && p.sectionOf(id) < 0 && p.newCount(id) > 0 {
				out = append(out, id)
				out = wasmAppendLEB(out, uint32(p.newPayloadLen(id)))
				out = wasmAppendLEB(out, p.newCount(id))
				out = p.appendNewEntries(out, id)
				added[id] = true
			}
		}
	}
	for i := range p.sections {
		s := &p.sections[i]
		if s.drop {
			continue
		}
		if r := wasmSecRank[s.id]; r != 0 {
			addMissing(r)
		}
		out = append(out, s.id)
		out = wasmAppendLEB(out, uint32(p.payloadLen(i)))
		switch {
		case i == p.code:
			out = p.appendCode(out, s)
		case i == p.sectionOf(s.id):
			out = wasmAppendLEB(out, s.count+p.newCount(s.id))
			out = p.appendEdited(out, s.rest, s.end)
			out = p.appendNewEntries(out, s.id)
		default:
			out = p.appendEdited(out, s.payload, s.end)
		}
	}
	addMissing(math.MaxInt8)
	return out
}

// appendCode appends the code section s's payload with its edits, and the helpers' bodies.
func (p *interruptPlan) appendCode(out []byte, s *wasmSection) []byte {
	out = wasmAppendLEB(out, s.count+uint32(len(p.helpers)))
	i := s.rest
	for n := s.count; n > 0; n-- {
		size, j := wasmLEB32(p.in, i) // read before: cannot fail
		end := j + int(size)
		out = wasmAppendLEB(out, uint32(p.editedLen(j, end)))
		out = p.appendEdited(out, j, end)
		i = end
	}
	for _, body := range p.helperBodies {
		out = wasmAppendLEB(out, uint32(len(body)))
		out = append(out, body...)
	}
	return out
}

// wasmUnsupported is returned by the wasmSkip functions for an instruction Instrument
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
	immGlobal                  // a global index (global.get, global.set)
	immFunc                    // a function index (call, return_call, ref.func)
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

// wasmOps are the opcodes Instrument decodes: the core specification 2.0, tail calls,
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
	m[0x23], m[0x24] = immGlobal, immGlobal
	m[0x10], m[0x12], m[0xd2] = immFunc, immFunc, immFunc // call, return_call, ref.func
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
