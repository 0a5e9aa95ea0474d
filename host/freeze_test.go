package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host/internal/asm"
	"github.com/hangar-dev/hangar/host/internal/wasmrewrite"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// This file holds the guests that try to freeze the host: modules that name the host's interrupt
// globals (refused), and valid modules that spin in every way a check has to bound (stopped, and
// never holding a stop-the-world for long).

// asmPluginModule returns a plugin module: a memory of pages pages, the function bodies given
// (each of type 0, [] -> [i32], unless extra[3] gives the function section's payload: type 1 is
// [] -> []; the first function is exported as "capture"), and the extra sections given, placed
// where their ids go.
func asmPluginModule(pages uint64, extra map[byte][]byte, bodies ...[]byte) []byte {
	funcs := make([][]byte, len(bodies))
	for i := range funcs {
		funcs[i] = []byte{0}
	}
	fsec := asm.Vec(funcs...)
	if f, ok := extra[3]; ok {
		fsec = f
	}
	secs := [][]byte{
		asm.Section(1, asm.Vec([]byte{0x60, 0, 1, 0x7f}, []byte{0x60, 0, 0})),
		asm.Section(3, fsec),
	}
	if e, ok := extra[4]; ok {
		secs = append(secs, asm.Section(4, e))
	}
	secs = append(secs, asm.Section(5, asm.Vec(asm.Cat([]byte{0}, asm.ULEB(pages)))))
	for _, id := range []byte{6, 7, 8, 9} {
		if id == 7 {
			exp := asm.Export("capture", 0, 0)
			if e, ok := extra[7]; ok {
				secs = append(secs, asm.Section(7, asm.Vec(exp, e)))
			} else {
				secs = append(secs, asm.Section(7, asm.Vec(exp)))
			}
			continue
		}
		if e, ok := extra[id]; ok {
			secs = append(secs, asm.Section(id, e))
		}
	}
	secs = append(secs, asm.Section(10, asm.Vec(bodies...)))
	return asm.Module(secs...)
}

// newYieldRuntime returns a plain wazero runtime with the module an instrumented module imports
// (wasmrewrite.YieldModule), whose yield is the host's (yieldCheck).
func newYieldRuntime(t testing.TB, cfg wazero.RuntimeConfig) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	_, err := rt.NewHostModuleBuilder(wasmrewrite.YieldModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, _ []uint64) {
			if err := yieldCheck(ctx); err != nil {
				panic(errStopped{err})
			}
		}), nil, nil).Export(wasmrewrite.YieldName).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	return rt
}

