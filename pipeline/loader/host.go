package loader

// The loader's host: its quarantines and its audit flushes.

import (
	"fmt"
	"time"

	"github.com/hangar-dev/hangar/host"
)

// ensureHost makes the plugin host and opens the audit log, once. l.mu must be held.
func (l *Loader) ensureHost() error {
	if l.h != nil {
		return nil
	}
	secret, err := host.LoadOrCreateSecret(l.cfg.SecretFile)
	if err != nil {
		return err
	}
	audit, err := host.OpenAuditLog(l.cfg.AuditFile)
	if err != nil {
		return err
	}
	h, err := host.New(host.Config{CacheDir: l.cfg.CacheDir, Logger: l.log, Audit: audit, OnQuarantine: l.onQuarantine,
		Secret: secret, IdleRelease: l.cfg.IdleRelease, DataDir: l.cfg.DataDir})
	if err != nil {
		audit.Close()
		return err
	}
	l.h, l.audit = h, audit
	l.cur.Store(h)
	l.stopFlush, l.flushDone = make(chan struct{}), make(chan struct{})
	go l.flushLoop(l.stopFlush, l.flushDone)
	return nil
}

// registry returns the plugin registry, opened once (opening it checks the built-in plugins'
// modules). It has no auditor: what it changes here, a quarantine, the host has audited.
func (l *Loader) registry() (*host.Registry, error) {
	if r := l.reg.Load(); r != nil {
		return r, nil
	}
	r, err := l.cfg.Registry(nil)
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
// For a capture plugin it holds l.mu, the loads' lock, throughout: a reload sees the quarantine
// in the registry either whole or not at all, and the hand-back is a whole reload that no other
// interleaves with. A plugin a reload replaced meanwhile (its successor is another *host.Plugin)
// is left alone. An enrich or insight plugin serves no platform and is called only by its
// runner, which a reload stops, waiting for the call, while it holds l.mu: its quarantine is
// recorded without l.mu, and the reload reads the registry after its runners stopped.
func (l *Loader) onQuarantine(name, reason string) {
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
		if s.Serving() == id {
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
func (l *Loader) recordQuarantine(id, name, reason string) {
	reg, err := l.registry()
	if err == nil {
		err = reg.Quarantine(name, reason)
	}
	if err != nil {
		l.log.Error("record quarantine in the plugin registry; it lasts until the daemon restarts", "plugin", id, "err", err)
	}
}

// FlushAudit writes the plugins' content reads since the last flush to the audit log, one
// aggregated entry per plugin and field (host.Host.FlushAudit), so that the log agrees with
// PluginStatus. It does not wait for a load; before the first load and after Close there is
// nothing to write. The loader calls it every Config.AuditFlush; the daemon on POST
// /v1/audit/flush, which `agent audit` sends before it reads the log.
func (l *Loader) FlushAudit() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	h := l.cur.Load()
	if h == nil {
		return nil
	}
	if err := h.FlushAudit(); err != nil {
		return fmt.Errorf("flush plugin audit: %w", err)
	}
	return nil
}

// flushLoop calls FlushAudit every Config.AuditFlush until stop is closed, then closes done.
func (l *Loader) flushLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(l.cfg.AuditFlush)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if err := l.FlushAudit(); err != nil {
			l.log.Error("write the plugins' content reads to the audit log; they are written again at the next flush", "err", err)
		}
	}
}
