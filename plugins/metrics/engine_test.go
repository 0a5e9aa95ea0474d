package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
)

// t0 is the start of the tests' day.
var t0 = time.Date(2025, 6, 8, 10, 0, 0, 0, time.UTC)

// mk returns the JSON of an event as the host gives it to the plugin (sdk.Event.MarshalJSON).
func mk(kind, session string, at time.Duration, attrs ...sdk.Attr) []byte {
	ev := sdk.Event{
		ID:       sdk.NewID("test", []byte(kind), []byte(session), []byte(at.String()), []byte(fmt.Sprint(attrs))),
		Platform: "claude-code", Kind: kind, SessionID: session, Time: t0.Add(at),
		IngestTime: t0.Add(at + time.Second), Attrs: attrs,
	}
	js, err := ev.MarshalJSON()
	if err != nil {
		panic(err)
	}
	return js
}

// runAll runs the engine over records in batches of the given sizes (the rest in one) on kv, and
// returns the latest record of every key.
func runAll(t *testing.T, kv kvStore, recs [][]byte, sizes ...int) map[string]sdk.Event {
	t.Helper()
	latest := map[string]sdk.Event{}
	for len(recs) > 0 {
		n := len(recs)
		if len(sizes) > 0 {
			n, sizes = min(sizes[0], n), sizes[1:]
		}
		var evs []event
		for _, r := range recs[:n] {
			ev, ok := parseEvent(r)
			if !ok {
				t.Fatalf("record does not parse: %s", r)
			}
			evs = append(evs, ev)
		}
		recs = recs[n:]
		seen := map[string]bool{}
		for _, out := range newEngine(kv).run(evs) {
			k, _ := out.Attr("key")
			if seen[out.Kind+" "+k.Ident()] {
				t.Fatalf("key %s %s emitted twice in one call", out.Kind, k.Ident())
			}
			seen[out.Kind+" "+k.Ident()] = true
			if err := (&sdk.Event{ID: sdk.NewID("x"), Platform: "p", Kind: out.Kind, Attrs: out.Attrs}).Validate(); err != nil {
				t.Fatalf("record %s %s: %v", out.Kind, k.Ident(), err)
			}
			latest[out.Kind+" "+k.Ident()] = out
		}
	}
	return latest
}

// num returns an int attribute of the record of kind and key (0 if absent).
func num(t *testing.T, recs map[string]sdk.Event, kind, key, attr string) int64 {
	t.Helper()
	ev, ok := recs[kind+" "+key]
	if !ok {
		t.Fatalf("no record %s %s; have %v", kind, key, keysOf(recs))
	}
	v, _ := ev.Attr(attr)
	return v.Int()
}

func keysOf(recs map[string]sdk.Event) []string {
	var ks []string
	for k := range recs {
		ks = append(ks, k)
	}
	return ks
}

// bucketKeyAt returns the key of a record of width s at the tests' time at.
func keyAt(at time.Duration, s int64, dim, value string) string {
	u := t0.Add(at).Unix()
	return pad10(u/s*s) + "/" + dim + "/" + value
}

const sess = "s1"

var project = sdk.Hash("project", []byte("0123456789abcdef"))

const projectHex = "30313233343536373839616263646566"

