//go:build !wasip1

package main

// These tests run the committed module through the real host (package host: projection, salt,
// enforcement), as the agent runs it. The committed module is the Rust port (rust/); the Go source
// of this package is the reference it is compared against (rust_test.go), built from source once
// per test binary, and the golden files are the reference's outcomes (-update writes them from
// it), which the committed module must reproduce. The modules never import the host; only their
// tests do, natively.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/tidwall/gjson"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

const (
	hooksDir    = "../../../shared/fixtures/claude-code/hooks"
	projectsDir = "../../../shared/fixtures/claude-code/projects"
	expectedDir = "../../../shared/fixtures/claude-code/expected"
	goldenDir   = "testdata/golden"
)

// testSecret is the install secret of the hosts these tests run.
var testSecret = bytes.Repeat([]byte{0x5a}, 32)

// testNow is the hosts' clock: the time of events without one of their own (hook payloads).
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// cacheDir is the hosts' compilation cache, shared by the tests: the module compiles once.
var cacheDir = sync.OnceValue(func() string {
	dir, err := os.MkdirTemp("", "claude-code-test-cache")
	if err != nil {
		return ""
	}
	afterTests = append(afterTests, func() { os.RemoveAll(dir) })
	return dir
})

// newHost returns a host with the install secret secret, over the shared compilation cache.
func newHost(t testing.TB, secret []byte) *host.Host {
	t.Helper()
	h, err := host.New(host.Config{Secret: secret, Now: func() time.Time { return testNow }, CacheDir: cacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// loadModule loads the committed module, granted its manifest, into a new host with secret.
func loadModule(t testing.TB, secret []byte) *host.Plugin {
	t.Helper()
	_, wasm, err := host.ReadPluginDir(".")
	if err != nil {
		t.Fatal(err)
	}
	return loadWasm(t, wasm, secret)
}

// sharedPlugin is the module under testSecret, loaded once for the tests that need no other.
var (
	sharedMu     sync.Mutex
	sharedPlugin *host.Plugin
)

func module(t *testing.T) *host.Plugin {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedPlugin == nil {
		h := newHost(t, testSecret)
		m, wasm, err := host.ReadPluginDir(".")
		if err != nil {
			t.Fatal(err)
		}
		g, err := host.NewGrants(m.Capabilities)
		if err != nil {
			t.Fatal(err)
		}
		if sharedPlugin, err = h.Load(m, wasm, g); err != nil {
			t.Fatal(err)
		}
	}
	return sharedPlugin
}

// referenceWasm builds the Go reference, this package for GOOS=wasip1 as a c-shared module (as
// `just plugins` built the shipped module before the Rust port), once per test binary.
var referenceWasm = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "claude-code-reference")
	if err != nil {
		return nil, fmt.Errorf("build the Go reference: %w", err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "reference.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-buildmode=c-shared", "-ldflags=-buildid=", "-o", out, ".")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the Go reference: %v\n%s", err, msg)
	}
	return os.ReadFile(out)
})

