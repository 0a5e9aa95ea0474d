package transcripts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/store"
)

// BenchmarkTailer measures a first pass over 20 copies (~20 MB) of the shared transcripts:
// "discard" is the tailer alone (reading, splitting, ids, checkpoints in a real store), "intake"
// adds the real intake and store with a capture that makes one event per line. The end-to-end
// figure, through `agent import` and the capture it runs, is cmd/agent's
// BenchmarkImportTranscripts.
func BenchmarkTailer(b *testing.B) {
	root := filepath.Join(b.TempDir(), ProjectsDir)
	var size int64
	for k := range 20 {
		copyDir(b, filepath.Join(sharedTranscripts, ProjectsDir), filepath.Join(root, fmt.Sprintf("copy-%d", k)))
	}
	for _, f := range Walk([]string{root}, nil) {
		fi, _ := os.Stat(f.Path)
		size += fi.Size()
	}
	for _, name := range []string{"discard", "intake"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			var lines int64
			for range b.N {
				b.StopTimer()
				st, err := store.Open(b.TempDir(), store.Options{})
				if err != nil {
					b.Fatal(err)
				}
				var sink Sink = discard{}
				var in *pipeline.Intake
				if name == "intake" {
					if in, err = pipeline.NewIntake(st, pipeline.Captures{Platform: lineCapture{}}, pipeline.IntakeConfig{}); err != nil {
						b.Fatal(err)
					}
					sink = in
				}
				tl, err := NewTailer(Config{Sink: sink, Checkpoints: StoreCheckpoints{St: st}, Workers: 4})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				sc, err := tl.Scan(context.Background(), []string{root})
				if err != nil {
					b.Fatal(err)
				}
				var stats Stats
				if err := tl.Sync(context.Background(), sc, &stats); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				lines += stats.Lines.Load()
				if in != nil {
					in.Close(context.Background())
				}
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

type discard struct{}

func (discard) Submit(_ context.Context, recs []pipeline.RawRecord) (pipeline.Result, error) {
	return pipeline.Result{Stored: len(recs)}, nil
}
