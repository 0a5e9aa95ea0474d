package main

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/wasmstage"
	"github.com/hangar-dev/hangar/sdk"
)

// swapCapture is a platform's capture stage: the enabled capture plugin of the platform, or, while
// there is none (disabled, quarantined, not loaded yet), missingCapture, whose records the intake
// parks, sealed, until a reload brings a capture and the daemon captures them. Swapping is atomic;
// calls in flight finish on the stage they started with.
type swapCapture struct {
	builtin pipeline.Capture
	cur     atomic.Pointer[servingCapture]
}

type servingCapture struct {
	c  pipeline.Capture
	by string // "none" or the plugin's name@version
}

var (
	_ pipeline.Capture      = (*swapCapture)(nil)
	_ pipeline.BatchCapture = (*swapCapture)(nil)
)

func newSwapCapture(builtin pipeline.Capture) *swapCapture {
	s := &swapCapture{builtin: builtin}
	s.set(nil, "")
	return s
}

// set makes c (nil: none, see missingCapture) serve the platform.
func (s *swapCapture) set(c pipeline.Capture, by string) {
	if c == nil {
		c, by = s.builtin, daemon.NoCapture
	}
	s.cur.Store(&servingCapture{c: c, by: by})
}

// Capture implements pipeline.Capture.
func (s *swapCapture) Capture(rec *pipeline.RawRecord) ([]sdk.Event, error) {
	return s.cur.Load().c.Capture(rec)
}

// CaptureBatch implements pipeline.BatchCapture, record by record when the serving capture
// cannot batch.
func (s *swapCapture) CaptureBatch(recs []*pipeline.RawRecord) ([][]sdk.Event, []error) {
	c := s.cur.Load().c
	if b, ok := c.(pipeline.BatchCapture); ok {
		return b.CaptureBatch(recs)
	}
	evs, errs := make([][]sdk.Event, len(recs)), make([]error, len(recs))
	for i, rec := range recs {
		evs[i], errs[i] = c.Capture(rec)
	}
	return evs, errs
}

// missingCapture is a platform's capture stage while no capture plugin serves it. Its error wraps
// pipeline.ErrNoCapture: the intake parks the record (sealed) rather than dead-letter it, and the
// daemon captures it once a plugin serves the platform again.
type missingCapture struct{ platform string }

// Capture implements pipeline.Capture.
func (m missingCapture) Capture(*pipeline.RawRecord) ([]sdk.Event, error) {
	return nil, pipeline.Permanent(fmt.Errorf("no capture plugin serves %s (agent plugins enable one): %w", m.platform, pipeline.ErrNoCapture))
}

// pluginLoader loads the enabled plugins of the registry into the daemon: the first enabled
// capture plugin of a platform in host.CaptureOrder serves it (an installed one before the
// first-party one); without one, missingCapture does. Enabled enrich and insight plugins run as
// consumers (pluginconsumers.go). The plugin host (and its audit log) is made on the first load
// that needs it.
//
// Reloads are whole: mu is held from a reload's start to its end, never released in the middle,
// so two reloads (Reload, and the hand-back of a quarantined capture plugin, onQuarantine) never
// interleave, and Close waits for the one in progress. That is safe because nothing a holder of
// mu waits for needs mu: a reload waits for the enrich and insight runners to stop, and a call of
// theirs that ends in a quarantine records it without mu (onQuarantine); a capture call that ends
// in a quarantine takes mu, but no holder of mu waits for a capture call (closing a plugin waits
// only for calls that hold an instance, and a call gives its instance back before it reports the
// quarantine).
type pluginLoader struct {
	dataDir string
	log     *slog.Logger
	swaps   map[string]*swapCapture // by platform
	// idleRelease is the host's Config.IdleRelease: how long a plugin idles before its memory
	// is released.
	idleRelease time.Duration

	mu     sync.Mutex
	closed bool // guarded by mu: Close ran, reloads do nothing
	h      *host.Host
	audit  *host.AuditLog
	// cur is h, for status and metrics, which must not wait for a reload (see pluginstate.go).
	cur atomic.Pointer[host.Host]
	// reloaded is set once a reload has set the swaps: until then, status reads what serves
	// each platform from the registry (Captures).
	reloaded atomic.Bool
	// reg is the registry without an auditor, opened once, for status and quarantines.
	reg atomic.Pointer[host.Registry]
	pc  pluginConsumers // enrich and insight plugins (pluginconsumers.go)
}

var _ daemon.PluginLoader = (*pluginLoader)(nil)

func newPluginLoader(dataDir string, caps pipeline.Captures, log *slog.Logger) *pluginLoader {
	l := &pluginLoader{dataDir: dataDir, log: log.With("component", "plugins"), swaps: map[string]*swapCapture{}}
	for platform, c := range caps {
		if s, ok := c.(*swapCapture); ok {
			l.swaps[platform] = s
		}
	}
	return l
}

// Reload implements daemon.PluginLoader.
func (l *pluginLoader) Reload() (daemon.PluginsReloaded, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reload()
}

// errLoaderClosed is what a reload after Close returns.
var errLoaderClosed = errors.New("plugin loader closed")

