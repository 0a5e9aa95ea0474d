package plugins

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// manifestHead is the part of plugin.toml these tests need. (Package plugins never imports the
// host, whose Manifest this mirrors; the registry's tests check the whole manifest.)
type manifestHead struct {
	Name   string `toml:"name"`
	Wasm   string `toml:"wasm"`
	SHA256 string `toml:"sha256"`
}

// pluginDirs returns the folders of the first-party plugins.
func pluginDirs(t *testing.T) []string {
	t.Helper()
	matches, err := filepath.Glob("*/plugin.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) == 0 {
		t.Fatal("no first-party plugins")
	}
	var dirs []string
	for _, m := range matches {
		dirs = append(dirs, filepath.Dir(m))
	}
	return dirs
}

func readHead(t *testing.T, fsys fs.FS, dir string) manifestHead {
	t.Helper()
	data, err := fs.ReadFile(fsys, dir+"/plugin.toml")
	if err != nil {
		t.Fatal(err)
	}
	var m manifestHead
	if err := toml.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s/plugin.toml: %v", dir, err)
	}
	return m
}

// rustc is Debian's compiler, which has the wasm32-wasi std (libstd-rust-dev-wasm32).
const rustc = "/usr/bin/rustc"

// rustToolchain skips the test if rustc or its wasm32-wasi std is missing, unless CI is set: CI
// must rebuild the Rust plugins.
func rustToolchain(t *testing.T) {
	t.Helper()
	missing := ""
	if _, err := os.Stat(rustc); err != nil {
		missing = rustc + " is missing (apt-get install rustc)"
	} else if out, err := exec.Command(rustc, "--print", "sysroot").Output(); err != nil {
		missing = "rustc --print sysroot: " + err.Error()
	} else if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(out)), "lib/rustlib/wasm32-wasi")); err != nil {
		missing = "rustc has no wasm32-wasi std (apt-get install libstd-rust-dev-wasm32)"
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s, and CI must rebuild the Rust plugins", missing)
	}
	t.Skip(missing)
}

// TestPluginsReproducible rebuilds every first-party plugin as `just plugins` does (a folder with
// rust/lib.rs with sdk/rust/build.sh, any other with the Go toolchain) and checks that the build
// is byte-identical to the committed .wasm, and that the manifest's sha256 is the module's.
func TestPluginsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every plugin")
	}
	for _, dir := range pluginDirs(t) {
		t.Run(dir, func(t *testing.T) {
			m := readHead(t, os.DirFS("."), dir)
			committed, err := os.ReadFile(filepath.Join(dir, m.Wasm))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(committed)
			if got := hex.EncodeToString(sum[:]); got != m.SHA256 {
				t.Errorf("%s/%s has sha256 %s, plugin.toml says %s: run `just plugins`", dir, m.Wasm, got, m.SHA256)
			}
			out := filepath.Join(t.TempDir(), m.Wasm)
			var cmd *exec.Cmd
			if _, err := os.Stat(filepath.Join(dir, "rust", "lib.rs")); err == nil {
				rustToolchain(t)
				cmd = exec.Command("../sdk/rust/build.sh", filepath.Join(dir, "rust", "lib.rs"), out)
				cmd.Env = append(os.Environ(), "RUSTC="+rustc)
			} else {
				cmd = exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-buildmode=c-shared", "-ldflags=-buildid=", "-o", out, "./"+dir)
				cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			}
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build: %v\n%s", err, b)
			}
			fresh, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fresh, committed) {
				fs := sha256.Sum256(fresh)
				t.Errorf("a fresh build of %s (%d bytes, sha256 %x) differs from the committed %s (%d bytes): run `just plugins` (with the toolchain of go.mod, and Debian's rustc for Rust plugins)",
					dir, len(fresh), fs, m.Wasm, len(committed))
			}
		})
	}
}

// TestEmbedded checks that the binary embeds every first-party plugin, as committed.
func TestEmbedded(t *testing.T) {
	for _, dir := range pluginDirs(t) {
		m := readHead(t, FS(), dir)
		embedded, err := fs.ReadFile(FS(), dir+"/"+m.Wasm)
		if err != nil {
			t.Fatalf("%s is not embedded: %v", dir, err)
		}
		onDisk, _ := os.ReadFile(filepath.Join(dir, m.Wasm))
		if !bytes.Equal(embedded, onDisk) {
			t.Errorf("%s: embedded module differs from the file", dir)
		}
		if m.Name != dir {
			t.Errorf("plugin folder %s holds plugin %q; name them alike", dir, m.Name)
		}
	}
}
