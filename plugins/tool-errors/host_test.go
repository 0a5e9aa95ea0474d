//go:build !wasip1

package main

// These tests run the committed module through the real host (host.New, Load, CallRecords), on
// derived records in the shape the first-party metrics and conversations plugins write (the
// shared contract C3 of issue 15), and once on the real insight runner over a real store.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline/wasmstage"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store/storetest"
)

// day0 is the first day of the test data (a bucket start, Unix seconds).
var day0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Unix()

// dayMetrics is the metrics.1d record of a tool's day, as the metrics plugin writes it.
func dayMetrics(d int, tool string, calls, errs int64, version int) sdk.Event {
	bucket := day0 + int64(d)*secondsPerDay
	key := fmt.Sprintf("%010d/tool/%s", bucket, tool)
	return sdk.Event{
		ID: sdk.NewID("test-metrics", []byte(key), []byte{byte(version)}), Platform: "claude-code", Kind: "metrics.1d",
		Time: time.Unix(bucket, 0).UTC(),
		Attrs: []sdk.Attr{
			sdk.Ident("key", key), sdk.Int("bucket", bucket), sdk.Int("width_s", secondsPerDay),
			sdk.Ident("dim", "tool"), sdk.Ident("value", tool),
			sdk.Int("tool_calls", calls), sdk.Int("tool_errors", errs), sdk.Int("turns", calls/2),
			sdk.Int("duration_ms", calls*1200), sdk.Int("input_tokens", 1000),
			sdk.Sketch("latency", []uint16{0, 80, 92}, []float32{1, float32(calls - 2), 1}),
		},
	}
}

// otherDim is a metrics.1d record of another dimension, which the plugin ignores.
func otherDim(d int, dim, value string) sdk.Event {
	ev := dayMetrics(d, value, 500, 400, 0)
	ev.Attrs[3] = sdk.Ident("dim", dim)
	return ev
}

// toolCall is the conversation.tool record of one tool call, as the conversations plugin writes it.
func toolCall(session, useID, tool, status string, at time.Time) sdk.Event {
	key := session + "/" + useID
	ev := sdk.Event{
		ID: sdk.NewID("test-conv", []byte(key), []byte(status)), Platform: "claude-code", Kind: "conversation.tool",
		SessionID: session, Time: at,
		Attrs: []sdk.Attr{
			sdk.Ident("key", key), sdk.Int("turn", 1), sdk.Ident("tool_name", tool), sdk.Ident("operation", "shell"),
			sdk.Int("start", at.UnixMilli()), sdk.Int("duration_ms", 900), sdk.Ident("status", status),
			sdk.Ident("decision", "none"), sdk.Ident("command", "go"), sdk.Bool("sidechain", false),
		},
	}
	if status == "error" {
		ev.Attrs = append(ev.Attrs, sdk.Ident("error_kind", "exit_code"))
	}
	return ev
}

