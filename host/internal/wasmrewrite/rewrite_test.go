package wasmrewrite

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host/internal/asm"
	"github.com/hangar-dev/hangar/host/internal/childtest"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// Test modules are assembled byte by byte, in the binary format (package asm).

// asmMemory is a memory section of one page: only a module with a memory can be instrumented
// (a plugin's input and output go through one).
var asmMemory = asm.Section(5, asm.Vec([]byte{0, 1}))

// asmCheck is the check Instrument inserts, written out for the tests, with the fuel
// at global fuel, the yield import at function yield, and the weight it charges.
func asmCheck(fuel, yield uint64, weight int64) []byte {
	f := asm.ULEB(fuel)
	return asm.Cat(
		[]byte{0x23}, f, []byte{0x42}, asm.SLEB(weight), []byte{0x7d, 0x24}, f, // fuel -= weight
		[]byte{0x23}, f, []byte{0x42, 0x00, 0x57, 0x04, 0x40}, // if fuel <= 0
		[]byte{0x10}, asm.ULEB(yield), // call $yield
		[]byte{0x42}, asm.SLEB(interruptFuel), []byte{0x24}, f, []byte{0x0b}, // refill
	)
}

// asmYieldImport is the import Instrument adds, of type index typ.
func asmYieldImport(typ byte) []byte {
	return asm.Cat(asm.Name(YieldModule), asm.Name(YieldName), []byte{0, typ})
}

// newYieldRuntime returns a wazero runtime with the module an instrumented module imports, whose
// yield does what YieldName asks of a runner: it ends the call (a panic, which wazero makes the
// call's error) once the call's context is done or its deadline has passed, reading the clock
// itself.
func newYieldRuntime(t testing.TB, cfg wazero.RuntimeConfig) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	_, err := rt.NewHostModuleBuilder(YieldModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, _ []uint64) {
			if err := ctx.Err(); err != nil {
				panic(err)
			}
			if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
				panic(context.DeadlineExceeded)
			}
		}), nil, nil).Export(YieldName).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	return rt
}

// asmSpinModule returns a module exporting spin (an infinite `loop br 0 end`), sum(n) (1+...+n
// in a loop, n >= 1) and countdown(n) (7, after a loop with a parameter, typed by index).
func asmSpinModule() []byte {
	return asm.Module(
		asm.Section(1, asm.Vec([]byte{0x60, 0, 0}, []byte{0x60, 1, 0x7f, 1, 0x7f})),
		asm.Section(3, asm.Vec([]byte{0}, []byte{1}, []byte{1})),
		asmMemory,
		asm.Section(7, asm.Vec(asm.Export("spin", 0, 0), asm.Export("sum", 0, 1), asm.Export("countdown", 0, 2))),
		asm.Section(10, asm.Vec(
			asm.Body(asm.Vec(), asmSpinBody),
			asm.Body(asm.Vec([]byte{1, 0x7f}), asmSumBody),
			asm.Body(asm.Vec(), asmCountdownBody),
		)),
	)
}

// Bodies of asmSpinModule, without local declarations.
var (
	// loop br 0 end end
	asmSpinBody = []byte{0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b}
	// loop  acc += n; n--; br_if n  end; acc
	asmSumBody = []byte{0x03, 0x40, 0x20, 0x01, 0x20, 0x00, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x41, 0x01,
		0x6b, 0x22, 0x00, 0x0d, 0x00, 0x0b, 0x20, 0x01, 0x0b}
	// n; loop (type 1: i32 -> i32)  1; sub; tee n; n; br_if 0  end; 7; add
	asmCountdownBody = []byte{0x20, 0x00, 0x03, 0x01, 0x41, 0x01, 0x6b, 0x22, 0x00, 0x20, 0x00, 0x0d,
		0x00, 0x0b, 0x41, 0x07, 0x6a, 0x0b}
)

// asmRecModule returns a module exporting rec, which calls itself forever with return_call.
func asmRecModule() []byte {
	return asm.Module(
		asm.Section(1, asm.Vec([]byte{0x60, 0, 0})),
		asm.Section(3, asm.Vec([]byte{0})),
		asmMemory,
		asm.Section(7, asm.Vec(asm.Export("rec", 0, 0))),
		asm.Section(10, asm.Vec(asm.Body(asm.Vec(), []byte{0x12, 0x00, 0x0b}))),
	)
}

// asmProviderModule returns a module exporting an immutable i32 global "g" = 42, to be
// instantiated as "env" for asmSinkModule.
func asmProviderModule() []byte {
	return asm.Module(
		asm.Section(6, asm.Vec([]byte{0x7f, 0x00, 0x41, 42, 0x0b})),
		asm.Section(7, asm.Vec(asm.Export("g", 3, 0))),
	)
}

