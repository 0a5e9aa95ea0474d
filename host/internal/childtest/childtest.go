// Package childtest runs a test in a child process of its test binary, under a hard time limit.
//
// A test whose WASM guest could hold a stop-the-world (compiled code is not preemptible) must run
// this way: a process whose world is stopped cannot even fire its own timers, so no in-process
// timeout, go test's -timeout included, can stop it. The parent can: it kills the child with
// SIGQUIT (the child's goroutine dump goes to the test's log) and then SIGKILL at the limit, and
// fails the test, so the suite never hangs (docs/RATIONALE.md, "interrupting guests").
package childtest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// envTest is the environment variable that tells a child test process which test it runs.
const envTest = "HANGAR_TEST_CHILD"

// inChild reports whether this process is the child running t (see Run).
func inChild(t *testing.T) bool { return os.Getenv(envTest) == t.Name() }

// Run runs the calling top-level test in a child process of this test binary, with a hard time
// limit and the extra environment given, and reports whether the caller is the parent, which
// must then return. The child runs the test's body:
//
//	func TestSpin(t *testing.T) {
//		if childtest.Run(t, 2*time.Minute) {
//			return
//		}
//		// the test itself, in the child
//	}
//
// The parent fails the test if the child fails, does not run the test, or is still running at
// the limit (then killed). The child's output goes to the parent's log.
func Run(t *testing.T, limit time.Duration, env ...string) (parent bool) {
	t.Helper()
	if inChild(t) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	args := []string{"-test.run", "^" + regexp.QuoteMeta(t.Name()) + "$", "-test.count=1", "-test.v"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), append([]string{envTest + "=" + t.Name()}, env...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 5 * time.Second // then SIGKILL: a frozen runtime may not even dump
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("child process (%v, env %q):\n%s", time.Since(start).Round(time.Millisecond), env, out)
	switch {
	case ctx.Err() != nil:
		t.Fatalf("the child process was still running after %v: killed (a guest held the process)", limit)
	case err != nil:
		t.Fatalf("the child process failed: %v", err)
	case !bytes.Contains(out, []byte("--- PASS: "+t.Name())):
		t.Fatalf("the child process did not run %s", t.Name())
	}
	return true
}
