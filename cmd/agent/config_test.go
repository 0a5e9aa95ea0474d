package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
