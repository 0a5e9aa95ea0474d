package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/hangar-dev/hangar/host/internal/wasmrewrite"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// Errors of the runtime. Call errors wrap one of them, so that callers can tell a plugin's fault
// (a trap, a deadline, bad output) from their own (a cancelled context).
var (
	// ErrClosed means the host or the plugin was closed.
	ErrClosed = errors.New("host: closed")
	// ErrQuarantined means the plugin failed too many calls in a row and is disabled.
	ErrQuarantined = errors.New("host: plugin quarantined")
	// ErrRefusedModule means a module was refused at load: a wrong hash, or an import of Extism's
	// HTTP functions.
	ErrRefusedModule = errors.New("host: module refused")
	// ErrTrap means the plugin trapped (a panic, a fatal runtime error, an exit, a denied host
	// call) or reported a whole-call error.
	ErrTrap = errors.New("host: plugin trapped")
	// ErrDeadline means the call ran past the plugin's call timeout.
	ErrDeadline = errors.New("host: plugin call deadline exceeded")
	// ErrOutputTooLarge means the call's output exceeded the plugin's output limit.
	ErrOutputTooLarge = errors.New("host: plugin output too large")
	// ErrMalformedOutput means the call's output is not a well-formed batch (package abi).
	ErrMalformedOutput = errors.New("host: malformed plugin output")
)

// DefaultQuarantineAfter is how many calls in a row may fail before a plugin is quarantined.
const DefaultQuarantineAfter = 3

// DefaultPluginMemory is the default Config.PluginMemory: four instances at the default
// per-instance limit (DefaultMemoryPages).
const DefaultPluginMemory = 4 * DefaultMemoryPages * 64 << 10

// DefaultQuarantineRecordsAfter is how many records in a row a capture plugin may fail (or have
// its emissions refused for) before it is quarantined, when its calls themselves succeed.
const DefaultQuarantineRecordsAfter = 50

// Config configures a Host. Zero fields take their defaults.
type Config struct {
	// CacheDir holds wazero's compilation cache, shared by all plugins, so that a plugin compiles
	// once per host version and machine. Empty keeps the cache in memory only.
	CacheDir string
	// Logger receives the host's logs and the plugins' own (capability "log"). Nil discards them.
	Logger *slog.Logger
	// Audit records quarantines, refused emissions, denied host calls and content accesses. Nil
	// records nothing.
	Audit Auditor
	// KV backs the host function kv_get/kv_set (capability "kv"). Nil makes every kv call fail.
	KV KV
	// Secret is the install secret the salt host function derives each plugin's salt from (see
	// LoadOrCreateSecret), at least 16 bytes. Empty makes every salt call trap.
	Secret []byte
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// PoolSize bounds the instances of each plugin, so the calls it runs at once. Default
	// GOMAXPROCS.
	PoolSize int
	// PluginMemory bounds the linear memory a plugin's instances may hold together, in bytes:
	// a plugin gets at most PluginMemory / (its per-instance limit) instances, and at least one,
	// whatever PoolSize allows. Default DefaultPluginMemory.
	PluginMemory int64
	// QuarantineAfter is how many calls in a row may fail before a plugin is quarantined.
	// Default DefaultQuarantineAfter.
	QuarantineAfter int
	// QuarantineRecordsAfter is how many records in a row, across calls, a capture plugin may
	// fail or have its emissions refused for, capturing none, before it is quarantined (see
	// Plugin.SetQuarantineRecordsAfter). Records the host refuses before any call (not JSON, say)
	// count neither way. Default DefaultQuarantineRecordsAfter.
	QuarantineRecordsAfter int
	// LogRate bounds the log lines a plugin may write per second; the rest are dropped and
	// counted. Default 100.
	LogRate int
	// IdleRelease is how long a plugin may go without calls before the host releases its
	// instances and machine code (megabytes for a Go module), to make them again from the
	// compilation cache at its next call. Zero keeps them. It needs a CacheDir: without one, a
	// released plugin would compile again from scratch.
	IdleRelease time.Duration
	// OnQuarantine, if set, is called once each time a plugin is quarantined, with the plugin's
	// name and the reason, after the audit entry is written. It runs in the goroutine of the call
	// that failed last, which has returned its instance, and must not call the plugin. The daemon
	// uses it to persist the quarantine in the registry and hand the plugin's work back.
	OnQuarantine func(name, reason string)
	// Interrupt is how a call past its deadline is stopped. The default, InterruptInstrument, is
	// the only one for production; the others exist to measure it (docs/RATIONALE.md).
	Interrupt InterruptMode
	// WindowBytes bounds the windows of a plugin shown content (content: or fs:read grants),
	// all its instances' together: the text each instance was shown, which each of its emissions
	// is checked against. An instance is recycled before a call would take the plugin's windows
	// past the bound; each instance may always hold its share, the bound over PoolSize
	// (window.go). Default DefaultWindowBytes.
	WindowBytes int64
	// DataDir is Hangar's data directory: fs_read and fs_stat never reach a path in it (its
	// install secret, spool, store, keys, plugin state), whatever a grant's glob says. Empty
	// protects no directory.
	DataDir string
}

