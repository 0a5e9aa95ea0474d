//go:build !wasip1

package main

// These tests run the committed module through the real host (host.New, Load, CallRecords with a
// kv keyspace, as pipeline/wasmstage runs an enrich plugin), over the events the real claude-code
// capture plugin makes of the shared fixtures.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/sdk"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

const (
	hooksDir    = "../../../shared/fixtures/claude-code/hooks"
	projectsDir = "../../../shared/fixtures/claude-code/projects"
	goldenDir   = "testdata/golden"
	captureDir  = "../claude-code"
)

// testSecret is the install secret of the hosts these tests run.
var testSecret = bytes.Repeat([]byte{0x5a}, 32)

// testNow is the time of hook events (they have none of their own), unless a test sets clock.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// clock is the hosts' clock.
var clock = struct {
	sync.Mutex
	t time.Time
}{t: testNow}

func now() time.Time { clock.Lock(); defer clock.Unlock(); return clock.t }

func setNow(t time.Time) { clock.Lock(); clock.t = t; clock.Unlock() }

// load loads the plugin in dir, granted its manifest, into a new host.
func load(t testing.TB, dir string) *host.Plugin {
	t.Helper()
	h, err := host.New(host.Config{Secret: testSecret, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	m, wasm, err := host.ReadPluginDir(dir)
	if err != nil {
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

// capture runs records through the capture plugin, n a call, and returns their events.
func capture(t testing.TB, p *host.Plugin, recs [][]byte, n int) []sdk.Event {
	t.Helper()
	var out []sdk.Event
	for lo := 0; lo < len(recs); lo += n {
		o, err := p.Call(context.Background(), "capture", recs[lo:min(lo+n, len(recs))])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range o {
			out = append(out, r.Events...)
		}
	}
	return out
}

// dedup keeps the first event of each id, as the store does: the hook fixtures repeat payloads,
// and the test host derives a record's id from its bytes.
func dedup(events []sdk.Event) []sdk.Event {
	seen := map[sdk.ID]bool{}
	return slices.DeleteFunc(events, func(e sdk.Event) bool {
		if seen[e.ID] {
			return true
		}
		seen[e.ID] = true
		return false
	})
}

// fixtureEvents are the events of the shared fixtures, captured once.
var fixtureEvents = struct {
	sync.Mutex
	hooks, transcripts, synth []sdk.Event
}{}

// fixtures returns the events the capture plugin makes of the hook payload fixtures, of the
// transcripts, and of the hooks Claude Code would have fired for the transcripts' sessions
// (synthesized from them: see synthHooks).
func fixtures(t testing.TB) (hooks, transcripts, synth []sdk.Event) {
	t.Helper()
	f := &fixtureEvents
	f.Lock()
	defer f.Unlock()
	if f.hooks != nil {
		return f.hooks, f.transcripts, f.synth
	}
	p := load(t, captureDir)
	var hookRecs [][]byte
	err := filepath.WalkDir(hooksDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, r := range raw {
			hookRecs = append(hookRecs, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(hookRecs) < 2000 {
		t.Fatalf("%d hook payloads, want the 2,044 of ../shared", len(hookRecs))
	}
	setNow(testNow)
	f.hooks = dedup(capture(t, p, hookRecs, 64))
	files, err := filepath.Glob(filepath.Join(projectsDir, "*", "*.jsonl"))
	if err != nil || len(files) != 4 {
		t.Fatalf("transcript fixtures %v (%v), want the 4 of ../shared", files, err)
	}
	for _, path := range files {
		ls := lines(t, path)
		f.transcripts = append(f.transcripts, capture(t, p, ls, 64)...)
		for _, s := range synthHooks(t, ls) {
			setNow(s.at)
			f.synth = append(f.synth, capture(t, p, [][]byte{s.payload}, 1)...)
		}
	}
	setNow(testNow)
	// Synthesized hooks are not deduplicated: two firings of the same payload (a prompt typed
	// twice) are two events in the agent, received at different times.
	f.transcripts = dedup(f.transcripts)
	return f.hooks, f.transcripts, f.synth
}

// lines returns the non-empty lines of a file.
func lines(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
	}
	return out
}

// synthHook is a hook payload and when the host receives it.
type synthHook struct {
	at      time.Time
	payload []byte
}

// synthHooks returns the hooks Claude Code fires for a transcript's lines: UserPromptSubmit for a
// prompt, PreToolUse for a tool_use block, PostToolUse (or PostToolUseFailure) for its result,
// Stop after an assistant answer without tools, each received 50 ms after its line. The payloads
// carry the transcript's own text, so the capture plugin's hashes and sizes agree with the
// transcript's.
func synthHooks(t testing.TB, ls [][]byte) []synthHook {
	t.Helper()
	type block struct {
		Type      string          `json:"type"`
		Text      string          `json:"text"`
		ID        string          `json:"id"`
		Name      string          `json:"name"`
		Input     json.RawMessage `json:"input"`
		ToolUseID string          `json:"tool_use_id"`
		Content   json.RawMessage `json:"content"`
		IsError   bool            `json:"is_error"`
	}
	type line struct {
		Type      string    `json:"type"`
		SessionID string    `json:"sessionId"`
		Timestamp time.Time `json:"timestamp"`
		Cwd       string    `json:"cwd"`
		IsMeta    bool      `json:"isMeta"`
		Sidechain bool      `json:"isSidechain"`
		Message   struct {
			Content json.RawMessage `json:"content"`
		} `json:"message"`
	}
	uses := map[string]block{}
	var out []synthHook
	add := func(l *line, fields map[string]any) {
		fields["session_id"] = l.SessionID
		fields["cwd"] = l.Cwd
		fields["permission_mode"] = "default"
		b, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, synthHook{l.Timestamp.Add(50 * time.Millisecond), b})
	}
	for _, raw := range ls {
		var l line
		if json.Unmarshal(raw, &l) != nil || l.SessionID == "" || l.Timestamp.IsZero() {
			continue
		}
		var text string
		var blocks []block
		if json.Unmarshal(l.Message.Content, &text) != nil {
			json.Unmarshal(l.Message.Content, &blocks)
		}
		switch l.Type {
		case "user":
			var texts []string
			for _, b := range blocks {
				switch b.Type {
				case "text":
					texts = append(texts, b.Text)
				case "tool_result":
					use := uses[b.ToolUseID]
					f := map[string]any{"hook_event_name": "PostToolUse", "tool_name": use.Name, "tool_input": use.Input, "tool_use_id": b.ToolUseID, "tool_response": map[string]any{"content": b.Content}}
					if b.IsError {
						f = map[string]any{"hook_event_name": "PostToolUseFailure", "tool_name": use.Name, "tool_input": use.Input, "tool_use_id": b.ToolUseID, "error": b.Content}
					}
					add(&l, f)
				}
			}
			if text == "" && len(texts) > 0 {
				text = strings.Join(texts, "\n")
			}
			if text != "" && !l.IsMeta && !l.Sidechain && !strings.HasPrefix(text, "[Request interrupted") {
				add(&l, map[string]any{"hook_event_name": "UserPromptSubmit", "prompt": text})
			}
		case "assistant":
			tools := false
			for _, b := range blocks {
				if b.Type == "tool_use" {
					uses[b.ID] = b
					tools = true
					add(&l, map[string]any{"hook_event_name": "PreToolUse", "tool_name": b.Name, "tool_input": b.Input, "tool_use_id": b.ID})
				}
			}
			if !tools && !l.Sidechain {
				add(&l, map[string]any{"hook_event_name": "Stop", "stop_hook_active": false})
			}
		}
	}
	return out
}

// mapHostKV is a plugin's kv keyspace in memory, as host.KV.
type mapHostKV map[string][]byte

func (m mapHostKV) Get(_ string, key []byte) ([]byte, error) { return bytes.Clone(m[string(key)]), nil }
func (m mapHostKV) Set(_ string, key, value []byte) error {
	m[string(key)] = bytes.Clone(value)
	return nil
}

// enrichHost runs events through the plugin in calls of n (as the consumer runner does), over
// kv, and folds the records it emits into v: the latest record of each (kind, key), id cleared
// (it names the call's record it was attached to).
func enrichHost(t testing.TB, p *host.Plugin, kv mapHostKV, v finalView, events []sdk.Event, n int) {
	t.Helper()
	ctx := host.WithKV(context.Background(), kv)
	for lo := 0; lo < len(events); lo += n {
		batch := events[lo:min(lo+n, len(events))]
		recs := make([]host.Record, len(batch))
		for i := range batch {
			js, err := batch[i].MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			recs[i] = host.Record{ID: batch[i].ID, Received: batch[i].Time, Platform: batch[i].Platform, Payload: js}
		}
		out, err := p.CallRecords(ctx, "enrich", recs)
		if err != nil {
			t.Fatalf("call events %d to %d: %v", lo, lo+len(batch), err)
		}
		for i, o := range out {
			if o.Err != nil {
				t.Fatalf("event %d: %v", lo+i, o.Err)
			}
			for _, e := range o.Events {
				k, ok := e.Attr("key")
				if !ok {
					t.Fatalf("record %s without a key", e.Kind)
				}
				e.ID = sdk.ID{}
				v[e.Kind+" "+k.Ident()] = e
			}
		}
	}
}

// runHost runs events through a fresh kv keyspace and returns the final view.
func runHost(t testing.TB, p *host.Plugin, events []sdk.Event, n int) finalView {
	t.Helper()
	v := finalView{}
	enrichHost(t, p, mapHostKV{}, v, events, n)
	return v
}

// checkGoldenView compares a final view with testdata/golden/<name>, or rewrites it with
// -update: one record a line, in (kind, key) order.
func checkGoldenView(t *testing.T, name string, v finalView) {
	t.Helper()
	var b bytes.Buffer
	for _, k := range sortedKeys(v) {
		line, err := v[k].MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantB, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./plugins/conversations -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), wantB) {
		got, wl := strings.Split(b.String(), "\n"), strings.Split(string(wantB), "\n")
		for i := range max(len(got), len(wl)) {
			g, w := "", ""
			if i < len(got) {
				g = got[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d (run go test ./plugins/conversations -run TestGolden -update after a deliberate change)\ngot:  %.800s\nwant: %.800s", path, i+1, g, w)
			}
		}
	}
}

// sessions returns the session records of a view, by session id.
func sessions(v finalView) map[string]sdk.Event {
	out := map[string]sdk.Event{}
	for _, e := range v {
		if e.Kind == kindSession {
			out[e.SessionID] = e
		}
	}
	return out
}

func intAttr(e sdk.Event, k string) int64 { v, _ := e.Attr(k); return v.Int() }
func strAttr(e sdk.Event, k string) string {
	v, _ := e.Attr(k)
	return v.String()
}

// TestGolden reconstructs the shared fixtures through the real host and compares the final
// records of every key with testdata/golden: from the hook fixtures alone, the transcripts alone,
// and both (the hook fixtures, the transcripts and the hooks of the transcripts' sessions).
func TestGolden(t *testing.T) {
	hooks, transcripts, synth := fixtures(t)
	p := load(t, ".")
	hv := runHost(t, p, hooks, 256)
	tv := runHost(t, p, transcripts, 256)
	sv := runHost(t, p, synth, 256)
	bv := runHost(t, p, slices.Concat(hooks, transcripts, synth), 256)
	checkGoldenView(t, "hooks.jsonl", hv)
	checkGoldenView(t, "transcripts.jsonl", tv)
	checkGoldenView(t, "both.jsonl", bv)

	hs, ts, ss, bs := sessions(hv), sessions(tv), sessions(sv), sessions(bv)
	if len(hs) < 20 || len(ts) != 3 || len(ss) != 3 {
		t.Fatalf("%d hook sessions, %d transcript sessions, %d synthesized; want the fixtures'", len(hs), len(ts), len(ss))
	}
	for id, h := range hs {
		if src := strAttr(h, "source"); src != "hooks" {
			t.Errorf("hook session %s: source %s", id, src)
		}
		if diffViews(finalView{"s": h}, finalView{"s": bs[id]}) != "" {
			t.Errorf("hook session %s differs with the transcripts beside it", id)
		}
	}
	// The transcripts' sessions, from both: joined, never counted twice.
	for id, tr := range ts {
		b, s := bs[id], ss[id]
		if strAttr(b, "source") != "both" || strAttr(tr, "source") != "transcript" {
			t.Errorf("session %s: sources %s and %s", id, strAttr(tr, "source"), strAttr(b, "source"))
		}
		for _, k := range []string{"turns", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "start"} {
			if intAttr(b, k) != intAttr(tr, k) {
				t.Errorf("session %s: %s %d from both, %d from the transcript", id, k, intAttr(b, k), intAttr(tr, k))
			}
		}
		if intAttr(tr, "turns") == 0 || intAttr(tr, "input_tokens") == 0 {
			t.Errorf("session %s: %d turns, %d input tokens from the transcript", id, intAttr(tr, "turns"), intAttr(tr, "input_tokens"))
		}
		if intAttr(s, "turns") != intAttr(tr, "turns") {
			t.Errorf("session %s: %d turns from its hooks, %d from its transcript", id, intAttr(s, "turns"), intAttr(tr, "turns"))
		}
		for _, k := range []string{"tool_calls", "tool_errors"} {
			if w := max(intAttr(tr, k), intAttr(s, k)); intAttr(b, k) != w || w == 0 && k == "tool_calls" {
				t.Errorf("session %s: %s %d from both, %d from the transcript, %d from the hooks", id, k, intAttr(b, k), intAttr(tr, k), intAttr(s, k))
			}
		}
	}
	t.Logf("events: %d hooks, %d transcript, %d synthesized hooks; records: %d, %d, %d (both)", len(hooks), len(transcripts), len(synth), len(hv), len(tv), len(bv))
}

// TestConvergenceHost checks through the real host that the final view of the fixtures' events,
// both sources, is the same in any order and any split into calls.
func TestConvergenceHost(t *testing.T) {
	hooks, transcripts, synth := fixtures(t)
	events := slices.Concat(hooks, transcripts, synth)
	p := load(t, ".")
	ref := runHost(t, p, events, 256)
	srcHooks := slices.Concat(hooks, synth)
	check := func(label string, got finalView) {
		t.Helper()
		if d := diffViews(ref, got); d != "" {
			t.Fatalf("%s: %s", label, d)
		}
	}
	check("hooks then transcripts", runHost(t, p, slices.Concat(srcHooks, transcripts), 256))
	check("transcripts then hooks", runHost(t, p, slices.Concat(transcripts, srcHooks), 256))
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 4 {
		ev := slices.Clone(events)
		r.Shuffle(len(ev), func(a, b int) { ev[a], ev[b] = ev[b], ev[a] })
		n := 1 + r.IntN(300)
		check(fmt.Sprintf("shuffle %d in calls of %d", i, n), runHost(t, p, ev, n))
	}
}

// TestConvergenceFixtures is the property test over the fixtures' real events, natively (the
// same code as the module's, without the host, so many orders run): any order, any split.
func TestConvergenceFixtures(t *testing.T) {
	hooks, transcripts, synth := fixtures(t)
	events := slices.Concat(hooks, transcripts, synth)
	ref := run(t, events)
	for k := range ref {
		e := ref[k]
		e.Platform = "claude-code"
		ref[k] = e
	}
	n := 30
	if testing.Short() {
		n = 5
	}
	checkConverges(t, stripIDs(ref), events, n)
}

// BenchmarkEnrich measures enrichment through the real host and the module, in calls of 256 as
// the consumer runner gives them, each run over a fresh kv keyspace:
//
//   - fixtures: the fixtures' events (hooks, transcripts and the transcripts' hooks) in the
//     order of their files: the worst interleaving, each call touching dozens of sessions;
//   - stream: the transcripts' sessions, both sources, replayed 40 times with new session ids,
//     starting 10 minutes apart (several sessions at once), in time order as the agent stores
//     them.
func BenchmarkEnrich(b *testing.B) {
	hooks, transcripts, synth := fixtures(b)
	b.Run("fixtures", func(b *testing.B) { benchEnrich(b, slices.Concat(hooks, transcripts, synth)) })
	b.Run("stream", func(b *testing.B) { benchEnrich(b, stream(slices.Concat(transcripts, synth), 40)) })
	// floor: the stream's events under a kind the plugin skips once it has read them: what the
	// host, the guest's runtime and the parsing cost, without the reconstruction.
	b.Run("floor", func(b *testing.B) {
		events := stream(slices.Concat(transcripts, synth), 40)
		for i := range events {
			events[i].Kind = "other.skipped"
		}
		benchEnrich(b, events)
	})
}

// stream replays events n times, each copy with its own session ids and 10 minutes later than
// the one before, and orders the whole by time.
func stream(events []sdk.Event, n int) []sdk.Event {
	var out []sdk.Event
	for i := range n {
		for _, e := range events {
			e.SessionID = fmt.Sprintf("%s-%03d", e.SessionID[:min(len(e.SessionID), 24)], i)
			e.Time = e.Time.Add(time.Duration(i) * 10 * time.Minute)
			e.ID = sdk.NewID("stream", e.ID[:], []byte{byte(i)})
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b sdk.Event) int { return a.Time.Compare(b.Time) })
	return out
}

func benchEnrich(b *testing.B, events []sdk.Event) {
	p := load(b, ".")
	// The records as the consumer gives them (their JSON is made once per stored event).
	var batches [][]host.Record
	for lo := 0; lo < len(events); lo += 256 {
		batch := events[lo:min(lo+256, len(events))]
		recs := make([]host.Record, len(batch))
		for i := range batch {
			js, _ := batch[i].MarshalJSON()
			recs[i] = host.Record{ID: batch[i].ID, Received: batch[i].Time, Platform: batch[i].Platform, Payload: js}
		}
		batches = append(batches, recs)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		ctx := host.WithKV(context.Background(), mapHostKV{})
		for _, recs := range batches {
			if _, err := p.CallRecords(ctx, "enrich", recs); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportRate(b, len(events), cpu0)
	b.ReportMetric(float64(p.Status().MaxMemoryBytes)/(1<<20), "MiB-linear/instance")
}

// BenchmarkEnrichNative runs the reconstruction natively over the same calls as BenchmarkEnrich:
// the difference between the two is the host's and WASM's share.
func BenchmarkEnrichNative(b *testing.B) {
	hooks, transcripts, synth := fixtures(b)
	b.Run("fixtures", func(b *testing.B) { benchNative(b, slices.Concat(hooks, transcripts, synth)) })
	b.Run("stream", func(b *testing.B) { benchNative(b, stream(slices.Concat(transcripts, synth), 40)) })
}

func benchNative(b *testing.B, events []sdk.Event) {
	var batches [][]string
	for lo := 0; lo < len(events); lo += 256 {
		var recs []string
		for _, e := range events[lo:min(lo+256, len(events))] {
			js, _ := e.MarshalJSON()
			recs = append(recs, string(js))
		}
		batches = append(batches, recs)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		kv := mapKV{}
		for _, recs := range batches {
			enrich(kv, recs)
		}
	}
	reportRate(b, len(events), cpu0)
}

// reportRate reports events/s (wall clock) and events/cpu-s (per second of the process's CPU
// time, user and system: the figure that holds when other processes share the cores).
func reportRate(b *testing.B, events int, cpu0 time.Duration) {
	n := float64(events * b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(n/cpu.Seconds(), "events/cpu-s")
	}
}

// cpuTime returns the CPU time the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestScanMatchesGeneric checks that the direct scanner reads every fixture event as gjson does,
// and that records outside its form fall back to gjson.
func TestScanMatchesGeneric(t *testing.T) {
	hooks, transcripts, synth := fixtures(t)
	extra := []string{
		`{"id":"x","kind":"hook.Stop","session_id":"s","time":"2025-06-01T12:00:00.5+02:00","attrs":[{"key":"a","type":"ident","value":"q\"x"}]}`,
		`{ "kind" : "hook.Stop", "session_id" : "s", "time": "2025-06-01T12:00:00Z" }`,
		`{"kind":"hook.Stop","session_id":"s","time":"2025-06-01T12:00:00.123456789Z","attrs":[{"key":"sk","type":"sketch","value":{"i":[1,2],"v":[0.5,-0.5]}},{"key":"n","type":"int","value":-12}]}`,
	}
	var recs []string
	for _, e := range slices.Concat(hooks, transcripts, synth) {
		js, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, string(js))
	}
	scanned := 0
	for _, js := range append(recs, extra...) {
		var fast, slow event
		if scan(js, &fast) {
			scanned++
		} else {
			fast = event{}
			parseGeneric(js, &fast)
		}
		parseGeneric(js, &slow)
		if fmt.Sprint(fast) != fmt.Sprint(slow) {
			t.Errorf("%s:\n scanned %v\n gjson   %v", js, fast, slow)
		}
	}
	if scanned < len(recs) {
		t.Errorf("the scanner read %d of the %d fixture events", scanned, len(recs))
	}
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"2025-06-01T12:00:00Z", time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixMilli()},
		{"2025-06-01T12:00:00.5Z", time.Date(2025, 6, 1, 12, 0, 0, 500e6, time.UTC).UnixMilli()},
		{"2025-06-01T12:00:00.123456789Z", time.Date(2025, 6, 1, 12, 0, 0, 123e6, time.UTC).UnixMilli()},
		{"2025-06-01T14:00:00+02:00", time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixMilli()},
		{"2025-06-01T12:00:00.Z", 0},
		{"yesterday", 0},
	} {
		if got := parseTime(c.in); got != c.want {
			t.Errorf("parseTime(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}
