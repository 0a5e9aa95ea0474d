package daemon

import (
	"path/filepath"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hangar-dev/hangar/host"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/transcripts"
	"github.com/hangar-dev/hangar/store"
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

// TranscriptCheckpoint is a transcript's checkpoint, as GET /v1/transcripts/checkpoints lists them.
type TranscriptCheckpoint struct {
	File       string           `json:"file"`
	Checkpoint store.Checkpoint `json:"checkpoint"`
}

// CheckpointSwap is the body of POST /v1/transcripts/checkpoints/swap: replace the checkpoint of
// File with To (null deletes it) if it is From (null: it has none).
type CheckpointSwap struct {
	File string            `json:"file"`
	From *store.Checkpoint `json:"from"`
	To   *store.Checkpoint `json:"to"`
}

// SwapResult is the answer of POST /v1/transcripts/checkpoints/swap.
type SwapResult struct {
	Swapped bool `json:"swapped"`
}

// transcriptRoutes adds the transcript checkpoint routes to the API, for `agent import` to share
// the daemon's checkpoints.
func (d *Daemon) transcriptRoutes(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/transcripts/checkpoints", d.listTranscriptCheckpoints)
	mux.HandleFunc("POST /v1/transcripts/checkpoints/swap", d.swapTranscriptCheckpoint)
	mux.Handle("/", api)
	return mux
}

// listTranscriptCheckpoints answers with the checkpoints of the files whose path starts with the
// query parameter prefix.
func (d *Daemon) listTranscriptCheckpoints(w http.ResponseWriter, r *http.Request) {
	out := []TranscriptCheckpoint{}
	err := d.st.Checkpoints(transcripts.Namespace, r.URL.Query().Get("prefix"), func(file string, cp store.Checkpoint) error {
		out = append(out, TranscriptCheckpoint{File: file, Checkpoint: cp})
		return nil
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Daemon) swapTranscriptCheckpoint(w http.ResponseWriter, r *http.Request) {
	var req CheckpointSwap
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("decode request: %w", err))
		return
	}
	ok, err := d.st.SwapCheckpoint(transcripts.Namespace, req.File, req.From, req.To)
	switch {
	case errors.Is(err, store.ErrCheckpoint):
		writeError(w, http.StatusBadRequest, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, SwapResult{Swapped: ok})
	}
}

// TranscriptCheckpoints returns the checkpoints of the transcripts whose path starts with prefix.
func (c *Client) TranscriptCheckpoints(ctx context.Context, prefix string) ([]TranscriptCheckpoint, error) {
	var out []TranscriptCheckpoint
	err := c.do(ctx, http.MethodGet, "/v1/transcripts/checkpoints?prefix="+url.QueryEscape(prefix), "", nil, &out)
	return out, err
}

// SwapTranscriptCheckpoint swaps a transcript's checkpoint (see CheckpointSwap).
func (c *Client) SwapTranscriptCheckpoint(ctx context.Context, s CheckpointSwap) (bool, error) {
	var res SwapResult
	err := c.postJSON(ctx, "/v1/transcripts/checkpoints/swap", s, &res)
	return res.Swapped, err
}

// TranscriptSink is a transcripts.Sink that posts records to the daemon as frames (POST
// /v1/events). A busy daemon's answer (503) is an error wrapping pipeline.ErrBusy.
type TranscriptSink struct{ C *Client }

var _ transcripts.Sink = TranscriptSink{}

// Submit implements transcripts.Sink.
func (s TranscriptSink) Submit(ctx context.Context, recs []pipeline.RawRecord) (pipeline.Result, error) {
	var frames []byte
	for i := range recs {
		frames = pipeline.AppendFrame(frames, &recs[i])
	}
	res, err := s.C.PostFrames(ctx, frames)
	var se *StatusError
	if errors.As(err, &se) && se.Code == http.StatusServiceUnavailable {
		return res, fmt.Errorf("%w: %s", pipeline.ErrBusy, se.Message)
	}
	return res, err
}

// TranscriptSink returns where a tailer run with c submits records: the daemon's intake itself
// when c is a LocalClient (as the daemon's own tailer does: no frames to encode and decode), else
// a TranscriptSink.
func (c *Client) TranscriptSink() transcripts.Sink {
	if c.local != nil {
		return c.local.intake
	}
	return TranscriptSink{C: c}
}

// TranscriptCheckpoints is a transcripts.Checkpoints kept by the daemon.
type TranscriptCheckpoints struct{ C *Client }

var _ transcripts.Checkpoints = TranscriptCheckpoints{}

// List implements transcripts.Checkpoints.
func (c TranscriptCheckpoints) List(ctx context.Context, prefix string) (map[string]store.Checkpoint, error) {
	list, err := c.C.TranscriptCheckpoints(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.Checkpoint, len(list))
	for _, e := range list {
		out[e.File] = e.Checkpoint
	}
	return out, nil
}

// Get implements transcripts.Checkpoints.
func (c TranscriptCheckpoints) Get(ctx context.Context, file string) (*store.Checkpoint, error) {
	list, err := c.C.TranscriptCheckpoints(ctx, file)
	if err != nil {
		return nil, err
	}
	for _, e := range list {
		if e.File == file {
			return &e.Checkpoint, nil
		}
	}
	return nil, nil
}

// Swap implements transcripts.Checkpoints.
func (c TranscriptCheckpoints) Swap(ctx context.Context, file string, from, to *store.Checkpoint) (bool, error) {
	return c.C.SwapTranscriptCheckpoint(ctx, CheckpointSwap{File: file, From: from, To: to})
}