// asmSinkModule returns a module whose function run uses an instruction of nearly every
// immediate kind Instrument decodes (core 2.0, SIMD, threads), with loops in blocks,
// ifs and elses, and returns a value that depends on them all. It imports the global env.g,
// defines one global, and has two functions and two loops: four checks. Its features are
// api.CoreFeaturesV2 and experimental.CoreFeaturesThreads.
func asmSinkModule() []byte {
	add := []byte{0x20, 0x00, 0x6a, 0x21, 0x00} // local.get 0; i32.add; local.set 0
	f32 := binary.LittleEndian.AppendUint32([]byte{0x43}, math.Float32bits(2.5))
	f64 := binary.LittleEndian.AppendUint64([]byte{0x44}, math.Float64bits(3.75))
	v128 := func(a, b, c, d uint32) []byte {
		out := []byte{0xfd, 0x0c}
		for _, v := range []uint32{a, b, c, d} {
			out = binary.LittleEndian.AppendUint32(out, v)
		}
		return out
	}
	identity := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	run := asm.Cat(
		asm.I32(-100000), []byte{0x21, 0x00},
		asm.I64(-5000000000), []byte{0xa7}, add, // i32.wrap_i64
		f32, []byte{0xa8}, add, // i32.trunc_f32_s
		f64, []byte{0xfc, 0x02}, add, // i32.trunc_sat_f64_s
		[]byte{0x23, 0x00, 0x23, 0x01, 0x6a}, add, // imported + defined global
		[]byte{0x23, 0x01}, asm.I32(1), []byte{0x6a, 0x24, 0x01}, // global.set
		asm.I32(0), asm.I32(0x01020304), []byte{0x36, 0x02, 0xc8, 0x01}, // i32.store offset=200
		asm.I32(0), []byte{0x28, 0x02, 0xc8, 0x01}, add, // i32.load offset=200
		asm.I32(8), asm.I64(7), []byte{0x37, 0x03, 0x08}, // i64.store offset=8
		asm.I32(8), []byte{0x29, 0x03, 0x08, 0xa7}, add, // i64.load offset=8
		asm.I32(200), []byte{0x2d, 0x00, 0x00}, add, // i32.load8_u
		[]byte{0x3f, 0x00}, add, // memory.size
		asm.I32(300), asm.I32(0), asm.I32(4), []byte{0xfc, 0x08, 0x00, 0x00}, // memory.init 0 0
		[]byte{0xfc, 0x09, 0x00},                                               // data.drop 0
		asm.I32(400), asm.I32(300), asm.I32(4), []byte{0xfc, 0x0a, 0x00, 0x00}, // memory.copy
		asm.I32(500), asm.I32(7), asm.I32(4), []byte{0xfc, 0x0b, 0x00}, // memory.fill
		asm.I32(400), []byte{0x2d, 0x00, 0x00}, add,
		asm.I32(503), []byte{0x2d, 0x00, 0x00}, add,
		asm.I32(2), asm.I32(0), []byte{0x11, 0x01, 0x00}, add, // call_indirect type 1 table 0
		[]byte{0xd0, 0x70, 0xd1}, add, // ref.null func; ref.is_null
		asm.I32(1), []byte{0xd2, 0x01, 0x26, 0x00}, // ref.func 1; table.set 0
		asm.I32(1), []byte{0x25, 0x00, 0xd1}, add, // table.get 0
		[]byte{0xfc, 0x10, 0x00}, add, // table.size 0
		[]byte{0xd0, 0x70}, asm.I32(1), []byte{0xfc, 0x0f, 0x00}, add, // table.grow 0
		asm.I32(2), []byte{0xd0, 0x70}, asm.I32(1), []byte{0xfc, 0x11, 0x00}, // table.fill 0
		asm.I32(10), asm.I32(20), asm.I32(0), []byte{0x1c, 0x01, 0x7f}, add, // select (result i32)
		asm.I32(11), asm.I32(21), asm.I32(1), []byte{0x1b}, add, // select
		// block block block  br_table 0 1 2 (l0 & 3)  end +1000 end +2000 end
		[]byte{0x02, 0x40, 0x02, 0x40, 0x02, 0x40, 0x20, 0x00}, asm.I32(3),
		[]byte{0x71, 0x0e, 0x02, 0x00, 0x01, 0x02, 0x0b},
		asm.I32(1000), add, []byte{0x0b},
		asm.I32(2000), add, []byte{0x0b},
		// loop (result i32)  l1++; br_if (l1 < 10)  l1  end
		[]byte{0x03, 0x7f, 0x20, 0x01}, asm.I32(1), []byte{0x6a, 0x22, 0x01}, asm.I32(10),
		[]byte{0x48, 0x0d, 0x00, 0x20, 0x01, 0x0b}, add,
		// if (result i32)  l1 = 0; block loop l1++; br_if 1 (l1 >= 5); br 0 end end; l1  else -1 end
		[]byte{0x20, 0x01, 0x04, 0x7f}, asm.I32(0), []byte{0x21, 0x01, 0x02, 0x40, 0x03, 0x40, 0x20, 0x01},
		asm.I32(1), []byte{0x6a, 0x22, 0x01}, asm.I32(5),
		[]byte{0x4e, 0x0d, 0x01, 0x0c, 0x00, 0x0b, 0x0b, 0x20, 0x01, 0x05}, asm.I32(-1), []byte{0x0b}, add,
		asm.I32(0x80), []byte{0xc0}, add, // i32.extend8_s
		asm.I32(4), []byte{0x10, 0x01}, add, // call 1
		v128(1, 2, 3, 4), v128(10, 20, 30, 40), []byte{0xfd, 0xae, 0x01, 0x21, 0x03}, // i32x4.add
		[]byte{0x20, 0x03, 0xfd, 0x1b, 0x02}, add, // i32x4.extract_lane 2
		[]byte{0x20, 0x03, 0x20, 0x03, 0xfd, 0x0d}, identity, []byte{0xfd, 0x1b, 0x00}, add, // shuffle
		asm.I32(600), []byte{0x20, 0x03, 0xfd, 0x0b, 0x04, 0x00}, // v128.store
		asm.I32(600), []byte{0xfd, 0x00, 0x04, 0x00, 0xfd, 0x1b, 0x03}, add, // v128.load
		asm.I32(600), []byte{0x20, 0x03, 0xfd, 0x56, 0x02, 0x00, 0x01, 0xfd, 0x1b, 0x01}, add, // load32_lane
		asm.I32(700), asm.I32(5), []byte{0xfe, 0x1e, 0x02, 0x00, 0x1a}, // i32.atomic.rmw.add; drop
		[]byte{0xfe, 0x03, 0x00},                          // atomic.fence
		asm.I32(700), []byte{0xfe, 0x10, 0x02, 0x00}, add, // i32.atomic.load
		asm.I32(0), []byte{0x40, 0x00}, add, // memory.grow
		[]byte{0x20, 0x00, 0x0b},
	)
	return asm.Module(
		asm.Section(1, asm.Vec([]byte{0x60, 0, 1, 0x7f}, []byte{0x60, 1, 0x7f, 1, 0x7f})),
		asm.Custom(".debug_info", []byte("dropped")),
		asm.Section(2, asm.Vec(asm.Cat(asm.Name("env"), asm.Name("g"), []byte{0x03, 0x7f, 0x00}))),
		asm.Section(3, asm.Vec([]byte{0}, []byte{1})),
		asm.Section(4, asm.Vec([]byte{0x70, 0x00, 0x02})),          // funcref table, min 2
		asm.Section(5, asm.Vec([]byte{0x03, 0x01, 0x01})),          // shared memory 1..1
		asm.Section(6, asm.Vec([]byte{0x7f, 0x01, 0x41, 5, 0x0b})), // mutable i32 = 5
		asm.Section(7, asm.Vec(asm.Export("run", 0, 0))),
		asm.Section(9, asm.Vec([]byte{0x00, 0x41, 0x00, 0x0b, 0x01, 0x01})), // table 0 at 0: func 1
		asm.Section(12, []byte{1}),
		asm.Custom("hangar.kept", []byte("kept")),
		asm.Section(10, asm.Vec(
			asm.Body(asm.Vec([]byte{2, 0x7f}, []byte{1, 0x7e}, []byte{1, 0x7b}), run),
			asm.Body(asm.Vec(), []byte{0x20, 0x00, 0x41, 0x03, 0x6c, 0x0b}), // l0 * 3
		)),
		asm.Section(11, asm.Vec(asm.Cat([]byte{0x01}, asm.Name("abcd")))), // passive "abcd"
		asm.Custom(".debug_line", []byte("dropped")),
	)
}

// asmSinkFeatures are the features asmSinkModule needs.
const asmSinkFeatures = api.CoreFeaturesV2 | experimental.CoreFeaturesThreads

