package main

// What a new user tripped on in `agent status`, `agent audit` and `agent plugins info`.

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline"
)

// postRecords posts the hook payloads to the running daemon as records, in one request.
func postRecords(t *testing.T, dataDir string, payloads [][]byte) {
	t.Helper()
	var frames []byte
	for _, p := range payloads {
		rec := newRecord(p)
		frames = pipeline.AppendFrame(frames, &rec)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := daemon.NewClient(dataDir).PostFrames(ctx, frames); err != nil {
		t.Fatalf("POST /v1/events: %v", err)
	}
}

// payloadsOf returns the payloads of n fixtures from the first-th on.
func payloadsOf(first, n int) [][]byte {
	var out [][]byte
	for _, f := range fixtures[first : first+n] {
		out = append(out, f.payload)
	}
	return out
}

// TestStatusWithoutDaemon: `agent status` when no daemon runs opens the store in its own process;
// it used to report that process's memory as the agent's ("Memory: 30 MiB resident"). It reports
// no memory at all: there is no agent process to measure. A running daemon reports its own.
func TestStatusWithoutDaemon(t *testing.T) {
	dataDir := newDataDir(t)
	d := startDaemon(t, dataDir, nil)
	runHook(t, dataDir, fixtures[0].payload)
	st := waitEvents(t, dataDir, 1, 30*time.Second)
	if !st.Running || st.ResidentBytes == 0 {
		t.Errorf("a running daemon's status: running %v, resident_bytes %d; want true and its memory", st.Running, st.ResidentBytes)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exit %d\n%s", code, d.stderr.String())
	}

	res := agentOK(t, dataDir, "status", "--json")
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(res.stdout), &raw); err != nil {
		t.Fatalf("status --json: %v\n%s", err, res.stdout)
	}
	if string(raw["running"]) != "false" {
		t.Fatalf("status --json without a daemon: running %s, want false", raw["running"])
	}
	if v, ok := raw["resident_bytes"]; ok {
		t.Errorf("status --json without a daemon reports resident_bytes %s: the CLI's own memory, not an agent's", v)
	}
	if string(raw["events_stored"]) != "1" {
		t.Errorf("status --json without a daemon: events_stored %s, want 1", raw["events_stored"])
	}
	res = agentOK(t, dataDir, "status")
	if strings.Contains(res.stdout, "Memory:") || strings.Contains(res.stdout, "resident") {
		t.Errorf("agent status without a daemon reports memory:\n%s", res.stdout)
	}
	if !strings.Contains(res.stdout, "not running") {
		t.Errorf("agent status without a daemon does not say so:\n%s", res.stdout)
	}
}

// TestStatusStoreSizeGrows: the store's size in status follows what is written. It stayed at
// its first figure (3 events, then 400 more: the same bytes), because Pebble counts the write-ahead
// log it is writing at the size it had when it was opened, and nothing else grows until a flush.
func TestStatusStoreSizeGrows(t *testing.T) {
	dataDir := newDataDir(t)
	startDaemon(t, dataDir, nil)
	postRecords(t, dataDir, payloadsOf(0, 3))
	small := waitSettled(t, dataDir, 30*time.Second)
	postRecords(t, dataDir, payloadsOf(3, 400))
	large := waitSettled(t, dataDir, 30*time.Second)
	if large.EventsStored < small.EventsStored+400 {
		t.Fatalf("events stored: %d, then %d; want at least 400 more", small.EventsStored, large.EventsStored)
	}
	// Each event is stored under its sequence with its encoding, and indexed by id, session and
	// time: well over 100 bytes each.
	const atLeast = 400 * 100
	if large.StoreBytes < small.StoreBytes+atLeast {
		t.Errorf("store_bytes: %d with %d events, %d with %d: want it to grow by at least %d",
			small.StoreBytes, small.EventsStored, large.StoreBytes, large.EventsStored, atLeast)
	}
	// The figure is the same through the CLI.
	if cli := cliStatus(t, dataDir); cli.StoreBytes < large.StoreBytes {
		t.Errorf("agent status --json: store_bytes %d, the API said %d a moment ago", cli.StoreBytes, large.StoreBytes)
	}
}