// reload is Reload with l.mu held, from start to end.
func (l *pluginLoader) reload() (daemon.PluginsReloaded, error) {
	res := daemon.PluginsReloaded{Enabled: []string{}, Captures: map[string]string{}}
	if l.closed {
		return res, errLoaderClosed
	}
	list, err := l.readRegistry()
	if err != nil {
		return res, err
	}
	// Stop the enrich and insight plugins, then read the registry again: a call of theirs that
	// failed for the last time meanwhile has recorded its quarantine there (onQuarantine), and the
	// plugin must not be started again as if it had not.
	l.stopPluginConsumers()
	if again, err := l.readRegistry(); err == nil {
		list = again
	} else {
		l.log.Warn("read the plugin registry again after stopping the enrich and insight plugins", "err", err)
	}
	serving := map[string]*servingCapture{}
	loaded := map[string]bool{}
	// A plugin the user installed serves its platform before a first-party one: installing a
	// capture plugin for Claude Code replaces the embedded one, and removing, disabling or
	// quarantining it hands the platform back.
	slices.SortStableFunc(list, host.CaptureOrder)
	for i := range list {
		p := &list[i]
		if !p.Enabled {
			continue
		}
		res.Enabled = append(res.Enabled, p.Manifest.ID())
		m := p.Manifest
		if m.Kind != host.KindCapture {
			continue // enrich and insight plugins: startPluginConsumers
		}
		if _, ok := l.swaps[m.Platform]; !ok {
			l.log.Warn("capture plugin for a platform the agent does not take", "plugin", m.ID(), "platform", m.Platform)
			continue
		}
		if prev, dup := serving[m.Platform]; dup {
			// The next in line takes over if the serving one is quarantined, inside the call that
			// failed: compile it into the cache now, so that hand-back is a cache hit, not a
			// second of compiling while the intake waits.
			if wasm, err := p.Wasm(); err == nil {
				err = precompile(l.dataDir, m, wasm, p.Granted)
				if err != nil {
					l.log.Warn("warm the compilation cache for a standby capture plugin", "plugin", m.ID(), "err", err)
				}
			}
			l.log.Info("two capture plugins for one platform; the first serves, the other stands by", "platform", m.Platform, "serving", prev.by, "standby", m.ID())
			continue
		}
		c, err := l.load(p)
		if err != nil {
			l.log.Error("load plugin; the next enabled capture plugin of its platform, if any, serves it", "plugin", m.ID(), "err", err)
			continue
		}
		serving[m.Platform] = &servingCapture{c: c, by: m.ID()}
		loaded[m.Name] = true
	}
	for platform, s := range l.swaps {
		if sc, ok := serving[platform]; ok {
			s.set(sc.c, sc.by)
		} else {
			s.set(nil, "")
		}
		res.Captures[platform] = s.cur.Load().by
	}
	l.reloaded.Store(true)
	l.startPluginConsumers(list, loaded)
	if l.h != nil {
		inRegistry := map[string]bool{}
		for i := range list {
			inRegistry[list[i].Manifest.Name] = true
		}
		for _, hp := range l.h.Plugins() {
			name := hp.Manifest().Name
			// A quarantined plugin stays loaded, serving nothing, so that status and /metrics
			// keep showing what it did until the user enables or removes it.
			if q, _ := hp.Quarantined(); q && inRegistry[name] {
				continue
			}
			if !loaded[name] {
				hp.Close()
			}
		}
	}
	slices.Sort(res.Enabled)
	return res, nil
}

// readRegistry returns every plugin of the registry, after giving each installed plugin of a
// state file from an earlier build an install id (host.Registry.Migrate), which its salt needs.
// The migration is audited in the host's audit log (made here if it was not yet).
func (l *pluginLoader) readRegistry() ([]host.PluginEntry, error) {
	var audit host.Auditor
	if err := l.ensureHost(); err != nil {
		l.log.Warn("open the plugin host", "err", err) // loading will fail, saying so for each plugin
	} else {
		audit = l.audit
	}
	reg, err := openRegistry(l.dataDir, audit)
	if err != nil {
		return nil, err
	}
	if err := reg.Migrate(); err != nil {
		l.log.Error("migrate the plugin registry; installed plugins without an install id are not loaded", "err", err)
	}
	return reg.List()
}

// load compiles (through the cache) and loads one capture plugin.
func (l *pluginLoader) load(p *host.PluginEntry) (pipeline.Capture, error) {
	hp, err := l.loadPlugin(p)
	if err != nil {
		return nil, err
	}
	c, err := wasmstage.NewCapture(hp)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.Manifest.ID(), err)
	}
	return c, nil
}

// Close implements daemon.PluginLoader: it waits for a reload in progress, stops the enrich and
// insight plugins and closes the host, which flushes the plugins' content access counts to the
// audit log. Reloads after it (a quarantine's hand-back) do nothing.
func (l *pluginLoader) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.stopPluginConsumers()
	var err error
	if l.h != nil {
		l.cur.Store(nil)
		err = l.h.Close()
		l.h = nil
	}
	if l.audit != nil {
		l.audit.Close()
		l.audit = nil
	}
	return err
}
