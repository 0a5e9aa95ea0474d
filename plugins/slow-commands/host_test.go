//go:build !wasip1

package main

// These tests run the committed module through the real host (host.New, Load, CallRecords), on
// derived records in the shape the first-party conversations plugin writes (the shared contract
// C3 of issue 15).

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
	"github.com/hangar-dev/hangar/sdk"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// sessionRec is the conversation.session record of a session.
func sessionRec(id string, start time.Time, activeMs int64) sdk.Event {
	return sdk.Event{
		ID: sdk.NewID("test-session", []byte(id)), Platform: "claude-code", Kind: "conversation.session",
		SessionID: id, Time: start,
		Attrs: []sdk.Attr{
			sdk.Ident("key", id), sdk.Hash("project", []byte("0123456789abcdef")), sdk.Ident("model", "claude-sonnet-4-5"),
			sdk.Int("start", start.UnixMilli()), sdk.Int("end", start.UnixMilli()+2*activeMs),
			sdk.Int("duration_ms", 2*activeMs), sdk.Int("active_ms", activeMs), sdk.Int("turns", 12),
			sdk.Int("tool_calls", 40), sdk.Int("tool_errors", 2), sdk.Ident("source", "both"),
		},
	}
}

// bashCall is the conversation.tool record of a shell call.
func bashCall(session string, n int, command string, at time.Time, ms int64, status string) sdk.Event {
	key := fmt.Sprintf("%s/toolu_%04d", session, n)
	return sdk.Event{
		ID: sdk.NewID("test-tool", []byte(key), []byte(status)), Platform: "claude-code", Kind: "conversation.tool",
		SessionID: session, Time: at,
		Attrs: []sdk.Attr{
			sdk.Ident("key", key), sdk.Int("turn", 1), sdk.Ident("tool_name", "Bash"), sdk.Ident("operation", "shell"),
			sdk.Int("start", at.UnixMilli()), sdk.Int("duration_ms", ms), sdk.Ident("status", status),
			sdk.Ident("decision", "none"), sdk.Ident("command", command), sdk.Bool("sidechain", false),
		},
	}
}

// otherTool is a conversation.tool record of another tool, which the plugin ignores.
func otherTool(session string, n int, at time.Time) sdk.Event {
	ev := bashCall(session, n, "go", at, 600_000, "ok")
	ev.Attrs[2] = sdk.Ident("tool_name", "Read")
	return ev
}

type rig struct {
	p        *host.Plugin
	kv       *host.MemKV
	insights map[string]sdk.Event
	emitted  int
}

var sharedCache string

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedCache != "" {
		os.RemoveAll(sharedCache)
	}
	os.Exit(code)
}

