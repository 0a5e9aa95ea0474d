package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

// TestConfigUnknownKey: a config file that names no flag stops `agent run` with an error naming
// the key.
func TestConfigUnknownKey(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   string // in stderr
	}{
		{"unknown key", "batch_max_events = 50\nbogus_key = 1\n", `unknown key "bogus_key"`},
		{"typo of a flag", "batch_max_event = 50\n", `unknown key "batch_max_event"`},
		{"flag spelled with dashes", "batch-max-events = 50\n", `unknown key "batch-max-events"`},
		{"table", "[intake]\nqueue_size = 10\n", `unknown key "intake"`},
		{"data dir is not configurable", "data_dir = \"/tmp/elsewhere\"\n", `unknown key "data_dir"`},
		{"syntax error", "batch_max_events = = 3\n", "line 1"},
		{"wrong type", "batch_max_events = \"many\"\n", "batch-max-events"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := newDataDir(t)
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dataDir, "config.toml"), []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			res := runAgent(t, nil, nil, 10*time.Second, "run", "--data-dir", dataDir)
			if res.code == 0 {
				t.Fatalf("agent run with a bad config exited 0")
			}
			if !strings.Contains(res.stderr, tc.want) {
				t.Errorf("agent run stderr = %q, want it to contain %q", res.stderr, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dataDir, "agent.sock")); !os.IsNotExist(err) {
				t.Errorf("a socket exists after a refused start (%v)", err)
			}
		})
	}
}

// TestConfigPrecedence: for a flag of `agent run`, a flag beats the config file, which beats the
// HANGAR_* environment, which beats the default. The daemon logs its effective settings at debug
// level.
func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		name      string
		env       []string
		config    string
		flags     []string
		wantBatch float64
		wantQueue float64
	}{
		{name: "default", wantBatch: 100, wantQueue: 10000},
		{name: "env", env: []string{"HANGAR_BATCH_MAX_EVENTS=7", "HANGAR_QUEUE_SIZE=700"}, wantBatch: 7, wantQueue: 700},
		{name: "config over env", env: []string{"HANGAR_BATCH_MAX_EVENTS=7", "HANGAR_QUEUE_SIZE=700"},
			config: "batch_max_events = 50\n", wantBatch: 50, wantQueue: 700},
		{name: "flag over config and env", env: []string{"HANGAR_BATCH_MAX_EVENTS=7", "HANGAR_QUEUE_SIZE=700"},
			config: "batch_max_events = 50\nqueue_size = 500\n", flags: []string{"--batch-max-events=3"}, wantBatch: 3, wantQueue: 500},
		{name: "config only", config: "batch_max_events = 20\nqueue_size = 2000\nlog_level = \"debug\"\n", wantBatch: 20, wantQueue: 2000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := newDataDir(t)
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if tc.config != "" {
				if err := os.WriteFile(filepath.Join(dataDir, "config.toml"), []byte(tc.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			flags := tc.flags
			if !strings.Contains(tc.config, "log_level") {
				flags = append(flags, "--log-level=debug")
			}
			d := startDaemon(t, dataDir, childEnv(tc.env...), flags...)
			if code := d.stop(syscall.SIGTERM); code != 0 {
				t.Fatalf("exit code %d\n%s", code, d.stderr.String())
			}
			got := effectiveConfig(t, dataDir)
			if got["batch_max_events"] != tc.wantBatch || got["queue_size"] != tc.wantQueue {
				t.Errorf("effective batch_max_events %v, queue_size %v; want %v and %v", got["batch_max_events"], got["queue_size"], tc.wantBatch, tc.wantQueue)
			}
		})
	}
}

// effectiveConfig returns the attributes of the daemon's "effective config" log line.
func effectiveConfig(t *testing.T, dataDir string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "logs", "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	var found map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("agent.log line %q: %v", sc.Text(), err)
		}
		if line["msg"] == "effective config" {
			if found != nil {
				t.Fatalf("two effective config lines in agent.log:\n%s", data)
			}
			found = line
		}
	}
	if found == nil {
		t.Fatalf("no effective config line in agent.log:\n%s", data)
	}
	return found
}

// daemonEnv are the flags the environment sets, each by its one variable: the data directory and
// the daemon's settings. Every other flag comes only from the command line or config.toml.
var daemonEnv = map[string]string{
	"data-dir":           "HANGAR_DATA_DIR",
	"log-level":          "HANGAR_LOG_LEVEL",
	"batch-max-events":   "HANGAR_BATCH_MAX_EVENTS",
	"batch-max-delay":    "HANGAR_BATCH_MAX_DELAY",
	"queue-size":         "HANGAR_QUEUE_SIZE",
	"retention-days":     "HANGAR_RETENTION_DAYS",
	"dlq-retention-days": "HANGAR_DLQ_RETENTION_DAYS",
	"plugin-idle":        "HANGAR_PLUGIN_IDLE",
}