// InterruptMode is how the host stops a guest that runs past its call's deadline.
type InterruptMode int

const (
	// InterruptInstrument rewrites each module at load (wasmrewrite.Instrument) so that every
	// function and loop body begins by charging a fuel counter its code's byte size, and the
	// guest calls the host's yield each time the fuel is spent, which ends the call once its
	// context is done or its deadline has passed. A module the rewrite does not decode falls back
	// to InterruptClose.
	InterruptInstrument InterruptMode = iota
	// InterruptClose uses wazero's WithCloseOnContextDone: every loop iteration exits to Go to
	// test the module's state, several times slower.
	InterruptClose
	// InterruptNone never stops a guest: one stuck in a loop holds its goroutine forever. Only
	// benchmarks use it, as the floor the other modes are measured against.
	InterruptNone
)

// Validate reports a configuration error.
func (c *Config) Validate() error {
	switch {
	case c.PoolSize < 0:
		return fmt.Errorf("pool size %d is negative", c.PoolSize)
	case c.PluginMemory < 0:
		return fmt.Errorf("plugin memory %d is negative", c.PluginMemory)
	case c.QuarantineAfter < 0:
		return fmt.Errorf("quarantine after %d is negative", c.QuarantineAfter)
	case c.QuarantineRecordsAfter < 0:
		return fmt.Errorf("quarantine records after %d is negative", c.QuarantineRecordsAfter)
	case c.LogRate < 0:
		return fmt.Errorf("log rate %d is negative", c.LogRate)
	case c.Interrupt < InterruptInstrument || c.Interrupt > InterruptNone:
		return fmt.Errorf("interrupt mode %d is unknown", c.Interrupt)
	case c.IdleRelease < 0:
		return fmt.Errorf("idle release %v is negative", c.IdleRelease)
	case c.IdleRelease > 0 && c.CacheDir == "":
		return errors.New("idle release needs a compilation cache directory")
	case c.WindowBytes < 0:
		return fmt.Errorf("window bytes %d is negative", c.WindowBytes)
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.PoolSize == 0 {
		c.PoolSize = runtime.GOMAXPROCS(0)
	}
	if c.PluginMemory == 0 {
		c.PluginMemory = DefaultPluginMemory
	}
	if c.QuarantineAfter == 0 {
		c.QuarantineAfter = DefaultQuarantineAfter
	}
	if c.QuarantineRecordsAfter == 0 {
		c.QuarantineRecordsAfter = DefaultQuarantineRecordsAfter
	}
	if c.LogRate == 0 {
		c.LogRate = 100
	}
	if c.WindowBytes == 0 {
		c.WindowBytes = DefaultWindowBytes
	}
}

// Host runs plugins: it compiles them (through a compilation cache shared by all), keeps a pool
// of instances per plugin, and enforces their grants and limits. It is safe for concurrent use.
type Host struct {
	cfg Config
	// cache is the in-memory compilation cache shared by all plugins when there is no CacheDir.
	// With one, each plugin opens its own handle on the directory (Plugin.cache), so that its
	// machine code can be freed alone.
	cache wazero.CompilationCache

	mu      sync.Mutex
	plugins map[string]*Plugin // by name
	closed  bool

	stopIdle chan struct{} // closed by Close, to end releaseIdle's loop
	idleDone chan struct{} // closed when it has ended
}

// New returns a host. Close releases it.
func New(cfg Config) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new host: %w", err)
	}
	cfg.setDefaults()
	h := &Host{cfg: cfg, plugins: map[string]*Plugin{}}
	if cfg.CacheDir != "" {
		// Checked now, so that a plugin's later handle on it cannot fail but for the disk.
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("new host: open compilation cache: %w", err)
		}
		c.Close(context.Background())
	} else {
		h.cache = wazero.NewCompilationCache()
	}
	if cfg.IdleRelease > 0 {
		h.stopIdle, h.idleDone = make(chan struct{}), make(chan struct{})
		go h.releaseIdle()
	}
	return h, nil
}

