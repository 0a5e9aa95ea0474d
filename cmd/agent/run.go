package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline"
	"gopkg.in/natefinch/lumberjack.v2"
)

// RunCmd runs the daemon in the foreground until SIGTERM or SIGINT, then drains and exits 0.
type RunCmd struct {
	BatchMaxEvents   int           `default:"100" env:"HANGAR_BATCH_MAX_EVENTS" help:"Commit a batch once it holds this many events."`
	BatchMaxDelay    time.Duration `default:"10ms" env:"HANGAR_BATCH_MAX_DELAY" help:"Longest a batch waits for more events while producers are on their way."`
	QueueSize        int           `default:"10000" env:"HANGAR_QUEUE_SIZE" help:"Events that may wait for commit; beyond, intake answers busy."`
	RetentionDays    int           `default:"365" env:"HANGAR_RETENTION_DAYS" help:"Delete events this many days after they were stored; 0 keeps them forever."`
	DLQRetentionDays int           `name:"dlq-retention-days" default:"14" env:"HANGAR_DLQ_RETENTION_DAYS" help:"Delete dead letters (which hold raw payloads) after this many days; 0 keeps them."`
	// Retention of the metrics plugin's derived records, by bucket width (see metricsRetention).
	MetricsRetention1m retentionSpan `name:"metrics-retention-1m" placeholder:"SPAN" default:"48h" help:"Keep 1-minute metrics (derived kind metrics.1m) this long after they were stored: a Go duration or days (14d); 0 keeps them forever."`
	MetricsRetention5m retentionSpan `name:"metrics-retention-5m" placeholder:"SPAN" default:"14d" help:"Keep 5-minute metrics (metrics.5m) this long; 0 keeps them forever."`
	MetricsRetention1h retentionSpan `name:"metrics-retention-1h" placeholder:"SPAN" default:"90d" help:"Keep hourly metrics (metrics.1h) this long; 0 keeps them forever."`
	MetricsRetention1d retentionSpan `name:"metrics-retention-1d" placeholder:"SPAN" help:"Keep daily metrics (metrics.1d) this long; 0 keeps them forever; unset: as long as events (retention-days)."`
	PluginIdle         time.Duration `default:"2m" env:"HANGAR_PLUGIN_IDLE" help:"Release a plugin's memory (its instances and machine code: tens of MB for a Go plugin) after this long without calls; its next call loads it again from the compilation cache (tens of ms). 0 keeps plugins loaded."`
}

// Validate implements kong's validation hook.
func (r *RunCmd) Validate() error {
	if r.RetentionDays < 0 || r.DLQRetentionDays < 0 {
		return errors.New("retention days must not be negative")
	}
	if r.PluginIdle < 0 {
		return errors.New("plugin idle time must not be negative")
	}
	ic := r.intakeConfig()
	return ic.Validate()
}

func (r *RunCmd) intakeConfig() pipeline.IntakeConfig {
	return pipeline.IntakeConfig{BatchMaxEvents: r.BatchMaxEvents, BatchMaxDelay: r.BatchMaxDelay, QueueSize: r.QueueSize}
}

