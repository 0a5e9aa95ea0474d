package transcripts

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any leave a goroutine running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sharedTranscripts is ../shared/fixtures/claude-code: real transcripts laid out like ~/.claude.
const sharedTranscripts = "../../../shared/fixtures/claude-code"

// memSink is a Sink that keeps what it is sent, deduplicating by record id as the store does.
// busy makes the next Submits answer pipeline.ErrBusy; fail makes them fail.
type memSink struct {
	mu    sync.Mutex
	recs  []pipeline.RawRecord
	ids   map[sdk.ID]bool
	calls int
	busy  int
	fail  error
}

func newMemSink() *memSink { return &memSink{ids: map[sdk.ID]bool{}} }

func (s *memSink) Submit(_ context.Context, recs []pipeline.RawRecord) (pipeline.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.busy > 0 {
		s.busy--
		return pipeline.Result{}, pipeline.ErrBusy
	}
	if s.fail != nil {
		return pipeline.Result{}, s.fail
	}
	var res pipeline.Result
	for _, r := range recs {
		r.Payload = bytes.Clone(r.Payload)
		s.recs = append(s.recs, r)
		if s.ids[r.ID] {
			res.Duplicates++
		} else {
			s.ids[r.ID] = true
			res.Stored++
		}
	}
	return res, nil
}

// payloads returns the payloads received, as strings, and forgets them.
func (s *memSink) take() []pipeline.RawRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.recs
	s.recs = nil
	return out
}

func payloads(recs []pipeline.RawRecord) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, string(r.Payload))
	}
	return out
}

// openStore opens a store in dir, closed when the test ends.
func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// env is a test's transcripts folder, store and tailer.
type env struct {
	t     *testing.T
	root  string // the projects folder
	st    *store.Store
	sink  *memSink
	tl    *Tailer
	stats Stats
	probs []string
}

// newEnv makes a projects folder and a store in temp dirs and a tailer over them; cfg's Sink and
// Checkpoints are filled in.
func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	e := &env{t: t, root: filepath.Join(t.TempDir(), "claude", ProjectsDir), sink: newMemSink()}
	if err := os.MkdirAll(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	e.st = openStore(t, t.TempDir())
	e.tl = e.tailer(cfg)
	return e
}

// tailer returns a new tailer on e's sink and store.
func (e *env) tailer(cfg Config) *Tailer {
	e.t.Helper()
	if cfg.Sink == nil {
		cfg.Sink = e.sink
	}
	cfg.Checkpoints = StoreCheckpoints{St: e.st}
	cfg.Report = func(path string, err error) {
		rel, _ := filepath.Rel(e.root, path)
		e.probs = append(e.probs, filepath.ToSlash(rel)+": "+err.Error())
	}
	tl, err := NewTailer(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return tl
}

// path returns the path of a file below the projects folder.
func (e *env) path(name string) string { return filepath.Join(e.root, filepath.FromSlash(name)) }

// write creates or replaces a file below the projects folder.
func (e *env) write(name, content string) {
	e.t.Helper()
	p := e.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// appendTo appends to a file below the projects folder.
func (e *env) appendTo(name, content string) {
	e.t.Helper()
	f, err := os.OpenFile(e.path(name), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		e.t.Fatal(err)
	}
}

// sync runs a full pass and returns the records sent.
func (e *env) sync() []pipeline.RawRecord {
	e.t.Helper()
	if err := e.syncErr(); err != nil {
		e.t.Fatalf("Sync: %v", err)
	}
	return e.sink.take()
}

func (e *env) syncErr() error {
	sc, err := e.tl.Scan(context.Background(), []string{e.root})
	if err != nil {
		return err
	}
	return e.tl.Sync(context.Background(), sc, &e.stats)
}

// checkpoint returns the stored checkpoint of a file, nil if none.
func (e *env) checkpoint(name string) *store.Checkpoint {
	e.t.Helper()
	cp, err := StoreCheckpoints{St: e.st}.Get(context.Background(), e.path(name))
	if err != nil {
		e.t.Fatal(err)
	}
	return cp
}

// wantPayloads fails unless recs hold exactly these payloads, in order.
func wantPayloads(t *testing.T, recs []pipeline.RawRecord, want ...string) {
	t.Helper()
	if got := payloads(recs); !slices.Equal(got, want) {
		t.Errorf("records = %q, want %q", got, want)
	}
}

// eventually waits up to 10 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var errSinkDown = errors.New("sink down")