// releaseIdle releases, every quarter of IdleRelease, the plugins idle for IdleRelease or more,
// until Close. Released memory goes back to the system at once: a daemon that has gone quiet
// should be small.
func (h *Host) releaseIdle() {
	defer close(h.idleDone)
	t := time.NewTicker(max(h.cfg.IdleRelease/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-h.stopIdle:
			return
		case <-t.C:
		}
		released := false
		before := h.cfg.Now().Add(-h.cfg.IdleRelease).UnixNano()
		for _, p := range h.Plugins() {
			if p.lastUsed.Load() <= before && p.releaseCode() {
				released = true
			}
		}
		if released {
			// The machine code is unmapped by finalizers, which the first collection queues and
			// the second finds done; then the heap the instances held goes back too.
			runtime.GC()
			debug.FreeOSMemory()
		}
	}
}

// Close closes every plugin, flushes their content-access counts to the audit log, and releases
// the compilation cache. It is safe to call more than once.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	ps := make([]*Plugin, 0, len(h.plugins))
	for _, p := range h.plugins {
		ps = append(ps, p)
	}
	h.plugins = nil
	h.mu.Unlock()
	var errs []error
	if h.stopIdle != nil {
		close(h.stopIdle)
		<-h.idleDone
	}
	for _, p := range ps {
		errs = append(errs, p.Close())
	}
	if h.cache != nil {
		errs = append(errs, h.cache.Close(context.Background()))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close host: %w", err)
	}
	return nil
}

// Plugins returns the loaded plugins, in no particular order.
func (h *Host) Plugins() []*Plugin {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Plugin, 0, len(h.plugins))
	for _, p := range h.plugins {
		out = append(out, p)
	}
	return out
}

// Plugin returns the loaded plugin of a name, or nil.
func (h *Host) Plugin(name string) *Plugin {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.plugins[name]
}

// FlushAudit writes each plugin's content-access counts since the last flush to the audit log,
// one aggregated entry per plugin and field. The daemon calls it periodically; Close calls it.
func (h *Host) FlushAudit() error {
	var errs []error
	for _, p := range h.Plugins() {
		errs = append(errs, p.flushContentAccess())
	}
	return errors.Join(errs...)
}

// httpImports are Extism's HTTP host functions: a module importing any of them is refused, since
// plugins get no network (and AllowedHosts can be bypassed by a redirect).
var httpImports = []string{"http_request", "http_status_code", "http_headers"}

