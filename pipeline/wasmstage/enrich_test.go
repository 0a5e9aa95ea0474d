package wasmstage

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
	"github.com/hangar-dev/hangar/store/storetest"
)

// pipelineRig is the daemon's pipeline in-process: a store, the intake with the first-party
// Claude Code capture plugin, and a consumers runner.
type pipelineRig struct {
	st        *store.Store
	intake    *pipeline.Intake
	consumers *pipeline.Consumers
}

func startRig(t *testing.T, dir string, consumers ...pipeline.Consumer) *pipelineRig {
	t.Helper()
	st, err := store.Open(dir, store.Options{PayloadKey: storetest.Key})
	if err != nil {
		t.Fatal(err)
	}
	capture := loadClaudeCode(t, newTestHost(t, host.Config{Secret: testSecret}))
	in, err := pipeline.NewIntake(st, pipeline.Captures{pipeline.PlatformClaudeCode: capture}, pipeline.IntakeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := pipeline.NewConsumers(st, consumers, pipeline.ConsumersConfig{BatchSize: 32, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cs.Start()
	return &pipelineRig{st: st, intake: in, consumers: cs}
}

func (r *pipelineRig) close(t *testing.T) {
	t.Helper()
	r.consumers.Close()
	if err := r.intake.Close(context.Background()); err != nil {
		t.Error(err)
	}
	if err := r.st.Close(); err != nil {
		t.Error(err)
	}
}

// submit sends hook payloads as records whose ids derive from their index, so that submitting
// one again is a duplicate.
func (r *pipelineRig) submit(t *testing.T, payloads [][]byte, first int) {
	t.Helper()
	recs := make([]pipeline.RawRecord, len(payloads))
	for i, p := range payloads {
		recs[i] = pipeline.RawRecord{
			ID: sdk.NewID("enrich-test", []byte(fmt.Sprint(first+i))), Platform: pipeline.PlatformClaudeCode,
			Source: "hook", ReceivedAt: time.Now(), Payload: p,
		}
	}
	if _, err := r.intake.Submit(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *pipelineRig) waitConsumed(t *testing.T, name string) {
	t.Helper()
	waitFor(t, name+" to catch up", func() (bool, error) { return r.consumers.Lag()[name] == 0, nil })
}

// toolKey names a session's tool.
type toolKey struct{ session, tool string }

// wantToolCounts counts, from the event log, the PostToolUse events by session and tool.
func wantToolCounts(t *testing.T, st *store.Store) map[toolKey]int64 {
	t.Helper()
	want := map[toolKey]int64{}
	if _, err := st.ReadLog(0, 1<<30, func(_ uint64, ev *sdk.Event) error {
		if ev.Kind != "hook.PostToolUse" || ev.SessionID == "" {
			return nil
		}
		for _, a := range ev.Attrs {
			if a.Key == "tool_name" {
				want[toolKey{ev.SessionID, a.Value.Ident()}]++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return want
}

func attr(ev *sdk.Event, key string) sdk.Value {
	for _, a := range ev.Attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return sdk.Value{}
}

// TestEnrichInsightEndToEnd runs hook payloads through the intake, an enrich plugin (tool counts
// per session, kept in its kv keyspace) and an insight plugin reading its derived records, stops
// and restarts everything, and checks that each event was enriched exactly once and each derived
// record seen exactly once.
func TestEnrichInsightEndToEnd(t *testing.T) {
	audit := &auditSink{}
	h := newTestHost(t, host.Config{Audit: audit})
	enrichP := loadKind(t, h, "enrich-toolstats", host.KindEnrich, []string{"read:events", "emit:derived:tool-stats", "kv"})
	insightP := loadKind(t, h, "insight-repeat", host.KindInsight, []string{"read:derived:tool-stats"})
	payloads := hosttest.HookPayloads(t)
	half := len(payloads) / 2
	dir := t.TempDir()

	run := func(batch [][]byte, first int, resubmit [][]byte) {
		t.Helper()
		enrich, err := NewEnrich(enrichP, nil)
		if err != nil {
			t.Fatal(err)
		}
		rig := startRig(t, dir, enrich)
		enrich.st = rig.st
		insight, err := NewInsight(insightP, rig.st, InsightConfig{BatchSize: 16, MaxBackoff: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		insight.Start()
		rig.submit(t, batch, first)
		if resubmit != nil {
			rig.submit(t, resubmit, 0) // duplicates: no new events
		}
		rig.waitConsumed(t, enrich.Name())
		waitFor(t, "the insight to catch up", func() (bool, error) { return insight.Lag() == 0, nil })
		insight.Close()
		rig.close(t)
	}
	run(payloads[:half], 0, nil)
	run(payloads[half:], half, payloads[:half])

	st, err := store.Open(dir, store.Options{PayloadKey: storetest.Key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := wantToolCounts(t, st)
	var total int64
	wantInsights := 0
	for _, n := range want {
		total += n
		if n >= 3 {
			wantInsights++
		}
	}
	if total < 10 || wantInsights == 0 {
		t.Fatalf("fixtures give %d tool uses and %d repeated tools: too few to test with", total, wantInsights)
	}
	t.Logf("%d tool uses of %d session tools, %d used 3 times or more", total, len(want), wantInsights)

	// Each tool use made exactly one tool-stats record; a tool's counts are 1..n, each once.
	seen := map[toolKey]map[int64]int{}
	var records int64
	if _, err := st.ScanDerived("tool-stats", 0, 0, func(_ uint64, ev *sdk.Event) error {
		records++
		k := toolKey{ev.SessionID, attr(ev, "tool").Ident()}
		if seen[k] == nil {
			seen[k] = map[int64]int{}
		}
		seen[k][attr(ev, "count").Int()]++
		if ev.Platform != pipeline.PlatformClaudeCode {
			t.Errorf("derived record platform %q, want the source's", ev.Platform)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if records != total {
		t.Errorf("%d tool-stats records, want %d (one per tool use)", records, total)
	}
	for k, n := range want {
		for c := int64(1); c <= n; c++ {
			if seen[k][c] != 1 {
				t.Errorf("%v: count %d recorded %d times, want once", k, c, seen[k][c])
			}
		}
		if len(seen[k]) != int(n) {
			t.Errorf("%v: counts %v, want 1..%d", k, seen[k], n)
		}
	}

	// The insight plugin saw each record once: one insight per tool used 3 times or more.
	insights := map[toolKey]int{}
	if _, err := st.ScanDerived(host.InsightKind("insight-repeat"), 0, 0, func(_ uint64, ev *sdk.Event) error {
		if ev.Kind != "repeated-tool" {
			t.Errorf("insight kind %q", ev.Kind)
		}
		insights[toolKey{ev.SessionID, attr(ev, "tool").Ident()}]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(insights) != wantInsights {
		t.Errorf("%d insights, want %d", len(insights), wantInsights)
	}
	for k, n := range insights {
		if n != 1 || want[k] < 3 {
			t.Errorf("%v: %d insights for %d uses, want 1 for 3 or more", k, n, want[k])
		}
	}
	if st.DLQCount() != 0 {
		t.Errorf("%d dead letters, want none", st.DLQCount())
	}
	for _, p := range []*host.Plugin{enrichP, insightP} {
		if q, reason := p.Quarantined(); q {
			t.Errorf("%s quarantined: %s", p.Manifest().Name, reason)
		}
	}
}

// TestEnrichRefusesUngrantedKind checks that an enrich plugin emitting a derived kind it was not
// granted has those records refused, audited and dead-lettered, and keeps running for the rest.
func TestEnrichRefusesUngrantedKind(t *testing.T) {
	audit := &auditSink{}
	h := newTestHost(t, host.Config{Audit: audit})
	p := loadKind(t, h, "enrich-badkind", host.KindEnrich, []string{"read:events", "emit:derived:tool-stats"})
	rig := startRig(t, t.TempDir())
	defer rig.close(t)
	enrich, err := NewEnrich(p, rig.st)
	if err != nil {
		t.Fatal(err)
	}
	rig.consumers.Close()
	rig.consumers, err = pipeline.NewConsumers(rig.st, []pipeline.Consumer{enrich}, pipeline.ConsumersConfig{BatchSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	rig.consumers.Start()
	rig.submit(t, hosttest.HookPayloads(t), 0)
	rig.waitConsumed(t, enrich.Name())

	var prompts int64
	for pk, n := range rig.st.Counts() {
		if pk.Kind == "hook.UserPromptSubmit" {
			prompts += n
		}
	}
	if prompts == 0 {
		t.Fatal("fixtures hold no UserPromptSubmit events")
	}
	var dead int64
	if err := rig.st.ScanDLQ(func(r store.DLQRecord) bool {
		if r.Stage != "consumer:"+enrich.Name() {
			t.Errorf("dead letter stage %q", r.Stage)
		}
		if !strings.Contains(r.Reason, host.ErrRefusedEmission.Error()) {
			t.Errorf("dead letter reason %q, want a refused emission", r.Reason)
		}
		dead++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if dead != prompts {
		t.Errorf("%d dead letters, want %d (one per UserPromptSubmit event)", dead, prompts)
	}
	if n := audit.count(p.Manifest().Name, host.AuditRefusedEmission); n < prompts {
		t.Errorf("%d refused emissions audited, want at least %d", n, prompts)
	}
	if _, err := rig.st.ScanDerived("not-granted", 0, 0, func(uint64, *sdk.Event) error {
		t.Error("a record of the ungranted kind was stored")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if q, reason := p.Quarantined(); q {
		t.Errorf("quarantined for refused records: %s", reason)
	}
}

// TestNewStagesRefuse: each stage refuses a plugin of another kind, or without the grant it reads
// its input by.
func TestNewStagesRefuse(t *testing.T) {
	h := newTestHost(t, host.Config{})
	noRead := loadKind(t, h, "enrich-toolstats", host.KindEnrich, []string{"emit:derived:tool-stats"})
	if _, err := NewEnrich(noRead, nil); err == nil {
		t.Error("NewEnrich accepted a plugin without read:events")
	}
	if _, err := NewCapture(noRead); err == nil {
		t.Error("NewCapture accepted an enrich plugin")
	}
	capture := loadClaudeCode(t, h).p
	if _, err := NewEnrich(capture, nil); err == nil {
		t.Error("NewEnrich accepted a capture plugin")
	}
	if _, err := NewInsight(capture, nil, InsightConfig{}); err == nil {
		t.Error("NewInsight accepted a capture plugin")
	}
	noKinds := loadKind(t, h, "insight-repeat", host.KindInsight, nil)
	if _, err := NewInsight(noKinds, nil, InsightConfig{}); err == nil {
		t.Error("NewInsight accepted a plugin without read:derived grants")
	}
}
