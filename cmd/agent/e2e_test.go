package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// TestConcurrentHooks runs 50 hook processes at once against a running daemon, each with a
// different real payload: all 50 are stored, once each.
func TestConcurrentHooks(t *testing.T) {
	const hooks = 50
	dataDir := newDataDir(t)
	startDaemon(t, dataDir, nil)

	wantKinds := map[string]int64{}
	payloads := make([][]byte, hooks)
	sessions := make([]string, hooks)
	step := len(fixtures) / hooks // spread over every file and kind
	for i := range hooks {
		f := fixtures[i*step]
		sessions[i] = uuid()
		payloads[i] = withSession(t, f.payload, sessions[i])
		wantKinds["claude-code/hook."+f.event]++
	}
	results := make([]result, hooks)
	errs := make([]error, hooks)
	var wg sync.WaitGroup
	startLine := make(chan struct{})
	for i := range hooks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startLine
			results[i], errs[i] = execAgent(nil, bytes.NewReader(payloads[i]), 30*time.Second, "hook", "claude-code", "--data-dir", dataDir)
		}()
	}
	close(startLine)
	wg.Wait()
	for i := range hooks {
		if errs[i] != nil {
			t.Errorf("hook %d: %v", i, errs[i])
			continue
		}
		checkHookResult(t, results[i], 5*time.Second)
	}

	st := waitEvents(t, dataDir, hooks, 30*time.Second)
	if got := byKind(st); !maps.Equal(got, wantKinds) {
		t.Errorf("by_kind = %v, want %v", got, wantKinds)
	}
	if st.DLQSize != 0 {
		t.Errorf("dlq_size = %d, want 0", st.DLQSize)
	}
	if got := dailyTotal(t, dataDir); got != hooks {
		t.Errorf("daily counts total = %d, want %d", got, hooks)
	}
}