// Load checks a plugin's module against its manifest, compiles it and returns the plugin, ready to
// call under grants. A plugin of the same name loaded before is replaced (and closed). The module
// must hash to m.SHA256 and must not import Extism's HTTP functions. Load does not instantiate
// the module: instances are made on first use, up to the pool size.
func (h *Host) Load(m Manifest, wasm []byte, g Grants, opts ...LoadOption) (*Plugin, error) {
	return h.load(m, wasm, g, "", opts)
}

// LoadOption changes how Load and LoadInstalled load a plugin.
type LoadOption func(*loadOptions)

type loadOptions struct{ deferCompile bool }

// DeferCompile has Load check and rewrite the module as always, and leave compiling it to its
// first call, as after an idle release (Config.IdleRelease). A daemon starts its enrich and insight
// plugins so: each one's compile (about a second for a Go plugin with a cold cache) then runs in its
// consumer's goroutine, after the daemon has opened its socket, and not before every hook.
func DeferCompile() LoadOption { return func(o *loadOptions) { o.deferCompile = true } }

// load is Load, with the plugin's install id (LoadInstalled), or "" for a first-party plugin.
func (h *Host) load(m Manifest, wasm []byte, g Grants, installID string, opts []LoadOption) (*Plugin, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("load plugin %s: %w", m.Name, err)
	}
	sum := sha256.Sum256(wasm)
	if got := hex.EncodeToString(sum[:]); got != m.SHA256 {
		return nil, fmt.Errorf("load plugin %s: %w: sha256 %s, manifest says %s", m.Name, ErrRefusedModule, got, m.SHA256)
	}
	imports, err := wasmrewrite.Imports(wasm)
	if err != nil {
		return nil, fmt.Errorf("load plugin %s: %w: %w", m.Name, ErrRefusedModule, err)
	}
	for _, im := range imports {
		if im.Module != "extism:host/env" {
			continue
		}
		for _, name := range httpImports {
			if im.Name == name {
				return nil, fmt.Errorf("load plugin %s: %w: it imports extism:host/env %s, and plugins get no network", m.Name, ErrRefusedModule, name)
			}
		}
	}
	lim := m.Limits.WithDefaults()
	p := &Plugin{
		h:     h,
		m:     m,
		g:     g,
		lim:   lim,
		proj:  newProjector(g),
		idle:  make(chan *instance, h.poolSize(lim)),
		slots: make(chan struct{}, h.poolSize(lim)),
		log:   h.cfg.Logger.With("plugin", m.Name),
	}
	p.installID = installID
	p.logLimit = newRateLimiter(h.cfg.LogRate, h.cfg.Now)
	p.contentReads = make([]atomic.Int64, len(p.proj.content))
	p.contentFlushed = make([]int64, len(p.proj.content))

	start := time.Now()
	code := wasm
	p.interrupt = h.cfg.Interrupt
	if p.interrupt == InterruptInstrument {
		switch code, err = wasmrewrite.Instrument(wasm); {
		case errors.Is(err, wasmrewrite.ErrUnsupported):
			// A feature the rewrite does not know (exception handling, GC): correct, only slower.
			p.log.Warn("plugin cannot be instrumented for deadlines; it runs under wazero's slower close-on-deadline", "err", err)
			code, p.interrupt = wasm, InterruptClose
		case err != nil:
			return nil, fmt.Errorf("load plugin %s: %w: %w", m.Name, ErrRefusedModule, err)
		}
	}
	p.code = code
	p.lits.module = code // its data, where literals are, as written
	if !o.deferCompile {
		if err := p.compile(); err != nil {
			return nil, fmt.Errorf("load plugin %s: compile: %w", m.Name, err)
		}
	}
	p.compileTime = time.Since(start)
	p.lastUsed.Store(h.cfg.Now().UnixNano())

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		p.closeCode()
		return nil, fmt.Errorf("load plugin %s: %w", m.Name, ErrClosed)
	}
	old := h.plugins[m.Name]
	h.plugins[m.Name] = p
	h.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return p, nil
}

