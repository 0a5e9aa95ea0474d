package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
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

var update = flag.Bool("update", false, "rewrite the read commands' goldens in testdata/read")

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