// rig is the committed module loaded in a real host, granted its manifest, with a kv in memory.
type rig struct {
	p        *host.Plugin
	insights map[string]sdk.Event // the latest insight per key, as the store's view keeps them
	emitted  int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	h, err := host.New(host.Config{KV: &host.MemKV{}, CacheDir: cacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return &rig{p: load(t, h), insights: map[string]sdk.Event{}}
}

func load(t *testing.T, h *host.Host) *host.Plugin {
	t.Helper()
	m, wasm, err := host.ReadPluginDir(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := host.NewGrants(m.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, wasm, g)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var sharedCache string

func cacheDir(t *testing.T) string {
	t.Helper()
	if sharedCache == "" {
		dir, err := os.MkdirTemp("", "tool-errors-test-cache")
		if err != nil {
			t.Fatal(err)
		}
		sharedCache = dir
	}
	return sharedCache
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedCache != "" {
		os.RemoveAll(sharedCache)
	}
	os.Exit(code)
}

// feed runs records through the plugin in calls of batch records, as the insight runner does,
// and keeps the latest insight per key.
func (r *rig) feed(t *testing.T, batch int, evs ...sdk.Event) {
	t.Helper()
	for lo := 0; lo < len(evs); lo += batch {
		part := evs[lo:min(lo+batch, len(evs))]
		recs := make([]host.Record, len(part))
		for i := range part {
			js, err := part[i].MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			recs[i] = host.Record{ID: part[i].ID, Received: part[i].Time, Platform: part[i].Platform, Payload: js}
		}
		outs, err := r.p.CallRecords(context.Background(), "insight", recs)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range outs {
			if o.Err != nil {
				t.Fatalf("record %d failed: %v", lo+i, o.Err)
			}
			for _, ev := range o.Events {
				r.emitted++
				k, ok := ev.Attr("key")
				if !ok {
					t.Fatalf("insight without a key: %v", ev)
				}
				r.insights[k.Ident()] = ev
			}
		}
	}
}

// summary is an insight's attributes as text, for comparisons.
func summary(ev sdk.Event) string {
	var parts []string
	for _, a := range ev.Attrs {
		parts = append(parts, a.Key+"="+a.Value.String())
	}
	return ev.Time.UTC().Format(time.DateOnly) + " " + strings.Join(parts, " ")
}

// twoWeeks is 14 days of metrics: Bash's error rate rises from 5/70 to 21/70 (a warning), Read
// stays at 10%, Grep rises but makes too few calls, WebFetch rises to 60% (critical), Edit is
// new this week (no earlier period to compare with). Plus records of other dimensions, and
// failed Bash calls in six sessions of the second week and one of the first.
func twoWeeks() []sdk.Event {
	var evs []sdk.Event
	for d := 0; d < 14; d++ {
		recent := d >= 7
		bashErr, webErr := int64(d%7%2), int64(1)
		if recent {
			bashErr, webErr = 3, 6
		}
		evs = append(evs,
			dayMetrics(d, "Bash", 10, bashErr, 0),
			dayMetrics(d, "Read", 20, 2, 0),
			dayMetrics(d, "WebFetch", 10, webErr, 0),
			otherDim(d, "all", "-"), otherDim(d, "model", "claude-sonnet-4-5"),
		)
		if recent {
			evs = append(evs, dayMetrics(d, "Grep", 2, 2, 0), dayMetrics(d, "Edit", 10, 5, 0))
		}
	}
	// One Bash failure in the first week (too old for evidence), one a day after.
	evs = append(evs, toolCall("sess-old", "toolu_00", "Bash", "error", time.Unix(day0+3*secondsPerDay, 0)))
	for d := 7; d < 14; d++ {
		at := time.Unix(day0+int64(d)*secondsPerDay+3600, 0)
		evs = append(evs,
			toolCall(fmt.Sprintf("sess-%02d", d), "toolu_01", "Bash", "error", at),
			toolCall(fmt.Sprintf("sess-%02d", d), "toolu_02", "Bash", "ok", at),
		)
	}
	return evs
}

func TestRisingErrorRate(t *testing.T) {
	r := newRig(t)
	r.feed(t, 64, twoWeeks()...)

	last := "2026-03-15 "
	want := map[string]string{
		"Bash": last + "key=Bash code=tool_errors_rising severity=warning tool=Bash calls=70 errors=21 error_pct=30 " +
			"prior_calls=70 prior_errors=3 prior_error_pct=4 days=7 resolved=false " +
			"session_1=sess-13 session_2=sess-12 session_3=sess-11 session_4=sess-10 session_5=sess-09",
		"WebFetch": last + "key=WebFetch code=tool_errors_rising severity=critical tool=WebFetch calls=70 errors=42 error_pct=60 " +
			"prior_calls=70 prior_errors=7 prior_error_pct=10 days=7 resolved=false",
	}
	got := map[string]string{}
	for k, ev := range r.insights {
		got[k] = summary(ev)
		if ev.Kind != Code {
			t.Errorf("%s: kind %q, want %q", k, ev.Kind, Code)
		}
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s:\n got %s\nwant %s", k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected insight %s: %s", k, got[k])
		}
	}

	// The metrics plugin re-emits a day's record as it converges: the same numbers change nothing.
	before := r.emitted
	r.feed(t, 64, dayMetrics(13, "Bash", 10, 3, 1), dayMetrics(12, "Read", 20, 2, 1))
	if r.emitted != before {
		t.Errorf("re-emitted records with the same numbers made %d new insights, want none", r.emitted-before)
	}

	// A week of clean Bash days later, the window has moved on: Bash's insight is resolved, once.
	var clean []sdk.Event
	for d := 14; d < 21; d++ {
		clean = append(clean, dayMetrics(d, "Bash", 10, 0, 0), dayMetrics(d, "WebFetch", 10, 6, 0))
	}
	r.feed(t, 3, clean...)
	bash := r.insights["Bash"]
	if v, _ := bash.Attr("resolved"); !v.Bool() {
		t.Errorf("Bash after a clean week: %s, want resolved", summary(bash))
	}
	if v, _ := bash.Attr("severity"); v.Ident() != "info" {
		t.Errorf("resolved Bash: severity %s, want info", v)
	}
	before = r.emitted
	r.feed(t, 64, dayMetrics(20, "Bash", 10, 0, 1))
	if r.emitted != before {
		t.Errorf("a resolved insight was emitted again (%d more)", r.emitted-before)
	}
	// WebFetch kept failing at 60% in both periods now: no longer rising, resolved too.
	if web := r.insights["WebFetch"]; !attrOf(web, "resolved").Bool() {
		t.Errorf("WebFetch at a steady 60%%: %s, want resolved", summary(web))
	}
}

// TestOrderIndependent feeds the same records in shuffled orders and batch sizes: the final
// insight of every key is the same.
func TestOrderIndependent(t *testing.T) {
	base := newRig(t)
	evs := twoWeeks()
	base.feed(t, len(evs), evs...)
	want := map[string]string{}
	for k, ev := range base.insights {
		want[k] = summary(ev)
	}
	if len(want) != 2 {
		t.Fatalf("%d insights in order, want 2", len(want))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, batch := range []int{1, 7, 256} {
		shuffled := slices.Clone(evs)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		r := newRig(t)
		r.feed(t, batch, shuffled...)
		for k, w := range want {
			if got := summary(r.insights[k]); got != w {
				t.Errorf("order %d, batches of %d: %s\n got %s\nwant %s", i, batch, k, got, w)
			}
		}
		if len(r.insights) != len(want) {
			t.Errorf("order %d: %d insights, want %d", i, len(r.insights), len(want))
		}
	}
}

// TestBoundedState feeds far more tools than the plugin follows: its state stays one kv value
// well under the host's limit, and it still works.
func TestBoundedState(t *testing.T) {
	kv := &host.MemKV{}
	h, err := host.New(host.Config{KV: kv, CacheDir: cacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r := &rig{p: load(t, h), insights: map[string]sdk.Event{}}
	var evs []sdk.Event
	for d := 0; d < 14; d++ {
		for i := range 300 {
			tool := fmt.Sprintf("mcp__server_%03d__a_rather_long_tool_name_to_fill_the_state", i)
			evs = append(evs, dayMetrics(d, tool, 30, 1, 0),
				toolCall(fmt.Sprintf("%08d-aaaa-bbbb-cccc-%012d", d, i), "toolu_x", tool, "error", time.Unix(day0+int64(d)*secondsPerDay, 0)))
		}
	}
	r.feed(t, 256, evs...)
	v, err := kv.Get("tool-errors", []byte(stateKey))
	if err != nil {
		t.Fatal(err)
	}
	if len(v) == 0 || len(v) > host.MaxKVValue/2 {
		t.Errorf("state of %d bytes, want some and at most %d", len(v), host.MaxKVValue/2)
	}
	s, err := decodeState(v)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.tools) != MaxTools {
		t.Errorf("%d tools followed, want %d", len(s.tools), MaxTools)
	}
	t.Logf("state: %d bytes for %d tools", len(v), len(s.tools))
	// The plugin still sees a rise after that.
	var rise []sdk.Event
	for d := 14; d < 28; d++ {
		errs := int64(0)
		if d >= 21 {
			errs = 5
		}
		rise = append(rise, dayMetrics(d, "Bash", 10, errs, 0))
	}
	r.feed(t, 256, rise...)
	if ev, ok := r.insights["Bash"]; !ok {
		t.Error("no Bash insight after the state filled up")
	} else if v, _ := ev.Attr("resolved"); v.Bool() {
		t.Errorf("Bash: %s", summary(ev))
	}
}

// TestOnInsightRunner runs the plugin as the daemon does: the insight runner over a real store
// holding derived records added by store.Batch.AddDerived, and reads its insights back.
func TestOnInsightRunner(t *testing.T) {
	st := storetest.Open(t)
	h, err := host.New(host.Config{CacheDir: cacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	in, err := wasmstage.NewInsight(load(t, h), st, wasmstage.InsightConfig{BatchSize: 16, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	in.Start()
	defer in.Close()
	evs := twoWeeks()
	for lo := 0; lo < len(evs); lo += 40 {
		b := st.NewBatch()
		for i := lo; i < min(lo+40, len(evs)); i++ {
			if err := b.AddDerived(evs[i].Kind, &evs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for in.Lag() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the insight runner did not catch up: lag %d", in.Lag())
		}
		time.Sleep(10 * time.Millisecond)
	}
	latest := map[string]sdk.Event{}
	if _, err := st.ScanDerived(in.Kind(), 0, 0, func(_ uint64, ev *sdk.Event) error {
		k, _ := ev.Attr("key")
		latest[k.Ident()] = *ev
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(latest) != 2 {
		t.Fatalf("%d insights stored, want 2 (Bash, WebFetch): %v", len(latest), latest)
	}
	for _, k := range []string{"Bash", "WebFetch"} {
		ev := latest[k]
		if ev.Platform != "claude-code" || ev.ID.IsZero() {
			t.Errorf("%s: platform %q id %v, want the source's platform and an id", k, ev.Platform, ev.ID)
		}
		if v, _ := ev.Attr("code"); v.Ident() != Code {
			t.Errorf("%s: %s", k, summary(ev))
		}
	}
	if n := st.DLQCount(); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

func attrOf(ev sdk.Event, key string) sdk.Value {
	v, _ := ev.Attr(key)
	return v
}
