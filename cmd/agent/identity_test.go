package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/loader"
)

// fixedSecret is an install secret for tests whose salted hashes are golden values.
var fixedSecret = bytes.Repeat([]byte{0x5e}, 32)

// writeSecret gives dataDir the install secret fixedSecret.
func writeSecret(t *testing.T, dataDir string) {
	t.Helper()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, daemon.SecretName), fixedSecret, 0o600); err != nil {
		t.Fatal(err)
	}
}

// promptPayload is a UserPromptSubmit hook payload from a project folder.
var promptPayload = []byte(`{"hook_event_name":"UserPromptSubmit","session_id":"8d1f6c2e-1b7a-4a51-9f0e-3c2b1a0d9e8f",` +
	`"cwd":"/home/ada/src/payments-api","transcript_path":"/home/ada/.claude/projects/-home-ada-src-payments-api/8d1f6c2e-1b7a-4a51-9f0e-3c2b1a0d9e8f.jsonl",` +
	`"prompt":"Why does the settlement job retry twice?"}`)

// loadedCapture loads dataDir's plugins in this process, as the daemon does, and returns the
// claude-code capture stage.
func loadedCapture(t *testing.T, dataDir string) (*loader.Loader, *loader.Swap) {
	t.Helper()
	caps, err := captures()
	if err != nil {
		t.Fatal(err)
	}
	l, err := newPluginLoader(dataDir, caps, slog.New(slog.NewTextHandler(io.Discard, nil)), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, err := l.Start(nil); err != nil {
		t.Fatal(err)
	}
	return l, caps[pipeline.PlatformClaudeCode].(*loader.Swap)
}

// hashesOf captures payload and returns its events' hash attributes, by key.
func hashesOf(t *testing.T, c *loader.Swap, payload []byte) map[string]string {
	t.Helper()
	rec := newRecord(payload)
	evs, err := c.Capture(&rec)
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	out := map[string]string{}
	for _, ev := range evs {
		for _, a := range ev.Attrs {
			if h := a.Value.Hash(); h != nil {
				out[a.Key] = hex.EncodeToString(h)
			}
		}
	}
	return out
}

// TestFirstPartySaltUnchanged proves that the first-party claude-code plugin keeps the salt it
// has always had, HMAC-SHA256(secret, "hangar-salt" 0x00 "claude-code"): the project keys and
// prompt hashes it stores are the ones earlier builds stored for the same install secret (golden
// values computed by the build before install ids).
func TestFirstPartySaltUnchanged(t *testing.T) {
	dataDir := newDataDir(t)
	writeSecret(t, dataDir)
	_, c := loadedCapture(t, dataDir)
	got := hashesOf(t, c, promptPayload)
	want := map[string]string{"project": goldenProject, "prompt_hash": goldenPromptHash}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %s, want %s (the first-party salt changed: stored hashes would no longer join)", k, got[k], v)
		}
	}
}

const (
	goldenProject    = "e87181c4754f028fb9349e35ea897586"
	goldenPromptHash = "c510be95b25233becbe9df021495790a"
)

