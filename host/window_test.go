package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
var carryCaps = []string{"content:prompt", "read:payload.mode", "read:payload.path"}

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

// syncBuffer is a bytes.Buffer safe for concurrent writes (a logger's output).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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
			capture, err := NewCapture(p)
			if err != nil {
				t.Fatal(err)
			}
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
			// The capture stage's errors are what the dead-letter queue keeps.
			_, errs := capture.CaptureBatch(nil)
			for _, err := range errs {
				written = append(written, err.Error())
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
	p := loadTest(t, h, "carry", []string{"read:payload.mode", "read:payload.path", "fs:read:" + escapeGlob(dir) + "/*"}, Limits{})
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
