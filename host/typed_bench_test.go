package host

import (
	"bytes"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// sharedTranscriptLines returns the non-blank lines of the shared Claude Code transcripts.
func sharedTranscriptLines(t testing.TB) [][]byte {
	t.Helper()
	files, err := filepath.Glob("../../shared/fixtures/claude-code/projects/*/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shared transcripts: %v", err)
	}
	var lines [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

// projectionBenchGrants are grant sets the projector benchmark runs: the first-party plugin's
// (metadata scalars, message.usage, and content), and a plugin reading whole objects through
// read:payload (tool results, tool inputs and responses), whose every leaf the projector types.
var projectionBenchGrants = map[string][]string{
	"first-party": nil, // the manifest's, read by BenchmarkProjector
	"read-objects": {
		"read:payload.hook_event_name", "read:payload.type", "read:payload.sessionId", "read:payload.session_id",
		"read:payload.toolUseResult", "read:payload.tool_input", "read:payload.tool_response", "read:payload.message",
	},
}

// BenchmarkProjector measures the projection of a batch's input (appendInput: the projection,
// and the leak-check views when the plugin holds content grants) over the shared hook payloads
// and transcript lines, in batches of 100, per record.
func BenchmarkProjector(b *testing.B) {
	recs := hookPayloads(b)
	recs = append(recs, sharedTranscriptLines(b)...)
	m, _, err := ReadPluginDir("../plugins/claude-code")
	if err != nil {
		b.Fatal(err)
	}
	projectionBenchGrants["first-party"] = m.Capabilities
	for _, name := range []string{"first-party", "read-objects"} {
		b.Run(name, func(b *testing.B) {
			g, err := NewGrants(projectionBenchGrants[name])
			if err != nil {
				b.Fatal(err)
			}
			pr := newProjector(g)
			reads := make([]atomic.Int64, len(pr.content))
			batch := make([]Record, 100)
			var input []byte
			var bytesIn int64
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			n := 0
			for i := 0; i < b.N; i++ {
				for k := range batch {
					batch[k] = Record{Payload: recs[(i*len(batch)+k)%len(recs)]}
					bytesIn += int64(len(batch[k].Payload))
				}
				input, _ = pr.appendInput(input[:0], batch, reads)
				n += len(batch)
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/record")
			b.ReportMetric(float64(bytesIn)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
	}
}
