package transcripts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// runWatcher runs a watcher of e's projects folder until the test ends.
func runWatcher(t *testing.T, e *env, cfg WatcherConfig) *Watcher {
	t.Helper()
	if cfg.Locations == nil {
		cfg.Locations = func() []string { return []string{e.root} }
	}
	w, err := NewWatcher(e.tl, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return w
}

// waitPayloads waits until the sink has received these payloads (in any order), then checks it
// received nothing else.
func waitPayloads(t *testing.T, e *env, want ...string) {
	t.Helper()
	var got []string
	eventually(t, fmt.Sprintf("records %q", want), func() bool {
		got = append(got, payloads(e.sink.take())...)
		return len(got) >= len(want)
	})
	time.Sleep(50 * time.Millisecond)
	got = append(got, payloads(e.sink.take())...)
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("records = %q, want %q", got, want)
	}
}

// TestWatcherNotifications follows files by notifications alone (the rescan is an hour away):
// lines appended, new sessions, new project folders, and subagent folders.
func TestWatcherNotifications(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("p/s.jsonl", "{\"a\":1}\n")
	runWatcher(t, e, WatcherConfig{Rescan: time.Hour, Settle: 10 * time.Millisecond})
	waitPayloads(t, e, `{"a":1}`) // the first scan

	e.appendTo("p/s.jsonl", "{\"a\":2}\n")
	waitPayloads(t, e, `{"a":2}`)
	e.write("p/t.jsonl", "{\"t\":1}\n")
	waitPayloads(t, e, `{"t":1}`)
	e.write("q/new.jsonl", "{\"q\":1}\n") // a new project folder, with a file already in it
	waitPayloads(t, e, `{"q":1}`)
	e.appendTo("q/new.jsonl", "{\"q\":2}\n")
	waitPayloads(t, e, `{"q":2}`)
	e.write("q/new/subagents/agent-a.jsonl", "{\"sub\":1}\n")
	waitPayloads(t, e, `{"sub":1}`)
	e.appendTo("q/new/subagents/agent-a.jsonl", "{\"sub\":2}\n")
	waitPayloads(t, e, `{"sub":2}`)

	// A deleted file loses its checkpoint.
	if err := os.Remove(e.path("p/t.jsonl")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the checkpoint of a deleted file to go", func() bool { return e.checkpoint("p/t.jsonl") == nil })
}

// TestWatcherRescan follows files by the full scans alone, as where notifications are lost or
// unavailable; a projects folder that appears later is picked up.
func TestWatcherRescan(t *testing.T) {
	e := newEnv(t, Config{})
	late := filepath.Join(filepath.Dir(e.root), "late", ProjectsDir)
	emptyHome := t.TempDir()
	runWatcher(t, e, WatcherConfig{
		Rescan:      20 * time.Millisecond,
		WatchBudget: 1, // too small for any folder: no notifications
		Locations: func() []string {
			return Locations(func(k string) string { return map[string]string{"HOME": emptyHome}[k] })
		},
	})
	e.write("p/s.jsonl", "{\"a\":1}\n")
	// Locations found nothing (no CLAUDE_CONFIG_DIR, nothing in HOME): nothing is read.
	time.Sleep(100 * time.Millisecond)
	if recs := e.sink.take(); len(recs) != 0 {
		t.Fatalf("read %d records from no location", len(recs))
	}

	e2 := newEnv(t, Config{})
	e2.sink = e.sink
	e2.tl = e2.tailer(Config{})
	runWatcher(t, e2, WatcherConfig{
		Rescan:      20 * time.Millisecond,
		WatchBudget: 1,
		Locations: func() []string {
			return Locations(func(k string) string {
				return map[string]string{"HOME": emptyHome, "CLAUDE_CONFIG_DIR": filepath.Dir(e2.root) + "," + filepath.Dir(late)}[k]
			})
		},
	})
	e2.write("p/s.jsonl", "{\"a\":1}\n")
	waitPayloads(t, e2, `{"a":1}`)
	e2.appendTo("p/s.jsonl", "{\"a\":2}\n")
	waitPayloads(t, e2, `{"a":2}`)
	if err := os.MkdirAll(filepath.Join(late, "p"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(late, "p", "l.jsonl"), []byte("{\"late\":1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitPayloads(t, e2, `{"late":1}`)
}

// TestWatcherNewFolderFileRace makes a project folder's first file right after the watcher listed
// the new folder, as Claude Code does (a folder, and at once its first transcript): the file is read
// from a notification, with the rescan an hour away. Listing before watching lost it.
func TestWatcherNewFolderFileRace(t *testing.T) {
	e := newEnv(t, Config{})
	var once sync.Once
	listedHook = func(dir string) {
		if filepath.Base(dir) == "late" {
			once.Do(func() { e.write("late/s.jsonl", "{\"late\":1}\n") })
		}
	}
	t.Cleanup(func() { listedHook = func(string) {} })
	e.write("p/s.jsonl", "{\"a\":1}\n")
	runWatcher(t, e, WatcherConfig{Rescan: time.Hour, Settle: 10 * time.Millisecond})
	waitPayloads(t, e, `{"a":1}`) // the first scan is done: the projects folder is watched
	if err := os.MkdirAll(e.path("late"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitPayloads(t, e, `{"late":1}`)
}
