package main

// The end-to-end test with the real Claude Code client: the pinned npm release (`just
// claude-code`) runs two prompts of one session against a fake Messages API that scripts the
// model's answers (tool calls that succeed and fail), with Hangar's hook installed by `agent
// install` on every event; then `agent import` reads its transcripts. The store must hold both
// sides of the session, joined by tool_use_id, with no content.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/claudesettings"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/sdk"
)

var recordSession = flag.Bool("record", false, "rewrite testdata/claude-code-session (at the repository root) from the real Claude Code session of TestRealClaudeCode")

// claudeCodeVersion is the Claude Code the test runs: the justfile's claude_code_version.
const claudeCodeVersion = "2.1.197"

// installedClaudeCode is where `just claude-code` installs Claude Code, from this package's
// directory.
const installedClaudeCode = "../../.cache/claude-code/node_modules/.bin/claude"

// sessionRecording is where -record writes the recorded session, from this package's directory.
const sessionRecording = "../../testdata/claude-code-session"

var claudeCodeOnce struct {
	sync.Once
	err error
	out []byte
}

// needClaudeCode returns the pinned Claude Code binary, installing it as `just claude-code` does
// when npm is on PATH and it is missing. With -short the test is skipped instead, as the other
// tests of npm tools are; without npm it fails and says how to install it.
func needClaudeCode(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real Claude Code from npm (`just claude-code`): not with -short")
	}
	bin, err := filepath.Abs(installedClaudeCode)
	if err != nil {
		t.Fatal(err)
	}
	want := claudeCodeVersion + " (Claude Code)"
	version := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, bin, "--version").Output()
		return strings.TrimSpace(string(out))
	}
	if version() == want {
		return bin
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatalf("Claude Code %s is not in %s and npm is not on PATH to install it: run `just claude-code`", claudeCodeVersion, installedClaudeCode)
	}
	claudeCodeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", "../../.cache/claude-code", "--no-audit", "--no-fund",
			"--loglevel=error", "@anthropic-ai/claude-code@"+claudeCodeVersion)
		claudeCodeOnce.out, claudeCodeOnce.err = cmd.CombinedOutput()
	})
	if claudeCodeOnce.err != nil {
		t.Fatalf("install Claude Code %s (as `just claude-code` does): %v\n%s", claudeCodeVersion, claudeCodeOnce.err, claudeCodeOnce.out)
	}
	if got := version(); got != want {
		t.Fatalf("%s --version = %q after npm install, want %q: run `just claude-code`", installedClaudeCode, got, want)
	}
	return bin
}

// apiRequest is what the fake Messages API saw of one request.
type apiRequest struct {
	Method, Path string
	Model        string
	Stream       bool
	Tools        int
	Answer       string // what the fake answered: a step of the script, "side", or an error
}

func (r apiRequest) String() string {
	s := r.Method + " " + r.Path
	if r.Model != "" {
		s += fmt.Sprintf(" model=%s stream=%v tools=%d", r.Model, r.Stream, r.Tools)
	}
	return s + " -> " + r.Answer
}

// toolStep is one tool use the fake model asks for.
type toolStep struct {
	id, name string
	input    map[string]any
}

// turnScript is the fake model's side of one prompt: the tool uses it asks for, one per answer, in
// order, then its final text.
type turnScript struct {
	marker string // a word only this turn's prompt holds
	steps  []toolStep
	final  string
}

// fakeAPI is a Messages API that plays scripted turns: an answer to a request of the main loop (one
// that offers tools) is the turn's first tool use whose result the conversation does not hold yet,
// or its final text once all are answered. Other requests (titles, topics, quota checks) get a
// short text; count_tokens a count; anything else a 404 in the API's error shape.
type fakeAPI struct {
	turns []turnScript // later turns first: a later prompt's request holds the earlier ones

	mu       sync.Mutex
	requests []apiRequest
	n        int
}

func (f *fakeAPI) record(r apiRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r)
}

func (f *fakeAPI) seen() []apiRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeAPI) nextID() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return f.n
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	req := apiRequest{Method: r.Method, Path: r.URL.Path}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens":
		req.Answer = "count"
		f.record(req)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"input_tokens":1200}`)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		var m struct {
			Model  string            `json:"model"`
			Stream bool              `json:"stream"`
			Tools  []json.RawMessage `json:"tools"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			req.Answer = "400 " + err.Error()
			f.record(req)
			apiError(w, http.StatusBadRequest, "invalid_request_error", "bad JSON")
			return
		}
		req.Model, req.Stream, req.Tools = m.Model, m.Stream, len(m.Tools)
		var blocks []map[string]any
		stop := "end_turn"
		if len(m.Tools) == 0 {
			req.Answer = "side"
			blocks = []map[string]any{{"type": "text", "text": "Fake session title"}}
		} else {
			step, final, name := f.plan(body)
			req.Answer = name
			if step != nil {
				stop = "tool_use"
				blocks = []map[string]any{
					{"type": "text", "text": "Running a step."},
					{"type": "tool_use", "id": step.id, "name": step.name, "input": step.input},
				}
			} else {
				blocks = []map[string]any{{"type": "text", "text": final}}
			}
		}
		f.record(req)
		f.answer(w, m.Model, m.Stream, blocks, stop)
	default:
		req.Answer = "404"
		f.record(req)
		apiError(w, http.StatusNotFound, "not_found_error", "not found")
	}
}

