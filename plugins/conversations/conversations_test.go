package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
)

// mapKV is a kv keyspace in memory.
type mapKV map[string][]byte

func (m mapKV) Get(key []byte) ([]byte, bool) { v, ok := m[string(key)]; return bytes.Clone(v), ok }
func (m mapKV) Set(key, value []byte)         { m[string(key)] = bytes.Clone(value) }

// t0 is the start of the hand-made sessions.
var t0 = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)

// at returns the time sec seconds after t0.
func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

// ev returns an event as the capture plugin emits it (C1), with an id of its own.
func ev(kind, session string, t time.Time, attrs ...sdk.Attr) sdk.Event {
	e := sdk.Event{Platform: "claude-code", Kind: kind, SessionID: session, Time: t, Attrs: attrs}
	e.ID = sdk.NewID("test", []byte(kind), []byte(session), []byte(t.String()), []byte(fmt.Sprint(attrs)))
	return e
}

// finalView is the latest record of each (kind, key), as the store's finalView keeps them.
type finalView map[string]sdk.Event

// feed runs events through enrich in calls of the given sizes (the last size repeats), as the
// host would give them, over kv, and folds what it emits into v.
func feed(t testing.TB, kv mapKV, v finalView, events []sdk.Event, sizes ...int) {
	t.Helper()
	if len(sizes) == 0 {
		sizes = []int{256}
	}
	for lo, c := 0, 0; lo < len(events); c++ {
		n := sizes[min(c, len(sizes)-1)]
		hi := min(lo+n, len(events))
		recs := make([]string, hi-lo)
		for i := range recs {
			js, err := events[lo+i].MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			recs[i] = string(js)
		}
		res := enrich(kv, recs)
		if len(res) != len(recs) {
			t.Fatalf("%d results for %d records", len(res), len(recs))
		}
		seen := map[string]bool{}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("record %d: %v", lo+i, r.Err)
			}
			for _, e := range r.Events {
				// The host sets the id and platform; the rest must be valid as it is.
				checked := e
				checked.ID, checked.Platform = sdk.NewID("derived", []byte(e.Kind)), "claude-code"
				if err := checked.Validate(); err != nil {
					t.Fatalf("emitted %v: %v", e, err)
				}
				k := e.Kind + " " + key(t, e)
				if seen[k] {
					t.Fatalf("%s emitted twice in one call", k)
				}
				seen[k] = true
				v[k] = e
			}
		}
		lo = hi
	}
}

// key returns a record's key attribute.
func key(t testing.TB, e sdk.Event) string {
	t.Helper()
	k, ok := e.Attr("key")
	if !ok || k.Ident() == "" {
		t.Fatalf("record %s without a key", e.Kind)
	}
	return k.Ident()
}

// run feeds events in one order and returns the final finalView.
func run(t testing.TB, events []sdk.Event, sizes ...int) finalView {
	t.Helper()
	v := finalView{}
	feed(t, mapKV{}, v, events, sizes...)
	return v
}

// get returns an attribute of the record of kind and key in v, as an int, bool or string.
func get(t *testing.T, v finalView, kind, k, attr string) any {
	t.Helper()
	e, ok := v[kind+" "+k]
	if !ok {
		t.Fatalf("no %s record %s", kind, k)
	}
	a, ok := e.Attr(attr)
	if !ok {
		return nil
	}
	switch a.Kind() {
	case sdk.KindInt:
		return a.Int()
	case sdk.KindBool:
		return a.Bool()
	}
	return a.String()
}

// want checks attributes of one record.
func want(t *testing.T, v finalView, kind, k string, attrs map[string]any) {
	t.Helper()
	for a, w := range attrs {
		if g := get(t, v, kind, k, a); fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("%s %s: %s = %v, want %v", kind, k, a, g, w)
		}
	}
}

// Attribute helpers for the hand-made events.
var (
	hashA = sdk.Hash("prompt_hash", []byte("aaaaaaaaaaaaaaaa"))
	hashB = sdk.Hash("prompt_hash", []byte("bbbbbbbbbbbbbbbb"))
	proj  = sdk.Hash("project", []byte("pppppppppppppppp"))
	side  = sdk.Bool("sidechain", true)
	main_ = sdk.Bool("sidechain", false)
)