// Run implements the command.
func (r *RunCmd) Run(g *Globals) error {
	log, closeLog, err := g.daemonLogger(true)
	if err != nil {
		return err
	}
	defer closeLog()
	// The effective settings, after flags, config file, HANGAR_* environment and defaults.
	log.Debug("effective config", "batch_max_events", r.BatchMaxEvents, "batch_max_delay", r.BatchMaxDelay.String(),
		"queue_size", r.QueueSize, "retention_days", r.RetentionDays, "dlq_retention_days", r.DLQRetentionDays,
		"plugin_idle", r.PluginIdle.String())
	cfg, err := g.daemonConfig(log, r.PluginIdle, false)
	if err != nil {
		return err
	}
	cfg.Intake = r.intakeConfig()
	cfg.Retention = time.Duration(r.RetentionDays) * 24 * time.Hour
	cfg.DLQRetention = time.Duration(r.DLQRetentionDays) * 24 * time.Hour
	cfg.DerivedRetention = r.metricsRetention()
	d, err := daemon.Open(cfg)
	if err != nil {
		var running *daemon.AlreadyRunningError
		if errors.As(err, &running) {
			return &exitError{code: 1, err: err}
		}
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Fprintf(g.stderr, "agent: running (pid %d), data in %s\n", os.Getpid(), g.DataDir)
	return d.Serve(ctx)
}

// metricsRetention returns the retention of each metrics width's derived kind that differs from
// the events' (daemon.Config.DerivedRetention): 0 keeps a kind forever.
func (r *RunCmd) metricsRetention() map[string]time.Duration {
	out := map[string]time.Duration{}
	for width, span := range map[string]retentionSpan{"1m": r.MetricsRetention1m, "5m": r.MetricsRetention5m, "1h": r.MetricsRetention1h, "1d": r.MetricsRetention1d} {
		if span.set {
			out["metrics."+width] = span.d
		}
	}
	return out
}

// retentionSpan is how long something is kept: a Go duration ("48h") or a number of days
// ("14d"); "0" keeps it forever. Left unset (set false), the daemon's default applies.
type retentionSpan struct {
	d   time.Duration
	set bool
}

// UnmarshalText implements encoding.TextUnmarshaler, for kong and the config file.
func (r *retentionSpan) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "" {
		*r = retentionSpan{}
		return nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 || n > 100*365 {
			return fmt.Errorf("retention %q: want days (14d) or a duration (48h)", s)
		}
		d = time.Duration(n * float64(24*time.Hour))
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < 0 {
			return fmt.Errorf("retention %q: want days (14d) or a duration (48h)", s)
		}
	}
	*r = retentionSpan{d: d, set: true}
	return nil
}

// String is the span as set, for kong's help.
func (r retentionSpan) String() string {
	if !r.set {
		return ""
	}
	return r.d.String()
}

// daemonConfig returns the configuration every daemon shares, whether `agent run` or the CLI
// opening the store itself. Plugins idle for pluginIdle are released (0: never).
func (g *Globals) daemonConfig(log *slog.Logger, pluginIdle time.Duration, captureOnly bool) (daemon.Config, error) {
	caps, err := captures()
	if err != nil {
		return daemon.Config{}, err
	}
	plugins, err := newPluginLoader(g.DataDir, caps, log, pluginIdle, captureOnly)
	if err != nil {
		return daemon.Config{}, err
	}
	return daemon.Config{
		DataDir:       g.DataDir,
		Captures:      caps,
		Consumers:     consumers(log),
		Logger:        log,
		Version:       version(),
		Plugins:       plugins,
		EnrichPlugins: enrichPlugins(g.DataDir),
	}, nil
}

// daemonLogger logs JSON to <data-dir>/logs/agent.log, rotated, and with toStderr also text to
// stderr.
func (g *Globals) daemonLogger(toStderr bool) (*slog.Logger, func(), error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.LogLevel)); err != nil {
		return nil, nil, fmt.Errorf("log level: %w", err)
	}
	dir := filepath.Join(g.DataDir, "logs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create log dir: %w", err)
	}
	file := &lumberjack.Logger{Filename: filepath.Join(dir, "agent.log"), MaxSize: 10, MaxBackups: 3}
	handlers := []slog.Handler{slog.NewJSONHandler(file, &slog.HandlerOptions{Level: level})}
	if toStderr {
		handlers = append(handlers, slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: max(level, slog.LevelWarn)}))
	}
	return slog.New(slog.NewMultiHandler(handlers...)), func() { file.Close() }, nil
}

// withClient runs fn with a client of the running daemon, or, when none runs, of a daemon opened
// in this process for the duration of fn. A data directory that does not exist yet is an error.
func (g *Globals) withClient(fn func(ctx context.Context, c *daemon.Client) error) error {
	ctx := context.Background()
	return g.withDaemonOrStore(ctx, openAny, func(c *daemon.Client, _ bool) error { return fn(ctx, c) })
}

// withUsageReader is withClient for a command that only reads usage (UsageBuckets,
// UnpricedModels): without a daemon, the store is opened read-only when it is up to date, which
// is quicker and writes nothing.
func (g *Globals) withUsageReader(fn func(ctx context.Context, c *daemon.Client) error) error {
	ctx := context.Background()
	return g.withDaemonOrStore(ctx, openUsageReader, func(c *daemon.Client, _ bool) error { return fn(ctx, c) })
}

