package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/pricing"
	"github.com/hangar-dev/hangar/pipeline/usagestore"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// seedSpec says what derived records seedStore writes: sessions spread over days from start,
// each of turns turns of tools tool calls.
type seedSpec struct {
	sessions, turns, tools, days int
	start                        time.Time
}

// seedTools are the tools the seeded sessions call, with how often each fails (per mille).
var seedTools = []struct {
	name, op string
	fail     int
}{{"Bash", "", 150}, {"Read", "read", 30}, {"Edit", "edit", 60}, {"Grep", "search", 10}, {"Write", "write", 20}, {"Glob", "search", 0}}

// seedErrorKinds are the error kinds of failed seeded tool calls.
var seedErrorKinds = []string{"exit_code", "not_found", "permission", "timeout", "rejected", "interrupted"}

// seedModels are the seeded sessions' models.
var seedModels = []string{"claude-sonnet-4-20250514", "claude-opus-4-1-20250805"}

// latencyIndex is a duration's index in a latency sketch (docs/PLUGINS.md).
func latencyIndex(ms int64) uint16 {
	if ms <= 0 {
		return 0
	}
	return uint16(math.Ceil(math.Log(float64(min(ms, 24*3600*1000))) / math.Log(latencyBase)))
}

// metricsAcc accumulates a metrics bucket as the metrics plugin would.
type metricsAcc struct {
	counts map[string]int64
	lat    map[uint16]float32
}

