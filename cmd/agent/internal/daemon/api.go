package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/loader"
	"github.com/hangar-dev/hangar/pipeline/usagestore"
	"github.com/hangar-dev/hangar/store"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// API paths and media types.
const (
	// FramesType is the media type of a POST /v1/events body: records framed by pipeline.AppendFrame.
	FramesType = "application/x-hangar-frames"
	// maxBody bounds a POST /v1/events body.
	maxBody = 64 << 20
)

// Status is the answer of GET /v1/status.
type Status struct {
	// Running is true when a daemon serves the API; false when the CLI opened the store itself.
	Running       bool                      `json:"running"`
	PID           int                       `json:"pid,omitempty"`
	StartedAt     time.Time                 `json:"started_at,omitzero"`
	UptimeSeconds float64                   `json:"uptime_seconds,omitempty"`
	Version       string                    `json:"version,omitempty"`
	DataDir       string                    `json:"data_dir"`
	EventsStored  int64                     `json:"events_stored"`
	ByKind        []KindCount               `json:"by_kind"`
	QueueDepth    int64                     `json:"queue_depth"`
	DLQSize       int64                     `json:"dlq_size"`
	StoreBytes    uint64                    `json:"store_bytes"`
	Consumers     map[string]ConsumerStatus `json:"consumers"`
	// ResidentBytes is the running daemon's resident memory; absent when no daemon runs (the
	// CLI's own process, which opened the store, is not the agent).
	ResidentBytes uint64 `json:"resident_bytes,omitempty"`
	SpoolPending  bool   `json:"spool_pending"`
	// SpoolParked is true while records wait, sealed, for a capture plugin to serve their
	// platform (none did when they came).
	SpoolParked bool `json:"spool_parked"`
	// Plugins are the known plugins, by name, with their resource use in this daemon.
	Plugins []PluginStatus `json:"plugins"`
	// Captures says what captures each platform the agent takes: a capture plugin's name@version,
	// or "none".
	Captures map[string]string `json:"captures"`
	// Prices is the price table usage is priced with; UnpricedModels the models it has no price
	// for, whose usage counts 0 USD.
	Prices         PriceTable `json:"prices"`
	UnpricedModels []string   `json:"unpriced_models"`
}

// PluginStatus is one plugin's state and its resource use (see loader.PluginStatus).
type PluginStatus = loader.PluginStatus

// KindCount is the number of stored events of one platform and kind.
type KindCount struct {
	Platform string `json:"platform"`
	Kind     string `json:"kind"`
	Count    int64  `json:"count"`
}

// ConsumerStatus is one consumer's progress.
type ConsumerStatus struct {
	Lag uint64 `json:"lag"`
}

// DLQRequest selects dead letters for POST /v1/dlq/replay and /v1/dlq/drop. An empty Seqs with
// All selects every record; an empty Seqs without All is an error.
type DLQRequest struct {
	Seqs []uint64 `json:"seqs,omitempty"`
	All  bool     `json:"all,omitempty"`
}

// DropResult is the answer of POST /v1/dlq/drop.
type DropResult struct {
	Dropped int `json:"dropped"`
}

// DLQEntry is a dead letter as listed: the record without its payload (its size is in
// PayloadBytes).
type DLQEntry struct {
	store.DLQRecord
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
}

func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", d.postEvents)
	mux.HandleFunc("GET /v1/status", d.getStatus)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/daily", d.getDaily)
	mux.HandleFunc("GET /v1/usage/buckets", d.getUsageBuckets)
	mux.HandleFunc("GET /v1/usage/sums", d.getUsageSums)
	mux.HandleFunc("GET /v1/usage/unpriced", d.getUnpriced)
	mux.HandleFunc("GET /v1/pricing", d.getPricing)
	mux.HandleFunc("POST /v1/pricing/update", d.postPricingUpdate)
	mux.HandleFunc("GET /v1/dlq", d.listDLQ)
	mux.HandleFunc("GET /v1/dlq/{seq}", d.getDLQ)
	mux.HandleFunc("POST /v1/dlq/replay", d.replayDLQ)
	mux.HandleFunc("POST /v1/dlq/drop", d.dropDLQ)
	mux.HandleFunc("POST /v1/plugins/reload", d.postReloadPlugins)
	mux.HandleFunc("POST /v1/audit/flush", d.postFlushAudit)
	mux.HandleFunc("POST /v1/transcripts/import", d.postTranscriptsImport)
	mux.HandleFunc("POST /v1/reindex", d.postReindex)
	mux.HandleFunc("POST /v1/purge", d.postPurge)
	d.derivedRoutes(mux)
	mux.HandleFunc("GET /v1/insights", d.getInsights)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: err.Error()})
}

// postEvents takes framed raw records and answers once they are durable (200 with a
// pipeline.Result), busy (503 with Retry-After), or malformed (400: nothing was taken).
func (d *Daemon) postEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", maxBody))
			return
		}
		writeError(w, http.StatusBadRequest, fmt.Errorf("read body: %w", err))
		return
	}
	var recs []pipeline.RawRecord
	if _, err := pipeline.DecodeFrames(body, false, func(rec pipeline.RawRecord) error {
		if rec.Source == "" {
			rec.Source = "api"
		}
		recs = append(recs, rec)
		return nil
	}); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	res, err := d.intake.Submit(r.Context(), recs)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, res)
	case errors.Is(err, pipeline.ErrBusy), errors.Is(err, pipeline.ErrClosed):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, err)
	default:
		writeError(w, http.StatusInternalServerError, err)
	}
}

