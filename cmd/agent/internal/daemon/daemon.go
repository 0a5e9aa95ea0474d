package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/loader"
	"github.com/hangar-dev/hangar/pipeline/usagestore"
	"github.com/hangar-dev/hangar/store"
	"github.com/hangar-dev/hangar/store/seal"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Config configures a Daemon.
type Config struct {
	// DataDir holds the store, the socket, the spool and the logs. Required.
	DataDir string
	// Intake configures the fast path.
	Intake pipeline.IntakeConfig
	// Retention is how long events are kept after ingest; 0 keeps them forever.
	Retention time.Duration
	// DLQRetention is how long dead letters (which hold raw payloads) are kept; 0 forever.
	DLQRetention time.Duration
	// DerivedRetention is how long the derived records and view entries of some kinds (the
	// metrics plugin's widths, "metrics.1m" ...) are kept after they were stored, each kind its
	// own; 0 keeps a kind forever. Every other kind is kept as long as events (Retention).
	DerivedRetention map[string]time.Duration
	// Captures are the capture stages by platform.
	Captures pipeline.Captures
	// Consumers returns the consumers of the event log, given the open store.
	Consumers func(*store.Store) []pipeline.Consumer
	// Logger receives the daemon's logs. Nil discards them.
	Logger *slog.Logger
	// Version is reported by status.
	Version string
	// Plugins (re)loads the enabled plugins from the plugin registry (a *loader.Loader). The
	// daemon starts it, over its store, when it starts serving (or at the first POST
	// /v1/plugins/reload of a command that opened the store itself), reloads it on POST
	// /v1/plugins/reload (after `agent plugins` changed something), and closes it after the
	// pipeline. Nil: the daemon runs no plugins.
	Plugins PluginLoader
	// ReadOnly opens the store read-only, for a command that only reads usage (a report) when no
	// daemon runs: no intake, no consumers, no price table parsed, nothing written, and quicker
	// to open. Its handler serves GET /v1/usage/buckets, GET /v1/usage/unpriced, the derived
	// reads (GET /v1/derived/...) and GET /v1/events/tail only, and it
	// cannot Serve. Open fails with ErrStale when reading alone would not give the answer a
	// daemon gives; the caller then opens without ReadOnly, which brings the store up to date.
	ReadOnly bool
	// ReadsDerived is set for a command that reads derived records: a read-only open (ReadOnly)
	// then also fails with ErrStale while the enrich plugins have events to read.
	ReadsDerived bool
	// EnrichPlugins names the enabled enrich plugins, whose progress through the event log the
	// derived reads wait for (GET /v1/derived/...). Nil: none.
	EnrichPlugins func() ([]string, error)
	// DerivedWait bounds how long a derived read waits for the enrich plugins to catch up before
	// it answers with what there is, saying how far behind it is; 0 means 10 s.
	DerivedWait time.Duration
}

// ErrStale means that a read-only open (Config.ReadOnly) would serve stale answers: the store
// does not exist yet or cannot be opened read-only, the usage rollup has events left to consume,
// or the stored costs come from another price table than the data directory's and need a
// reprice.
var ErrStale = errors.New("the store must be brought up to date before it is read")

// PluginLoader loads the enabled plugins into the pipeline; *loader.Loader is the agent's. Start
// is called once, with the open store, before any Reload; Start, Reload and Close are never
// called at once; Close is called once, after the pipeline stopped, whether or not Start was.
type PluginLoader interface {
	Start(st *store.Store) (PluginsReloaded, error)
	Reload() (PluginsReloaded, error)
	Close() error
}

// AuditFlusher is an optional ability of a PluginLoader: writing the plugins' content reads to the
// audit log now (they are written on an interval too), for POST /v1/audit/flush, which `agent
// audit` sends before it reads the log. It may be called at any time, concurrently with Reload.
type AuditFlusher interface {
	FlushAudit() error
}

