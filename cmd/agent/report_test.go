package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// expectedDir holds ccusage 20.0.24's reports over the shared transcripts.
const expectedDir = "../../../shared/fixtures/claude-code/expected"

// TestReportParity imports the real transcripts with the real binary (the first-party plugin
// reduces them, the usage rollup keeps them) and compares `agent report daily|monthly|session
// --json -z UTC` with ccusage's output: tokens exact, costs within 1e-6, with no daemon and then
// through one. ccusage's session report names the project by its folder (a path); Hangar never
// keeps it, so projectPath is compared by being Hangar's 12-character project key.
func TestReportParity(t *testing.T) {
	src := filepath.Join(t.TempDir(), "claude")
	copyTranscripts(t, sharedTranscripts, src)
	dataDir := newDataDir(t)
	runImport(t, nil, "--data-dir", dataDir, "--source", src)

	check := func(how string) {
		t.Helper()
		for _, kind := range []string{"daily", "monthly", "session"} {
			res := runAgent(t, nil, nil, 60*time.Second, "report", kind, "--json", "-z", "UTC", "--data-dir", dataDir)
			if res.code != 0 {
				t.Fatalf("%s: report %s: exit %d\n%s", how, kind, res.code, res.stderr)
			}
			want, err := os.ReadFile(filepath.Join(expectedDir, "ccusage-"+kind+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var got, exp any
			if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
				t.Fatalf("%s: report %s: %v\n%s", how, kind, err, res.stdout)
			}
			if err := json.Unmarshal(want, &exp); err != nil {
				t.Fatal(err)
			}
			jsonNear(t, how+" "+kind, got, exp)
		}
	}
	check("no daemon")
	d := startDaemon(t, dataDir, nil)
	check("daemon")
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
}

// jsonNear compares decoded JSON: numbers within 1e-6, projectPath as a project key.
func jsonNear(t *testing.T, path string, got, want any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", path, got, want)
			return
		}
		for k, wv := range w {
			if k == "projectPath" {
				if s, _ := g[k].(string); len(s) != 12 || strings.ContainsAny(s, "/-") {
					t.Errorf("%s.projectPath = %q, want a 12-character project key", path, g[k])
				}
				continue
			}
			jsonNear(t, path+"."+k, g[k], wv)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", path, got, want)
			return
		}
		for i := range w {
			jsonNear(t, fmt.Sprintf("%s[%d]", path, i), g[i], w[i])
		}
	case float64:
		if g, ok := got.(float64); !ok || math.Abs(g-w) > 1e-6 {
			t.Errorf("%s: got %v, want %v", path, got, want)
		}
	default:
		if got != want {
			t.Errorf("%s: got %v, want %v", path, got, want)
		}
	}
}