// CurrentStatus returns the daemon's status.
func (d *Daemon) CurrentStatus() Status {
	s := Status{
		Running:      d.serving,
		Version:      d.cfg.Version,
		DataDir:      d.cfg.DataDir,
		EventsStored: d.st.EventCount(),
		QueueDepth:   d.intake.QueueDepth(),
		DLQSize:      d.st.DLQCount(),
		StoreBytes:   d.st.DiskSize(),
		Consumers:    map[string]ConsumerStatus{},
		SpoolPending: d.spool.Pending(),
		SpoolParked:  d.parked.Pending(),
		ByKind:       []KindCount{},
		Plugins:      d.pluginStatus(),
		Captures:     d.captures(),
	}
	if d.serving {
		s.ResidentBytes = residentBytes()
		s.PID = os.Getpid()
		s.StartedAt = d.started.UTC()
		s.UptimeSeconds = time.Since(d.started).Seconds()
	}
	for pk, n := range d.st.Counts() {
		s.ByKind = append(s.ByKind, KindCount{Platform: pk.Platform, Kind: pk.Kind, Count: n})
	}
	slices.SortFunc(s.ByKind, func(a, b KindCount) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		if a.Platform != b.Platform {
			return strings.Compare(a.Platform, b.Platform)
		}
		return strings.Compare(a.Kind, b.Kind)
	})
	for name, lag := range d.consumerLag() {
		s.Consumers[name] = ConsumerStatus{Lag: lag}
	}
	s.Prices, s.UnpricedModels = d.priceTable(), []string{}
	if d.usage != nil {
		if models, err := usagestore.UnpricedModels(d.st); err == nil {
			s.UnpricedModels = models
		} else {
			d.log.Warn("status: unpriced models", "err", err)
		}
	}
	return s
}

func (d *Daemon) getStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, d.CurrentStatus())
}

// getDaily answers with the daily-counts consumer's rows, if that consumer runs.
func (d *Daemon) getDaily(w http.ResponseWriter, _ *http.Request) {
	rows, err := pipeline.NewDailyCounts(d.st).Days()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if rows == nil {
		rows = []pipeline.DayCount{}
	}
	writeJSON(w, http.StatusOK, rows)
}

func (d *Daemon) listDLQ(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("bad limit %q", v))
			return
		}
		limit = n
	}
	recs, err := d.dlq.Load().List(limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]DLQEntry, 0, len(recs))
	for _, r := range recs {
		e := DLQEntry{DLQRecord: r}
		e.Payload, e.Sealed = nil, nil
		out = append(out, e)
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Daemon) getDLQ(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad dead letter number %q", r.PathValue("seq")))
		return
	}
	rec, err := d.dlq.Load().Get(seq)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no dead letter %d", seq))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func decodeDLQRequest(w http.ResponseWriter, r *http.Request) (DLQRequest, bool) {
	var req DLQRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("decode request: %w", err))
		return req, false
	}
	if len(req.Seqs) == 0 && !req.All {
		writeError(w, http.StatusBadRequest, errors.New("name dead letters by number, or select all"))
		return req, false
	}
	return req, true
}

func (d *Daemon) replayDLQ(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeDLQRequest(w, r)
	if !ok {
		return
	}
	d.pauseMu.RLock() // a replay runs a consumer: never during a reprice
	defer d.pauseMu.RUnlock()
	res, err := d.dlq.Load().Replay(r.Context(), req.Seqs)
	d.writeDLQResult(w, res, err)
}

func (d *Daemon) dropDLQ(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeDLQRequest(w, r)
	if !ok {
		return
	}
	d.pauseMu.RLock() // not while a reprice replaces the dead letters (their operations serialize)
	defer d.pauseMu.RUnlock()
	n, err := d.dlq.Load().Drop(req.Seqs)
	d.writeDLQResult(w, DropResult{Dropped: n}, err)
}

func (d *Daemon) writeDLQResult(w http.ResponseWriter, res any, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, pipeline.ErrBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

// PluginsReloaded is the answer of POST /v1/plugins/reload (see loader.Reloaded).
type PluginsReloaded = loader.Reloaded

// NoCapture is what PluginsReloaded.Captures says of a platform no capture plugin serves: its
// records are parked, sealed, until one does.
const NoCapture = loader.NoCapture

// reloadPlugins runs the configured plugin loader, one load at a time: the first starts it, over
// the daemon's store; the others reload.
func (d *Daemon) reloadPlugins() (PluginsReloaded, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.cfg.Plugins == nil {
		return PluginsReloaded{Enabled: []string{}, Captures: map[string]string{}}, nil
	}
	var res PluginsReloaded
	var err error
	if d.pluginsStarted {
		res, err = d.cfg.Plugins.Reload()
	} else {
		res, err = d.cfg.Plugins.Start(d.st)
		d.pluginsStarted = true
	}
	if err != nil {
		return res, fmt.Errorf("reload plugins: %w", err)
	}
	d.log.Info("plugins loaded", "enabled", res.Enabled, "captures", res.Captures)
	for _, by := range res.Captures {
		if by != NoCapture {
			d.wakeParked() // records parked while no capture served may have one now
			break
		}
	}
	return res, nil
}

func (d *Daemon) postReloadPlugins(w http.ResponseWriter, _ *http.Request) {
	res, err := d.reloadPlugins()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// postFlushAudit has the plugin loader write the plugins' content reads to the audit log now.
func (d *Daemon) postFlushAudit(w http.ResponseWriter, _ *http.Request) {
	if f, ok := d.cfg.Plugins.(AuditFlusher); ok {
		if err := f.FlushAudit(); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