var (
	_ AuditFlusher         = (*loader.Loader)(nil)
	_ PluginLoader         = (*loader.Loader)(nil)
	_ PluginReporter       = (*loader.Loader)(nil)
	_ CaptureReporter      = (*loader.Loader)(nil)
	_ ConsumerPauser       = (*loader.Loader)(nil)
	_ ConsumerLagReporter  = (*loader.Loader)(nil)
	_ prometheus.Collector = (*loader.Loader)(nil)
)

// PluginReporter is an optional ability of a PluginLoader: reporting every plugin's state and
// resource use, for GET /v1/status. It may be called at any time, concurrently with Reload. A
// PluginLoader that is also a prometheus.Collector has its metrics in /metrics.
type PluginReporter interface {
	PluginStatus() []PluginStatus
}

// CaptureReporter is an optional ability of a PluginLoader: saying what captures each platform
// (a capture plugin's name@version, or "none"), for GET /v1/status. It may be called at any time,
// concurrently with Reload.
type CaptureReporter interface {
	Captures() map[string]string
}

// Validate reports a configuration error.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data dir is required")
	}
	if c.Retention < 0 || c.DLQRetention < 0 {
		return errors.New("retention must not be negative")
	}
	for kind, d := range c.DerivedRetention {
		if d < 0 {
			return fmt.Errorf("retention of %s must not be negative", kind)
		}
	}
	return c.Intake.Validate()
}

// Paths inside the data directory.
const (
	SocketName = "agent.sock"
	StoreName  = "store"
	SpoolName  = "spool"
	// ParkedName is the spool, inside SpoolName, where records wait while no capture plugin
	// serves their platform.
	ParkedName = "parked"
	LogsName   = "logs"
	// CacheName holds caches that can be rebuilt, like compiled plugins.
	CacheName = "cache"
	// PricingName holds the price table `agent pricing update` saved (PricesFile), which the
	// daemon prices usage with instead of the embedded one.
	PricingName = "pricing"
	PricesFile  = "litellm.json"
)

// Daemon is the agent's core. Open starts its pipeline; Serve adds the socket and the background
// loops; Close stops everything. It is safe for concurrent use.
type Daemon struct {
	cfg    Config
	log    *slog.Logger
	lock   *os.File
	st     *store.Store
	intake *pipeline.Intake
	spool  *pipeline.Spool
	// parked holds the records of platforms no capture served when they came (see
	// pipeline.ErrNoCapture); drained when a plugin reload brings a capture (parkedWake).
	parked     *pipeline.Spool
	parkedWake chan struct{}
	key        *seal.Key // the payload key: seals the spool's and the dead letters' payloads
	reg        *prometheus.Registry
	metrics    *pipeline.Metrics
	started    time.Time
	serving    bool
	// serveCtx is Serve's context, set before it serves: its end stops imports in flight.
	serveCtx context.Context
	handler  http.Handler

	// The consumers' runner and the dead letters that replay through it: a reprice stops the
	// runner and starts a new one over the same consumers (builtin).
	consumers atomic.Pointer[pipeline.Consumers]
	dlq       atomic.Pointer[pipeline.DeadLetters]
	builtin   []pipeline.Consumer
	usage     *usagestore.Rollup // the usage rollup among builtin; nil if none
	// pauseMu is held for writing while a reprice has the consumers stopped (and replaces the
	// runner and its dead letters), and for reading by what must not overlap it: usage reads
	// (never half repriced), dead-letter replays (which run a consumer) and drops (the old and
	// the new DeadLetters would not serialize). closing is set under it.
	pauseMu sync.RWMutex
	closing bool

	pricesMu sync.Mutex
	prices   PriceTable // the table the usage rollup prices with

	reloadMu       sync.Mutex
	pluginsStarted bool // guarded by reloadMu: Plugins.Start ran
	closeOnce      sync.Once
	closeErr       error
}

