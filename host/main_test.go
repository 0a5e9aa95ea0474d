package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/host/internal/childtest"
	"go.uber.org/goleak"
)

// testWasm holds the test plugins, built once per test binary from testdata/ into testWasmDir.
var (
	testWasm     = map[string][]byte{}
	testWasmDir  string
	testCacheDir string
)

// testPlugins maps a test plugin's name to its source folder under testdata/.
var testPlugins = map[string]string{
	"echo":          "echo",
	"capture-bench": "capture-bench",
	"kv":            "kv",
	"loop":          "adversarial/loop",
	"membomb":       "adversarial/membomb",
	"flood":         "adversarial/flood",
	"trap":          "adversarial/trap",
	"fsescape":      "adversarial/fsescape",
	"kvnogrant":     "adversarial/kvnogrant",
	"leak":          "adversarial/leak",
	"malformed":     "adversarial/malformed",
	"sleep":         "adversarial/sleep",
	"logspam":       "adversarial/logspam",
	"fsread":        "fsread",
	"exfil":         "adversarial/exfil",
	"carry":         "adversarial/carry",
	// Enrich and insight plugins: package wasmstage runs them; here they are real modules the
	// interrupt rewrite is tried on (TestInstrumentInterruptsRealModules).
	"enrich-toolstats": "enrich-toolstats",
	"enrich-badkind":   "enrich-badkind",
	"insight-repeat":   "insight-repeat",
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hangar-host-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testCacheDir = hosttest.CacheDir(filepath.Join(dir, "cache"))
	testWasmDir = dir
	flag.Parse()
	if flagSet("test.fuzz") || flagSet("test.list") {
		// Fuzzing (just fuzz, with -run '^$') and listing (just fuzz finds the targets) need no
		// test plugin: skip building them.
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	if built := os.Getenv(envChildWasm); built != "" {
		// A child test process (inChild): the parent built the plugins and warmed the cache.
		testWasmDir, testCacheDir = built, hosttest.CacheDir(filepath.Join(built, "cache"))
		err = loadTestPlugins(built)
	} else {
		err = buildTestPlugins(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreCurrent()); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// flagSet reports whether the test flag of a name was given a value.
func flagSet(name string) bool {
	f := flag.Lookup(name)
	return f != nil && f.Value.String() != ""
}

// buildTestPlugins compiles every test plugin into dir (hosttest.BuildPlugins).
func buildTestPlugins(dir string) error {
	wasm, err := hosttest.BuildPlugins(dir, testPlugins)
	if err != nil {
		return err
	}
	testWasm = wasm
	return nil
}

// loadTestPlugins reads the test plugins a parent test process built into dir.
func loadTestPlugins(dir string) error {
	for name := range testPlugins {
		b, err := os.ReadFile(filepath.Join(dir, name+".wasm"))
		if err != nil {
			return fmt.Errorf("load test plugins: %w", err)
		}
		testWasm[name] = b
	}
	return nil
}

// envChildWasm tells a child test process (inChild) where the parent built the plugins.
const envChildWasm = "HANGAR_TEST_CHILD_WASM"

// inChild runs the calling top-level test in a child process of this test binary, with a hard
// time limit and the extra environment given, and reports whether the caller is the parent, which
// must then return (childtest.Run). The child loads the plugins the parent built.
//
// A test whose guest could hold a stop-the-world (compiled WASM code is not preemptible) must run
// this way: only another process can fail such a test instead of hanging the suite.
func inChild(t *testing.T, limit time.Duration, env ...string) (parent bool) {
	t.Helper()
	return childtest.Run(t, limit, append([]string{envChildWasm + "=" + testWasmDir}, env...)...)
}

// testEmits are the event kinds the test plugins emit, as their manifests declare them.
var testEmits = []string{
	"hook.*", "fs.*", "kv.*", "leak.*", "flood.*", "trap.*", "sleep.*", "spam.*", "carry.*", "exfil.*", "salt",
}

// testManifest returns a valid capture manifest for a test plugin with the given capabilities
// (emit:events is added) and limits.
func testManifest(name string, caps []string, lim Limits) Manifest {
	sum := sha256.Sum256(testWasm[name])
	return Manifest{
		Name: name, Version: "1.0.0", Kind: KindCapture, ABI: ABIVersion, Platform: "claude-code",
		Wasm: name + ".wasm", SHA256: hex.EncodeToString(sum[:]),
		Capabilities: append([]string{"emit:events"}, caps...), Emits: testEmits, Limits: lim,
	}
}

// newTestHost returns a host over the test binary's shared compilation cache, closed with the test.
func newTestHost(t testing.TB, cfg Config) *Host {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = testCacheDir
	}
	h, err := New(cfg)
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

// loadTest loads a test plugin granted its manifest's capabilities.
func loadTest(t testing.TB, h *Host, name string, caps []string, lim Limits) *Plugin {
	t.Helper()
	m := testManifest(name, caps, lim)
	g, err := NewGrants(m.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, testWasm[name], g)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// auditSink is an Auditor in memory.
type auditSink struct {
	mu      sync.Mutex
	entries []AuditEntry
}

func (a *auditSink) Record(e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return nil
}

// count returns the occurrences of an action for a plugin.
func (a *auditSink) count(plugin, action string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var n int64
	for _, e := range a.entries {
		if e.Plugin == plugin && e.Action == action {
			n += e.N()
		}
	}
	return n
}

var _ Auditor = (*auditSink)(nil)

// hookPayloads returns the real Claude Code hook payloads of the shared fixtures, compacted.
func hookPayloads(t testing.TB) [][]byte {
	t.Helper()
	out := hosttest.HookPayloads(t)
	for i, p := range out {
		out[i] = compact(p)
	}
	return out
}

// compact returns b compacted, or b itself if it is not JSON.
func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

// skipShort skips a test in -short mode: the race detector run (just race) uses it for the tests
// that only repeat compute-heavy work (compiling every module, thousands of guest calls) that the
// full `go test ./...` runs without -short.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("compute-heavy: runs in go test ./... without -short")
	}
}