// mustInstrument instruments a module or fails the test.
func mustInstrument(t testing.TB, wasm []byte) []byte {
	t.Helper()
	out, err := wasmrewrite.Instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Function bodies of hostile plugins, each of type [] -> [i32].
var (
	// loop  i32.const 1000; global.set 1; br 0  end; i32.const 0: resets the i32 fuel of the
	// first instrumentation (flag 0, fuel 1) before its check can reach zero.
	asmFuelResetI32 = asm.Body(asm.Vec(), []byte{0x03, 0x40, 0x41, 0xe8, 0x07, 0x24, 0x01, 0x0c, 0x00, 0x0b, 0x41, 0x00, 0x0b})
	// The same against an i64 fuel.
	asmFuelResetI64 = asm.Body(asm.Vec(), []byte{0x03, 0x40, 0x42, 0xe8, 0x07, 0x24, 0x01, 0x0c, 0x00, 0x0b, 0x41, 0x00, 0x0b})
	// loop  i32.const 0; global.set 0; br 0  end: clears the first instrumentation's interrupt
	// flag as fast as the host set it (and would set the fuel of the current one).
	asmFlagClear = asm.Body(asm.Vec(), []byte{0x03, 0x40, 0x41, 0x00, 0x24, 0x00, 0x0c, 0x00, 0x0b, 0x41, 0x00, 0x0b})
	// global.get 1; drop: reads a global the module does not have.
	asmFuelRead = asm.Body(asm.Vec(), []byte{0x23, 0x01, 0x1a, 0x41, 0x00, 0x0b})
	// loop br 0 end; i32.const 0
	asmSpinForever = asm.Body(asm.Vec(), []byte{0x03, 0x40, 0x0c, 0x00, 0x0b, 0x41, 0x00, 0x0b})
	// loop  memory.fill(0, 7, memory.size * 64 KiB); br 0  end: the most a bulk instruction moves,
	// forever.
	asmFillForever = asm.Body(asm.Vec(), []byte{
		0x03, 0x40, 0x41, 0x00, 0x41, 0x07, 0x3f, 0x00, 0x41, 0x10, 0x74, 0xfc, 0x0b, 0x00, 0x0c, 0x00, 0x0b,
		0x41, 0x00, 0x0b})
	// loop  call 1; br 0  end: a call that returns at once, forever.
	asmCallForever = asm.Body(asm.Vec(), []byte{0x03, 0x40, 0x10, 0x01, 0x1a, 0x0c, 0x00, 0x0b, 0x41, 0x00, 0x0b})
	// i32.const 0: the callee of asmCallForever.
	asmReturn0 = asm.Body(asm.Vec(), []byte{0x41, 0x00, 0x0b})
)

// asmDivForever returns a body whose loop runs n integer divisions (one of the costliest
// instructions per byte of code) before it loops back: a long straight-line loop body.
func asmDivForever(n int) []byte {
	code := asm.Cat(asm.I64(math.MaxInt64), []byte{0x21, 0x00}, asm.I64(3), []byte{0x21, 0x01}, []byte{0x03, 0x40})
	for range n {
		// local.get 0; local.get 1; i64.div_u; local.get 1; i64.add; local.set 0
		code = append(code, 0x20, 0x00, 0x20, 0x01, 0x80, 0x20, 0x01, 0x7c, 0x21, 0x00)
	}
	code = append(code, 0x0c, 0x00, 0x0b, 0x41, 0x00, 0x0b)
	return asm.Body(asm.Vec([]byte{2, 0x7e}), code)
}

// hostileRefused are modules that name a global they do not have: each would name one of the
// host's interrupt globals once added. All are refused.
var hostileRefused = []struct {
	name string
	wasm []byte
}{
	{"fuel reset (i32)", asmPluginModule(1, nil, asmFuelResetI32)},
	{"fuel reset (i64)", asmPluginModule(1, nil, asmFuelResetI64)},
	{"flag clear", asmPluginModule(1, nil, asmFlagClear)},
	{"fuel read", asmPluginModule(1, nil, asmFuelRead)},
	{"flag exported under another name", asmPluginModule(1, map[byte][]byte{7: asm.Export("mine", 3, 0)}, asmSpinForever)},
	{"flag in an element initializer", asmPluginModule(1, map[byte][]byte{
		// a table is needed for an element segment: passive segment of funcref expressions
		9: asm.Vec(asm.Cat([]byte{5, 0x70}, asm.Vec([]byte{0x23, 0x00, 0x0b}))),
	}, asmSpinForever)},
	{"own global, then the flag", asmPluginModule(1, map[byte][]byte{
		6: asm.Vec([]byte{0x7f, 0x01, 0x41, 0x00, 0x0b}), // global 0 is the module's: the flag is 1
	}, asm.Body(asm.Vec(), []byte{0x41, 0x00, 0x24, 0x00, 0x03, 0x40, 0x41, 0x00, 0x24, 0x01, 0x0c, 0x00, 0x0b, 0x41, 0x00, 0x0b}))},
	// wazero bounds a table only by 2^32 entries of 8 bytes, outside the memory limit.
	{"a table of 2^20 entries", asmPluginModule(1, map[byte][]byte{4: asm.Vec(asm.Cat([]byte{0x70, 0x00}, asm.ULEB(1<<20)))}, asmSpinForever)},
	{"nine tables", asmPluginModule(1, map[byte][]byte{4: asm.Vec(
		[]byte{0x70, 0, 1}, []byte{0x70, 0, 1}, []byte{0x70, 0, 1}, []byte{0x70, 0, 1}, []byte{0x70, 0, 1},
		[]byte{0x70, 0, 1}, []byte{0x70, 0, 1}, []byte{0x70, 0, 1}, []byte{0x70, 0, 1})}, asmSpinForever)},
	{"no memory", asm.Module(
		asm.Section(1, asm.Vec([]byte{0x60, 0, 1, 0x7f})),
		asm.Section(3, asm.Vec([]byte{0})),
		asm.Section(7, asm.Vec(asm.Export("capture", 0, 0))),
		asm.Section(10, asm.Vec(asmSpinForever)),
	)},
}

// TestInterruptRefusesHostileModules shows that a module naming a global it does not have is
// refused by the instrumentation and by Load, before it can run: the first instrumentation added
// its flag and fuel at the next free indices and never checked the module's own references, so a
// 72-byte module that reset the fuel in its loop never reached the flag check, and froze the
// daemon at its next garbage collection.
func TestInterruptRefusesHostileModules(t *testing.T) {
	h := newTestHost(t, Config{})
	for _, tt := range hostileRefused {
		t.Run(tt.name, func(t *testing.T) {
			out, err := wasmrewrite.Instrument(tt.wasm)
			if !errors.Is(err, wasmrewrite.ErrInvalid) {
				t.Fatalf("instrument: got %v (%d bytes out), want an error wrapping %v", err, len(out), wasmrewrite.ErrInvalid)
			}
			sum := sha256.Sum256(tt.wasm)
			m := Manifest{Name: "hostile", Version: "1.0.0", Kind: KindCapture, ABI: ABIVersion, Platform: "claude-code",
				Wasm: "hostile.wasm", SHA256: hex.EncodeToString(sum[:]), Capabilities: []string{"emit:events"}, Emits: testEmits}
			g, _ := NewGrants(m.Capabilities)
			if p, err := h.Load(m, tt.wasm, g); !errors.Is(err, ErrRefusedModule) {
				if p != nil {
					p.Close()
				}
				t.Fatalf("load: got %v, want an error wrapping %v", err, ErrRefusedModule)
			}
		})
	}
}

// hostileSpinners are valid plugins that never return, each the way one part of the check
// bounds: a tight loop, a long loop body, a bulk instruction, a call, a start function.
var hostileSpinners = []struct {
	name string
	wasm []byte
}{
	{"tight loop", asmPluginModule(1, nil, asmSpinForever)},
	{"long loop body", asmPluginModule(1, nil, asmDivForever(8192))},
	{"memory.fill of all memory", asmPluginModule(256, nil, asmFillForever)},
	{"calls", asmPluginModule(1, nil, asmCallForever, asmReturn0)},
	// The start function (index 1) spins: instantiation used to run it, where no deadline
	// reached it.
	{"start function", asmPluginModule(1, map[byte][]byte{3: asm.Vec([]byte{0}, []byte{1}), 8: {0x01}},
		asmReturn0, asm.Body(asm.Vec(), []byte{0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b}))},
}

// loadHostile loads a hand-assembled capture plugin.
func loadHostile(t testing.TB, h *Host, name string, wasm []byte, lim Limits) *Plugin {
	t.Helper()
	sum := sha256.Sum256(wasm)
	m := Manifest{Name: name, Version: "1.0.0", Kind: KindCapture, ABI: ABIVersion, Platform: "claude-code",
		Wasm: "hostile.wasm", SHA256: hex.EncodeToString(sum[:]), Capabilities: []string{"emit:events"}, Emits: testEmits, Limits: lim}
	g, err := NewGrants(m.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, wasm, g)
	if err != nil {
		t.Fatal(err)
	}
	if p.interrupt != InterruptInstrument {
		t.Fatalf("%s runs in interrupt mode %d, want the instrumentation", name, p.interrupt)
	}
	return p
}

// The stress test's parameters: how many times it runs each of its two tests, and the deadline
// of each hostile call.
const (
	stressRounds   = 200
	stressDeadline = 100 * time.Millisecond
)

// adversity starts, beside a test or benchmark, two CPU-bound goroutines and a goroutine forcing
// a full garbage collection every millisecond, and returns how many collections it has made and
// a function that stops them all.
func adversity() (gcs *atomic.Int64, stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 { // CPU-bound goroutines, preemptible Go code
		wg.Go(func() {
			var n int
			for {
				select {
				case <-done:
					return
				default:
				}
				for range 100_000 {
					n++
				}
			}
		})
	}
	gcs = &atomic.Int64{}
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			runtime.GC()
			gcs.Add(1)
		}
	})
	return gcs, func() { close(done); wg.Wait() }
}

