package main

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/sdk"
)

// TestMetricsRetentionConfig: the retention of each metrics width comes from its flag, the
// config file (days or a duration) or its default; metrics_retention_1d left unset keeps daily
// metrics as long as events, and a bad span is an error naming it.
func TestMetricsRetentionConfig(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name, config string
		args         []string
		want         map[string]time.Duration
		wantErr      string
	}{
		{"defaults", "", nil, map[string]time.Duration{"metrics.1m": 48 * time.Hour, "metrics.5m": 14 * day, "metrics.1h": 90 * day}, ""},
		{
			"config and flag", "metrics_retention_5m = \"7d\"\nmetrics_retention_1d = \"0\"\nmetrics_retention_1m = \"36h\"\n",
			[]string{"--metrics-retention-1h", "30d"},
			map[string]time.Duration{"metrics.1m": 36 * time.Hour, "metrics.5m": 7 * day, "metrics.1h": 30 * day, "metrics.1d": 0}, "",
		},
		{"bad span", "metrics_retention_1h = \"ninety days\"\n", nil, nil, "ninety days"},
		{"negative", "", []string{"--metrics-retention-1m", "-1h"}, nil, "-1h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dataDir, "config.toml"), []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			cli := CLI{Globals: Globals{stdout: &strings.Builder{}, stderr: &strings.Builder{}}}
			exit := -1
			p, err := newParser(&cli, dataDir, &exit)
			if err != nil {
				t.Fatal(err)
			}
			_, err = parseArgs(p, append([]string{"run", "--data-dir", dataDir}, tt.args...), &exit)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse: %v, want an error naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cli.Run.metricsRetention(); !maps.Equal(got, tt.want) {
				t.Errorf("metricsRetention() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestEnforceRetentionByKind runs the daemon's retention over a real store: a kind with a
// retention of its own expires at its cutoff, one kept forever (0) stays, and every other kind
// goes with the events' cutoff.
func TestEnforceRetentionByKind(t *testing.T) {
	dataDir := newDataDir(t)
	d, err := daemon.Open(daemon.Config{
		DataDir: dataDir, Retention: time.Hour,
		DerivedRetention: map[string]time.Duration{"metrics.1m": time.Minute, "metrics.1d": 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st := d.Store()
	b := st.NewBatch()
	for _, kind := range []string{"metrics.1m", "metrics.1d", "tool-stats"} {
		ev := sdk.Event{ID: sdk.NewID("retention", []byte(kind)), Platform: "claude-code", Kind: kind, Time: time.Now()}
		if err := b.AddDerived(kind, &ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	count := func(kind string) int {
		n := 0
		if _, err := st.ScanDerived(kind, 0, 0, func(uint64, *sdk.Event) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	check := func(at time.Duration, want map[string]int) {
		t.Helper()
		if _, err := d.EnforceRetention(time.Now().Add(at)); err != nil {
			t.Fatal(err)
		}
		for kind, n := range want {
			if got := count(kind); got != n {
				t.Errorf("%v later: %d records of %s, want %d", at, got, kind, n)
			}
		}
	}
	check(30*time.Second, map[string]int{"metrics.1m": 1, "metrics.1d": 1, "tool-stats": 1})
	check(2*time.Minute, map[string]int{"metrics.1m": 0, "metrics.1d": 1, "tool-stats": 1})
	check(2*time.Hour, map[string]int{"metrics.1m": 0, "metrics.1d": 1, "tool-stats": 0})
}