// seedStore creates dataDir with a store holding derived records of the C3 shape (sessions,
// turns, tools, and metrics.1d and metrics.1h buckets of dims all, tool, model, project and
// error_kind) written through store.Batch.AddDerived, and the usage rollup of the sessions'
// transcript.usage events (consumed by the real rollup, priced with the embedded table). No raw
// event is stored: the enrich plugins have nothing to catch up on. It returns the session ids.
func seedStore(tb testing.TB, dataDir string, spec seedSpec) []string {
	tb.Helper()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dataDir, daemon.StoreName), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	b := st.NewBatch()
	pending := 0
	add := func(ev sdk.Event) {
		tb.Helper()
		if err := b.AddDerived(ev.Kind, &ev); err != nil {
			tb.Fatal(err)
		}
		if pending++; pending == 5000 {
			if err := b.Commit(); err != nil {
				tb.Fatal(err)
			}
			b, pending = st.NewBatch(), 0
		}
	}
	rec := func(kind, key, session string, t time.Time, attrs ...sdk.Attr) sdk.Event {
		return sdk.Event{ID: sdk.NewID("seed", []byte(kind+"\x00"+key)), Platform: "claude-code", Kind: kind, SessionID: session, Time: t,
			Attrs: append([]sdk.Attr{sdk.Ident("key", key)}, attrs...)}
	}
	projects := make([][]byte, 3)
	for i := range projects {
		h := sha256.Sum256([]byte(fmt.Sprint("project-", i)))
		projects[i] = h[:16]
	}
	buckets := map[string]*metricsAcc{} // width, bucket, dim, value
	bump := func(t time.Time, dim, value string, counts map[string]int64, latMS int64) {
		for _, w := range []time.Duration{24 * time.Hour, time.Hour} {
			start := t.Truncate(w)
			k := fmt.Sprintf("%d|%010d/%s/%s", int(w.Seconds()), start.Unix(), dim, value)
			a := buckets[k]
			if a == nil {
				a = &metricsAcc{counts: map[string]int64{}, lat: map[uint16]float32{}}
				buckets[k] = a
			}
			for name, n := range counts {
				a.counts[name] += n
			}
			if latMS >= 0 {
				a.lat[latencyIndex(latMS)]++
			}
		}
	}
	var usageEvents []pipeline.Entry
	var ids []string
	step := time.Duration(spec.days) * 24 * time.Hour / time.Duration(spec.sessions)
	for s := range spec.sessions {
		id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(s)*2654435761, s%0xffff, s%0xfff, (s*7)%0xfff, s)
		ids = append(ids, id)
		start := spec.start.Add(time.Duration(s) * step)
		project := projects[s%len(projects)]
		projectHex := fmt.Sprintf("%x", project)
		model := seedModels[s%len(seedModels)]
		errorProne := s%5 == 2 // errors cluster in these sessions
		var sess struct{ toolCalls, toolErrors, turnsErr, lines, active int64 }
		at := start
		for turn := 1; turn <= spec.turns; turn++ {
			turnStart := at
			turnKey := fmt.Sprintf("%s/%06d", id, turn)
			var tc struct{ calls, errors, added, removed int64 }
			for k := range spec.tools {
				tool := seedTools[rng.IntN(len(seedTools))]
				durMS := int64(50 + rng.IntN(3000))
				if tool.name == "Bash" {
					durMS += int64(rng.IntN(20000))
				}
				status, kind, decision := "ok", "", "auto"
				fail := tool.fail
				if errorProne {
					fail = 600
				}
				if rng.IntN(1000) < fail {
					status, kind = "error", seedErrorKinds[rng.IntN(len(seedErrorKinds))]
					if kind == "rejected" {
						status, decision = "rejected", "rejected"
					}
				} else if tool.name == "Edit" || tool.name == "Write" {
					decision = "accepted"
				}
				var added, removed int64
				if status == "ok" && (tool.name == "Edit" || tool.name == "Write") {
					added, removed = int64(1+rng.IntN(40)), int64(rng.IntN(10))
				}
				attrs := []sdk.Attr{sdk.Int("turn", int64(turn)), sdk.Ident("tool_name", tool.name)}
				if tool.op != "" {
					attrs = append(attrs, sdk.Ident("operation", tool.op))
				}
				attrs = append(attrs, sdk.Int("start", at.UnixMilli()), sdk.Int("duration_ms", durMS), sdk.Ident("status", status))
				if kind != "" {
					attrs = append(attrs, sdk.Ident("error_kind", kind))
				}
				attrs = append(attrs, sdk.Ident("decision", decision), sdk.Int("lines_added", added), sdk.Int("lines_removed", removed), sdk.Bool("sidechain", false))
				if tool.name == "Bash" {
					attrs = append(attrs, sdk.Ident("command", []string{"go", "git", "npm"}[rng.IntN(3)]))
				}
				add(rec(kindTool, fmt.Sprintf("%s/toolu_%04d_%03d_%02d", id, s, turn, k), id, at, attrs...))
				isErr := int64(0)
				if status != "ok" {
					isErr = 1
				}
				counts := map[string]int64{"tool_calls": 1, "tool_errors": isErr, "lines_added": added, "lines_removed": removed, "duration_ms": durMS}
				if decision == "accepted" || decision == "rejected" {
					counts["edits_decided"] = 1
					if decision == "accepted" {
						counts["edits_accepted"] = 1
					}
				}
				for _, d := range [][2]string{{"all", "-"}, {"tool", tool.name}, {"model", model}, {"project", projectHex}} {
					bump(at, d[0], d[1], counts, durMS)
				}
				if kind != "" {
					bump(at, "error_kind", kind, map[string]int64{"tool_calls": 1, "tool_errors": 1}, -1)
				}
				tc.calls++
				tc.errors += isErr
				tc.added += added
				tc.removed += removed
				at = at.Add(time.Duration(durMS)*time.Millisecond + 2*time.Second)
			}
			tok := []int64{int64(1000 + 10*turn), int64(150 + turn), 300, int64(5000 * turn)}
			usageEvents = append(usageEvents, pipeline.Entry{Seq: uint64(len(usageEvents) + 1), Event: sdk.Event{
				ID: sdk.NewID("seed-usage", []byte(turnKey)), Platform: "claude-code", Kind: usagestore.Kind, SessionID: id, Time: at,
				Attrs: []sdk.Attr{sdk.Ident("message_id", fmt.Sprintf("msg_%04d_%03d", s, turn)), sdk.Ident("request_id", fmt.Sprintf("req_%04d_%03d", s, turn)),
					sdk.Ident("model", model), sdk.Int("input_tokens", tok[0]), sdk.Int("output_tokens", tok[1]), sdk.Int("cache_creation_tokens", tok[2]),
					sdk.Int("cache_read_tokens", tok[3]), sdk.Hash("project", project)}}})
			turnErr := int64(0)
			if tc.errors > 0 {
				turnErr = 1
			}
			durMS := at.Sub(turnStart).Milliseconds()
			add(rec(kindTurn, turnKey, id, turnStart, sdk.Int("turn", int64(turn)), sdk.Int("start", turnStart.UnixMilli()), sdk.Int("end", at.UnixMilli()),
				sdk.Int("duration_ms", durMS), sdk.Int("prompt_words", int64(5+turn*3)), sdk.Int("tool_calls", tc.calls), sdk.Int("tool_errors", tc.errors),
				sdk.Int("assistant_messages", tc.calls+1), sdk.Int("input_tokens", tok[0]), sdk.Int("output_tokens", tok[1]), sdk.Int("cache_creation_tokens", tok[2]),
				sdk.Int("cache_read_tokens", tok[3]), sdk.Int("lines_added", tc.added), sdk.Int("lines_removed", tc.removed),
				sdk.Bool("sidechain", false), sdk.Bool("compacted", false), sdk.Bool("interrupted", false)))
			tokCounts := map[string]int64{"turns": 1, "turns_with_error": turnErr, "active_ms": durMS,
				"input_tokens": tok[0], "output_tokens": tok[1], "cache_creation_tokens": tok[2], "cache_read_tokens": tok[3]}
			for _, d := range [][2]string{{"all", "-"}, {"model", model}, {"project", projectHex}} {
				bump(turnStart, d[0], d[1], tokCounts, -1)
			}
			sess.toolCalls += tc.calls
			sess.toolErrors += tc.errors
			sess.turnsErr += turnErr
			sess.lines += tc.added
			sess.active += durMS
			at = at.Add(time.Minute)
		}
		add(rec(kindSession, id, id, start, sdk.Hash("project", project), sdk.Ident("model", model), sdk.Int("start", start.UnixMilli()),
			sdk.Int("end", at.UnixMilli()), sdk.Int("duration_ms", at.Sub(start).Milliseconds()), sdk.Int("active_ms", sess.active),
			sdk.Int("turns", int64(spec.turns)), sdk.Int("tool_calls", sess.toolCalls), sdk.Int("tool_errors", sess.toolErrors),
			sdk.Int("turns_with_error", sess.turnsErr), sdk.Int("lines_added", sess.lines), sdk.Ident("source", "both")))
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range buckets {
			if !yield(k) {
				return
			}
		}
	}) {
		a := buckets[k]
		width, key, _ := strings.Cut(k, "|")
		parts := strings.SplitN(key, "/", 3)
		var bucket int64
		fmt.Sscan(parts[0], &bucket)
		var ws int64
		fmt.Sscan(width, &ws)
		attrs := []sdk.Attr{sdk.Int("bucket", bucket), sdk.Int("width_s", ws), sdk.Ident("dim", parts[1]), sdk.Ident("value", parts[2])}
		for _, name := range []string{"tool_calls", "tool_errors", "turns", "turns_with_error", "edits_decided", "edits_accepted", "lines_added", "lines_removed",
			"active_ms", "duration_ms", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens"} {
			attrs = append(attrs, sdk.Int(name, a.counts[name]))
		}
		if len(a.lat) > 0 {
			idx := slices.Sorted(func(yield func(uint16) bool) {
				for i := range a.lat {
					if !yield(i) {
						return
					}
				}
			})
			val := make([]float32, len(idx))
			for i, x := range idx {
				val[i] = a.lat[x]
			}
			attrs = append(attrs, sdk.Sketch("latency", idx, val))
		}
		kind := "metrics.1d"
		if ws == 3600 {
			kind = "metrics.1h"
		}
		add(rec(kind, key, "", time.Unix(bucket, 0).UTC(), attrs...))
	}
	if err := b.Commit(); err != nil {
		tb.Fatal(err)
	}
	// The usage rollup, as the daemon's consumer would have made it, priced with the embedded
	// table and saying so (a read-only open checks it).
	rollup := usagestore.New(st, pricing.Default(), nil)
	for len(usageEvents) > 0 {
		n := min(len(usageEvents), 2000)
		ub := st.NewBatch()
		if err := rollup.Consume(context.Background(), usageEvents[:n], ub); err != nil {
			tb.Fatal(err)
		}
		if err := ub.Commit(); err != nil {
			tb.Fatal(err)
		}
		usageEvents = usageEvents[n:]
	}
	if _, err := rollup.Reprice(context.Background(), pricing.Default(), daemon.EmbeddedPrices()); err != nil {
		tb.Fatal(err)
	}
	// As a daemon's store is after Pebble's background compactions.
	if err := st.Compact(); err != nil {
		tb.Fatal(err)
	}
	return ids
}