// hostilePlugins loads the hostile spinners and a Go plugin stuck in `for {}` under a deadline.
func hostilePlugins(t testing.TB, h *Host, deadline time.Duration) []*Plugin {
	lim := Limits{CallTimeout: Duration(deadline)}
	plugins := []*Plugin{loadTest(t, h, "loop", nil, lim)}
	for i, s := range hostileSpinners {
		plugins = append(plugins, loadHostile(t, h, "hostile-"+strconv.Itoa(i), s.wasm, lim))
	}
	return plugins
}

// callHostile calls the plugins in turn, n calls in all, two at a time (both Ps hold a spinning
// guest), checking that each ends with ErrDeadline, and returns how long each call ran (from
// its start to its end, its instance's making aside), in call order.
func callHostile(t testing.TB, plugins []*Plugin, n int) []time.Duration {
	calls := make(chan int)
	took := make([]time.Duration, n)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := range calls {
				p := plugins[i%len(plugins)]
				_, err := p.Call(context.Background(), "capture", [][]byte{[]byte(`{"hook_event_name":"Stop"}`)})
				took[i] = p.Status().LastCall // each plugin runs one call at a time here
				if !errors.Is(err, ErrDeadline) {
					t.Errorf("%s: got %v, want %v", p.m.Name, err, ErrDeadline)
				}
			}
		})
	}
	for i := range n {
		calls <- i
	}
	close(calls)
	wg.Wait()
	return took
}

