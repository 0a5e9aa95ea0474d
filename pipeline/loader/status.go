package loader

// What the loader reports: the plugins' status (the daemon's GET /v1/status) and their metrics
// (its /metrics). None of it waits for a load.

import (
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/prometheus/client_golang/prometheus"
)

var _ prometheus.Collector = (*Loader)(nil)

// wasmPage is the size of a WASM memory page.
const wasmPage = 64 << 10

// PluginStatus is one plugin's state and its resource use since the loader loaded it (zero when
// it does not run). A plugin a reload keeps (its entry unchanged) keeps its counts.
type PluginStatus struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Kind     string `json:"kind"`
	Platform string `json:"platform,omitempty"`
	Source   string `json:"source"`
	Enabled  bool   `json:"enabled"`
	// Running is true when the daemon has the plugin loaded and not quarantined.
	Running          bool      `json:"running"`
	Quarantined      bool      `json:"quarantined"`
	QuarantineReason string    `json:"quarantine_reason,omitempty"`
	QuarantinedAt    time.Time `json:"quarantined_at,omitzero"`
	// Calls counts WASM calls (batches); Failures those that failed as a whole (trap, deadline,
	// output). Records counts the records of successful calls; RecordErrors those the plugin
	// failed; RefusedEmissions those whose emissions the host refused.
	Calls            int64 `json:"calls"`
	Failures         int64 `json:"failures"`
	Records          int64 `json:"records"`
	RecordErrors     int64 `json:"record_errors"`
	RefusedEmissions int64 `json:"refused_emissions"`
	// GuestMS is the time spent in the plugin's calls; ColdStartMS the time to compile it (or
	// load it from the cache) and make its first instance.
	GuestMS     float64 `json:"guest_ms"`
	ColdStartMS float64 `json:"cold_start_ms"`
	// Instances is how many instances exist; InstanceMemoryBytes the most linear memory one has
	// held; MemoryLimitBytes what one may hold.
	Instances           int64 `json:"instances"`
	InstanceMemoryBytes int64 `json:"instance_memory_bytes"`
	MemoryLimitBytes    int64 `json:"memory_limit_bytes"`
	// Resident is whether the plugin's machine code is in memory now: a running plugin left idle
	// for `agent run --plugin-idle` is released, and made again from the compilation cache at its
	// next call. Releases counts those releases.
	Resident bool  `json:"resident"`
	Releases int64 `json:"releases"`
	// ContentReads counts, per content field ("prompt"), the records whose field the plugin was
	// shown.
	ContentReads    map[string]int64 `json:"content_reads"`
	DeniedHostCalls int64            `json:"denied_host_calls"`
	LogsDropped     int64            `json:"logs_dropped"`
	// WindowRecycles counts the instances recycled because the content they were shown (their
	// window, which every emission is checked against) was full; WindowBytes is what the
	// windows hold now.
	WindowRecycles int64 `json:"window_recycles"`
	WindowBytes    int64 `json:"window_bytes"`
}

// Captures returns what serves each platform the loader serves: a capture plugin's name@version,
// or NoCapture. Before the first load (a command that opened the store in its own process and
// loads no plugin), it is what the registry says would serve.
func (l *Loader) Captures() map[string]string {
	out := make(map[string]string, len(l.swaps))
	if l.reloaded.Load() {
		for platform, s := range l.swaps {
			out[platform] = s.Serving()
		}
		return out
	}
	var caps map[string]*host.PluginEntry
	reg, err := l.registry()
	if err == nil {
		var list []host.PluginEntry
		if list, err = reg.List(); err == nil {
			caps = host.Captures(list)
		}
	}
	if err != nil {
		l.log.Warn("captures: read the plugin registry", "err", err)
	}
	for platform := range l.swaps {
		out[platform] = NoCapture
		if p := caps[platform]; p != nil {
			out[platform] = p.Manifest.ID()
		}
	}
	return out
}

// PluginStatus returns every plugin of the registry, with the resource use of those loaded, and
// the loaded plugins a reload has not yet unloaded though the registry no longer has them.
func (l *Loader) PluginStatus() []PluginStatus {
	stats := map[string]host.Stats{}
	if h := l.cur.Load(); h != nil {
		for _, s := range h.Stats() {
			stats[s.Name] = s
		}
	}
	var list []host.PluginEntry
	reg, err := l.registry()
	if err == nil {
		list, err = reg.List()
	}
	if err != nil {
		l.log.Warn("plugin status: read the plugin registry", "err", err)
	}
	out := make([]PluginStatus, 0, len(list))
	for i := range list {
		p := &list[i]
		m := &p.Manifest
		ps := PluginStatus{
			Name: m.Name, Version: m.Version, Kind: string(m.Kind), Platform: m.Platform, Source: p.Source, Enabled: p.Enabled,
			MemoryLimitBytes: int64(m.Limits.WithDefaults().MemoryPages) * wasmPage, ContentReads: map[string]int64{},
		}
		if q := p.Quarantined; q != nil {
			ps.Quarantined, ps.QuarantineReason, ps.QuarantinedAt = true, q.Reason, q.Time
		}
		if s, ok := stats[m.Name]; ok {
			delete(stats, m.Name)
			addStats(&ps, &s)
		}
		out = append(out, ps)
	}
	for _, s := range stats { // loaded, but gone from the registry until the next reload
		ps := PluginStatus{Name: s.Name, Version: s.Version, Kind: string(s.Kind), Source: "unknown", ContentReads: map[string]int64{}}
		addStats(&ps, &s)
		out = append(out, ps)
	}
	return out
}

// addStats adds a loaded plugin's runtime state and resource use to its status.
func addStats(ps *PluginStatus, s *host.Stats) {
	ps.Running = !s.Quarantined
	if s.Quarantined && !ps.Quarantined { // not (yet) in the registry
		ps.Quarantined, ps.QuarantineReason = true, s.QuarantineReason
	}
	ps.Calls, ps.Failures, ps.Records, ps.RecordErrors, ps.RefusedEmissions = s.Calls, s.Failures, s.Records, s.RecordErrors, s.Refused
	ps.GuestMS = float64(s.GuestTime.Microseconds()) / 1000
	ps.ColdStartMS = float64(s.ColdStart.Microseconds()) / 1000
	ps.Instances, ps.InstanceMemoryBytes = s.Instances, s.MaxMemoryBytes
	ps.MemoryLimitBytes = int64(s.MemoryLimitPages) * wasmPage
	ps.Resident, ps.Releases = s.Resident, s.Released
	for field, n := range s.ContentReads {
		ps.ContentReads[field] = n
	}
	ps.DeniedHostCalls, ps.LogsDropped = s.DeniedHostCalls, s.LogsDropped
	ps.WindowRecycles, ps.WindowBytes = s.WindowRecycles, s.WindowBytes
}

// Describe implements prometheus.Collector: the host's per-plugin metrics (host.Collector).
func (l *Loader) Describe(ch chan<- *prometheus.Desc) { host.NewCollector(nil).Describe(ch) }

// Collect implements prometheus.Collector: the loaded plugins' metrics; none before the first
// load.
func (l *Loader) Collect(ch chan<- prometheus.Metric) {
	if h := l.cur.Load(); h != nil {
		host.NewCollector(h).Collect(ch)
	}
}
