package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
)

// firstPartyWasm is a real capture module: the committed build of the Claude Code plugin.
const firstPartyWasm = "../../plugins/claude-code/claude-code.wasm"

// writeTestPlugin writes a plugin folder around the real Claude Code module, named name, asking
// for caps: a capture plugin for claude-code.
func writeTestPlugin(t *testing.T, name, version string, caps ...string) string {
	t.Helper()
	return writePluginFolder(t, testPluginSpec{name: name, version: version, platform: "claude-code", caps: caps})
}

// testPluginSpec is a capture plugin folder for writePluginFolder.
type testPluginSpec struct {
	name, version, platform string
	caps                    []string
	// variant, if not empty, makes the module differ from the first-party one (and from other
	// variants) by a custom section holding it: another module that behaves the same.
	variant string
}

// writePluginFolder writes a plugin folder around the real Claude Code module.
func writePluginFolder(t *testing.T, p testPluginSpec) string {
	t.Helper()
	wasm, err := os.ReadFile(firstPartyWasm)
	if err != nil {
		t.Fatal(err)
	}
	if p.variant != "" {
		// A custom section (id 0): a name, then bytes. Both lengths fit one LEB128 byte.
		name := "hangar-test"
		payload := append([]byte{byte(len(name))}, name...)
		payload = append(payload, p.variant...)
		wasm = append(append(bytes.Clone(wasm), 0, byte(len(payload))), payload...)
	}
	sum := sha256.Sum256(wasm)
	dir := filepath.Join(t.TempDir(), p.name+"-"+p.version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var quoted []string
	for _, c := range p.caps {
		quoted = append(quoted, fmt.Sprintf("%q", c))
	}
	manifest := fmt.Sprintf(`name = %q
version = %q
kind = "capture"
abi = 1
platform = %q
description = "A test capture."
authors = ["Ada Lovelace", "Grace Hopper"]
wasm = "capture.wasm"
sha256 = %q
capabilities = [%s]
emits = ["hook.*", "transcript.*"]
`, p.name, p.version, p.platform, hex.EncodeToString(sum[:]), strings.Join(quoted, ", "))
	if err := os.WriteFile(filepath.Join(dir, "plugin.toml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "capture.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// firstPartyCaps returns the capabilities the first-party claude-code plugin asks for.
func firstPartyCaps(t *testing.T) []string {
	t.Helper()
	m, _, err := host.ReadPluginDir(filepath.Dir(firstPartyWasm))
	if err != nil {
		t.Fatal(err)
	}
	return m.Capabilities
}

// agent runs the binary on dataDir and returns how it ended.
func agent(t *testing.T, dataDir string, args ...string) result {
	t.Helper()
	return runAgent(t, nil, nil, 60*time.Second, append(args, "--data-dir", dataDir)...)
}

func agentOK(t *testing.T, dataDir string, args ...string) result {
	t.Helper()
	res := agent(t, dataDir, args...)
	if res.code != 0 {
		t.Fatalf("agent %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res
}

func agentFails(t *testing.T, dataDir, wantErr string, args ...string) result {
	t.Helper()
	res := agent(t, dataDir, args...)
	if res.code == 0 || !strings.Contains(res.stderr, wantErr) {
		t.Fatalf("agent %s: exit %d, stderr %q; want a failure saying %q", strings.Join(args, " "), res.code, res.stderr, wantErr)
	}
	return res
}

func listPlugins(t *testing.T, dataDir string) map[string]pluginJSON {
	t.Helper()
	res := agentOK(t, dataDir, "plugins", "list", "--json")
	var list []pluginJSON
	if err := json.Unmarshal([]byte(res.stdout), &list); err != nil {
		t.Fatalf("plugins list --json: %v\n%s", err, res.stdout)
	}
	out := map[string]pluginJSON{}
	for _, p := range list {
		out[p.Name] = p
	}
	return out
}

var testCaps = []string{"read:payload.hook_event_name", "read:payload.session_id", "read:payload.tool_name", "emit:events"}

func TestPluginsCLI(t *testing.T) {
	t.Setenv(cacheDirEnv, "") // install must warm the data directory's own cache
	dataDir := newDataDir(t)

	// A fresh data dir lists the built-in plugins.
	list := listPlugins(t, dataDir)
	if cc, ok := list["claude-code"]; !ok || cc.Source != host.SourceBuiltin || !cc.Enabled || cc.Kind != "capture" || cc.Platform != "claude-code" {
		t.Fatalf("fresh list = %+v, want the built-in claude-code, enabled", list)
	}
	table := agentOK(t, dataDir, "plugins", "list").stdout
	for _, want := range []string{"claude-code", "builtin", "QUARANTINED"} {
		if !strings.Contains(table, want) {
			t.Errorf("plugins list lacks %q:\n%s", want, table)
		}
	}

	src := writeTestPlugin(t, "counter", "1.0.0", append(slices.Clone(testCaps), "content:prompt")...)
	// Without a terminal and without --yes, install shows what the plugin asks for and refuses.
	res := agentFails(t, dataDir, "no terminal", "plugins", "install", src)
	for _, want := range []string{"counter", "1.0.0", "capture plugin for claude-code", "A test capture.", "Ada Lovelace, Grace Hopper",
		`read the field "tool_name" of each record`, "! content:prompt", "READ YOUR PROMPT", "CAN READ YOUR PROMPTS", "store events"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("install screen lacks %q:\n%s", want, res.stdout)
		}
	}
	if _, ok := listPlugins(t, dataDir)["counter"]; ok {
		t.Fatal("a refused install installed the plugin")
	}

	// A module that does not match its sha256 is refused.
	bad := writeTestPlugin(t, "counter", "1.0.0", testCaps...)
	os.WriteFile(filepath.Join(bad, "capture.wasm"), []byte("\x00asm"), 0o644)
	agentFails(t, dataDir, "checksum", "plugins", "install", bad, "--yes")
	// So is a manifest asking for the network.
	netDir := writeTestPlugin(t, "counter", "1.0.0", "emit:events", "net:example.com")
	agentFails(t, dataDir, "plugins get no network", "plugins", "install", netDir, "--yes")

	res = agentOK(t, dataDir, "plugins", "install", src, "--yes", "--take-over")
	if !strings.Contains(res.stdout, "Installed counter@1.0.0 (enabled)") {
		t.Errorf("install output:\n%s", res.stdout)
	}
	installed := filepath.Join(dataDir, "plugins", "counter", "1.0.0")
	for path, want := range map[string]os.FileMode{installed: 0o700, filepath.Join(installed, "capture.wasm"): 0o600,
		filepath.Join(installed, "plugin.toml"): 0o600, filepath.Join(dataDir, "plugins", "state.json"): 0o600, filepath.Join(dataDir, "audit.log"): 0o600} {
		if got := fileMode(t, path); got != want {
			t.Errorf("mode of %s = %v, want %v", path, got, want)
		}
	}
	if entries, err := os.ReadDir(pluginCacheDir(dataDir)); err != nil || len(entries) == 0 {
		t.Errorf("install left the compilation cache empty (%v)", err)
	}
	p := listPlugins(t, dataDir)["counter"]
	if p.Source != host.SourceInstalled || !p.Enabled || p.Version != "1.0.0" || len(p.Granted) != 5 {
		t.Errorf("installed plugin = %+v", p)
	}
	agentFails(t, dataDir, "already installed", "plugins", "install", src, "--yes")

	info := agentOK(t, dataDir, "plugins", "info", "counter").stdout
	for _, want := range []string{"Enabled:     yes", "installed, " + installed, "Granted:", "content:prompt"} {
		if !strings.Contains(info, want) {
			t.Errorf("plugins info lacks %q:\n%s", want, info)
		}
	}

	// Grants: strict.
	agentFails(t, dataDir, "plugins get no network", "plugins", "grant", "counter", "net:example.com")
	agentFails(t, dataDir, "does not ask for", "plugins", "grant", "counter", "kv")
	agentFails(t, dataDir, "unknown plugin", "plugins", "grant", "nope", "kv")
	agentFails(t, dataDir, "unknown plugin", "plugins", "info", "nope")
	agentFails(t, dataDir, "unknown plugin", "plugins", "enable", "nope")
	agentOK(t, dataDir, "plugins", "revoke", "counter", "content:prompt")
	res = agentOK(t, dataDir, "plugins", "revoke", "counter", "emit:events")
	if !strings.Contains(res.stdout, "now disabled") {
		t.Errorf("revoke of the emit right: %s", res.stdout)
	}
	agentFails(t, dataDir, "emit right", "plugins", "enable", "counter")
	agentOK(t, dataDir, "plugins", "grant", "counter", "emit:events")
	agentOK(t, dataDir, "plugins", "enable", "counter")
	agentOK(t, dataDir, "plugins", "disable", "counter")
	p = listPlugins(t, dataDir)["counter"]
	if p.Enabled || slices.Contains(p.Granted, "content:prompt") || !slices.Contains(p.Granted, "emit:events") {
		t.Errorf("after revoke, grant, enable, disable: %+v", p)
	}

	// An upgrade asking for more asks again: refused without a terminal, then granted with --yes.
	up := writeTestPlugin(t, "counter", "1.1.0", append(slices.Clone(testCaps), "read:payload.model")...)
	res = agentFails(t, dataDir, "no terminal", "plugins", "install", up)
	if !strings.Contains(res.stdout, "Upgrade counter from 1.0.0 to 1.1.0") || !strings.Contains(res.stdout, "ALSO asks") ||
		!strings.Contains(res.stdout, "read:payload.model") {
		t.Errorf("upgrade screen:\n%s", res.stdout)
	}
	agentOK(t, dataDir, "plugins", "install", up, "--yes")
	p = listPlugins(t, dataDir)["counter"]
	if p.Version != "1.1.0" || !slices.Contains(p.Granted, "read:payload.model") || !slices.Contains(p.Granted, "read:payload.tool_name") || p.Enabled {
		t.Errorf("after upgrade: %+v", p)
	}
	// An upgrade asking for nothing new needs no confirmation.
	up2 := writeTestPlugin(t, "counter", "1.2.0", testCaps...)
	agentOK(t, dataDir, "plugins", "install", up2)

	agentFails(t, dataDir, "cannot be removed", "plugins", "remove", "claude-code")
	agentOK(t, dataDir, "plugins", "remove", "counter")
	if _, ok := listPlugins(t, dataDir)["counter"]; ok {
		t.Error("removed plugin still listed")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "plugins", "counter")); !os.IsNotExist(err) {
		t.Errorf("remove left the plugin's folder: %v", err)
	}

	// The audit log has it all.
	res = agentOK(t, dataDir, "audit", "--json", "--limit", "0")
	var audit auditJSON
	if err := json.Unmarshal([]byte(res.stdout), &audit); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, res.stdout)
	}
	var got []string
	for _, e := range audit.Entries {
		got = append(got, e.Action+" "+e.Detail)
	}
	for _, want := range []string{"install counter@1.0.0", "grant content:prompt", "revoke content:prompt", "revoke emit:events",
		"disable its emit right was revoked", "grant emit:events", "enable ", "disable ", "upgrade 1.0.0 -> 1.1.0",
		"grant read:payload.model", "upgrade 1.1.0 -> 1.2.0", "remove counter@1.2.0"} {
		if !slices.Contains(got, want) {
			t.Errorf("audit log lacks %q: %q", want, got)
		}
	}
	if len(audit.Summary) != 1 || audit.Summary[0].Plugin != "counter" {
		t.Errorf("audit summary = %+v", audit.Summary)
	}
	table = agentOK(t, dataDir, "audit").stdout
	for _, want := range []string{"Per plugin", "counter", "CONTENT READ", "Latest entries"} {
		if !strings.Contains(table, want) {
			t.Errorf("audit table lacks %q:\n%s", want, table)
		}
	}
}

// TestPluginsDaemonReload installs and enables a capture plugin while the daemon runs: the CLI
// tells the daemon, which serves the platform with the plugin; disabling it brings the built-in
// capture back.
func TestPluginsDaemonReload(t *testing.T) {
	dataDir := newDataDir(t)
	d := startDaemon(t, dataDir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d.reloadServing(t, ctx, "claude-code@2.0.0")
	agentOK(t, dataDir, "plugins", "install", writeTestPlugin(t, "counter", "1.0.0", testCaps...), "--yes", "--take-over")
	waitFor(t, 10*time.Second, func() string {
		if !strings.Contains(d.stderr.String()+readLog(dataDir), "counter@1.0.0") {
			return "the daemon did not log loading counter@1.0.0"
		}
		return ""
	})
	d.reloadServing(t, ctx, "counter@1.0.0")
	// The running daemon's status says so too.
	if got := capturesOf(t, dataDir)["claude-code"]; got != "counter@1.0.0" {
		t.Errorf("status of the running daemon: claude-code captured by %q, want counter@1.0.0", got)
	}
	// The plugin captures real hook payloads.
	runHook(t, dataDir, fixtures[0].payload)
	st := waitEvents(t, dataDir, 1, 20*time.Second)
	// Status shows its resource use.
	if p := pluginStatusOf(t, st, "counter"); !p.Running || !p.Enabled || p.Quarantined || p.Calls != 1 || p.Records != 1 ||
		p.Failures != 0 || p.GuestMS <= 0 || p.ColdStartMS <= 0 || p.InstanceMemoryBytes <= 0 || p.Instances != 1 {
		t.Errorf("status of counter = %+v", p)
	}

	agentOK(t, dataDir, "plugins", "disable", "counter")
	d.reloadServing(t, ctx, "claude-code@2.0.0")
	if got := capturesOf(t, dataDir)["claude-code"]; got != "claude-code@2.0.0" {
		t.Errorf("status after disable: claude-code captured by %q, want claude-code@2.0.0", got)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d\n%s", code, d.stderr.String())
	}
}

func readLog(dataDir string) string {
	b, _ := os.ReadFile(filepath.Join(dataDir, "logs", "agent.log"))
	return string(b)
}

// TestPluginIdleStatus runs a daemon that releases a plugin idle for 300ms: `agent status` shows
// the capture plugin resident after hooks, "idle, released" once released, and resident again
// after the next hook, whose event is stored like the others.
func TestPluginIdleStatus(t *testing.T) {
	dataDir := newDataDir(t)
	// The first event also starts the enrich plugins, which compile then (a second or more of
	// CPU each on a loaded machine): the idle window must outlast that, or the capture plugin is
	// released before the status below is asked for.
	startDaemon(t, dataDir, nil, "--plugin-idle", "15s")
	capture := func(st daemon.Status) daemon.PluginStatus {
		t.Helper()
		for _, p := range st.Plugins {
			if p.Name == "claude-code" {
				return p
			}
		}
		t.Fatalf("status lists no claude-code plugin: %+v", st.Plugins)
		return daemon.PluginStatus{}
	}
	runHook(t, dataDir, fixtures[0].payload)
	st := waitEvents(t, dataDir, 1, 30*time.Second)
	if p := capture(st); !p.Running || !p.Resident || p.Releases != 0 {
		t.Fatalf("after a hook: running %v, resident %v, releases %d; want true, true, 0", p.Running, p.Resident, p.Releases)
	}
	waitFor(t, 90*time.Second, func() string {
		if p := capture(apiStatus(t, dataDir)); p.Resident || p.Releases != 1 {
			return fmt.Sprintf("resident %v, releases %d; want false, 1", p.Resident, p.Releases)
		}
		return ""
	})
	res := runAgent(t, nil, nil, 30*time.Second, "status", "--data-dir", dataDir)
	if !strings.Contains(res.stdout, "idle, released") {
		t.Errorf("agent status does not show the released plugin:\n%s", res.stdout)
	}
	runHook(t, dataDir, fixtures[1].payload)
	st = waitEvents(t, dataDir, 2, 30*time.Second)
	if p := capture(st); !p.Running || p.Releases != 1 {
		t.Errorf("after the next hook: running %v, releases %d; want true, 1", p.Running, p.Releases)
	}
}
