package host

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/sdk"
)

// carryPrompts are the prompts the carry plugin is shown, one per record, in order: each
// distinct, so that a piece of one found anywhere says which record it came from.
var carryPrompts = []string{
	"Please refactor the payment module so that refunds are idempotent and logged",
	"Rename the customer ledger tables before the quarterly migration window closes",
	"Draft the incident report about the leaked staging credentials for legal review",
	"Summarize the board deck about the confidential acquisition of Northwind Traders",
	"Investigate why the nightly invoice export skips accounts created on weekends",
}

// carryRecord is a record for the carry plugin: a prompt and the mode.
func carryRecord(prompt, mode string) []byte {
	return []byte(`{"hook_event_name":"UserPromptSubmit","mode":` + jsonString(mode) + `,"prompt":` + jsonString(prompt) + `}`)
}

// carryCaps are the carry plugin's grants, less those a mode adds.
var carryCaps = []string{"content:prompt", "read:payload.mode", "content:path"}

// carriesPrompt reports whether s holds 12 bytes of any of the prompts: verbatim, with spaces
// removed, or with spaces made underscores (as the carry plugin writes them in identifiers).
// It is the test's own check, independent of the host's.
func carriesPrompt(s string, prompts ...string) bool {
	for _, p := range prompts {
		for _, form := range []string{p, strings.ReplaceAll(p, " ", ""), strings.ReplaceAll(p, " ", "_")} {
			for i := 0; i+leakWindow <= len(form); i++ {
				if strings.Contains(s, form[i:i+leakWindow]) {
					return true
				}
			}
		}
	}
	return false
}

// TestCarriedContentRefused is finding 2 of issue 13: a plugin shown content keeps it in memory
// and emits it for another record, in the same call or a later one. The host checks every
// emission against all the content the emitting instance was shown, not only its record's.
func TestCarriedContentRefused(t *testing.T) {
	for _, mode := range []string{"ident", "hash"} {
		t.Run(mode, func(t *testing.T) {
			audit := &auditSink{}
			h := newTestHost(t, Config{Audit: audit, PoolSize: 1})
			p := loadTest(t, h, "carry", carryCaps, Limits{})
			// Call 1: record 1 carries record 0's prompt; call 2: record 0 carries call 1's last.
			calls := [][]int{{0, 1}, {2}}
			want := [][]bool{{false, true}, {true}}
			for c, idx := range calls {
				recs := make([][]byte, len(idx))
				for k, i := range idx {
					recs[k] = carryRecord(carryPrompts[i], mode)
				}
				outs, err := p.Call(context.Background(), "capture", recs)
				if err != nil {
					t.Fatalf("call %d: %v", c, err)
				}
				for k, o := range outs {
					refused := errors.Is(o.Err, ErrRefusedEmission)
					if refused != want[c][k] {
						t.Errorf("call %d record %d: err %v, want refused %v", c, k, o.Err, want[c][k])
					}
					if o.Err != nil && carriesPrompt(o.Err.Error(), carryPrompts...) {
						t.Errorf("call %d record %d: the refusal quotes the content: %v", c, k, o.Err)
					}
					for _, ev := range o.Events {
						if s := eventStrings(ev); carriesPrompt(s, carryPrompts...) {
							t.Errorf("call %d record %d: emitted %q", c, k, s)
						}
					}
				}
			}
			if got := p.Status().Refused; got != 2 {
				t.Errorf("refused %d records, want 2", got)
			}
			if got := audit.count(p.m.Name, AuditRefusedEmission); got != 2 {
				t.Errorf("%d refused-emission audit entries, want 2", got)
			}
		})
	}
	t.Run("ask", func(t *testing.T) {
		h := newTestHost(t, Config{PoolSize: 1})
		p := loadTest(t, h, "carry", carryCaps, Limits{})
		for c, idx := range [][]int{{0, 1}, {2}} {
			recs := make([][]byte, len(idx))
			for k, i := range idx {
				recs[k] = carryRecord(carryPrompts[i], "ask")
			}
			outs, err := p.Call(context.Background(), "capture", recs)
			if err != nil {
				t.Fatalf("call %d: %v", c, err)
			}
			for k, o := range outs {
				if o.Err != nil || len(o.Events) != 1 {
					t.Fatalf("call %d record %d: %+v", c, k, o)
				}
				v, asked := o.Events[0].Attr("leaks")
				if c == 0 && k == 0 {
					if asked {
						t.Errorf("record 0 asked with nothing to carry")
					}
					continue
				}
				if !asked || !v.Bool() {
					t.Errorf("call %d record %d: leaks answered %v (asked %v), want true: the instance was shown it", c, k, v.Bool(), asked)
				}
			}
		}
	})
}

