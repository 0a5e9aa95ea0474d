package transcripts

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hangar-dev/hangar/pipeline"
)

// TestVanishing covers transcripts that go away during a pass, at the moments `agent import`
// cannot be made to hit from outside (cmd/agent TestTranscriptBadInput covers a file deleted
// between two imports): between the scan that found the file and its read, and while it is being
// read. In every case the pass ends without error, the other files are read, nothing is sent
// twice, and a file that is gone is not reported as one that cannot be read: its checkpoint is
// deleted, as when a scan misses it.
func TestVanishing(t *testing.T) {
	tests := []struct {
		name string
		// before runs after the scan, before the pass; during runs at the first batch submitted.
		before, during func(e *env)
		// want are the payloads the pass sends, in order; then those of the next pass.
		want, then []string
		// removed counts the checkpoints the two passes delete, in all.
		removed int64
		// gone reports whether p/a.jsonl is gone after the passes.
		gone bool
	}{
		{
			name:   "file deleted between scan and read",
			before: func(e *env) { e.remove("p/a.jsonl") },
			want:   []string{`{"b":1}`},
			// Its checkpoint (of the first line, read before) is deleted by this pass.
			removed: 1, gone: true,
		},
		{
			name:    "folder deleted between scan and read",
			before:  func(e *env) { e.remove("p") },
			want:    []string{`{"b":1}`},
			removed: 1, gone: true,
		},
		{
			name: "file replaced between scan and read",
			before: func(e *env) {
				e.remove("p/a.jsonl")
				e.write("p/a.jsonl", "{\"new\":1}\n")
			},
			want: []string{`{"new":1}`, `{"b":1}`},
		},
		{
			// The open file is read to its end; its checkpoint, written for a path that is gone,
			// is deleted by the next pass.
			name:    "file deleted while being read",
			during:  func(e *env) { e.remove("p/a.jsonl") },
			want:    []string{`{"a":2}`, `{"a":3}`, `{"b":1}`},
			removed: 1, gone: true,
		},
		{
			name: "file replaced while being read",
			during: func(e *env) {
				e.remove("p/a.jsonl")
				e.write("p/a.jsonl", "{\"new\":1}\n")
			},
			want: []string{`{"a":2}`, `{"a":3}`, `{"b":1}`},
			then: []string{`{"new":1}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.write("p/a.jsonl", "{\"a\":1}\n")
			e.write("q/b.jsonl", "")
			wantPayloads(t, e.sync(), `{"a":1}`)
			e.appendTo("p/a.jsonl", "{\"a\":2}\n{\"a\":3}\n")
			e.appendTo("q/b.jsonl", "{\"b\":1}\n")

			during := tt.during
			e.tl = e.tailer(Config{BatchRecords: 1, Sink: sinkFunc(func(ctx context.Context, recs []pipeline.RawRecord) (pipeline.Result, error) {
				if during != nil {
					during(e)
					during = nil
				}
				return e.sink.Submit(ctx, recs)
			})})
			sc, err := e.tl.Scan(context.Background(), []string{e.root})
			if err != nil {
				t.Fatal(err)
			}
			if tt.before != nil {
				tt.before(e)
			}
			if err := e.tl.Sync(context.Background(), sc, &e.stats); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			wantPayloads(t, e.sink.take(), tt.want...)
			wantPayloads(t, e.sync(), tt.then...)
			wantPayloads(t, e.sync())

			if len(e.probs) != 0 {
				t.Errorf("reported %q, want nothing: a file that is gone is not one that cannot be read", e.probs)
			}
			if got := e.stats.Failed.Load(); got != 0 {
				t.Errorf("failed = %d, want 0", got)
			}
			if got := e.stats.Removed.Load(); got != tt.removed {
				t.Errorf("removed = %d, want %d", got, tt.removed)
			}
			cp := e.checkpoint("p/a.jsonl")
			if tt.gone && cp != nil {
				t.Errorf("checkpoint of p/a.jsonl, which is gone: %+v", cp)
			}
			if !tt.gone && cp == nil {
				t.Error("no checkpoint of p/a.jsonl, which is there")
			}
			if cp := e.checkpoint("q/b.jsonl"); cp == nil || cp.Offset != int64(len("{\"b\":1}\n")) {
				t.Errorf("checkpoint of q/b.jsonl = %+v, want its end", cp)
			}
		})
	}
}

// remove deletes a file or folder below the projects folder.
func (e *env) remove(name string) {
	e.t.Helper()
	if err := os.RemoveAll(filepath.Join(e.root, filepath.FromSlash(name))); err != nil {
		e.t.Fatal(err)
	}
}

// TestVanishedHashed checks that a file deleted while no process ran loses its checkpoint when
// the checkpoints are kept under hashed names (as `agent import` and the daemon keep them): the
// next process does not know its path, and must delete it all the same.
func TestVanishedHashed(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("p/a.jsonl", "{\"a\":1}\n")
	e.write("p/b.jsonl", "{\"b\":1}\n")
	inner := StoreCheckpoints{St: e.st}
	pass := func() Totals {
		t.Helper()
		// A new process: a HashedCheckpoints that has learnt no path.
		tl, err := NewTailer(Config{Sink: e.sink, Checkpoints: &HashedCheckpoints{Inner: inner, Key: []byte("install secret")}})
		if err != nil {
			t.Fatal(err)
		}
		sc, err := tl.Scan(context.Background(), []string{e.root})
		if err != nil {
			t.Fatal(err)
		}
		var st Stats
		if err := tl.Sync(context.Background(), sc, &st); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		return st.Totals()
	}
	stored := func() int {
		t.Helper()
		cps, err := inner.List(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		return len(cps)
	}
	pass()
	wantPayloads(t, e.sink.take(), `{"a":1}`, `{"b":1}`)
	if n := stored(); n != 2 {
		t.Fatalf("%d checkpoints stored, want 2", n)
	}
	e.remove("p/a.jsonl")
	if tt := pass(); tt.Removed != 1 || tt.Lines != 0 || tt.Failed != 0 {
		t.Errorf("after a file was deleted: %+v, want its checkpoint removed and nothing read", tt)
	}
	if n := stored(); n != 1 {
		t.Errorf("%d checkpoints stored, want 1: the deleted file's is kept forever", n)
	}
	wantPayloads(t, e.sink.take())
}
