package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host/internal/wasmrewrite"
	"github.com/hangar-dev/hangar/sdk"
)

var echoCaps = []string{"read:payload.hook_event_name", "read:payload.session_id", "read:payload.tool_name"}

func TestCallEcho(t *testing.T) {
	h := newTestHost(t, Config{})
	p := loadTest(t, h, "echo", echoCaps, Limits{})
	recs := []Record{
		{ID: sdk.NewID("t", []byte("1")), Received: time.Unix(100, 0), Payload: []byte(`{"hook_event_name":"PreToolUse","session_id":"s1","tool_name":"Bash","prompt":"secret"}`)},
		{ID: sdk.NewID("t", []byte("2")), Received: time.Unix(200, 0), Payload: []byte(`{"session_id":"s1"}`)},
	}
	outs, err := p.CallRecords(context.Background(), "capture", recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 {
		t.Fatalf("got %d outcomes, want 2", len(outs))
	}
	if outs[0].Err != nil || len(outs[0].Events) != 1 {
		t.Fatalf("record 0: %+v", outs[0])
	}
	ev := outs[0].Events[0]
	wantID := capturedID("claude-code", recs[0].ID, 0)
	if ev.ID != wantID || ev.Platform != "claude-code" || ev.Kind != "hook.PreToolUse" || ev.SessionID != "s1" || !ev.Time.Equal(recs[0].Received) {
		t.Errorf("event = %+v", ev)
	}
	if v, _ := ev.Attr("tool_name"); v.Ident() != "Bash" {
		t.Errorf("tool_name = %v", v)
	}
	if !errors.Is(outs[1].Err, ErrRecordFailed) || !strings.Contains(outs[1].Err.Error(), "no hook_event_name") {
		t.Errorf("record 1: got %v, want the plugin's error", outs[1].Err)
	}
	s := p.Status()
	if s.Calls != 1 || s.Records != 2 || s.RecordErrors != 1 || s.Instances != 1 || s.MaxMemoryBytes <= 0 || s.ColdStart < s.CompileTime {
		t.Errorf("status = %+v", s)
	}
	if _, err := p.Call(context.Background(), "enrich", nil); err == nil {
		t.Error("calling the wrong export: got nil error")
	}
}

func TestLoadRefuses(t *testing.T) {
	h := newTestHost(t, Config{})
	echo := testWasm["echo"]
	httpMod := wasmImporting("extism:host/env", "http_request")
	tests := []struct {
		name string
		m    func() Manifest
		wasm []byte
		want string
	}{
		{"wrong hash", func() Manifest {
			m := testManifest("echo", nil, Limits{})
			m.SHA256 = strings.Repeat("0", 64)
			return m
		}, echo, "sha256"},
		{"http import", func() Manifest {
			m := testManifest("echo", nil, Limits{})
			sum := sha256.Sum256(httpMod)
			m.SHA256 = hex.EncodeToString(sum[:])
			return m
		}, httpMod, "http_request"},
		{"not wasm", func() Manifest {
			m := testManifest("echo", nil, Limits{})
			sum := sha256.Sum256([]byte("hello"))
			m.SHA256 = hex.EncodeToString(sum[:])
			return m
		}, []byte("hello"), "not a WASM module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Load(tt.m(), tt.wasm, Grants{})
			if !errors.Is(err, ErrRefusedModule) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want ErrRefusedModule mentioning %q", err, tt.want)
			}
		})
	}
}

// wasmImporting returns a minimal module importing one function () -> ().
func wasmImporting(module, name string) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 1, 4, 1, 0x60, 0, 0) // type section: one func type () -> ()
	imp := []byte{1, byte(len(module))}
	imp = append(imp, module...)
	imp = append(imp, byte(len(name)))
	imp = append(imp, name...)
	imp = append(imp, 0, 0) // func, type 0
	b = append(b, 2, byte(len(imp)))
	return append(b, imp...)
}

func TestModuleImports(t *testing.T) {
	got, err := wasmrewrite.Imports(testWasm["kv"])
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"extism:host/env.input_length": false, "hangar.log": false, "wasi_snapshot_preview1.fd_write": false}
	for _, im := range got {
		if _, ok := want[im.Module+"."+im.Name]; ok {
			want[im.Module+"."+im.Name] = true
		}
	}
	for k, found := range want {
		if !found {
			t.Errorf("import %s not found in %v", k, got)
		}
	}
}