// mustInstrument instruments a module or fails the test.
func mustInstrument(t testing.TB, wasm []byte) []byte {
	t.Helper()
	out, err := Instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wasmSectionIDs returns the ids of a module's sections, and the names of its custom sections.
func wasmSectionIDs(t testing.TB, wasm []byte) (ids []byte, customs []string) {
	t.Helper()
	r := wasmReader{b: wasm, off: 8}
	for r.off < len(wasm) && r.err == nil {
		id := r.byte()
		size := int(r.u32())
		end := r.off + size
		if id == 0 {
			customs = append(customs, string(r.rawName()))
		}
		ids = append(ids, id)
		r.off = end
	}
	if r.err != nil || r.off != len(wasm) {
		t.Fatalf("section list: %v at %d", r.err, r.off)
	}
	return ids, customs
}

// wasmExports returns a module's exports as "name/kind/index".
func wasmExports(t testing.TB, wasm []byte) []string {
	t.Helper()
	p := &interruptPlan{in: wasm}
	r := wasmReader{b: wasm, off: 8}
	for r.off < len(wasm) && r.err == nil {
		id := r.byte()
		size := int(r.u32())
		s := wasmSection{id: id, payload: r.off, end: r.off + size}
		r.off = s.end
		if id != wasmSecExport {
			continue
		}
		if err := p.readCount(&s); err != nil {
			t.Fatal(err)
		}
		er := wasmReader{b: wasm[:s.end], off: s.rest}
		var out []string
		for n := s.count; n > 0; n-- {
			out = append(out, fmt.Sprintf("%s/%d/%d", er.rawName(), er.byte(), er.u32()))
		}
		if er.err != nil {
			t.Fatal(er.err)
		}
		return out
	}
	return nil
}

func TestInstrumentInterruptsGolden(t *testing.T) {
	got := mustInstrument(t, asmSpinModule())
	// Type 0 is [] -> []: the yield import (function 0) takes it, and the module's functions move
	// up by one. Each function's check weighs its body after the locals; each loop's, its body.
	// A body that begins with a loop has only the loop's check, weighing the rest of the body.
	// The two new globals follow the module's none: fuel 0, scratch 1.
	body := func(locals []byte, code []byte, loopAt int, loopWeight int64) []byte {
		if loopAt == 2 {
			return asm.Body(locals, code[:loopAt], asmCheck(0, 0, int64(len(code)-loopAt)), code[loopAt:])
		}
		return asm.Body(locals, asmCheck(0, 0, int64(len(code))), code[:loopAt], asmCheck(0, 0, loopWeight), code[loopAt:])
	}
	want := asm.Module(
		asm.Section(1, asm.Vec([]byte{0x60, 0, 0}, []byte{0x60, 1, 0x7f, 1, 0x7f})),
		asm.Section(2, asm.Vec(asmYieldImport(0))),
		asm.Section(3, asm.Vec([]byte{0}, []byte{1}, []byte{1})),
		asmMemory,
		asm.Section(6, asm.Vec(
			asm.Cat([]byte{0x7e, 0x01, 0x42}, asm.SLEB(interruptFuel), []byte{0x0b}),
			[]byte{0x7f, 0x01, 0x41, 0x00, 0x0b},
		)),
		asm.Section(7, asm.Vec(asm.Export("spin", 0, 1), asm.Export("sum", 0, 2), asm.Export("countdown", 0, 3))),
		asm.Section(10, asm.Vec(
			body(asm.Vec(), asmSpinBody, 2, 2),
			body(asm.Vec([]byte{1, 0x7f}), asmSumBody, 2, 16),
			body(asm.Vec(), asmCountdownBody, 4, 9),
		)),
	)
	if !bytes.Equal(got, want) {
		t.Errorf("got\n%x\nwant\n%x", got, want)
	}
	if cap(got) != len(got) {
		t.Errorf("output capacity %d, length %d: not sized up front", cap(got), len(got))
	}
}

// TestInstrumentInterruptsRenumbers checks that every function index the module holds moves up
// by one, past the yield import, and keeps its encoded length where it can: in code (call,
// return_call, ref.func), exports, element segments (indices and expressions), global
// initializers, and the start function (exported); indices of imported functions stay. A type
// [] -> [] is appended when the module has none.
func TestInstrumentInterruptsRenumbers(t *testing.T) {
	in := asm.Module(
		asm.Section(1, asm.Vec([]byte{0x60, 1, 0x7f, 0})),                                    // type 0: [i32] -> []
		asm.Section(2, asm.Vec(asm.Cat(asm.Name("env"), asm.Name("f"), []byte{0x00, 0x00}))), // function 0, imported
		asm.Section(3, asm.Vec([]byte{0}, []byte{0})),                                        // functions 1, 2
		asm.Section(4, asm.Vec([]byte{0x70, 0x00, 0x04})),
		asmMemory,
		asm.Section(6, asm.Vec([]byte{0x70, 0x00, 0xd2, 0x02, 0x0b})), // funcref global = ref.func 2
		asm.Section(7, asm.Vec(asm.Export("one", 0, 1), asm.Export("imported", 0, 0))),
		asm.Section(9, asm.Vec(
			asm.Cat([]byte{0x00}, asm.I32(0), []byte{0x0b}, asm.Vec([]byte{0x00}, []byte{0x82, 0x80, 0x00})), // 0, 2 (padded)
			asm.Cat([]byte{0x05, 0x70}, asm.Vec([]byte{0xd2, 0x01, 0x0b})),                                   // ref.func 1
		)),
		asm.Section(10, asm.Vec(
			asm.Body(asm.Vec(), []byte{0x41, 0x00, 0x10, 0x00, 0x41, 0x00, 0x10, 0x82, 0x80, 0x80, 0x80, 0x00, 0x0b}), // call 0; call 2 (5 bytes)
			asm.Body(asm.Vec(), []byte{0xd2, 0x01, 0x1a, 0x0b}),                                                       // ref.func 1; drop
		)),
	)
	got := mustInstrument(t, in)
	// Types: yield gets a new type 1. Functions: 0 imported, 1 yield, 2 and 3 the module's.
	want := asm.Module(
		asm.Section(1, asm.Vec([]byte{0x60, 1, 0x7f, 0}, []byte{0x60, 0, 0})),
		asm.Section(2, asm.Vec(asm.Cat(asm.Name("env"), asm.Name("f"), []byte{0x00, 0x00}), asmYieldImport(1))),
		asm.Section(3, asm.Vec([]byte{0}, []byte{0})),
		asm.Section(4, asm.Vec([]byte{0x70, 0x00, 0x04})),
		asmMemory,
		asm.Section(6, asm.Vec([]byte{0x70, 0x00, 0xd2, 0x03, 0x0b},
			asm.Cat([]byte{0x7e, 0x01, 0x42}, asm.SLEB(interruptFuel), []byte{0x0b}),
			[]byte{0x7f, 0x01, 0x41, 0x00, 0x0b})),
		asm.Section(7, asm.Vec(asm.Export("one", 0, 2), asm.Export("imported", 0, 0))),
		asm.Section(9, asm.Vec(
			asm.Cat([]byte{0x00}, asm.I32(0), []byte{0x0b}, asm.Vec([]byte{0x00}, []byte{0x83, 0x80, 0x00})),
			asm.Cat([]byte{0x05, 0x70}, asm.Vec([]byte{0xd2, 0x02, 0x0b})),
		)),
		asm.Section(10, asm.Vec(
			asm.Body(asm.Vec(), asmCheck(1, 1, 13), []byte{0x41, 0x00, 0x10, 0x00, 0x41, 0x00, 0x10, 0x83, 0x80, 0x80, 0x80, 0x00, 0x0b}),
			asm.Body(asm.Vec(), asmCheck(1, 1, 4), []byte{0xd2, 0x02, 0x1a, 0x0b}),
		)),
	)
	if !bytes.Equal(got, want) {
		t.Errorf("got\n%x\nwant\n%x", got, want)
	}
	compileInterrupted(t, got, api.CoreFeaturesV2)

	// A start function is exported, renumbered, and its section dropped; an imported one keeps
	// its index.
	for _, tt := range []struct {
		start, want uint64
	}{{1, 2}, {0, 0}} {
		in := asm.Module(
			asm.Section(1, asm.Vec([]byte{0x60, 0, 0})),
			asm.Section(2, asm.Vec(asm.Cat(asm.Name("env"), asm.Name("f"), []byte{0x00, 0x00}))),
			asm.Section(3, asm.Vec([]byte{0})),
			asmMemory,
			asm.Section(8, asm.PadULEB(tt.start, 2)),
			asm.Section(10, asm.Vec(asm.Body(asm.Vec(), []byte{0x0b}))),
		)
		got := mustInstrument(t, in)
		if exports := wasmExports(t, got); !slices.Equal(exports, []string{fmt.Sprintf("%s/0/%d", StartExport, tt.want)}) {
			t.Errorf("start %d: exports %v, want %s of %d", tt.start, exports, StartExport, tt.want)
		}
		if ids, _ := wasmSectionIDs(t, got); bytes.IndexByte(ids, 8) >= 0 {
			t.Errorf("start %d: the start section is still there: %v", tt.start, ids)
		}
		compileInterrupted(t, got, api.CoreFeaturesV2)
	}
}

// TestInstrumentInterruptsLEBGrowth checks that a function index whose new value needs one more
// byte (127 -> 128) grows its body, its section and the module consistently.
func TestInstrumentInterruptsLEBGrowth(t *testing.T) {
	funcs := make([][]byte, 128)
	bodies := make([][]byte, 128)
	for i := range funcs {
		funcs[i] = []byte{0}
		bodies[i] = asm.Body(asm.Vec(), []byte{0x0b})
	}
	bodies[0] = asm.Body(asm.Vec(), []byte{0x10, 0x7f, 0x0b}) // call 127
	in := asm.Module(
		asm.Section(1, asm.Vec([]byte{0x60, 0, 0})),
		asm.Section(3, asm.Vec(funcs...)),
		asmMemory,
		asm.Section(7, asm.Vec(asm.Export("last", 0, 127))),
		asm.Section(10, asm.Vec(bodies...)),
	)
	out := mustInstrument(t, in)
	if want := asm.Body(asm.Vec(), asmCheck(0, 0, 3), []byte{0x10, 0x80, 0x01, 0x0b}); !bytes.Contains(out, want) {
		t.Errorf("call 127 not renumbered to a two-byte 128: %x", out)
	}
	if want := asm.Export("last", 0, 128); !bytes.Contains(out, want) {
		t.Errorf("export of 127 not renumbered to 128: %x", out)
	}
	compileInterrupted(t, out, api.CoreFeaturesV2)
}

// TestInstrumentInterruptsSections checks where the new sections go and which custom sections are
// dropped.
func TestInstrumentInterruptsSections(t *testing.T) {
	typ := asm.Section(1, asm.Vec([]byte{0x60, 0, 0}))
	fn := asm.Section(3, asm.Vec([]byte{0}))
	code := asm.Section(10, asm.Vec(asm.Body(asm.Vec(), []byte{0x0b})))
	importMem := asm.Section(2, asm.Vec(asm.Cat(asm.Name("env"), asm.Name("memory"), []byte{0x02, 0x00, 0x01})))
	tests := []struct {
		name    string
		in      []byte
		ids     []byte
		customs []string
	}{
		// A type [] -> [] and the yield import are added, and the fuel's global section.
		{"only memory", asm.Module(asmMemory), []byte{1, 2, 5, 6}, nil},
		{"only custom", asm.Module(asm.Custom("producers", nil), asmMemory), []byte{0, 1, 2, 5, 6}, []string{"producers"}},
		// Custom sections stay in place; "name" and ".debug*" go, since indices and offsets change.
		{"before code", asm.Module(typ, fn, asmMemory, asm.Custom("a", nil), code, asm.Custom(".debug_str", nil), asm.Custom("name", nil)),
			[]byte{1, 2, 3, 5, 0, 6, 10}, []string{"a"}},
		// The start section is dropped: its function is exported instead.
		{"after memory, start dropped", asm.Module(typ, fn, asmMemory, asm.Section(8, []byte{0}), code),
			[]byte{1, 2, 3, 5, 6, 7, 10}, nil},
		{"export exists", asm.Module(typ, fn, asmMemory, asm.Section(7, asm.Vec(asm.Export("f", 0, 0))), code),
			[]byte{1, 2, 3, 5, 6, 7, 10}, nil},
		{"global exists, memory imported", asm.Module(importMem, asm.Section(6, asm.Vec([]byte{0x7e, 0, 0x42, 0, 0x0b})),
			asm.Custom(".debugger", nil), asm.Custom("x.debug", []byte("kept"))), []byte{1, 2, 6, 0}, []string{"x.debug"}},
		{"sink", asmSinkModule(), []byte{1, 2, 3, 4, 5, 6, 7, 9, 12, 0, 10, 11}, []string{"hangar.kept"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustInstrument(t, tt.in)
			ids, customs := wasmSectionIDs(t, out)
			if !bytes.Equal(ids, tt.ids) || !slices.Equal(customs, tt.customs) {
				t.Errorf("got sections %v, customs %q; want %v, %q", ids, customs, tt.ids, tt.customs)
			}
			if cap(out) != len(out) {
				t.Errorf("output capacity %d, length %d", cap(out), len(out))
			}
			compileInterrupted(t, out, asmSinkFeatures)
		})
	}
}

// compileInterrupted compiles a module with a plain wazero runtime, failing the test on an error.
func compileInterrupted(t testing.TB, wasm []byte, features api.CoreFeatures) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(features))
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, wasm); err != nil {
		t.Fatalf("compile the instrumented module: %v", err)
	}
}