func tid(id string) sdk.Attr         { return sdk.Ident("tool_use_id", id) }
func name(n string) sdk.Attr         { return sdk.Ident("tool_name", n) }
func words(n int64) sdk.Attr         { return sdk.Int("prompt_words", n) }
func msg(id string) sdk.Attr         { return sdk.Ident("message_id", id) }
func req(id string) sdk.Attr         { return sdk.Ident("request_id", id) }
func ident(k, v string) sdk.Attr     { return sdk.Ident(k, v) }
func num(k string, n int64) sdk.Attr { return sdk.Int(k, n) }

// usage returns a transcript.usage event.
func usageEv(s string, t time.Time, m, r string, in, out int64, more ...sdk.Attr) sdk.Event {
	a := append([]sdk.Attr{ident("model", "claude-sonnet-4"), msg(m), req(r), num("input_tokens", in), num("output_tokens", out), num("cache_creation_tokens", 10), num("cache_read_tokens", 100)}, more...)
	return ev("transcript.usage", s, t, append(a, main_, proj)...)
}

// transcriptSession is a session as the transcript tells it (C1 events): two turns, an Edit
// that succeeds, a Bash that fails, a streamed response written twice with growing counts, a
// rejected Write, an interruption, a compaction and a subagent.
func transcriptSession(s string) []sdk.Event {
	return []sdk.Event{
		ev("transcript.user", s, at(0), num("prompt_bytes", 40), words(7), hashA, main_, proj),
		usageEv(s, at(2), "msg_1", "req_1", 100, 5),
		ev("transcript.assistant", s, at(2), ident("model", "claude-sonnet-4"), msg("msg_1"), num("tool_uses", 1), main_, proj),
		usageEv(s, at(2.5), "msg_1", "req_1", 100, 50), // the fuller copy
		ev("transcript.tool_use", s, at(2), tid("toolu_edit"), name("Edit"), ident("operation", "edit"), ident("file_ext", "go"), num("lines_added", 3), num("lines_removed", 1), msg("msg_1"), req("req_1"), main_, proj),
		ev("transcript.user", s, at(3), num("tool_results", 1), main_, proj),
		ev("transcript.tool_result", s, at(3), tid("toolu_edit"), sdk.Bool("is_error", false), num("tool_response_bytes", 80), main_, proj),
		usageEv(s, at(4), "msg_2", "req_2", 200, 20),
		ev("transcript.assistant", s, at(4), ident("model", "claude-sonnet-4"), msg("msg_2"), main_, proj),
		ev("transcript.tool_use", s, at(4), tid("toolu_bash"), name("Bash"), ident("operation", "shell"), ident("command", "go"), msg("msg_2"), req("req_2"), main_, proj),
		ev("transcript.tool_result", s, at(9), tid("toolu_bash"), sdk.Bool("is_error", true), ident("error_kind", "exit_code"), main_, proj),
		// The subagent: a sidechain prompt and a tool call in it.
		ev("transcript.user", s, at(10), words(12), hashB, side, proj),
		usageEv(s, at(11), "msg_3", "req_3", 10, 1, side),
		ev("transcript.tool_use", s, at(11), tid("toolu_grep"), name("Grep"), ident("operation", "search"), side, proj),
		ev("transcript.tool_result", s, at(12), tid("toolu_grep"), sdk.Bool("is_error", false), side, proj),
		// Turn 2 (main): a rejected Write, then an interruption.
		ev("transcript.compact", s, at(19), ident("trigger", "auto"), num("pre_tokens", 150000), main_, proj),
		ev("transcript.compact", s, at(19), num("summary_bytes", 900), main_, proj),
		ev("transcript.user", s, at(20), words(3), hashB, main_, proj),
		usageEv(s, at(21), "msg_4", "req_4", 300, 30),
		ev("transcript.tool_use", s, at(21), tid("toolu_write"), name("Write"), ident("operation", "write"), ident("file_ext", "md"), num("lines_added", 10), main_, proj),
		ev("transcript.tool_result", s, at(25), tid("toolu_write"), sdk.Bool("is_error", true), ident("error_kind", "rejected"), main_, proj),
		ev("transcript.user", s, at(26), sdk.Bool("interrupted", true), main_, proj),
	}
}