// eventStrings returns an event's strings (kind, session id, keys, ident and hash values), joined.
func eventStrings(ev sdk.Event) string {
	parts := []string{ev.Kind, ev.SessionID}
	for _, a := range ev.Attrs {
		parts = append(parts, a.Key)
		switch a.Value.Kind() {
		case sdk.KindIdent:
			parts = append(parts, a.Value.Ident())
		case sdk.KindHash:
			parts = append(parts, a.Value.HashString())
		}
	}
	return strings.Join(parts, "\x00")
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer = hosttest.Buffer

// TestPluginTextGate is finding 3 of issue 13: text a plugin controls (its record errors, log
// lines, kv keys and values, the message of a failed call, a path it asks for) reaches the
// dead-letter queue, the agent's log, the audit log and the quarantine reason (plugins/state.json).
// None of it may carry content the instance was shown, from any record or call.
func TestPluginTextGate(t *testing.T) {
	tests := []struct {
		mode string
		caps []string
		// recErr is what each carrying record's outcome must wrap, or nil when the call fails.
		recErr error
		// callErr is what each carrying call's error must wrap, when it fails.
		callErr error
	}{
		{mode: "fail", recErr: ErrRecordFailed},
		{mode: "log", caps: []string{"log"}},
		{mode: "kv", caps: []string{"kv"}, callErr: ErrTrap},
		{mode: "encode", callErr: ErrTrap},
		{mode: "fspath", caps: []string{"fs:read:/nonexistent/*"}, callErr: ErrTrap},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			audit := &auditSink{}
			logs := &syncBuffer{}
			kv := &MemKV{}
			var qmu sync.Mutex
			var reasons []string
			h := newTestHost(t, Config{
				Audit: audit, KV: kv, PoolSize: 1,
				Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				OnQuarantine: func(name, reason string) {
					qmu.Lock()
					defer qmu.Unlock()
					reasons = append(reasons, reason)
				},
			})
			p := loadTest(t, h, "carry", append(append([]string{}, carryCaps...), tt.caps...), Limits{})
			// Phase 1, across calls: a call shows prompt 0 alone; the next, alone too, carries it.
			// Phase 2, within calls: three calls of two records, the second carrying the first's
			// prompt; those whose carrying fails the call quarantine the plugin.
			var written []string // every text that outlives the call
			call := func(c int, prompts ...string) {
				recs := make([][]byte, len(prompts))
				for k, pr := range prompts {
					recs[k] = carryRecord(pr, tt.mode)
				}
				outs, err := p.Call(context.Background(), "capture", recs)
				if err != nil {
					written = append(written, err.Error())
					if tt.callErr == nil || !errors.Is(err, tt.callErr) && !errors.Is(err, ErrQuarantined) {
						t.Errorf("call %d: %v, want success or %v", c, err, tt.callErr)
					}
					return
				}
				if tt.callErr != nil && c > 0 {
					t.Errorf("call %d succeeded, want %v", c, tt.callErr)
				}
				for k, o := range outs {
					if o.Err != nil {
						written = append(written, o.Err.Error())
					}
					if carrying := c > 0 && k == len(outs)-1; carrying && tt.recErr != nil && !errors.Is(o.Err, tt.recErr) {
						t.Errorf("call %d record %d: %v, want %v", c, k, o.Err, tt.recErr)
					}
				}
			}
			call(0, carryPrompts[0])
			call(1, carryPrompts[1])
			for c := range 3 {
				call(2+c, carryPrompts[2+c%3], carryPrompts[3-c%3])
			}
			written = append(written, logs.String())
			for _, e := range audit.entries {
				written = append(written, e.Detail)
			}
			qmu.Lock()
			written = append(written, reasons...)
			qmu.Unlock()
			if q, reason := p.Quarantined(); q {
				written = append(written, reason)
			}
			for _, s := range written {
				if carriesPrompt(s, carryPrompts...) {
					t.Errorf("content the plugin was shown reached a log, the audit log or a dead letter:\n%s", s)
				}
			}
			for key, v := range kv.m {
				if carriesPrompt(key+string(v), carryPrompts...) {
					t.Errorf("content the plugin was shown reached the kv store: %q", key)
				}
			}
		})
	}
}