// Open takes the data directory's lock, opens the store and starts the pipeline. It returns an
// *AlreadyRunningError if another process holds the directory.
func Open(cfg Config) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open daemon: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := privateDir(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("open daemon: %w", err)
	}
	d := &Daemon{cfg: cfg, log: log, started: time.Now(), parkedWake: make(chan struct{}, 1)}
	var err error
	if d.lock, err = lockFile(cfg.DataDir); err != nil {
		return nil, err
	}
	if err := d.open(); err != nil {
		d.Close()
		return nil, fmt.Errorf("open daemon: %w", err)
	}
	return d, nil
}

// dataDirEntries are the names Hangar keeps in its data directory.
var dataDirEntries = map[string]bool{
	"agent.lock": true, SocketName: true, StoreName: true, SpoolName: true, LogsName: true, "config.toml": true,
	"plugins": true, "audit.log": true, CacheName: true, SecretName: true, PricingName: true, seal.KeyName: true,
}

// privateDir creates dir with mode 0700, or makes an existing one 0700 if it holds nothing but
// Hangar's files. It refuses a shared directory (say, --data-dir /tmp) rather than change its mode.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if info.Mode().Perm()&0o077 == 0 {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !dataDirEntries[e.Name()] && !strings.HasPrefix(e.Name(), seal.KeyName+".bad-") {
			return fmt.Errorf("data dir %s is open to other users (mode %v) and holds %q: use a directory of Hangar's own", dir, info.Mode().Perm(), e.Name())
		}
	}
	return os.Chmod(dir, 0o700)
}

func (d *Daemon) open() error {
	if d.cfg.ReadOnly {
		return d.openReadOnly()
	}
	var err error
	if d.key, err = d.loadPayloadKey(); err != nil {
		return err
	}
	d.spool = pipeline.NewSpool(filepath.Join(d.cfg.DataDir, SpoolName), d.key)
	d.parked = pipeline.NewSpool(filepath.Join(d.cfg.DataDir, SpoolName, ParkedName), d.key)
	if d.st, err = store.Open(filepath.Join(d.cfg.DataDir, StoreName), store.Options{Logger: d.log, PayloadKey: d.key}); err != nil {
		return err
	}
	if n, err := d.st.SealDeadLetters(context.Background()); err != nil {
		d.log.Error("seal the payloads of an earlier build's dead letters; they stay readable and are sealed at their next update", "err", err)
	} else if n > 0 {
		d.log.Info("sealed the payloads of an earlier build's dead letters", "dead_letters", n)
	}
	d.reg = prometheus.NewRegistry()
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.metrics = pipeline.NewMetrics(d.reg)
	d.registerGauges()
	if c, ok := d.cfg.Plugins.(prometheus.Collector); ok {
		if err := d.reg.Register(c); err != nil {
			return fmt.Errorf("register plugin metrics: %w", err)
		}
	}
	ic := d.cfg.Intake
	ic.Logger, ic.Metrics, ic.Parked = d.log.With("component", "intake"), d.metrics, d.parked
	if d.intake, err = pipeline.NewIntake(d.st, d.cfg.Captures, ic); err != nil {
		return err
	}
	d.newConsumers()
	// Prices load before the consumers start: a reprice they need runs with none running.
	if err := d.loadPrices(); err != nil {
		return err
	}
	if err := d.startConsumers(); err != nil {
		return err
	}
	d.handler = d.routes()
	return nil
}

// loadPayloadKey loads the data directory's payload key, creating it on first use (a hook that
// spooled before any daemon ran may have created it). A key file that is not a key (cut short,
// say) is set aside, named in the log, and a new key made: new records are captured and sealed
// as ever, and what the old key sealed waits, sealed, until the user puts it back (agent dlq show
// says so). The daemon holds the data directory's lock, so no two daemons renew at once.
func (d *Daemon) loadPayloadKey() (*seal.Key, error) {
	path := filepath.Join(d.cfg.DataDir, seal.KeyName)
	k, err := seal.LoadOrCreate(path)
	if errors.Is(err, seal.ErrBadKey) {
		nk, aside, rerr := seal.Renew(path)
		if rerr != nil {
			return nil, fmt.Errorf("%w; and replacing it failed: %w", err, rerr)
		}
		d.log.Error("the payload key file is unusable: it was set aside and a new key made; payloads sealed under the old key stay sealed until it is put back",
			"err", err, "set_aside", aside, "new_key", nk.ID())
		return nk, nil
	}
	return k, err
}

