package loader

// The machinery of the loader's tests: real Go plugins (the host's test plugins, built to WASM),
// a real registry in a fresh data directory, a real Pebble store.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/store"
)

// builtWasm holds the test plugins' modules, built once per test binary, by source folder.
var builtWasm sync.Map // string → *wasmBuild

type wasmBuild struct {
	once sync.Once
	data []byte
	err  error
}

// buildWasm builds the Go test plugin host/testdata/<src> to WASM, once per test binary.
func buildWasm(t *testing.T, src string) []byte {
	t.Helper()
	v, _ := builtWasm.LoadOrStore(src, &wasmBuild{})
	b := v.(*wasmBuild)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "hangar-loader-test-")
		if err != nil {
			b.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "plugin.wasm")
		build := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, "../../host/testdata/"+src)
		build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if msg, err := build.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %v\n%s", src, err, msg)
			return
		}
		b.data, b.err = os.ReadFile(out)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.data
}

// buildPluginFolder builds the Go test plugin host/testdata/<src> into a plugin folder named name,
// of kind, asking for caps (platform is for a capture plugin, which emits trap.* and hook.*).
func buildPluginFolder(t *testing.T, src, name string, kind host.Kind, platform string, caps ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	wasm := buildWasm(t, src)
	if err := os.WriteFile(filepath.Join(dir, name+".wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	var quoted []string
	for _, c := range caps {
		quoted = append(quoted, fmt.Sprintf("%q", c))
	}
	plat := ""
	if platform != "" {
		plat = fmt.Sprintf("platform = %q\nemits = [\"trap.*\", \"hook.*\"]\n", platform)
	}
	manifest := fmt.Sprintf("name = %q\nversion = \"1.0.0\"\nkind = %q\nabi = 1\n%swasm = %q\nsha256 = %q\ncapabilities = [%s]\n",
		name, kind, plat, name+".wasm", hex.EncodeToString(sum[:]), strings.Join(quoted, ", "))
	if err := os.WriteFile(filepath.Join(dir, host.ManifestName), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// trapCaps are what the trap plugin (host/testdata/adversarial/trap) asks for: a record with
// "mode": "trap" makes it trap, "panic" makes it fail the record; any other yields one trap.ok
// event.
var trapCaps = []string{"read:payload.mode", "emit:events"}

// testEnv is a data directory with a registry of no built-in plugins, and a loader over it.
type testEnv struct {
	dataDir string
	reg     *host.Registry
	caps    pipeline.Captures
	swap    *Swap // the claude-code platform's capture stage
}

// newTestEnv returns a fresh data directory whose registry has no built-in plugins.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{dataDir: filepath.Join(t.TempDir(), "hangar")}
	if err := os.MkdirAll(e.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.reg, err = e.openRegistry(nil); err != nil {
		t.Fatal(err)
	}
	e.swap = NewSwap(pipeline.PlatformClaudeCode)
	e.caps = pipeline.Captures{}
	if err := e.caps.Register(pipeline.PlatformClaudeCode, e.swap); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *testEnv) openRegistry(audit host.Auditor) (*host.Registry, error) {
	return host.OpenRegistry(filepath.Join(e.dataDir, host.PluginsDir), host.RegistryOptions{Auditor: audit})
}

// config is the loader's configuration over the environment.
func (e *testEnv) config() Config {
	return Config{
		DataDir:    e.dataDir,
		Registry:   e.openRegistry,
		Captures:   e.caps,
		SecretFile: filepath.Join(e.dataDir, "secret"),
		CacheDir:   filepath.Join(e.dataDir, "cache", "wasm"),
		Logger:     slog.New(slog.DiscardHandler),
	}
}

// loader returns a loader with cfg (the environment's, if zero), closed at cleanup.
func (e *testEnv) loader(t *testing.T, cfg Config) *Loader {
	t.Helper()
	if cfg.DataDir == "" {
		cfg = e.config()
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// install installs the plugin folder dir, granting all it asks for.
func (e *testEnv) install(t *testing.T, dir string) {
	t.Helper()
	m, _, err := host.ReadPluginDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Install(dir, m.Capabilities, host.InstallOptions{}); err != nil {
		t.Fatal(err)
	}
}

// openStore opens a store in the data directory, closed at cleanup.
func (e *testEnv) openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(e.dataDir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newRecord returns a claude-code record of payload with a fresh id.
func newRecord(payload []byte) pipeline.RawRecord {
	rec := pipeline.RawRecord{Platform: pipeline.PlatformClaudeCode, Source: "api", ReceivedAt: time.Now().UTC(), Payload: payload}
	rand.Read(rec.ID[:])
	return rec
}

// hookPayload is a hook payload without "mode": the trap plugin captures it.
var hookPayload = []byte(`{"hook_event_name":"Stop","session_id":"8d1f6c2e-1b7a-4a51-9f0e-3c2b1a0d9e8f"}`)

// trapPayload makes the trap plugin trap.
var trapPayload = []byte(`{"hook_event_name":"Stop","session_id":"8d1f6c2e-1b7a-4a51-9f0e-3c2b1a0d9e8f","mode":"trap"}`)

// allStacks returns the stacks of every goroutine.
func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// runnerRE matches the goroutines of enrich plugin runners (pipeline.Consumers) and insight
// runners, by who created them (whatever package the insight runner is in).
var runnerRE = regexp.MustCompile(`created by \S+\.\(\*(Consumers|Insight)\)\.Start\b`)

// pluginRunners counts the goroutines of enrich plugin runners and insight runners (a runner just
// started may not have entered its loop yet). The test that calls it runs no other consumers in
// this process.
func pluginRunners() int {
	return len(runnerRE.FindAll(allStacks(), -1))
}

// waitRunners waits up to 10 s for want plugin runners to run (a runner that was stopped may take
// a moment to exit after it said so), and returns how many run.
func waitRunners(want int) int {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := pluginRunners()
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}
