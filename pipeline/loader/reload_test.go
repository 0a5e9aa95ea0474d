package loader

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/prometheus/client_golang/prometheus"
)

// TestReloadsSerialized races two plugin reloads and the hand-back of a quarantined capture
// plugin, over and over, in one loader (run it with -race). A reload used to unlock, while it
// stopped the enrich and insight runners, the mutex its caller held, so another reload or a
// hand-back ran in the middle of it: the first then started runners over the other's (which ran on,
// leaked) and closed, from its stale list, the capture plugin the hand-back had just put in
// service, so that every record of the platform failed. After each round, the standby serves,
// exactly one enrich and one insight runner run, and the capture in service captures; status,
// metrics and audit flushes run throughout; after Close, no runner and no flusher runs.
func TestReloadsSerialized(t *testing.T) {
	e := newTestEnv(t)
	e.install(t, buildPluginFolder(t, "adversarial/trap", "trapper", host.KindCapture, "claude-code", trapCaps...))
	// The hand-back goes to the next capture plugin in line: a small one (the trap plugin under
	// another name, which serves any record without "mode"), not the first-party plugin, whose
	// compilation alone would take minutes under -race on a busy machine.
	e.install(t, buildPluginFolder(t, "adversarial/trap", "zz-standby", host.KindCapture, "claude-code", trapCaps...))
	e.install(t, buildPluginFolder(t, "enrich-toolstats", "toolstats", host.KindEnrich, "", "read:events", "emit:derived:tool-stats", "kv"))
	e.install(t, buildPluginFolder(t, "insight-repeat", "repeat", host.KindInsight, "", "read:derived:tool-stats"))

	st := e.openStore(t)
	l, err := New(e.config())
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			l.Close()
		}
	}()
	if _, err := l.Start(st); err != nil {
		t.Fatal(err)
	}
	swap := e.swap

	// Rounds until 20 or the budget runs out; the first always runs. Under -race on a busy machine
	// a round takes a minute (each reload instruments and loads four Go modules).
	budget := 3 * time.Minute
	if testing.Short() {
		budget = 45 * time.Second
	}
	deadline := time.Now().Add(budget)
	rounds := 0
	for ; rounds < 20 && time.Now().Before(deadline); rounds++ {
		if err := e.reg.Enable("trapper"); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Reload(); err != nil {
			t.Fatal(err)
		}
		if by := swap.Serving(); by != "trapper@1.0.0" {
			t.Fatalf("round %d: claude-code served by %s before the race, want trapper@1.0.0", rounds, by)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				<-start
				if _, err := l.Reload(); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Go(func() {
			<-start
			// Trap until the host quarantines the plugin and the loader hands claude-code back
			// (calls that meet a plugin a reload replaced fail without counting).
			for range 4 * host.DefaultQuarantineAfter {
				if swap.Serving() != "trapper@1.0.0" {
					return
				}
				rec := newRecord(trapPayload)
				swap.Capture(&rec)
			}
		})
		// What reports never waits for a load, and races nothing: status, metrics and the
		// audit flush run throughout.
		stopReports := make(chan struct{})
		var reports sync.WaitGroup
		reports.Go(func() {
			<-start
			for {
				select {
				case <-stopReports:
					return
				default:
				}
				l.PluginStatus()
				l.Captures()
				if err := l.FlushAudit(); err != nil {
					t.Error(err)
				}
				collect(l)
				time.Sleep(time.Millisecond)
			}
		})
		close(start)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			t.Fatalf("round %d: two reloads and a hand-back did not end within 2 minutes (a deadlock?):\n%s", rounds, allStacks())
		}
		close(stopReports)
		reports.Wait()

		rec := newRecord(hookPayload)
		if _, err := swap.Capture(&rec); err != nil {
			t.Fatalf("round %d: the capture in service (%s) fails: %v", rounds, swap.Serving(), err)
		}
		if by := swap.Serving(); by != "zz-standby@1.0.0" {
			t.Fatalf("round %d: claude-code served by %s after the hand-back, want zz-standby@1.0.0", rounds, by)
		}
		if n := waitRunners(2); n != 2 {
			t.Fatalf("round %d: %d plugin runners run, want 2 (one enrich, one insight)", rounds, n)
		}
	}
	closed = true
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	if n := waitRunners(0); n != 0 {
		t.Errorf("after Close, %d plugin runners still run", n)
	}
	if bytes.Contains(allStacks(), []byte(".(*Loader).flushLoop")) {
		t.Errorf("after Close, the audit flusher still runs")
	}
	t.Logf("%d rounds", rounds)
}

// collect gathers the loader's metrics, as a scrape of /metrics does.
func collect(l *Loader) {
	ch := make(chan prometheus.Metric)
	go func() { l.Collect(ch); close(ch) }()
	for range ch {
	}
}