func TestToolCallCountedOnce(t *testing.T) {
	id := sdk.Ident("tool_use_id", "toolu_1")
	recs := [][]byte{
		mk("transcript.usage", sess, 0, sdk.Ident("model", "claude-sonnet-4"), sdk.Ident("message_id", "m1"), sdk.Ident("request_id", "r1"), sdk.Int("input_tokens", 3), sdk.Int("output_tokens", 5)),
		mk("hook.PreToolUse", sess, time.Second, sdk.Ident("tool_name", "Bash"), id, sdk.Ident("command", "go"), project),
		mk("transcript.tool_use", sess, 1100*time.Millisecond, sdk.Ident("tool_name", "Bash"), id, sdk.Ident("command", "go"), sdk.Ident("message_id", "m1"), project),
		mk("hook.PostToolUse", sess, 3*time.Second, sdk.Ident("tool_name", "Bash"), id, sdk.Int("duration_ms", 1500), sdk.Bool("success", true), project),
		mk("transcript.tool_result", sess, 3100*time.Millisecond, id, sdk.Bool("is_error", false), project),
	}
	got := runAll(t, newMemKV(), recs)
	for _, w := range []struct {
		kind string
		s    int64
	}{{"metrics.1m", 60}, {"metrics.5m", 300}, {"metrics.1h", 3600}, {"metrics.1d", 86400}} {
		for _, dv := range [][2]string{{"all", "-"}, {"tool", "Bash"}, {"model", "claude-sonnet-4"}, {"project", projectHex}, {"command", "go"}} {
			key := keyAt(0, w.s, dv[0], dv[1])
			if n := num(t, got, w.kind, key, "tool_calls"); n != 1 {
				t.Errorf("%s %s: tool_calls = %d, want 1", w.kind, key, n)
			}
			if n := num(t, got, w.kind, key, "duration_ms"); n != 1500 {
				t.Errorf("%s %s: duration_ms = %d, want 1500 (the hook's)", w.kind, key, n)
			}
			ev := got[w.kind+" "+key]
			lat, _ := ev.Attr("latency")
			idx, val := lat.Sketch()
			if len(idx) != 1 || idx[0] != latencyIndex(1500) || val[0] != 1 {
				t.Errorf("%s %s: latency %v %v, want one count at %d", w.kind, key, idx, val, latencyIndex(1500))
			}
		}
	}
	if _, ok := got["metrics.1m "+keyAt(0, 60, "error_kind", "other")]; ok {
		t.Error("a successful call has an error_kind record")
	}
}

func TestLatencyIndex(t *testing.T) {
	for _, c := range []struct {
		ms   int64
		want uint16
	}{{0, 0}, {1, 0}, {2, 10}, {1000, 90}, {24 * 3600 * 1000, 238}, {48 * 3600 * 1000, 238}} {
		if got := latencyIndex(c.ms); got != c.want {
			t.Errorf("latencyIndex(%d) = %d, want %d", c.ms, got, c.want)
		}
	}
}

func TestErrorsAndTurns(t *testing.T) {
	h := sdk.Hash("prompt_hash", []byte("0123456789abcdef"))
	h2 := sdk.Hash("prompt_hash", []byte("fedcba9876543210"))
	recs := [][]byte{
		mk("hook.UserPromptSubmit", sess, 0, h, project),
		mk("transcript.user", sess, 200*time.Millisecond, h, sdk.Int("prompt_words", 3), project), // the same turn
		mk("hook.PostToolUseFailure", sess, 5*time.Second, sdk.Ident("tool_name", "Read"), sdk.Ident("tool_use_id", "t1"), sdk.Ident("error_kind", "not_found"), project),
		mk("transcript.tool_result", sess, 5100*time.Millisecond, sdk.Ident("tool_use_id", "t1"), sdk.Bool("is_error", true), sdk.Ident("error_kind", "not_found"), project),
		mk("hook.UserPromptSubmit", sess, 20*time.Second, h2, project),
		mk("transcript.tool_result", sess, 25*time.Second, sdk.Ident("tool_use_id", "t2"), sdk.Bool("is_error", false), project),
		mk("transcript.tool_use", sess, 22*time.Second, sdk.Ident("tool_name", "Grep"), sdk.Ident("tool_use_id", "t2"), project),
	}
	got := runAll(t, newMemKV(), recs)
	k := keyAt(0, 60, "all", "-")
	for attr, want := range map[string]int64{"turns": 2, "turns_with_error": 1, "tool_calls": 2, "tool_errors": 1, "duration_ms": 3000} {
		if n := num(t, got, "metrics.1m", k, attr); n != want {
			t.Errorf("%s = %d, want %d", attr, n, want)
		}
	}
	if n := num(t, got, "metrics.1h", keyAt(0, 3600, "error_kind", "not_found"), "tool_errors"); n != 1 {
		t.Errorf("error_kind not_found: tool_errors = %d, want 1", n)
	}
	if n := num(t, got, "metrics.1h", keyAt(0, 3600, "tool", "Read"), "tool_errors"); n != 1 {
		t.Errorf("tool Read: tool_errors = %d, want 1", n)
	}
}