// hookSession is the same session as its hooks tell it (host receive times, a little after the
// transcript's), with the permission requests the transcript does not show.
func hookSession(s string) []sdk.Event {
	mode := ident("permission_mode", "default")
	return []sdk.Event{
		ev("hook.SessionStart", s, at(-1), ident("source", "startup"), ident("model", "claude-sonnet-4"), proj),
		ev("hook.UserPromptSubmit", s, at(0.1), mode, num("prompt_bytes", 40), words(7), hashA, proj),
		ev("hook.PreToolUse", s, at(2.1), name("Edit"), tid("toolu_edit"), mode, num("tool_input_bytes", 300), ident("operation", "edit"), ident("file_ext", "go"), num("lines_added", 3), num("lines_removed", 1), proj),
		ev("hook.PermissionRequest", s, at(2.2), name("Edit"), mode, num("tool_input_bytes", 300), proj),
		ev("hook.PostToolUse", s, at(2.9), name("Edit"), tid("toolu_edit"), mode, num("tool_input_bytes", 300), ident("operation", "edit"), ident("file_ext", "go"), num("lines_added", 3), num("lines_removed", 1), sdk.Bool("success", true), proj),
		ev("hook.PreToolUse", s, at(4.1), name("Bash"), tid("toolu_bash"), mode, num("tool_input_bytes", 40), ident("operation", "shell"), ident("command", "go"), proj),
		ev("hook.PostToolUseFailure", s, at(9.1), name("Bash"), tid("toolu_bash"), mode, ident("operation", "shell"), ident("command", "go"), sdk.Bool("success", false), ident("error_kind", "exit_code"), num("duration_ms", 4900), proj),
		ev("hook.PreToolUse", s, at(11.1), name("Grep"), tid("toolu_grep"), mode, num("tool_input_bytes", 60), ident("operation", "search"), proj),
		ev("hook.PostToolUse", s, at(12.1), name("Grep"), tid("toolu_grep"), mode, num("tool_input_bytes", 60), ident("operation", "search"), sdk.Bool("success", true), proj),
		ev("hook.SubagentStop", s, at(13), proj),
		ev("hook.Stop", s, at(14), proj),
		ev("hook.PreCompact", s, at(18.9), ident("trigger", "auto"), proj),
		ev("hook.UserPromptSubmit", s, at(20.1), mode, words(3), hashB, proj),
		ev("hook.PreToolUse", s, at(21.1), name("Write"), tid("toolu_write"), mode, num("tool_input_bytes", 500), ident("operation", "write"), ident("file_ext", "md"), num("lines_added", 10), proj),
		ev("hook.PermissionRequest", s, at(21.2), name("Write"), mode, num("tool_input_bytes", 500), proj),
		ev("hook.Stop", s, at(26.1), proj),
	}
}

func TestTranscriptOnly(t *testing.T) {
	v := run(t, transcriptSession("s1"))
	want(t, v, kindSession, "s1", map[string]any{
		"turns": 2, "subagent_turns": 1, "tool_calls": 4, "tool_errors": 2, "turns_with_error": 2,
		"edits": 2, "edits_accepted": 0, "edits_rejected": 1, "lines_added": 3, "lines_removed": 1,
		"input_tokens": 610, "output_tokens": 101, "cache_creation_tokens": 40, "cache_read_tokens": 400,
		"compactions": 1, "interrupts": 1, "source": "transcript", "model": "claude-sonnet-4",
		"start": at(0).UnixMilli(), "end": at(26).UnixMilli(), "duration_ms": 26000,
		// turn 1 from 0 to 9 s, turn 3 (the second main one) from 20 to 26 s
		"active_ms": 9000 + 6000,
	})
	want(t, v, kindTurn, "s1/000001", map[string]any{"turn": 1, "prompt_words": 7, "tool_calls": 2, "tool_errors": 1,
		"assistant_messages": 2, "input_tokens": 300, "output_tokens": 70, "lines_added": 3, "sidechain": false, "interrupted": false, "duration_ms": 9000})
	want(t, v, kindTurn, "s1/000002", map[string]any{"sidechain": true, "tool_calls": 1, "input_tokens": 10, "prompt_words": 12})
	want(t, v, kindTurn, "s1/000003", map[string]any{"compacted": false, "interrupted": true, "tool_errors": 1, "lines_added": 0})
	want(t, v, kindTool, "s1/toolu_edit", map[string]any{"turn": 1, "status": "ok", "decision": "none", "duration_ms": 1000, "file_ext": "go", "lines_added": 3, "sidechain": false})
	want(t, v, kindTool, "s1/toolu_bash", map[string]any{"status": "error", "error_kind": "exit_code", "duration_ms": 5000, "command": "go"})
	want(t, v, kindTool, "s1/toolu_grep", map[string]any{"turn": 2, "sidechain": true})
	want(t, v, kindTool, "s1/toolu_write", map[string]any{"turn": 3, "status": "rejected", "decision": "rejected", "error_kind": "rejected"})
	if n := len(v); n != 1+3+4 {
		t.Errorf("%d records, want 8", n)
	}
}

