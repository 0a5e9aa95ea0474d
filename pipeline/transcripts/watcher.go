package transcripts

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatcherConfig configures a Watcher. Zero fields take their defaults.
type WatcherConfig struct {
	// Locations returns the projects folders to follow. It is called at every full scan, so a
	// folder that appears later is followed from the next one. Default: Locations(os.Getenv).
	Locations func() []string
	// Rescan is the interval of full scans. Default 30 s.
	Rescan time.Duration
	// Settle is how long notifications are gathered before the files they name are read, so that
	// a burst of writes costs one read. Default 100 ms.
	Settle time.Duration
	// WatchBudget bounds the file descriptors that watching may use where each watched file
	// costs one (kqueue: macOS, BSD); folders past it are left to the full scans. Default 128
	// there; unbounded elsewhere (inotify watches folders without descriptors).
	WatchBudget int
	// Logger receives the watcher's logs. Nil discards them.
	Logger *slog.Logger
}

// Validate reports a configuration error.
func (c *WatcherConfig) Validate() error {
	if c.Rescan < 0 || c.Settle < 0 || c.WatchBudget < 0 {
		return errors.New("watcher: negative interval or budget")
	}
	return nil
}

func (c *WatcherConfig) setDefaults() {
	if c.Locations == nil {
		c.Locations = func() []string { return Locations(os.Getenv) }
	}
	if c.Rescan == 0 {
		c.Rescan = 30 * time.Second
	}
	if c.Settle == 0 {
		c.Settle = 100 * time.Millisecond
	}
	if c.WatchBudget == 0 && kqueue {
		c.WatchBudget = 128
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// kqueue is true where fsnotify opens a descriptor for every file of a watched folder.
var kqueue = runtime.GOOS == "darwin" || runtime.GOOS == "dragonfly" || strings.HasSuffix(runtime.GOOS, "bsd")

// Watcher follows the transcripts of some locations as they are written: it reads the files that
// notifications name, and scans everything at start and every Rescan. Run it in one goroutine.
type Watcher struct {
	t   *Tailer
	cfg WatcherConfig
	log *slog.Logger
	st  Stats

	fw      *fsnotify.Watcher // nil without notifications
	watched map[string]bool   // folders watched
	spent   int               // descriptors the watches hold (kqueue)
	roots   []string          // of the last full scan
	pending map[string]File   // files named by notifications, waiting for Settle
}

// NewWatcher returns a watcher that reads with t.
func NewWatcher(t *Tailer, cfg WatcherConfig) (*Watcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Watcher{t: t, cfg: cfg, log: cfg.Logger, watched: map[string]bool{}, pending: map[string]File{}}, nil
}

// Stats returns the watcher's counts since it started.
func (w *Watcher) Stats() *Stats { return &w.st }

// Run follows the locations until ctx ends; it returns nil then. Without file notifications (an
// error creating the watcher) it goes on with the scans alone.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.log.Warn("transcripts: no file notifications, scanning only", "every", w.cfg.Rescan, "err", err)
	} else {
		w.fw = fw
		defer fw.Close()
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.fw != nil {
		events, errs = w.fw.Events, w.fw.Errors
	}
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	armed := false // settle runs: a steady stream of notifications must not postpone it forever
	rescan := time.NewTicker(w.cfg.Rescan)
	defer rescan.Stop()
	w.scan(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-rescan.C:
			w.scan(ctx)
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if w.event(ev) && !armed {
				settle.Reset(w.cfg.Settle)
				armed = true
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			w.log.Warn("transcripts: file notifications", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.scan(ctx) // notifications were lost
			}
		case <-settle.C:
			armed = false
			w.syncPending(ctx)
		}
	}
}

// scan reads every file of the locations and watches their folders.
func (w *Watcher) scan(ctx context.Context) {
	w.roots = w.cfg.Locations()
	before := w.st.Totals()
	sc, err := w.t.Scan(ctx, w.roots)
	if err == nil {
		for _, d := range sc.Dirs {
			w.watch(d)
		}
		err = w.t.Sync(ctx, sc, &w.st)
	}
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("transcripts: scan", "err", err)
		}
		return
	}
	w.logProgress("transcripts: scanned", before, "files_found", len(sc.Files))
}

