package loader

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/wasmstage"
	"github.com/hangar-dev/hangar/store"
)

// Errors of the Loader.
var (
	// ErrClosed is what Start and Reload return after Close.
	ErrClosed = errors.New("loader: closed")
	// ErrNotStarted is what Reload returns before Start.
	ErrNotStarted = errors.New("loader: not started")
	// ErrStarted is what a second Start returns.
	ErrStarted = errors.New("loader: already started")
)

// DefaultAuditFlush is how often, by default, a Loader writes its plugins' content reads to the
// audit log while they run (Config.AuditFlush).
const DefaultAuditFlush = time.Minute

// Config configures a Loader.
type Config struct {
	// DataDir is the agent's data directory: plugins never read it (host.Config.DataDir), and
	// the audit log is in it unless AuditFile says otherwise. Required.
	DataDir string
	// Registry opens the plugin registry (the data directory's installed plugins and the
	// first-party ones built into the binary) with audit as its auditor; audit is nil when what
	// the loader changes there (a quarantine) the host has audited already. Required.
	Registry func(audit host.Auditor) (*host.Registry, error)
	// Captures are the pipeline's capture stages by platform. The loader serves those that are
	// a *Swap (NewSwap); a capture plugin of any other platform is not loaded.
	Captures pipeline.Captures
	// SecretFile is the install secret plugins' salts derive from, made on first use
	// (host.LoadOrCreateSecret). Required.
	SecretFile string
	// AuditFile is the audit log; empty: <DataDir>/audit.log (host.AuditName).
	AuditFile string
	// CacheDir holds wazero's compilation cache (host.Config.CacheDir), shared with whatever
	// warms it (Precompile); empty: no cache (a released plugin then compiles again from
	// scratch, see IdleRelease).
	CacheDir string
	// CaptureOnly loads capture plugins only, and runs no enrich or insight plugin: for a
	// command that captures and exits (agent import with no daemon running), which leaves them to
	// the daemon or to the next command that reads what they derive, instead of compiling them and
	// competing with the capture for the CPU until it exits.
	CaptureOnly bool
	// IdleRelease is how long a plugin goes without calls before the host releases its memory
	// (host.Config.IdleRelease); 0 keeps plugins loaded.
	IdleRelease time.Duration
	// AuditFlush is how often the plugins' content reads are written to the audit log while
	// they run; 0 is DefaultAuditFlush.
	AuditFlush time.Duration
	// Logger receives the loader's and the plugins' logs; nil discards them.
	Logger *slog.Logger
}

// Validate reports a configuration error.
func (c *Config) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("data dir is required")
	case c.Registry == nil:
		return errors.New("registry is required")
	case c.SecretFile == "":
		return errors.New("secret file is required")
	case c.IdleRelease < 0 || c.AuditFlush < 0:
		return errors.New("idle release and audit flush must not be negative")
	}
	return nil
}

// Reloaded is what a load did: the answer of Start and Reload (and of the daemon's POST
// /v1/plugins/reload).
type Reloaded struct {
	// Enabled are the enabled plugins, as name@version, sorted.
	Enabled []string `json:"enabled"`
	// Captures says what serves each platform's capture: a plugin's name@version, or NoCapture.
	Captures map[string]string `json:"captures"`
}