// countInserts counts the plan's checks and bulk instructions.
func (p *interruptPlan) countInserts() (checks, bulk int) {
	for _, e := range p.edits {
		switch e.kind {
		case editCheck:
			checks++
		case editBulkLen:
			bulk++
		}
	}
	return checks, bulk
}

// TestInstrumentInterruptsStopsSpin is the real thing: a guest in `for {}`, run without
// WithCloseOnContextDone, stops at its deadline, and when its context is cancelled. It runs in a
// child process (childtest.Run): a guest that never yields would freeze this one.
func TestInstrumentInterruptsStopsSpin(t *testing.T) {
	if childtest.Run(t, 2*time.Minute) {
		return
	}
	rt := newYieldRuntime(t, wazero.NewRuntimeConfig().WithCloseOnContextDone(false))
	ctx := context.Background()
	mod, err := rt.Instantiate(ctx, mustInstrument(t, asmSpinModule()))
	if err != nil {
		t.Fatal(err)
	}

	// The instrumentation does not change what a function computes.
	for _, tt := range []struct {
		fn        string
		arg, want uint64
	}{{"sum", 1000, 500500}, {"sum", 1, 1}, {"countdown", 1000, 7}} {
		res, err := mod.ExportedFunction(tt.fn).Call(ctx, tt.arg)
		if err != nil || res[0] != tt.want {
			t.Errorf("%s(%d) = %v, %v; want %d", tt.fn, tt.arg, res, err, tt.want)
		}
	}

	// A deadline: nothing else has to run for the guest to see it.
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = mod.ExportedFunction("spin").Call(dctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("spin with a deadline returned %v, want %v", err, context.DeadlineExceeded)
	}
	t.Logf("spin stopped %v after it started, for a 50ms deadline", time.Since(start))

	// A cancel, from another goroutine.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := mod.ExportedFunction("spin").Call(cctx)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("spin returned before it was cancelled: %v", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("spin returned %v, want %v", err, context.Canceled)
	}

	// The module is still usable after a stopped call.
	if res, err := mod.ExportedFunction("sum").Call(ctx, 3); err != nil || res[0] != 6 {
		t.Errorf("sum(3) after the stops = %v, %v", res, err)
	}
}

