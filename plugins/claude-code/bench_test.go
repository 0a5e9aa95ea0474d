//go:build !wasip1

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk/pdk"
)

// transcriptLines returns the non-blank lines of the shared transcripts, and their size.
func transcriptLines(b testing.TB) ([][]byte, int64) {
	b.Helper()
	files, err := filepath.Glob(filepath.Join(projectsDir, "*", "*.jsonl"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no shared transcripts: %v", err)
	}
	var lines [][]byte
	var size int64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines = append(lines, l)
				size += int64(len(l))
			}
		}
	}
	return lines, size
}

// BenchmarkCaptureNative runs the plugin's capture natively (not as WASM) over the projected
// lines of the shared transcripts: the cost of its Go code alone, to profile it with -cpuprofile.
// Through the host, as WASM, see the host package's benchmarks and cmd/agent's
// BenchmarkImportTranscripts.
func BenchmarkCaptureNative(b *testing.B) {
	recs, size := transcriptLines(b)
	for i := range recs {
		recs[i] = project(string(recs[i]))
	}
	// Through the host, the leak check is the host's (pdk.Leaks), not the native tests' scan.
	defer func(f func(*record, []string) []bool) { leakSource = f }(leakSource)
	leakSource = func(_ *record, ss []string) []bool { return make([]bool, len(ss)) }
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		for _, r := range recs {
			if _, err := capture(pdk.Record{JSON: r}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkCaptureTranscripts runs the committed module through the real host over the lines of
// the shared transcripts, in calls of 500 records as `agent import` makes them, on one goroutine:
// the plugin's share of an import (projection, the WASM call, the leak checks, emission checks).
func BenchmarkCaptureTranscripts(b *testing.B) {
	recs, size := transcriptLines(b)
	p := loadModule(b, testSecret)
	const batch = 500
	b.SetBytes(size)
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		for lo := 0; lo < len(recs); lo += batch {
			outs, err := p.Call(context.Background(), "capture", recs[lo:min(lo+batch, len(recs))])
			if err != nil {
				b.Fatal(err)
			}
			for _, o := range outs {
				if o.Err != nil {
					b.Fatal(o.Err)
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(len(recs)*b.N), "µs/line")
	// CPU time per line: steadier than the wall clock on a machine shared with other work.
	b.ReportMetric(float64(cpuTime()-cpu0)/1e3/float64(len(recs)*b.N), "cpu-µs/line")
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
