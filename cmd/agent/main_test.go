package main

// Shared machinery of the end-to-end tests: TestMain builds the real binary once; the helpers run
// it as real processes (daemon, hooks, CLI) against fresh data directories, and load the real
// Claude Code hook payloads that are the tests' normal traffic.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
	"github.com/hangar-dev/hangar/store/seal"
)

// fixturesDir holds real Claude Code hook payloads, relative to this package's directory (the
// working directory of its tests).
const fixturesDir = "../../../shared/fixtures/claude-code/hooks"

var (
	// agentBin is the binary TestMain built.
	agentBin string
	// fixtures are the distinct real hook payloads, in a stable order.
	fixtures []fixture
)

// fixture is one real hook payload.
type fixture struct {
	file    string // relative to fixturesDir, with the element's index
	event   string // its hook_event_name
	payload []byte
}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hangar-agent-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	agentBin = filepath.Join(dir, "agent")
	build := exec.Command("go", "build", "-o", agentBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build agent: %v\n%s", err, out)
		return 1
	}
	// One compilation cache for every agent the tests run: each first-party plugin compiles once
	// per run, not once per data directory (3 s of CPU each time on 2 cores). Tests of the data
	// directory's own cache set the variable empty.
	if err := os.Setenv(cacheDirEnv, hosttest.CacheDir(filepath.Join(dir, "cache"))); err != nil {
		fmt.Fprintln(os.Stderr, "set cache dir:", err)
		return 1
	}
	if fixtures, err = loadFixtures(fixturesDir); err != nil {
		fmt.Fprintln(os.Stderr, "load fixtures:", err)
		return 1
	}
	return m.Run()
}

// loadFixtures reads every JSON array of payloads under dir and returns the distinct payloads.
func loadFixtures(dir string) ([]fixture, error) {
	var out []fixture
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(data, &elems); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, _ := filepath.Rel(dir, path)
		for i, e := range elems {
			var head struct {
				Event string `json:"hook_event_name"`
			}
			if err := json.Unmarshal(e, &head); err != nil || head.Event == "" {
				return fmt.Errorf("%s[%d]: no hook_event_name (%v)", path, i, err)
			}
			if seen[string(e)] {
				continue
			}
			seen[string(e)] = true
			out = append(out, fixture{file: fmt.Sprintf("%s[%d]", rel, i), event: head.Event, payload: slices.Clone([]byte(e))})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) < 1000 {
		return nil, fmt.Errorf("%d distinct payloads under %s, want at least 1000", len(out), dir)
	}
	return out, nil
}

// fixtureByFile returns the fixture at a path like "dir/file.json[3]".
func fixtureByFile(t testing.TB, file string) fixture {
	t.Helper()
	for _, f := range fixtures {
		if f.file == file {
			return f
		}
	}
	t.Fatalf("no fixture %s", file)
	return fixture{}
}

// childEnv is the environment of the processes the tests start: ours without HANGAR_* (so the
// developer's settings do not leak in) but for the tests' shared compilation cache, with the daemon's transcript tailer off (so that it does
// not read the developer's own ~/.claude; import_test.go turns it on), plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HANGAR_") || strings.HasPrefix(kv, cacheDirEnv+"=") {
			env = append(env, kv)
		}
	}
	return append(append(env, "HANGAR_TRANSCRIPTS=off"), extra...)
}

// newDataDir returns a data directory path that does not exist yet, in a fresh temp dir.
func newDataDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "hangar")
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer = hosttest.Buffer

// daemonProc is a running `agent run`.
type daemonProc struct {
	t       testing.TB
	dataDir string
	cmd     *exec.Cmd
	stderr  *syncBuffer
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
}

// startDaemon starts `agent run` on dataDir and waits until it answers on its socket. The process
// is killed at cleanup if it still runs.
func startDaemon(t testing.TB, dataDir string, env []string, args ...string) *daemonProc {
	t.Helper()
	d := launchDaemon(t, dataDir, env, args...)
	d.waitReady()
	return d
}

// launchDaemon starts `agent run` without waiting for it.
func launchDaemon(t testing.TB, dataDir string, env []string, args ...string) *daemonProc {
	t.Helper()
	if env == nil {
		env = childEnv()
	}
	cmd := exec.Command(agentBin, append([]string{"run", "--data-dir", dataDir}, args...)...)
	cmd.Env = env
	d := &daemonProc{t: t, dataDir: dataDir, cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = d.stderr
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start agent run: %v", err)
	}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
	})
	return d
}

func (d *daemonProc) pid() int { return d.cmd.Process.Pid }