// Loader loads the enabled plugins of the registry into the pipeline: the first enabled capture
// plugin of a platform in host.CaptureOrder serves it (an installed one before the first-party
// one); without one, its Swap parks the platform's records. Enabled enrich and insight plugins
// run as consumers (consumers.go). The plugin host (and its audit log) is made on the first load
// that needs it.
//
// Loads are whole: mu is held from a load's start to its end, never released in the middle, so
// two reloads (Reload, and the hand-back of a quarantined capture plugin, onQuarantine) never
// interleave, and Close waits for the one in progress. That is safe because nothing a holder of
// mu waits for needs mu: a reload waits for the enrich and insight runners to stop, and a call of
// theirs that ends in a quarantine records it without mu (onQuarantine); a capture call that ends
// in a quarantine takes mu, but no holder of mu waits for a capture call (closing a plugin waits
// only for calls that hold an instance, and a call gives its instance back before it reports the
// quarantine).
//
// A Loader is safe for concurrent use.
type Loader struct {
	cfg   Config
	log   *slog.Logger
	swaps map[string]*Swap // by platform

	mu      sync.Mutex
	started bool // guarded by mu: Start ran
	closed  bool // guarded by mu: Close ran, loads do nothing
	h       *host.Host
	audit   *host.AuditLog
	// from is what each plugin loaded into h was loaded from, by name: a reload keeps a plugin
	// whose entry is unchanged (see keep). Guarded by mu.
	from map[string]loadedFrom
	// cur is h, for status, metrics and the audit flushes, which must not wait for a reload
	// (see status.go); flushMu is held around every flush and around clearing cur at Close, so
	// that no flush runs on a closing host.
	cur     atomic.Pointer[host.Host]
	flushMu sync.Mutex
	// stopFlush ends the audit flusher (flushLoop), which closes flushDone.
	stopFlush, flushDone chan struct{}
	// reloaded is set once a load has set the swaps: until then, status reads what serves
	// each platform from the registry (Captures).
	reloaded atomic.Bool
	// reg is the registry without an auditor, opened once, for status and quarantines.
	reg atomic.Pointer[host.Registry]
	pc  pluginConsumers // enrich and insight plugins (consumers.go)
	// running is what pc runs, for ConsumerLag, which must not wait for a reload (rebuild.go).
	running atomic.Pointer[runningConsumers]
}

// loadedFrom is what a plugin was loaded from: its registry entry, less what does not change
// what is loaded (enabled, quarantine, folder).
type loadedFrom struct {
	manifest  host.Manifest
	source    string
	installID string
	granted   []string
}

func loadedFromEntry(p *host.PluginEntry) loadedFrom {
	return loadedFrom{manifest: p.Manifest, source: p.Source, installID: p.InstallID, granted: slices.Clone(p.Granted)}
}

// New returns a Loader that has loaded nothing yet: its status reads the registry. It opens
// nothing until Start.
func New(cfg Config) (*Loader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new plugin loader: %w", err)
	}
	if cfg.AuditFile == "" {
		cfg.AuditFile = filepath.Join(cfg.DataDir, host.AuditName)
	}
	if cfg.AuditFlush == 0 {
		cfg.AuditFlush = DefaultAuditFlush
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Loader{cfg: cfg, log: log.With("component", "plugins"), swaps: map[string]*Swap{}, from: map[string]loadedFrom{}}
	for platform, c := range cfg.Captures {
		if s, ok := c.(*Swap); ok {
			l.swaps[platform] = s
		}
	}
	return l, nil
}

// Start loads the enabled plugins for the first time. The enrich and insight plugins read and
// write st, which must stay open until Close; with a nil st they are not run (a command that
// only captures). Start fails with ErrStarted when called twice, and ErrClosed after Close; a
// plugin that does not load is logged and left out, and is not an error.
func (l *Loader) Start(st *store.Store) (Reloaded, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return emptyReloaded(), ErrClosed
	}
	if l.started {
		return emptyReloaded(), ErrStarted
	}
	l.started, l.pc.st = true, st
	return l.reload()
}

// Reload loads the registry's enabled plugins again, after `agent plugins` changed it: plugins
// enabled since are loaded, disabled or removed ones unloaded, changed ones (an upgrade, new
// grants) loaded again, and unchanged ones kept as they are, with their counters. The enrich and
// insight plugins stop for its duration and resume from their cursors. It fails with
// ErrNotStarted before Start and ErrClosed after Close.
func (l *Loader) Reload() (Reloaded, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started && !l.closed {
		return emptyReloaded(), ErrNotStarted
	}
	return l.reload()
}

func emptyReloaded() Reloaded { return Reloaded{Enabled: []string{}, Captures: map[string]string{}} }

// reload is Reload with l.mu held, from start to end.
func (l *Loader) reload() (Reloaded, error) {
	res := emptyReloaded()
	if l.closed {
		return res, ErrClosed
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
				err = Precompile(l.cfg.CacheDir, m, wasm, p.Granted)
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
		res.Captures[platform] = s.Serving()
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
				delete(l.from, name)
			}
		}
	}
	slices.Sort(res.Enabled)
	return res, nil
}

// readRegistry returns every plugin of the registry, after giving each installed plugin of a
// state file from an earlier build an install id (host.Registry.Migrate), which its salt needs.
// The migration is audited in the host's audit log (made here if it was not yet).
func (l *Loader) readRegistry() ([]host.PluginEntry, error) {
	var audit host.Auditor
	if err := l.ensureHost(); err != nil {
		l.log.Warn("open the plugin host", "err", err) // loading will fail, saying so for each plugin
	} else {
		audit = l.audit
	}
	reg, err := l.cfg.Registry(audit)
	if err != nil {
		return nil, err
	}
	if err := reg.Migrate(); err != nil {
		l.log.Error("migrate the plugin registry; installed plugins without an install id are not loaded", "err", err)
	}
	return reg.List()
}

