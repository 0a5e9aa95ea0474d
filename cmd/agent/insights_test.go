package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/sdktest"
	"github.com/hangar-dev/hangar/store"
)

// The derived records these tests seed are in the shape the first-party metrics and
// conversations plugins write (contract C3 of issue 15), so that the insight plugins run on them
// as they will on the real ones.

var insightDay0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// addDerived adds records to a store in one batch, as an enrich plugin's consumer does.
func addDerived(t *testing.T, st *store.Store, evs []sdk.Event) {
	t.Helper()
	b := st.NewBatch()
	for i := range evs {
		if err := b.AddDerived(evs[i].Kind, &evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func derivedMetricsDay(d int, tool string, calls, errs int64) sdk.Event {
	bucket := insightDay0.Unix() + int64(d)*86400
	key := fmt.Sprintf("%010d/tool/%s", bucket, tool)
	return sdk.Event{
		ID: sdk.NewID("insights-test", []byte(key)), Platform: "claude-code", Kind: "metrics.1d", Time: time.Unix(bucket, 0),
		Attrs: []sdk.Attr{
			sdk.Ident("key", key), sdk.Int("bucket", bucket), sdk.Int("width_s", 86400), sdk.Ident("dim", "tool"),
			sdk.Ident("value", tool), sdk.Int("tool_calls", calls), sdk.Int("tool_errors", errs),
		},
	}
}

func derivedToolCall(session string, n int, tool, command, status string, at time.Time, ms int64) sdk.Event {
	key := fmt.Sprintf("%s/toolu_%03d", session, n)
	return sdk.Event{
		ID: sdk.NewID("insights-test", []byte(key)), Platform: "claude-code", Kind: "conversation.tool", SessionID: session, Time: at,
		Attrs: []sdk.Attr{
			sdk.Ident("key", key), sdk.Int("turn", 1), sdk.Ident("tool_name", tool), sdk.Ident("command", command),
			sdk.Int("start", at.UnixMilli()), sdk.Int("duration_ms", ms), sdk.Ident("status", status),
		},
	}
}

func derivedSession(id string, start time.Time, activeMs, calls, errs int64) sdk.Event {
	return sdk.Event{
		ID: sdk.NewID("insights-test", []byte(id)), Platform: "claude-code", Kind: "conversation.session", SessionID: id, Time: start,
		Attrs: []sdk.Attr{
			sdk.Ident("key", id), sdk.Ident("model", "claude-sonnet-4-5"), sdk.Int("start", start.UnixMilli()),
			sdk.Int("duration_ms", activeMs*2), sdk.Int("active_ms", activeMs), sdk.Int("turns", 8),
			sdk.Int("tool_calls", calls), sdk.Int("tool_errors", errs), sdk.Int("turns_with_error", min(errs, 8)),
		},
	}
}

// seedDerived starts the daemon once (so that the data directory is a real one), stops it, and adds
// records to its store.
func seedDerived(t *testing.T, dataDir string, evs []sdk.Event) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dataDir, "store")); err != nil {
		d := startDaemon(t, dataDir, nil)
		if code := d.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("agent run exited %d", code)
		}
	}
	st := openStore(t, dataDir)
	defer st.Close()
	addDerived(t, st, evs)
}

// waitInsights polls `agent insights --json` until it shows want insights.
func waitInsights(t *testing.T, dataDir string, want int) []shownInsight {
	t.Helper()
	var got []shownInsight
	waitFor(t, 60*time.Second, func() string {
		res := agent(t, dataDir, "insights", "--json")
		if res.code != 0 {
			return "agent insights: " + res.stderr
		}
		got = nil
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			return fmt.Sprintf("agent insights --json: %v\n%s", err, res.stdout)
		}
		if len(got) != want {
			return fmt.Sprintf("%d insights, want %d: %s", len(got), want, res.stdout)
		}
		return ""
	})
	return got
}