func TestHooksOnly(t *testing.T) {
	v := run(t, hookSession("s1"))
	want(t, v, kindSession, "s1", map[string]any{
		"turns": 2, "subagent_turns": 0, "tool_calls": 4, "tool_errors": 2, "edits": 2,
		"edits_accepted": 1, "edits_rejected": 1, "lines_added": 3, "input_tokens": 0, "source": "hooks",
		"model": "claude-sonnet-4", "compactions": 1,
	})
	want(t, v, kindTool, "s1/toolu_edit", map[string]any{"status": "ok", "decision": "accepted", "duration_ms": 800})
	want(t, v, kindTool, "s1/toolu_bash", map[string]any{"status": "error", "error_kind": "exit_code", "duration_ms": 4900})
	// Asked for, never run, and the turn stopped: refused.
	want(t, v, kindTool, "s1/toolu_write", map[string]any{"status": "rejected", "decision": "rejected", "error_kind": "rejected", "turn": 2})
	want(t, v, kindTurn, "s1/000002", map[string]any{"compacted": false, "tool_errors": 1})

	// Before the Stop, the Write is still pending.
	v = run(t, hookSession("s1")[:15])
	want(t, v, kindTool, "s1/toolu_write", map[string]any{"status": "pending", "decision": "none"})
}

func TestBothNeverCountedTwice(t *testing.T) {
	both := append(transcriptSession("s1"), hookSession("s1")...)
	v := run(t, both)
	want(t, v, kindSession, "s1", map[string]any{
		"turns": 2, "subagent_turns": 1, "tool_calls": 4, "tool_errors": 2, "edits": 2,
		"edits_accepted": 1, "edits_rejected": 1, "lines_added": 3, "input_tokens": 610, "output_tokens": 101,
		"compactions": 1, "interrupts": 1, "source": "both",
		"start": at(-1).UnixMilli(),
	})
	// The hook's duration, the transcript's times and sidechain.
	want(t, v, kindTool, "s1/toolu_bash", map[string]any{"duration_ms": 4900, "start": at(4).UnixMilli()})
	want(t, v, kindTool, "s1/toolu_grep", map[string]any{"turn": 2, "sidechain": true})
	want(t, v, kindTool, "s1/toolu_edit", map[string]any{"decision": "accepted", "turn": 1})
	want(t, v, kindTurn, "s1/000001", map[string]any{"start": at(0).UnixMilli(), "prompt_words": 7, "tool_calls": 2})
	if n := len(v); n != 1+3+4 {
		t.Errorf("%d records, want 8", n)
	}
}

