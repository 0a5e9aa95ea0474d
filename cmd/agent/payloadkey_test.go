package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/store/seal"
)

// TestPayloadKeyDamaged damages the payload key: a hook that must spool meanwhile refuses to write
// its payload in the clear and says why in hook.log; the daemon starts all the same, sets the bad
// file aside (logged), makes a new key and captures as ever; what the old key sealed (a dead
// letter, spooled records) waits, sealed, saying why, and opens and replays once the old key is
// put back.
func TestPayloadKeyDamaged(t *testing.T) {
	dataDir := newDataDir(t)
	keyPath := filepath.Join(dataDir, seal.KeyName)
	d := startDaemon(t, dataDir, nil)
	runHook(t, dataDir, []byte(`{"hook_event_name":"UserPromptSubmit","prompt":"cut`)) // dead letter 1
	waitFor(t, 20*time.Second, func() string {
		if st := apiStatus(t, dataDir); st.DLQSize != 1 {
			return fmt.Sprintf("dlq_size %d, want 1", st.DLQSize)
		}
		return ""
	})
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exit %d", code)
	}
	// Two hooks spool under the key, then it is damaged; a third hook cannot spool.
	runHook(t, dataDir, fixtures[0].payload)
	runHook(t, dataDir, fixtures[1].payload)
	oldKey, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, oldKey[:10], 0o600); err != nil {
		t.Fatal(err)
	}
	runHook(t, dataDir, fixtures[2].payload)
	hookLog, _ := os.ReadFile(filepath.Join(dataDir, "logs", daemon.HookLogName))
	if !strings.Contains(string(hookLog), "payload was not spooled") || !strings.Contains(string(hookLog), keyPath+" holds 10 bytes, want 32") {
		t.Errorf("hook.log does not say why the payload was not spooled:\n%s", hookLog)
	}

	// The daemon starts, replaces the key, captures.
	d = startDaemon(t, dataDir, nil)
	aside, _ := filepath.Glob(keyPath + ".bad-*")
	if len(aside) != 1 {
		t.Fatalf("the damaged key was not set aside: %q", aside)
	}
	if log := readLog(dataDir); !strings.Contains(log, "the payload key file is unusable") || !strings.Contains(log, keyPath) {
		t.Errorf("agent.log does not name the damaged key file:\n%s", clipString(log, 3000))
	}
	runHook(t, dataDir, fixtures[3].payload)
	st := waitEvents(t, dataDir, 1, 20*time.Second)
	// The two spooled records are dead letters now, still sealed under the old key.
	if st.DLQSize != 3 {
		t.Fatalf("dlq_size %d, want 3 (the first, and the 2 spooled records sealed under the old key)", st.DLQSize)
	}
	for _, seq := range []string{"1", "2", "3"} {
		out := agentOK(t, dataDir, "dlq", "show", seq).stdout
		if !strings.Contains(out, "It is sealed and cannot be opened: seal: sealed under another payload key") {
			t.Errorf("dlq show %s does not say the payload cannot be opened:\n%s", seq, out)
		}
	}
	if out := agentOK(t, dataDir, "dlq", "replay", "--all").stdout; !strings.Contains(out, "Replayed 0; 3 failed again") {
		t.Errorf("dlq replay with the key gone: %s", out)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exit %d", code)
	}

	// The old key put back: the spooled records replay, and the first dead letter opens.
	if err := os.WriteFile(keyPath, oldKey, 0o600); err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, dataDir, nil)
	if out := agentOK(t, dataDir, "dlq", "show", "1").stdout; !strings.Contains(out, `"prompt":"cut`) {
		t.Errorf("dlq show 1 with the key back does not show the payload:\n%s", out)
	}
	if out := agentOK(t, dataDir, "dlq", "replay", "--all").stdout; !strings.Contains(out, "Replayed 2; 1 failed again") {
		t.Errorf("dlq replay with the key back: %s", out)
	}
	if st := waitEvents(t, dataDir, 3, 20*time.Second); st.DLQSize != 1 {
		t.Errorf("dlq_size %d, want the malformed payload alone", st.DLQSize)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
}