// TestInterruptStress runs, in a child process killed at a hard limit, with GOMAXPROCS=2, two
// CPU-bound goroutines beside them and a goroutine forcing a full garbage collection every
// millisecond (adversity):
//
//   - 200 times, under GOGC=1 too, a guest in `loop br 0 end` stopped by a cancel from a
//     goroutine that sleeps first (the first instrumentation hung here: a module without memory
//     never left its compiled code, and a collection waited for it while the goroutine that
//     would stop it waited for the collection);
//   - 200 host calls of the hostile plugins and a Go plugin stuck in `for {}`, in turn, two at a
//     time, each under a 100 ms deadline: each must end with ErrDeadline. (Not under GOGC=1: a
//     Go guest's runtime grows its memory at start, and at GOGC=1 each of the host's allocations
//     pays a mark assist over the whole host heap: the host's cost, not the guest's hold.)
//
// What it proves is that nothing hangs and everything ends: how long calls ran past their
// deadline, and how long collections waited to stop the world, are logged, and only have to stay
// far from a freeze here, since a machine as loaded as this test makes its own (five goroutines
// that never block on two Ps, beside the rest of the suite) delays them by the OS's and Go's
// scheduling. BenchmarkInterruptDeadline and BenchmarkInterruptStopTheWorld measure them.
func TestInterruptStress(t *testing.T) {
	skipShort(t)
	if inChild(t, 10*time.Minute, "GOMAXPROCS=2") {
		return
	}
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Fatalf("GOMAXPROCS %d, want 2", n)
	}
	h := newTestHost(t, Config{PoolSize: 2, QuarantineAfter: math.MaxInt32})
	plugins := hostilePlugins(t, h, stressDeadline)
	gcs, stop := adversity()
	defer stop()

	// The raw spin, stopped by its context from another goroutine.
	gcPercent := debug.SetGCPercent(1)
	ctx := context.Background()
	rt := newYieldRuntime(t, wazero.NewRuntimeConfig().WithCloseOnContextDone(false))
	cm, err := rt.CompileModule(ctx, mustInstrument(t, asmPluginModule(1, nil, asmSpinForever)))
	if err != nil {
		t.Fatal(err)
	}
	for round := range stressRounds {
		mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := mod.ExportedFunction("capture").Call(cctx)
			done <- err
		}()
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: spin returned %v, want %v", round, err, context.Canceled)
		}
		mod.Close(ctx)
	}
	spinGCs := gcs.Load()
	debug.SetGCPercent(gcPercent)

	// The hostile plugins, under their deadline.
	took := callHostile(t, plugins, stressRounds)
	slices.Sort(took)
	waits := stopTheWorldWaits()
	t.Logf("%d spins stopped by a cancel beside %d forced GCs; %d hostile calls beside %d more, deadline %v: "+
		"median %v, p99 %v, slowest %v; stopping the world waited p50 %v, p99 %v, max %v over %d stops",
		stressRounds, spinGCs, stressRounds, gcs.Load()-spinGCs, stressDeadline,
		took[len(took)/2], took[len(took)*99/100], took[len(took)-1],
		waits.quantile(0.5), waits.quantile(0.99), waits.max(), waits.count())
	if spinGCs == 0 || gcs.Load() == spinGCs {
		t.Errorf("only %d and %d garbage collections ran beside the guests: something held them", spinGCs, gcs.Load()-spinGCs)
	}
	if m := waits.max(); m > stwLimit {
		t.Errorf("a garbage collection waited %v to stop the world, more than %v", m, stwLimit)
	}
	if m := took[len(took)-1]; m > stwLimit+stressDeadline {
		t.Errorf("a call ran %v, more than %v past its deadline", m, stwLimit)
	}
}

// stwLimit is what TestInterruptStress allows a stop-the-world to wait, and a call to run past
// its deadline: orders of magnitude above the check period, and finite, unlike a freeze.
const stwLimit = 2 * time.Second

