package wasmrewrite

import (
	"fmt"
)

// Bulk instructions move or fill a whole range in one instruction: memory.fill, memory.copy and
// memory.init over a linear memory (up to 256 MiB for a plugin), table.fill, table.copy and
// table.init over a table. Compiled, each is one call of the Go runtime's memmove, which cannot be
// preempted: one instruction could hold a stop-the-world for tens of milliseconds. So
// Instrument:
//
//   - runs each memory bulk instruction of up to bulkChunk bytes as it is, charging its length
//     after, and a longer one through a helper function it adds to the module (one per kind of
//     instruction and immediates), which does the work bulkChunk bytes at a time and charges the
//     fuel between chunks, calling yield when it is spent;
//   - charges a table bulk instruction its length once it has run: a table holds at most
//     maxTableEntries entries;
//   - makes table.grow fail (return -1, as the specification allows any growth to) past
//     maxTableEntries, and refuses a module with more than maxTables tables or more than
//     maxTableEntries initial entries in all: wazero bounds a table only by 2^32 entries of 8
//     bytes, outside the linear memory limit.
//
// A helper's chunks that ran before a trap (out of bounds) have written memory the whole
// instruction would not have; the instance is discarded after any trap, so no one sees them.

// Limits of the chunking and of tables.
const (
	// bulkChunk is how many bytes a helper moves or fills per chunk.
	bulkChunk = 64 << 10
	// maxTableEntries bounds the entries of one table, and of all the initial ones together.
	maxTableEntries = 1 << 18
	// maxTables bounds the number of tables a module has.
	maxTables = 8
)

// Function signatures Instrument needs in the type section, as encoded after the
// form byte: yield's [] -> [] and the bulk helpers' [i32 i32 i32] -> [].
var (
	yieldSig = []byte{0, 0}
	bulkSig  = []byte{3, 0x7f, 0x7f, 0x7f, 0}
)

// noType marks a signature the module's type section does not have yet.
const noType = ^uint32(0)

// bulkHelper is a kind of memory bulk instruction: its sub-opcode (8 memory.init, 10 memory.copy,
// 11 memory.fill) and immediates (memory.init: data segment, memory; memory.copy: destination
// and source memories; memory.fill: memory).
type bulkHelper struct {
	op   byte
	a, b uint32
}

// bulkEdits appends the edits of the 0xFC-prefixed instruction b[at:end]: a memory bulk
// instruction becomes a helper's call, a table bulk instruction gets its length charged, a
// table.grow its bound. Others get none.
func (p *interruptPlan) bulkEdits(edits []edit, b []byte, at, end int) []edit {
	sub, i := wasmLEB32(b[:end], at+1)
	imm := func() uint32 {
		var v uint32
		v, i = wasmLEB32(b[:end], i)
		return v
	}
	switch sub {
	case 8, 10, 11: // memory.init, memory.copy, memory.fill
		h := bulkHelper{op: byte(sub), a: imm()}
		if sub != 11 {
			h.b = imm()
		}
		k := p.helperIndex(h)
		return append(edits, edit{at: int32(at), end: int32(end), kind: editBulkCall, v: k})
	case 12, 14, 17: // table.init, table.copy, table.fill: the length is charged after
		return append(edits,
			edit{at: int32(at), end: int32(at), kind: editBulkLen},
			edit{at: int32(end), end: int32(end), kind: editBulkCharge})
	case 15: // table.grow
		return append(edits, edit{at: int32(at), end: int32(at), kind: editTableGrow, v: imm()})
	}
	return edits
}