// poolSize returns how many instances a plugin with limits lim may have: PoolSize, fewer if their
// memory limits would add up to more than PluginMemory, and at least one.
func (h *Host) poolSize(lim Limits) int {
	perInstance := int64(lim.MemoryPages) * 64 << 10
	return max(1, min(h.cfg.PoolSize, int(h.cfg.PluginMemory/perInstance)))
}

// instance is one instantiated module of a plugin. It serves one call at a time.
type instance struct {
	x *extism.Plugin
	// mod is x's wazero module: its memory is the guest's own (mainModule).
	mod api.Module
	// mem is the bytes of linear memory the instance holds (its module's and Extism's kernel's).
	mem atomic.Int64
	// win is what the instance was shown, when its plugin is shown content (window.go).
	win *window
}

// moduleConfig is the environment of every instance: no arguments, no environment variables, no
// preopened directories, stdout and stderr discarded, and wazero's fake clock (fixed, advancing
// 1ms per reading) unless the plugin was granted "clock". Sleeping never blocks: a guest that
// sleeps spins on its clock until its deadline ends the call.
func (p *Plugin) moduleConfig() wazero.ModuleConfig {
	mc := wazero.NewModuleConfig()
	if p.g.Has(ClassClock, "") {
		mc = mc.WithSysWalltime().WithSysNanotime()
	}
	return mc
}

// newInstance instantiates the module once.
func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	in := &instance{}
	start := time.Now()
	p.codeMu.Lock()
	if p.compiled == nil {
		// Released while idle: made again from the compilation cache.
		if err := p.compile(); err != nil {
			p.codeMu.Unlock()
			return nil, fmt.Errorf("instantiate plugin %s: compile again: %w", p.m.Name, err)
		}
	}
	compiled := p.compiled
	p.codeMu.Unlock()
	ctx = experimental.WithMemoryAllocator(ctx, trackingAllocator{&in.mem})
	x, err := compiled.Instance(ctx, extism.PluginInstanceConfig{ModuleConfig: p.moduleConfig()})
	if err != nil {
		return nil, fmt.Errorf("instantiate plugin %s: %w", p.m.Name, err)
	}
	x.SetLogger(func(extism.LogLevel, string) {}) // Extism's own logging is not a plugin capability
	in.x, in.mod = x, mainModule(x)
	if in.mod == nil || in.mod.Memory() == nil {
		x.Close(context.Background())
		return nil, fmt.Errorf("instantiate plugin %s: the module has no memory, or this Extism version hides it", p.m.Name)
	}
	if p.interrupt == InterruptInstrument {
		if err := p.runStart(ctx, in); err != nil {
			x.Close(context.Background())
			return nil, fmt.Errorf("instantiate plugin %s: %w", p.m.Name, err)
		}
	}
	d := time.Since(start)
	p.instances.Add(1)
	p.instantiations.Add(1)
	p.instantiateNanos.Add(int64(d))
	p.coldStart.CompareAndSwap(0, int64(p.compileTime+d))
	return in, nil
}

// runStart runs the function of the module's start section, which wasmrewrite.Instrument exported
// as wasmrewrite.StartExport instead of leaving it to wazero's instantiation, where nothing could
// stop it: here it runs under the plugin's call deadline, interruptible like a call. A module
// without one has nothing to run.
func (p *Plugin) runStart(ctx context.Context, in *instance) error {
	fn := in.mod.ExportedFunction(wasmrewrite.StartExport)
	if fn == nil {
		return nil
	}
	timeout := time.Duration(p.lim.CallTimeout)
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Extism's host functions (the yield among them) find their instance in the context.
	_, err := fn.Call(context.WithValue(sctx, extism.PluginCtxKey("plugin"), in.x))
	switch cause := whyStopped(ctx, sctx, err); {
	case err == nil:
		return nil
	case cause == stopCaller:
		return fmt.Errorf("start function: %w", callerErr(ctx))
	case cause == stopDeadline:
		return fmt.Errorf("%w: its start function ran past %v", ErrDeadline, timeout)
	}
	return fmt.Errorf("%w: its start function: %s", ErrTrap, trapReason(err))
}

