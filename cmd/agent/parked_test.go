package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
)

// TestNoCaptureParks disables the first-party claude-code plugin, so that no capture plugin serves
// Claude Code: hooks (posted, and spooled while the daemon is down) and transcript lines wait,
// sealed, in spool/parked instead of going to the dead-letter queue, and `agent status` and
// `agent import` say so. Enabling the plugin captures every one of them, with nothing else for the
// user to do: the store then holds what it would have held had the plugin been enabled all along.
func TestNoCaptureParks(t *testing.T) {
	const hooks, down = 20, 10
	// What the transcripts make when captured, for comparison.
	want := cliStatus(t, importShared(t))
	wantKinds := byKind(want)
	for i := range hooks + down {
		wantKinds["claude-code/hook."+fixtures[i].event]++
	}

	dataDir := newDataDir(t)
	d := startDaemon(t, dataDir, nil)
	agentOK(t, dataDir, "plugins", "disable", "claude-code")
	for i := range hooks {
		checkHookResult(t, runHook(t, dataDir, fixtures[i].payload), 5*time.Second)
	}
	src := filepath.Join(t.TempDir(), "claude")
	lines, _ := copyTranscripts(t, sharedTranscripts, src)
	res := agentOK(t, dataDir, "import", "--source", src)
	if !strings.Contains(res.stdout, fmt.Sprintf("No capture plugin serves Claude Code: %d lines wait, sealed,", lines)) {
		t.Errorf("agent import does not say the lines wait:\n%s", res.stdout)
	}
	st := waitSettled(t, dataDir, 30*time.Second)
	if st.EventsStored != 0 || st.DLQSize != 0 || !st.SpoolParked {
		t.Fatalf("with no capture: %d events, %d dead letters, parked %v; want nothing stored or dead-lettered, the records parked", st.EventsStored, st.DLQSize, st.SpoolParked)
	}
	if out := agentOK(t, dataDir, "status").stdout; !strings.Contains(out, "Parked:      records waiting, sealed, for a capture plugin") {
		t.Errorf("agent status does not say records wait:\n%s", out)
	}

	// The daemon down: hooks spool; started again (still no capture), it drains them into parked.
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exit %d", code)
	}
	for i := hooks; i < hooks+down; i++ {
		checkHookResult(t, runHook(t, dataDir, fixtures[i].payload), 5*time.Second)
	}
	d = startDaemon(t, dataDir, nil)
	st = waitSettled(t, dataDir, 30*time.Second)
	if st.EventsStored != 0 || st.DLQSize != 0 || !st.SpoolParked {
		t.Fatalf("after a restart: %+v", st)
	}
	if entries, _ := os.ReadDir(filepath.Join(dataDir, daemon.SpoolName, daemon.ParkedName)); len(entries) == 0 {
		t.Fatal("spool/parked is empty")
	}

	// Enabled again: everything is captured, once.
	agentOK(t, dataDir, "plugins", "enable", "claude-code")
	waitFor(t, 60*time.Second, func() string {
		st = apiStatus(t, dataDir)
		if st.SpoolParked || st.QueueDepth != 0 || st.EventsStored != want.EventsStored+hooks+down {
			return fmt.Sprintf("parked %v, queue %d, %d events; want the parked records captured (%d events)", st.SpoolParked, st.QueueDepth, st.EventsStored, want.EventsStored+hooks+down)
		}
		return ""
	})
	st = waitSettled(t, dataDir, 30*time.Second)
	if got := byKind(st); !maps.Equal(got, wantKinds) || st.DLQSize != 0 {
		t.Errorf("by kind %v, %d dead letters; want %v and none", got, st.DLQSize, wantKinds)
	}
	if entries, _ := os.ReadDir(filepath.Join(dataDir, daemon.SpoolName, daemon.ParkedName)); len(entries) != 0 {
		t.Errorf("spool/parked still holds %d files", len(entries))
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
}