func TestKVAndLog(t *testing.T) {
	kv := &MemKV{}
	h := newTestHost(t, Config{KV: kv})
	p := loadTest(t, h, "kv", []string{"kv", "log"}, Limits{})
	for want := int64(1); want <= 3; want++ {
		outs, err := p.Call(context.Background(), "capture", [][]byte{[]byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := outs[0].Events[0].Attr("count"); v.Int() != want {
			t.Errorf("count = %d, want %d", v.Int(), want)
		}
	}
	if v, _ := kv.Get("kv", []byte("count")); string(v) != "3" {
		t.Errorf("kv holds %q, want 3", v)
	}
	if s := p.Status(); s.LogsWritten != 3 {
		t.Errorf("logs written = %d, want 3", s.LogsWritten)
	}
}

func TestClockGrant(t *testing.T) {
	if inChild(t, 2*time.Minute) { // its guest spins: see inChild
		return
	}
	// Without "clock" the guest's clock is wazero's fake one; with it, the real one. The busy
	// mode of the sleep plugin spins an hour on its clock: with the fake clock (1ms per reading)
	// that is 3.6M readings, so both end by the deadline; this checks the grant is wired.
	h := newTestHost(t, Config{})
	for _, caps := range [][]string{nil, {"clock"}} {
		p := loadTest(t, h, "sleep", append([]string{"read:payload.mode"}, caps...), Limits{CallTimeout: Duration(100 * time.Millisecond)})
		if got := p.moduleConfig() != nil; !got {
			t.Fatal("no module config")
		}
		_, err := p.Call(context.Background(), "capture", [][]byte{[]byte(`{"mode":"busy"}`)})
		if err == nil {
			t.Errorf("caps %v: busy hour finished within 100ms", caps)
		}
	}
}

func TestConcurrentCalls(t *testing.T) {
	h := newTestHost(t, Config{PoolSize: 2})
	p := loadTest(t, h, "echo", echoCaps, Limits{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				outs, err := p.Call(context.Background(), "capture", [][]byte{[]byte(`{"hook_event_name":"Stop","session_id":"g` + string(rune('a'+g)) + `"}`)})
				if err != nil || outs[0].Err != nil {
					t.Errorf("call: %v %v", err, outs)
					return
				}
			}
		}()
	}
	wg.Wait()
	if s := p.Status(); s.Instances > 2 || s.Calls != 160 {
		t.Errorf("status = %+v, want at most 2 instances and 160 calls", s)
	}
}

func TestCallerCancelIsNotAFailure(t *testing.T) {
	if inChild(t, 2*time.Minute) { // its guest spins: see inChild
		return
	}
	h := newTestHost(t, Config{})
	p := loadTest(t, h, "loop", nil, Limits{CallTimeout: Duration(5 * time.Second)})
	for range 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		_, err := p.Call(ctx, "capture", [][]byte{[]byte(`{}`)})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the caller's deadline", err)
		}
	}
	if q, _ := p.Quarantined(); q {
		t.Error("the caller's cancellations quarantined the plugin")
	}
}

// TestCloseUnloads checks that a closed plugin leaves its host's list (and so status and
// /metrics), and that closing a replaced plugin leaves its successor loaded.
func TestCloseUnloads(t *testing.T) {
	h := newTestHost(t, Config{})
	old := loadTest(t, h, "echo", echoCaps, Limits{})
	cur := loadTest(t, h, "echo", echoCaps, Limits{}) // replaces and closes old
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if h.Plugin("echo") != cur || len(h.Stats()) != 1 {
		t.Fatalf("closing a replaced plugin unloaded its successor: %v", h.Stats())
	}
	if err := cur.Close(); err != nil {
		t.Fatal(err)
	}
	if h.Plugin("echo") != nil || len(h.Plugins()) != 0 || len(h.Stats()) != 0 {
		t.Errorf("a closed plugin is still listed: %v", h.Stats())
	}
}

