package transcripts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

func TestAppend(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("p/s.jsonl", "{\"a\":1}\n{\"a\":2}\r\n\n  \n{\"a\":3}\n")
	recs := e.sync()
	wantPayloads(t, recs, `{"a":1}`, `{"a":2}`, `{"a":3}`)
	for _, r := range recs {
		if r.Platform != "claude-code" || r.Source != "transcript" || r.ReceivedAt.IsZero() || r.Oversize != 0 {
			t.Errorf("record %+v: want platform claude-code, source transcript, a received time", r)
		}
		if want := sdk.NewID("claude-code-transcript", []byte("p/s.jsonl"), r.Payload); r.ID != want {
			t.Errorf("id of %s = %s, want %s", r.Payload, r.ID, want)
		}
	}
	cp := e.checkpoint("p/s.jsonl")
	if fi, _ := os.Stat(e.path("p/s.jsonl")); cp == nil || cp.Offset != fi.Size() || cp.Size != fi.Size() || cp.HeadLen != int(fi.Size()) {
		t.Fatalf("checkpoint = %+v, want offset, size and head length %d", cp, fi.Size())
	}

	e.appendTo("p/s.jsonl", "{\"a\":4}\n{\"a\":5,\"pad\":\"past sixty-four bytes\"}\n")
	wantPayloads(t, e.sync(), `{"a":4}`, `{"a":5,"pad":"past sixty-four bytes"}`)
	wantPayloads(t, e.sync()) // nothing new
	if cp := e.checkpoint("p/s.jsonl"); cp.HeadLen != HeadBytes {
		t.Errorf("head length = %d once the file passed %d bytes", cp.HeadLen, HeadBytes)
	}
	if tt := e.stats.Totals(); tt.Lines != 5 || tt.Stored != 5 || tt.Restarted != 0 || tt.Failed != 0 {
		t.Errorf("totals = %+v", tt)
	}
}

func TestPartialLine(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("p/s.jsonl", "{\"a\":1}\n{\"a\":")
	wantPayloads(t, e.sync(), `{"a":1}`)
	if cp := e.checkpoint("p/s.jsonl"); cp.Offset != int64(len("{\"a\":1}\n")) {
		t.Errorf("offset = %d, want the end of the first line", cp.Offset)
	}
	wantPayloads(t, e.sync()) // still being written
	if n := e.stats.Unfinished.Load(); n != 2 {
		t.Errorf("unfinished = %d, want 2", n)
	}
	e.appendTo("p/s.jsonl", "2}\n{\"a\":3")
	wantPayloads(t, e.sync(), `{"a":2}`)
	e.appendTo("p/s.jsonl", "}\n")
	wantPayloads(t, e.sync(), `{"a":3}`)

	// A file that holds only a line being written has no checkpoint yet.
	e.write("p/t.jsonl", `{"b":`)
	wantPayloads(t, e.sync())
	if cp := e.checkpoint("p/t.jsonl"); cp != nil {
		t.Errorf("checkpoint of a file without a complete line = %+v", cp)
	}
}

func TestQuiescedLastLine(t *testing.T) {
	now := time.Now()
	e := newEnv(t, Config{QuiesceAfter: time.Minute, Now: func() time.Time { return now }})
	e.write("p/s.jsonl", "{\"a\":1}\n{\"a\":2}")
	wantPayloads(t, e.sync(), `{"a":1}`) // changed just now: being written

	old := now.Add(-2 * time.Minute)
	if err := os.Chtimes(e.path("p/s.jsonl"), old, old); err != nil {
		t.Fatal(err)
	}
	wantPayloads(t, e.sync(), `{"a":2}`) // unchanged for a minute: finished
	wantPayloads(t, e.sync())

	// Lines appended later are read as usual; the newline that should have ended the taken line
	// makes a blank line.
	e.appendTo("p/s.jsonl", "\n{\"a\":3}\n")
	wantPayloads(t, e.sync(), `{"a":3}`)

	never := newEnv(t, Config{QuiesceAfter: -1})
	never.write("p/s.jsonl", "{\"a\":1}\n{\"a\":2}")
	if err := os.Chtimes(never.path("p/s.jsonl"), old, old); err != nil {
		t.Fatal(err)
	}
	wantPayloads(t, never.sync(), `{"a":1}`)
}