// TestAutoDecision checks that an edit in acceptEdits mode decides nothing (auto).
func TestAutoDecision(t *testing.T) {
	s := "s2"
	mode := ident("permission_mode", "acceptEdits")
	v := run(t, []sdk.Event{
		ev("hook.UserPromptSubmit", s, at(0), words(2), hashA, mode),
		ev("hook.PreToolUse", s, at(1), name("Edit"), tid("t1"), mode, num("tool_input_bytes", 9)),
		ev("hook.PostToolUse", s, at(2), name("Edit"), tid("t1"), mode, sdk.Bool("success", true)),
		ev("hook.PreToolUse", s, at(3), name("Bash"), tid("t2"), mode, num("tool_input_bytes", 9)),
		ev("hook.PermissionRequest", s, at(3.5), name("Bash"), mode, num("tool_input_bytes", 9)),
		ev("hook.PostToolUse", s, at(4), name("Bash"), tid("t2"), mode, sdk.Bool("success", true)),
	})
	want(t, v, kindTool, "s2/t1", map[string]any{"decision": "auto", "status": "ok"})
	want(t, v, kindTool, "s2/t2", map[string]any{"decision": "accepted"})
	want(t, v, kindSession, "s2", map[string]any{"edits": 1, "edits_accepted": 0, "edits_rejected": 0})
}

// TestAnonymousHooks checks that hook tool events without tool_use_id (older Claude Code) pair
// into one call per PreToolUse and PostToolUse.
func TestAnonymousHooks(t *testing.T) {
	s := "s3"
	v := run(t, []sdk.Event{
		ev("hook.UserPromptSubmit", s, at(0), words(2), hashA),
		ev("hook.PreToolUse", s, at(1), name("Read"), num("tool_input_bytes", 9)),
		ev("hook.PostToolUse", s, at(2), name("Read"), sdk.Bool("success", true)),
		ev("hook.PreToolUse", s, at(3), name("Read"), num("tool_input_bytes", 7)),
		ev("hook.PreToolUse", s, at(4), name("Bash"), num("tool_input_bytes", 7)),
		ev("hook.PostToolUse", s, at(5), name("Bash"), sdk.Bool("success", false)),
	})
	want(t, v, kindSession, "s3", map[string]any{"tool_calls": 3, "tool_errors": 1})
	want(t, v, kindTool, "s3/anon-000001", map[string]any{"tool_name": "Read", "status": "ok", "duration_ms": 1000})
	want(t, v, kindTool, "s3/anon-000002", map[string]any{"tool_name": "Read", "status": "pending"})
	want(t, v, kindTool, "s3/anon-000003", map[string]any{"tool_name": "Bash", "status": "error"})
}

// TestConvergenceShuffled checks that the final finalView is the same whatever the order of the
// events and however they are split into calls: hooks then transcript, the reverse, and random
// orders in random calls.
func TestConvergenceShuffled(t *testing.T) {
	events := slices.Concat(transcriptSession("s1"), hookSession("s1"), hookSession("s2"), transcriptSession("s3"))
	ref := run(t, events)
	checkConverges(t, ref, events, 100)
}

// checkConverges runs events in the two source orders and in n random orders and call splits,
// and compares each final finalView with ref.
func checkConverges(t *testing.T, ref finalView, events []sdk.Event, n int) {
	t.Helper()
	var hooks, transcripts []sdk.Event
	for _, e := range events {
		if strings.HasPrefix(e.Kind, "hook.") {
			hooks = append(hooks, e)
		} else {
			transcripts = append(transcripts, e)
		}
	}
	same := func(label string, got finalView) {
		t.Helper()
		if d := diffViews(ref, got); d != "" {
			t.Fatalf("%s: %s", label, d)
		}
	}
	same("hooks then transcripts", run(t, slices.Concat(hooks, transcripts), 7))
	same("transcripts then hooks", run(t, slices.Concat(transcripts, hooks), 7))
	same("one event a call", run(t, events, 1))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		ev := slices.Clone(events)
		r.Shuffle(len(ev), func(a, b int) { ev[a], ev[b] = ev[b], ev[a] })
		sizes := []int{1 + r.IntN(40), 1 + r.IntN(300), 1 + r.IntN(5)}
		same(fmt.Sprintf("shuffle %d (calls of %v)", i, sizes), run(t, ev, sizes...))
	}
}

// diffViews describes the first difference between two views, or returns "".
func diffViews(want, got finalView) string {
	keys := sortedKeys(want)
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("extra record %s: %v", k, got[k])
		}
	}
	for _, k := range keys {
		g, ok := got[k]
		if !ok {
			return fmt.Sprintf("missing record %s", k)
		}
		w := want[k]
		g.ID, w.ID = sdk.ID{}, sdk.ID{}
		gb, _ := g.MarshalJSON()
		wb, _ := w.MarshalJSON()
		if !bytes.Equal(gb, wb) {
			return fmt.Sprintf("record %s:\n got  %s\n want %s", k, gb, wb)
		}
	}
	return ""
}