// TestIdleRelease checks that a plugin idle for Config.IdleRelease loses its instances and
// machine code, that its next call makes them again from the compilation cache with the same
// results, and that releases never break calls running alongside them.
func TestIdleRelease(t *testing.T) {
	h := newTestHost(t, Config{PoolSize: 2, IdleRelease: 50 * time.Millisecond})
	p := loadTest(t, h, "echo", echoCaps, Limits{})
	call := func(session string) {
		t.Helper()
		outs, err := p.Call(context.Background(), "capture", [][]byte{[]byte(`{"hook_event_name":"Stop","session_id":"` + session + `"}`)})
		if err != nil || outs[0].Err != nil || len(outs[0].Events) != 1 || outs[0].Events[0].SessionID != session {
			t.Fatalf("call: %v %+v", err, outs)
		}
	}
	waitReleased := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for s := p.Status(); s.Released < n || s.Resident || s.Instances != 0; s = p.Status() {
			if time.Now().After(deadline) {
				t.Fatalf("not released after 10s: %+v", s)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	call("s1")
	if s := p.Status(); !s.Resident || s.Instances != 1 {
		t.Fatalf("after a call: %+v", s)
	}
	waitReleased(1)
	call("s2")
	if s := p.Status(); !s.Resident || s.Instances != 1 || s.Calls != 2 {
		t.Fatalf("after a call on a released plugin: %+v", s)
	}
	waitReleased(2)

	// Calls in a loop on 4 goroutines, pausing now and then for longer than IdleRelease, so that
	// releases land between calls: every call must succeed.
	h2 := newTestHost(t, Config{PoolSize: 2, IdleRelease: time.Millisecond})
	p2 := loadTest(t, h2, "echo", echoCaps, Limits{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				session := fmt.Sprintf("g%d-%d", g, i)
				outs, err := p2.Call(context.Background(), "capture", [][]byte{[]byte(`{"hook_event_name":"Stop","session_id":"` + session + `"}`)})
				if err != nil || outs[0].Err != nil || outs[0].Events[0].SessionID != session {
					t.Errorf("call: %v %+v", err, outs)
					return
				}
				if i%5 == 0 {
					time.Sleep(15 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	if s := p2.Status(); s.Calls != 120 || s.Failures != 0 || s.Released == 0 {
		t.Errorf("status = %+v, want 120 calls, no failure, some releases", s)
	}
}

// TestDeferCompile checks that a plugin loaded with DeferCompile is checked and rewritten but not
// compiled until its first call, which then works as any other (and a refused module is still
// refused at load).
func TestDeferCompile(t *testing.T) {
	h := newTestHost(t, Config{})
	m := testManifest("echo", echoCaps, Limits{})
	g, err := NewGrants(m.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, testWasm["echo"], g, DeferCompile())
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Status(); s.Resident || s.Instances != 0 {
		t.Fatalf("after a deferred load: %+v, want no machine code yet", s)
	}
	outs, err := p.Call(context.Background(), "capture", [][]byte{[]byte(`{"hook_event_name":"Stop","session_id":"s1"}`)})
	if err != nil || outs[0].Err != nil || len(outs[0].Events) != 1 || outs[0].Events[0].SessionID != "s1" {
		t.Fatalf("first call: %v %+v", err, outs)
	}
	if s := p.Status(); !s.Resident || s.Instances != 1 {
		t.Fatalf("after the first call: %+v, want compiled and one instance", s)
	}
	bad := testManifest("echo2", echoCaps, Limits{})
	corrupt := append([]byte{}, testWasm["echo"][:len(testWasm["echo"])/2]...)
	bad.SHA256 = sha256Hex(corrupt)
	if _, err := h.Load(bad, corrupt, g, DeferCompile()); !errors.Is(err, ErrRefusedModule) {
		t.Errorf("deferred load of a cut module: %v, want ErrRefusedModule", err)
	}
}

// TestPluginMemoryBound checks that a plugin's instances together stay within the host's
// PluginMemory: eight callers at once on a pool of eight make only as many instances as fit.
func TestPluginMemoryBound(t *testing.T) {
	const pages = 256 // 16 MiB an instance
	h := newTestHost(t, Config{PoolSize: 8, PluginMemory: 3 * pages * 64 << 10})
	p := loadTest(t, h, "echo", echoCaps, Limits{MemoryPages: pages})
	var wg sync.WaitGroup
	var most atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for range 10 {
				if _, err := p.Call(context.Background(), "capture", [][]byte{[]byte(`{"hook_event_name":"Stop","session_id":"s` + string(rune('a'+g)) + `"}`)}); err != nil {
					t.Error(err)
					return
				}
				if n := p.Status().Instances; n > most.Load() {
					most.Store(n)
				}
			}
		})
	}
	wg.Wait()
	if n := most.Load(); n < 1 || n > 3 {
		t.Errorf("the plugin had up to %d instances, want 1 to 3 (3 × 16 MiB fit in its 48 MiB)", n)
	}
	if c := cap(p.slots); c != 3 {
		t.Errorf("pool of %d, want 3", c)
	}
	// At least one instance, whatever the limits.
	small := newTestHost(t, Config{PluginMemory: 1 << 20})
	if q := loadTest(t, small, "echo", echoCaps, Limits{}); cap(q.slots) != 1 {
		t.Errorf("a plugin larger than PluginMemory has a pool of %d, want 1", cap(q.slots))
	}
}