// appendBulkCall appends what replaces the memory bulk instruction p.in[e.at:e.end]: up to
// bulkChunk bytes it runs as it is, then has its length charged; beyond, helper e.v runs it in
// chunks. Most are short (a Go guest's memmove of a few words), and a call of the helper would
// cost more than they do:
//
//	global.set $scratch; global.get $scratch                  ;; the length, kept
//	global.get $scratch; i32.const bulkChunk; i32.le_u
//	if (type $bulk)                                           ;; [i32 i32 i32] -> []
//	  <the instruction>
//	  global.get $fuel; global.get $scratch; i64.extend_i32_u
//	  i64.const interruptBulkShift; i64.shr_u; i64.sub; global.set $fuel
//	else
//	  call $helper
//	end
func (p *interruptPlan) appendBulkCall(b []byte, e edit) []byte {
	b = wasmAppendLEB(append(b, 0x24), p.scratch())
	b = wasmAppendLEB(append(b, 0x23), p.scratch())
	b = wasmAppendLEB(append(b, 0x23), p.scratch())
	b = wasmAppendSLEB(append(b, 0x41), bulkChunk)
	b = wasmAppendSLEB(append(b, 0x4d, 0x04), int64(p.bulkType)) // a type index is an s33
	b = append(b, p.in[e.at:e.end]...)
	b = wasmAppendLEB(append(b, 0x23), p.fuel())
	b = wasmAppendLEB(append(b, 0x23), p.scratch())
	b = append(b, 0xad, 0x42, interruptBulkShift, 0x88, 0x7d, 0x24)
	b = wasmAppendLEB(b, p.fuel())
	b = wasmAppendLEB(append(b, 0x05, 0x10), p.helperFunc(e.v))
	return append(b, 0x0b)
}

// bulkCallLen returns how many bytes appendBulkCall adds to the instruction it wraps.
func (p *interruptPlan) bulkCallLen(e edit) int {
	var buf [96]byte
	return len(p.appendBulkCall(buf[:0], e)) - int(e.end-e.at)
}

// helperIndex returns the index among p.helpers of h, adding it if new.
func (p *interruptPlan) helperIndex(h bulkHelper) uint32 {
	for k, x := range p.helpers {
		if x == h {
			return uint32(k)
		}
	}
	p.helpers = append(p.helpers, h)
	return uint32(len(p.helpers) - 1)
}

// helperFunc returns the function index of helper k: after the imports, the yield import and
// the module's own functions.
func (p *interruptPlan) helperFunc(k uint32) uint32 {
	return p.importedFuncs + 1 + p.definedFuncs + k
}

// readTables counts the tables of the table section and their initial entries.
func (p *interruptPlan) readTables(s *wasmSection) error {
	if err := p.readCount(s); err != nil {
		return err
	}
	r := wasmReader{b: p.in[:s.end], off: s.rest}
	for n := s.count; n > 0 && r.err == nil; n-- {
		if err := wasmSimpleType(r.byte()); err != nil {
			return err
		}
		p.tables++
		p.tableEntries += uint64(r.limitsMin())
	}
	return p.sectionEnd(&r, s, "tables")
}

// checkTables refuses a module whose tables could hold more than the host allows.
func (p *interruptPlan) checkTables() error {
	if p.tables > maxTables || p.tableEntries > maxTableEntries {
		return fmt.Errorf("%w: %d tables of %d entries in all; a plugin may have %d tables of %d entries in all",
			ErrInvalid, p.tables, p.tableEntries, maxTables, maxTableEntries)
	}
	return nil
}

// appendTableGrow appends what goes before `table.grow t`: the delta becomes 2^32-1, which
// every table refuses to grow by, when the table would pass maxTableEntries:
//
//	global.set $scratch                                    ;; the delta
//	i32.const -1; global.get $scratch                      ;; the two choices
//	table.size t; i64.extend_i32_u; global.get $scratch; i64.extend_i32_u; i64.add
//	i64.const maxTableEntries; i64.gt_u
//	select                                                 ;; -1 if too large, else the delta
func (p *interruptPlan) appendTableGrow(b []byte, table uint32) []byte {
	b = wasmAppendLEB(append(b, 0x24), p.scratch())
	b = wasmAppendLEB(append(b, 0x41, 0x7f, 0x23), p.scratch())
	b = wasmAppendLEB(append(b, 0xfc, 0x10), table)
	b = wasmAppendLEB(append(b, 0xad, 0x23), p.scratch())
	b = wasmAppendSLEB(append(b, 0xad, 0x7c, 0x42), maxTableEntries)
	return append(b, 0x56, 0x1b)
}

// tableGrowLen returns the size of appendTableGrow's instructions.
func (p *interruptPlan) tableGrowLen(table uint32) int {
	return 13 + 3*wasmLEBLen(p.scratch()) + wasmLEBLen(table) + wasmSLEBLen(maxTableEntries)
}