// reference returns the Go reference module's bytes.
func reference(t testing.TB) []byte {
	t.Helper()
	wasm, err := referenceWasm()
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// loadWasm loads wasm under the plugin's own manifest and grants into a new host with secret.
func loadWasm(t testing.TB, wasm []byte, secret []byte) *host.Plugin {
	t.Helper()
	h := newHost(t, secret)
	t.Cleanup(func() { h.Close() })
	m, _, err := host.ReadPluginDir(".")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	m.SHA256 = hex.EncodeToString(sum[:]) // the manifest's is the shipped module's
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

// goldenModule returns the module the golden tests run: the committed one, or with -update the
// Go reference, whose outcomes the golden files hold.
func goldenModule(t *testing.T) *host.Plugin {
	t.Helper()
	if *update {
		return loadWasm(t, reference(t), testSecret)
	}
	return module(t)
}

// callAll runs records through the plugin in batches, as the agent does, and returns their
// outcomes.
func callAll(t *testing.T, p *host.Plugin, records [][]byte) []host.Outcome {
	t.Helper()
	const batch = 64
	var out []host.Outcome
	for lo := 0; lo < len(records); lo += batch {
		o, err := p.Call(context.Background(), "capture", records[lo:min(lo+batch, len(records))])
		if err != nil {
			t.Fatalf("call records %d to %d: %v", lo, lo+batch, err)
		}
		out = append(out, o...)
	}
	return out
}

// goldenRecord is one record's outcome in a golden file.
type goldenRecord struct {
	Events []sdk.Event `json:"events,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// checkGolden compares the outcomes with the golden file at name (under goldenDir), or rewrites
// it with -update. The file is a JSON array, one record a line.
func checkGolden(t *testing.T, name string, outcomes []host.Outcome) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, o := range outcomes {
		r := goldenRecord{Events: o.Events}
		if o.Err != nil {
			r.Error = o.Err.Error()
		}
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		b.Write(line)
		if i < len(outcomes)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]\n")
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(b.Bytes(), want) {
		got, wl := strings.Split(b.String(), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(got), len(wl)) {
			g, w := "", ""
			if i < len(got) {
				g = got[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d (run go test -run %s -update after a deliberate change)\ngot:  %.600s\nwant: %.600s", path, i+1, t.Name(), g, w)
			}
		}
	}
}

// hookFiles returns the hook fixture files, relative to hooksDir.
func hookFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(hooksDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		rel, err := filepath.Rel(hooksDir, path)
		files = append(files, rel)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("%d hook fixture files, want the 56 of ../shared", len(files))
	}
	return files
}

// hookPayloads returns the payloads of a hook fixture file (a JSON array).
func hookPayloads(t testing.TB, rel string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(hooksDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	out := make([][]byte, len(raw))
	for i, r := range raw {
		out[i] = r
	}
	return out
}

// lines returns the lines of a file.
func lines(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// transcriptFiles returns the transcript fixtures.
func transcriptFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(projectsDir, "*", "*.jsonl"))
	if err != nil || len(files) != 4 {
		t.Fatalf("transcript fixtures %v (%v), want the 4 of ../shared", files, err)
	}
	return files
}

// TestGoldenHooks runs every hook payload fixture through the host and compares the outcomes with
// testdata/golden/hooks/<file>: every payload must become one event, none refused, none leaking.
func TestGoldenHooks(t *testing.T) {
	p := goldenModule(t)
	total := 0
	kinds := map[string]int{}
	for _, rel := range hookFiles(t) {
		t.Run(rel, func(t *testing.T) {
			payloads := hookPayloads(t, rel)
			out := callAll(t, p, payloads)
			for i, o := range out {
				if o.Err != nil || len(o.Events) != 1 {
					t.Errorf("payload %d: %d events, error %v; want one event", i, len(o.Events), o.Err)
					continue
				}
				kinds[o.Events[0].Kind]++
				assertNoLeak(t, fmt.Sprintf("payload %d", i), payloads[i], o.Events)
			}
			total += len(payloads)
			checkGolden(t, filepath.Join("hooks", rel), out)
		})
	}
	if total < 2000 {
		t.Errorf("%d payloads, want the 2,078 of ../shared", total)
	}
	t.Logf("%d payloads: %v", total, kinds)
}

// TestGoldenTranscripts runs every line of the four transcripts through the host and compares the
// outcomes with testdata/golden/transcripts/<file>.json.
func TestGoldenTranscripts(t *testing.T) {
	p := goldenModule(t)
	for _, path := range transcriptFiles(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".jsonl") + ".json"
		t.Run(name, func(t *testing.T) {
			ls := lines(t, path)
			out := callAll(t, p, ls)
			for i, o := range out {
				if o.Err != nil || len(o.Events) == 0 {
					t.Errorf("line %d: %d events, error %v", i+1, len(o.Events), o.Err)
					continue
				}
				assertNoLeak(t, fmt.Sprintf("line %d", i+1), ls[i], o.Events)
			}
			checkGolden(t, filepath.Join("transcripts", name), out)
		})
	}
}

// TestGoldenSynthetic runs testdata/synthetic.jsonl, one record a line (hook events the fixtures
// lack, and bad records), through the host and compares the outcomes with
// testdata/golden/synthetic.json.
func TestGoldenSynthetic(t *testing.T) {
	p := goldenModule(t)
	ls := lines(t, "testdata/synthetic.jsonl")
	for i, l := range ls {
		// A line may carry a JSON string that stands for any bytes, for records that are not JSON.
		if s := gjson.ParseBytes(l); s.Type == gjson.String && bytes.HasPrefix(l, []byte(`"raw:`)) {
			ls[i] = []byte(strings.TrimPrefix(s.Str, "raw:"))
		}
	}
	out := callAll(t, p, ls)
	for i, o := range out {
		if errors.Is(o.Err, host.ErrRefusedEmission) {
			t.Errorf("line %d: refused by the host: %v", i+1, o.Err)
		}
		if o.Err == nil {
			assertNoLeak(t, fmt.Sprintf("line %d", i+1), ls[i], o.Events)
		}
	}
	checkGolden(t, "synthetic.json", out)
}

