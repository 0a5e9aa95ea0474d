package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// TestCrashSafety streams real hook payloads into `agent run` from API clients and from real hook
// processes, SIGKILLs the daemon at a random moment, restarts it, and repeats. After every crash
// the store must open cleanly and hold every acknowledged record exactly once; after every restart
// the spool must drain, and the daily-counts consumer must agree with the store once caught up.
//
// HANGAR_CRASH_CYCLES sets the number of cycles (default 20).
func TestCrashSafety(t *testing.T) {
	cycles := 20
	if v := os.Getenv("HANGAR_CRASH_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HANGAR_CRASH_CYCLES=%q: want a positive integer", v)
		}
		cycles = n
	}
	const (
		apiClients  = 4
		hookClients = 2
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d cycles", seed, cycles)
	rng := rand.New(rand.NewPCG(seed, 0))
	dataDir := newDataDir(t)

	var (
		mu           sync.Mutex
		acked        []sdk.ID // event ids of acknowledged API records, checked from ackedChecked on
		ackedChecked int
		sent         int      // API records sent, acknowledged or not
		hookSessions []string // session ids of hook runs that exited, one event each
		hooksChecked int
		hooksStarted int
		hookErrs     []error
	)
	seen := map[sdk.ID]uint64{} // event id -> seq, of the log read so far
	var logEnd uint64
	hooksDrained := 0
	var logEvents int
	var totalSpooled, totalDuplicates, failedPosts atomic.Int64

	for cycle := 1; cycle <= cycles; cycle++ {
		d := startDaemon(t, dataDir, nil)

		// Every third cycle, traffic starts at once and the crash may hit the daemon while it
		// drains the spool; otherwise the daemon first settles and is checked.
		if cycle%3 != 0 {
			// The restart drained what hooks spooled while the daemon was down, and the consumer
			// catches up with the log.
			st := waitSettled(t, dataDir, 30*time.Second)
			if got := dailyTotal(t, dataDir); got != st.EventsStored {
				t.Fatalf("cycle %d: daily counts total %d, events_stored %d: the consumer is not exactly-once", cycle, got, st.EventsStored)
			}
			mu.Lock()
			if least := int64(len(acked) + len(hookSessions)); st.EventsStored < least {
				t.Errorf("cycle %d: events_stored = %d, want at least %d (acknowledged API records %d + finished hooks %d)", cycle, st.EventsStored, least, len(acked), len(hookSessions))
			}
			if most := int64(sent + hooksStarted); st.EventsStored > most {
				t.Errorf("cycle %d: events_stored = %d, more than the %d records ever sent", cycle, st.EventsStored, most)
			}
			// Hooks that exited before this restart are stored now (posted or drained from the spool).
			hooksDrained = len(hookSessions)
			mu.Unlock()
			if dlq := st.DLQSize; dlq != 0 {
				t.Errorf("cycle %d: dlq_size = %d, want 0: every payload was a real one", cycle, dlq)
			}
		}

		// Traffic, then a SIGKILL at a random moment.
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range apiClients {
			wg.Add(1)
			r := rand.New(rand.NewPCG(rng.Uint64(), 0))
			go func() {
				defer wg.Done()
				c := daemon.NewClient(dataDir)
				for ctx.Err() == nil {
					n := 1 + r.IntN(3)
					var frames []byte
					ids := make([]sdk.ID, 0, n)
					for range n {
						rec := newRecord(fixtures[r.IntN(len(fixtures))].payload)
						frames = pipeline.AppendFrame(frames, &rec)
						ids = append(ids, pipeline.EventID(&rec, 0))
					}
					mu.Lock()
					sent += n
					mu.Unlock()
					reqCtx, reqCancel := context.WithTimeout(context.Background(), 5*time.Second)
					res, err := c.PostFrames(reqCtx, frames)
					reqCancel()
					var se *daemon.StatusError
					switch {
					case err == nil:
						if res.Stored+res.Duplicates != n || res.DeadLettered != 0 {
							t.Errorf("POST of %d records answered %+v", n, res)
						}
						totalDuplicates.Add(int64(res.Duplicates))
						mu.Lock()
						acked = append(acked, ids...)
						mu.Unlock()
					case errors.As(err, &se) && se.Code == 503:
						// Busy: not acknowledged; a client would retry later.
						time.Sleep(5 * time.Millisecond)
					default:
						// The daemon died under us (or is gone): not acknowledged.
						failedPosts.Add(1)
						select {
						case <-ctx.Done():
						case <-time.After(5 * time.Millisecond):
						}
					}
				}
			}()
		}
		for range hookClients {
			wg.Add(1)
			r := rand.New(rand.NewPCG(rng.Uint64(), 0))
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					sid := uuid()
					payload, perr := setSession(fixtures[r.IntN(len(fixtures))].payload, sid)
					mu.Lock()
					hooksStarted++
					mu.Unlock()
					var res result
					var err error
					if perr == nil {
						res, err = execAgent(nil, bytes.NewReader(payload), 10*time.Second, "hook", "claude-code", "--data-dir", dataDir)
					}
					mu.Lock()
					switch {
					case perr != nil:
						hookErrs = append(hookErrs, perr)
					case err != nil:
						hookErrs = append(hookErrs, err)
					case res.code != 0 || res.stdout != "":
						hookErrs = append(hookErrs, fmt.Errorf("hook exit %d, stdout %q", res.code, res.stdout))
					default:
						hookSessions = append(hookSessions, sid)
					}
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(20+rng.IntN(281)) * time.Millisecond)
		d.kill()
		// Let the clients see the dead daemon for a moment: hooks now spool.
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		cancel()
		wg.Wait()

		// After the crash: the store opens cleanly and holds every acknowledged record once.
		s := openStore(t, dataDir)
		mu.Lock()
		for _, id := range acked[ackedChecked:] {
			if has, err := s.Has(id); err != nil || !has {
				t.Errorf("cycle %d: acknowledged event %s not stored after the crash (err %v)", cycle, id, err)
			}
		}
		ackedChecked = len(acked)
		for _, sid := range hookSessions[hooksChecked:hooksDrained] {
			if n := sessionEvents(t, s, sid); n != 1 {
				t.Errorf("cycle %d: hook run of session %s stored %d times, want once", cycle, sid, n)
			}
		}
		hooksChecked = hooksDrained
		for _, err := range hookErrs {
			t.Errorf("cycle %d: hook: %v", cycle, err)
		}
		hookErrs = nil
		mu.Unlock()
		var n int
		logEnd, n = checkLog(t, s, logEnd, seen)
		logEvents += n
		if got := s.EventCount(); got != int64(logEvents) {
			t.Errorf("cycle %d: EventCount() = %d, but the log holds %d events", cycle, got, logEvents)
		}
		if spooled := spoolBytes(t, dataDir); spooled > 0 {
			totalSpooled.Add(1)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("cycle %d: close store: %v", cycle, err)
		}
		if t.Failed() {
			t.Fatalf("cycle %d failed (seed %d); daemon output:\n%s", cycle, seed, d.stderr.String())
		}
	}

	// A last restart drains the last cycle's spool; then a clean stop, and the full check.
	d := startDaemon(t, dataDir, nil)
	st := waitSettled(t, dataDir, 30*time.Second)
	if got := dailyTotal(t, dataDir); got != st.EventsStored {
		t.Errorf("final: daily counts total %d, events_stored %d", got, st.EventsStored)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("final: agent run exited %d after SIGTERM, want 0\n%s", code, d.stderr.String())
	}
	s := openStore(t, dataDir)
	defer s.Close()
	for _, id := range acked {
		if has, err := s.Has(id); err != nil || !has {
			t.Errorf("final: acknowledged event %s not stored (err %v)", id, err)
		}
	}
	for _, sid := range hookSessions {
		if n := sessionEvents(t, s, sid); n != 1 {
			t.Errorf("final: hook run of session %s stored %d times, want once", sid, n)
		}
	}
	all := map[sdk.ID]uint64{}
	_, n := checkLog(t, s, 0, all)
	if got := s.EventCount(); got != int64(n) || got != st.EventsStored {
		t.Errorf("final: EventCount() = %d, log holds %d events, daemon reported %d", got, n, st.EventsStored)
	}
	if len(acked) == 0 || len(hookSessions) == 0 {
		t.Errorf("final: %d acknowledged API records and %d finished hooks: the test streamed nothing", len(acked), len(hookSessions))
	}
	t.Logf("%d cycles: %d API records sent, %d acknowledged, %d POSTs failed, %d hook runs, %d events stored; spool non-empty after %d crashes; %d duplicates answered",
		cycles, sent, len(acked), failedPosts.Load(), len(hookSessions), n, totalSpooled.Load(), totalDuplicates.Load())
}

// sessionEvents counts the stored events of a session.
func sessionEvents(t testing.TB, s *store.Store, sid string) int {
	t.Helper()
	n := 0
	if err := s.SessionEvents(sid, func(uint64, *sdk.Event) error { n++; return nil }); err != nil {
		t.Fatalf("session %s: %v", sid, err)
	}
	return n
}

// spoolBytes returns the bytes waiting in the spool.
func spoolBytes(t testing.TB, dataDir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dataDir, daemon.SpoolName))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatalf("read spool: %v", err)
	}
	var n int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			n += info.Size()
		}
	}
	return n
}