// TestEmitsOnlyChanges checks that a call emits only the records whose value changed, each once.
func TestEmitsOnlyChanges(t *testing.T) {
	kv := mapKV{}
	v := finalView{}
	events := transcriptSession("s1")
	feed(t, kv, v, events)
	// The same state again (an event that changes nothing visible): nothing is emitted.
	js, _ := ev("transcript.system", "s1", at(5), ident("subtype", "x")).MarshalJSON()
	if res := enrich(kv, []string{string(js)}); len(res[0].Events) != 0 {
		t.Errorf("an event that changes no record emitted %d records", len(res[0].Events))
	}
	// A tool result for the Bash call changes the tool, its turn and the session only.
	js, _ = ev("transcript.tool_use", "s1", at(6), tid("toolu_new"), name("Read"), main_).MarshalJSON()
	res := enrich(kv, []string{string(js)})
	var kinds []string
	for _, e := range res[0].Events {
		kinds = append(kinds, e.Kind)
	}
	if !slices.Equal(kinds, []string{kindSession, kindTurn, kindTool}) {
		t.Errorf("a new tool call emitted %v, want the session, its turn and the call", kinds)
	}
}

// TestLargeSession checks that a session whose state outgrows one kv value (64 KiB) is split
// over several and read back whole.
func TestLargeSession(t *testing.T) {
	kv := mapKV{}
	v := finalView{}
	var events []sdk.Event
	events = append(events, ev("hook.UserPromptSubmit", "big", at(0), words(2), hashA))
	for i := range 3000 {
		id := fmt.Sprintf("toolu_%06d", i)
		events = append(events,
			ev("hook.PreToolUse", "big", at(float64(i)+1), name("Read"), tid(id), num("tool_input_bytes", 9), ident("operation", "read"), ident("file_ext", "go")),
			ev("hook.PostToolUse", "big", at(float64(i)+1.5), name("Read"), tid(id), sdk.Bool("success", true)))
	}
	feed(t, kv, v, events)
	chunks := 0
	for k, val := range kv {
		if len(val) > 64<<10 {
			t.Errorf("kv value %q of %d bytes", k, len(val))
		}
		chunks++
	}
	if chunks < 2 {
		t.Errorf("%d kv values, want the state split", chunks)
	}
	want(t, v, kindSession, "big", map[string]any{"tool_calls": 3000, "turns": 1})
	want(t, v, kindTurn, "big/000001", map[string]any{"tool_calls": 3000})
}

// TestCorruptState checks that a session whose state cannot be read fails its records, saying
// why, and the others stand.
func TestCorruptState(t *testing.T) {
	kv := mapKV{}
	kv.Set(stateKey("bad", 0), []byte{1, 99, 1, 2})
	var recs []string
	for _, e := range []sdk.Event{ev("hook.Stop", "bad", at(0)), ev("hook.Stop", "good", at(0)), ev("hook.Stop", "bad", at(1))} {
		js, _ := e.MarshalJSON()
		recs = append(recs, string(js))
	}
	res := enrich(kv, recs)
	for _, i := range []int{0, 2} {
		if !errors.Is(res[i].Err, errCorrupt) || !strings.Contains(res[i].Err.Error(), "session bad") {
			t.Errorf("record %d: %v, want the corrupt state of session bad", i, res[i].Err)
		}
	}
	if res[1].Err != nil || len(res[1].Events) != 1 {
		t.Errorf("the good record (the last that did not fail) carries %v, %v; want the good session", res[1].Events, res[1].Err)
	}
}

// TestIgnored checks that records that are not claude-code events about a session change
// nothing and fail nothing.
func TestIgnored(t *testing.T) {
	res := enrich(mapKV{}, []string{`not json`, `{}`, `{"kind":"hook.Stop"}`, `{"kind":"other.x","session_id":"s"}`})
	for i, r := range res {
		if r.Err != nil || len(r.Events) != 0 {
			t.Errorf("record %d: %v, %v", i, r.Events, r.Err)
		}
	}
}