// withDerivedReader is withClient for a command that reads derived records (and usage). Without
// a daemon, the store is opened read-only when the enrich plugins and the usage rollup are up to
// date; otherwise it is opened for writing and the plugins loaded, so that the enrich plugins
// read what they have not (events an `agent import` without a daemon just stored, say) and the
// command shows it all. If they have not caught up within derivedCatchUp, the command shows what
// there is and says how far behind it is.
func (g *Globals) withDerivedReader(fn func(ctx context.Context, c *daemon.Client) error) error {
	ctx := context.Background()
	return g.withDaemonOrStore(ctx, openDerivedReader, func(c *daemon.Client, _ bool) error { return fn(ctx, c) })
}

// derivedCatchUp bounds how long a read command that opened the store itself waits for the
// enrich plugins to catch up.
const derivedCatchUp = 5 * time.Minute

// openMode says what a command does with the daemon that withDaemonOrStore opens in its process
// when none runs.
type openMode int

const (
	openAny           openMode = iota // any request
	openUsageReader                   // only reads usage: see withUsageReader
	openCapture                       // captures records: see withDaemonOrStore
	openImport                        // captures records, and runs no enrich or insight plugin
	openDerivedReader                 // reads derived records: see withDerivedReader
)

// withDaemonOrStore runs fn with a client of the running daemon (viaDaemon), or, when none runs,
// of a daemon opened in this process for the duration of fn. A command that captures records
// (openCapture, openImport) creates the data directory if need be and loads the plugins first, so
// that records are captured as the daemon would capture them; any other finds nothing to read in a
// data directory that does not exist. An import (openImport) runs no enrich or insight plugin:
// the daemon runs them when it starts, and a command that reads what they derive runs them first
// if they are behind (openDerivedReader); running them beside the import slowed it for nothing,
// since they stop with the command.
func (g *Globals) withDaemonOrStore(ctx context.Context, mode openMode, fn func(c *daemon.Client, viaDaemon bool) error) error {
	c := daemon.NewClient(g.DataDir)
	_, err := c.Status(ctx)
	if err == nil {
		return fn(c, true)
	}
	if !errors.Is(err, daemon.ErrNoDaemon) {
		return err
	}
	capture := mode == openCapture || mode == openImport
	if _, statErr := os.Stat(g.DataDir); !capture && errors.Is(statErr, os.ErrNotExist) {
		return fmt.Errorf("no data in %s yet: start the agent with `agent run`", g.DataDir)
	}
	log, closeLog, err := g.daemonLogger(false)
	if err != nil {
		return err
	}
	defer closeLog()
	open := func(readOnly bool) (*daemon.Daemon, error) {
		cfg, err := g.daemonConfig(log, 0, mode == openImport) // a command's life is too short to idle
		if err != nil {
			return nil, err
		}
		cfg.ReadOnly = readOnly
		if mode == openDerivedReader {
			cfg.ReadsDerived, cfg.DerivedWait = true, derivedCatchUp
		}
		return daemon.Open(cfg)
	}
	d, err := open(mode == openUsageReader || mode == openDerivedReader)
	if errors.Is(err, daemon.ErrStale) {
		// A failed Open closed its plugin loader: the next one gets a config of its own.
		log.Debug("opening the store for writing, to bring it up to date", "why", err)
		d, err = open(false)
	}
	if err != nil {
		var running *daemon.AlreadyRunningError
		if errors.As(err, &running) {
			return fmt.Errorf("the store is in use by pid %d, but it does not answer on its socket yet; try again", running.PID)
		}
		return err
	}
	defer d.Close()
	local := daemon.LocalClient(d)
	if capture || (mode == openDerivedReader && !d.ReadOnly()) {
		// A derived reader opens for writing when the enrich plugins are behind: they run, in
		// this process, until they have caught up (or derivedCatchUp passes) before it reads.
		if mode == openDerivedReader {
			fmt.Fprintln(g.stderr, "agent: no daemon runs and the store is behind: running the plugins over the new events first")
		}
		if _, err := local.ReloadPlugins(ctx); err != nil {
			return err
		}
	}
	return fn(local, false)
}