// TestFirstPartyNameReserved reproduces finding 6 of issue 13: a folder plugin named claude-code
// at version 2.0.1, installed with no --yes and stdin at /dev/null, "upgraded" the first-party
// plugin, keeping every content grant without a question, and took its salt. First-party names are
// reserved: replacing one needs --replace-first-party, and --yes without a terminal; the screen
// shows every grant again, as new; the replacement gets a salt of its own.
func TestFirstPartyNameReserved(t *testing.T) {
	dataDir := newDataDir(t)
	writeSecret(t, dataDir)
	caps := firstPartyCaps(t)
	src := writePluginFolder(t, testPluginSpec{name: "claude-code", version: "2.0.1", platform: "claude-code", caps: caps, variant: "impostor"})

	builtin := func(when string) {
		t.Helper()
		if p := listPlugins(t, dataDir)["claude-code"]; p.Source != host.SourceBuiltin || p.Version != "2.0.0" {
			t.Fatalf("%s: claude-code is %s %s, want the first-party (builtin) 2.0.0", when, p.Source, p.Version)
		}
	}
	// The reported case: no flag, no terminal.
	res := agent(t, dataDir, "plugins", "install", src)
	if res.code == 0 || !strings.Contains(res.stderr, "first-party") || !strings.Contains(res.stderr, "--replace-first-party") {
		t.Fatalf("install of a folder named claude-code: exit %d\nstdout: %s\nstderr: %s\nwant a refusal naming the first-party plugin and --replace-first-party", res.code, res.stdout, res.stderr)
	}
	builtin("after a plain install")
	// --yes grants capabilities; it does not replace a first-party plugin.
	agentFails(t, dataDir, "--replace-first-party", "plugins", "install", src, "--yes")
	builtin("after install --yes")
	// The flag alone, without a terminal: refused, having shown every grant again, as new.
	res = agentFails(t, dataDir, "no terminal", "plugins", "install", src, "--replace-first-party")
	for _, want := range append([]string{"Replace the first-party plugin claude-code 2.0.0", "NOT the first-party plugin",
		"CAN READ YOUR PROMPTS", "It asks to:"}, caps...) {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("replacement screen lacks %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout, "kept") {
		t.Errorf("replacement screen keeps grants of the first-party plugin:\n%s", res.stdout)
	}
	builtin("after install --replace-first-party without a terminal")

	// Both flags: replaced. Its salt is its own, not the first-party one.
	res = agentOK(t, dataDir, "plugins", "install", src, "--replace-first-party", "--yes")
	if !strings.Contains(res.stdout, "Replaced the first-party claude-code@2.0.0 with claude-code@2.0.1") {
		t.Errorf("install output:\n%s", res.stdout)
	}
	if p := listPlugins(t, dataDir)["claude-code"]; p.Source != host.SourceInstalled || p.Version != "2.0.1" {
		t.Fatalf("after the replacement: %+v", p)
	}
	_, c := loadedCapture(t, dataDir)
	if got := hashesOf(t, c, promptPayload); got["project"] == "" || got["project"] == goldenProject || got["prompt_hash"] == goldenPromptHash {
		t.Errorf("the replacement's hashes %v: want hashes of its own salt, not the first-party ones (project %s)", got, goldenProject)
	}

	// Removing it brings the first-party plugin back, with its salt.
	agentOK(t, dataDir, "plugins", "remove", "claude-code")
	builtin("after remove")
	_, c = loadedCapture(t, dataDir)
	if got := hashesOf(t, c, promptPayload); got["project"] != goldenProject {
		t.Errorf("first-party project hash after the replacement was removed = %s, want %s", got["project"], goldenProject)
	}
}

// TestUpgradeChangedModuleAsksAgain: an upgrade whose module changed shows the content grants it
// would keep and asks again, even if the manifest asks for nothing new; one whose module is the
// same, or that keeps no sensitive grant, needs no question.
func TestUpgradeChangedModuleAsksAgain(t *testing.T) {
	dataDir := newDataDir(t)
	caps := []string{"read:payload.hook_event_name", "content:prompt", "emit:events"}
	spec := func(version, variant string, caps []string) string {
		return writePluginFolder(t, testPluginSpec{name: "sizer", version: version, platform: "test-platform", caps: caps, variant: variant})
	}
	agentOK(t, dataDir, "plugins", "install", spec("1.0.0", "a", caps), "--yes")
	// Same module, nothing new: no question.
	agentOK(t, dataDir, "plugins", "install", spec("1.0.1", "a", caps))
	// Another module, nothing new: the content grant is shown again and asked for.
	changed := spec("1.1.0", "b", caps)
	res := agentFails(t, dataDir, "no terminal", "plugins", "install", changed)
	for _, want := range []string{"module changed", "content:prompt", "CAN READ YOUR PROMPTS"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("upgrade screen lacks %q:\n%s", want, res.stdout)
		}
	}
	if p := listPlugins(t, dataDir)["sizer"]; p.Version != "1.0.1" {
		t.Fatalf("a refused upgrade installed %s", p.Version)
	}
	res = agentOK(t, dataDir, "plugins", "install", changed, "--yes")
	if p := listPlugins(t, dataDir)["sizer"]; p.Version != "1.1.0" || !slices.Contains(p.Granted, "content:prompt") {
		t.Errorf("after the confirmed upgrade: %+v", p)
	}
	// Without a sensitive grant, a changed module needs no question.
	agentOK(t, dataDir, "plugins", "revoke", "sizer", "content:prompt")
	agentOK(t, dataDir, "plugins", "install", spec("1.2.0", "c", []string{caps[0], caps[2]}))
}

