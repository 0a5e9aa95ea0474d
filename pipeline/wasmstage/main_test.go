package wasmstage

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/host/hosttest"
	"go.uber.org/goleak"
)

// testWasm holds the test plugins, built once per test binary from their sources among the host's
// test plugins (host/testdata/<name>, where the agent's tests build them too); testCacheDir is the
// compilation cache the tests' hosts share.
var (
	testWasm     = map[string][]byte{}
	testCacheDir string
)

// testPlugins maps the test plugins' names to their source folders under host/testdata.
var testPlugins = map[string]string{
	"enrich-toolstats": "enrich-toolstats",
	"enrich-badkind":   "enrich-badkind",
	"insight-repeat":   "insight-repeat",
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hangar-wasmstage-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testCacheDir = hosttest.CacheDir(filepath.Join(dir, "cache"))
	flag.Parse()
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		os.RemoveAll(dir)
		os.Exit(m.Run()) // listing the tests needs no test plugin
	}
	if err := buildTestPlugins(dir); err != nil {
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

// buildTestPlugins compiles the test plugins into dir (hosttest.BuildPlugins).
func buildTestPlugins(dir string) error {
	wasm, err := hosttest.BuildPlugins(dir, testPlugins)
	if err != nil {
		return err
	}
	testWasm = wasm
	return nil
}

// newTestHost returns a host over the test binary's compilation cache, closed with the test.
func newTestHost(t testing.TB, cfg host.Config) *host.Host {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = testCacheDir
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

// loadKind loads a test plugin of a kind (enrich or insight), granted exactly caps.
func loadKind(t testing.TB, h *host.Host, name string, kind host.Kind, caps []string) *host.Plugin {
	t.Helper()
	sum := sha256.Sum256(testWasm[name])
	m := host.Manifest{
		Name: name, Version: "1.0.0", Kind: kind, ABI: host.ABIVersion,
		Wasm: name + ".wasm", SHA256: hex.EncodeToString(sum[:]), Capabilities: caps,
	}
	g, err := host.NewGrants(caps)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, testWasm[name], g)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// auditSink is a host.Auditor in memory.
type auditSink struct {
	mu      sync.Mutex
	entries []host.AuditEntry
}

var _ host.Auditor = (*auditSink)(nil)

func (a *auditSink) Record(e host.AuditEntry) error {
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