// Locals of a helper: its three parameters (the destination, the source or value, the length),
// then the chunk's size.
const (
	hDst, hSrc, hLen, hChunk = 0, 1, 2, 3
)

// helperBody returns the body of helper h (its size not included): a loop that runs h's
// instruction over one chunk at a time, at least once (a zero length still checks the bounds),
// and charges the fuel after each. memory.copy within one memory copies backwards, from the end,
// when the destination is above the source, so that overlapping ranges copy as one instruction
// would.
func (p *interruptPlan) helperBody(h bulkHelper) []byte {
	b := []byte{1, 1, 0x7f} // locals: one i32, the chunk
	forward := p.helperLoop(h, false)
	if h.op == 10 && h.a == h.b {
		// local.get dst; local.get src; i32.gt_u; if <backward> else <forward> end
		b = append(b, 0x20, hDst, 0x20, hSrc, 0x4b, 0x04, 0x40)
		b = append(b, p.helperLoop(h, true)...)
		b = append(b, 0x05)
		b = append(b, forward...)
		b = append(b, 0x0b)
	} else {
		b = append(b, forward...)
	}
	return append(b, 0x0b)
}

// helperLoop returns one chunked loop of helper h, forwards or backwards.
func (p *interruptPlan) helperLoop(h bulkHelper, backward bool) []byte {
	get := func(b []byte, l byte) []byte { return append(b, 0x20, l) }
	set := func(b []byte, l byte) []byte { return append(b, 0x21, l) }
	b := []byte{0x03, 0x40} // loop
	// chunk = len < bulkChunk ? len : bulkChunk
	b = get(b, hLen)
	b = wasmAppendSLEB(append(b, 0x41), bulkChunk)
	b = get(b, hLen)
	b = wasmAppendSLEB(append(b, 0x41), bulkChunk)
	b = set(append(b, 0x49, 0x1b), hChunk) // i32.lt_u; select
	if backward {
		// len -= chunk; the instruction at dst+len, src+len
		b = set(append(get(get(b, hLen), hChunk), 0x6b), hLen)
		b = append(get(get(b, hDst), hLen), 0x6a)
		b = append(get(get(b, hSrc), hLen), 0x6a)
		b = get(b, hChunk)
		b = p.appendBulkInstr(b, h)
	} else {
		b = get(get(get(b, hDst), hSrc), hChunk)
		b = p.appendBulkInstr(b, h)
		// dst += chunk; src += chunk (not a fill's value); len -= chunk
		b = set(append(get(get(b, hDst), hChunk), 0x6a), hDst)
		if h.op != 11 {
			b = set(append(get(get(b, hSrc), hChunk), 0x6a), hSrc)
		}
		b = set(append(get(get(b, hLen), hChunk), 0x6b), hLen)
	}
	// fuel -= chunk >> interruptBulkShift; and yield if spent, as a check does
	b = wasmAppendLEB(append(b, 0x23), p.fuel())
	b = append(get(b, hChunk), 0xad, 0x42, interruptBulkShift, 0x88, 0x7d, 0x24)
	b = wasmAppendLEB(b, p.fuel())
	b = wasmAppendLEB(append(b, 0x23), p.fuel())
	b = wasmAppendLEB(append(b, 0x42, 0x00, 0x57, 0x04, 0x40, 0x10), p.yield())
	b = wasmAppendSLEB(append(b, 0x42), interruptFuel)
	b = wasmAppendLEB(append(b, 0x24), p.fuel())
	b = append(b, 0x0b)
	// br_if 0 while len != 0
	b = append(get(b, hLen), 0x0d, 0x00)
	return append(b, 0x0b) // end loop
}

// appendBulkInstr appends helper h's instruction itself.
func (p *interruptPlan) appendBulkInstr(b []byte, h bulkHelper) []byte {
	b = wasmAppendLEB(append(b, 0xfc), uint32(h.op))
	b = wasmAppendLEB(b, h.a)
	if h.op != 11 {
		b = wasmAppendLEB(b, h.b)
	}
	return b
}
