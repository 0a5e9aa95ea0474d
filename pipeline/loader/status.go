package main

// The plugin loader's host, its quarantines, and what it reports: the plugins' status for
// GET /v1/status and their metrics for /metrics.

import (
	"path/filepath"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	_ daemon.PluginReporter  = (*pluginLoader)(nil)
	_ daemon.CaptureReporter = (*pluginLoader)(nil)
	_ prometheus.Collector   = (*pluginLoader)(nil)
)

// wasmPage is the size of a WASM memory page.
const wasmPage = 64 << 10

// ensureHost makes the plugin host and opens the audit log, once. l.mu must be held.
func (l *pluginLoader) ensureHost() error {
	if l.h != nil {
		return nil
	}
	secret, err := host.LoadOrCreateSecret(filepath.Join(l.dataDir, daemon.SecretName))
	if err != nil {
		return err
	}
	audit, err := host.OpenAuditLog(filepath.Join(l.dataDir, host.AuditName))
	if err != nil {
		return err
	}
	h, err := host.New(host.Config{CacheDir: pluginCacheDir(l.dataDir), Logger: l.log, Audit: audit, OnQuarantine: l.onQuarantine, Secret: secret, IdleRelease: l.idleRelease, DataDir: l.dataDir})
	if err != nil {
		audit.Close()
		return err
	}
	l.h, l.audit = h, audit
	l.cur.Store(h)
	return nil
}

// registry returns the data directory's plugin registry, opened once (opening it checks the
// built-in plugins' modules). It has no auditor: what it changes here, a quarantine, the host has
// audited.
func (l *pluginLoader) registry() (*host.Registry, error) {
	if r := l.reg.Load(); r != nil {
		return r, nil
	}
	r, err := openRegistry(l.dataDir, nil)
	if err != nil {
		return nil, err
	}
	l.reg.CompareAndSwap(nil, r)
	return l.reg.Load(), nil
}

// onQuarantine is the host's OnQuarantine: the host has disabled a plugin after repeated failed
// calls (and audited it). The loader records the quarantine in the registry, so that it outlives
// the daemon and shows in `agent plugins list` until `agent plugins enable` lifts it, and hands a
// capture plugin's platform back to the next enabled capture plugin of the platform (the
// first-party one), so that later records are captured again rather than failed.
//
// For a capture plugin it holds l.mu, the reloads' lock, throughout: a reload sees the
// quarantine in the registry either whole or not at all, and the hand-back is a whole reload
// that no other interleaves with. A plugin a reload replaced meanwhile (its successor is another
// *host.Plugin) is left alone. An enrich or insight plugin serves no platform and is called only
// by its runner, which a reload stops, waiting for the call, while it holds l.mu: its quarantine
// is recorded without l.mu, and the reload reads the registry after its runners stopped.
func (l *pluginLoader) onQuarantine(name, reason string) {
	h := l.cur.Load()
	if h == nil {
		return // closed
	}
	hp := h.Plugin(name)
	if hp == nil {
		return // unloaded by a reload
	}
	if q, _ := hp.Quarantined(); !q {
		return // replaced by a reload
	}
	m := hp.Manifest()
	if m.Kind != host.KindCapture {
		l.recordQuarantine(m.ID(), name, reason)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.h == nil || l.h.Plugin(name) != hp {
		return // closed, or unloaded or replaced by a reload while this waited
	}
	id := m.ID()
	handBack := false
	for platform, s := range l.swaps {
		if s.cur.Load().by == id {
			s.set(nil, "")
			handBack = true
			l.log.Warn("capture plugin quarantined; the next enabled capture plugin of its platform serves it", "plugin", id, "platform", platform)
		}
	}
	l.recordQuarantine(id, name, reason)
	if handBack {
		// The next capture plugin of the platform (the first-party one) takes over now, before
		// this call returns: records the intake holds meanwhile wait instead of finding no capture.
		if _, err := l.reload(); err != nil {
			l.log.Error("reload plugins after a quarantine", "err", err)
		}
	}
}

// recordQuarantine records a quarantine in the registry.
func (l *pluginLoader) recordQuarantine(id, name, reason string) {
	reg, err := l.registry()
	if err == nil {
		err = reg.Quarantine(name, reason)
	}
	if err != nil {
		l.log.Error("record quarantine in the plugin registry; it lasts until the daemon restarts", "plugin", id, "err", err)
	}
}

// Captures implements daemon.CaptureReporter: what serves each platform the agent takes, as a
// plugin's name@version or "none". Before the first reload (a command that opened the store in
// its own process and loads no plugin), it is what the registry says would serve.
func (l *pluginLoader) Captures() map[string]string {
	out := make(map[string]string, len(l.swaps))
	if l.reloaded.Load() {
		for platform, s := range l.swaps {
			out[platform] = s.cur.Load().by
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
		out[platform] = "none"
		if p := caps[platform]; p != nil {
			out[platform] = p.Manifest.ID()
		}
	}
	return out
}

// PluginStatus implements daemon.PluginReporter: every plugin of the registry, with the resource
// use of those the daemon has loaded.
func (l *pluginLoader) PluginStatus() []daemon.PluginStatus {
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
	out := make([]daemon.PluginStatus, 0, len(list))
	for i := range list {
		p := &list[i]
		m := &p.Manifest
		ps := daemon.PluginStatus{
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
		ps := daemon.PluginStatus{Name: s.Name, Version: s.Version, Kind: string(s.Kind), Source: "unknown", ContentReads: map[string]int64{}}
		addStats(&ps, &s)
		out = append(out, ps)
	}
	return out
}

// addStats adds a loaded plugin's runtime state and resource use to its status.
func addStats(ps *daemon.PluginStatus, s *host.Stats) {
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
func (l *pluginLoader) Describe(ch chan<- *prometheus.Desc) { host.NewCollector(nil).Describe(ch) }

// Collect implements prometheus.Collector: the loaded plugins' metrics; none before the first
// load.
func (l *pluginLoader) Collect(ch chan<- prometheus.Metric) {
	if h := l.cur.Load(); h != nil {
		host.NewCollector(h).Collect(ch)
	}
}
