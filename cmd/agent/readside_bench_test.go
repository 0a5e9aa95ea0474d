package main

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// benchSpec is a store holding the derived records of about a million events: 2,000 sessions
// over 30 days, each of 25 turns of 5 tool calls (a tool call is four events: the hook's pre and
// post, the transcript's tool_use and tool_result; with prompts, assistant messages and usage,
// about 500 events a session): 250,000 conversation.tool, 50,000 conversation.turn and 2,000
// conversation.session records, metrics.1d and metrics.1h buckets of five dims, and the usage
// rollup of 50,000 transcript.usage events.
var benchSpec = seedSpec{sessions: 2000, turns: 25, tools: 5, days: 30, start: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}

var benchStore struct {
	once    sync.Once
	dataDir string
}

// benchDataDir seeds benchSpec once per test binary, beside the built agent (removed with it).
func benchDataDir(b *testing.B) string {
	benchStore.once.Do(func() {
		dir, err := os.MkdirTemp(filepath.Dir(agentBin), "bench-read-")
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		benchStore.dataDir = filepath.Join(dir, "hangar")
		seedStore(b, benchStore.dataDir, benchSpec)
		b.Logf("seeded %d sessions in %v", benchSpec.sessions, time.Since(start).Round(time.Millisecond))
	})
	return benchStore.dataDir
}

// BenchmarkReadCommands runs `agent sessions` and `agent metrics` as whole processes, with no
// daemon (the store opened read-only in the process), over benchSpec's store, alternating with
// `agent --version`, and reports each one's wall and CPU time and their ratios to --version's
// (target: within 2x).
//
// On the 2-core machine shared with other builds, -count 5, medians: --version 41.6 ms (39.5 ms
// of CPU); sessions 121.7 ms, 2.88x (CPU 2.83x); metrics 95.4 ms, 2.29x (CPU 2.33x); metrics
// --period week --by tool 2.11x. Before the usage sums, the in-process view scan, lineTable and
// the default collector for these two: 4-7x (sessions 0.15-0.26 s of CPU). Under load the wall
// ratios swing by 2x between runs; the CPU ratios hold within 10%. What is left, per sessions
// run (CPU profile): the session records' scan 25 ms, the usage buckets' scan and sums 21 ms
// (both Pebble reads and decoding, side by side on two cores), the table 5 ms, the store's open
// 8 ms, the collector 7 ms.
func BenchmarkReadCommands(b *testing.B) {
	dataDir := benchDataDir(b)
	cmds := []struct {
		name string
		args []string
	}{
		{"version", []string{"--version"}},
		{"sessions", []string{"sessions", "--data-dir", dataDir, "-z", "UTC"}},
		{"metrics", []string{"metrics", "--data-dir", dataDir, "-z", "UTC"}},
		{"metrics-week-by-tool", []string{"metrics", "--period", "week", "--by", "tool", "--data-dir", dataDir, "-z", "UTC"}},
	}
	// Warm the page cache and check that each succeeds.
	for _, c := range cmds {
		if res := runAgent(b, nil, nil, time.Minute, c.args...); res.code != 0 {
			b.Fatalf("agent %v: exit %d, stderr %s", c.args, res.code, res.stderr)
		}
	}
	total, cpu := make([]time.Duration, len(cmds)), make([]time.Duration, len(cmds))
	b.ResetTimer()
	for range b.N {
		for i, c := range cmds {
			res := runAgent(b, nil, nil, time.Minute, c.args...)
			if res.code != 0 {
				b.Fatalf("agent %v: exit %d, stderr %s", c.args, res.code, res.stderr)
			}
			total[i] += res.elapsed
			cpu[i] += res.cpu
		}
	}
	b.StopTimer()
	version, versionCPU := float64(total[0])/float64(b.N), float64(cpu[0])/float64(b.N)
	for i, c := range cmds {
		per, perCPU := float64(total[i])/float64(b.N), float64(cpu[i])/float64(b.N)
		b.ReportMetric(per/1e6, c.name+"-ms/op")
		b.ReportMetric(perCPU/1e6, c.name+"-cpu-ms/op")
		if i > 0 {
			b.ReportMetric(per/version, c.name+"/version")
			b.ReportMetric(perCPU/versionCPU, c.name+"-cpu/version")
		}
	}
}
