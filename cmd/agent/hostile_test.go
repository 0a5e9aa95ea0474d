package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Hand-assembled capture plugins: a memory, and a function "capture" of type [] -> [i32].
var (
	// (loop (i32.const 1000) (global.set 1) (br 0)): resets the fuel of the first interrupt
	// instrumentation (flag global 0, fuel global 1) before its check could reach zero. The
	// module has no global 1 of its own: it is not valid, and wat2wasm --no-check builds it.
	fuelResetWasm = mustHex("0061736d010000000105016000017f030201000503010001070b0107636170747572650000" +
		"0a10010e00034041e80724010c000b41000b")
	// (loop (br 0)): valid, and never returns.
	spinWasm = mustHex("0061736d010000000105016000017f030201000503010001070b0107636170747572650000" +
		"0a0b01090003400c000b41000b")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// writeWasmPlugin writes a capture plugin folder for claude-code holding wasm, with a call
// deadline.
func writeWasmPlugin(t *testing.T, name string, wasm []byte, callTimeout string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	manifest := fmt.Sprintf(`name = %q
version = "1.0.0"
kind = "capture"
abi = 1
platform = "claude-code"
wasm = "%s.wasm"
sha256 = %q
capabilities = ["emit:events"]
emits = ["hook.*"]

[limits]
call_timeout = %q
`, name, name, hex.EncodeToString(sum[:]), callTimeout)
	if err := os.WriteFile(filepath.Join(dir, "plugin.toml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestHostilePluginDaemon installs hostile capture plugins as a user would, into a real daemon.
// The fuel-reset module, which froze a daemon for good at its first garbage collection, is
// refused at install. A plugin that spins forever is installed and fed hooks while `agent
// status` is asked again and again from other processes: every answer comes within a second, the
// plugin's calls end at their deadline, it is quarantined after three, the first-party plugin
// captures again, and the daemon stops at SIGTERM.
func TestHostilePluginDaemon(t *testing.T) {
	dataDir := newDataDir(t)

	res := runAgent(t, nil, nil, 60*time.Second, "plugins", "install", writeWasmPlugin(t, "fuelreset", fuelResetWasm, "200ms"), "--yes", "--take-over", "--data-dir", dataDir)
	if res.code == 0 || !strings.Contains(res.stderr, "global 1") {
		t.Fatalf("installing the fuel-reset module: exit %d, stderr %q; want a refusal naming the global it lacks", res.code, res.stderr)
	}

	agentOK(t, dataDir, "plugins", "install", writeWasmPlugin(t, "spinner", spinWasm, "200ms"), "--yes", "--take-over")
	d := startDaemon(t, dataDir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d.reloadServing(t, ctx, "spinner@1.0.0")

	// agent status, over and over, from other processes, while the plugin spins; and the API's
	// answer alone, without a process start.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var cli, api []time.Duration
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := execAgent(nil, nil, 10*time.Second, "status", "--json", "--data-dir", dataDir)
			mu.Lock()
			if err != nil || r.code != 0 {
				t.Errorf("agent status: %v, exit %d, stderr %s", err, r.code, r.stderr)
			}
			cli = append(cli, r.elapsed)
			mu.Unlock()
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			start := time.Now()
			apiStatus(t, dataDir)
			mu.Lock()
			api = append(api, time.Since(start))
			mu.Unlock()
		}
	})
	for i := range 3 {
		runHook(t, dataDir, fixtures[i].payload)
	}
	waitFor(t, 30*time.Second, func() string {
		if p := readState(t, dataDir).Plugins["spinner"]; p == nil || p.Quarantined == nil {
			return "spinner is not quarantined"
		}
		return ""
	})
	// The first-party plugin serves again.
	runHook(t, dataDir, fixtures[3].payload)
	waitFor(t, 30*time.Second, func() string {
		if n := byKind(apiStatus(t, dataDir))["claude-code/hook."+fixtures[3].event]; n == 0 {
			return "the first-party plugin has not stored the hook after the quarantine"
		}
		return ""
	})
	close(stop)
	wg.Wait()
	slices.Sort(cli)
	slices.Sort(api)
	t.Logf("agent status: %d runs, median %v, slowest %v; GET /v1/status: %d, median %v, slowest %v",
		len(cli), cli[len(cli)/2], cli[len(cli)-1], len(api), api[len(api)/2], api[len(api)-1])
	if len(cli) < 3 || cli[len(cli)-1] > time.Second || api[len(api)-1] > time.Second {
		t.Errorf("agent status ran %d times, the slowest in %v, the API's slowest answer %v; want answers within 1s throughout",
			len(cli), cli[len(cli)-1], api[len(api)-1])
	}
	p := pluginStatusOf(t, apiStatus(t, dataDir), "spinner")
	if !p.Quarantined || p.Failures != 3 || !strings.Contains(p.QuarantineReason, "deadline") {
		t.Errorf("status of spinner = %+v, want quarantined after 3 calls past their deadline", p)
	}
	start := time.Now()
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d after SIGTERM\n%s", code, d.stderr.String())
	}
	t.Logf("the daemon stopped %v after SIGTERM", time.Since(start))
}
