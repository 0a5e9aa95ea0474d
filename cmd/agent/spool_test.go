package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store/seal"
)

// TestSpoolThenDrain runs 1000 hook processes with no daemon, 32 at a time, on a data dir that does
// not exist yet: they race to create the payload key, and each spools its payload sealed under the
// one that won. Then `agent run` starts and stores all 1000, and the spool empties. Half the
// payloads are sent twice: every hook run is its own record, so repeats count.
func TestSpoolThenDrain(t *testing.T) {
	const (
		hooks    = 1000
		distinct = 500
		parallel = 32
	)
	dataDir := newDataDir(t) // does not exist yet: the first hook creates it
	wantKinds := map[string]int64{}
	for i := range hooks {
		wantKinds["claude-code/hook."+fixtures[i%distinct].event]++
	}

	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	start := time.Now()
	for i := range hooks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := execAgent(nil, bytes.NewReader(fixtures[i%distinct].payload), 30*time.Second, "hook", "claude-code", "--data-dir", dataDir)
			if err == nil && (res.code != 0 || res.stdout != "") {
				err = fmt.Errorf("exit %d, stdout %q", res.code, res.stdout)
			}
			if err != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("hook %d: %v", i, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d hooks spooled in %v (%d at a time)", hooks, time.Since(start), parallel)
	for _, f := range failures {
		t.Error(f)
	}

	// The spool holds the 1000 records, in private files.
	if got := fileMode(t, dataDir); got != 0o700 {
		t.Errorf("data dir mode = %v, want 0700", got)
	}
	spoolDir := filepath.Join(dataDir, daemon.SpoolName)
	if got := fileMode(t, spoolDir); got != 0o700 {
		t.Errorf("spool dir mode = %v, want 0700", got)
	}
	entries, err := os.ReadDir(spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("the spool is empty after 1000 hooks ran without a daemon")
	}
	// One payload key, whole, and no temporary key file left by the racers.
	key, err := seal.Load(filepath.Join(dataDir, seal.KeyName))
	if err != nil {
		t.Fatal(err)
	}
	if got := fileMode(t, filepath.Join(dataDir, seal.KeyName)); got != 0o600 {
		t.Errorf("payload key mode = %v, want 0600", got)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dataDir, ".*")); len(tmp) != 0 {
		t.Errorf("temporary files left in the data dir: %q", tmp)
	}
	// Read a copy of the spool (draining it deletes what it read): every payload opens with the
	// key, and none is in the files in the clear.
	copyDir := filepath.Join(t.TempDir(), "spool")
	if err := os.MkdirAll(copyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		path := filepath.Join(spoolDir, e.Name())
		if got := fileMode(t, path); got != 0o600 {
			t.Errorf("spool file %s mode = %v, want 0600", e.Name(), got)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(`"hook_event_name"`)) {
			t.Errorf("spool file %s holds payloads in the clear", e.Name())
		}
		if err := os.WriteFile(filepath.Join(copyDir, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[sdk.ID]bool{}
	ds, err := pipeline.NewSpool(copyDir, key).Drain(func(recs []pipeline.RawRecord) error {
		for _, rec := range recs {
			if rec.Unopened != nil || !bytes.HasPrefix(rec.Payload, []byte("{")) {
				t.Errorf("record %v: payload does not open (%v)", rec.ID, rec.Unopened)
			}
			ids[rec.ID] = true
		}
		return nil
	})
	if err != nil || ds.SkippedBytes != 0 || ds.Unopened != 0 {
		t.Errorf("reading the spool: %+v, %v", ds, err)
	}
	if len(ids) != hooks {
		t.Errorf("spool holds %d distinct records, want %d", len(ids), hooks)
	}
	if log, err := os.ReadFile(filepath.Join(dataDir, "logs", daemon.HookLogName)); err == nil {
		t.Errorf("hooks logged errors while spooling:\n%s", clipString(string(log), 2000))
	}

	d := startDaemon(t, dataDir, nil)
	waitEvents(t, dataDir, hooks, 60*time.Second)
	st := cliStatus(t, dataDir)
	if st.EventsStored != hooks {
		t.Errorf("status --json events_stored = %d, want %d", st.EventsStored, hooks)
	}
	if !st.Running || st.PID != d.pid() {
		t.Errorf("status --json running=%v pid=%d, want running pid %d", st.Running, st.PID, d.pid())
	}
	if st.DLQSize != 0 {
		t.Errorf("dlq_size = %d, want 0", st.DLQSize)
	}
	if got := byKind(st); !maps.Equal(got, wantKinds) {
		t.Errorf("by_kind = %v, want %v", got, wantKinds)
	}
	if got := dailyTotal(t, dataDir); got != hooks {
		t.Errorf("daily counts total = %d, want %d", got, hooks)
	}
	left, err := os.ReadDir(spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("spool still holds %s after the drain", e.Name())
	}
}