func (in *instance) close() {
	in.x.Close(context.Background())
	in.win.free()
}

// compile compiles p.code, through the host's compilation cache. With a CacheDir, the plugin
// opens its own handle on the cache directory. The caller holds codeMu, or p is not shared yet.
func (p *Plugin) compile() error {
	cache := p.h.cache
	if cache == nil {
		c, err := wazero.NewCompilationCacheWithDir(p.h.cfg.CacheDir)
		if err != nil {
			return fmt.Errorf("open compilation cache: %w", err)
		}
		cache = c
	}
	rc := wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithMemoryLimitPages(p.lim.MemoryPages).
		WithCloseOnContextDone(p.interrupt == InterruptClose)
	compiled, err := extism.NewCompiledPlugin(context.Background(), extism.Manifest{
		Wasm: []extism.Wasm{extism.WasmData{Data: p.code, Name: "main"}},
		// No AllowedHosts, no AllowedPaths, no Config, no Timeout: the host sets its own deadline
		// on each call (see Call) and the runtime config above decides how it is enforced.
	}, extism.PluginConfig{RuntimeConfig: rc, EnableWasi: true}, append(append(p.hostFunctions(), p.abiFunctions()...), yieldFunction()))
	if err != nil {
		if cache != p.h.cache {
			cache.Close(context.Background())
		}
		return err
	}
	p.compiled = compiled
	p.hasCode.Store(true)
	if cache != p.h.cache {
		p.cache = cache
	}
	return nil
}

// closeCode closes the compiled module and the plugin's handle on the compilation cache, which
// drops its machine code (unmapped once collected).
func (p *Plugin) closeCode() error {
	p.codeMu.Lock()
	defer p.codeMu.Unlock()
	var errs []error
	if p.compiled != nil {
		errs = append(errs, p.compiled.Close(context.Background()))
		p.compiled = nil
		p.hasCode.Store(false)
	}
	if p.cache != nil {
		errs = append(errs, p.cache.Close(context.Background()))
		p.cache = nil
	}
	return errors.Join(errs...)
}

// releaseCode releases an idle plugin's instances and compiled module, which its next call makes
// again. It does nothing, and reports false, if a call is running (it takes every slot, without
// waiting) or there is nothing to release.
func (p *Plugin) releaseCode() bool {
	taken := 0
	defer func() {
		for range taken {
			<-p.slots
		}
	}()
	for range cap(p.slots) {
		select {
		case p.slots <- struct{}{}:
			taken++
		default:
			return false
		}
	}
	if p.closed.Load() {
		return false
	}
	p.codeMu.Lock()
	loaded := p.compiled != nil
	p.codeMu.Unlock()
	if !loaded {
		return false
	}
	p.drainIdle()
	if err := p.closeCode(); err != nil {
		p.log.Warn("release idle plugin", "err", err)
	}
	p.releases.Add(1)
	return true
}

// errStopped is what the yield host function ends a call with (through a panic, which wazero turns
// into the call's error) when the call's context is done or its deadline has passed. It wraps
// the context's error.
type errStopped struct{ err error }

func (e errStopped) Error() string { return "host: call stopped: " + e.err.Error() }
func (e errStopped) Unwrap() error { return e.err }

