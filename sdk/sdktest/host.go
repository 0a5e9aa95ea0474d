package sdktest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/host"
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