// repeatReader reads an endless run of one byte.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// TestBadInput feeds malformed, hostile and unexpected payloads through the real hook into a
// running daemon. For each, the hook exits 0 at once with nothing on stdout, the daemon stays up,
// the record is stored or dead-lettered with a reason, and the normal events sent right before and
// after it are stored.
func TestBadInput(t *testing.T) {
	// 100 MB; 24 MB (still over the hook's 16 MiB cap) in -short mode, which the race detector
	// run uses: the hook counts what it reads within its 2 s deadline, and a slowed-down hook
	// reads 100 MB more slowly than that.
	bigSize := int64(100 << 20)
	if testing.Short() {
		bigSize = 24 << 20
	}
	normal := fixtureByFile(t, "SilviuSavu__g3/pre_tool_use.json[0]").payload
	realSurrogates := fixtureByFile(t, "TomSelander__home-assistant-green-button/permission_request.json[27]").payload
	if !bytes.Contains(realSurrogates, []byte(`\udc90`)) {
		t.Fatal("fixture permission_request.json[27] should hold lone surrogates")
	}
	prompt := fixtureByFile(t, "conneroisu__templar/user_prompt_submit.json[0]").payload
	var promptMap map[string]any
	if err := json.Unmarshal(prompt, &promptMap); err != nil {
		t.Fatal(err)
	}
	edit := func(fn func(m map[string]any)) []byte {
		m := maps.Clone(promptMap)
		fn(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	openPayload := withSession(t, fixtureByFile(t, "SilviuSavu__g3/notification.json[0]").payload, uuid())
	badUTF8 := bytes.Replace(prompt, []byte(`"prompt": "`), []byte("\"prompt\": \"\xff\xfe\xc3\x28 \xed\xa0\x80"), 1)
	if utf8.Valid(badUTF8) {
		t.Fatal("the invalid UTF-8 input is valid UTF-8")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	garbage[0] = 0xff // never valid JSON
	bigPrefix := `{"hook_event_name":"UserPromptSubmit","session_id":"` + uuid() + `","prompt":"`
	deep := func(open, inner, close string, n int) string {
		return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
	}

	tests := []struct {
		name    string
		input   func() io.Reader
		size    int // of the input; computed when 0
		within  time.Duration
		kind    string // stored as this kind, or
		reason  string // dead-lettered with a reason containing this
		session string // for stored events: the session id it must have ("" for none)
		// openStdin leaves stdin open after the input, as a parent that never closes the pipe.
		openStdin bool
	}{
		{name: "empty stdin", input: bytesInput(nil), reason: "empty payload"},
		{name: "whitespace only", input: bytesInput([]byte(" \n\t\n")), reason: "empty payload"},
		{name: "not JSON", input: bytesInput([]byte("PreToolUse Bash ls -la\n")), reason: "not valid JSON"},
		{name: "truncated JSON", input: bytesInput(normal[:len(normal)/2]), reason: "not valid JSON"},
		{name: "JSON array of payloads", input: bytesInput([]byte("[" + string(normal) + "," + string(normal) + "]")), reason: "not an object"},
		{name: "JSON null", input: bytesInput([]byte("null")), reason: "not an object"},
		{name: "oversized (100 MB)", input: func() io.Reader {
			return io.MultiReader(strings.NewReader(bigPrefix), io.LimitReader(repeatReader('a'), bigSize-int64(len(bigPrefix))-2), strings.NewReader(`"}`))
		}, size: int(bigSize), within: 5 * time.Second, kind: "hook.oversized"},
		{name: "invalid UTF-8", input: bytesInput(badUTF8),
			kind: "hook.UserPromptSubmit", session: stringField(t, prompt, "session_id")},
		{name: "lone surrogates (real payload)", input: bytesInput(realSurrogates), size: len(realSurrogates),
			kind: "hook.PermissionRequest", session: stringField(t, realSurrogates, "session_id")},
		{name: "lone surrogate escapes", input: bytesInput([]byte(`{"hook_event_name":"UserPromptSubmit","session_id":"s-1","prompt":"\ud800 \udfff \udc00\ud800"}`)),
			kind: "hook.UserPromptSubmit", session: "s-1"},
		// An event name that is not an identifier is kept, generically: never dropped.
		{name: "surrogate in the event name", input: bytesInput([]byte(`{"hook_event_name":"Stop\ud800","session_id":"s-1"}`)), kind: "hook.other", session: "s-1"},
		{name: "nesting 10000 deep in a field", input: bytesInput([]byte(`{"hook_event_name":"PreToolUse","session_id":"s-2","tool_name":"Bash","tool_input":` + deep("[", "", "]", 10000) + `}`)),
			kind: "hook.PreToolUse", session: "s-2"},
		{name: "nesting 10000 deep objects", input: bytesInput([]byte(deep(`{"a":`, "1", "}", 10000))), reason: "no hook_event_name"},
		{name: "nesting 10000 deep arrays", input: bytesInput([]byte(deep("[", "", "]", 10000))), reason: "not an object"},
		{name: "binary garbage", input: bytesInput(garbage), reason: "not valid JSON"},
		{name: "NUL bytes", input: bytesInput(make([]byte, 1024)), reason: "not valid JSON"},
		{name: "unknown hook event", input: bytesInput(edit(func(m map[string]any) { m["hook_event_name"] = "FutureEvent" })),
			kind: "hook.FutureEvent", session: promptMap["session_id"].(string)},
		{name: "missing session id", input: bytesInput(edit(func(m map[string]any) { delete(m, "session_id") })), kind: "hook.UserPromptSubmit"},
		// A read:payload grant passes identifiers only: the host withholds this one, so the event has none.
		{name: "session id not an identifier", input: bytesInput(edit(func(m map[string]any) { m["session_id"] = "my session; rm -rf /" })),
			kind: "hook.UserPromptSubmit"},
		{name: "stdin never closed", input: bytesInput(openPayload), openStdin: true, within: hookDeadline + 500*time.Millisecond,
			kind: "hook.Notification", session: stringField(t, openPayload, "session_id")},
		{name: "missing event name", input: bytesInput(edit(func(m map[string]any) { delete(m, "hook_event_name") })), reason: "no hook_event_name"},
		{name: "event name not a string", input: bytesInput(edit(func(m map[string]any) { m["hook_event_name"] = 42 })), reason: "no hook_event_name"},
	}
	for i := range tests {
		if tests[i].size == 0 {
			n, err := io.Copy(io.Discard, tests[i].input())
			if err != nil {
				t.Fatal(err)
			}
			tests[i].size = int(n)
		}
	}

	dataDir := newDataDir(t)
	d := startDaemon(t, dataDir, nil)
	normals := map[string]int{} // session id of a normal event -> index of the case it surrounds
	next := 0
	sendNormal := func(tc int) string {
		t.Helper()
		f := fixtures[next%len(fixtures)]
		next += 7
		sid := uuid()
		normals[sid] = tc
		runHook(t, dataDir, withSession(t, f.payload, sid))
		return "claude-code/hook." + f.event
	}
	maxSeq := uint64(0)
	for i, tc := range tests {
		ok := t.Run(tc.name, func(t *testing.T) {
			before := waitSettled(t, dataDir, 10*time.Second)
			wantKinds := byKind(before)
			wantKinds[sendNormal(i)]++

			within := tc.within
			if within == 0 {
				within = time.Second // well under the hook's 2s deadline
			}
			stdin := tc.input()
			if tc.openStdin {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				defer w.Close() // only once the hook has exited
				if _, err := io.Copy(w, stdin); err != nil {
					t.Fatal(err)
				}
				stdin = r
			}
			res := runAgent(t, nil, stdin, 30*time.Second, "hook", "claude-code", "--data-dir", dataDir)
			checkHookResult(t, res, within)
			t.Logf("hook took %v", res.elapsed)

			wantKinds[sendNormal(i)]++
			wantStored, wantDLQ := before.EventsStored+2, before.DLQSize
			if tc.kind != "" {
				wantKinds["claude-code/"+tc.kind]++
				wantStored++
			} else {
				wantDLQ++
			}
			var st daemon.Status
			waitFor(t, 10*time.Second, func() string {
				st = apiStatus(t, dataDir)
				if st.EventsStored != wantStored || st.DLQSize != wantDLQ {
					return fmt.Sprintf("events_stored %d, dlq_size %d; want %d and %d", st.EventsStored, st.DLQSize, wantStored, wantDLQ)
				}
				return ""
			})
			if d.exited() || st.PID != d.pid() {
				t.Fatalf("the daemon (pid %d) did not stay up: status pid %d\n%s", d.pid(), st.PID, d.stderr.String())
			}
			for k, v := range wantKinds { // zero counts are not listed
				if v == 0 {
					delete(wantKinds, k)
				}
			}
			if got := byKind(st); !maps.Equal(got, wantKinds) {
				t.Errorf("by_kind = %v, want %v", got, wantKinds)
			}
			if tc.reason == "" {
				return
			}
			recs := dlqList(t, dataDir)
			var rec *daemon.DLQEntry
			for i := range recs {
				if recs[i].Seq > maxSeq {
					if rec != nil {
						t.Fatalf("two new dead letters: %d and %d", rec.Seq, recs[i].Seq)
					}
					rec = &recs[i]
				}
			}
			if rec == nil {
				t.Fatalf("no new dead letter in %+v", recs)
			}
			maxSeq = rec.Seq
			if !strings.Contains(rec.Reason, tc.reason) {
				t.Errorf("dead letter reason = %q, want it to contain %q", rec.Reason, tc.reason)
			}
			if rec.Stage != "capture" || rec.Source != "hook" || rec.Platform != "claude-code" || rec.Attempts != 1 {
				t.Errorf("dead letter = stage %q source %q platform %q attempts %d, want capture, hook, claude-code, 1", rec.Stage, rec.Source, rec.Platform, rec.Attempts)
			}
			if rec.PayloadBytes != tc.size {
				t.Errorf("dead letter keeps %d payload bytes, want the %d of the input", rec.PayloadBytes, tc.size)
			}
		})
		if !ok {
			break
		}
	}
	if t.Failed() {
		return
	}

	// The store holds each normal event once, and what each stored bad input became.
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("agent run exited %d after SIGTERM\n%s", code, d.stderr.String())
	}
	s := openStore(t, dataDir)
	defer s.Close()
	for sid, tc := range normals {
		if n := sessionEvents(t, s, sid); n != 1 {
			t.Errorf("the normal event next to %q is stored %d times, want once", tests[tc].name, n)
		}
	}
	byKindEvents := map[string][]sdk.Event{}
	if _, err := s.ReadLog(0, 1<<20, func(_ uint64, ev *sdk.Event) error {
		e := *ev
		e.Attrs = append([]sdk.Attr(nil), ev.Attrs...)
		byKindEvents[ev.Kind] = append(byKindEvents[ev.Kind], e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	big := byKindEvents["hook.oversized"]
	if len(big) != 1 {
		t.Fatalf("%d oversized events, want 1", len(big))
	}
	if v, ok := attr(big[0], "payload_bytes"); !ok || v.Int() != bigSize {
		t.Errorf("oversized event payload_bytes = %v (present %v), want %d", v, ok, bigSize)
	}
	if size := s.DiskSize(); size > 16<<20 {
		t.Errorf("the store uses %d bytes on disk: the 100 MB payload was kept", size)
	}
	for _, tc := range tests {
		if tc.kind == "" || tc.kind == "hook.oversized" {
			continue
		}
		found := false
		for _, ev := range byKindEvents[tc.kind] {
			if _, isNormal := normals[ev.SessionID]; isNormal {
				continue
			}
			if ev.SessionID == tc.session {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no %s event with session id %q", tc.name, tc.kind, tc.session)
		}
	}
}

func bytesInput(b []byte) func() io.Reader {
	return func() io.Reader { return bytes.NewReader(b) }
}

// stringField returns a top-level string field of a JSON payload.
func stringField(t testing.TB, payload []byte, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	s, ok := m[key].(string)
	if !ok {
		t.Fatalf("payload has no string %s", key)
	}
	return s
}

func attr(ev sdk.Event, key string) (sdk.Value, bool) {
	for _, a := range ev.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return sdk.Value{}, false
}

// dlqList runs `agent dlq list --json`.
func dlqList(t testing.TB, dataDir string) []daemon.DLQEntry {
	t.Helper()
	res := runAgent(t, nil, nil, 30*time.Second, "dlq", "list", "--json", "--limit", "0", "--data-dir", dataDir)
	if res.code != 0 {
		t.Fatalf("agent dlq list --json: exit %d: %s", res.code, res.stderr)
	}
	var out []daemon.DLQEntry
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("agent dlq list --json: %v\n%s", err, res.stdout)
	}
	return out
}

// TestLifecycle covers the single-instance lock, draining on SIGTERM and SIGINT, file modes, and
// the CLI with and without a daemon.
func TestLifecycle(t *testing.T) {
	t.Run("second daemon refused", func(t *testing.T) {
		dataDir := newDataDir(t)
		d := startDaemon(t, dataDir, nil)
		res := runAgent(t, nil, nil, 30*time.Second, "run", "--data-dir", dataDir)
		if res.code != 1 {
			t.Errorf("second agent run exit code = %d, want 1", res.code)
		}
		if want := fmt.Sprintf("already running (pid %d)", d.pid()); !strings.Contains(res.stderr, want) {
			t.Errorf("second agent run stderr = %q, want it to say %q", res.stderr, want)
		}
		if st := apiStatus(t, dataDir); st.PID != d.pid() || d.exited() {
			t.Errorf("the first daemon stopped serving: status pid %d, want %d", st.PID, d.pid())
		}
		// The refused start did not take the lock file from the first.
		if b, err := os.ReadFile(filepath.Join(dataDir, "agent.lock")); err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(d.pid()) {
			t.Errorf("agent.lock = %q (%v), want the first daemon's pid %d", b, err, d.pid())
		}
	})

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run("drain on "+sig.String(), func(t *testing.T) {
			dataDir := newDataDir(t)
			d := startDaemon(t, dataDir, nil)
			for _, p := range []struct {
				path string
				want os.FileMode
			}{{dataDir, 0o700}, {filepath.Join(dataDir, daemon.SocketName), 0o600}, {filepath.Join(dataDir, "agent.lock"), 0o600}, {filepath.Join(dataDir, daemon.LogsName), 0o700}} {
				if got := fileMode(t, p.path); got != p.want {
					t.Errorf("mode of %s = %v, want %v", p.path, got, p.want)
				}
			}

			// Clients stream records; the signal comes while requests are in flight.
			var mu sync.Mutex
			var acked []sdk.ID
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := daemon.NewClient(dataDir)
					for i := 0; ctx.Err() == nil; i++ {
						rec := newRecord(fixtures[(w*997+i)%len(fixtures)].payload)
						if _, err := c.PostFrames(ctx, pipeline.AppendFrame(nil, &rec)); err != nil {
							return // the daemon stopped taking requests
						}
						mu.Lock()
						acked = append(acked, pipeline.EventID(&rec, 0))
						mu.Unlock()
					}
				}()
			}
			waitFor(t, 10*time.Second, func() string {
				mu.Lock()
				defer mu.Unlock()
				if len(acked) < 100 {
					return fmt.Sprintf("%d records acknowledged, want 100 before the signal", len(acked))
				}
				return ""
			})
			code := d.stop(sig)
			cancel()
			wg.Wait()
			if code != 0 {
				t.Fatalf("agent run exit code after %v = %d, want 0\n%s", sig, code, d.stderr.String())
			}
			if _, err := os.Lstat(filepath.Join(dataDir, daemon.SocketName)); !os.IsNotExist(err) {
				t.Errorf("socket file left after a clean stop (%v)", err)
			}

			// Without a daemon, the CLI reads the store itself.
			st := cliStatus(t, dataDir)
			if st.Running || st.PID != 0 {
				t.Errorf("status --json without a daemon: running=%v pid=%d, want false and 0", st.Running, st.PID)
			}
			if st.EventsStored < int64(len(acked)) {
				t.Errorf("events_stored = %d after %v, want at least the %d acknowledged", st.EventsStored, sig, len(acked))
			}
			s := openStore(t, dataDir)
			for _, id := range acked {
				if has, err := s.Has(id); err != nil || !has {
					t.Errorf("acknowledged event %s lost by the %v stop (err %v)", id, sig, err)
				}
			}
			stored := s.EventCount()
			s.Close()

			// A restart serves the same store.
			startDaemon(t, dataDir, nil)
			st = waitSettled(t, dataDir, 10*time.Second)
			if st.EventsStored != stored {
				t.Errorf("after restart events_stored = %d, want %d", st.EventsStored, stored)
			}
			if got := dailyTotal(t, dataDir); got != stored {
				t.Errorf("after restart daily counts total = %d, want %d", got, stored)
			}
			t.Logf("%d acknowledged, %d stored", len(acked), stored)
		})
	}

	t.Run("CLI and restart after a crash", func(t *testing.T) {
		dataDir := newDataDir(t)
		d := startDaemon(t, dataDir, nil)
		for i := range 5 {
			runHook(t, dataDir, fixtures[i*101].payload)
		}
		runHook(t, dataDir, []byte("{"))
		waitSettled(t, dataDir, 10*time.Second)
		d.kill()
		// The socket file is left behind, with nobody listening: the CLI reads the store itself.
		if _, err := os.Lstat(filepath.Join(dataDir, daemon.SocketName)); err != nil {
			t.Fatalf("no stale socket after SIGKILL (%v): the test does not test what it means to", err)
		}
		st := cliStatus(t, dataDir)
		if st.Running || st.EventsStored != 5 || st.DLQSize != 1 {
			t.Errorf("status after a crash: running=%v events_stored=%d dlq_size=%d; want false, 5, 1", st.Running, st.EventsStored, st.DLQSize)
		}
		if recs := dlqList(t, dataDir); len(recs) != 1 {
			t.Errorf("dlq list after a crash: %d records, want 1", len(recs))
		}
		runHook(t, dataDir, fixtures[1].payload) // spools: the socket answers nobody
		d = startDaemon(t, dataDir, nil)
		waitEvents(t, dataDir, 6, 10*time.Second)
		if got := dailyTotal(t, dataDir); got != 6 {
			t.Errorf("daily counts total = %d, want 6", got)
		}
	})

	t.Run("CLI with and without daemon", func(t *testing.T) {
		dataDir := newDataDir(t)
		res := runAgent(t, nil, nil, 30*time.Second, "status", "--json", "--data-dir", dataDir)
		if res.code != 1 || !strings.Contains(res.stderr, "no data in") {
			t.Errorf("status on a missing data dir: exit %d, stderr %q; want 1 and a hint", res.code, res.stderr)
		}
		runHook(t, dataDir, fixtures[0].payload) // spools: no daemon

		st := cliStatus(t, dataDir)
		if st.Running || st.PID != 0 || !st.SpoolPending || st.EventsStored != 0 {
			t.Errorf("without daemon: running=%v pid=%d spool_pending=%v events_stored=%d; want false, 0, true, 0", st.Running, st.PID, st.SpoolPending, st.EventsStored)
		}
		d := startDaemon(t, dataDir, nil)
		waitEvents(t, dataDir, 1, 10*time.Second)
		st = cliStatus(t, dataDir)
		if !st.Running || st.PID != d.pid() || st.EventsStored != 1 {
			t.Errorf("with daemon: running=%v pid=%d events_stored=%d; want true, %d, 1", st.Running, st.PID, st.EventsStored, d.pid())
		}
		// HANGAR_DATA_DIR names the data dir too; the text form shows the daemon.
		res = runAgent(t, childEnv("HANGAR_DATA_DIR="+dataDir), nil, 30*time.Second, "status")
		if want := fmt.Sprintf("running (pid %d)", d.pid()); res.code != 0 || !strings.Contains(res.stdout, want) {
			t.Errorf("HANGAR_DATA_DIR=... agent status: exit %d, stdout %q; want 0 and %q", res.code, res.stdout, want)
		}
		if code := d.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("exit code %d", code)
		}
		st = cliStatus(t, dataDir)
		if st.Running || st.EventsStored != 1 || st.SpoolPending {
			t.Errorf("after stop: running=%v events_stored=%d spool_pending=%v; want false, 1, false", st.Running, st.EventsStored, st.SpoolPending)
		}
	})
}

// TestDLQCommands runs the dlq commands end to end, against a running daemon and against the
// store directly.
func TestDLQCommands(t *testing.T) {
	for _, withDaemon := range []bool{true, false} {
		t.Run(fmt.Sprintf("daemon=%v", withDaemon), func(t *testing.T) {
			dataDir := newDataDir(t)
			d := startDaemon(t, dataDir, nil)
			bad1 := []byte(`{"hook_event_name": "PreToolUse", "session_id": ` /* truncated */)
			bad2 := []byte("not json at all")
			runHook(t, dataDir, bad1)
			runHook(t, dataDir, fixtures[3].payload)
			runHook(t, dataDir, bad2)
			waitFor(t, 10*time.Second, func() string {
				if st := apiStatus(t, dataDir); st.DLQSize != 2 || st.EventsStored != 1 {
					return fmt.Sprintf("dlq_size %d events_stored %d, want 2 and 1", st.DLQSize, st.EventsStored)
				}
				return ""
			})
			if !withDaemon {
				if code := d.stop(syscall.SIGTERM); code != 0 {
					t.Fatalf("exit code %d", code)
				}
			}
			agent := func(args ...string) result {
				t.Helper()
				return runAgent(t, nil, nil, 30*time.Second, append(args, "--data-dir", dataDir)...)
			}
			wantRunning := withDaemon
			if st := cliStatus(t, dataDir); st.Running != wantRunning || st.DLQSize != 2 {
				t.Fatalf("status: running=%v dlq_size=%d, want %v and 2", st.Running, st.DLQSize, wantRunning)
			}

			recs := dlqList(t, dataDir)
			if len(recs) != 2 {
				t.Fatalf("dlq list --json: %d records, want 2", len(recs))
			}
			first, second := recs[0], recs[1]
			if first.PayloadBytes != len(bad1) || second.PayloadBytes != len(bad2) || first.Seq >= second.Seq {
				t.Errorf("dlq list: %+v, want the two bad payloads in order", recs)
			}
			for _, r := range recs {
				if !strings.Contains(r.Reason, "not valid JSON") || r.Attempts != 1 || r.Payload != nil {
					t.Errorf("dlq list entry %+v: want reason 'not valid JSON', 1 attempt, no payload", r)
				}
			}
			res := agent("dlq", "list")
			if res.code != 0 || !strings.Contains(res.stdout, "not valid JSON") || !strings.Contains(res.stdout, "REASON") {
				t.Errorf("dlq list: exit %d, stdout %q", res.code, res.stdout)
			}

			// show, as JSON with the payload and as text.
			res = agent("dlq", "show", fmt.Sprint(second.Seq), "--json")
			var shown store.DLQRecord
			if res.code != 0 || json.Unmarshal([]byte(res.stdout), &shown) != nil {
				t.Fatalf("dlq show --json: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
			}
			if !bytes.Equal(shown.Payload, bad2) || shown.Seq != second.Seq || shown.RecordID.IsZero() {
				t.Errorf("dlq show --json = %+v, want payload %q", shown, bad2)
			}
			res = agent("dlq", "show", fmt.Sprint(second.Seq))
			for _, want := range []string{"Reason:    capture: payload is not valid JSON", "Tries:     1", "Payload:   15 bytes", string(bad2)} {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("dlq show: stdout %q, want it to contain %q", res.stdout, want)
				}
			}
			res = agent("dlq", "show", "999")
			if res.code != 1 || !strings.Contains(res.stderr, "no dead letter 999") {
				t.Errorf("dlq show 999: exit %d, stderr %q; want 1 and 'no dead letter 999'", res.code, res.stderr)
			}

			// replay: the cause is still there, so the record stays with a second attempt.
			res = agent("dlq", "replay", fmt.Sprint(first.Seq))
			if res.code != 0 || !strings.Contains(res.stdout, "Replayed 0; 1 failed again") {
				t.Errorf("dlq replay: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
			}
			recs = dlqList(t, dataDir)
			if len(recs) != 2 || recs[0].Seq != first.Seq || recs[0].Attempts != 2 || recs[1].Attempts != 1 {
				t.Errorf("after replay: %+v, want record %d with 2 attempts and %d with 1", recs, first.Seq, second.Seq)
			}
			res = agent("dlq", "replay")
			if res.code == 0 || !strings.Contains(res.stderr, "--all") {
				t.Errorf("dlq replay with no selection: exit %d, stderr %q; want an error", res.code, res.stderr)
			}

			// drop one, then the rest.
			res = agent("dlq", "drop", fmt.Sprint(first.Seq))
			if res.code != 0 || strings.TrimSpace(res.stdout) != "Dropped 1." {
				t.Errorf("dlq drop: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
			}
			if recs = dlqList(t, dataDir); len(recs) != 1 || recs[0].Seq != second.Seq {
				t.Errorf("after drop: %+v, want only %d", recs, second.Seq)
			}
			res = agent("dlq", "drop", fmt.Sprint(first.Seq))
			if res.code != 1 || !strings.Contains(res.stderr, "not found") {
				t.Errorf("dlq drop of a dropped record: exit %d, stderr %q; want 1 and not found", res.code, res.stderr)
			}
			res = agent("dlq", "drop", "--all")
			if res.code != 0 || strings.TrimSpace(res.stdout) != "Dropped 1." {
				t.Errorf("dlq drop --all: exit %d, stdout %q", res.code, res.stdout)
			}
			res = agent("dlq", "list")
			if res.code != 0 || !strings.Contains(res.stdout, "The dead-letter queue is empty.") {
				t.Errorf("dlq list when empty: exit %d, stdout %q", res.code, res.stdout)
			}
			if st := cliStatus(t, dataDir); st.DLQSize != 0 || st.EventsStored != 1 || st.Running != wantRunning {
				t.Errorf("status at the end: dlq_size %d events_stored %d running %v; want 0, 1, %v", st.DLQSize, st.EventsStored, st.Running, wantRunning)
			}
		})
	}
}

// TestMetrics checks the self-metrics after some traffic.
func TestMetrics(t *testing.T) {
	dataDir := newDataDir(t)
	d := startDaemon(t, dataDir, nil)
	const good = 20
	for i := range good {
		runHook(t, dataDir, fixtures[i*31].payload)
	}
	runHook(t, dataDir, []byte("{oops"))
	waitFor(t, 10*time.Second, func() string {
		if st := apiStatus(t, dataDir); st.EventsStored != good || st.DLQSize != 1 {
			return fmt.Sprintf("events_stored %d dlq_size %d, want %d and 1", st.EventsStored, st.DLQSize, good)
		}
		return ""
	})
	waitSettled(t, dataDir, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	text, err := d.client().Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	samples := parseMetrics(t, text)
	tests := []struct {
		sample string
		want   float64 // -1: any positive value
	}{
		{"hangar_commit_latency_seconds_count", -1},
		{"hangar_commit_latency_seconds_sum", -1},
		{`hangar_commit_latency_seconds_bucket{le="+Inf"}`, -1},
		{"hangar_queue_depth", 0},
		{"hangar_dlq_records", 1},
		{`hangar_errors_total{reason="capture"}`, 1},
		{"hangar_commit_batch_events_count", -1},
		{"hangar_commit_batch_events_sum", good + 1}, // events and dead letters committed
		{`hangar_intake_events_total{result="stored"}`, good},
		{`hangar_intake_events_total{result="dead_lettered"}`, 1},
		{`hangar_intake_events_total{result="duplicate"}`, 0},
		{"hangar_intake_records_total", good + 1},
		{"hangar_events_stored", good},
		{`hangar_consumer_lag_events{consumer="daily-counts"}`, 0},
	}
	for _, tc := range tests {
		got, ok := samples[tc.sample]
		switch {
		case !ok:
			t.Errorf("/metrics has no sample %s", tc.sample)
		case tc.want < 0 && got <= 0:
			t.Errorf("%s = %v, want > 0", tc.sample, got)
		case tc.want >= 0 && got != tc.want:
			t.Errorf("%s = %v, want %v", tc.sample, got, tc.want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}

// parseMetrics reads the Prometheus text format into sample name (with labels) -> value.
func parseMetrics(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad metrics line %q", line)
		}
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err != nil {
			t.Fatalf("bad metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
