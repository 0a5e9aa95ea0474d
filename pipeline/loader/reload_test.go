package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/store"
)

// buildPluginFolder builds the Go test plugin host/testdata/<src> into a plugin folder named name,
// of kind, asking for caps (platform is for a capture plugin).
func buildPluginFolder(t *testing.T, src, name string, kind host.Kind, platform string, caps ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	wasmPath := filepath.Join(dir, name+".wasm")
	build := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", wasmPath, "../../host/testdata/"+src)
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", src, err, out)
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
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

// pluginRunners counts the goroutines of enrich plugin runners (pipeline.Consumers) and insight
// runners, by who created them (a runner just started may not have entered its loop yet). The test
// that calls it runs no other consumers in this process.
func pluginRunners() int {
	buf := allStacks()
	return bytes.Count(buf, []byte("created by github.com/hangar-dev/hangar/pipeline.(*Consumers).Start")) +
		bytes.Count(buf, []byte("created by github.com/hangar-dev/hangar/host.(*Insight).Start"))
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

// TestReloadsSerialized races two plugin reloads and the hand-back of a quarantined capture
// plugin, over and over, in one loader (run it with -race). A reload used to unlock, while it
// stopped the enrich and insight runners, the mutex its caller held, so another reload or a
// hand-back ran in the middle of it: the first then started runners over the other's (which ran on,
// leaked) and closed, from its stale list, the capture plugin the hand-back had just put in
// service, so that every record of the platform failed. After each round, exactly one enrich and
// one insight runner run, and the capture in service captures; after Close, none runs.
func TestReloadsSerialized(t *testing.T) {
	dataDir := newDataDir(t)
	writeSecret(t, dataDir)
	reg, err := openRegistry(dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	install := func(dir string) {
		t.Helper()
		m, _, err := host.ReadPluginDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Install(dir, m.Capabilities, host.InstallOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	install(writeTrapPlugin(t))
	// The hand-back goes to the next capture plugin in line: a small one (the trap plugin under
	// another name, which serves any record without "mode"), not the first-party plugin, whose
	// compilation alone would take minutes under -race on a busy machine.
	install(buildPluginFolder(t, "adversarial/trap", "zz-standby", host.KindCapture, "claude-code", "read:payload.mode", "emit:events"))
	if err := reg.Disable("claude-code"); err != nil {
		t.Fatal(err)
	}
	install(buildPluginFolder(t, "enrich-toolstats", "toolstats", host.KindEnrich, "", "read:events", "emit:derived:tool-stats", "kv"))
	install(buildPluginFolder(t, "insight-repeat", "repeat", host.KindInsight, "", "read:derived:tool-stats"))

	st, err := store.Open(filepath.Join(dataDir, daemon.StoreName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	caps, err := captures()
	if err != nil {
		t.Fatal(err)
	}
	l := newPluginLoader(dataDir, caps, slog.New(slog.DiscardHandler))
	l.withStore(func(*store.Store) []pipeline.Consumer { return nil })(st)
	closed := false
	defer func() {
		if !closed {
			l.Close()
		}
	}()
	swap := caps[pipeline.PlatformClaudeCode].(*swapCapture)
	trap := withMode(t, fixtures[0].payload, "trap")

	// Rounds until 20 or the budget runs out; the first always runs. Under -race on a busy machine
	// a round takes a minute (each reload instruments and loads four Go modules).
	budget := 3 * time.Minute
	if testing.Short() {
		budget = 45 * time.Second
	}
	deadline := time.Now().Add(budget)
	rounds := 0
	for ; rounds < 20 && time.Now().Before(deadline); rounds++ {
		if err := reg.Enable("trapper"); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Reload(); err != nil {
			t.Fatal(err)
		}
		if by := swap.cur.Load().by; by != "trapper@1.0.0" {
			t.Fatalf("round %d: claude-code served by %s before the race, want trapper@1.0.0", rounds, by)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				<-start
				if _, err := l.Reload(); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Go(func() {
			<-start
			// Trap until the host quarantines the plugin and the loader hands claude-code back
			// (calls that meet a plugin a reload replaced fail without counting).
			for range 4 * host.DefaultQuarantineAfter {
				if swap.cur.Load().by != "trapper@1.0.0" {
					return
				}
				rec := newRecord(trap)
				swap.Capture(&rec)
			}
		})
		close(start)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			t.Fatalf("round %d: two reloads and a hand-back did not end within 2 minutes (a deadlock?):\n%s", rounds, allStacks())
		}

		rec := newRecord(fixtures[0].payload)
		if _, err := swap.Capture(&rec); err != nil {
			t.Fatalf("round %d: the capture in service (%s) fails: %v", rounds, swap.cur.Load().by, err)
		}
		if n := waitRunners(2); n != 2 {
			t.Fatalf("round %d: %d plugin runners run, want 2 (one enrich, one insight)", rounds, n)
		}
	}
	closed = true
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	if n := waitRunners(0); n != 0 {
		t.Errorf("after Close, %d plugin runners still run", n)
	}
	t.Logf("%d rounds", rounds)
}
