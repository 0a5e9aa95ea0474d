package pipeline

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
	"github.com/tidwall/gjson"
)

const transcriptDir = "../../shared/fixtures/claude-code/projects/-Users-chip-dev-ai-music"

// usageCapture reduces a transcript line to a transcript.usage event as the Claude Code plugin
// does (plugins/claude-code), without WASM: the rollup is under test here, not the plugin.
func usageCapture(rec *RawRecord) ([]sdk.Event, error) {
	line := gjson.ParseBytes(rec.Payload)
	u := line.Get("message.usage")
	if !u.IsObject() || !u.Get("input_tokens").Exists() || !u.Get("output_tokens").Exists() {
		return nil, nil
	}
	ts, err := time.Parse(time.RFC3339Nano, line.Get("timestamp").String())
	if err != nil {
		return nil, Permanent(err)
	}
	ev := sdk.Event{ID: EventID(rec, 0), Platform: rec.Platform, Kind: UsageKind, SessionID: line.Get("sessionId").String(), Time: ts}
	folder := sha256.Sum256([]byte(filepath.Base(line.Get("cwd").String())))
	ev.Attrs = append(ev.Attrs, sdk.Hash("project", folder[:16]))
	for _, f := range [][2]string{{"message.model", "model"}, {"message.id", "message_id"}, {"requestId", "request_id"}} {
		if v := line.Get(f[0]).String(); v != "" {
			ev.Attrs = append(ev.Attrs, sdk.Ident(f[1], v))
		}
	}
	for _, f := range [][2]string{{"input_tokens", "input_tokens"}, {"output_tokens", "output_tokens"}, {"cache_creation_input_tokens", "cache_creation_tokens"}, {"cache_read_input_tokens", "cache_read_tokens"}} {
		ev.Attrs = append(ev.Attrs, sdk.Int(f[1], u.Get(f[0]).Int()))
	}
	if v := line.Get("costUSD"); v.Exists() {
		ev.Attrs = append(ev.Attrs, sdk.Float("cost_usd", v.Float()))
	}
	ev.Attrs = append(ev.Attrs, sdk.Bool("sidechain", line.Get("isSidechain").Bool()))
	return []sdk.Event{ev}, nil
}

// transcriptRecords returns one record per line of the fixture transcripts, in ccusage's order
// (files by path, lines in order).
func transcriptRecords(t *testing.T) []RawRecord {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(transcriptDir, "*.jsonl"))
	if err != nil || len(files) != 4 {
		t.Fatalf("fixture transcripts: %v, %d files", err, len(files))
	}
	sort.Strings(files)
	var recs []RawRecord
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			line := append([]byte{}, sc.Bytes()...)
			recs = append(recs, RawRecord{ID: sdk.NewID("t", []byte(f), line), Platform: testPlatform, Source: "transcript", ReceivedAt: testDay, Payload: line})
		}
	}
	return recs
}

// TestUsageRollupMatchesCcusage runs the real transcripts through the intake and the usage rollup
// and compares the daily and session reports with ccusage's: tokens exact, costs within 1e-6. It
// then restarts the consumer and submits everything again: nothing changes.
func TestUsageRollupMatchesCcusage(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, Captures{testPlatform: capFunc(usageCapture)}, IntakeConfig{})
	recs := transcriptRecords(t)
	// Submit in small batches, so duplicates of one response land in different Consume calls.
	for i := 0; i < len(recs); i += 7 {
		submit(t, in, recs[i:min(i+7, len(recs))])
	}
	r := startConsumers(t, st, ConsumersConfig{BatchSize: 5}, NewUsageRollup(st, nil, nil))
	waitConsumed(t, r)
	checkUsageReports(t, st)

	r.Close()
	submit(t, in, recs)
	r2 := startConsumers(t, st, ConsumersConfig{}, NewUsageRollup(st, nil, nil))
	waitConsumed(t, r2)
	checkUsageReports(t, st)
}

func checkUsageReports(t *testing.T, st *store.Store) {
	t.Helper()
	var err error
	opts := usage.Options{Location: time.UTC}
	daily, derr := usage.Daily(UsageBuckets(st, time.Time{}, time.Time{}, &err), opts)
	if derr != nil || err != nil {
		t.Fatal(derr, err)
	}
	compareReport(t, "daily", &daily, "ccusage-daily.json")
	sess, serr := usage.Session(UsageBuckets(st, time.Time{}, time.Time{}, &err), opts)
	if serr != nil || err != nil {
		t.Fatal(serr, err)
	}
	compareReport(t, "session", &sess, "ccusage-session.json")
}

// compareReport compares a report's JSON with ccusage's, numbers within 1e-6, except the session
// report's projectPath: ccusage shows the folder, Hangar never stores it.
func compareReport(t *testing.T, name string, r interface{ WriteJSON(w io.Writer) error }, file string) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("../../shared/fixtures/claude-code/expected", file))
	if err != nil {
		t.Fatal(err)
	}
	var got, exp any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &exp); err != nil {
		t.Fatal(err)
	}
	jsonClose(t, name, got, exp)
}

func jsonClose(t *testing.T, path string, got, want any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", path, got, want)
			return
		}
		for k, wv := range w {
			if k == "projectPath" {
				continue
			}
			jsonClose(t, path+"."+k, g[k], wv)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", path, got, want)
			return
		}
		for i := range w {
			jsonClose(t, fmt.Sprintf("%s[%d]", path, i), g[i], w[i])
		}
	case float64:
		g, ok := got.(float64)
		if !ok || math.Abs(g-w) > 1e-6 {
			t.Errorf("%s: got %v, want %v", path, got, want)
		}
	default:
		if got != want {
			t.Errorf("%s: got %v, want %v", path, got, want)
		}
	}
}
