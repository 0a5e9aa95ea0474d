package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
)

// trapWasm is the trap plugin's module, built once per test binary.
var trapWasm struct {
	once sync.Once
	data []byte
	err  error
}

// writeTrapPlugin builds the adversarial trap plugin of the host's suite (a record with
// "mode": "trap" makes it trap, "panic" makes it fail the record; any other yields one trap.ok
// event) into a plugin folder: a capture plugin for claude-code named trapper.
func writeTrapPlugin(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "trapper")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(dir, "trapper.wasm")
	trapWasm.once.Do(func() {
		out := filepath.Join(t.TempDir(), "trapper.wasm")
		build := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, "../../host/testdata/adversarial/trap")
		build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if msg, err := build.CombinedOutput(); err != nil {
			trapWasm.err = fmt.Errorf("build the trap plugin: %v\n%s", err, msg)
			return
		}
		trapWasm.data, trapWasm.err = os.ReadFile(out)
	})
	if trapWasm.err != nil {
		t.Fatal(trapWasm.err)
	}
	data := trapWasm.data
	if err := os.WriteFile(wasm, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m := host.Manifest{Name: "trapper", Version: "1.0.0", Kind: host.KindCapture, ABI: host.ABIVersion, Platform: "claude-code", Wasm: "trapper.wasm"}
	sum := sha256.Sum256(data)
	m.SHA256 = hex.EncodeToString(sum[:])
	manifest := fmt.Sprintf(`name = %q
version = %q
kind = "capture"
abi = %d
platform = "claude-code"
wasm = %q
sha256 = %q
capabilities = ["read:payload.mode", "emit:events"]
emits = ["trap.*"]
`, m.Name, m.Version, m.ABI, m.Wasm, m.SHA256)
	if err := os.WriteFile(filepath.Join(dir, "plugin.toml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// withMode returns a hook payload (a JSON object) with "mode" set.
func withMode(t *testing.T, payload []byte, mode string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	m["mode"], _ = json.Marshal(mode)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readState(t *testing.T, dataDir string) host.State {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, host.PluginsDir, host.StateName))
	if err != nil {
		t.Fatal(err)
	}
	var st host.State
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("state.json: %v\n%s", err, data)
	}
	return st
}

func pluginStatusOf(t *testing.T, st daemon.Status, name string) daemon.PluginStatus {
	t.Helper()
	for _, p := range st.Plugins {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("status lists no plugin %s: %+v", name, st.Plugins)
	return daemon.PluginStatus{}
}

// TestPluginQuarantine runs a capture plugin that traps until the host quarantines it: the
// quarantine is recorded in state.json and the audit log, shows in `plugins list`, `plugins info`,
// `status` and /metrics, and the built-in capture takes the platform back at once, so later
// payloads are stored, not dead-lettered. `plugins enable` lifts the quarantine.
func TestPluginQuarantine(t *testing.T) {
	dataDir := newDataDir(t)
	agentOK(t, dataDir, "plugins", "install", writeTrapPlugin(t), "--yes", "--take-over")
	d := startDaemon(t, dataDir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d.reloadServing(t, ctx, "trapper@1.0.0")

	// The plugin serves: a payload without "mode" becomes its trap.ok event.
	runHook(t, dataDir, fixtures[0].payload)
	waitEvents(t, dataDir, 1, 20*time.Second)
	// Three calls in a row trap: their records are dead-lettered, and the plugin is quarantined.
	for i := range host.DefaultQuarantineAfter {
		runHook(t, dataDir, withMode(t, fixtures[1+i].payload, "trap"))
	}
	waitFor(t, 20*time.Second, func() string {
		if st := apiStatus(t, dataDir); st.DLQSize != int64(host.DefaultQuarantineAfter) {
			return fmt.Sprintf("dlq_size %d, want %d", st.DLQSize, host.DefaultQuarantineAfter)
		}
		return ""
	})
	for _, e := range dlqList(t, dataDir) {
		if e.Stage != "capture" || !strings.Contains(e.Reason, "trapper") || !strings.Contains(e.Reason, "trapped") {
			t.Errorf("dead letter %d: stage %q reason %q, want the plugin's trap", e.Seq, e.Stage, e.Reason)
		}
	}

	// Later payloads, traps included, are captured by the first-party plugin, which took over.
	later := withMode(t, fixtures[10].payload, "trap")
	runHook(t, dataDir, later)
	runHook(t, dataDir, fixtures[11].payload)
	st := waitEvents(t, dataDir, 3, 20*time.Second)
	kinds := byKind(st)
	if kinds["claude-code/trap.ok"] != 1 || kinds["claude-code/hook."+fixtures[10].event]+kinds["claude-code/hook."+fixtures[11].event] < 2 ||
		st.DLQSize != int64(host.DefaultQuarantineAfter) {
		t.Errorf("after the quarantine: events by kind %v, dlq %d; want trap.ok from the plugin, then the first-party plugin's hook events and no new dead letters", kinds, st.DLQSize)
	}

	// state.json, plugins list and info, the audit log.
	ps := readState(t, dataDir).Plugins["trapper"]
	if ps == nil || ps.Enabled || ps.Quarantined == nil || !strings.Contains(ps.Quarantined.Reason, "3 calls in a row failed") ||
		time.Since(ps.Quarantined.Time) > time.Minute {
		t.Errorf("state.json trapper = %+v, want disabled and quarantined with the reason and time", ps)
	}
	if p := listPlugins(t, dataDir)["trapper"]; !p.Quarantined || p.Enabled || !strings.Contains(p.QuarantineReason, "calls in a row failed") {
		t.Errorf("plugins list --json: trapper = %+v, want quarantined with its reason", p)
	}
	if out := agentOK(t, dataDir, "plugins", "list").stdout; !strings.Contains(out, "yes: 3 calls in a row") {
		t.Errorf("plugins list does not show the quarantine:\n%s", out)
	}
	if out := agentOK(t, dataDir, "plugins", "info", "trapper").stdout; !strings.Contains(out, "Quarantined: since") || !strings.Contains(out, "trapped") {
		t.Errorf("plugins info does not show the quarantine:\n%s", out)
	}
	var audit auditJSON
	if err := json.Unmarshal([]byte(agentOK(t, dataDir, "audit", "--json", "--limit", "0").stdout), &audit); err != nil {
		t.Fatal(err)
	}
	quarantines := 0
	for _, e := range audit.Entries {
		if e.Plugin == "trapper" && e.Action == host.AuditQuarantine {
			quarantines++
		}
	}
	if quarantines != 1 {
		t.Errorf("%d quarantine entries for trapper in the audit log, want 1: %+v", quarantines, audit.Entries)
	}

	// Status, JSON and text, and /metrics.
	p := pluginStatusOf(t, cliStatus(t, dataDir), "trapper")
	if !p.Quarantined || p.Running || p.Enabled || p.Calls != 4 || p.Failures != 3 || p.Records != 1 || p.Kind != "capture" || p.Version != "1.0.0" ||
		p.GuestMS <= 0 || p.ColdStartMS <= 0 || p.InstanceMemoryBytes <= 0 || p.MemoryLimitBytes != host.DefaultMemoryPages*64<<10 ||
		!strings.Contains(p.QuarantineReason, "trapped") {
		t.Errorf("status of trapper = %+v", p)
	}
	if cc := pluginStatusOf(t, cliStatus(t, dataDir), "claude-code"); !cc.Enabled || !cc.Running || cc.Calls == 0 || cc.Source != host.SourceBuiltin {
		t.Errorf("status of the first-party claude-code, serving since the quarantine = %+v", cc)
	}
	text := agentOK(t, dataDir, "status").stdout
	for _, want := range []string{"trapper@1.0.0", "QUARANTINED", "Quarantined: trapper: 3 calls in a row failed, the last with: host: plugin trapped: wasm error: unreachable (`agent plugins enable trapper` lifts it)\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("agent status lacks %q:\n%s", want, text)
		}
	}
	metrics, err := d.client().Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	samples := parseMetrics(t, metrics)
	for sample, want := range map[string]float64{
		`hangar_plugin_quarantined{plugin="trapper"}`:             1,
		`hangar_plugin_calls_total{plugin="trapper"}`:             4,
		`hangar_plugin_call_failures_total{plugin="trapper"}`:     3,
		`hangar_plugin_records_total{plugin="trapper"}`:           1,
		`hangar_plugin_memory_limit_bytes{plugin="trapper"}`:      host.DefaultMemoryPages * 64 << 10,
		`hangar_plugin_refused_emissions_total{plugin="trapper"}`: 0,
	} {
		if got, ok := samples[sample]; !ok || got != want {
			t.Errorf("/metrics %s = %v (present %v), want %v", sample, got, ok, want)
		}
	}
	for _, sample := range []string{`hangar_plugin_guest_seconds_total{plugin="trapper"}`, `hangar_plugin_cold_start_seconds{plugin="trapper"}`} {
		if samples[sample] <= 0 {
			t.Errorf("/metrics %s = %v, want > 0", sample, samples[sample])
		}
	}

	// A reload keeps the first-party plugin serving: the registry says quarantined.
	d.reloadServing(t, ctx, "claude-code@2.0.0")
	// Enabling lifts the quarantine, and the plugin serves again, afresh.
	agentOK(t, dataDir, "plugins", "enable", "trapper")
	if p := listPlugins(t, dataDir)["trapper"]; p.Quarantined || !p.Enabled {
		t.Errorf("after enable: %+v, want enabled and not quarantined", p)
	}
	d.reloadServing(t, ctx, "trapper@1.0.0")
	runHook(t, dataDir, fixtures[12].payload)
	st = waitEvents(t, dataDir, 4, 20*time.Second)
	if n := byKind(st)["claude-code/trap.ok"]; n != 2 {
		t.Errorf("%d trap.ok events after enable, want 2", n)
	}
	if p := pluginStatusOf(t, st, "trapper"); p.Quarantined || !p.Running || p.Calls != 1 || p.Failures != 0 {
		t.Errorf("status of trapper after enable = %+v", p)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d\n%s", code, d.stderr.String())
	}
}

// TestPluginQuarantineOnFailedRecords runs an installed capture plugin whose calls all succeed but
// which fails every record: after host.DefaultQuarantineRecordsAfter records in a row it is
// quarantined (recorded in state.json, shown in status, saying why without quoting it), the
// first-party plugin takes the platform back at once, and `agent dlq replay` captures the records
// it failed.
func TestPluginQuarantineOnFailedRecords(t *testing.T) {
	dataDir := newDataDir(t)
	agentOK(t, dataDir, "plugins", "install", writeTrapPlugin(t), "--yes", "--take-over")
	d := startDaemon(t, dataDir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d.reloadServing(t, ctx, "trapper@1.0.0")
	const n = host.DefaultQuarantineRecordsAfter
	for i := range n {
		checkHookResult(t, runHook(t, dataDir, withMode(t, fixtures[i].payload, "panic")), 5*time.Second)
	}
	waitFor(t, 30*time.Second, func() string {
		if st := apiStatus(t, dataDir); st.DLQSize != n || st.QueueDepth != 0 {
			return fmt.Sprintf("dlq_size %d, queue %d; want %d dead letters", st.DLQSize, st.QueueDepth, n)
		}
		return ""
	})
	st := apiStatus(t, dataDir)
	p := pluginStatusOf(t, st, "trapper")
	wantReason := fmt.Sprintf("%d records in a row failed and none was captured (%d failed by the plugin, 0 whose events the host refused)", n, n)
	if !p.Quarantined || p.Running || p.Failures != 0 || p.RecordErrors != n || p.QuarantineReason != wantReason {
		t.Errorf("status of trapper = %+v; want quarantined with %q, no failed call, %d record errors", p, wantReason, n)
	}
	if ps := readState(t, dataDir).Plugins["trapper"]; ps == nil || ps.Enabled || ps.Quarantined == nil || ps.Quarantined.Reason != wantReason {
		t.Errorf("state.json trapper = %+v, want disabled and quarantined", ps)
	}

	// The first-party plugin serves the platform again: the next payload is captured.
	checkHookResult(t, runHook(t, dataDir, withMode(t, fixtures[n].payload, "panic")), 5*time.Second)
	waitEvents(t, dataDir, 1, 20*time.Second)
	if cc := pluginStatusOf(t, apiStatus(t, dataDir), "claude-code"); !cc.Running || cc.Calls == 0 {
		t.Errorf("the first-party plugin does not serve: %+v", cc)
	}
	// The failed records replay through it.
	out := agentOK(t, dataDir, "dlq", "replay", "--all").stdout
	if !strings.Contains(out, fmt.Sprintf("Replayed %d;", n)) {
		t.Errorf("dlq replay: %s", out)
	}
	if st := waitEvents(t, dataDir, n+1, 20*time.Second); st.DLQSize != 0 {
		t.Errorf("dlq_size %d after the replay, want 0", st.DLQSize)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d\n%s", code, d.stderr.String())
	}
}
