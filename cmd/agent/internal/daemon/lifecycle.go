package daemon

// The lifecycle of derived data: a reindex rebuilds it from the event log, a purge removes events
// and then rebuilds it from what remains (POST /v1/reindex, POST /v1/purge).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/usagestore"
	"github.com/hangar-dev/hangar/store"
)

// ConsumerPauser is an optional ability of a PluginLoader: running a function while its enrich
// and insight plugins are stopped, then starting them again from their cursors in the store (a
// reindex resets those in between). *loader.Loader has it.
type ConsumerPauser interface {
	WhileStopped(fn func() error) (PluginsReloaded, error)
}

// ConsumerLagReporter is an optional ability of a PluginLoader: how far behind each running
// enrich and insight plugin is ("plugin:<name>"), for GET /v1/status, beside the built-in
// consumers. It may be called at any time.
type ConsumerLagReporter interface {
	ConsumerLag() map[string]uint64
}

// ReindexResult is the answer of POST /v1/reindex: what was reset. The consumers then rebuild
// in the background; GET /v1/status shows their lag.
type ReindexResult struct {
	store.ResetResult
}

// PurgeRequest is the body of POST /v1/purge: exactly one of Before (RFC 3339), Session and All.
type PurgeRequest struct {
	Before  time.Time `json:"before,omitzero"`
	Session string    `json:"session,omitempty"`
	All     bool      `json:"all,omitempty"`
}

// PurgeResult is the answer of POST /v1/purge.
type PurgeResult struct {
	store.PurgeResult
	// Reset is what was reset of the derived data, which the consumers rebuild from the events
	// that remain.
	Reset store.ResetResult `json:"reset"`
	// ScrubMS is how long the store took to make the purged bytes leave the disk.
	ScrubMS float64 `json:"scrub_ms"`
}

// Reindex deletes every derived record, the view, the enrich and insight plugins' state and
// cursors and the built-in consumers' (the usage rollup keeps its price table id), with their
// dead letters, and starts the consumers again from the start of the log. It returns once they
// run; they rebuild in the background.
func (d *Daemon) Reindex(ctx context.Context) (ReindexResult, error) {
	var res ReindexResult
	err := d.withConsumersStopped(func() error {
		var err error
		res.ResetResult, err = d.st.ResetDerived(d.resetOptions())
		return err
	})
	if err != nil {
		return res, fmt.Errorf("reindex: %w", err)
	}
	d.log.Info("reindex: derived data reset; the consumers rebuild it", "consumers", res.Consumers, "dead_letters_dropped", res.DeadLetters)
	return res, nil
}

// Purge removes the selected events (store.PurgeEvents), resets the derived data as Reindex
// does, so that the consumers rebuild it from what remains, and scrubs the store so that the
// purged bytes leave the disk (store.Scrub).
func (d *Daemon) Purge(ctx context.Context, req PurgeRequest) (PurgeResult, error) {
	var res PurgeResult
	sel := store.PurgeSelection{Before: req.Before, Session: req.Session, All: req.All}
	if err := sel.Validate(); err != nil {
		return res, err
	}
	err := d.withConsumersStopped(func() error {
		var err error
		if res.PurgeResult, err = d.st.PurgeEvents(sel); err != nil {
			return err
		}
		res.Reset, err = d.st.ResetDerived(d.resetOptions())
		return err
	})
	if err != nil {
		return res, fmt.Errorf("purge: %w", err)
	}
	start := time.Now()
	if err := d.st.Scrub(ctx); err != nil {
		return res, fmt.Errorf("purge: the events are gone, but: %w", err)
	}
	res.ScrubMS = float64(time.Since(start).Microseconds()) / 1000
	d.log.Info("purge", "events", res.Events, "dead_letters", res.DeadLetters, "scrub_ms", res.ScrubMS)
	return res, nil
}

// resetOptions are the built-in consumers a reset starts over, and what the usage rollup keeps.
func (d *Daemon) resetOptions() store.ResetOptions {
	opts := store.ResetOptions{Keep: map[string][][]byte{usagestore.Name: usagestore.KeepOnReset()}}
	for _, c := range d.builtin {
		opts.Consumers = append(opts.Consumers, c.Name())
	}
	return opts
}

// withConsumersStopped runs fn with every consumer stopped (the built-in ones, and the enrich and
// insight plugins when the loader can pause them) and no plugin reload, reprice or dead-letter
// replay running, then starts them again from their cursors.
func (d *Daemon) withConsumersStopped(fn func() error) (err error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.pauseMu.Lock()
	defer d.pauseMu.Unlock()
	if d.closing {
		return pipeline.ErrClosed
	}
	d.consumers.Load().Close() // returns once a batch in flight has committed
	defer func() {
		if serr := d.startConsumers(); serr != nil {
			err = errors.Join(err, fmt.Errorf("restart consumers: %w", serr))
		}
	}()
	p, ok := d.cfg.Plugins.(ConsumerPauser)
	if !ok {
		return fn()
	}
	_, err = p.WhileStopped(fn)
	return err
}

// consumerLag returns the lag of every consumer: the built-in ones and the plugins'.
func (d *Daemon) consumerLag() map[string]uint64 {
	out := d.consumers.Load().Lag()
	if r, ok := d.cfg.Plugins.(ConsumerLagReporter); ok {
		for name, lag := range r.ConsumerLag() {
			out[name] = lag
		}
	}
	return out
}

func (d *Daemon) postReindex(w http.ResponseWriter, r *http.Request) {
	res, err := d.Reindex(r.Context())
	if err != nil {
		writeError(w, lifecycleCode(err), err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (d *Daemon) postPurge(w http.ResponseWriter, r *http.Request) {
	var req PurgeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("decode request: %w", err))
		return
	}
	res, err := d.Purge(r.Context(), req)
	if err != nil {
		writeError(w, lifecycleCode(err), err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func lifecycleCode(err error) int {
	switch {
	case errors.Is(err, store.ErrPurgeSelection):
		return http.StatusBadRequest
	case errors.Is(err, pipeline.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Reindex has the daemon reset its derived data and rebuild it (POST /v1/reindex).
func (c *Client) Reindex(ctx context.Context) (ReindexResult, error) {
	var res ReindexResult
	err := c.do(ctx, http.MethodPost, "/v1/reindex", "application/json", []byte("{}"), &res)
	return res, err
}

// Purge has the daemon purge events and rebuild the derived data from what remains (POST
// /v1/purge).
func (c *Client) Purge(ctx context.Context, req PurgeRequest) (PurgeResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return PurgeResult{}, err
	}
	var res PurgeResult
	err = c.do(ctx, http.MethodPost, "/v1/purge", "application/json", body, &res)
	return res, err
}