// TestInstrumentInterruptsStopsReturnCall covers a guest that never loops but calls itself
// forever by tail call. wazero 1.9 does not implement tail calls, so only the instrumentation
// itself is checked when it refuses the module.
func TestInstrumentInterruptsStopsReturnCall(t *testing.T) {
	out := mustInstrument(t, asmRecModule())
	// The function moves to index 1, past the yield import, and so does the tail call.
	if want := asm.Cat(asm.Body(asm.Vec(), asmCheck(0, 0, 3), []byte{0x12, 0x01, 0x0b})); !bytes.Contains(out, want) {
		t.Errorf("rec body not instrumented: %x", out)
	}
	rt := newYieldRuntime(t, wazero.NewRuntimeConfig().WithCloseOnContextDone(false))
	ctx := context.Background()
	mod, err := rt.Instantiate(ctx, out)
	if err != nil {
		// wazero 1.9 rejects the instruction itself (0x12, return_call): the module cannot run,
		// so the check above is all there is to test. Any other refusal is a failure; a wazero
		// that accepts tail calls runs the rest.
		if !strings.Contains(err.Error(), "invalid instruction 0x12") {
			t.Fatalf("instantiate the instrumented module: %v", err)
		}
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := mod.ExportedFunction("rec").Call(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("rec returned %v, want %v", err, context.DeadlineExceeded)
	}
}

// TestInstrumentInterruptsSink runs a function using most instruction kinds before and after
// instrumentation: same result. (TestInstrumentInterruptsStopsSpin, and the host's
// TestInstrumentInterruptsStopsGoLoop on a real Go plugin, show the checks stopping loops.)
func TestInstrumentInterruptsSink(t *testing.T) {
	in := asmSinkModule()
	p, err := planInterrupts(in)
	if err != nil {
		t.Fatal(err)
	}
	if checks, bulk := p.countInserts(); checks != 4 || bulk != 1 || len(p.helpers) != 3 {
		t.Errorf("%d checks, %d table bulk instructions, %d helpers; want 4 (2 functions, 2 loops), 1 (table.fill) and 3 (memory.init, copy, fill)",
			checks, bulk, len(p.helpers))
	}
	if p.index != 2 {
		t.Errorf("new global index %d, want 2 (1 imported, 1 defined)", p.index)
	}
	out := mustInstrument(t, in)
	ctx := context.Background()
	rt := newYieldRuntime(t, wazero.NewRuntimeConfig().WithCoreFeatures(asmSinkFeatures))
	if _, err := rt.InstantiateWithConfig(ctx, asmProviderModule(), wazero.NewModuleConfig().WithName("env")); err != nil {
		t.Fatal(err)
	}
	var results [2]uint64
	for i, wasm := range [][]byte{in, out} {
		mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(fmt.Sprint("sink", i)))
		if err != nil {
			t.Fatalf("instantiate module %d: %v", i, err)
		}
		res, err := mod.ExportedFunction("run").Call(ctx)
		if err != nil {
			t.Fatalf("run module %d: %v", i, err)
		}
		results[i] = res[0]
	}
	if results[0] != results[1] {
		t.Errorf("run returned %d before instrumentation, %d after", int32(results[0]), int32(results[1]))
	}
}