// TestInsightsFirstParty seeds a store with two weeks of metrics and a few sessions of
// conversations, lets the daemon run the first-party insight plugins (tool-errors,
// slow-commands: built in, enabled by default) over them, and checks what `agent insights` shows,
// with the daemon and without.
func TestInsightsFirstParty(t *testing.T) {
	dataDir := newDataDir(t)
	var evs []sdk.Event
	for d := range 14 {
		errs := int64(d % 7 % 2)
		if d >= 7 {
			errs = 3
		}
		evs = append(evs, derivedMetricsDay(d, "Bash", 10, errs), derivedMetricsDay(d, "Read", 20, 2))
	}
	for s := range 2 {
		id := fmt.Sprintf("sess-%d", s)
		start := insightDay0.Add(time.Duration(8+s) * 24 * time.Hour)
		for i := range 2 {
			evs = append(evs, derivedToolCall(id, i, "Bash", "cargo", "error", start.Add(time.Duration(i)*time.Minute), 90_000))
		}
		evs = append(evs, derivedToolCall(id, 9, "Bash", "ls", "ok", start, 200), derivedSession(id, start, 10*60_000, 30, 2))
	}
	seedDerived(t, dataDir, evs)
	d := startDaemon(t, dataDir, nil)
	got := waitInsights(t, dataDir, 2)
	byPlugin := map[string]shownInsight{}
	for _, in := range got {
		byPlugin[in.Plugin] = in
	}
	te, sc := byPlugin["tool-errors"], byPlugin["slow-commands"]
	if te.Title != "Bash fails more often: 30% of its calls in the last 7 days, up from 4%" || te.Severity != "warning" ||
		te.Code != "tool_errors_rising" || te.Key != "Bash" || !strings.HasPrefix(te.Suggestion, "Bash failed 21 times in 70 calls:") {
		t.Errorf("tool-errors insight: %+v", te)
	}
	if strings.Join(te.Sessions, ",") != "sess-1,sess-0" || te.Evidence["calls"] != float64(70) || te.Evidence["tool"] != "Bash" {
		t.Errorf("tool-errors evidence: sessions %v, evidence %v", te.Sessions, te.Evidence)
	}
	if sc.Title != "cargo takes 30% of session time: 360 s in 4 runs over 2 sessions" || sc.Severity != "warning" ||
		!strings.HasSuffix(sc.Suggestion, "it averages 90000 ms a run.") || len(sc.Sessions) != 2 {
		t.Errorf("slow-commands insight: %+v", sc)
	}
	// Newest first: slow-commands' time is its newest session's start (day 9), tool-errors' the
	// newest day of metrics (day 13).
	if got[0].Plugin != "tool-errors" || !got[0].Time.Equal(insightDay0.Add(13*24*time.Hour)) {
		t.Errorf("first insight %s at %v, want tool-errors at day 13", got[0].Plugin, got[0].Time)
	}

	text := agentOK(t, dataDir, "insights").stdout
	for _, want := range []string{
		"2026-03-15  WARNING  tool-errors\n  Bash fails more often: 30% of its calls in the last 7 days, up from 4%\n",
		"  Evidence: tool Bash, calls 70, errors 21, error pct 30, prior calls 70, prior errors 3, prior error pct 4, days 7\n",
		"  Sessions: sess-1, sess-0\n",
		"WARNING  slow-commands\n  cargo takes 30% of session time",
		"  Suggestion: Make cargo cheaper for the assistant",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("agent insights does not show %q:\n%s", want, text)
		}
	}

	// Without a daemon, the command opens the store itself and shows the same.
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("agent run exited %d", code)
	}
	if again := agentOK(t, dataDir, "insights").stdout; again != text {
		t.Errorf("without the daemon:\n%s\nwith it:\n%s", again, text)
	}
}

// asBuild builds an AssemblyScript entry file with the SDK example's node_modules (npm ci once),
// as sdk/assemblyscript's own tests do.
var asOnce struct {
	sync.Once
	err error
	out []byte
}

func buildAssemblyScript(t *testing.T, entry, outFile string) {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		sdktest.Require(t, "npm is not on PATH", "AssemblyScript")
	}
	example := filepath.Join("..", "..", "sdk", "assemblyscript", "example")
	asOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(example, "node_modules", ".bin", "asc")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = example
		asOnce.out, asOnce.err = cmd.CombinedOutput()
	})
	if asOnce.err != nil {
		t.Fatalf("npm ci: %v\n%s", asOnce.err, asOnce.out)
	}
	abs, err := filepath.Abs(entry)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("npx", "--no-install", "asc", abs, "--config", filepath.Join(filepath.Dir(abs), "..", "asconfig.json"),
		"--target", "release", "--outFile", outFile)
	cmd.Dir = example
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("asc %s: %v\n%s", entry, err, msg)
	}
}