// logProgress logs what was read since before, if anything.
func (w *Watcher) logProgress(msg string, before Totals, args ...any) {
	now := w.st.Totals()
	if now.Lines == before.Lines && now.Removed == before.Removed && now.Restarted == before.Restarted {
		return
	}
	w.log.Info(msg, append(args, "lines", now.Lines-before.Lines, "bytes", now.Bytes-before.Bytes,
		"stored", now.Stored-before.Stored, "duplicates", now.Duplicates-before.Duplicates,
		"dead_lettered", now.DeadLettered-before.DeadLettered, "restarted", now.Restarted-before.Restarted,
		"removed", now.Removed-before.Removed)...)
}

// watch adds a watch on a folder, within the budget.
func (w *Watcher) watch(dir string) {
	if w.fw == nil || w.watched[dir] {
		return
	}
	cost := 1
	if w.cfg.WatchBudget > 0 {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		cost += len(entries)
		if w.spent+cost > w.cfg.WatchBudget {
			return // left to the scans
		}
	}
	if err := w.fw.Add(dir); err != nil {
		w.log.Debug("transcripts: cannot watch", "dir", dir, "err", err)
		return
	}
	w.watched[dir] = true
	w.spent += cost
}

// event takes a notification and reports whether it named a file to read.
func (w *Watcher) event(ev fsnotify.Event) bool {
	root, name, ok := w.locate(ev.Name)
	if !ok {
		return false
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if w.watched[ev.Name] {
			delete(w.watched, ev.Name) // fsnotify dropped the watch of a folder that went
			w.fw.Remove(ev.Name)
		}
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
			// A new folder (a new project, or subagents/): watch it and read what it already holds.
			// Watch first and list after: a file made between a listing and the watch of its folder
			// (Claude Code makes a project's folder and at once its first transcript) would
			// otherwise wait for the next rescan. So: the folder's watch, a listing for the folders
			// below it, their watches, and a second listing for the files.
			w.watch(ev.Name)
			_, dirs := walk([]string{ev.Name}, nil)
			listedHook(ev.Name)
			for _, d := range dirs {
				w.watch(d)
			}
			files, _ := walk([]string{ev.Name}, nil)
			for _, f := range files {
				f.Root, f.Name = root, name+"/"+f.Name
				w.pending[f.Path] = f
			}
			return len(files) > 0
		}
	}
	if !strings.HasSuffix(ev.Name, ".jsonl") {
		return false
	}
	w.pending[ev.Name] = File{Path: ev.Name, Root: root, Name: name}
	return true
}

// listedHook is called when a new folder has been listed for the first time; tests set it to make
// a file at that moment.
var listedHook = func(dir string) {}

// locate returns the projects folder that path is in and its name below it; ok is false for a
// path outside them, or with a part that starts with a dot.
func (w *Watcher) locate(path string) (root, name string, ok bool) {
	for _, r := range w.roots {
		rel, err := filepath.Rel(r, path)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			continue
		}
		rel = filepath.ToSlash(rel)
		for _, part := range strings.Split(rel, "/") {
			if strings.HasPrefix(part, ".") {
				return "", "", false
			}
		}
		return r, rel, true
	}
	return "", "", false
}

// syncPending reads the files that notifications named.
func (w *Watcher) syncPending(ctx context.Context) {
	before := w.st.Totals()
	for p, f := range w.pending {
		delete(w.pending, p)
		if err := w.t.SyncFile(ctx, f, &w.st); err != nil {
			if ctx.Err() == nil {
				w.log.Error("transcripts: read", "file", p, "err", err)
			}
			return // the next scan tries again
		}
	}
	w.logProgress("transcripts: read", before)
}
