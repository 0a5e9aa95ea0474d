package sdktest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
)

// NewHost returns a real host with cfg, over a compilation cache in a temp folder if cfg names
// none, closed when the test ends.
func NewHost(t testing.TB, cfg host.Config) *host.Host {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(t.TempDir(), "cache")
	}
	h, err := host.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	return h
}

// CaptureManifest returns the manifest of a capture plugin for Claude Code of a name, its module
// wasm (whose digest it holds), granted caps, emitting kinds emits.
func CaptureManifest(name string, wasm []byte, caps []string, emits ...string) host.Manifest {
	sum := sha256.Sum256(wasm)
	return host.Manifest{
		Name: name, Version: "1.0.0", Kind: host.KindCapture, ABI: host.ABIVersion, Platform: "claude-code",
		Wasm: name + ".wasm", SHA256: hex.EncodeToString(sum[:]), Capabilities: caps, Emits: emits,
	}
}

// Load validates m and loads wasm into h as its plugin, granted m's capabilities.
func Load(t testing.TB, h *host.Host, m host.Manifest, wasm []byte) *host.Plugin {
	t.Helper()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := host.NewGrants(m.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, wasm, g)
	if err != nil {
		t.Fatalf("load %s in the host: %v", m.Name, err)
	}
	return p
}

var goEcho struct {
	sync.Once
	wasm []byte
	err  error
}

// EchoWasm builds the Go reference plugin host/testdata/echo (GOOS=wasip1), once per test binary.
func EchoWasm(t testing.TB) []byte {
	t.Helper()
	goEcho.Do(func() {
		dir, err := os.MkdirTemp("", "hangar-sdktest-echo")
		if err != nil {
			goEcho.err = err
			return
		}
		defer os.RemoveAll(dir)
		w, err := hosttest.BuildPlugins(dir, map[string]string{"echo": "echo"})
		goEcho.wasm, goEcho.err = w["echo"], err
	})
	if goEcho.err != nil {
		t.Fatal(goEcho.err)
	}
	return goEcho.wasm
}

// EchoCaps are the grants of the echo plugin and of the SDKs' examples, which do what it does.
var EchoCaps = []string{"emit:events", "read:payload.hook_event_name", "read:payload.session_id", "read:payload.tool_name"}

// CompareWithEcho loads wasm, an SDK's example capture plugin, and the Go reference plugin
// (EchoWasm) into one real host, granted EchoCaps, runs both over records in batches of 100 (as
// the capture stage sends them), and compares what the host made of each record's emissions
// (checked and completed: ids, platform, times) byte for byte, and each record's error. It returns
// how many events the plugin emitted.
func CompareWithEcho(t testing.TB, name string, wasm []byte, records [][]byte) int {
	t.Helper()
	h := NewHost(t, host.Config{Secret: bytes.Repeat([]byte("s"), 32)})
	p := Load(t, h, CaptureManifest(name, wasm, EchoCaps, "hook.*"), wasm)
	ref := Load(t, h, CaptureManifest("go-echo", EchoWasm(t), EchoCaps, "hook.*"), EchoWasm(t))
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	recs := make([]host.Record, len(records))
	for i, r := range records {
		recs[i] = host.Record{ID: sdk.NewID("payload", r), Received: now, Payload: r}
	}
	emitted := 0
	for start := 0; start < len(recs); start += 100 {
		batch := recs[start:min(start+100, len(recs))]
		got, err := p.CallRecords(ctx, "capture", batch)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := ref.CallRecords(ctx, "capture", batch)
		if err != nil {
			t.Fatalf("go echo: %v", err)
		}
		for i := range batch {
			g, w := got[i], want[i]
			if (g.Err == nil) != (w.Err == nil) || g.Err != nil && g.Err.Error() != w.Err.Error() {
				t.Errorf("record %d: error %v, want %v", start+i, g.Err, w.Err)
				continue
			}
			gb, gerr := abi.AppendOutput(nil, []abi.Result{{Events: g.Events}})
			wb, werr := abi.AppendOutput(nil, []abi.Result{{Events: w.Events}})
			if gerr != nil || werr != nil || !bytes.Equal(gb, wb) {
				t.Errorf("record %d: events\n got %v\nwant %v", start+i, g.Events, w.Events)
			}
			emitted += len(g.Events)
		}
	}
	return emitted
}

// Rustc is Debian's Rust compiler, which has the wasm32-wasi std (libstd-rust-dev-wasm32); a
// rustup toolchain earlier on PATH may not, so the tests call it by path.
const Rustc = "/usr/bin/rustc"

// RustMissing says what of the Rust toolchain the SDK's plugins need is missing: Rustc or its
// wasm32-wasi std; "" if nothing is. Pass it to Require.
func RustMissing() string {
	if _, err := os.Stat(Rustc); err != nil {
		return Rustc + " is missing (apt-get install rustc)"
	}
	out, err := exec.Command(Rustc, "--print", "sysroot").Output()
	if err != nil {
		return "rustc --print sysroot: " + err.Error()
	}
	if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(out)), "lib", "rustlib", "wasm32-wasi")); err != nil {
		return "rustc has no wasm32-wasi std (apt-get install libstd-rust-dev-wasm32)"
	}
	return ""
}