// TestFSReadBytesChecked shows that bytes read through fs_read are content the instance was
// shown: emitting them is refused like emitting a prompt, for a plugin with no content grant.
func TestFSReadBytesChecked(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secret := "the staging database password is correct-horse-battery-staple\nsecond line\n"
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	audit := &auditSink{}
	h := newTestHost(t, Config{Audit: audit, PoolSize: 1})
	p := loadTest(t, h, "carry", []string{"read:payload.mode", "content:path", "fs:read:" + escapeGlob(dir) + "/*"}, Limits{})
	rec := []byte(fmt.Sprintf(`{"mode":"fsread","path":%s}`, jsonString(filepath.Join(dir, "notes.txt"))))
	outs, err := p.Call(context.Background(), "capture", [][]byte{rec})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(outs[0].Err, ErrRefusedEmission) {
		t.Errorf("emitting a file's first line: %+v, want ErrRefusedEmission", outs[0])
	}
	if outs[0].Err != nil && carriesPrompt(outs[0].Err.Error(), secret) {
		t.Errorf("the refusal quotes the file: %v", outs[0].Err)
	}
}

// transcriptTexts returns the text of every string and object in the shared transcripts' lines,
// as content views hold them: the window's input in an import.
func transcriptTexts(tb testing.TB) ([]string, int64) {
	tb.Helper()
	files, err := filepath.Glob("../../shared/fixtures/claude-code/projects/*/*.jsonl")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no shared transcripts: %v", err)
	}
	var texts []string
	var size int64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) != "" {
				texts = append(texts, line)
				size += int64(len(line))
			}
		}
	}
	return texts, size
}

// BenchmarkWindowAbsorb reports how fast a window takes text (copy, pairs), in MB/s of text, as
// it does between recycles: into chunks it has (reset keeps them).
func BenchmarkWindowAbsorb(b *testing.B) {
	texts, size := transcriptTexts(b)
	b.SetBytes(size)
	w := &window{}
	defer w.free()
	cpu0 := cpuTime()
	for range b.N {
		w.reset()
		for _, s := range texts {
			w.absorb(s)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(int64(b.N)*size), "cpu-ns/byte")
}

// BenchmarkWindowCheck reports what checking an emission's strings against a window of the
// shared transcripts costs: keys and kinds (words the window holds), a salted hash (random
// bytes), and a session id the window holds as a read value would be.
func BenchmarkWindowCheck(b *testing.B) {
	texts, _ := transcriptTexts(b)
	w := &window{}
	defer w.free()
	for _, s := range texts {
		w.absorb(s)
	}
	p := &Plugin{}
	segs := []string{
		"transcript.assistant", "cache_creation_input_tokens", "output_tokens", "cache_read_tokens",
		"\x8a\x13 \xf2\x07\x99\x1c\xbb\x05\x40\x22\xe1\x9d\x0a\x33\x6f", "tool_response_bytes",
	}
	p.windowLeaks(w, segs, true) // the keys become known
	b.ResetTimer()
	for range b.N {
		p.windowLeaks(w, segs, true)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(segs)), "ns/string")
}

// TestWindowRecycle shows the window's bound: an instance is recycled before a call would take
// the content it was shown past Config.WindowBytes, so that what it may remember is always what
// its emissions are checked against. The carry plugin counts the records its instance handled
// ("seen"): a fresh instance starts again at 1.
func TestWindowRecycle(t *testing.T) {
	const limit = 400 // bytes: each prompt is about 80, so four or five fit
	h := newTestHost(t, Config{PoolSize: 1, WindowBytes: limit})
	p := loadTest(t, h, "carry", carryCaps, Limits{})
	// The model: a call whose prompt would take a window holding some past the limit runs on a
	// fresh instance.
	var size, seen, recycles int
	call := func(c int, mode string) Outcome {
		prompt := carryPrompts[c%len(carryPrompts)]
		if size > 0 && size+len(prompt) > limit {
			size, seen = 0, 0
			recycles++
		}
		size += len(prompt)
		seen++
		outs, err := p.Call(context.Background(), "capture", [][]byte{carryRecord(prompt, mode)})
		if err != nil {
			t.Fatalf("call %d: %v", c, err)
		}
		return outs[0]
	}
	for c := range 12 {
		o := call(c, "count")
		if o.Err != nil {
			t.Fatalf("call %d: %v", c, o.Err)
		}
		if got, _ := o.Events[0].Attr("seen"); got.Int() != int64(seen) {
			t.Errorf("call %d: the instance has handled %d records, want %d", c, got.Int(), seen)
		}
	}
	if s := p.Status(); s.WindowRecycles != int64(recycles) || recycles < 2 || s.Instances != 1 {
		t.Errorf("%d recycles (want %d, at least 2), %d instances (want 1)", s.WindowRecycles, recycles, s.Instances)
	}
	// An instance carries only what its window holds: the prompt of the call before is refused,
	// unless this call runs on a fresh instance, which has nothing to carry.
	for c := 12; c < 20; c++ {
		before := recycles
		o := call(c, "ident")
		switch fresh := recycles > before; {
		case fresh && (o.Err != nil || len(o.Events[0].Attrs) != 1):
			t.Errorf("call %d, on a fresh instance: %+v, want one event with nothing carried", c, o)
		case !fresh && !errors.Is(o.Err, ErrRefusedEmission):
			t.Errorf("call %d: %v, want the carried prompt refused", c, o.Err)
		}
	}
}