// plan returns the next tool use of the turn whose marker the request holds, or its final text.
func (f *fakeAPI) plan(body []byte) (*toolStep, string, string) {
	for _, turn := range f.turns {
		if !bytes.Contains(body, []byte(turn.marker)) {
			continue
		}
		for i := range turn.steps {
			// A tool_result block names its tool use: "tool_use_id":"<id>".
			if !bytes.Contains(body, []byte(`"tool_use_id":"`+turn.steps[i].id+`"`)) {
				return &turn.steps[i], "", turn.steps[i].name + " " + turn.steps[i].id
			}
		}
		return nil, turn.final, "final text"
	}
	return nil, "I have nothing scripted for this.", "unscripted text"
}

// answer writes a message of blocks, as server-sent events when stream is set.
func (f *fakeAPI) answer(w http.ResponseWriter, model string, stream bool, blocks []map[string]any, stop string) {
	n := f.nextID()
	id := fmt.Sprintf("msg_01FakeRealClaude%06d", n)
	w.Header().Set("request-id", fmt.Sprintf("req_01FakeRealClaude%06d", n))
	usage := map[string]any{"input_tokens": 1000 + n, "output_tokens": 20 + n, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 500}
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": id, "type": "message", "role": "assistant", "model": model,
			"content": blocks, "stop_reason": stop, "stop_sequence": nil, "usage": usage})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	event := func(name string, data any) {
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	}
	startUsage := map[string]any{"input_tokens": usage["input_tokens"], "output_tokens": 1,
		"cache_creation_input_tokens": usage["cache_creation_input_tokens"], "cache_read_input_tokens": usage["cache_read_input_tokens"]}
	event("message_start", map[string]any{"type": "message_start", "message": map[string]any{"id": id, "type": "message",
		"role": "assistant", "model": model, "content": []any{}, "stop_reason": nil, "stop_sequence": nil, "usage": startUsage}})
	for i, b := range blocks {
		switch b["type"] {
		case "text":
			event("content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": map[string]any{"type": "text", "text": ""}})
			event("content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": map[string]any{"type": "text_delta", "text": b["text"]}})
		case "tool_use":
			event("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": map[string]any{"type": "tool_use", "id": b["id"], "name": b["name"], "input": map[string]any{}}})
			in, _ := json.Marshal(b["input"])
			event("content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": map[string]any{"type": "input_json_delta", "partial_json": string(in)}})
		}
		event("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})
	}
	event("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": usage["output_tokens"]}})
	event("message_stop", map[string]any{"type": "message_stop"})
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
}

func apiError(w http.ResponseWriter, code int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]any{"type": kind, "message": msg}})
}

// claudeRun is one `claude -p` run's stream-json output.
type claudeRun struct {
	sessionID string
	lines     []map[string]any
	stderr    string
}

// runClaude runs Claude Code non-interactively on prompt in dir with env, at most timeout, and
// returns its stream-json messages.
func runClaude(t *testing.T, bin, dir string, env []string, timeout time.Duration, prompt string, extra ...string) claudeRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"-p", prompt, "--output-format", "stream-json", "--verbose", "--include-hook-events",
		"--model", "claude-sonnet-4-5"}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = nil
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Start()
	if err == nil {
		// Whatever Claude Code leaves running in its process group (a hook it did not wait for)
		// goes at the end of the test.
		pgid := cmd.Process.Pid
		t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGKILL) })
		err = cmd.Wait()
	}
	run := claudeRun{stderr: stderr.String()}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			t.Logf("claude stdout (not JSON): %s", clipString(sc.Text(), 300))
			continue
		}
		run.lines = append(run.lines, m)
		if id, ok := m["session_id"].(string); ok && run.sessionID == "" {
			run.sessionID = id
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("claude did not finish within %v\nstdout: %s\nstderr: %s", timeout, clipString(stdout.String(), 4000), clipString(stderr.String(), 2000))
	}
	if err != nil {
		t.Fatalf("claude: %v\nstdout: %s\nstderr: %s", err, clipString(stdout.String(), 4000), clipString(stderr.String(), 2000))
	}
	t.Logf("claude -p ran in %v: %d messages", time.Since(start).Round(time.Millisecond), len(run.lines))
	return run
}