func newRig(t *testing.T) *rig {
	t.Helper()
	if sharedCache == "" {
		dir, err := os.MkdirTemp("", "slow-commands-test-cache")
		if err != nil {
			t.Fatal(err)
		}
		sharedCache = dir
	}
	kv := &host.MemKV{}
	h, err := host.New(host.Config{KV: kv, CacheDir: sharedCache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
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
	return &rig{p: p, kv: kv, insights: map[string]sdk.Event{}}
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

func summary(ev sdk.Event) string {
	var parts []string
	for _, a := range ev.Attrs {
		parts = append(parts, a.Key+"="+a.Value.String())
	}
	return ev.Time.UTC().Format(time.DateTime) + " " + strings.Join(parts, " ")
}

func attrOf(ev sdk.Event, key string) sdk.Value {
	v, _ := ev.Attr(key)
	return v
}

// fourSessions are four sessions of 20 active minutes each (80 in all). go runs 20 times for a
// minute (25%: a warning); pytest 5 times for 30 s (3%), ls 50 times for 100 ms, npm twice for
// 10 minutes (too few runs): none of them an insight. A Read call of 10 minutes is not a shell
// command. Every go call is first seen pending (no duration), then again once it ended, as the
// conversations plugin re-emits it.
func fourSessions() []sdk.Event {
	var evs []sdk.Event
	for s := range 4 {
		id := fmt.Sprintf("sess-%d", s)
		start := t0.Add(time.Duration(s) * 24 * time.Hour)
		n := 0
		next := func() int { n++; return n }
		for i := range 5 {
			at := start.Add(time.Duration(i) * time.Minute)
			k := next()
			evs = append(evs, bashCall(id, k, "go", at, 0, "pending"), bashCall(id, k, "go", at, 60_000, "ok"))
		}
		for i := range 12 {
			evs = append(evs, bashCall(id, next(), "ls", start.Add(time.Duration(i)*time.Second), 100, "ok"))
		}
		if s < 2 {
			evs = append(evs, bashCall(id, next(), "npm", start, 600_000, "ok"))
		}
		if s == 3 {
			for i := range 5 {
				evs = append(evs, bashCall(id, next(), "pytest", start.Add(time.Duration(i)*time.Minute), 30_000, "error"))
			}
			evs = append(evs, bashCall(id, next(), "ls", start, 100, "ok"), bashCall(id, next(), "ls", start, 100, "ok"))
		}
		evs = append(evs, otherTool(id, 999, start), sessionRec(id, start, 20*60_000))
	}
	return evs
}

func TestSlowCommand(t *testing.T) {
	r := newRig(t)
	r.feed(t, 32, fourSessions()...)
	want := "2026-03-05 09:00:00 key=go code=slow_command severity=warning command=go calls=20 total_ms=1200000 total_s=1200 " +
		"avg_ms=60000 share_pct=25 sessions=4 session_time_ms=4800000 resolved=false " +
		"session_1=sess-0 session_2=sess-1 session_3=sess-2 session_4=sess-3"
	if len(r.insights) != 1 {
		for k, ev := range r.insights {
			t.Logf("%s: %s", k, summary(ev))
		}
		t.Fatalf("%d insights, want 1 (go)", len(r.insights))
	}
	if got := summary(r.insights["go"]); got != want {
		t.Errorf("go:\n got %s\nwant %s", got, want)
	}

	// Four longer sessions without go: its share falls to 5%, and the insight is resolved, once.
	var more []sdk.Event
	for s := 4; s < 8; s++ {
		id := fmt.Sprintf("sess-%d", s)
		start := t0.Add(time.Duration(s) * 24 * time.Hour)
		more = append(more, bashCall(id, 1, "ls", start, 100, "ok"), sessionRec(id, start, 75*60_000))
	}
	before := r.emitted
	r.feed(t, len(more), more...)
	goInsight := r.insights["go"]
	if !attrOf(goInsight, "resolved").Bool() || attrOf(goInsight, "share_pct").Int() != 5 {
		t.Errorf("go after longer sessions: %s, want resolved at 5%%", summary(goInsight))
	}
	if r.emitted-before != 1 {
		t.Errorf("%d insights emitted, want 1 (go resolved)", r.emitted-before)
	}
	before = r.emitted
	r.feed(t, 8, more...)
	if r.emitted != before {
		t.Errorf("the same records again made %d insights, want none", r.emitted-before)
	}
}

// TestOrderIndependent feeds the same records in shuffled orders and batch sizes (a call's
// pending record may come after its ended one: the later record of a key wins, as in the store's
// view, so the shuffles keep each key's records in order).
func TestOrderIndependent(t *testing.T) {
	evs := fourSessions()
	base := newRig(t)
	base.feed(t, len(evs), evs...)
	want := summary(base.insights["go"])
	rng := rand.New(rand.NewPCG(3, 4))
	for _, batch := range []int{1, 5, 256} {
		shuffled := shuffleKeepingKeys(rng, evs)
		r := newRig(t)
		r.feed(t, batch, shuffled...)
		if got := summary(r.insights["go"]); got != want || len(r.insights) != 1 {
			t.Errorf("batches of %d: %d insights, go\n got %s\nwant %s", batch, len(r.insights), got, want)
		}
	}
}

// shuffleKeepingKeys shuffles records, keeping the records of each key in their order.
func shuffleKeepingKeys(rng *rand.Rand, evs []sdk.Event) []sdk.Event {
	out := slices.Clone(evs)
	rng.Shuffle(len(out), func(a, b int) { out[a], out[b] = out[b], out[a] })
	byKey := map[string][]sdk.Event{}
	var order []string
	for _, ev := range evs {
		k := attrOf(ev, "key").Ident()
		if byKey[k] == nil {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], ev)
	}
	next := map[string]int{}
	for i, ev := range out {
		k := attrOf(ev, "key").Ident()
		out[i] = byKey[k][next[k]]
		next[k]++
	}
	_ = order
	return out
}

// TestBoundedState runs MaxSessions+5 sessions of 800 shell calls and more: the index keeps the newest
// MaxSessions, each value stays under the host's limit, and a dropped session's calls are
// forgotten.
func TestBoundedState(t *testing.T) {
	r := newRig(t)
	for s := range MaxSessions + 5 {
		id := fmt.Sprintf("%08d-aaaa-bbbb-cccc-dddddddddddd", s)
		start := t0.Add(time.Duration(s) * time.Hour)
		var evs []sdk.Event
		for i := range MaxCalls + 50 {
			evs = append(evs, bashCall(id, i, fmt.Sprintf("cmd%02d", i%40), start, 10, "ok"))
		}
		evs = append(evs, sessionRec(id, start, 60_000))
		r.feed(t, 256, evs...)
	}
	idx, err := r.kv.Get("slow-commands", []byte(indexKey))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := decodeIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.sessions) != MaxSessions || len(idx) > host.MaxKVValue {
		t.Errorf("index: %d sessions in %d bytes, want %d in at most %d", len(ix.sessions), len(idx), MaxSessions, host.MaxKVValue)
	}
	last := fmt.Sprintf("%08d-aaaa-bbbb-cccc-dddddddddddd", MaxSessions+4)
	calls, err := r.kv.Get("slow-commands", []byte(sessionPrefix+last))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decodeCalls(calls)
	if err != nil || len(dec) != MaxCalls {
		t.Errorf("newest session: %d calls (%v), want %d", len(dec), err, MaxCalls)
	}
	if len(calls) > host.MaxKVValue {
		t.Errorf("a session's calls take %d bytes, over the host's limit", len(calls))
	}
	first, err := r.kv.Get("slow-commands", []byte(sessionPrefix+fmt.Sprintf("%08d-aaaa-bbbb-cccc-dddddddddddd", 0)))
	if err != nil || len(first) != 0 {
		t.Errorf("the oldest session's calls: %d bytes (%v), want them forgotten", len(first), err)
	}
	t.Logf("index %d bytes, a session's calls %d bytes", len(idx), len(calls))
}

// BenchmarkSlowCommands measures the plugin's throughput through the real host: conversation.tool
// records of shell calls, 100 per session over 50 sessions, in calls of 256 records as the
// insight runner makes them (the JSON is made once, outside the timing).
func BenchmarkSlowCommands(b *testing.B) {
	if sharedCache == "" {
		dir, err := os.MkdirTemp("", "slow-commands-bench-cache")
		if err != nil {
			b.Fatal(err)
		}
		sharedCache = dir
	}
	h, err := host.New(host.Config{KV: &host.MemKV{}, CacheDir: sharedCache})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	m, wasm, err := host.ReadPluginDir(".")
	if err != nil {
		b.Fatal(err)
	}
	g, _ := host.NewGrants(m.Capabilities)
	p, err := h.Load(m, wasm, g)
	if err != nil {
		b.Fatal(err)
	}
	var recs []host.Record
	for s := range 50 {
		id := fmt.Sprintf("%08d-aaaa-bbbb-cccc-dddddddddddd", s)
		start := t0.Add(time.Duration(s) * time.Hour)
		for i := range 100 {
			ev := bashCall(id, i, fmt.Sprintf("cmd%d", i%7), start.Add(time.Duration(i)*time.Second), 1500, "ok")
			js, _ := ev.MarshalJSON()
			recs = append(recs, host.Record{ID: ev.ID, Received: ev.Time, Platform: ev.Platform, Payload: js})
		}
		ev := sessionRec(id, start, 600_000)
		js, _ := ev.MarshalJSON()
		recs = append(recs, host.Record{ID: ev.ID, Received: ev.Time, Platform: ev.Platform, Payload: js})
	}
	b.ResetTimer()
	n := 0
	for b.Loop() {
		for lo := 0; lo < len(recs); lo += 256 {
			if _, err := p.CallRecords(context.Background(), "insight", recs[lo:min(lo+256, len(recs))]); err != nil {
				b.Fatal(err)
			}
		}
		n += len(recs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