// yieldCheck is what an instrumented guest's yield does (wasmrewrite.Instrument): it reports the context's
// error, or context.DeadlineExceeded once its deadline has passed, reading the clock itself so that
// a call ends on time even when the timer that would end its context has not run yet (a
// starved scheduler). It runs in the guest's own goroutine, in Go code: the goroutine can be
// stopped there too.
func yieldCheck(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// yieldFunction is the host function instrumented modules import as wasmrewrite.YieldModule and
// wasmrewrite.YieldName.
func yieldFunction() extism.HostFunction {
	fn := extism.NewHostFunctionWithStack(wasmrewrite.YieldName, func(ctx context.Context, _ *extism.CurrentPlugin, _ []uint64) {
		if err := yieldCheck(ctx); err != nil {
			panic(errStopped{err})
		}
	}, nil, nil)
	fn.SetNamespace(wasmrewrite.YieldModule)
	return fn
}

// stopCause is why a guest call under callCtx, derived from the caller's ctx, failed with err.
type stopCause int

const (
	stopNone     stopCause = iota // it did not stop for a context: a trap
	stopCaller                    // the caller's context ended (its cancel, or its own deadline)
	stopDeadline                  // the call's own deadline passed
)

// callerErr returns why the caller's context ended: its cause, or context.DeadlineExceeded when
// its deadline passed before its timer ran.
func callerErr(ctx context.Context) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return context.DeadlineExceeded
}

// whyStopped tells whether a call that failed with err was stopped by a context, and whose. It
// reads the clock as yieldCheck does: a context whose deadline passed counts as ended even if its
// timer has not run yet.
func whyStopped(ctx, callCtx context.Context, err error) stopCause {
	if err == nil {
		return stopNone
	}
	if yieldCheck(ctx) != nil {
		return stopCaller
	}
	if yieldCheck(callCtx) != nil {
		return stopDeadline
	}
	return stopNone
}

// acquire takes an idle instance or makes one, waiting while the pool is busy.
func (p *Plugin) acquire(ctx context.Context) (*instance, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case in := <-p.idle:
		return in, nil
	default:
	}
	in, err := p.newInstance(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return in, nil
}

// release returns an instance to the pool, or closes it if it must not be reused (after a trap,
// a deadline or any failed call) or the plugin was closed.
func (p *Plugin) release(in *instance, reuse bool) {
	if reuse && !p.closed.Load() {
		p.idle <- in // never blocks: at most PoolSize instances exist
	} else {
		p.instances.Add(-1)
		in.close()
	}
	<-p.slots
	if p.closed.Load() {
		p.drainIdle()
	}
}

func (p *Plugin) drainIdle() {
	for {
		select {
		case in := <-p.idle:
			p.instances.Add(-1)
			in.close()
		default:
			return
		}
	}
}

// trackingAllocator backs linear memories with Go slices and counts their bytes, so that the
// host can report each instance's memory.
type trackingAllocator struct{ n *atomic.Int64 }

func (a trackingAllocator) Allocate(capacity, maxBytes uint64) experimental.LinearMemory {
	return &trackedMemory{buf: make([]byte, 0, min(capacity, maxBytes)), max: maxBytes, n: a.n}
}

type trackedMemory struct {
	buf []byte
	max uint64
	n   *atomic.Int64
}

func (m *trackedMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	old := len(m.buf)
	if size > uint64(cap(m.buf)) {
		nb := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.max))
		for i := 0; i < old; i += growChunk { // a chunk per memmove: the loop can be preempted
			copy(nb[i:min(i+growChunk, old)], m.buf[i:])
		}
		m.buf = nb
	} else {
		m.buf = m.buf[:size]
	}
	// Touch every new page here, in Go code that the scheduler can preempt, rather than at the
	// guest's first store to it: a page fault in compiled code cannot be preempted, and a guest
	// that touched a whole fresh memory in one bulk instruction held a stop-the-world for a
	// third of a second on a busy machine (16 MiB: 4,096 faults).
	for i := old; i < int(size); i += 4096 {
		m.buf[i] = 0
	}
	m.n.Add(int64(size) - int64(old))
	return m.buf
}

// growChunk is how much of a linear memory trackedMemory copies at a time when it grows.
const growChunk = 1 << 20

func (m *trackedMemory) Free() {
	m.n.Add(-int64(len(m.buf)))
	m.buf = nil
}