// newConsumers makes the built-in consumers over the open store, and finds the usage rollup.
func (d *Daemon) newConsumers() {
	if d.cfg.Consumers != nil {
		d.builtin = d.cfg.Consumers(d.st)
	}
	for _, c := range d.builtin {
		if u, ok := c.(*usagestore.Rollup); ok {
			d.usage = u
		}
	}
}

// openReadOnly opens the store read-only and serves usage reads from it (see Config.ReadOnly),
// if nothing would have changed them had the store been opened for writing.
func (d *Daemon) openReadOnly() error {
	var err error
	if d.st, err = store.Open(filepath.Join(d.cfg.DataDir, StoreName), store.Options{Logger: d.log, ReadOnly: true}); err != nil {
		return fmt.Errorf("%w: %w", ErrStale, err)
	}
	d.newConsumers()
	// Never started: the runner only tells how far the consumers have come.
	r, err := pipeline.NewConsumers(d.st, d.builtin, pipeline.ConsumersConfig{})
	if err != nil {
		return err
	}
	d.consumers.Store(r)
	if d.usage != nil {
		if lag := r.Lag()[usagestore.Name]; lag > 0 {
			return fmt.Errorf("%w: the usage rollup has %d events to consume", ErrStale, lag)
		}
		want, err := priceTableID(d.cfg.DataDir)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrStale, err)
		}
		priced, err := d.usage.TableID()
		if err != nil {
			return err
		}
		if priced != want {
			return fmt.Errorf("%w: usage is priced with table %q, not with the data directory's %q", ErrStale, priced, want)
		}
	}
	if d.cfg.ReadsDerived {
		lag, err := d.enrichLag()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrStale, err)
		}
		if lag > 0 {
			return fmt.Errorf("%w: the enrich plugins have %d events to read", ErrStale, lag)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/usage/buckets", d.getUsageBuckets)
	mux.HandleFunc("GET /v1/usage/sums", d.getUsageSums)
	mux.HandleFunc("GET /v1/usage/unpriced", d.getUnpriced)
	d.derivedRoutes(mux)
	mux.HandleFunc("GET /v1/insights", d.getInsights) // derived records: as the daemon left them
	d.handler = mux
	d.log.Debug("store opened read-only: it is up to date")
	return nil
}

// startConsumers starts a runner of the built-in consumers, and the dead letters over it.
func (d *Daemon) startConsumers() error {
	r, err := pipeline.NewConsumers(d.st, d.builtin, pipeline.ConsumersConfig{
		Logger: d.log.With("component", "consumers"), Metrics: d.metrics,
	})
	if err != nil {
		return err
	}
	r.Start()
	d.consumers.Store(r)
	d.dlq.Store(pipeline.NewDeadLetters(d.st, d.intake, r))
	return nil
}