// runCLI runs the CLI in this process and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// checkGolden compares got with testdata/read/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "read", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden (rerun with -update after a deliberate change):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// readTestSpec is the small store the read commands' goldens are made from.
var readTestSpec = seedSpec{sessions: 10, turns: 3, tools: 4, days: 5, start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}

// seededDataDir returns a data dir seeded with readTestSpec, and the session ids.
func seededDataDir(t *testing.T) (string, []string) {
	t.Helper()
	dataDir := newDataDir(t)
	ids := seedStore(t, dataDir, readTestSpec)
	return dataDir, ids
}

func TestReadCommandsGolden(t *testing.T) {
	dataDir, ids := seededDataDir(t)
	tests := []struct {
		name string
		args []string
	}{
		{"sessions.txt", []string{"sessions"}},
		{"sessions.json", []string{"sessions", "--json"}},
		{"sessions-since.txt", []string{"sessions", "--since", "2026-03-04", "--until", "20260305"}},
		{"sessions-project.txt", []string{"sessions", "--project", "fa430adde4fa"}},
		{"analyze.txt", []string{"analyze", ids[2]}},
		{"analyze-last.json", []string{"analyze", "--last", "--json"}},
		{"metrics-day.txt", []string{"metrics"}},
		{"metrics-week-tool.txt", []string{"metrics", "--period", "week", "--by", "tool"}},
		{"metrics-model.json", []string{"metrics", "--by", "model", "--json"}},
		{"metrics-project.txt", []string{"metrics", "--by", "project", "--since", "2026-03-03"}},
		{"errors.txt", []string{"errors"}},
		{"errors.json", []string{"errors", "--json", "--top", "3"}},
		{"export.csv", []string{"export", "--format", "csv", "-o", "-"}},
		{"export.md", []string{"export", "--format", "md", "-o", "-", "--until", "2026-03-02"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, append(tt.args, "--data-dir", dataDir, "-z", "UTC")...)
			if code != 0 {
				t.Fatalf("agent %s: exit %d, stderr %s", strings.Join(tt.args, " "), code, errOut)
			}
			checkGolden(t, tt.name, out)
		})
	}
}