func TestTruncation(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("p/s.jsonl", "{\"line\":\"one, long enough to be past the next file's end\"}\n{\"line\":2}\n")
	wantPayloads(t, e.sync(), `{"line":"one, long enough to be past the next file's end"}`, `{"line":2}`)
	ino := e.checkpoint("p/s.jsonl").Ino

	// Truncated in place (same inode), then written again, shorter than the offset.
	if err := os.Truncate(e.path("p/s.jsonl"), 0); err != nil {
		t.Fatal(err)
	}
	e.appendTo("p/s.jsonl", "{\"new\":1}\n")
	wantPayloads(t, e.sync(), `{"new":1}`)
	cp := e.checkpoint("p/s.jsonl")
	if cp.Ino != ino || cp.Offset != int64(len("{\"new\":1}\n")) {
		t.Errorf("checkpoint after truncation = %+v", cp)
	}
	if n := e.stats.Restarted.Load(); n != 1 {
		t.Errorf("restarted = %d, want 1", n)
	}
}

func TestReplacement(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("p/s.jsonl", "{\"old\":1}\n")
	wantPayloads(t, e.sync(), `{"old":1}`)

	// A new file renamed over the old one: another inode, and longer than the old offset.
	tmp := e.path("p/s.jsonl.tmp")
	if err := os.WriteFile(tmp, []byte("{\"new\":1}\n{\"new\":2}\n{\"new\":3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.path("p/s.jsonl")); err != nil {
		t.Fatal(err)
	}
	wantPayloads(t, e.sync(), `{"new":1}`, `{"new":2}`, `{"new":3}`)

	// Rewritten in place (same inode, longer): the head differs.
	f, err := os.OpenFile(e.path("p/s.jsonl"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("{\"NEW\":1}\n{\"new\":2}\n{\"new\":3}\n{\"new\":4}\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wantPayloads(t, e.sync(), `{"NEW":1}`, `{"new":2}`, `{"new":3}`, `{"new":4}`)
	if n := e.stats.Restarted.Load(); n != 2 {
		t.Errorf("restarted = %d, want 2", n)
	}
	// The lines read again have the ids they had: stored once.
	if d := e.stats.Duplicates.Load(); d != 2 {
		t.Errorf("duplicates = %d, want 2 ({\"new\":2} and {\"new\":3} read twice)", d)
	}
}

func TestDeletion(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("p/a.jsonl", "{\"a\":1}\n")
	e.write("p/b.jsonl", "{\"b\":1}\n")
	e.sync()
	if err := os.Remove(e.path("p/a.jsonl")); err != nil {
		t.Fatal(err)
	}
	wantPayloads(t, e.sync())
	if cp := e.checkpoint("p/a.jsonl"); cp != nil {
		t.Errorf("checkpoint of a deleted file = %+v", cp)
	}
	if cp := e.checkpoint("p/b.jsonl"); cp == nil {
		t.Error("checkpoint of the other file is gone")
	}
	// One file at a time, as the watcher reads them.
	if err := os.Remove(e.path("p/b.jsonl")); err != nil {
		t.Fatal(err)
	}
	if err := e.tl.SyncFile(context.Background(), File{Path: e.path("p/b.jsonl"), Root: e.root, Name: "p/b.jsonl"}, &e.stats); err != nil {
		t.Fatal(err)
	}
	if cp := e.checkpoint("p/b.jsonl"); cp != nil {
		t.Errorf("checkpoint of a deleted file = %+v", cp)
	}
	if n := e.stats.Removed.Load(); n != 2 {
		t.Errorf("removed = %d, want 2", n)
	}
	// A file recreated under the name is new.
	e.write("p/a.jsonl", "{\"a\":1}\n{\"a\":2}\n")
	wantPayloads(t, e.sync(), `{"a":1}`, `{"a":2}`)
}

func TestSymlinks(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("p/a.jsonl", "{\"a\":1}\n")
	elsewhere := filepath.Join(t.TempDir(), "elsewhere")
	os.MkdirAll(elsewhere, 0o755)
	os.WriteFile(filepath.Join(elsewhere, "x.jsonl"), []byte("{\"x\":1}\n"), 0o644)
	links := map[string]string{
		"p/loop":       "..",                   // a folder that contains itself
		"p/self.jsonl": "self.jsonl",           // a link to itself
		"p/gone.jsonl": "missing.jsonl",        // dangling
		"p/twice":      ".",                    // its own folder again
		"r":            elsewhere,              // a folder outside, followed
		"p/same.jsonl": "a.jsonl",              // the same file again: read once
		"p/x.jsonl":    elsewhere + "/x.jsonl", // reached again through r
	}
	for name, target := range links {
		if err := os.Symlink(target, e.path(name)); err != nil {
			t.Fatal(err)
		}
	}
	wantPayloads(t, e.sync(), `{"a":1}`, `{"x":1}`)
	probs := strings.Join(e.probs, "\n")
	for _, want := range []string{"p/loop: " + ErrSymlinkLoop.Error(), "p/self.jsonl: ", "p/gone.jsonl: dangling"} {
		if !strings.Contains(probs, want) {
			t.Errorf("reported %q, want %q among them", e.probs, want)
		}
	}
	files := Walk([]string{e.root}, nil)
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if got, want := strings.Join(names, ","), "p/a.jsonl,p/x.jsonl"; got != want {
		t.Errorf("walked %s, want %s", got, want)
	}
}

func TestHugeLine(t *testing.T) {
	const huge = 20 << 20
	e := newEnv(t, Config{})
	big := bytes.Repeat([]byte("x"), huge)
	copy(big, `{"big":"`)
	var buf bytes.Buffer
	buf.WriteString("{\"a\":1}\n")
	buf.Write(big)
	buf.WriteString("\n{\"a\":2}\n")
	// Just at the limit: kept.
	limit := bytes.Repeat([]byte("y"), pipeline.MaxPayload)
	buf.Write(limit)
	buf.WriteString("\n")
	e.write("p/s.jsonl", buf.String())

	recs := e.sync()
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	if string(recs[0].Payload) != `{"a":1}` || string(recs[2].Payload) != `{"a":2}` {
		t.Errorf("lines around the huge one: %q, %q", recs[0].Payload, recs[2].Payload)
	}
	sum := sha256.Sum256(big)
	if r := recs[1]; r.Oversize != huge || len(r.Payload) != 0 || r.ID != sdk.NewID(Namespace, []byte("p/s.jsonl"), []byte("oversize"), sum[:]) {
		t.Errorf("huge line: oversize %d, %d payload bytes, id %s; want oversize %d, no payload, the id of its hash", r.Oversize, len(r.Payload), r.ID, huge)
	}
	if r := recs[3]; r.Oversize != 0 || !bytes.Equal(r.Payload, limit) {
		t.Errorf("line of exactly MaxPayload: oversize %d, %d payload bytes", r.Oversize, len(r.Payload))
	}
	if n := e.stats.Oversized.Load(); n != 1 {
		t.Errorf("oversized = %d, want 1", n)
	}

	// A huge line still being written is not consumed either, and its record id does not depend
	// on how it was read.
	e.write("p/t.jsonl", string(big))
	wantPayloads(t, e.sync())
	e.appendTo("p/t.jsonl", "\n")
	recs = e.sync()
	if len(recs) != 1 || recs[0].Oversize != huge || recs[0].ID != sdk.NewID(Namespace, []byte("p/t.jsonl"), []byte("oversize"), sum[:]) {
		t.Errorf("huge line completed later: %d records", len(recs))
	}
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("z", 300<<10) // longer than the reader's buffer
	tests := []struct {
		name  string
		in    string
		quiet bool
		want  []string
		rest  int // bytes left unconsumed
	}{
		{name: "empty", in: ""},
		{name: "lines", in: "a\nbb\n\nccc\n", want: []string{"a", "bb", "", "ccc"}},
		{name: "crlf", in: "a\r\nb\r\n", want: []string{"a", "b"}},
		{name: "partial last", in: "a\nb", want: []string{"a"}, rest: 1},
		{name: "partial last, quiet", in: "a\nb", quiet: true, want: []string{"a", "b"}},
		{name: "long line", in: "a\n" + long + "\nb\n", want: []string{"a", long, "b"}},
		{name: "long partial", in: "a\n" + long, want: []string{"a"}, rest: len(long)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lr := newLineReader(strings.NewReader(tt.in))
			var got []string
			consumed := 0
			for {
				ln, err := lr.next(tt.quiet)
				if err != nil {
					t.Fatal(err)
				}
				if ln.n == 0 {
					break
				}
				got = append(got, string(ln.line))
				consumed += int(ln.n)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(tt.in)-consumed != tt.rest {
				t.Errorf("got %d lines, %d bytes left; want %d lines, %d left", len(got), len(tt.in)-consumed, len(tt.want), tt.rest)
			}
		})
	}
}

// TestCommitAfterAck checks that a checkpoint moves only past what the sink acknowledged, and
// past all of it when the sink fails.
func TestCommitAfterAck(t *testing.T) {
	for _, every := range []int64{1, 1 << 20} {
		t.Run(fmt.Sprintf("checkpoint every %d bytes", every), func(t *testing.T) {
			e := newEnv(t, Config{})
			e.write("p/s.jsonl", "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n{\"a\":5}\n")
			e.sink.busy = 3 // waited out
			acked := 0
			sink := sinkFunc(func(ctx context.Context, recs []pipeline.RawRecord) (pipeline.Result, error) {
				if e.sink.busy == 0 {
					if acked++; acked == 2 {
						return pipeline.Result{}, errSinkDown
					}
				}
				return e.sink.Submit(ctx, recs)
			})
			e.tl = e.tailer(Config{BatchRecords: 2, CheckpointEvery: every, Sink: sink})
			err := e.syncErr()
			if !errors.Is(err, errSinkDown) {
				t.Fatalf("Sync = %v, want the sink's error", err)
			}
			wantPayloads(t, e.sink.take(), `{"a":1}`, `{"a":2}`)
			if n := e.stats.Failed.Load(); n != 0 {
				t.Errorf("failed = %d: a sink error is not the file's", n)
			}
			// Due or not, a failed submit ends the pass with the checkpoint past what was
			// acknowledged: the next pass reads only the rest.
			if cp := e.checkpoint("p/s.jsonl"); cp == nil || cp.Offset != int64(2*len("{\"a\":1}\n")) {
				t.Fatalf("checkpoint = %+v, want the end of the acknowledged batch", cp)
			}
			wantPayloads(t, e.sync(), `{"a":3}`, `{"a":4}`, `{"a":5}`)
			if d := e.stats.Duplicates.Load(); d != 0 {
				t.Errorf("duplicates = %d, want none", d)
			}
		})
	}
}

// TestStopSeesBatchThrough stops a pass while the sink takes a batch: the sink's context does not
// end with the pass's, the batch is acknowledged and put under a checkpoint though CheckpointEvery
// is far off, no batch follows, and the next pass reads exactly the rest.
func TestStopSeesBatchThrough(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("p/s.jsonl", "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n{\"a\":5}\n")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	calls := 0
	e.tl = e.tailer(Config{BatchRecords: 2, CheckpointEvery: 1 << 20, Sink: sinkFunc(func(sctx context.Context, recs []pipeline.RawRecord) (pipeline.Result, error) {
		calls++
		stop() // the stop comes while the sink takes the batch
		if sctx.Err() != nil {
			t.Error("the sink's context ended with the pass's")
		}
		return e.sink.Submit(sctx, recs)
	})})
	sc, err := e.tl.Scan(context.Background(), []string{e.root})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.tl.Sync(ctx, sc, &e.stats); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync = %v, want context.Canceled", err)
	}
	if calls != 1 {
		t.Errorf("the sink was called %d times, want once: no batch after the stop", calls)
	}
	wantPayloads(t, e.sink.take(), `{"a":1}`, `{"a":2}`)
	if n := e.stats.Lines.Load(); n != 2 {
		t.Errorf("lines = %d, want the 2 acknowledged", n)
	}
	if cp := e.checkpoint("p/s.jsonl"); cp == nil || cp.Offset != int64(2*len("{\"a\":1}\n")) {
		t.Fatalf("checkpoint = %+v, want the end of the acknowledged batch", cp)
	}
	e.tl = e.tailer(Config{BatchRecords: 2})
	wantPayloads(t, e.sync(), `{"a":3}`, `{"a":4}`, `{"a":5}`)
}

// TestStopBetweenBatches stops a pass after a batch was acknowledged, its checkpoint put off
// (CheckpointEvery not reached), and before the next batch is submitted: the checkpoint still
// moves past the acknowledged batch, so the next pass reads only the rest. (An import through the
// daemon interrupted by ^C read a few hundred lines twice this way.)
func TestStopBetweenBatches(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("p/s.jsonl", "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n{\"a\":5}\n")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	acked := 0
	sink := sinkFunc(func(sctx context.Context, recs []pipeline.RawRecord) (pipeline.Result, error) {
		acked++
		return e.sink.Submit(sctx, recs)
	})
	e.tl = e.tailer(Config{BatchRecords: 2, CheckpointEvery: 1 << 20, Sink: sink, Now: func() time.Time {
		if acked == 1 { // the first batch is acknowledged, the second being filled
			stop()
		}
		return time.Now()
	}})
	sc, err := e.tl.Scan(context.Background(), []string{e.root})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.tl.Sync(ctx, sc, &e.stats); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync = %v, want context.Canceled", err)
	}
	wantPayloads(t, e.sink.take(), `{"a":1}`, `{"a":2}`)
	if cp := e.checkpoint("p/s.jsonl"); cp == nil || cp.Offset != int64(2*len("{\"a\":1}\n")) {
		t.Fatalf("checkpoint = %+v, want the end of the acknowledged batch", cp)
	}
	e.tl = e.tailer(Config{BatchRecords: 2})
	wantPayloads(t, e.sync(), `{"a":3}`, `{"a":4}`, `{"a":5}`)
	if n := e.stats.Duplicates.Load(); n != 0 {
		t.Errorf("%d duplicates: the next pass read acknowledged lines again", n)
	}
}

type sinkFunc func(ctx context.Context, recs []pipeline.RawRecord) (pipeline.Result, error)

func (f sinkFunc) Submit(ctx context.Context, recs []pipeline.RawRecord) (pipeline.Result, error) {
	return f(ctx, recs)
}

// TestRace checks the compare-and-swap of checkpoints: of two readers of one file, the one
// behind gives way to the one ahead, and takes over from one behind.
func TestRace(t *testing.T) {
	e := newEnv(t, Config{})
	e.write("p/s.jsonl", "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n")
	f := File{Path: e.path("p/s.jsonl"), Root: e.root, Name: "p/s.jsonl"}
	// The other reader moves the checkpoint to the end while this one submits its first batch.
	other := e.tailer(Config{})
	moved := false
	sink := sinkFunc(func(ctx context.Context, recs []pipeline.RawRecord) (pipeline.Result, error) {
		if !moved {
			moved = true
			var st Stats
			if err := other.syncFile(ctx, f, nil, &st); err != nil {
				t.Error(err)
			}
		}
		return e.sink.Submit(ctx, recs)
	})
	e.tl = e.tailer(Config{BatchRecords: 1, CheckpointEvery: 1, Sink: sink})
	wantPayloads(t, e.sync(), `{"a":1}`, `{"a":2}`, `{"a":3}`, `{"a":1}`)
	if cp := e.checkpoint("p/s.jsonl"); cp.Offset != int64(3*len("{\"a\":1}\n")) {
		t.Errorf("offset = %d, want the end", cp.Offset)
	}

	// Behind: while this reader submits, another writes an older checkpoint; this one takes over.
	e.appendTo("p/s.jsonl", "{\"a\":4}\n{\"a\":5}\n")
	stale := *e.checkpoint("p/s.jsonl")
	stale.Offset = int64(len("{\"a\":1}\n"))
	e.tl = e.tailer(Config{Sink: sinkFunc(func(ctx context.Context, recs []pipeline.RawRecord) (pipeline.Result, error) {
		if err := e.st.PutCheckpoint(Namespace, f.Path, stale); err != nil {
			t.Error(err)
		}
		return e.sink.Submit(ctx, recs)
	})})
	wantPayloads(t, e.sync(), `{"a":4}`, `{"a":5}`)
	if cp := e.checkpoint("p/s.jsonl"); cp.Offset != int64(5*len("{\"a\":1}\n")) {
		t.Errorf("offset = %d, want the end", cp.Offset)
	}
}

// TestRestart checks idempotence across restarts with the real intake and store: checkpoints
// survive reopening, so nothing is sent again; without them, the record ids make the store keep
// one of each.
func TestRestart(t *testing.T) {
	root := filepath.Join(t.TempDir(), "claude", ProjectsDir)
	copyDir(t, filepath.Join(sharedTranscripts, ProjectsDir), root)
	dir := t.TempDir()
	caps := pipeline.Captures{Platform: lineCapture{}}
	run := func() Totals {
		st, err := store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		in, err := pipeline.NewIntake(st, caps, pipeline.IntakeConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close(context.Background())
		tl, err := NewTailer(Config{Sink: in, Checkpoints: StoreCheckpoints{St: st}, Workers: 3})
		if err != nil {
			t.Fatal(err)
		}
		sc, err := tl.Scan(context.Background(), []string{root})
		if err != nil {
			t.Fatal(err)
		}
		var stats Stats
		if err := tl.Sync(context.Background(), sc, &stats); err != nil {
			t.Fatal(err)
		}
		tt := stats.Totals()
		if got := st.EventCount(); got != 235 {
			t.Errorf("events stored = %d, want 235", got)
		}
		return tt
	}
	if tt := run(); tt.Files != 4 || tt.Lines != 235 || tt.Stored != 235 {
		t.Errorf("first run: %+v, want 4 files, 235 lines stored", tt)
	}
	if tt := run(); tt.Files != 4 || tt.Lines != 0 || tt.Bytes != 0 {
		t.Errorf("after a restart: %+v, want nothing read", tt)
	}
	// Without checkpoints (say, a copy of the folder elsewhere), everything is sent again and
	// stored once.
	st := openStore(t, dir)
	var n int
	st.Checkpoints(Namespace, "", func(file string, _ store.Checkpoint) error {
		n++
		return st.DeleteCheckpoint(Namespace, file)
	})
	st.Close()
	if n != 4 {
		t.Errorf("%d checkpoints, want 4", n)
	}
	if tt := run(); tt.Lines != 235 || tt.Stored != 0 || tt.Duplicates != 235 {
		t.Errorf("without checkpoints: %+v, want 235 lines, all duplicates", tt)
	}
}

// lineCapture makes one event of each transcript line, as a capture that understands
// transcripts would.
type lineCapture struct{}

func (lineCapture) Capture(rec *pipeline.RawRecord) ([]sdk.Event, error) {
	return []sdk.Event{{ID: pipeline.EventID(rec, 0), Platform: rec.Platform, Kind: "transcript.line", Time: rec.ReceivedAt,
		Attrs: []sdk.Attr{pipeline.PayloadBytes(rec)}}}, nil
}

// copyDir copies the files below src to dst.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, in); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		t.Fatal(fmt.Errorf("copy %s: %w", src, err))
	}
}