func (d *Daemon) registerGauges() {
	d.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hangar_queue_depth", Help: "Events and dead letters waiting to be committed."},
			func() float64 { return float64(d.intake.QueueDepth()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hangar_dlq_records", Help: "Records in the dead-letter queue."},
			func() float64 { return float64(d.st.DLQCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hangar_events_stored", Help: "Events in the store."},
			func() float64 { return float64(d.st.EventCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hangar_store_disk_bytes", Help: "Bytes the store uses on disk."},
			func() float64 { return float64(d.st.DiskSize()) }),
	)
}

// pluginStatus returns the plugins' status, if the plugin loader reports it.
func (d *Daemon) pluginStatus() []PluginStatus {
	if r, ok := d.cfg.Plugins.(PluginReporter); ok {
		if ps := r.PluginStatus(); ps != nil {
			return ps
		}
	}
	return []PluginStatus{}
}

// captures returns what captures each platform, if the plugin loader says.
func (d *Daemon) captures() map[string]string {
	if r, ok := d.cfg.Plugins.(CaptureReporter); ok {
		if c := r.Captures(); c != nil {
			return c
		}
	}
	return map[string]string{}
}

// Handler returns the local API handler.
func (d *Daemon) Handler() http.Handler { return d.handler }

// ReadOnly reports whether the daemon opened its store read-only (Config.ReadOnly).
func (d *Daemon) ReadOnly() bool { return d.cfg.ReadOnly }

// Store returns the daemon's store.
func (d *Daemon) Store() *store.Store { return d.st }

// Serve listens on <data-dir>/agent.sock (mode 0600), drains the spool, runs retention, and
// serves the API until ctx ends; then it drains the pipeline, closes everything and returns.
func (d *Daemon) Serve(ctx context.Context) error {
	if d.cfg.ReadOnly {
		return errors.New("serve: the daemon is open read-only")
	}
	sock := filepath.Join(d.cfg.DataDir, SocketName)
	// We hold the lock, so a socket file left here is stale.
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("serve: %w", err)
	}
	// Plugins load before the socket opens: a platform's capture is its plugin, and a record
	// taken before it loaded would have none.
	if _, err := d.reloadPlugins(); err != nil {
		d.log.Error("load plugins", "err", err)
	}
	// The store builds its id filter at the first append; a daemon builds it now, so that the
	// first hook does not wait for it.
	if err := d.st.PrepareAppends(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	// Compiling a plugin leaves tens of megabytes of garbage; a daemon that idles all day should
	// not keep them resident.
	debug.FreeOSMemory()
	ln, err := listenUnix(sock)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	d.serving = true
	d.serveCtx = ctx
	srv := &http.Server{Handler: d.handler, ReadHeaderTimeout: 5 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	d.log.Info("agent started", "pid", os.Getpid(), "socket", sock, "events", d.st.EventCount())

	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); d.drainLoop(bg) }()
	go func() { defer wg.Done(); d.maintenanceLoop(bg) }()
	go func() { defer wg.Done(); d.transcriptsLoop(bg) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-srvErr:
	}
	d.log.Info("agent stopping")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Stop taking connections and let requests in flight finish; they are answered after commit.
	if err := srv.Shutdown(shutdownCtx); err != nil {
		d.log.Warn("shutdown http", "err", err)
	}
	stopBG()
	wg.Wait()
	os.Remove(sock)
	if err := d.Close(); err != nil {
		return err
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	d.log.Info("agent stopped")
	return nil
}

func listenUnix(path string) (net.Listener, error) {
	// Create the socket with no permissions for others from the start, then set 0600.
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// drainLoop drains the spool at start and whenever it has something, checking every second, and
// the parked records whenever a plugin reload brings a capture.
func (d *Daemon) drainLoop(ctx context.Context) {
	for {
		if d.spool.Pending() {
			if err := d.DrainSpool(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("drain spool", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-d.parkedWake:
			if d.parked.Pending() {
				if err := d.drain(ctx, d.parked, "parked records"); err != nil && ctx.Err() == nil {
					d.log.Error("drain parked records", "err", err)
				}
			}
		case <-time.After(time.Second):
		}
	}
}

// wakeParked has the drain loop capture the parked records (if any): a reload brought a capture.
func (d *Daemon) wakeParked() {
	select {
	case d.parkedWake <- struct{}{}:
	default:
	}
}

// DrainSpool stores every spooled record and deletes the drained spool files.
func (d *Daemon) DrainSpool(ctx context.Context) error { return d.drain(ctx, d.spool, "spool") }

// drain submits every record of spool to the intake and deletes the drained files. Records still
// without a capture are parked again (a new parked file: this drain does not read it).
func (d *Daemon) drain(ctx context.Context, spool *pipeline.Spool, what string) error {
	st, err := spool.Drain(func(recs []pipeline.RawRecord) error {
		for {
			_, err := d.intake.Submit(ctx, recs)
			if !errors.Is(err, pipeline.ErrBusy) {
				return err
			}
			select { // the live path has priority: wait and try again
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	if st.Records > 0 || st.SkippedBytes > 0 {
		d.log.Info(what+" drained", "records", st.Records, "files", st.Files, "skipped_bytes", st.SkippedBytes)
		d.metrics.SpoolDrained.Add(float64(st.Records))
		d.metrics.SpoolSkipped.Add(float64(st.SkippedBytes))
	}
	if st.SkippedBytes > 0 {
		d.log.Warn(what+" had torn or corrupt frames (from hooks killed mid-write); their bytes were skipped", "bytes", st.SkippedBytes)
	}
	if st.Unopened > 0 {
		d.log.Error(what+" held payloads sealed under another payload key: they were dead-lettered still sealed, and open once that key is back",
			"records", st.Unopened, "key", d.key.ID())
	}
	return err
}

// maintenanceLoop enforces retention at start and hourly, and rotates the hook log.
func (d *Daemon) maintenanceLoop(ctx context.Context) {
	for {
		if _, err := d.EnforceRetention(time.Now()); err != nil {
			d.log.Error("retention", "err", err)
		}
		rotateHookLog(filepath.Join(d.cfg.DataDir, LogsName))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}

// EnforceRetention deletes what is older than the configured retention, as of now: events,
// derived records and view entries (each kind of DerivedRetention at its own cutoff, every other
// kind at the events'), dead letters.
func (d *Daemon) EnforceRetention(now time.Time) (store.RetentionResult, error) {
	var res store.RetentionResult
	cut := store.DerivedCutoffs{ByKind: map[string]time.Time{}}
	if d.cfg.Retention > 0 {
		cut.Default = now.Add(-d.cfg.Retention)
		n, err := d.st.ExpireEvents(cut.Default)
		res.Events = n
		if err != nil {
			return res, err
		}
	}
	for kind, keep := range d.cfg.DerivedRetention {
		cut.ByKind[kind] = time.Time{} // 0: forever
		if keep > 0 {
			cut.ByKind[kind] = now.Add(-keep)
		}
	}
	n, err := d.st.ExpireDerived(cut)
	res.Derived = n
	if err != nil {
		return res, err
	}
	if d.cfg.DLQRetention > 0 {
		n, err := d.st.DeleteDLQBefore(now.Add(-d.cfg.DLQRetention))
		res.DeadLetters = n
		if err != nil {
			return res, err
		}
	}
	if res.Events > 0 || res.DeadLetters > 0 || res.Derived > 0 {
		d.log.Info("retention", "events_deleted", res.Events, "derived_deleted", res.Derived, "dead_letters_deleted", res.DeadLetters)
	}
	return res, nil
}

// Close drains and stops the pipeline, closes the store and releases the lock. It is safe to call
// more than once, and after a failed Open.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if d.intake != nil {
			if err := d.intake.Close(ctx); err != nil {
				d.closeErr = err
			}
		}
		// A reprice in flight finishes first, and none starts after: it would start consumers.
		d.pauseMu.Lock()
		d.closing = true
		if r := d.consumers.Load(); r != nil {
			r.Close()
		}
		d.pauseMu.Unlock()
		if d.cfg.Plugins != nil {
			d.reloadMu.Lock()
			if err := d.cfg.Plugins.Close(); err != nil {
				d.log.Warn("close plugins", "err", err)
			}
			d.reloadMu.Unlock()
		}
		if d.st != nil {
			if err := d.st.Close(); err != nil && d.closeErr == nil {
				d.closeErr = err
			}
		}
		if d.lock != nil {
			d.lock.Close() // releases the flock
		}
	})
	return d.closeErr
}
