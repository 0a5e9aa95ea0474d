package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/loader"
	"github.com/hangar-dev/hangar/pipeline/usagestore"
	"github.com/hangar-dev/hangar/plugins"
	"github.com/hangar-dev/hangar/store"
)

// captures lists the capture stages, by platform. This is the one place they are wired. Each is
// served by the platform's enabled capture plugin, swapped in and out while the daemon runs (see
// newPluginLoader); the first-party claude-code plugin, embedded in the binary, is enabled by
// default.
func captures() (pipeline.Captures, error) {
	c := pipeline.Captures{}
	if err := c.Register(pipeline.PlatformClaudeCode, loader.NewSwap(pipeline.PlatformClaudeCode)); err != nil {
		return nil, err
	}
	return c, nil
}

// consumers lists the built-in consumers of the event log, which log to log. The usage rollup
// starts with the embedded prices; the daemon gives it the data directory's table (see
// daemon.LoadPrices) before it consumes anything.
func consumers(log *slog.Logger) func(*store.Store) []pipeline.Consumer {
	return func(st *store.Store) []pipeline.Consumer {
		return []pipeline.Consumer{
			pipeline.NewDailyCounts(st),
			usagestore.New(st, nil, log.With("consumer", usagestore.Name)),
		}
	}
}

// openRegistry opens the data directory's plugin registry, with the first-party plugins embedded
// in the binary as its built-in ones.
func openRegistry(dataDir string, audit host.Auditor) (*host.Registry, error) {
	return host.OpenRegistry(filepath.Join(dataDir, host.PluginsDir), host.RegistryOptions{Builtin: plugins.FS(), Auditor: audit})
}

// enrichPlugins returns a function that names the data directory's enabled enrich plugins, not
// quarantined: the ones derived reads wait for.
func enrichPlugins(dataDir string) func() ([]string, error) {
	return func() ([]string, error) {
		reg, err := openRegistry(dataDir, nil)
		if err != nil {
			return nil, err
		}
		list, err := reg.List()
		if err != nil {
			return nil, err
		}
		var names []string
		for _, p := range list {
			if p.Enabled && p.Quarantined == nil && p.Manifest.Kind == host.KindEnrich {
				names = append(names, p.Manifest.Name)
			}
		}
		return names, nil
	}
}

// cacheDirEnv names the variable that moves the caches out of the data directory: a folder not
// backed up, or one cache shared by several data directories (the tests' agents share one, so a
// plugin compiles once per test run instead of once per test).
const cacheDirEnv = "HANGAR_CACHE_DIR"

// pluginCacheDir is wazero's compilation cache, shared by `plugins install` (which warms it) and
// the daemon: <data-dir>/cache/wasm, or wasm under $HANGAR_CACHE_DIR. Compiled code is keyed by a
// hash of the module and wazero's version, and written by rename, so agents of several data
// directories can share it.
func pluginCacheDir(dataDir string) string {
	if dir := os.Getenv(cacheDirEnv); dir != "" {
		return filepath.Join(expandHome(dir), "wasm")
	}
	return filepath.Join(dataDir, daemon.CacheName, "wasm")
}

// newPluginLoader returns the plugin loader of the data directory, serving the capture stages of
// caps, whose plugins idle for pluginIdle are released (0: never); captureOnly runs no enrich or
// insight plugin (loader.Config.CaptureOnly).
func newPluginLoader(dataDir string, caps pipeline.Captures, log *slog.Logger, pluginIdle time.Duration, captureOnly bool) (*loader.Loader, error) {
	return loader.New(loader.Config{
		DataDir:     dataDir,
		Registry:    func(audit host.Auditor) (*host.Registry, error) { return openRegistry(dataDir, audit) },
		Captures:    caps,
		SecretFile:  filepath.Join(dataDir, daemon.SecretName),
		CacheDir:    pluginCacheDir(dataDir),
		IdleRelease: pluginIdle,
		CaptureOnly: captureOnly,
		Logger:      log,
	})
}

// precompile compiles a plugin about to be installed once, through the data directory's
// compilation cache, so that a module that does not compile is refused and the daemon's first
// load is warm.
func precompile(dataDir string, m host.Manifest, wasm []byte, grants ...[]string) error {
	return loader.Precompile(pluginCacheDir(dataDir), m, wasm, grants...)
}