// TestEnvOnlyDaemonSettings: the environment sets the data directory and the daemon's settings,
// and no other flag. HANGAR_VERSION=1 used to make `agent run` print the version and exit, and
// HANGAR_JSON, HANGAR_LIMIT, HANGAR_DIR, HANGAR_YES... to set every command's flag of that name.
func TestEnvOnlyDaemonSettings(t *testing.T) {
	dataDir := t.TempDir()
	env := map[string]string{
		"HANGAR_VERSION": "1", "HANGAR_HELP": "1", "HANGAR_JSON": "1", "HANGAR_LIMIT": "3",
		"HANGAR_DIR": "/elsewhere", "HANGAR_YES": "1", "HANGAR_DRY_RUN": "1", "HANGAR_SINCE": "2020-01-01",
		"HANGAR_BATCH_MAX_EVENTS": "7", "HANGAR_PLUGIN_IDLE": "5m", "HANGAR_LOG_LEVEL": "debug",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	parse := func(args ...string) *CLI {
		t.Helper()
		var out bytes.Buffer
		cli := CLI{Globals: Globals{stdout: &out, stderr: &out}}
		exitCode := -1
		parser, err := newParser(&cli, dataDir, &exitCode)
		if err != nil {
			t.Fatal(err)
		}
		_, err = parseArgs(parser, append(args, "--data-dir", dataDir), &exitCode)
		if exitCode >= 0 {
			t.Fatalf("agent %s with %v exited %d before running, printing %q", strings.Join(args, " "), env, exitCode, out.String())
		}
		if err != nil {
			t.Fatalf("agent %s: %v", strings.Join(args, " "), err)
		}
		return &cli
	}
	cli := parse("run")
	if cli.Run.BatchMaxEvents != 7 || cli.Run.PluginIdle != 5*time.Minute || cli.LogLevel != "debug" {
		t.Errorf("agent run: batch_max_events %d, plugin_idle %v, log level %s; want the environment's 7, 5m, debug",
			cli.Run.BatchMaxEvents, cli.Run.PluginIdle, cli.LogLevel)
	}
	if cli := parse("report", "daily"); cli.Report.JSON || cli.Report.Since != "" {
		t.Errorf("agent report daily: json %v, since %q; want neither from the environment", cli.Report.JSON, cli.Report.Since)
	}
	if cli := parse("audit"); cli.Audit.JSON || cli.Audit.Limit != 50 {
		t.Errorf("agent audit: json %v, limit %d; want false and the default 50", cli.Audit.JSON, cli.Audit.Limit)
	}
	if cli := parse("install", "claude-code"); cli.Install.Yes || cli.Install.DryRun {
		t.Errorf("agent install: yes %v, dry run %v; want neither from the environment", cli.Install.Yes, cli.Install.DryRun)
	}
	if cli := parse("projects", "name", "x"); cli.Projects.Name.Dir != "" {
		t.Errorf("agent projects name: dir %q; want none from the environment", cli.Projects.Name.Dir)
	}

	// And the model says so: each flag's variables are exactly these.
	var out bytes.Buffer
	exitCode := -1
	parser, err := newParser(&CLI{Globals: Globals{stdout: &out, stderr: &out}}, dataDir, &exitCode)
	if err != nil {
		t.Fatal(err)
	}
	_ = kong.Visit(parser.Model.Node, func(n kong.Visitable, next kong.Next) error {
		if f, ok := n.(*kong.Flag); ok {
			want := []string(nil)
			if v, ok := daemonEnv[f.Name]; ok {
				want = []string{v}
			}
			if !slices.Equal(f.Envs, want) {
				t.Errorf("flag --%s is set by the environment variables %q, want %q", f.Name, f.Envs, want)
			}
		}
		return next(nil)
	})
}

// TestCacheDirEnv: HANGAR_CACHE_DIR takes the plugins' compiled code out of the data directory,
// and a second data directory's first import finds it there.
func TestCacheDirEnv(t *testing.T) {
	cache := t.TempDir()
	t.Setenv(cacheDirEnv, cache)
	src := filepath.Join(t.TempDir(), "claude")
	copyTranscripts(t, sharedTranscripts, src)
	imp := func() string {
		dataDir := newDataDir(t)
		var stdout, stderr bytes.Buffer
		if code := run([]string{"import", "--json", "--data-dir", dataDir, "--source", src}, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("agent import: exit %d, %s%s", code, stdout.String(), stderr.String())
		}
		if _, err := os.Stat(filepath.Join(dataDir, "cache")); !os.IsNotExist(err) {
			t.Errorf("the data directory has a cache folder (%v), with %s set", err, cacheDirEnv)
		}
		return stdout.String()
	}
	files := func() int {
		n := 0
		filepath.WalkDir(filepath.Join(cache, "wasm"), func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	imp()
	before := files()
	if before == 0 {
		t.Fatalf("%s/wasm holds no file, want the compiled plugins", cacheDirEnv)
	}
	imp()
	if after := files(); after != before {
		t.Errorf("a second data directory compiled again: %d files in the cache, then %d", before, after)
	}
}