// load compiles (through the cache) and loads one capture plugin, or keeps it (loadPlugin).
func (l *Loader) load(p *host.PluginEntry) (pipeline.Capture, error) {
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

// loadPlugin returns the plugin of p: the one loaded before, if it was loaded from the same
// entry (keep), or else the plugin compiled (through the cache) and loaded under its grants, with
// the salt of its install (an installed plugin) or of its name (a first-party one). l.mu is held.
func (l *Loader) loadPlugin(p *host.PluginEntry) (*host.Plugin, error) {
	if err := l.ensureHost(); err != nil {
		return nil, err
	}
	if hp := l.keep(p); hp != nil {
		return hp, nil
	}
	wasm, err := p.Wasm()
	if err != nil {
		return nil, err
	}
	g, err := p.Grants()
	if err != nil {
		return nil, err
	}
	var opts []host.LoadOption
	if p.Manifest.Kind != host.KindCapture {
		// An enrich or insight plugin compiles at its first call, in its consumer's goroutine:
		// a daemon opens its socket without waiting for them, and only capture needs to be ready.
		opts = append(opts, host.DeferCompile())
	}
	var hp *host.Plugin
	if p.Source == host.SourceInstalled {
		hp, err = l.h.LoadInstalled(p.Manifest, wasm, g, p.InstallID, opts...)
	} else {
		hp, err = l.h.Load(p.Manifest, wasm, g, opts...)
	}
	if err != nil {
		// A failed load leaves an earlier plugin of the name loaded, as it was.
		return nil, err
	}
	if p.Source == host.SourceBuiltin {
		// A first-party plugin's failed records are bad input, and no plugin could take its
		// platform over: only failed calls quarantine it.
		hp.SetQuarantineRecordsAfter(-1)
	}
	l.from[p.Manifest.Name] = loadedFromEntry(p)
	return hp, nil
}

// keep returns the plugin of p's name that is loaded, if it was loaded from the same entry (the
// same manifest and module, grants and install) and is not quarantined: loading it again would
// make the same plugin, with its counters at zero and its instances and machine code made again.
// nil: load it. l.mu is held.
func (l *Loader) keep(p *host.PluginEntry) *host.Plugin {
	hp := l.h.Plugin(p.Manifest.Name)
	if hp == nil {
		return nil
	}
	if q, _ := hp.Quarantined(); q {
		return nil // enabled again: a fresh start
	}
	if from, ok := l.from[p.Manifest.Name]; !ok || !reflect.DeepEqual(from, loadedFromEntry(p)) {
		return nil
	}
	return hp
}

// Close waits for a load in progress, stops the enrich and insight plugins and closes the host,
// which writes the plugins' content reads to the audit log. Loads after it (a quarantine's
// hand-back) do nothing. It is safe to call more than once, and without Start.
func (l *Loader) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.stopPluginConsumers()
	if l.stopFlush != nil {
		close(l.stopFlush)
		<-l.flushDone
		l.stopFlush = nil
	}
	var err error
	if l.h != nil {
		l.flushMu.Lock()
		l.cur.Store(nil)
		l.flushMu.Unlock()
		err = l.h.Close()
		l.h = nil
		clear(l.from)
	}
	if l.audit != nil {
		l.audit.Close()
		l.audit = nil
	}
	return err
}

// Precompile compiles a plugin once through the compilation cache in cacheDir, under the
// capabilities of grants (joined), and unloads it: a module that does not compile is refused,
// and the next load of the plugin is a cache hit. `agent plugins install` calls it before it
// installs; a Loader for a standby capture plugin.
func Precompile(cacheDir string, m host.Manifest, wasm []byte, grants ...[]string) error {
	var all []string
	for _, g := range grants {
		all = append(all, g...)
	}
	g, err := host.NewGrants(all)
	if err != nil {
		return err
	}
	h, err := host.New(host.Config{CacheDir: cacheDir})
	if err != nil {
		return err
	}
	defer h.Close()
	if _, err := h.Load(m, wasm, g); err != nil {
		return err
	}
	return nil
}