func TestDerivedListAndEventsTail(t *testing.T) {
	dataDir, _ := seededDataDir(t)
	code, out, errOut := runCLI(t, "derived", "list", "--kind", "conversation.session", "-n", "3", "--data-dir", dataDir)
	if code != 0 {
		t.Fatalf("derived list: exit %d, stderr %s", code, errOut)
	}
	checkGolden(t, "derived-list.txt", out)
	code, out, errOut = runCLI(t, "derived", "list", "--json", "-n", "1", "--data-dir", dataDir)
	if code != 0 {
		t.Fatalf("derived list --json: exit %d, stderr %s", code, errOut)
	}
	var recs []struct {
		Kind   string    `json:"stored_kind"`
		Record sdk.Event `json:"record"`
	}
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
	}
	if want := []string{"conversation.session", "conversation.tool", "conversation.turn", "metrics.1d", "metrics.1h"}; !slices.Equal(kinds, want) {
		t.Errorf("derived list --json -n 1: kinds %v, want %v", kinds, want)
	}
	// The plugin filter goes by the plugin's grants: claude-code emits no derived kind.
	code, out, errOut = runCLI(t, "derived", "list", "--plugin", "claude-code", "--data-dir", dataDir)
	if code != 0 || !strings.Contains(out, "No derived records") {
		t.Errorf("derived list --plugin claude-code: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if code, _, errOut = runCLI(t, "derived", "list", "--plugin", "nope", "--data-dir", dataDir); code != 2 {
		t.Errorf("derived list --plugin nope: exit %d, want 2 (stderr %s)", code, errOut)
	}

	// Events, as a plugin with read:events sees them.
	st, err := store.Open(filepath.Join(dataDir, daemon.StoreName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch()
	for i := range 30 {
		kind := "hook.PreToolUse"
		if i%3 == 0 {
			kind = "hook.PostToolUse"
		}
		ev := sdk.Event{ID: sdk.NewID("tail", []byte(fmt.Sprint(i))), Platform: "claude-code", Kind: kind, SessionID: "s-tail",
			Time: readTestSpec.start.Add(time.Duration(i) * time.Second), Attrs: []sdk.Attr{sdk.Ident("tool_name", "Bash"), sdk.Int("n", int64(i))}}
		if _, err := b.AddEvent(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out, errOut = runCLI(t, "events", "tail", "--kind", "hook.PostToolUse", "-n", "4", "--json", "--data-dir", dataDir)
	if code != 0 {
		t.Fatalf("events tail: exit %d, stderr %s", code, errOut)
	}
	var ns []int64
	for line := range strings.Lines(out) {
		var ev sdk.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("events tail line %q: %v", line, err)
		}
		if ev.Kind != "hook.PostToolUse" {
			t.Errorf("events tail --kind hook.PostToolUse printed a %s", ev.Kind)
		}
		v, _ := ev.Attr("n")
		ns = append(ns, v.Int())
	}
	if want := []int64{18, 21, 24, 27}; !slices.Equal(ns, want) {
		t.Errorf("events tail -n 4: events %v, want %v (the last four, oldest first)", ns, want)
	}
	code, out, errOut = runCLI(t, "events", "tail", "-n", "2", "--data-dir", dataDir, "--log-level", "error")
	if code != 0 || strings.Count(out, "s-tail") != 2 || !strings.Contains(out, "n=29") {
		t.Errorf("events tail -n 2: exit %d, stdout\n%s\nstderr %s", code, out, errOut)
	}
}

func TestExportAnonymize(t *testing.T) {
	dataDir, ids := seededDataDir(t)
	export := func() string {
		t.Helper()
		file := filepath.Join(t.TempDir(), "export.json")
		code, _, errOut := runCLI(t, "export", "--format", "json", "--anonymize", "-o", file, "--data-dir", dataDir)
		if code != 0 {
			t.Fatalf("export: exit %d, stderr %s", code, errOut)
		}
		if m := fileMode(t, file); m.Perm() != 0o600 {
			t.Errorf("export file mode %v, want 0600", m)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	a, b := export(), export()
	// Nothing that links to the workspace or to the assistant's own files.
	for _, id := range ids {
		if strings.Contains(a, id) || strings.Contains(a, id[:8]) {
			t.Errorf("the anonymized export holds session id %s", id)
		}
	}
	for i := range 3 {
		h := sha256.Sum256([]byte(fmt.Sprint("project-", i)))
		if p := fmt.Sprintf("%x", h[:6]); strings.Contains(a, p) {
			t.Errorf("the anonymized export holds project %s", p)
		}
	}
	if strings.Contains(a, "toolu_") || strings.Contains(a, `"project`) {
		t.Error("the anonymized export holds tool use ids or a project field")
	}
	var sessions []struct {
		SessionID string `json:"session_id"`
		Turns     int64  `json:"turns"`
		Timeline  []struct {
			Tools []struct {
				ToolUseID string `json:"tool_use_id"`
			} `json:"tools"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal([]byte(a), &sessions); err != nil {
		t.Fatal(err)
	}
	if len(sessions) != len(ids) {
		t.Fatalf("export: %d sessions, want %d", len(sessions), len(ids))
	}
	seen := map[string]bool{}
	for _, s := range sessions {
		if len(s.SessionID) != 32 || seen[s.SessionID] {
			t.Errorf("anonymized session id %q: want 32 hex digits, each once", s.SessionID)
		}
		seen[s.SessionID] = true
		if int64(len(s.Timeline)) != s.Turns || len(s.Timeline[0].Tools) != readTestSpec.tools {
			t.Errorf("session %s: %d turns in the timeline (want %d), %d tools in the first", s.SessionID, len(s.Timeline), s.Turns, len(s.Timeline[0].Tools))
		}
	}
	// A new mapping for each export.
	if a == b || strings.Contains(b, sessions[0].SessionID) {
		t.Error("two anonymized exports share their session ids")
	}
	// Without --anonymize, the sessions are the store's.
	code, out, errOut := runCLI(t, "export", "--format", "json", "-o", "-", "--data-dir", dataDir)
	if code != 0 || !strings.Contains(out, ids[0]) || !strings.Contains(out, "toolu_0000_001_00") {
		t.Errorf("export: exit %d, stderr %s, session %s or its tools missing", code, errOut, ids[0])
	}
}

// TestDerivedReadBehind shows what a read does while the enrich plugins have events to read: a
// read-only open refuses (the CLI then opens for writing and runs the plugins), and an answer made
// before they caught up says how far behind it is, which the CLI prints.
func TestDerivedReadBehind(t *testing.T) {
	dataDir, _ := seededDataDir(t)
	st, err := store.Open(filepath.Join(dataDir, daemon.StoreName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch()
	for i := range 5 {
		ev := sdk.Event{ID: sdk.NewID("behind", []byte(fmt.Sprint(i))), Platform: "claude-code", Kind: "hook.Stop", SessionID: "s", Time: readTestSpec.start}
		if _, err := b.AddEvent(&ev); err != nil {
			t.Fatal(err)
		}
	}
	b.SetCursor(usagestore.Name, 5) // the rollup has read them: only the enrich plugin is behind
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	enrich := func() ([]string, error) { return []string{"conversations"}, nil }
	cfg := daemon.Config{DataDir: dataDir, Consumers: consumers(slog.New(slog.DiscardHandler)), ReadOnly: true, ReadsDerived: true, EnrichPlugins: enrich}
	if d, err := daemon.Open(cfg); !errors.Is(err, daemon.ErrStale) {
		if err == nil {
			d.Close()
		}
		t.Fatalf("read-only open with an enrich plugin behind: %v, want ErrStale", err)
	}
	// A report, which reads no derived record, still opens read-only.
	cfg.ReadsDerived = false
	d, err := daemon.Open(cfg)
	if err != nil {
		t.Fatalf("read-only open for usage: %v", err)
	}
	d.Close()

	cfg.ReadOnly, cfg.ReadsDerived, cfg.DerivedWait = false, true, 50*time.Millisecond
	if d, err = daemon.Open(cfg); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	res, err := daemon.LocalClient(d).View(context.Background(), daemon.ViewQuery{Kind: kindSession, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Behind != 5 || len(res.Records) != 2 {
		t.Errorf("View with the plugin 5 events behind: behind %d, %d records; want 5, 2", res.Behind, len(res.Records))
	}
	var buf bytes.Buffer
	warnBehind(&buf, res.Behind)
	if !strings.Contains(buf.String(), "5 events left to read") {
		t.Errorf("warning %q", buf.String())
	}
}

// TestReadCommandsThroughDaemon runs read commands against a running daemon, over its socket
// (GET /v1/derived/view, GET /v1/usage/sums), and checks they print what they print with the store
// opened in their process, where they read it directly: the goldens.
func TestReadCommandsThroughDaemon(t *testing.T) {
	dataDir, ids := seededDataDir(t)
	startDaemon(t, dataDir, nil)
	tests := []struct {
		name string
		args []string
	}{
		{"sessions.txt", []string{"sessions"}},
		{"sessions-project.txt", []string{"sessions", "--project", "fa430adde4fa"}},
		{"analyze.txt", []string{"analyze", ids[2]}},
		{"metrics-day.txt", []string{"metrics"}},
		{"metrics-model.json", []string{"metrics", "--by", "model", "--json"}},
		{"metrics-project.txt", []string{"metrics", "--by", "project", "--since", "2026-03-03"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, append(tt.args, "--data-dir", dataDir, "-z", "UTC")...)
			if code != 0 {
				t.Fatalf("agent %s: exit %d, stderr %s", strings.Join(tt.args, " "), code, errOut)
			}
			if *update {
				t.Skip("the goldens are TestReadCommandsGolden's")
			}
			checkGolden(t, tt.name, out)
		})
	}
}