// TestInstrumentInterruptsDecoding checks, one instruction at a time, that Instrument
// finds the end of each immediate: each case's instruction is followed by a loop, whose check
// lands right after the loop's block type only if the instruction was decoded to its end.
func TestInstrumentInterruptsDecoding(t *testing.T) {
	tests := []struct {
		name  string
		instr []byte
		// want is the instruction once instrumented, when it changes: a function index moves up
		// by one past the yield import, in as many bytes.
		want []byte
	}{
		{"i32.const min", asm.I32(math.MinInt32), nil},
		{"i64.const min", asm.I64(math.MinInt64), nil},
		{"f32.const of 0x03 bytes", []byte{0x43, 0x03, 0x03, 0x03, 0x03, 0x1a}, nil},
		{"f64.const of 0x03 bytes", []byte{0x44, 3, 3, 3, 3, 3, 3, 3, 3, 0x1a}, nil},
		{"br_table", []byte{0x02, 0x40, 0x41, 0, 0x0e, 3, 0, 0, 0x80, 0, 0, 0x0b}, nil},
		{"block type index", []byte{0x02, 0x80, 0x00, 0x0b}, nil},
		{"call_indirect", []byte{0x41, 0, 0x11, 0x83, 0x01, 0x00}, nil},
		{"return_call_indirect", []byte{0x41, 0, 0x13, 0x00, 0x81, 0x00}, nil},
		{"return_call", []byte{0x12, 0x85, 0x80, 0x00}, []byte{0x12, 0x86, 0x80, 0x00}},
		{"typed select", []byte{0x41, 0, 0x41, 0, 0x41, 0, 0x1c, 2, 0x7f, 0x7e, 0x1a}, nil},
		{"memarg with memory index", []byte{0x41, 0, 0x28, 0x42, 0x01, 0x80, 0x01, 0x1a}, nil},
		{"memarg 64-bit offset", []byte{0x41, 0, 0x29, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x1a}, nil},
		{"memory.grow index 1", []byte{0x41, 0, 0x40, 0x01, 0x1a}, nil},
		{"ref.null extern", []byte{0xd0, 0x6f, 0x1a}, nil},
		{"ref.func", []byte{0xd2, 0x83, 0x02, 0x1a}, []byte{0xd2, 0x84, 0x02, 0x1a}},
		{"call", []byte{0x10, 0x00}, []byte{0x10, 0x01}},
		{"table.get/set", []byte{0x41, 0, 0x25, 0x81, 0x01, 0x1a}, nil},
		{"i64.trunc_sat_f64_u", []byte{0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0xfc, 0x07, 0x1a}, nil},
		// Up to 64 KiB as it is, beyond through a helper (function 2, after yield and the
		// module's one) of the type appended for it (1).
		{"memory.init", []byte{0xfc, 0x08, 0x81, 0x01, 0x00}, asmBulkCall([]byte{0xfc, 0x08, 0x81, 0x01, 0x00}, 1, 2)},
		{"table.copy", []byte{0xfc, 0x0e, 0x00, 0x83, 0x01}, nil},
		{"table.size", []byte{0xfc, 0x10, 0x83, 0x01, 0x1a}, nil},
		{"v128.const", asm.Cat([]byte{0xfd, 0x0c}, bytes.Repeat([]byte{0x03}, 16), []byte{0x1a}), nil},
		{"i8x16.shuffle", asm.Cat([]byte{0xfd, 0x0d}, bytes.Repeat([]byte{0x03}, 16), []byte{0x1a}), nil},
		{"i64x2.replace_lane", []byte{0xfd, 0x1e, 0x01}, nil},
		{"v128.load64_lane", []byte{0xfd, 0x57, 0x03, 0x80, 0x01, 0x01}, nil},
		{"v128.load64_zero", []byte{0xfd, 0x5d, 0x03, 0x10}, nil},
		{"f64x2.promote_low_f32x4 (2-byte opcode)", []byte{0xfd, 0x5f}, nil},
		{"i64x2.extmul_high_i32x4_u", []byte{0xfd, 0xdf, 0x01}, nil},
		{"memory.atomic.wait64", []byte{0xfe, 0x02, 0x03, 0x00, 0x1a}, nil},
		{"atomic.fence", []byte{0xfe, 0x03, 0x00}, nil},
		{"i64.atomic.rmw32.cmpxchg_u", []byte{0xfe, 0x4e, 0x02, 0x84, 0x01, 0x1a}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loop := []byte{0x03, 0x40, 0x01, 0x0b, 0x0b} // loop nop end end
			in := asm.Module(
				asm.Section(1, asm.Vec([]byte{0x60, 0, 0})),
				asm.Section(3, asm.Vec([]byte{0})),
				asmMemory,
				asm.Section(10, asm.Vec(asm.Body(asm.Vec(), tt.instr, loop))),
			)
			p, err := planInterrupts(in)
			if err != nil {
				t.Fatal(err)
			}
			out := mustInstrument(t, in)
			instr := tt.instr
			if tt.want != nil {
				instr = tt.want
			}
			if _, bulk := p.countInserts(); bulk == 1 { // the length is copied before, charged after
				instr = asm.Cat(bulkLen, tt.instr, bulkCharge)
			}
			want := asm.Body(asm.Vec(), asmCheck(0, 0, int64(len(tt.instr)+len(loop))), instr, loop[:2], asmCheck(0, 0, 1), loop[2:])
			if !bytes.Contains(out, want) {
				t.Errorf("got %x, want a body %x", out, want)
			}
		})
	}
}

// asmBulkCall is what the rewrite makes of a memory bulk instruction, in a module with no
// globals of its own (fuel 0, scratch 1), given the index of the type [i32 i32 i32] -> [] and of
// the helper function.
func asmBulkCall(instr []byte, typ, helper uint64) []byte {
	return asm.Cat(
		[]byte{0x24, 0x01, 0x23, 0x01, 0x23, 0x01}, asm.I32(bulkChunk), []byte{0x4d, 0x04}, asm.SLEB(int64(typ)),
		instr, []byte{0x23, 0x00, 0x23, 0x01, 0xad, 0x42, interruptBulkShift, 0x88, 0x7d, 0x24, 0x00},
		[]byte{0x05, 0x10}, asm.ULEB(helper), []byte{0x0b},
	)
}

// bulkLen and bulkCharge are the instructions around a table bulk instruction, in a module with no
// globals of its own (fuel 0, scratch 1).
var (
	bulkLen    = []byte{0x24, 0x01, 0x23, 0x01}
	bulkCharge = []byte{0x23, 0x00, 0x23, 0x01, 0xad, 0x7d, 0x24, 0x00}
)

// TestInstrumentInterruptsErrors checks that bad or unsupported modules are refused with an error
// that says why.
func TestInstrumentInterruptsErrors(t *testing.T) {
	typ := asm.Section(1, asm.Vec([]byte{0x60, 0, 0}))
	fn := asm.Section(3, asm.Vec([]byte{0}))
	withBody := func(code ...[]byte) []byte {
		return asm.Module(typ, fn, asm.Section(10, asm.Vec(asm.Body(asm.Vec(), code...))))
	}
	spin := asmSpinModule()
	importF := asm.Section(2, asm.Vec(asm.Cat(asm.Name("m"), asm.Name("f"), []byte{0, 0})))
	tests := []struct {
		name string
		in   []byte
		is   error
		msg  string
	}{
		{"not wasm", []byte("#!/bin/sh\necho not a module\n"), errMalformed, "magic"},
		{"empty", nil, errMalformed, "magic"},
		{"other version", []byte("\x00asm\x0d\x00\x01\x00"), ErrUnsupported, "version"},
		{"truncated section", spin[:len(spin)-3], errMalformed, "truncated section"},
		{"truncated section size", append(asm.Module(typ), 10, 0x80), errMalformed, "truncated section"},
		{"truncated body", asm.Module(typ, fn, asm.Section(10, []byte{1, 0x10, 0x00, 0x0b})), errMalformed, "function 0: truncated body"},
		{"truncated instruction", withBody([]byte{0x41}), errMalformed, "truncated instruction 0x41"},
		{"truncated f64.const", withBody([]byte{0x44, 0, 0, 0, 0x0b}), errMalformed, "truncated instruction 0x44"},
		{"truncated v128.const", withBody([]byte{0xfd, 0x0c, 0, 0x0b}), errMalformed, "truncated instruction 0xfd"},
		{"truncated memarg lane", withBody([]byte{0xfd, 0x54, 0x00}), errMalformed, "truncated instruction 0xfd"},
		{"truncated locals", asm.Module(typ, fn, asm.Section(10, asm.Vec([]byte{1, 1}))), errMalformed, "function 0: truncated local declarations"},
		{"no end", withBody([]byte{0x01}), errMalformed, "does not end"},
		{"bytes after bodies", asm.Module(typ, fn, asm.Section(10, asm.Vec(asm.Body(asm.Vec(), []byte{0x0b})), []byte{0})), errMalformed, "after the last function body"},
		{"try (exception handling)", withBody([]byte{0x06, 0x40, 0x0b, 0x0b}), ErrUnsupported, "function 0: opcode 0x06"},
		{"unknown opcode in function 1", asm.Module(typ, importF, fn, asm.Section(10, asm.Vec(asm.Body(asm.Vec(), []byte{0x27, 0x0b})))), ErrUnsupported, "function 1: opcode 0x27"},
		{"GC prefix", withBody([]byte{0xfb, 0x00, 0x0b}), ErrUnsupported, "opcode 0xfb"},
		{"call_ref", withBody([]byte{0x14, 0x00, 0x0b}), ErrUnsupported, "opcode 0x14"},
		{"unassigned SIMD opcode", withBody([]byte{0xfd, 0x9a, 0x01, 0x0b}), ErrUnsupported, "opcode 0xfd 0x9a"},
		{"relaxed SIMD", withBody([]byte{0xfd, 0x80, 0x02, 0x0b}), ErrUnsupported, "opcode 0xfd 0x100"},
		{"unknown 0xFC opcode", withBody([]byte{0xfc, 0x12, 0x0b}), ErrUnsupported, "opcode 0xfc 0x12"},
		{"unknown threads opcode", withBody([]byte{0xfe, 0x04, 0x0b}), ErrUnsupported, "opcode 0xfe 0x04"},
		{"GC block type", withBody([]byte{0x02, 0x63, 0x70, 0x0b, 0x0b}), ErrUnsupported, "opcode 0x02"},
		{"GC local", asm.Module(typ, fn, asm.Section(10, asm.Vec(asm.Body(asm.Vec([]byte{1, 0x64, 0x70}), []byte{0x0b})))), ErrUnsupported, "reference type 0x64"},
		{"already exported", asm.Module(typ, fn, asmMemory, asm.Section(7, asm.Vec(asm.Export(StartExport, 0, 0))),
			asm.Section(10, asm.Vec(asm.Body(asm.Vec(), []byte{0x0b})))), errExported, StartExport},
		{"unknown section", asm.Module(asm.Section(14, nil)), errMalformed, "unknown section id 14"},
		{"out of order", asm.Module(fn, typ), errMalformed, "out of order"},
		{"repeated", asm.Module(typ, typ), errMalformed, "out of order or repeated"},
		{"bad import kind", asm.Module(asm.Section(2, asm.Vec(asm.Cat(asm.Name("m"), asm.Name("f"), []byte{9, 0})))), errMalformed, "import kind 9"},
		{"truncated export", asm.Module(asm.Section(7, []byte{2, 1, 'a', 0, 0})), errMalformed, "exports"},
		{"bad custom name", asm.Module(asm.Section(0, []byte{5, 'a'})), errMalformed, "custom section name"},
		// Found by the fuzzer: a code section claiming 118 million bodies in 9 bytes sized the
		// edit list from that count (2.8 GB) and got the fuzz worker killed.
		{"count larger than its section", asm.Module(typ, fn, asm.Section(10, []byte{0xcd, 0xcd, 0xcd, 0x38, 0, 0, 0, 0, 0})), errMalformed, "118712013 entries in 5 bytes"},
		{"type count larger than its section", asm.Module(asm.Section(1, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x60})), errMalformed, "4294967295 entries in 1 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			out, err := Instrument(tt.in)
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("refusing a %d-byte module allocated %d bytes", len(tt.in), grew)
			}
			if err == nil {
				t.Fatalf("got %x, want an error", out)
			}
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got error %q, want one wrapping %q and saying %q", err, tt.is, tt.msg)
			}
		})
	}
}