// TestEmittedKindsDeclared shows that the host refuses a kind the manifest does not declare
// (emits): kinds become counter keys, which outlive retention.
func TestEmittedKindsDeclared(t *testing.T) {
	sum := sha256Hex(testWasm["echo"])
	toml := fmt.Sprintf(`name = "echo"
version = "1.0.0"
kind = "capture"
abi = 1
platform = "claude-code"
wasm = "echo.wasm"
sha256 = %q
capabilities = ["read:payload.hook_event_name", "read:payload.session_id", "read:payload.tool_name", "emit:events"]
emits = ["hook.Stop", "hook.Session*", "hook.Pre.*"]
`, sum)
	m, err := DecodeManifest([]byte(toml))
	if err == nil {
		err = m.Validate()
	}
	if err == nil {
		t.Fatal(`emits "hook.Session*" accepted: a family ends in ".*"`)
	}
	m, err = DecodeManifest([]byte(strings.Replace(toml, `, "hook.Session*"`, "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGrants(m.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	audit := &auditSink{}
	h := newTestHost(t, Config{Audit: audit})
	p, err := h.Load(m, testWasm["echo"], g)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		event   string
		refused bool
	}{
		{"Stop", false},
		{"Pre.ToolUse", false},
		{"PreToolUse", true},
		{"StopFailure", true},
		{"Pre.", true},
	}
	for _, tt := range tests {
		outs, err := p.Call(context.Background(), "capture", [][]byte{[]byte(`{"hook_event_name":` + jsonString(tt.event) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		if got := errors.Is(outs[0].Err, ErrRefusedEmission); got != tt.refused {
			t.Errorf("hook.%s: %v, want refused %v", tt.event, outs[0].Err, tt.refused)
		}
		if outs[0].Err != nil && strings.Contains(outs[0].Err.Error(), tt.event) {
			t.Errorf("the refusal quotes the kind: %v", outs[0].Err)
		}
	}
	if got := audit.count("echo", AuditRefusedEmission); got != 3 {
		t.Errorf("%d refused-emission audit entries, want 3", got)
	}
}

// sha256Hex returns the hex SHA-256 of b.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestWindowRefuted checks the pairs' verdicts against the definition: a string is refuted only
// when none of its leak windows occurs in the window's text (plain windows in the text with
// whitespace removed, spaced ones verbatim), on strings made of the text's own pieces, changed
// pieces and random bytes.
func TestWindowRefuted(t *testing.T) {
	texts := []string{
		"Please refactor the payment module so that refunds are idempotent",
		"func main() {\n\tfmt.Println(\"hello,\tworld\")\n}",
		"a b c d e f g h i j k l m n o p",
		"\x00\x01\x02 \xff\xfe binary\tbytes\r\n here",
	}
	w := &window{}
	defer w.free()
	for _, s := range texts {
		w.absorb(s)
	}
	occurs := func(s string) bool {
		found := false
		eachWindow(s, func(k windowKey, spaced bool) {
			var b [leakWindow]byte
			binary.LittleEndian.PutUint64(b[:], k.lo)
			binary.LittleEndian.PutUint32(b[8:], k.hi)
			for _, text := range texts {
				if !spaced {
					text = string(legacyStripSpace([]byte(text)))
				}
				if strings.Contains(text, string(b[:])) {
					found = true
				}
			}
		})
		return found
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var probes []string
	for _, s := range texts {
		for range 200 {
			i := rng.IntN(len(s))
			j := min(len(s), i+leakWindow+rng.IntN(10))
			p := []byte(s[i:j])
			if rng.IntN(3) == 0 && len(p) > 0 {
				p[rng.IntN(len(p))] ^= byte(1 + rng.IntN(255))
			}
			if rng.IntN(4) == 0 {
				p = append([]byte("x y"), p...)
			}
			probes = append(probes, string(p), string(legacyStripSpace(p)))
		}
	}
	for range 500 {
		b := make([]byte, leakWindow+rng.IntN(24))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		probes = append(probes, string(b))
	}
	refuted := 0
	for _, p := range probes {
		if w.refuted(p) {
			refuted++
			if occurs(p) {
				t.Fatalf("refuted(%q), yet one of its windows occurs", p)
			}
		}
	}
	if refuted < len(probes)/4 {
		t.Errorf("only %d of %d probes refuted: the pairs rule out too little", refuted, len(probes))
	}
	// And the whole check: windowLeaks answers as the definition does.
	p := &Plugin{}
	for _, s := range probes {
		if got := p.windowLeaks(w, []string{s}, false)[0]; got != occurs(s) {
			t.Fatalf("windowLeaks(%q) = %v, want %v", s, got, !got)
		}
	}
}

// TestWindowWatch shows that an answer kept for a string stays true as the window grows: a string
// found clean, then shown in a later text, leaks from then on.
func TestWindowWatch(t *testing.T) {
	w := &window{}
	defer w.free()
	// The text has every pair of both strings, and none of their leak windows: each needs the
	// exact scan, which finds it clean.
	w.absorb("abcdef xyz fghijklm; fine to me, enough now")
	p := &Plugin{}
	segs := []string{"abcdefghijklm", "fine to me now"}
	if got := p.windowLeaks(w, segs, true); got[0] || got[1] {
		t.Fatalf("before: %v, want both clean", got)
	}
	if len(w.known) != 2 || len(w.watched) != 2 {
		t.Fatalf("known %v, watched %q: want both kept and watched", w.known, w.watched)
	}
	w.absorb("abcdef ghijk lm") // segs[0], once whitespace is removed
	w.absorb("fine tome now")   // segs[1] with whitespace removed, not verbatim: no leak
	got := p.windowLeaks(w, segs, true)
	if !got[0] {
		t.Errorf("%q does not leak after a text holding it (whitespace removed)", segs[0])
	}
	if got[1] {
		t.Errorf("%q leaks, yet no text holds one of its windows", segs[1])
	}
	w.absorb("all is fine to me now, thanks")
	if !p.windowLeaks(w, segs[1:], true)[0] {
		t.Errorf("%q does not leak after a text holding it verbatim", segs[1])
	}
}

// TestWindowLiterals shows that leak windows occurring in the plugin's module are not counted:
// an attribute key the content happens to name, and a message's fixed words.
func TestWindowLiterals(t *testing.T) {
	w := &window{}
	defer w.free()
	w.absorb("please read usage.input_tokens and the cache_read_tokens field, then say what is not a number")
	p := &Plugin{}
	p.lits.module = []byte("\x00\x01cache_read_tokens\x00input_tokens\x00%s is not a number\x00")
	tests := []struct {
		s    string
		want bool
	}{
		{"cache_read_tokens", false},          // a key, in the module
		{"input_tokens", false},               // a key, in the module
		{"usage.input_tokens", true},          // "usage.input_" is the content's, not the module's
		{"output_tokens", false},              // neither
		{"reply: what is not a number", true}, // "what is not " is the content's
		{"token 7 is not a number", false},    // the module's words, and a value
		{"read usage.input_tokens and", true}, // the content's
		{"read usage.inp", true},              // the content's
	}
	for _, tt := range tests {
		if got := p.windowLeaks(w, []string{tt.s}, false)[0]; got != tt.want {
			t.Errorf("windowLeaks(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// TestSegments shows the parts of a string the window check looks at: between granted read
// values, and not inside one.
func TestSegments(t *testing.T) {
	reads := []string{"mcp__github__create_pull_request", "6706089d-9d7e-4f48-bd2d-8f2a2546eb78"}
	tests := []struct {
		s    string
		want []string
	}{
		{"create_pull_request", nil},              // inside a read value
		{"mcp__github__create_pull_request", nil}, // a read value
		{"s-6706089d-9d7e-4f48-bd2d-8f2a2546eb78-the-long-tail", []string{"-the-long-tail"}},
		{"prefix-of-twelve-6706089d-9d7e-4f48-bd2d-8f2a2546eb78", []string{"prefix-of-twelve-"}},
		{"create_pull_request_now", []string{"create_pull_request_now"}}, // not inside one
		{"short", nil},
	}
	for _, tt := range tests {
		var got []string
		segments(reads, tt.s, func(seg string) { got = append(got, seg) })
		if !slices.Equal(got, tt.want) {
			t.Errorf("segments(%q) = %q, want %q", tt.s, got, tt.want)
		}
	}
}