// auditReads runs `agent audit --json` and returns the content reads it sums for plugin, by
// field.
func auditReads(t *testing.T, dataDir, plugin string) map[string]int64 {
	t.Helper()
	res := agentOK(t, dataDir, "audit", "--json")
	var out auditJSON
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, res.stdout)
	}
	for _, s := range out.Summary {
		if s.Plugin == plugin {
			return s.ContentAccesses
		}
	}
	return map[string]int64{}
}

// nonZero returns the entries of m that are not 0.
func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// TestAuditAgreesWithStatus: while the daemon runs, `agent audit` counts the content reads
// `agent status` counts. It used to show those of plugins closed since (1 read) while status
// showed hundreds, because the running plugins' counts reached the log only when they were
// closed: the daemon stopping, or a reload.
func TestAuditAgreesWithStatus(t *testing.T) {
	dataDir := newDataDir(t)
	d := startDaemon(t, dataDir, nil)
	var prompts [][]byte
	for _, f := range fixtures {
		if f.event == "UserPromptSubmit" && len(prompts) < 20 {
			prompts = append(prompts, f.payload)
		}
	}
	postRecords(t, dataDir, prompts)
	postRecords(t, dataDir, payloadsOf(0, 100))
	st := waitSettled(t, dataDir, 30*time.Second)
	want := nonZero(pluginStatusOf(t, st, "claude-code").ContentReads)
	if want["prompt"] < int64(len(prompts)) {
		t.Fatalf("status counts %d prompt reads, want at least %d", want["prompt"], len(prompts))
	}
	if got := auditReads(t, dataDir, "claude-code"); !maps.Equal(got, want) {
		t.Errorf("while the daemon runs, agent audit counts content reads %v, agent status %v", got, want)
	}
	// A reload that changes nothing of the plugin keeps its counts; the log still agrees.
	if _, err := d.client().ReloadPlugins(context.Background()); err != nil {
		t.Fatal(err)
	}
	postRecords(t, dataDir, prompts[:5])
	st = waitSettled(t, dataDir, 30*time.Second)
	if got := nonZero(pluginStatusOf(t, st, "claude-code").ContentReads); got["prompt"] != want["prompt"]+5 {
		t.Errorf("after a reload and 5 more prompts, status counts %d prompt reads, want %d", got["prompt"], want["prompt"]+5)
	}
	want = nonZero(pluginStatusOf(t, st, "claude-code").ContentReads)
	if got := auditReads(t, dataDir, "claude-code"); !maps.Equal(got, want) {
		t.Errorf("after a reload, agent audit counts content reads %v, agent status %v", got, want)
	}
	// Stopping writes nothing twice.
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exit %d\n%s", code, d.stderr.String())
	}
	if got := auditReads(t, dataDir, "claude-code"); !maps.Equal(got, want) {
		t.Errorf("after the daemon stopped, agent audit counts content reads %v, want %v", got, want)
	}
}

// TestPluginsInfoEmits: `agent plugins info claude-code` lists the event kinds its manifest
// declares, as its README says; --json has them too (it had not).
func TestPluginsInfoEmits(t *testing.T) {
	dataDir := newDataDir(t)
	want := []string{"hook.*", "transcript.*"}
	res := agentOK(t, dataDir, "plugins", "info", "claude-code")
	if line := "Emits:       " + strings.Join(want, ", "); !strings.Contains(res.stdout, line+"\n") {
		t.Errorf("plugins info claude-code does not say %q:\n%s", line, res.stdout)
	}
	res = agentOK(t, dataDir, "plugins", "info", "claude-code", "--json")
	var p struct {
		Emits []string `json:"emits"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &p); err != nil {
		t.Fatalf("plugins info --json: %v\n%s", err, res.stdout)
	}
	if strings.Join(p.Emits, " ") != strings.Join(want, " ") {
		t.Errorf("plugins info claude-code --json: emits %q, want %q\n%s", p.Emits, want, res.stdout)
	}
	res = agentOK(t, dataDir, "plugins", "list", "--json")
	var list []struct {
		Name  string   `json:"name"`
		Emits []string `json:"emits"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &list); err != nil {
		t.Fatalf("plugins list --json: %v\n%s", err, res.stdout)
	}
	for _, p := range list {
		if p.Name == "claude-code" && strings.Join(p.Emits, " ") != strings.Join(want, " ") {
			t.Errorf("plugins list --json: claude-code emits %q, want %q", p.Emits, want)
		}
	}
}