// BenchmarkInterruptDeadline measures how long hostile calls run against their deadline (100
// ms), under the same adversity as TestInterruptStress, with GOMAXPROCS as the benchmark runs
// (run it with -cpu 2): the median and the slowest call as a multiple of the deadline. The
// requirement is at most 2: a guest keeps no call more than twice its deadline.
func BenchmarkInterruptDeadline(b *testing.B) {
	h := newTestHost(b, Config{PoolSize: 2, QuarantineAfter: math.MaxInt32})
	plugins := hostilePlugins(b, h, stressDeadline)
	_, stop := adversity()
	defer stop()
	var took []time.Duration
	for b.Loop() {
		took = append(took, callHostile(b, plugins, 2*len(plugins))...)
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/float64(stressDeadline), "x-deadline-p50")
	b.ReportMetric(float64(took[len(took)-1])/float64(stressDeadline), "x-deadline-max")
}

// stwHistogram is the runtime's histogram of the time garbage collections waited for every
// goroutine to stop.
type stwHistogram struct{ h *metrics.Float64Histogram }

// stopTheWorldWaits reads the process's histogram since it started.
func stopTheWorldWaits() stwHistogram {
	s := []metrics.Sample{{Name: "/sched/pauses/stopping/gc:seconds"}}
	metrics.Read(s)
	return stwHistogram{s[0].Value.Float64Histogram()}
}

// quantile returns the upper bound of the bucket holding quantile q.
func (w stwHistogram) quantile(q float64) time.Duration {
	var total uint64
	for _, c := range w.h.Counts {
		total += c
	}
	want := uint64(math.Ceil(q * float64(total)))
	var n uint64
	for i, c := range w.h.Counts {
		if n += c; n >= want && c > 0 {
			return seconds(w.h.Buckets[i+1])
		}
	}
	return 0
}

// max returns the upper bound of the highest non-empty bucket.
func (w stwHistogram) max() time.Duration {
	for i := len(w.h.Counts) - 1; i >= 0; i-- {
		if w.h.Counts[i] > 0 {
			return seconds(w.h.Buckets[i+1])
		}
	}
	return 0
}

// count returns the number of stops recorded.
func (w stwHistogram) count() uint64 {
	var n uint64
	for _, c := range w.h.Counts {
		n += c
	}
	return n
}

// since returns the stops recorded after an earlier reading.
func (w stwHistogram) since(before stwHistogram) stwHistogram {
	h := &metrics.Float64Histogram{Buckets: w.h.Buckets, Counts: slices.Clone(w.h.Counts)}
	for i := range h.Counts {
		h.Counts[i] -= before.h.Counts[i]
	}
	return stwHistogram{h}
}

func seconds(s float64) time.Duration {
	if math.IsInf(s, 1) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(s * float64(time.Second))
}

// BenchmarkInterruptStopTheWorld measures how long a stop-the-world waits while a guest spins, for
// each hostile shape: one goroutine runs the guest without a deadline, the benchmark forces
// garbage collections and reports the time each waited for the world to stop (the runtime's own
// histogram), median and maximum. The check period bounds it. It runs each guest under a plain
// wazero runtime with the instrumented module, until a cancel stops it at the end. Unlike the
// tests, it runs in-process: a broken instrumentation hangs it (TestInterruptStress is the guard).
func BenchmarkInterruptStopTheWorld(b *testing.B) {
	shapes := append([]struct {
		name string
		wasm []byte
	}{{"no guest (control)", nil}}, hostileSpinners...)
	for _, s := range shapes {
		if s.name == "start function" {
			continue // the tight loop, run by the host
		}
		b.Run(strings.ReplaceAll(s.name, " ", "_"), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			if s.wasm == nil { // the same collections with no guest running: the machine's own waits
				go func() { <-ctx.Done(); done <- ctx.Err() }()
			} else {
				rt := newYieldRuntime(b, wazero.NewRuntimeConfig().WithCloseOnContextDone(false))
				mod, err := rt.Instantiate(ctx, mustInstrument(b, s.wasm))
				if err != nil {
					b.Fatal(err)
				}
				go func() {
					_, err := mod.ExportedFunction("capture").Call(ctx)
					done <- err
				}()
			}
			time.Sleep(10 * time.Millisecond)
			before := stopTheWorldWaits()
			for b.Loop() {
				runtime.GC()
			}
			waits := stopTheWorldWaits().since(before)
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				b.Fatalf("the guest returned %v, want %v", err, context.Canceled)
			}
			b.ReportMetric(float64(waits.quantile(0.5))/1e3, "µs-stw-p50")
			b.ReportMetric(float64(waits.max())/1e3, "µs-stw-max")
			if os.Getenv("HANGAR_BENCH_VERBOSE") != "" {
				b.Logf("%d stops: p50 %v, p99 %v, max %v", waits.count(), waits.quantile(0.5), waits.quantile(0.99), waits.max())
			}
		})
	}
}
