package host

// Tests of the interrupt rewrite (package wasmrewrite) on the real test plugins, and of the host
// running what it rewrote. The rewrite's own tests, on modules written byte by byte, are in
// host/internal/wasmrewrite.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host/internal/wasmrewrite"
	"github.com/tetratelabs/wazero"
)

// TestInstrumentInterruptsRealModules instruments every test plugin (Go, wasip1, c-shared) and
// compiles the result with a plain wazero runtime: it imports what the module imported and the
// yield function, and exports what the module exported, each function moved up by one past the
// yield import.
func TestInstrumentInterruptsRealModules(t *testing.T) {
	skipShort(t)
	names := make([]string, 0, len(testWasm))
	for name := range testWasm {
		names = append(names, name)
	}
	slices.Sort(names)
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			in := testWasm[name]
			out, err := wasmrewrite.Instrument(in)
			if err != nil {
				t.Fatal(err)
			}
			orig, err := rt.CompileModule(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			defer orig.Close(ctx)
			cm, err := rt.CompileModule(ctx, out)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			defer cm.Close(ctx)
			inImports, err1 := wasmrewrite.Imports(in)
			outImports, err2 := wasmrewrite.Imports(out)
			yield := wasmrewrite.Import{Module: wasmrewrite.YieldModule, Name: wasmrewrite.YieldName}
			if err1 != nil || err2 != nil || !slices.Equal(outImports, append(inImports, yield)) {
				t.Errorf("imports: got %v (%v), want %v and the yield (%v)", outImports, err2, inImports, err1)
			}
			imported := uint32(len(orig.ImportedFunctions()))
			got, want := cm.ExportedFunctions(), orig.ExportedFunctions()
			if len(got) != len(want) || len(want) == 0 {
				t.Errorf("%d exported functions, want %d", len(got), len(want))
			}
			for name, w := range want {
				index := w.Index()
				if index >= imported {
					index++
				}
				if g, ok := got[name]; !ok || g.Index() != index {
					t.Errorf("export %q: got %v, want function %d", name, g, index)
				}
			}
			if g, w := len(cm.ExportedMemories()), len(orig.ExportedMemories()); g != w {
				t.Errorf("%d exported memories, want %d", g, w)
			}
			t.Logf("%d bytes -> %d (+%.1f%%), %d functions exported", len(in), len(out), 100*float64(len(out)-len(in))/float64(len(in)), len(want))
		})
	}
}

// loadInstrumented loads a test plugin whose module is instrumented, under a manifest hashing the
// instrumented bytes.
func loadInstrumented(t testing.TB, h *Host, name string, caps []string, lim Limits) *Plugin {
	t.Helper()
	out, err := wasmrewrite.Instrument(testWasm[name])
	if err != nil {
		t.Fatal(err)
	}
	m := testManifest(name, caps, lim)
	sum := sha256.Sum256(out)
	m.SHA256 = hex.EncodeToString(sum[:])
	g, err := NewGrants(m.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, out, g)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInstrumentInterruptsEcho runs the real fixtures through echo, instrumented and not, under
// Extism and the host's own imports: the outcomes are the same.
func TestInstrumentInterruptsEcho(t *testing.T) {
	skipShort(t)
	now := func() time.Time { return time.Unix(1_700_000_000, 0) }
	plain := loadTest(t, newTestHost(t, Config{Now: now, Interrupt: InterruptNone}), "echo", echoCaps, Limits{})
	h := newTestHost(t, Config{Now: now, Interrupt: InterruptNone})
	inst := loadInstrumented(t, h, "echo", echoCaps, Limits{})

	payloads := hookPayloads(t)
	want, err := plain.Call(context.Background(), "capture", payloads)
	if err != nil {
		t.Fatal(err)
	}
	got, err := inst.Call(context.Background(), "capture", payloads)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d outcomes, want %d", len(got), len(want))
	}
	events := 0
	for i := range want {
		if !reflect.DeepEqual(got[i].Events, want[i].Events) || fmt.Sprint(got[i].Err) != fmt.Sprint(want[i].Err) {
			t.Errorf("record %d: got %+v, want %+v", i, got[i], want[i])
		}
		events += len(want[i].Events)
	}
	if events == 0 {
		t.Error("no events at all: the comparison shows nothing")
	}
}

// TestInstrumentInterruptsStopsGoLoop stops a real Go plugin stuck in `for {}` (testdata
// adversarial/loop), instrumented here, on a host that adds no interruption of its own
// (InterruptNone) and with the longest deadline: the caller's cancel reaches the guest through
// its yields. It runs in a child process (inChild).
func TestInstrumentInterruptsStopsGoLoop(t *testing.T) {
	skipShort(t)
	if inChild(t, 2*time.Minute) {
		return
	}
	h := newTestHost(t, Config{Interrupt: InterruptNone, PoolSize: 1})
	p := loadInstrumented(t, h, "loop", nil, Limits{CallTimeout: Duration(MaxCallTimeout)})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := p.Call(ctx, "capture", [][]byte{[]byte(`{"hook_event_name":"Stop"}`)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want %v", err, context.Canceled)
	}
	t.Logf("stopped after %v: %v", time.Since(start), err)
}

// BenchmarkInstrumentInterrupts measures wasmrewrite.Instrument on the real test plugins.
func BenchmarkInstrumentInterrupts(b *testing.B) {
	names := make([]string, 0, len(testWasm))
	for name := range testWasm {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		wasm := testWasm[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := wasmrewrite.Instrument(wasm); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(wasm))*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(len(wasm))/1e6, "MB")
		})
	}
}
