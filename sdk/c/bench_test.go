//go:build unix

package c_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/sdk/sdktest"
)

// BenchmarkCapture runs the same capture plugin (one event per hook, with the session id and the
// tool name) written with each SDK under the real host, on batches of 100 real hook payloads, as
// the capture stage calls it: the C example, the AssemblyScript example (when npm has installed
// its compiler: npm ci in sdk/assemblyscript/example), and the Go test plugin host/testdata/echo.
// It reports the process's CPU time per record (cpu-ns/record: the host's projection and checks
// included, the same for every plugin) and the time in the guest's calls (guest-ns/record).
func BenchmarkCapture(b *testing.B) {
	fixtures := hookPayloads(b)
	const batch = 100
	var batches [][][]byte
	for lo := 0; lo+batch <= len(fixtures); lo += batch {
		batches = append(batches, fixtures[lo:lo+batch])
	}
	exampleDir := buildExample(b)
	cWasm, err := os.ReadFile(filepath.Join(exampleDir, "c-example.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	goWasm, err := hosttest.BuildPlugins(b.TempDir(), map[string]string{"echo": "echo"})
	if err != nil {
		b.Fatal(err)
	}
	plugins := []struct {
		name string
		wasm []byte
	}{{"c", cWasm}, {"assemblyscript", buildAS(b)}, {"go", goWasm["echo"]}}
	for _, pl := range plugins {
		b.Run(pl.name, func(b *testing.B) {
			if pl.wasm == nil {
				b.Skip("the AssemblyScript compiler is not installed (npm ci in sdk/assemblyscript/example)")
			}
			sum := sha256.Sum256(pl.wasm)
			m := host.Manifest{Name: "bench-" + pl.name, Version: "0.1.0", Kind: host.KindCapture, ABI: 1,
				Platform: "claude-code", Wasm: "plugin.wasm", SHA256: hex.EncodeToString(sum[:]), Emits: []string{"hook.*"},
				Capabilities: []string{"read:payload.hook_event_name", "read:payload.session_id", "read:payload.tool_name", "emit:events"}}
			p, _ := loadHost(b, m, pl.wasm)
			ctx := context.Background()
			for _, recs := range batches { // warm: every instance made, every page touched
				if _, err := p.Call(ctx, "capture", recs); err != nil {
					b.Fatal(err)
				}
			}
			guest0, cpu0 := p.Status().GuestTime, sdktest.CPUTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := p.Call(ctx, "capture", batches[i%len(batches)]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			records := float64(b.N * batch)
			b.ReportMetric(float64(sdktest.CPUTime()-cpu0)/records, "cpu-ns/record")
			b.ReportMetric(float64(p.Status().GuestTime-guest0)/records, "guest-ns/record")
		})
	}
}

// buildAS builds the AssemblyScript SDK's example with its installed compiler, or returns nil if
// it is not installed.
func buildAS(b *testing.B) []byte {
	dir := "../assemblyscript/example"
	if _, err := os.Stat(filepath.Join(dir, "node_modules/.bin/asc")); err != nil {
		return nil
	}
	out := filepath.Join(b.TempDir(), "as.wasm")
	cmd := exec.Command("npx", "--no-install", "asc", "assembly/index.ts", "--config", "asconfig.json", "--target", "release", "--outFile", out)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("asc: %v\n%s", err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	return wasm
}
