package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline/transcripts"
)

// The daemon follows Claude Code's transcripts in the standard locations (see
// transcripts.Locations) while it serves, sending each new line to its own intake. Two environment
// variables of `agent run` set it up:
const (
	// EnvTranscripts set to "off" (or "0", "false", "no") stops the daemon from following
	// transcripts; `agent import` still works.
	EnvTranscripts = "HANGAR_TRANSCRIPTS"
	// EnvTranscriptsRescan is the interval of the full scans that back file notifications up, as
	// a Go duration ("30s", the default).
	EnvTranscriptsRescan = "HANGAR_TRANSCRIPTS_RESCAN"
)

// SecretName is the install secret's file in the data directory: 32 random bytes, 0600, made on
// first use (host.LoadOrCreateSecret). Plugins' salted hashes (prompts, projects) and the keys of
// transcript checkpoints derive from it, so it never leaves the machine and is never rotated:
// losing it makes new hashes differ from stored ones.
const SecretName = "secret"

// transcriptsByDefault says whether the daemon follows transcripts when EnvTranscripts is unset:
// it does, since the default Claude Code capture (the first-party plugin) reduces their lines.
const transcriptsByDefault = true

// transcriptSettings reads the environment switches.
func transcriptSettings(getenv func(string) string) (on bool, rescan time.Duration, err error) {
	on = transcriptsByDefault
	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvTranscripts))); v {
	case "":
	case "on", "1", "true", "yes":
		on = true
	case "off", "0", "false", "no":
		on = false
	default:
		err = fmt.Errorf("%s=%q: want on or off; following transcripts", EnvTranscripts, v)
	}
	if v := strings.TrimSpace(getenv(EnvTranscriptsRescan)); v != "" {
		d, perr := time.ParseDuration(v)
		if perr != nil || d <= 0 {
			err = errors.Join(err, fmt.Errorf("%s=%q: want a positive duration such as 30s; using the default", EnvTranscriptsRescan, v))
		} else {
			rescan = d
		}
	}
	return on, rescan, err
}

// transcriptsLoop follows the transcripts until ctx ends, unless EnvTranscripts turns it off.
func (d *Daemon) transcriptsLoop(ctx context.Context) {
	log := d.log.With("component", "transcripts")
	on, rescan, err := transcriptSettings(os.Getenv)
	if err != nil {
		log.Warn("transcripts: settings", "err", err)
	}
	if !on {
		log.Info("transcripts: not following (" + EnvTranscripts + "=off)")
		return
	}
	secret, err := host.LoadOrCreateSecret(filepath.Join(d.cfg.DataDir, SecretName))
	if err != nil {
		log.Error("transcripts: not following", "err", err)
		return
	}
	t, err := transcripts.NewTailer(transcripts.Config{
		Sink:        d.intake,
		Checkpoints: &transcripts.HashedCheckpoints{Inner: transcripts.StoreCheckpoints{St: d.st}, Key: secret},
		Report:      onceReporter(log),
	})
	if err != nil {
		log.Error("transcripts: start", "err", err)
		return
	}
	w, err := transcripts.NewWatcher(t, transcripts.WatcherConfig{Rescan: rescan, Logger: log})
	if err != nil {
		log.Error("transcripts: start", "err", err)
		return
	}
	log.Info("transcripts: following", "locations", transcripts.Candidates(os.Getenv))
	if err := w.Run(ctx); err != nil {
		log.Error("transcripts: stopped", "err", err)
	}
}

// onceReporter logs each file that cannot be read, once per path and error.
func onceReporter(log *slog.Logger) func(path string, err error) {
	var mu sync.Mutex
	seen := map[string]string{}
	return func(path string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if seen[path] == err.Error() {
			return
		}
		seen[path] = err.Error()
		log.Warn("transcripts: skipped", "path", path, "err", err)
	}
}

// ImportRequest is the body of POST /v1/transcripts/import.
type ImportRequest struct {
	// Roots are the absolute paths of the folders to read: projects folders, as
	// transcripts.Locations and transcripts.SourceRoot give them.
	Roots []string `json:"roots"`
}

// ImportEvent is a line of the answer of POST /v1/transcripts/import (JSON lines, each sent as it
// happens), and what Client.ImportTranscripts passes on. Exactly one field is set.
type ImportEvent struct {
	// Scan comes first: what the import will read.
	Scan *ImportScan `json:"scan,omitempty"`
	// Progress comes every importProgressEvery while the files are read.
	Progress *transcripts.Totals `json:"progress,omitempty"`
	// Skipped is a file or folder that cannot be read; the import goes on without it.
	Skipped *ImportSkip `json:"skipped,omitempty"`
	// End is the last line.
	End *ImportEnd `json:"end,omitempty"`
}

// ImportScan says what an import will read.
type ImportScan struct {
	// Files counts the transcripts found.
	Files int `json:"files"`
	// Pending estimates the bytes to read: what the files hold past their checkpoints.
	Pending int64 `json:"pending_bytes"`
}