// FuzzInstrumentInterrupts checks that Instrument never panics, and that when it
// instruments a module wazero compiles, wazero compiles the result too.
func FuzzInstrumentInterrupts(f *testing.F) {
	typ := asm.Section(1, asm.Vec([]byte{0x60, 0, 0}))
	fn := asm.Section(3, asm.Vec([]byte{0}))
	for _, seed := range [][]byte{
		asm.Module(), asmSpinModule(), asmRecModule(), asmProviderModule(), asmSinkModule(), asmBulkModule(),
		asm.Module(typ, fn, asm.Section(10, asm.Vec(asm.Body(asm.Vec(), []byte{0x02, 0x40, 0x03, 0x7f, 0x41, 0x01, 0x0b, 0x1a, 0x0b, 0x0b})))),
		asm.Module(typ, fn, asm.Section(10, asm.Vec(asm.Body(asm.Vec([]byte{3, 0x7f}), []byte{0x41, 0x00, 0x0e, 0x01, 0x00, 0x00, 0x0b})))),
		asm.Module(typ, fn, asm.Section(7, asm.Vec(asm.Export("x", 0, 0))), asm.Section(10, asm.Vec(asm.Body(asm.Vec(), []byte{0x0b})))),
	} {
		f.Add(seed)
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(asmSinkFeatures))
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		out, err := Instrument(in)
		if !bytes.Equal(in, orig) {
			t.Fatal("the input was modified")
		}
		if err != nil {
			for _, known := range []error{errMalformed, ErrUnsupported, ErrInvalid, errExported} {
				if errors.Is(err, known) {
					return
				}
			}
			t.Fatalf("an error of no known class (a size mismatch is a bug): %v", err)
		}
		if cap(out) != len(out) {
			t.Fatalf("output capacity %d, length %d", cap(out), len(out))
		}
		if !wasmCountsPlausible(in) {
			return // wazero would allocate for the counts before it finds them wrong
		}
		cm, err := rt.CompileModule(ctx, in)
		if err != nil {
			return // not a module wazero accepts: nothing to preserve
		}
		cm.Close(ctx)
		cm, err = rt.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("input compiles, instrumented output does not: %v\ninput  %x\noutput %x", err, in, out)
		}
		cm.Close(ctx)
	})
}

// wasmCountsPlausible reports whether each vector section's entry count, and each function's
// local count, is small enough for its bytes. wazero's decoder allocates for the counts it reads
// (make([]T, count)) before it checks them, so a fuzzed count of 2^32 would exhaust memory in
// the compiler, not in the code under test.
func wasmCountsPlausible(wasm []byte) bool {
	r := wasmReader{b: wasm, off: 8}
	for r.off < len(wasm) && r.err == nil {
		id := r.byte()
		size := int(r.u32())
		if r.err != nil || size > len(wasm)-r.off {
			return false
		}
		s := wasmReader{b: wasm[:r.off+size], off: r.off}
		r.off += size
		if id == 0 || id == 8 || id == 12 || size == 0 {
			continue
		}
		n := s.u32()
		if s.err != nil || int(n) > size {
			return false
		}
		for ; id == wasmSecCode && n > 0 && s.err == nil; n-- {
			end := int(s.u32()) + s.off
			if end > len(s.b) {
				return false
			}
			locals := uint64(0)
			for d := s.u32(); d > 0 && s.err == nil; d-- {
				locals += uint64(s.u32())
				s.byte()
			}
			if locals > 1<<16 {
				return false
			}
			s.off = end
		}
	}
	return true
}