// TestInsightsAssemblyScript builds the worked example of docs/PLUGINS.md, the AssemblyScript
// insight plugin in sdk/assemblyscript/insight-example, from source, installs it from its folder
// with `agent plugins install`, granted only the derived kind it reads, and shows its insights.
func TestInsightsAssemblyScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an AssemblyScript plugin")
	}
	src := filepath.Join("..", "..", "sdk", "assemblyscript", "insight-example")
	dir := filepath.Join(t.TempDir(), "error-sessions")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "node_modules"))
	m := readManifest(t, dir)
	buildAssemblyScript(t, filepath.Join(src, "assembly", "index.ts"), filepath.Join(dir, m.Wasm))
	// What seal.mjs does after asc: the module's digest into plugin.toml.
	wasm, err := os.ReadFile(filepath.Join(dir, m.Wasm))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	manifest, err := os.ReadFile(filepath.Join(dir, host.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	manifest = regexp.MustCompile(`(?m)^sha256 = .*$`).ReplaceAll(manifest, []byte(`sha256 = "`+hex.EncodeToString(sum[:])+`"`))
	if err := os.WriteFile(filepath.Join(dir, host.ManifestName), manifest, 0o644); err != nil {
		t.Fatal(err)
	}

	dataDir := newDataDir(t)
	install := agentOK(t, dataDir, "plugins", "install", dir, "--yes")
	if !strings.Contains(install.stdout, `read derived records of kind "conversation.session"`) || strings.Contains(install.stdout, "TAKES OVER") ||
		!strings.Contains(install.stdout, "Insights:    error_heavy_session: {error_pct}% of the tool calls failed in session {session_1}") {
		t.Errorf("install output:\n%s", install.stdout)
	}
	p := listPlugins(t, dataDir)["error-sessions"]
	if !p.Enabled || p.Kind != "insight" || strings.Join(p.Granted, ",") != "read:derived:conversation.session" {
		t.Fatalf("installed: %+v, want an enabled insight plugin granted read:derived:conversation.session alone", p)
	}

	start := insightDay0.Add(24 * time.Hour)
	seedDerived(t, dataDir, []sdk.Event{
		derivedSession("sess-a", start, 600_000, 20, 9),                  // 45%: a warning
		derivedSession("sess-b", start.Add(time.Hour), 600_000, 12, 1),   // 8%: not flagged (resolved)
		derivedSession("sess-c", start.Add(2*time.Hour), 600_000, 5, 5),  // too few calls: nothing
		derivedSession("sess-d", start.Add(3*time.Hour), 600_000, 10, 7), // 70%: critical
		derivedMetricsDay(0, "Bash", 10, 0),                              // a kind it was not granted
	})
	startDaemon(t, dataDir, nil)
	got := waitInsights(t, dataDir, 2)
	var titles []string
	for _, in := range got {
		if in.Plugin != "error-sessions" || in.Code != "error_heavy_session" {
			t.Errorf("insight %+v", in)
		}
		titles = append(titles, in.Severity+": "+in.Title)
	}
	want := "critical: 70% of the tool calls failed in session sess-d (7 of 10)|warning: 45% of the tool calls failed in session sess-a (9 of 20)"
	if strings.Join(titles, "|") != want {
		t.Errorf("insights, newest first:\n got %s\nwant %s", strings.Join(titles, "|"), want)
	}
	all := agentOK(t, dataDir, "insights", "--all").stdout
	for _, w := range []string{
		"INFO (resolved)  error-sessions\n  8% of the tool calls failed in session sess-b (1 of 12)\n",
		"CRITICAL  error-sessions\n  70% of the tool calls failed in session sess-d (7 of 10)\n  Evidence: tool calls 10, tool errors 7, error pct 70, turns 8, turns with error 7, model claude-sonnet-4-5\n  Sessions: sess-d\n  Suggestion: Look at what failed first",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("agent insights --all does not show %q:\n%s", w, all)
		}
	}
}