// exited reports whether the process has exited.
func (d *daemonProc) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// waitReady waits until the daemon answers /v1/status as a running daemon with our pid.
func (d *daemonProc) waitReady() {
	d.t.Helper()
	c := daemon.NewClient(d.dataDir)
	deadline := time.Now().Add(20 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		if d.exited() {
			d.t.Fatalf("agent run exited before it was ready: %v\n%s", d.waitErr, d.stderr.String())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err == nil && st.Running && st.PID == d.pid() {
			return
		}
		lastErr = err
		if err == nil {
			lastErr = fmt.Errorf("status answered running=%v pid=%d, want pid %d", st.Running, st.PID, d.pid())
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.t.Fatalf("agent run not ready after 20s: %v\n%s", lastErr, d.stderr.String())
}

// stop sends sig and waits for the process to exit; it returns the exit code.
func (d *daemonProc) stop(sig syscall.Signal) int {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil && !d.exited() {
		d.t.Fatalf("signal %v: %v", sig, err)
	}
	return d.wait(30 * time.Second)
}

// wait waits up to timeout for the process to exit and returns its exit code (-1 when killed by a
// signal).
func (d *daemonProc) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		d.cmd.Process.Kill()
		<-d.done
		d.t.Fatalf("agent run did not exit within %v\n%s", timeout, d.stderr.String())
	}
	return d.cmd.ProcessState.ExitCode()
}

// kill SIGKILLs the daemon and waits for it.
func (d *daemonProc) kill() {
	d.t.Helper()
	d.cmd.Process.Kill()
	<-d.done
}

// client returns an API client of the daemon.
func (d *daemonProc) client() *daemon.Client { return daemon.NewClient(d.dataDir) }

// reloadServing has the daemon reload its plugins and fails the test unless Claude Code's
// capture is then served by want (name@version).
func (d *daemonProc) reloadServing(t testing.TB, ctx context.Context, want string) {
	t.Helper()
	reloaded, err := d.client().ReloadPlugins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := reloaded.Captures["claude-code"]; got != want {
		t.Fatalf("claude-code is served by %q, want %s", got, want)
	}
}

// result is how a process ended.
type result struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
	cpu            time.Duration // user and system time of the process
}

// runAgent runs the binary with args and stdin to completion (at most timeout) and returns how it
// ended.
func runAgent(t testing.TB, env []string, stdin io.Reader, timeout time.Duration, args ...string) result {
	t.Helper()
	res, err := execAgent(env, stdin, timeout, args...)
	if err != nil {
		t.Fatalf("agent %s: %v (stderr: %s)", strings.Join(args, " "), err, res.stderr)
	}
	return res
}

// execAgent is runAgent for goroutines: it returns an error instead of failing the test.
func execAgent(env []string, stdin io.Reader, timeout time.Duration, args ...string) (result, error) {
	if env == nil {
		env = childEnv()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, agentBin, args...)
	cmd.Env = env
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	start := time.Now()
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	if cmd.ProcessState != nil {
		res.code = cmd.ProcessState.ExitCode()
		res.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	var exitErr *exec.ExitError
	if ctx.Err() != nil {
		return res, fmt.Errorf("did not finish within %v", timeout)
	}
	if err != nil && !errors.As(err, &exitErr) {
		return res, err
	}
	return res, nil
}

// runHook runs `agent hook claude-code` with payload on stdin and checks the hook's contract: exit
// 0, nothing on stdout, within its deadline.
func runHook(t testing.TB, dataDir string, payload []byte) result {
	t.Helper()
	res := runAgent(t, nil, bytes.NewReader(payload), 10*time.Second, "hook", "claude-code", "--data-dir", dataDir)
	checkHookResult(t, res, 2*time.Second)
	return res
}

func checkHookResult(t testing.TB, res result, within time.Duration) {
	t.Helper()
	if res.code != 0 {
		t.Errorf("hook exit code = %d, want 0 (stderr: %s)", res.code, res.stderr)
	}
	if res.stdout != "" {
		t.Errorf("hook stdout = %q, want empty", clipString(res.stdout, 200))
	}
	if res.elapsed > within {
		t.Errorf("hook took %v, want at most %v", res.elapsed, within)
	}
}

func clipString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// cliStatus runs `agent status --json`.
func cliStatus(t testing.TB, dataDir string) daemon.Status {
	t.Helper()
	res := runAgent(t, nil, nil, 30*time.Second, "status", "--json", "--data-dir", dataDir)
	if res.code != 0 {
		t.Fatalf("agent status --json: exit %d, stderr: %s", res.code, res.stderr)
	}
	var st daemon.Status
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatalf("agent status --json: %v\n%s", err, res.stdout)
	}
	return st
}

