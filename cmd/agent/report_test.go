package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline/usage/usagetest"
	"github.com/hangar-dev/hangar/pipeline/usagestore"
)

// expectedDir holds ccusage 20.0.24's reports over the shared transcripts.
const expectedDir = "../../../shared/fixtures/claude-code/expected"

// TestReportParity imports the real transcripts with the real binary (the first-party plugin
// reduces them, the usage rollup keeps them) and compares `agent report daily|monthly|session
// --json -z UTC` with ccusage's output: tokens exact, costs within 1e-6, with no daemon and then
// through one. ccusage's session report names the project by its folder (a path); Hangar never
// keeps it, so projectPath is compared by being Hangar's 12-character project key.
func TestReportParity(t *testing.T) {
	dataDir := importShared(t)

	check := func(how string) {
		t.Helper()
		for _, kind := range []string{"daily", "monthly", "session"} {
			res := runAgent(t, nil, nil, 60*time.Second, "report", kind, "--json", "-z", "UTC", "--data-dir", dataDir)
			if res.code != 0 {
				t.Fatalf("%s: report %s: exit %d\n%s", how, kind, res.code, res.stderr)
			}
			want, err := os.ReadFile(filepath.Join(expectedDir, "ccusage-"+kind+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var got, exp any
			if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
				t.Fatalf("%s: report %s: %v\n%s", how, kind, err, res.stdout)
			}
			if err := json.Unmarshal(want, &exp); err != nil {
				t.Fatal(err)
			}
			jsonNear(t, how+" "+kind, got, exp)
		}
	}
	check("no daemon")
	d := startDaemon(t, dataDir, nil)
	check("daemon")
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
}

// jsonNear compares decoded JSON: numbers within 1e-6, projectPath as a project key.
func jsonNear(t *testing.T, path string, got, want any) {
	t.Helper()
	usagetest.JSONNear(t, path, got, want, map[string]func(testing.TB, string, any){
		"projectPath": func(t testing.TB, path string, got any) {
			if s, _ := got.(string); len(s) != 12 || strings.ContainsAny(s, "/-") {
				t.Errorf("%s = %q, want a 12-character project key", path, got)
			}
		},
	})
}

// TestReportReadOnly checks the store a report opens when no daemon runs: read-only when it is
// up to date; for writing when it is not (here, the usage rollup has events left to consume, as
// after a crash between the commit of events and the rollup's), which brings it up to date. The
// answers are the same either way. A read-only daemon serves usage reads and nothing else.
func TestReportReadOnly(t *testing.T) {
	dataDir := importShared(t)
	want := reportDaily(t, dataDir)
	// report runs a report and returns how the store was opened, from the debug log.
	report := func(t *testing.T) (readOnly, stale bool) {
		t.Helper()
		logFile := filepath.Join(dataDir, "logs", "agent.log")
		before, _ := os.ReadFile(logFile)
		res := runAgent(t, nil, nil, 60*time.Second, "report", "daily", "--json", "-z", "UTC", "--data-dir", dataDir, "--log-level", "debug")
		if res.code != 0 || res.stdout != want.stdout {
			t.Errorf("report: exit %d, stdout\n%s\nwant\n%s\nstderr %s", res.code, res.stdout, want.stdout, res.stderr)
		}
		after, _ := os.ReadFile(logFile)
		added := string(after[min(len(before), len(after)):])
		return strings.Contains(added, "store opened read-only"), strings.Contains(added, "opening the store for writing")
	}

	if ro, stale := report(t); !ro || stale {
		t.Errorf("report of an up-to-date store: opened read-only %v, stale %v; want read-only", ro, stale)
	}

	// Move the rollup's cursor back: 20 events to consume again (idempotently).
	st := openStore(t, dataDir)
	last := st.LastSeq()
	b := st.NewBatch()
	b.SetCursor(usagestore.Name, last-20)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := daemon.Config{DataDir: dataDir, Consumers: consumers(slog.New(slog.DiscardHandler)), ReadOnly: true}
	if d, err := daemon.Open(cfg); !errors.Is(err, daemon.ErrStale) {
		if err == nil {
			d.Close()
		}
		t.Fatalf("read-only open with the rollup behind: %v, want ErrStale", err)
	}
	if ro, stale := report(t); ro || !stale {
		t.Errorf("report of a store to bring up to date: opened read-only %v, stale %v; want stale and written", ro, stale)
	}
	st = openStore(t, dataDir)
	if cur, err := st.Cursor(usagestore.Name); err != nil || cur != last {
		t.Errorf("usage rollup cursor after the report: %d, %v, want %d", cur, err, last)
	}
	st.Close()
	if ro, _ := report(t); !ro {
		t.Error("the report after the store was brought up to date did not open it read-only")
	}

	// Up to date again: a read-only daemon answers usage reads, and only them.
	d, err := daemon.Open(cfg)
	if err != nil {
		t.Fatalf("read-only open: %v", err)
	}
	defer d.Close()
	c := daemon.LocalClient(d)
	ctx := context.Background()
	if buckets, err := c.UsageBuckets(ctx, time.Time{}, time.Time{}); err != nil || len(buckets) == 0 {
		t.Errorf("UsageBuckets: %d buckets, %v", len(buckets), err)
	}
	if models, err := c.UnpricedModels(ctx); err != nil || len(models) != 0 {
		t.Errorf("UnpricedModels: %v, %v, want none", models, err)
	}
	if _, err := c.Status(ctx); err == nil {
		t.Error("a read-only daemon answered a status request")
	}
	if err := d.Serve(ctx); err == nil {
		t.Error("a read-only daemon served")
	}
}