// BenchmarkInterruptCheckCost measures the cost of a guest's loop iteration in three modes:
// instrumented (the fuel check at each loop header), plain (no check at all), and plain under
// wazero's WithCloseOnContextDone. The loop is asmSpinModule's sum: 9 instructions an iteration.
func BenchmarkInterruptCheckCost(b *testing.B) {
	const iterations = 100_000_000
	for _, mode := range []struct {
		name                    string
		instrument, closeOnDone bool
	}{
		{"instrumented", true, false},
		{"plain", false, false},
		{"closeOnContextDone", false, true},
	} {
		b.Run(mode.name, func(b *testing.B) {
			ctx := context.Background()
			wasm := asmSpinModule()
			if mode.instrument {
				wasm = mustInstrument(b, wasm)
			}
			rt := newYieldRuntime(b, wazero.NewRuntimeConfig().WithCloseOnContextDone(mode.closeOnDone))
			mod, err := rt.Instantiate(ctx, wasm)
			if err != nil {
				b.Fatal(err)
			}
			sum := mod.ExportedFunction("sum")
			want := uint64(iterations) * (iterations + 1) / 2
			for b.Loop() {
				res, err := sum.Call(ctx, iterations)
				if err != nil || uint32(res[0]) != uint32(want) {
					b.Fatalf("sum = %v, %v", res, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/iterations, "ns/iteration")
		})
	}
}

// asmBulkModule returns a module of 4 pages exporting fill, copy and init (of a passive
// segment of 100,000 bytes) as (dst, src or value, len) -> [], sum() -> i64, a checksum of the
// whole memory, and tgrow(n) -> i32, table.grow of a funcref table by n.
func asmBulkModule() []byte {
	op := func(instr ...byte) []byte {
		return asm.Body(asm.Vec(), append([]byte{0x20, 0x00, 0x20, 0x01, 0x20, 0x02}, append(instr, 0x0b)...))
	}
	sum := asm.Cat(
		[]byte{0x03, 0x40, 0x20, 0x00, 0x29, 0x03, 0x00, 0x20, 0x01}, asm.I64(1000003),
		[]byte{0x7e, 0x7c, 0x21, 0x01, 0x20, 0x00, 0x41, 0x08, 0x6a, 0x22, 0x00},
		[]byte{0x3f, 0x00, 0x41, 0x10, 0x74, 0x49, 0x0d, 0x00, 0x0b, 0x20, 0x01, 0x0b},
	)
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	return asm.Module(
		asm.Section(1, asm.Vec([]byte{0x60, 3, 0x7f, 0x7f, 0x7f, 0}, []byte{0x60, 0, 1, 0x7e}, []byte{0x60, 1, 0x7f, 1, 0x7f})),
		asm.Section(3, asm.Vec([]byte{0}, []byte{0}, []byte{0}, []byte{1}, []byte{2})),
		asm.Section(4, asm.Vec([]byte{0x70, 0x00, 0x01})),
		asm.Section(5, asm.Vec([]byte{0, 4})),
		asm.Section(7, asm.Vec(asm.Export("fill", 0, 0), asm.Export("copy", 0, 1), asm.Export("init", 0, 2),
			asm.Export("sum", 0, 3), asm.Export("tgrow", 0, 4))),
		asm.Section(12, []byte{1}),
		asm.Section(10, asm.Vec(
			op(0xfc, 0x0b, 0x00),       // memory.fill
			op(0xfc, 0x0a, 0x00, 0x00), // memory.copy
			op(0xfc, 0x08, 0x00, 0x00), // memory.init 0
			asm.Body(asm.Vec([]byte{1, 0x7f}, []byte{1, 0x7e}), sum),
			asm.Body(asm.Vec(), []byte{0xd0, 0x70, 0x20, 0x00, 0xfc, 0x0f, 0x00, 0x0b}), // table.grow 0
		)),
		asm.Section(11, asm.Vec(asm.Cat([]byte{0x01}, asm.ULEB(uint64(len(data))), data))),
	)
}

// TestInstrumentInterruptsBulk runs memory bulk instructions of every size, overlapping either
// way, zero-length and out of bounds, in a module and in its instrumented copy, whose helpers do
// them a chunk at a time: the same memory, the same traps. And table.grow fails past
// maxTableEntries in the copy only.
func TestInstrumentInterruptsBulk(t *testing.T) {
	ctx := context.Background()
	plain := newYieldRuntime(t, wazero.NewRuntimeConfig())
	inst := newYieldRuntime(t, wazero.NewRuntimeConfig())
	in := asmBulkModule()
	out := mustInstrument(t, in)
	p, err := planInterrupts(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.helpers) != 3 {
		t.Fatalf("%d helpers, want 3", len(p.helpers))
	}
	var mods [2]api.Module
	fresh := func() {
		for i, m := range []struct {
			rt   wazero.Runtime
			wasm []byte
		}{{plain, in}, {inst, out}} {
			if mods[i] != nil {
				mods[i].Close(ctx)
			}
			mod, err := m.rt.InstantiateWithConfig(ctx, m.wasm, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatal(err)
			}
			mods[i] = mod
		}
	}
	fresh()
	const mem = 4 << 16
	steps := []struct {
		fn      string
		a, b, n uint64
	}{
		{"init", 0, 0, 100_000}, {"init", 150_000, 1_000, 90_000}, {"fill", 7, 0xab, 0}, {"fill", 100, 0x5c, 70_000},
		{"copy", 20_000, 0, 150_000},      // overlapping, destination above: backwards
		{"copy", 0, 30_000, 200_000},      // overlapping, destination below: forwards
		{"copy", 5, 5, 131_073},           // onto itself
		{"copy", mem - 10, 0, 10},         // up to the end
		{"fill", mem, 1, 0},               // zero length at the end: in bounds
		{"fill", mem + 1, 1, 0},           // zero length past the end: a trap
		{"fill", mem - 65_536, 9, 65_537}, // one byte too many: a trap
		{"copy", 1_000, mem - 100_000, 100_001},
		{"copy", 1 << 31, 0, 1 << 31}, // wraps
		{"init", 0, 99_999, 2},        // past the segment
		{"copy", 77, 12_345, 199_999},
	}
	for i, st := range steps {
		var errs [2]error
		var sums [2]uint64
		for k, mod := range mods {
			_, errs[k] = mod.ExportedFunction(st.fn).Call(ctx, st.a, st.b, st.n)
			if errs[k] == nil {
				res, err := mod.ExportedFunction("sum").Call(ctx)
				if err != nil {
					t.Fatal(err)
				}
				sums[k] = res[0]
			}
		}
		if (errs[0] == nil) != (errs[1] == nil) || sums[0] != sums[1] {
			t.Errorf("step %d %s(%d, %d, %d): plain %v %x, instrumented %v %x", i, st.fn, st.a, st.b, st.n, errs[0], sums[0], errs[1], sums[1])
		}
		if errs[0] != nil {
			fresh() // a trap ends an instance's life in the host too
		}
	}
	// table.grow: the table starts with 1 entry; the copy refuses to pass maxTableEntries.
	for _, tt := range []struct {
		n         uint64
		plain, in int32
	}{{10, 1, 1}, {maxTableEntries, 11, -1}} {
		var got [2]int32
		for k, mod := range mods {
			res, err := mod.ExportedFunction("tgrow").Call(ctx, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			got[k] = int32(res[0])
		}
		if got[0] != tt.plain || got[1] != tt.in {
			t.Errorf("tgrow(%d): plain %d, instrumented %d; want %d and %d", tt.n, got[0], got[1], tt.plain, tt.in)
		}
	}
	if res, err := mods[1].ExportedFunction("tgrow").Call(ctx, maxTableEntries-11); err != nil || int32(res[0]) != 11 {
		t.Errorf("tgrow up to maxTableEntries in the copy: %v, %v; want 11", res, err)
	}
}