// TestEveryHookEvent checks that each current hook event, and an unknown one, becomes
// hook.<name>.
func TestEveryHookEvent(t *testing.T) {
	names := []string{"SessionStart", "SessionEnd", "UserPromptSubmit", "PreToolUse", "PostToolUse",
		"PostToolUseFailure", "PermissionRequest", "Notification", "Stop", "StopFailure", "SubagentStart",
		"SubagentStop", "PreCompact", "PostCompact", "SomethingNew"}
	var recs [][]byte
	for _, n := range names {
		recs = append(recs, fmt.Appendf(nil, `{"hook_event_name":%q,"session_id":"0b7e5c9a-3f1d-4e2a-9c6b-8d4f2a1e7b30","cwd":"/tmp/x"}`, n))
	}
	for i, o := range callAll(t, module(t), recs) {
		if o.Err != nil || len(o.Events) != 1 || o.Events[0].Kind != "hook."+names[i] {
			t.Errorf("%s: %v, %v", names[i], o.Events, o.Err)
		}
	}
}

// TestSalted checks that the hashes and sketches depend on the install: another secret, other
// values; the same secret, the same.
func TestSalted(t *testing.T) {
	rec := [][]byte{[]byte(`{"hook_event_name":"UserPromptSubmit","session_id":"s","cwd":"/Users/a/proj","prompt":"Refactor the parser to stream tokens"}`)}
	values := func(p *host.Plugin) []string {
		o := callAll(t, p, rec)
		if o[0].Err != nil {
			t.Fatal(o[0].Err)
		}
		var out []string
		for _, k := range []string{"prompt_hash", "project", "prompt_sketch"} {
			v, ok := o[0].Events[0].Attr(k)
			if !ok {
				t.Fatalf("no %s", k)
			}
			out = append(out, v.String())
		}
		return out
	}
	a, same := values(module(t)), values(loadModule(t, bytes.Clone(testSecret)))
	other := values(loadModule(t, bytes.Repeat([]byte{0x01}, 32)))
	if !slices.Equal(a, same) {
		t.Errorf("the same secret gave %v then %v", a, same)
	}
	for i := range a {
		if a[i] == other[i] {
			t.Errorf("two secrets gave the same value %s", a[i])
		}
	}
	// Without a secret, a record that needs a hash fails the call, saying why.
	p := loadModule(t, nil)
	if _, err := p.Call(context.Background(), "capture", rec); !errors.Is(err, host.ErrNoSecret) {
		t.Errorf("call without a secret = %v, want %v", err, host.ErrNoSecret)
	}
	// One that needs none does not ask for the salt.
	if o, err := p.Call(context.Background(), "capture", [][]byte{[]byte(`{"hook_event_name":"Stop"}`)}); err != nil || o[0].Err != nil {
		t.Errorf("hook without content, without a secret: %v, %v", o, err)
	}
}

// TestUsageMatchesCcusage checks the usage events of the transcripts against ccusage's report of
// them: deduplicated as ccusage does (by message id and request id, where Claude Code wrote a
// streamed response several times with growing counts; the copy with the most tokens is kept, as
// the usage rollup keeps it), their token counts per session are ccusage's exactly.
func TestUsageMatchesCcusage(t *testing.T) {
	type tokens struct{ Input, Output, CacheCreation, CacheRead int64 }
	type entry struct {
		session string
		tokens
	}
	var entries []*entry
	byKey := map[string]*entry{}
	p := module(t)
	for _, path := range transcriptFiles(t) {
		for _, o := range callAll(t, p, lines(t, path)) {
			for _, ev := range o.Events {
				if ev.Kind != kindUsage {
					continue
				}
				n := func(k string) int64 { v, _ := ev.Attr(k); return v.Int() }
				e := &entry{ev.SessionID, tokens{n("input_tokens"), n("output_tokens"), n("cache_creation_tokens"), n("cache_read_tokens")}}
				m, _ := ev.Attr("message_id")
				r, _ := ev.Attr("request_id")
				key := m.Ident() + "\x00" + r.Ident()
				if m.Ident() == "" || r.Ident() == "" {
					entries = append(entries, e)
					continue
				}
				sum := func(e *entry) int64 { return e.Input + e.Output + e.CacheCreation + e.CacheRead }
				if old := byKey[key]; old == nil {
					byKey[key] = e
					entries = append(entries, e)
				} else if sum(e) > sum(old) {
					*old = *e
				}
			}
		}
	}
	got := map[string]*tokens{}
	for _, e := range entries {
		tk := got[e.session]
		if tk == nil {
			tk = &tokens{}
			got[e.session] = tk
		}
		tk.Input += e.Input
		tk.Output += e.Output
		tk.CacheCreation += e.CacheCreation
		tk.CacheRead += e.CacheRead
	}
	data, err := os.ReadFile(filepath.Join(expectedDir, "ccusage-session.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Sessions []struct {
			SessionID                                                       string
			InputTokens, OutputTokens, CacheCreationTokens, CacheReadTokens int64
		}
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Sessions) == 0 || len(got) != len(want.Sessions) {
		t.Errorf("usage in %d sessions, ccusage reports %d", len(got), len(want.Sessions))
	}
	for _, s := range want.Sessions {
		w := tokens{s.InputTokens, s.OutputTokens, s.CacheCreationTokens, s.CacheReadTokens}
		if g := got[s.SessionID]; g == nil || *g != w {
			t.Errorf("session %s: tokens %+v, ccusage %+v", s.SessionID, g, w)
		}
	}
}