// TestRealClaudeCode runs a session of the real Claude Code against a fake Messages API, with
// Hangar's hook installed by `agent install` on every event and a daemon running, then imports the
// session's transcripts. The store holds the hooks and the transcript lines of the session; the
// tool_use_id of hook.PreToolUse and hook.PostToolUse(Failure) equals that of transcript.tool_use
// and transcript.tool_result of the same tool use; the failed tool uses carry error_kind; every
// hook exited 0 and printed nothing; and no canary planted in the prompts, the commands, the file
// paths and contents, the working directory and the model's text is anywhere in the data dir.
//
// The script: a first run (bypassPermissions) runs Bash, Write and a subagent (Agent, whose Bash
// is a sidechain tool use), then a second run resumes the session asking before it writes: Bash
// exits 3, Read misses its file, and Claude Code denies a Write, having no one to ask.
//
// With -record it writes the hook payloads, as Claude Code gave them on stdin, and the transcripts
// into testdata/claude-code-session at the repository root.
func TestRealClaudeCode(t *testing.T) {
	bin := needClaudeCode(t)
	var pl planter
	root := t.TempDir()
	work := filepath.Join(root, "work-"+pl.canary()) // the project: its path is in every payload
	config := filepath.Join(root, "claude-config")
	home := filepath.Join(root, "home")
	recDir := filepath.Join(root, "hook-payloads")
	for _, d := range []string{work, config, home, recDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dataDir := newDataDir(t)

	prompt1 := "Say hello with the shell, then write a note. " + pl.canary()
	prompt2 := "Now look at what failed. " + pl.canary()
	echoArg, noteName, noteText, missing, lsArg := pl.canary(), pl.canary()+"-notes.txt", pl.canary(), pl.canary()+"-missing.txt", pl.canary()
	subPrompt, subEcho := "Count the notes in the folder. "+pl.canary(), pl.canary()
	denied, deniedText := pl.canary()+"-denied.md", pl.canary()
	api := &fakeAPI{turns: []turnScript{
		{marker: prompt2[len(prompt2)-16:], final: "Both failed as expected. " + pl.canary(), steps: []toolStep{
			{id: "toolu_01RealClaudeBashFail01", name: "Bash", input: map[string]any{"command": "ls " + lsArg + " >/dev/null 2>&1; exit 3", "description": "Fail on purpose"}},
			{id: "toolu_01RealClaudeReadMiss01", name: "Read", input: map[string]any{"file_path": filepath.Join(work, missing)}},
			{id: "toolu_01RealClaudeWriteDeny1", name: "Write", input: map[string]any{"file_path": filepath.Join(work, denied), "content": deniedText + "\n"}},
		}},
		{marker: prompt1[len(prompt1)-16:], final: "Done: said hello and wrote the note. " + pl.canary(), steps: []toolStep{
			{id: "toolu_01RealClaudeBashEcho01", name: "Bash", input: map[string]any{"command": "echo hello " + echoArg, "description": "Say hello"}},
			{id: "toolu_01RealClaudeWriteNote1", name: "Write", input: map[string]any{"file_path": filepath.Join(work, noteName), "content": noteText + "\nsecond line\n"}},
			{id: "toolu_01RealClaudeAgentSub01", name: "Agent", input: map[string]any{"description": "Count the notes", "prompt": subPrompt, "subagent_type": "general-purpose"}},
		}},
		// The subagent's requests hold its prompt, and none of the session's.
		{marker: subPrompt[len(subPrompt)-16:], final: "There is one note. " + pl.canary(), steps: []toolStep{
			{id: "toolu_01RealClaudeSubEcho01", name: "Bash", input: map[string]any{"command": "echo counting " + subEcho, "description": "Count"}},
		}},
	}}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	// The hooks: Hangar's, as `agent install` writes them, then a recorder of each payload.
	installEnv := append(childEnv(), "CLAUDE_CONFIG_DIR="+config, "HOME="+home)
	res := runAgent(t, installEnv, nil, 30*time.Second, "install", "claude-code", "--yes", "--no-service", "--data-dir", dataDir)
	if res.code != 0 {
		t.Fatalf("agent install: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	recorder := filepath.Join(root, "record-hook.sh")
	script := "#!/bin/sh\ncat > \"$1/$(date +%s%N).$$.json\"\n"
	if err := os.WriteFile(recorder, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	addRecorder(t, filepath.Join(config, "settings.json"), recorder+" "+recDir)

	d := startDaemon(t, dataDir, childEnv())
	claudeEnv := append(childEnv(),
		"CLAUDE_CONFIG_DIR="+config, "HOME="+home,
		"ANTHROPIC_BASE_URL="+srv.URL, "ANTHROPIC_API_KEY=sk-ant-fake-key-for-tests",
		"IS_SANDBOX=1", "DISABLE_AUTOUPDATER=1", "DISABLE_TELEMETRY=1", "DISABLE_ERROR_REPORTING=1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
	start := time.Now()
	first := runClaude(t, bin, work, claudeEnv, 2*time.Minute, prompt1, "--dangerously-skip-permissions")
	if first.sessionID == "" {
		t.Fatalf("no session_id in Claude Code's output")
	}
	// The second run asks before it writes: with no one to ask (-p), Claude Code denies the write.
	second := runClaude(t, bin, work, claudeEnv, 2*time.Minute, prompt2, "--resume", first.sessionID,
		"--permission-mode", "default", "--allowedTools", "Bash Read")
	t.Logf("two prompts in %v; the fake API answered:", time.Since(start).Round(time.Millisecond))
	for _, r := range api.seen() {
		t.Logf("  %s", r)
	}
	if second.sessionID != first.sessionID {
		t.Fatalf("--resume ran session %s, want %s", second.sessionID, first.sessionID)
	}
	session := first.sessionID
	cancelled := checkHookResponses(t, first, second)

	// The recorded payloads are what Claude Code gave every hook: the canaries are in them, and
	// Hangar's hooks (each given the same payloads) reach the daemon.
	payloads := readRecorded(t, recDir)
	transcripts := findTranscripts(t, config)
	if len(payloads) == 0 || len(transcripts) == 0 {
		t.Fatalf("recorded %d hook payloads and %d transcripts, want some of each", len(payloads), len(transcripts))
	}
	t.Logf("transcripts: %v", transcripts)
	checkHasCanary(t, "the recorded hook payloads", payloads)
	checkHasCanary(t, "the transcripts", transcripts)
	recorded := map[string]int{}
	for _, p := range payloads {
		recorded[p.event]++
	}
	wantHooks := 0
	for event, n := range recorded {
		if slices.Contains(claudesettings.Events, event) {
			wantHooks += n - cancelled[event]
		}
	}
	t.Logf("hook payloads by event: %v", recorded)
	waitFor(t, 30*time.Second, func() string {
		if got := hookEvents(apiStatus(t, dataDir)); got < wantHooks {
			return fmt.Sprintf("the daemon stored %d hook events, want at least %d (%v payloads, Claude Code cancelled %v)", got, wantHooks, recorded, cancelled)
		}
		return ""
	})
	sum := runImport(t, childEnv(), "--data-dir", dataDir, "--source", config)
	if !sum.Daemon || sum.Files != int64(len(transcripts)) || sum.Failed != 0 || sum.DeadLettered != 0 || sum.Stored == 0 {
		t.Errorf("agent import: %+v, want %d files stored through the daemon, none failed or dead-lettered", sum, len(transcripts))
	}
	waitSettled(t, dataDir, 30*time.Second)
	if st := apiStatus(t, dataDir); st.DLQSize != 0 {
		t.Errorf("the daemon dead-lettered %d records", st.DLQSize)
	}
	checkConversation(t, dataDir, session)
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("agent run exited %d\n%s", code, d.stderr.String())
	}
	if log, err := os.ReadFile(filepath.Join(dataDir, "logs", "hook.log")); err == nil {
		t.Errorf("the hook logged errors:\n%s", log)
	}

	events := storedEvents(t, dataDir)
	checkSession(t, events, session, 2, recorded, cancelled)
	checkToolUses(t, events, session)
	scanFilesForCanaries(t, dataDir, "after the real Claude Code session")
	scanStoreForCanaries(t, dataDir)

	if *recordSession {
		for event, want := range sessionHooks {
			if recorded[event] != want {
				t.Fatalf("not recording an incomplete session: %d %s payloads, want %d (Claude Code cut a hook short as it exited?): run -record again", recorded[event], event, want)
			}
		}
		writeRecording(t, session, payloads, config, transcripts)
	}
}

// checkHookResponses checks Claude Code's report of every hook it ran (--include-hook-events): each
// exited 0 and printed nothing on stdout or stderr. Claude Code cancels the asynchronous hooks
// still running when a `-p` run ends (outcome "cancelled"); it returns how many, by event.
func checkHookResponses(t *testing.T, runs ...claudeRun) map[string]int {
	t.Helper()
	started, responded, cancelled := 0, 0, map[string]int{}
	for _, run := range runs {
		for _, m := range run.lines {
			if m["type"] != "system" {
				continue
			}
			switch m["subtype"] {
			case "hook_started":
				started++
			case "hook_response":
				responded++
				if m["outcome"] == "cancelled" {
					cancelled[fmt.Sprint(m["hook_event"])]++
					t.Logf("Claude Code cancelled a %v hook at the end of its run", m["hook_event"])
					continue
				}
				if m["outcome"] != "success" || m["exit_code"] != float64(0) || m["stdout"] != "" || m["stderr"] != "" || m["output"] != "" {
					b, _ := json.Marshal(m)
					t.Errorf("a hook did not exit 0 silently: %s", b)
				}
			}
		}
	}
	if started == 0 || responded == 0 {
		t.Errorf("Claude Code reported %d hooks started and %d responses, want some", started, responded)
	}
	t.Logf("Claude Code ran %d hooks: %d responses, cancelled %v", started, responded, cancelled)
	return cancelled
}

// hookPayload is one payload a hook was given on stdin.
type hookPayload struct {
	event string
	raw   []byte
}

// readRecorded returns the payloads the recorder hook saved, in the order they came.
func readRecorded(t *testing.T, dir string) []hookPayload {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files) // named by the time in nanoseconds: the order they came in
	var out []hookPayload
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			Event string `json:"hook_event_name"`
		}
		if err := json.Unmarshal(raw, &head); err != nil || head.Event == "" {
			t.Fatalf("recorded hook payload %s: no hook_event_name (%v): %s", f, err, clipString(string(raw), 300))
		}
		out = append(out, hookPayload{event: head.Event, raw: raw})
	}
	return out
}

// findTranscripts returns the transcripts under config/projects, relative to config.
func findTranscripts(t *testing.T, config string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(config, "projects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".jsonl") {
			rel, _ := filepath.Rel(config, p)
			out = append(out, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkHasCanary fails the test unless what holds a canary: the privacy scan proves nothing if
// the canaries never reached Hangar.
func checkHasCanary[T hookPayload | string](t *testing.T, what string, items []T) {
	t.Helper()
	for _, it := range items {
		var b []byte
		switch v := any(it).(type) {
		case hookPayload:
			b = v.raw
		case string:
			b = []byte(v) // a transcript's path: its project folder is named after the canaried cwd
		}
		if bytes.Contains(b, []byte(canaryMark)) {
			return
		}
	}
	t.Errorf("%s hold no canary", what)
}

// hookEvents is how many hook events the daemon has stored.
func hookEvents(st daemon.Status) int {
	n := 0
	for _, k := range st.ByKind {
		if strings.HasPrefix(k.Kind, "hook.") {
			n += int(k.Count)
		}
	}
	return n
}

// storedEvent is an event of the store, copied.
type storedEvent struct {
	kind, session string
	attrs         map[string]sdk.Value
}

// storedEvents returns every event of the data dir's store, in log order. No daemon may run.
func storedEvents(t *testing.T, dataDir string) []storedEvent {
	t.Helper()
	s := openStore(t, dataDir)
	defer s.Close()
	var out []storedEvent
	_, err := s.ReadLog(0, 1<<30, func(_ uint64, ev *sdk.Event) error {
		e := storedEvent{kind: ev.Kind, session: ev.SessionID, attrs: map[string]sdk.Value{}}
		for _, a := range ev.Attrs {
			e.attrs[a.Key] = a.Value
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sessionHooks are the hook payloads Claude Code 2.1.197 gives in the script's session, by event:
// two runs of `claude -p`, seven tool uses (one the subagent's), two failed, one denied, one
// subagent.
// SessionEnd hooks can be cut short as a run exits: at most two.
var sessionHooks = map[string]int{
	"SessionStart": 2, "UserPromptSubmit": 2, "PreToolUse": 7, "PostToolUse": 4, "PostToolUseFailure": 2,
	"SubagentStart": 1, "SubagentStop": 1, "Stop": 2, "SessionEnd": 2,
}

// checkSession checks that the store holds both sides of the session: a hook event of every
// payload the hooks were given (less those Claude Code cancelled), and the transcript's lines.
func checkSession(t *testing.T, events []storedEvent, session string, runs int, recorded, cancelled map[string]int) {
	t.Helper()
	kinds := map[string]int{}
	for _, e := range events {
		if e.session != session {
			t.Errorf("a %s event of session %q, want %q", e.kind, e.session, session)
		}
		kinds[e.kind]++
	}
	t.Logf("stored events by kind: %v", kinds)
	for event, n := range recorded {
		got := kinds["hook."+event]
		if !slices.Contains(claudesettings.Events, event) {
			if got != 0 {
				t.Errorf("hook.%s: %d events, and Hangar has no hook there", event, got)
			}
			continue
		}
		if event == "SessionEnd" {
			// Claude Code gives SessionEnd hooks little time as a `-p` run exits, and says
			// nothing of them: either hook may be cut short.
			if got > runs {
				t.Errorf("hook.SessionEnd: %d events, want at most one a run", got)
			}
			continue
		}
		if got > n || got < n-cancelled[event] {
			t.Errorf("hook.%s: %d events, want %d (the payloads given), less at most the %d hooks Claude Code cancelled", event, got, n, cancelled[event])
		}
	}
	// The script's session, as Claude Code 2.1.197 reports it to its hooks.
	for event, want := range sessionHooks {
		if recorded[event] != want && (event != "SessionEnd" || recorded[event] > want) {
			t.Errorf("Claude Code gave the hooks %d %s payloads, want %d", recorded[event], event, want)
		}
	}
	sidechain := 0
	for _, e := range events {
		if strings.HasPrefix(e.kind, "transcript.") && e.attrs["sidechain"].Bool() {
			sidechain++
		}
	}
	if sidechain < 4 { // the subagent's prompt, its tool use and result, its answer
		t.Errorf("%d transcript events of the subagent (sidechain), want at least 4", sidechain)
	}
	for kind, min := range map[string]int{
		"transcript.user": 10, "transcript.assistant": 17, "transcript.usage": 17,
		"transcript.tool_use": 7, "transcript.tool_result": 7,
	} {
		if kinds[kind] < min {
			t.Errorf("%s: %d events, want at least %d", kind, kinds[kind], min)
		}
	}
	// A prompt's hook and its transcript line join by prompt_hash.
	lines := map[string]bool{}
	for _, e := range events {
		if v, ok := e.attrs["prompt_hash"]; ok && e.kind == "transcript.user" {
			lines[v.HashString()] = true
		}
	}
	for _, e := range events {
		if v, ok := e.attrs["prompt_hash"]; e.kind == "hook.UserPromptSubmit" && (!ok || !lines[v.HashString()]) {
			t.Errorf("hook.UserPromptSubmit prompt_hash %v is on no transcript.user line (%d prompt lines)", v, len(lines))
		}
	}
}

// toolUse is what the store says of one tool use, from both sides.
type toolUse struct {
	name                   map[string]string // by event kind
	pre, post, use, result int
	hookErr, lineErr       string // error_kind of the hook and of the transcript's result
	hookOK, lineIsErr      bool
	sidechain              bool // the transcript's tool_use line is the subagent's
	// The reductions of the tool's input, by event kind: the hook's and the transcript's agree.
	input map[string]string
}

// inputAttrs are the reductions of a tool's input that hooks and transcript lines share (C1).
var inputAttrs = []string{"operation", "file_ext", "lines_added", "lines_removed", "command", "command_kind", "mcp_server"}

// inputOf returns e's reductions of its tool's input, as one string.
func inputOf(e storedEvent) string {
	var parts []string
	for _, k := range inputAttrs {
		if v, ok := e.attrs[k]; ok {
			parts = append(parts, k+"="+v.String())
		}
	}
	return strings.Join(parts, " ")
}

// checkToolUses checks that the seven tool uses of the script join by tool_use_id across hooks and
// transcript lines, with the same tool name, and that the failed ones carry their error_kind on
// both sides.
func checkToolUses(t *testing.T, events []storedEvent, session string) {
	t.Helper()
	uses := map[string]*toolUse{}
	get := func(e storedEvent) *toolUse {
		v, ok := e.attrs["tool_use_id"]
		if !ok || v.Kind() != sdk.KindHash {
			t.Errorf("%s has no tool_use_id hash: %v", e.kind, e.attrs)
			return &toolUse{name: map[string]string{}, input: map[string]string{}}
		}
		id := v.String()
		if strings.HasPrefix(id, "toolu_") {
			t.Errorf("%s keeps the tool use id %s as Claude Code wrote it, want the salted join key", e.kind, id)
		}
		if uses[id] == nil {
			uses[id] = &toolUse{name: map[string]string{}, input: map[string]string{}}
		}
		u := uses[id]
		if n, ok := e.attrs["tool_name"]; ok {
			u.name[e.kind] = n.Ident()
		}
		return u
	}
	for _, e := range events {
		switch e.kind {
		case "hook.PreToolUse":
			u := get(e)
			u.pre++
			u.input[e.kind] = inputOf(e)
		case "hook.PostToolUse", "hook.PostToolUseFailure":
			u := get(e)
			u.post++
			u.hookOK = e.attrs["success"].Bool()
			u.hookErr = e.attrs["error_kind"].Ident()
			// Claude Code 2.1 gives the tool's duration at the payload's top level.
			if d, ok := e.attrs["duration_ms"]; !ok || d.Kind() != sdk.KindInt || d.Int() < 0 {
				t.Errorf("%s of %s has no duration_ms: %v", e.kind, e.attrs["tool_name"], e.attrs)
			}
		case "transcript.tool_use":
			u := get(e)
			u.use++
			u.sidechain = e.attrs["sidechain"].Bool()
			u.input[e.kind] = inputOf(e)
		case "transcript.tool_result":
			u := get(e)
			u.result++
			u.lineIsErr = e.attrs["is_error"].Bool()
			u.lineErr = e.attrs["error_kind"].Ident()
		}
	}
	type summary struct {
		tool                   string
		pre, post, use, result int
		hookOK, lineIsErr      bool
		hookErr, lineErr       string
		sidechain              bool
		input                  string
	}
	var got []summary
	for id, u := range uses {
		tool := u.name["transcript.tool_use"]
		for kind, n := range u.name {
			if n != tool {
				t.Errorf("tool use %s: %s says tool %s, transcript.tool_use %s", id, kind, n, tool)
			}
		}
		in := u.input["transcript.tool_use"]
		if hook := u.input["hook.PreToolUse"]; hook != in {
			t.Errorf("tool use %s: hook.PreToolUse reduces its input to %q, transcript.tool_use to %q", id, hook, in)
		}
		got = append(got, summary{tool, u.pre, u.post, u.use, u.result, u.hookOK, u.lineIsErr, u.hookErr, u.lineErr, u.sidechain, in})
	}
	sort.Slice(got, func(i, j int) bool { return fmt.Sprint(got[i]) < fmt.Sprint(got[j]) })
	want := []summary{
		{tool: "Bash", pre: 1, post: 1, use: 1, result: 1, hookOK: false, lineIsErr: true, hookErr: "exit_code", lineErr: "exit_code", input: "operation=shell command=ls"},
		{tool: "Bash", pre: 1, post: 1, use: 1, result: 1, hookOK: true, input: "operation=shell command=echo"},
		{tool: "Read", pre: 1, post: 1, use: 1, result: 1, hookOK: false, lineIsErr: true, hookErr: "not_found", lineErr: "not_found", input: "operation=read file_ext=txt"},
		{tool: "Write", pre: 1, post: 1, use: 1, result: 1, hookOK: true, input: "operation=write file_ext=txt lines_added=2 lines_removed=0"},
		{tool: "Agent", pre: 1, post: 1, use: 1, result: 1, hookOK: true, input: "operation=task"},
		{tool: "Bash", pre: 1, post: 1, use: 1, result: 1, hookOK: true, sidechain: true, input: "operation=shell command=echo"},
		// Denied for want of a grant, with no one to ask: a PreToolUse and nothing after it (no
		// PermissionRequest either), and an error result in the transcript.
		{tool: "Write", pre: 1, post: 0, use: 1, result: 1, hookOK: false, lineIsErr: true, lineErr: "permission", input: "operation=write file_ext=md lines_added=1 lines_removed=0"},
	}
	sort.Slice(want, func(i, j int) bool { return fmt.Sprint(want[i]) < fmt.Sprint(want[j]) })
	if !slices.Equal(got, want) {
		t.Errorf("tool uses joined by tool_use_id:\n got %+v\nwant %+v", got, want)
	}
}

// otherHookEvents are the hook events of Claude Code 2.1.197 that `agent install` does not hook
// (from the client's own list), less WorktreeCreate and WorktreeRemove, whose hooks replace what
// Claude Code does: the recorder records them too, to show which of them a session fires.
var otherHookEvents = []string{
	"PermissionDenied", "UserPromptExpansion", "Setup", "TeammateIdle", "TaskCreated", "TaskCompleted",
	"Elicitation", "ElicitationResult", "ConfigChange", "InstructionsLoaded", "CwdChanged", "FileChanged",
	"MessageDisplay",
}

// addRecorder adds a command hook that runs command to every event of Claude Code's settings file
// that has hooks, in the same group as Hangar's entry, and to otherHookEvents.
func addRecorder(t *testing.T, settings, command string) {
	t.Helper()
	data, err := os.ReadFile(settings)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	hooks, _ := s["hooks"].(map[string]any)
	if len(hooks) == 0 {
		t.Fatalf("agent install wrote no hooks into %s:\n%s", settings, data)
	}
	entry := map[string]any{"type": "command", "command": command, "timeout": 10}
	for _, groups := range hooks {
		for _, g := range groups.([]any) {
			g := g.(map[string]any)
			g["hooks"] = append(g["hooks"].([]any), entry)
		}
	}
	for _, event := range otherHookEvents {
		if hooks[event] != nil {
			t.Fatalf("agent install hooks %s now: take it out of otherHookEvents", event)
		}
		hooks[event] = []any{map[string]any{"hooks": []any{entry}}}
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(settings, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeRecording replaces testdata/claude-code-session with the session: the hook payloads, one
// JSON array per event in the order they came, each payload the bytes Claude Code wrote on the
// hook's stdin; and the transcripts, under projects/ as Claude Code laid them out.
func writeRecording(t *testing.T, session string, payloads []hookPayload, config string, transcripts []string) {
	t.Helper()
	out, err := filepath.Abs(sessionRecording)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"hooks", "projects", "README.md"} {
		if err := os.RemoveAll(filepath.Join(out, sub)); err != nil {
			t.Fatal(err)
		}
	}
	byEvent := map[string][][]byte{}
	for _, p := range payloads {
		byEvent[p.event] = append(byEvent[p.event], bytes.TrimRight(p.raw, "\n"))
	}
	for event, raws := range byEvent {
		doc := append(append([]byte("[\n"), bytes.Join(raws, []byte(",\n"))...), "\n]\n"...)
		if !json.Valid(doc) {
			t.Fatalf("the %s payloads do not make a JSON array", event)
		}
		writeFile(t, filepath.Join(out, "hooks", event+".json"), doc)
	}
	for _, rel := range transcripts {
		data, err := os.ReadFile(filepath.Join(config, rel))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(out, rel), data)
	}
	var events []string
	for event, raws := range byEvent {
		events = append(events, fmt.Sprintf("%s (%d)", event, len(raws)))
	}
	sort.Strings(events)
	readme := fmt.Sprintf(recordingReadme, claudeCodeVersion, strings.Join(events, ", "), session, canaryMark)
	writeFile(t, filepath.Join(out, "README.md"), []byte(readme))
	t.Logf("recorded %d hook payloads and %d transcripts into %s", len(payloads), len(transcripts), out)
}

// recordingReadme is testdata/claude-code-session/README.md: the Claude Code version, the
// payloads by event, the session id, the canary mark.
const recordingReadme = `# A real Claude Code session

One session of the real Claude Code client, version %s (the npm package
@anthropic-ai/claude-code, as ` + "`just claude-code`" + ` installs it), recorded by
` + "`go test -run TestRealClaudeCode -record ./cmd/agent/`" + ` (cmd/agent/realclaude_test.go), which
rewrites this folder. Do not edit it by hand.

## How it was made

Claude Code ran offline against a fake Messages API (an httptest server of the test that scripts
the model's answers), non-interactively (` + "`-p`" + `, ` + "`--output-format stream-json`" + `), with a
CLAUDE_CONFIG_DIR of its own and Hangar's hooks installed by ` + "`agent install claude-code`" + ` on every
event, beside a recorder hook that saved each payload from its stdin; the recorder also hooked the
events Hangar does not (PermissionDenied, InstructionsLoaded and others: otherHookEvents in the
test), so their files show which of them the session fired. Two prompts of one session:

1. With ` + "`--dangerously-skip-permissions`" + ` (permission mode bypassPermissions): the model runs Bash
   ` + "`echo hello ...`" + `, Write of a small file in the working folder, then the Agent tool (a
   general-purpose subagent, which runs Bash ` + "`echo counting ...`" + ` and answers), then answers in
   text.
2. The session resumed (` + "`--resume <session>`" + `) in permission mode default, with Bash and Read
   allowed: Bash that exits 3 (PostToolUseFailure, "Exit code 3"), Read of a file that does not
   exist (PostToolUseFailure, "File does not exist"), Write of a new file, which Claude Code denies
   with no one to ask (a PreToolUse and no other hook; in the transcript an error result, "Claude
   requested permissions to write to ..., but you haven't granted it yet."), then text.

## Contents

- ` + "`hooks/<Event>.json`" + `: a JSON array of the payloads Claude Code gave the hooks of that event, in
  the order they came, each element byte for byte what the hook read on its stdin:
  %s.
- ` + "`projects/<folder>/<session>.jsonl`" + `: the session's transcript (session
  %s), and ` + "`projects/<folder>/<session>/subagents/agent-<id>.jsonl`" + `, the
  subagent's, as Claude Code wrote them into CLAUDE_CONFIG_DIR/projects.

The paths in them (cwd, transcript_path, file paths, the project folder's name) are the test's temp
folders, nothing of a real machine; the token counts are the fake API's. Every piece of content
(the prompts, the commands' arguments, the files' names and text, the working folder's name, the
model's text) holds a canary, %s followed by 6 digits: a privacy test can look for it in
whatever Hangar stores or derives from these files. The tool use ids (toolu_01RealClaude...) and
the message and request ids (msg_01FakeRealClaude..., req_01FakeRealClaude...) are the script's.
`

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkConversation checks what the first-party conversations plugin, run by the daemon, made of
// the session: one conversation from its hooks and its transcripts together (source "both"), each
// of its seven tool uses once, though hooks and transcript lines each saw it, with the outcome
// the script gave it.
func checkConversation(t *testing.T, dataDir, session string) {
	t.Helper()
	res := agentOK(t, dataDir, "analyze", session, "--json")
	var a analysis
	if err := json.Unmarshal([]byte(res.stdout), &a); err != nil {
		t.Fatalf("agent analyze --json: %v\n%s", err, res.stdout)
	}
	if a.Session.Source != "both" || a.Session.ToolCalls != 7 || a.Session.Turns < 2 {
		t.Errorf("session %+v, want source both, 7 tool calls and at least 2 turns", a.Session)
	}
	var tools []toolRow
	for _, turn := range a.Turns {
		tools = append(tools, turn.Tools...)
	}
	ids := map[string]bool{}
	var errorKinds []string
	ok := 0
	for _, tool := range tools {
		ids[tool.ToolUseID] = true
		switch tool.Status {
		case "ok":
			ok++
		case "error":
			errorKinds = append(errorKinds, tool.ErrorKind)
		}
	}
	slices.Sort(errorKinds)
	if len(tools) != 7 || len(ids) != 7 || ok != 4 || !slices.Equal(errorKinds, []string{"exit_code", "not_found", "permission"}) {
		t.Errorf("tools %+v: want 7 distinct tool uses, 4 ok, and errors exit_code, not_found, permission; got %d distinct, %d ok, errors %v", tools, len(ids), ok, errorKinds)
	}
}