// TestStateRoundTrip checks that a session's state encodes and decodes to the same bytes.
func TestStateRoundTrip(t *testing.T) {
	kv := mapKV{}
	feed(t, kv, finalView{}, slices.Concat(transcriptSession("s1"), hookSession("s1")))
	clear(cache)
	s, err := loadSession(kv, "s1")
	if err != nil {
		t.Fatal(err)
	}
	blob := s.encode(nil)
	s2, err := decodeSession("s1", blob)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s2.encode(nil), blob) {
		t.Error("the state changed through decode and encode")
	}
	for n := range blob {
		if _, err := decodeSession("s1", blob[:n]); err == nil {
			t.Fatalf("a state cut at %d of %d bytes decoded", n, len(blob))
		}
	}
}

// TestCacheAfterDiscardedCall checks that a call whose kv writes and emissions were discarded (it
// failed, or the agent crashed before the batch committed) leaves no trace: the session state
// the module kept in memory after it is not used, since kv does not hold its hash, and the run
// ends with the records of a run without the discarded call.
func TestCacheAfterDiscardedCall(t *testing.T) {
	events := slices.Concat(transcriptSession("s9"), hookSession("s9"))
	ref := run(t, events)
	kv, v := mapKV{}, finalView{}
	feed(t, kv, v, events[:10])
	// The next call runs over a copy of kv, thrown away with what it emitted.
	discarded := mapKV{}
	for k, val := range kv {
		discarded[k] = val
	}
	feed(t, discarded, finalView{}, events[10:12])
	// A different event then: the cached state (with events 10 and 11) must not be used.
	feed(t, kv, v, events[12:13])
	feed(t, kv, v, events[10:12])
	feed(t, kv, v, events[13:])
	if d := diffViews(stripIDs(ref), stripIDs(v)); d != "" {
		t.Fatal(d)
	}
}

// stripIDs clears what the host sets on a record (id, platform), which is not its value.
func stripIDs(v finalView) finalView {
	for k, e := range v {
		e.ID, e.Platform = sdk.ID{}, ""
		v[k] = e
	}
	return v
}

// TestReplayedLog checks that a session's state read back from its log in kv (the module's
// cache cleared before every call, as after a restart) gives the records an uninterrupted run
// gives, and that a call after the replay emits only what changed.
func TestReplayedLog(t *testing.T) {
	events := slices.Concat(transcriptSession("r1"), hookSession("r1"), transcriptSession("r2"))
	ref := run(t, events, 5)
	kv, v := mapKV{}, finalView{}
	for lo := 0; lo < len(events); lo += 5 {
		clear(cache)
		feed(t, kv, v, events[lo:min(lo+5, len(events))])
	}
	if d := diffViews(stripIDs(ref), stripIDs(v)); d != "" {
		t.Fatal(d)
	}
	clear(cache)
	js, _ := ev("transcript.system", "r1", at(5), ident("subtype", "x")).MarshalJSON()
	if res := enrich(kv, []string{string(js)}); len(res[0].Events) != 0 {
		t.Errorf("after a replay, an event that changes no record emitted %d records", len(res[0].Events))
	}
}

// TestCompactedLog checks that a log compacted into a snapshot after every call, and read back
// from kv before every call, gives the records of an uninterrupted run.
func TestCompactedLog(t *testing.T) {
	defer func(n int) { compactMin = n }(compactMin)
	compactMin = 0
	events := slices.Concat(transcriptSession("c1"), hookSession("c1"), transcriptSession("c2"))
	ref := run(t, events, 4)
	kv, v := mapKV{}, finalView{}
	for lo := 0; lo < len(events); lo += 4 {
		clear(cache)
		feed(t, kv, v, events[lo:min(lo+4, len(events))])
		if c, ok := kv.Get(stateKey("c1", 0)); !ok || c[0] != entrySnap {
			t.Fatalf("after events %d: the log of c1 does not start with a snapshot", lo)
		}
	}
	if d := diffViews(stripIDs(ref), stripIDs(v)); d != "" {
		t.Fatal(d)
	}
}