func TestAcceptance(t *testing.T) {
	edit := sdk.Ident("tool_name", "Edit")
	cases := []struct {
		name              string
		recs              [][]byte
		decided, accepted int64
		lines             int64
	}{
		{"asked, then ran", [][]byte{
			mk("hook.PreToolUse", sess, 0, edit, sdk.Ident("tool_use_id", "e"), sdk.Ident("permission_mode", "default"), sdk.Int("lines_added", 4)),
			mk("hook.PermissionRequest", sess, time.Second, edit, sdk.Ident("tool_use_id", "e")),
			mk("hook.PostToolUse", sess, 2*time.Second, edit, sdk.Ident("tool_use_id", "e"), sdk.Bool("success", true), sdk.Int("lines_added", 4), sdk.Int("lines_removed", 1)),
		}, 1, 1, 4},
		{"asked, turn ended", [][]byte{
			mk("hook.PreToolUse", sess, 0, edit, sdk.Ident("tool_use_id", "e")),
			mk("hook.PermissionRequest", sess, time.Second, edit, sdk.Ident("tool_use_id", "e")),
			mk("hook.Stop", sess, 9*time.Second),
		}, 1, 0, 0},
		{"asked, still open", [][]byte{
			mk("hook.PreToolUse", sess, 0, edit, sdk.Ident("tool_use_id", "e")),
			mk("hook.PermissionRequest", sess, time.Second, edit, sdk.Ident("tool_use_id", "e")),
		}, 0, 0, 0},
		{"acceptEdits decides nothing", [][]byte{
			mk("hook.PreToolUse", sess, 0, edit, sdk.Ident("tool_use_id", "e"), sdk.Ident("permission_mode", "acceptEdits")),
			mk("hook.PostToolUse", sess, 2*time.Second, edit, sdk.Ident("tool_use_id", "e"), sdk.Bool("success", true), sdk.Int("lines_added", 2)),
		}, 0, 0, 2},
		{"allowed by a rule", [][]byte{
			mk("hook.PreToolUse", sess, 0, edit, sdk.Ident("tool_use_id", "e"), sdk.Ident("permission_mode", "default")),
			mk("hook.PostToolUse", sess, 2*time.Second, edit, sdk.Ident("tool_use_id", "e"), sdk.Bool("success", true)),
		}, 0, 0, 0},
		{"transcript rejection", [][]byte{
			mk("transcript.tool_use", sess, 0, edit, sdk.Ident("tool_use_id", "e"), sdk.Int("lines_added", 7)),
			mk("transcript.tool_result", sess, 3*time.Second, sdk.Ident("tool_use_id", "e"), sdk.Bool("is_error", true), sdk.Ident("error_kind", "rejected")),
		}, 1, 0, 0},
		{"transcript acceptance", [][]byte{
			mk("transcript.tool_use", sess, 0, edit, sdk.Ident("tool_use_id", "e"), sdk.Int("lines_added", 7)),
			mk("transcript.tool_result", sess, 3*time.Second, sdk.Ident("tool_use_id", "e"), sdk.Bool("is_error", false)),
		}, 1, 1, 7},
		{"not an edit tool", [][]byte{
			mk("hook.PermissionRequest", sess, time.Second, sdk.Ident("tool_name", "Bash"), sdk.Ident("tool_use_id", "e")),
			mk("hook.PostToolUse", sess, 2*time.Second, sdk.Ident("tool_name", "Bash"), sdk.Ident("tool_use_id", "e")),
		}, 0, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := runAll(t, newMemKV(), c.recs)
			k := keyAt(0, 86400, "all", "-")
			if d, a := num(t, got, "metrics.1d", k, "edits_decided"), num(t, got, "metrics.1d", k, "edits_accepted"); d != c.decided || a != c.accepted {
				t.Errorf("decided %d accepted %d, want %d %d", d, a, c.decided, c.accepted)
			}
			if l := num(t, got, "metrics.1d", k, "lines_added"); l != c.lines {
				t.Errorf("lines_added %d, want %d", l, c.lines)
			}
		})
	}
}