// ImportSkip is a file or folder an import cannot read.
type ImportSkip struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// ImportEnd ends an import: its totals, and why it stopped short, if it did.
type ImportEnd struct {
	transcripts.Totals
	Error string `json:"error,omitempty"`
}

// ErrImportStopped means an import stopped short because the daemon is stopping. What it read is
// stored, and a new import goes on where it stopped.
var ErrImportStopped = errors.New("the daemon is stopping")

// importWorkers is how many transcripts an import reads at once: the intake captures the
// batches of each in parallel and commits them together.
const importWorkers = 4

// importProgressEvery is how often an import reports its progress.
const importProgressEvery = 100 * time.Millisecond

// importTranscripts reads the transcripts below roots into the store, sharing its checkpoints
// with the daemon's tailer so that neither sends again what the other sent, and tells ev how it
// goes (every ImportEvent but End; ev is never called twice at once). It returns the totals, with
// why it stopped short if it did.
func (d *Daemon) importTranscripts(ctx context.Context, roots []string, ev func(ImportEvent)) (transcripts.Totals, error) {
	var mu sync.Mutex
	emit := func(e ImportEvent) {
		mu.Lock()
		defer mu.Unlock()
		ev(e)
	}
	secret, err := host.LoadOrCreateSecret(filepath.Join(d.cfg.DataDir, SecretName))
	if err != nil {
		return transcripts.Totals{}, err
	}
	t, err := transcripts.NewTailer(transcripts.Config{
		Sink:        d.intake,
		Checkpoints: &transcripts.HashedCheckpoints{Inner: transcripts.StoreCheckpoints{St: d.st}, Key: secret},
		Workers:     importWorkers,
		Report: func(path string, err error) {
			emit(ImportEvent{Skipped: &ImportSkip{Path: path, Error: err.Error()}})
		},
	})
	if err != nil {
		return transcripts.Totals{}, err
	}
	sc, err := t.Scan(ctx, roots)
	if err != nil {
		return transcripts.Totals{}, err
	}
	emit(ImportEvent{Scan: &ImportScan{Files: len(sc.Files), Pending: sc.Pending}})
	var st transcripts.Stats
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(importProgressEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				tt := st.Totals()
				emit(ImportEvent{Progress: &tt})
			}
		}
	}()
	err = t.Sync(ctx, sc, &st)
	close(done)
	<-stopped
	return st.Totals(), err
}

// postTranscriptsImport runs an import (see ImportRequest) and streams its ImportEvents as JSON
// lines. It stops when the client goes away or the daemon stops.
func (d *Daemon) postTranscriptsImport(w http.ResponseWriter, r *http.Request) {
	var req ImportRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("decode request: %w", err))
		return
	}
	if len(req.Roots) == 0 {
		writeError(w, http.StatusBadRequest, errors.New("no roots to import"))
		return
	}
	for _, root := range req.Roots {
		if !filepath.IsAbs(root) {
			writeError(w, http.StatusBadRequest, fmt.Errorf("root %q is not an absolute path", root))
			return
		}
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	if d.serveCtx != nil {
		defer context.AfterFunc(d.serveCtx, func() { cancel(ErrImportStopped) })()
	}
	w.Header().Set("Content-Type", ImportEventsType)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	send := func(e ImportEvent) {
		// A client gone away ends the request's context, which stops the import.
		if enc.Encode(e) == nil {
			rc.Flush()
		}
	}
	tot, err := d.importTranscripts(ctx, req.Roots, send)
	end := ImportEnd{Totals: tot}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%w)", cause, err)
		}
		end.Error = err.Error()
	}
	send(ImportEvent{End: &end})
}

// ImportEventsType is the media type of the answer of POST /v1/transcripts/import: ImportEvents,
// one JSON document per line.
const ImportEventsType = "application/x-ndjson"

// ImportTranscripts has the daemon read the transcripts below roots (absolute paths) into its
// store, as POST /v1/transcripts/import does; a LocalClient's daemon does it in this process. It
// calls ev with every ImportEvent but End (never twice at once), and returns the totals, with
// the reason the import stopped short if it did: the context's error if it ended.
func (c *Client) ImportTranscripts(ctx context.Context, roots []string, ev func(ImportEvent)) (transcripts.Totals, error) {
	if c.local != nil {
		return c.local.importTranscripts(ctx, roots, ev)
	}
	body, err := json.Marshal(ImportRequest{Roots: roots})
	if err != nil {
		return transcripts.Totals{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent/v1/transcripts/import", bytes.NewReader(body))
	if err != nil {
		return transcripts.Totals{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return transcripts.Totals{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return transcripts.Totals{}, statusError(resp)
	}
	var last transcripts.Totals
	dec := json.NewDecoder(resp.Body)
	for {
		var e ImportEvent
		if err := dec.Decode(&e); err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			return last, fmt.Errorf("the daemon's answer ended before the import did: %w", err)
		}
		switch {
		case e.End != nil:
			if e.End.Error != "" {
				return e.End.Totals, errors.New(e.End.Error)
			}
			return e.End.Totals, nil
		case e.Progress != nil:
			last = *e.Progress
		}
		ev(e)
	}
}