// capturesOf returns what `agent status --json` says captures each platform.
func capturesOf(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	res := agentOK(t, dataDir, "status", "--json")
	var st struct {
		Captures map[string]string `json:"captures"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, res.stdout)
	}
	return st.Captures
}

// TestCaptureTakeOver: installing a capture plugin for a platform another one serves takes the
// platform over; the screen says so in plain words, --yes alone does not do it, and `agent status`
// says which plugin captures each platform.
func TestCaptureTakeOver(t *testing.T) {
	dataDir := newDataDir(t)
	agentOK(t, dataDir, "plugins", "list") // creates the data directory
	if got := capturesOf(t, dataDir); got["claude-code"] != "claude-code@2.0.0" {
		t.Errorf("fresh status: claude-code captured by %q, want claude-code@2.0.0", got["claude-code"])
	}
	src := writeTestPlugin(t, "counter", "1.0.0", testCaps...)
	res := agentFails(t, dataDir, "no terminal", "plugins", "install", src)
	for _, want := range []string{"TAKES OVER claude-code", "claude-code@2.0.0 (first-party) captures claude-code now",
		"counter@1.0.0 will capture every claude-code hook and transcript line in its place", "agent plugins disable counter"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("install screen lacks %q:\n%s", want, res.stdout)
		}
	}
	agentFails(t, dataDir, "--take-over", "plugins", "install", src, "--yes")
	if _, ok := listPlugins(t, dataDir)["counter"]; ok {
		t.Fatal("install --yes without --take-over installed the plugin")
	}
	agentOK(t, dataDir, "plugins", "install", src, "--yes", "--take-over")
	if got := capturesOf(t, dataDir); got["claude-code"] != "counter@1.0.0" {
		t.Errorf("after the take-over: claude-code captured by %q, want counter@1.0.0", got["claude-code"])
	}
	text := agentOK(t, dataDir, "status").stdout
	if !strings.Contains(text, "claude-code captured by counter@1.0.0") {
		t.Errorf("agent status does not say what captures claude-code:\n%s", text)
	}
	// A second installed capture plugin that would stand by says so, and needs no --take-over.
	res = agentOK(t, dataDir, "plugins", "install", writeTestPlugin(t, "zeta", "1.0.0", testCaps...), "--yes")
	if !strings.Contains(res.stdout, "stands by") {
		t.Errorf("install of a standby capture plugin:\n%s", res.stdout)
	}
	// Disabling the one that serves hands the platform to the next, and says so.
	res = agentOK(t, dataDir, "plugins", "disable", "counter")
	if !strings.Contains(res.stdout, "claude-code is captured by zeta@1.0.0 now") {
		t.Errorf("disable output:\n%s", res.stdout)
	}
}

// TestUncapturedWarning: `plugins disable`, `remove` and `revoke ... emit:events` warn when they
// leave a platform with no capture plugin.
func TestUncapturedWarning(t *testing.T) {
	dataDir := newDataDir(t)
	const warning = "warning: nothing captures claude-code now"
	res := agentOK(t, dataDir, "plugins", "disable", "claude-code")
	if !strings.Contains(res.stderr, warning) {
		t.Errorf("disable of the only capture plugin: stderr %q, want %q", res.stderr, warning)
	}
	res = agentOK(t, dataDir, "plugins", "enable", "claude-code")
	if strings.Contains(res.stderr, "warning") {
		t.Errorf("enable warned: %s", res.stderr)
	}
	res = agentOK(t, dataDir, "plugins", "revoke", "claude-code", "emit:events")
	if !strings.Contains(res.stderr, warning) {
		t.Errorf("revoke of the only capture plugin's emit right: stderr %q, want %q", res.stderr, warning)
	}
	agentOK(t, dataDir, "plugins", "grant", "claude-code", "emit:events")
	agentOK(t, dataDir, "plugins", "enable", "claude-code")
	agentOK(t, dataDir, "plugins", "install", writeTestPlugin(t, "counter", "1.0.0", testCaps...), "--yes", "--take-over")
	// The first-party plugin stands by: disabling it leaves claude-code captured, no warning.
	res = agentOK(t, dataDir, "plugins", "disable", "claude-code")
	if strings.Contains(res.stderr, "warning") {
		t.Errorf("disable of a standby plugin warned: %s", res.stderr)
	}
	res = agentOK(t, dataDir, "plugins", "remove", "counter")
	if !strings.Contains(res.stderr, warning) || !strings.Contains(res.stderr, "`agent plugins enable claude-code` captures it again") {
		t.Errorf("remove of the only enabled capture plugin: stderr %q, want %q and how to capture it again", res.stderr, warning)
	}
}

// TestLegacyReplacementMigrated: a folder claude-code that an earlier build installed over the
// first-party plugin (state.json version 1, no install id) had the first-party salt. This build
// gives it an install id when the daemon first loads plugins: it still captures claude-code, but
// with hashes of its own, and the audit log says what happened.
func TestLegacyReplacementMigrated(t *testing.T) {
	dataDir := newDataDir(t)
	writeSecret(t, dataDir)
	caps := firstPartyCaps(t)
	src := writePluginFolder(t, testPluginSpec{name: "claude-code", version: "2.0.1", platform: "claude-code", caps: caps, variant: "impostor"})
	dst := filepath.Join(dataDir, host.PluginsDir, "claude-code", "2.0.1")
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{host.ManifestName, "capture.wasm"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	grants, _ := json.Marshal(caps)
	state := fmt.Sprintf(`{"version": 1, "plugins": {"claude-code": {"version": "2.0.1", "enabled": true, "grants": %s}}}`, grants)
	if err := os.WriteFile(filepath.Join(dataDir, host.PluginsDir, host.StateName), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}

	_, c := loadedCapture(t, dataDir)
	if by := c.Serving(); by != "claude-code@2.0.1" {
		t.Fatalf("claude-code served by %s, want the installed claude-code@2.0.1", by)
	}
	if got := hashesOf(t, c, promptPayload); got["project"] == "" || got["project"] == goldenProject || got["prompt_hash"] == goldenPromptHash {
		t.Errorf("the earlier build's replacement still makes first-party hashes: %v", got)
	}
	st := readState(t, dataDir)
	if st.Version != 2 || len(st.Plugins["claude-code"].InstallID) != 32 {
		t.Errorf("state after the daemon's first load: version %d, %+v", st.Version, st.Plugins["claude-code"])
	}
	res := agentOK(t, dataDir, "audit", "--json", "--limit", "0")
	if !strings.Contains(res.stdout, `"action": "migrate"`) || !strings.Contains(res.stdout, "in place of the first-party plugin claude-code") {
		t.Errorf("the audit log does not record the migration:\n%s", res.stdout)
	}
}