func TestTokensDeduplicated(t *testing.T) {
	u := func(at time.Duration, out int64, side bool) []byte {
		return mk("transcript.usage", sess, at, sdk.Ident("model", "claude-opus-4"), sdk.Ident("message_id", "msg"), sdk.Ident("request_id", "req"),
			sdk.Int("input_tokens", 10), sdk.Int("output_tokens", out), sdk.Int("cache_read_tokens", 100), sdk.Bool("sidechain", side))
	}
	recs := [][]byte{u(0, 1, false), u(time.Second, 50, false), u(2*time.Second, 20, false), u(3*time.Second, 90, true),
		mk("transcript.usage", "s2", time.Minute, sdk.Ident("model", "claude-opus-4"), sdk.Int("input_tokens", 1), sdk.Int("output_tokens", 2))}
	for seed := range 5 {
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		shuffled := append([][]byte(nil), recs...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := runAll(t, newMemKV(), shuffled, 1, 2)
		k := keyAt(0, 86400, "model", "claude-opus-4")
		if in, out, cr := num(t, got, "metrics.1d", k, "input_tokens"), num(t, got, "metrics.1d", k, "output_tokens"), num(t, got, "metrics.1d", k, "cache_read_tokens"); in != 11 || out != 52 || cr != 100 {
			t.Errorf("seed %d: tokens %d %d %d, want 11 52 100 (the fuller non-sidechain copy, and the one without a message id)", seed, in, out, cr)
		}
	}
}

func TestActiveTime(t *testing.T) {
	recs := [][]byte{
		mk("hook.SessionStart", sess, 0, sdk.Ident("model", "m")),
		mk("hook.UserPromptSubmit", sess, 50*time.Second),
		mk("hook.Stop", sess, 90*time.Second),
		mk("hook.UserPromptSubmit", sess, 60*time.Minute), // after an idle hour: capped at 5 min
	}
	got := runAll(t, newMemKV(), recs)
	if n := num(t, got, "metrics.1d", keyAt(0, 86400, "all", "-"), "active_ms"); n != 90_000+idleMS {
		t.Errorf("active_ms = %d, want %d", n, 90_000+idleMS)
	}
	// The first minute holds 60 s of the first gap and the next 30 s; the idle gap is spread
	// over the minutes after 90 s.
	for _, c := range []struct {
		at   time.Duration
		want int64
	}{{0, 60_000}, {time.Minute, 60_000}, {2 * time.Minute, 60_000}, {6 * time.Minute, 30_000}} {
		if n := num(t, got, "metrics.1m", keyAt(c.at, 60, "all", "-"), "active_ms"); n != c.want {
			t.Errorf("minute at %v: active_ms = %d, want %d", c.at, n, c.want)
		}
	}
}

// corpus returns a day of events of three sessions: prompts, tool calls seen by hooks and
// transcripts, errors, edits, usage copies, model changes.
func corpus() [][]byte {
	var recs [][]byte
	tools := []string{"Bash", "Edit", "Read", "Write", "Grep"}
	kinds := []string{"not_found", "permission", "timeout", "exit_code", "rejected", "interrupted"}
	r := rand.New(rand.NewPCG(7, 7))
	for s := range 3 {
		sid := fmt.Sprintf("sess-%d", s)
		at := time.Duration(s) * 37 * time.Minute
		model := "claude-sonnet-4"
		for turn := range 12 {
			if turn == 6 {
				model = "claude-opus-4"
			}
			h := sdk.Hash("prompt_hash", []byte(fmt.Sprintf("prompt-%d-%d....", s, turn)))
			recs = append(recs, mk("hook.UserPromptSubmit", sid, at, h, project, sdk.Ident("model", model)))
			recs = append(recs, mk("transcript.user", sid, at+300*time.Millisecond, h, project))
			for c := range 1 + r.IntN(4) {
				at += time.Duration(1+r.IntN(40)) * time.Second
				id := fmt.Sprintf("toolu_%d_%d_%d", s, turn, c)
				name := tools[r.IntN(len(tools))]
				msg := fmt.Sprintf("msg_%s", id)
				for copyN := range 2 {
					recs = append(recs, mk("transcript.usage", sid, at+time.Duration(copyN)*10*time.Millisecond, sdk.Ident("model", model), sdk.Ident("message_id", msg), sdk.Ident("request_id", "req"),
						sdk.Int("input_tokens", 5), sdk.Int("output_tokens", int64(10+copyN*r.IntN(100))), sdk.Int("cache_read_tokens", 1000), sdk.Int("cache_creation_tokens", 30), project))
				}
				recs = append(recs, mk("transcript.tool_use", sid, at+20*time.Millisecond, sdk.Ident("tool_name", name), sdk.Ident("tool_use_id", id), sdk.Ident("message_id", msg), sdk.Int("lines_added", 3), project))
				recs = append(recs, mk("hook.PreToolUse", sid, at+50*time.Millisecond, sdk.Ident("tool_name", name), sdk.Ident("tool_use_id", id), sdk.Ident("permission_mode", "default"), project, sdk.Ident("command", "make")))
				if name == "Edit" || name == "Write" {
					recs = append(recs, mk("hook.PermissionRequest", sid, at+60*time.Millisecond, sdk.Ident("tool_name", name), sdk.Ident("tool_use_id", id), project))
				}
				dur := time.Duration(r.IntN(20000)) * time.Millisecond
				at += dur
				fail := r.IntN(4) == 0
				if fail {
					k := kinds[r.IntN(len(kinds))]
					if k != "rejected" {
						recs = append(recs, mk("hook.PostToolUseFailure", sid, at, sdk.Ident("tool_name", name), sdk.Ident("tool_use_id", id), sdk.Ident("error_kind", k), project))
					}
					recs = append(recs, mk("transcript.tool_result", sid, at+5*time.Millisecond, sdk.Ident("tool_use_id", id), sdk.Bool("is_error", true), sdk.Ident("error_kind", k), project))
				} else {
					recs = append(recs, mk("hook.PostToolUse", sid, at, sdk.Ident("tool_name", name), sdk.Ident("tool_use_id", id), sdk.Int("duration_ms", dur.Milliseconds()), sdk.Bool("success", true), sdk.Int("lines_added", 3), sdk.Int("lines_removed", 1), project))
					recs = append(recs, mk("transcript.tool_result", sid, at+5*time.Millisecond, sdk.Ident("tool_use_id", id), sdk.Bool("is_error", false), project))
				}
			}
			at += time.Duration(r.IntN(600)) * time.Second
			recs = append(recs, mk("hook.Stop", sid, at, project))
			at += time.Duration(r.IntN(900)) * time.Second
		}
	}
	return recs
}

// canonical renders the final records for comparison, leaving out those whose numbers are all
// zero: a key that held a contribution for a while (a tool call's time moved when its earlier
// event came) ends as a zero record, which counts as none.
func canonical(recs map[string]sdk.Event) map[string]string {
	out := map[string]string{}
	for k, ev := range recs {
		zero := true
		for _, a := range ev.Attrs {
			if _, counter := counterIndex[a.Key]; (counter && a.Value.Int() != 0) || a.Key == "latency" {
				zero = false
			}
		}
		if zero {
			continue
		}
		js, _ := json.Marshal(ev.Attrs)
		out[k] = ev.Time.String() + string(js)
	}
	return out
}

var counterIndex = func() map[string]int {
	m := map[string]int{}
	for i, n := range counterNames {
		m[n] = i
	}
	return m
}()

func TestConvergence(t *testing.T) {
	recs := corpus()
	want := canonical(runAll(t, newMemKV(), recs))
	if len(want) < 100 {
		t.Fatalf("only %d records from the corpus", len(want))
	}
	for seed := range 6 {
		r := rand.New(rand.NewPCG(uint64(seed), 99))
		shuffled := append([][]byte(nil), recs...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		var sizes []int
		for n := 0; n < len(shuffled); {
			s := 1 + r.IntN(300)
			sizes = append(sizes, s)
			n += s
		}
		got := canonical(runAll(t, newMemKV(), shuffled, sizes...))
		if len(got) != len(want) {
			t.Errorf("seed %d: %d keys, want %d", seed, len(got), len(want))
		}
		diffs := 0
		for k, w := range want {
			if got[k] != w && diffs < 3 {
				diffs++
				t.Errorf("seed %d: %s\n got %s\nwant %s", seed, k, got[k], w)
			}
		}
	}
}

func TestStateBoundedAndLateEvents(t *testing.T) {
	kv := newMemKV()
	// Forty days of one session a day.
	for d := range 40 {
		var recs [][]byte
		sid := fmt.Sprintf("day-%d", d)
		for i := range 30 {
			at := time.Duration(d)*24*time.Hour + time.Duration(i)*time.Minute
			recs = append(recs, mk("transcript.tool_use", sid, at, sdk.Ident("tool_name", "Read"), sdk.Ident("tool_use_id", fmt.Sprintf("%s-%d", sid, i))))
			recs = append(recs, mk("transcript.usage", sid, at, sdk.Ident("model", "m"), sdk.Ident("message_id", fmt.Sprintf("%s-%d", sid, i)), sdk.Int("input_tokens", 1), sdk.Int("output_tokens", 1)))
		}
		runAll(t, kv, recs)
	}
	counts := map[byte]int{}
	for k := range kv.m {
		counts[k[0]]++
	}
	// Sessions and responses of 35 days at most (plus the day in progress), 1m buckets of 2 days.
	if counts['s'] > 37 || counts['m'] > 37*30 || counts['u'] > 37 {
		t.Errorf("state not bounded: %v", counts)
	}
	g := loadGlobal(kv)
	if len(g.open[0]) > 2*24*60+30 || len(g.sessions) > 37 {
		t.Errorf("open 1m buckets %d, sessions %d", len(g.open[0]), len(g.sessions))
	}
	if counts['b'] != len(g.open[0])+len(g.open[1])+len(g.open[2])+len(g.open[3]) {
		t.Errorf("%d bucket keys, %v open", counts['b'], g.open)
	}
	// A late event of day 30 (10 days before the watermark): its 1m and 5m buckets are final,
	// its 1h and 1d buckets still count it.
	at := 30*24*time.Hour + 5*time.Minute
	before := runAll(t, newMemKV(), nil)
	_ = before
	got := runAll(t, kv, [][]byte{mk("transcript.tool_use", "late", at, sdk.Ident("tool_name", "Read"), sdk.Ident("tool_use_id", "late-1"))})
	if _, ok := got["metrics.1m "+keyAt(at, 60, "all", "-")]; ok {
		t.Error("a late event changed a final 1m bucket")
	}
	if n := num(t, got, "metrics.1h", keyAt(at, 3600, "all", "-"), "tool_calls"); n != 31 {
		t.Errorf("late event: 1h tool_calls = %d, want 31", n)
	}
	if n := num(t, got, "metrics.1d", keyAt(at, 86400, "tool", "Read"), "tool_calls"); n != 31 {
		t.Errorf("late event: 1d tool_calls = %d, want 31", n)
	}
}

func TestKeyFormat(t *testing.T) {
	ev := recordEvent(aggKey{w: 1, start: 1749376800, dim: dimTool, value: "Bash"}, &agg{})
	k, _ := ev.Attr("key")
	if k.Ident() != "1749376800/tool/Bash" || ev.Kind != "metrics.5m" || !strings.HasPrefix(ev.Time.String(), "2025-06-08 10:00:00") {
		t.Errorf("record %s %s at %v", ev.Kind, k.Ident(), ev.Time)
	}
}

// TestParseTime: the UTC reader agrees with time.Parse on the forms MarshalJSON writes, and hands
// every other form to it.
func TestParseTime(t *testing.T) {
	for _, s := range []string{
		"2025-06-08T10:00:00Z", "2025-06-08T10:00:00.1Z", "2025-06-08T10:00:00.123Z",
		"2025-06-08T10:00:00.123456789Z", "2024-02-29T23:59:59.999Z", "1970-01-01T00:00:01Z",
		"2025-06-08T12:00:00.5+02:00", "2025-06-31T10:00:00Z", "2025-13-08T10:00:00Z", "2025-06-08T10:00:00.Z",
		"2025-06-08 10:00:00Z", "garbage", "",
	} {
		want := int64(0)
		if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
			want = tm.UnixMilli()
		}
		if got := parseTime(s); got != want {
			t.Errorf("parseTime(%q) = %d, want %d", s, got, want)
		}
	}
}