// apiStatus asks the daemon for its status over the socket.
func apiStatus(t testing.TB, dataDir string) daemon.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := daemon.NewClient(dataDir).Status(ctx)
	if err != nil {
		t.Fatalf("GET /v1/status: %v", err)
	}
	return st
}

// waitFor polls cond (every 10ms, at most timeout) until it returns "" and fails the test with
// its last answer otherwise.
func waitFor(t testing.TB, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitSettled waits until the daemon has nothing in flight: queue empty, spool drained, every
// consumer caught up. It returns the settled status.
func waitSettled(t testing.TB, dataDir string, timeout time.Duration) daemon.Status {
	t.Helper()
	var st daemon.Status
	waitFor(t, timeout, func() string {
		st = apiStatus(t, dataDir)
		var lags []string
		for name, c := range st.Consumers {
			if c.Lag != 0 {
				lags = append(lags, fmt.Sprintf("%s lag %d", name, c.Lag))
			}
		}
		if st.QueueDepth != 0 || st.SpoolPending || len(lags) > 0 {
			return fmt.Sprintf("not settled: queue %d, spool pending %v, %v", st.QueueDepth, st.SpoolPending, lags)
		}
		return ""
	})
	return st
}

// waitEvents waits until the daemon has stored want events and settled.
func waitEvents(t testing.TB, dataDir string, want int64, timeout time.Duration) daemon.Status {
	t.Helper()
	waitFor(t, timeout, func() string {
		if st := apiStatus(t, dataDir); st.EventsStored != want {
			return fmt.Sprintf("events_stored = %d, want %d", st.EventsStored, want)
		}
		return ""
	})
	st := waitSettled(t, dataDir, timeout)
	if st.EventsStored != want { // say, a spooled duplicate stored as a second event
		t.Fatalf("events_stored = %d once settled, want %d", st.EventsStored, want)
	}
	return st
}

// byKind maps "platform/kind" to counts.
func byKind(st daemon.Status) map[string]int64 {
	m := map[string]int64{}
	for _, k := range st.ByKind {
		m[k.Platform+"/"+k.Kind] = k.Count
	}
	return m
}

// dailyTotal sums the daily-counts consumer's rows.
func dailyTotal(t testing.TB, dataDir string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := daemon.NewClient(dataDir).Daily(ctx)
	if err != nil {
		t.Fatalf("GET /v1/daily: %v", err)
	}
	var n int64
	for _, r := range rows {
		n += r.Count
	}
	return n
}

// newRecord returns a raw record of a real payload with a fresh random id, as a client mints it.
func newRecord(payload []byte) pipeline.RawRecord {
	rec := pipeline.RawRecord{Platform: pipeline.PlatformClaudeCode, Source: "api", ReceivedAt: time.Now().UTC(), Payload: payload}
	rand.Read(rec.ID[:])
	return rec
}

// openStore opens the data dir's store in this process, with its payload key if it has one; no
// daemon may run.
func openStore(t testing.TB, dataDir string) *store.Store {
	t.Helper()
	key, err := seal.Load(filepath.Join(dataDir, seal.KeyName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dataDir, daemon.StoreName), store.Options{PayloadKey: key})
	if err != nil {
		t.Fatalf("open store after the daemon stopped: %v", err)
	}
	return st
}

// checkLog reads the event log after seq after and fails on an event id seen before (recorded in
// seen). It returns the last sequence number read and how many events it read.
func checkLog(t testing.TB, st *store.Store, after uint64, seen map[sdk.ID]uint64) (uint64, int) {
	t.Helper()
	n := 0
	for {
		last, err := st.ReadLog(after, 4096, func(seq uint64, ev *sdk.Event) error {
			if prev, dup := seen[ev.ID]; dup {
				t.Errorf("event %s stored twice: at seq %d and %d", ev.ID, prev, seq)
			}
			seen[ev.ID] = seq
			n++
			return nil
		})
		if err != nil {
			t.Fatalf("read event log: %v", err)
		}
		if last == after {
			return last, n
		}
		after = last
	}
}

// fileMode returns the permission bits of path.
func fileMode(t testing.TB, path string) fs.FileMode {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return info.Mode().Perm()
}

// withSession returns payload (a JSON object) with its session_id replaced by sid.
func withSession(t testing.TB, payload []byte, sid string) []byte {
	t.Helper()
	out, err := setSession(payload, sid)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// setSession is withSession for goroutines.
func setSession(payload []byte, sid string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	m["session_id"], _ = json.Marshal(sid)
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return out, nil
}

// uuid returns a random UUID-shaped string, as Claude Code session ids are.
func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