// TestLargeRecords checks that records near the host's payload limit (16 MiB) are reduced within
// the plugin's memory and deadline (plugin.toml's limits), one after another on one instance and
// together in one batch: a 15 MiB tool response full of escape sequences, an 8 MiB one, a 2 MiB
// prompt and a transcript line holding it.
func TestLargeRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("large records")
	}
	var words strings.Builder
	for i := 0; words.Len() < 2<<20; i++ {
		fmt.Fprintf(&words, "word%d, ", i%5000)
	}
	prompt, _ := json.Marshal(words.String())
	resp, _ := json.Marshal(map[string]any{"stdout": strings.Repeat("line of output with \"quotes\" and \\ escapes\n", 8<<20/44)})
	recs := [][]byte{
		fmt.Appendf(nil, `{"hook_event_name":"PostToolUse","tool_name":"Read","tool_input":{"file_path":"/a.go"},"tool_response":{"file":{"content":%q}},"cwd":"/x"}`,
			strings.Repeat("x\\ty\\n", 15<<20/6)),
		fmt.Appendf(nil, `{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{"command":"cat big.log"},"tool_response":%s,"cwd":"/x"}`, resp),
		fmt.Appendf(nil, `{"hook_event_name":"UserPromptSubmit","prompt":%s,"cwd":"/x"}`, prompt),
		fmt.Appendf(nil, `{"type":"user","cwd":"/x","message":{"role":"user","content":%s}}`, prompt),
	}
	p := loadModule(t, testSecret)
	check := func(out []host.Outcome) {
		t.Helper()
		for i, o := range out {
			if o.Err != nil || len(o.Events) != 1 {
				t.Fatalf("record %d: %v, %v", i, o.Events, o.Err)
			}
		}
		if v, _ := out[2].Events[0].Attr("prompt_words"); v.Int() < 200000 {
			t.Errorf("prompt_words = %d", v.Int())
		}
		if v, _ := out[0].Events[0].Attr("tool_response_bytes"); v.Int() < 15<<20 {
			t.Errorf("tool_response_bytes = %d", v.Int())
		}
	}
	var out []host.Outcome
	for i, r := range recs {
		o, err := p.Call(context.Background(), "capture", [][]byte{r})
		if err != nil {
			t.Fatalf("record %d alone: %v", i, err)
		}
		out = append(out, o...)
	}
	check(out)
	out, err := p.Call(context.Background(), "capture", recs[1:])
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	check(append([]host.Outcome{{Events: []sdk.Event{{Attrs: []sdk.Attr{sdk.Int("tool_response_bytes", 15<<20)}}}}}, out...))
	st := p.Status()
	t.Logf("%d calls in %v, at most %d MiB of memory", st.Calls, st.GuestTime, st.MaxMemoryBytes>>20)
}

// TestRawSizeFixtures checks rawSize against gjson's decoding on every string of the shared
// transcripts.
func TestRawSizeFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(projectsDir, "*", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no shared transcripts: %v", err)
	}
	var strs int
	var walk func(v gjson.Result)
	walk = func(v gjson.Result) {
		switch {
		case v.Type == gjson.String:
			strs++
			if got, want := rawSize(v.Raw), int64(len(v.Str)); got != want {
				t.Errorf("rawSize(%.40s...) = %d, want %d", v.Raw, got, want)
			}
		case v.IsObject() || v.IsArray():
			v.ForEach(func(_, e gjson.Result) bool { walk(e); return true })
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if l != "" {
				walk(gjson.Parse(l))
			}
		}
	}
	if strs < 1000 {
		t.Fatalf("only %d strings checked", strs)
	}
}
