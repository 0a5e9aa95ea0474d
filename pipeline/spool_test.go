//go:build unix

package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store/seal"
)

// spoolRecord returns the j-th record of writer w, with an id and payload derived from both.
func spoolRecord(w, j int) RawRecord {
	return RawRecord{
		ID:         sdk.NewID("spool-test", []byte(strconv.Itoa(w)), []byte(strconv.Itoa(j))),
		Platform:   PlatformClaudeCode,
		Source:     "hook",
		ReceivedAt: time.Date(2026, 5, 6, 7, 8, 9, w*1000+j, time.UTC),
		Payload:    fmt.Appendf(nil, `{"hook_event_name":"Stop","writer":%d,"n":%d}`, w, j),
	}
}

// newTestSpool returns the spool in dir, with the payload key kept beside dir (created by the
// first spool that needs it, as hooks and the daemon do).
func newTestSpool(t testing.TB, dir string) *Spool {
	t.Helper()
	k, err := seal.LoadOrCreate(filepath.Join(filepath.Dir(dir), seal.KeyName))
	if err != nil {
		t.Fatal(err)
	}
	return NewSpool(dir, k)
}

// drainAll drains s and returns the records handed over, with Source as the drain set it.
func drainAll(t *testing.T, s *Spool) ([]RawRecord, DrainStats) {
	t.Helper()
	var got []RawRecord
	st, err := s.Drain(func(recs []RawRecord) error {
		got = append(got, recs...)
		return nil
	})
	if err != nil {
		t.Fatalf("Drain: %v", err)
	}
	return got, st
}

// spoolFiles lists the names in the spool's directory.
func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read spool dir: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// asSpooled returns recs as a drain hands them over.
func asSpooled(recs []RawRecord) []RawRecord {
	out := slices.Clone(recs)
	for i := range out {
		out[i].Source = "spool"
	}
	return out
}

func TestSpoolAppendDrain(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{name: "one", n: 1},
		{name: "a few", n: 5},
		{name: "exactly a chunk", n: spoolChunk},
		{name: "several chunks", n: 2*spoolChunk + 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "spool")
			s := newTestSpool(t, dir)
			if s.Dir() != dir {
				t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
			}
			var want []RawRecord
			for j := range tt.n {
				rec := spoolRecord(0, j)
				if j%7 == 3 {
					rec.Payload, rec.Oversize = nil, MaxPayload+1
				}
				if err := s.Append(&rec); err != nil {
					t.Fatalf("Append %d: %v", j, err)
				}
				want = append(want, rec)
			}
			info, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != 0o700 {
				t.Errorf("spool dir mode %v, want 0700", got)
			}
			info, err = os.Stat(filepath.Join(dir, spoolActive))
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != 0o600 {
				t.Errorf("spool file mode %v, want 0600", got)
			}

			var chunks []int
			var got []RawRecord
			st, err := s.Drain(func(recs []RawRecord) error {
				chunks = append(chunks, len(recs))
				got = append(got, recs...)
				return nil
			})
			if err != nil {
				t.Fatalf("Drain: %v", err)
			}
			checkRecords(t, got, asSpooled(want))
			if wantSt := (DrainStats{Records: tt.n, Files: 1}); st != wantSt {
				t.Errorf("Drain stats %+v, want %+v", st, wantSt)
			}
			for i, n := range chunks {
				if n < 1 || n > spoolChunk {
					t.Errorf("chunk %d has %d records, want 1 to %d", i, n, spoolChunk)
				}
			}
			if want := (tt.n + spoolChunk - 1) / spoolChunk; len(chunks) != want {
				t.Errorf("Drain called fn %d times, want %d", len(chunks), want)
			}
			if names := spoolFiles(t, dir); len(names) != 0 {
				t.Errorf("after Drain the spool holds %q, want nothing", names)
			}
			if s.Pending() {
				t.Error("Pending() after Drain = true, want false")
			}
			got, st = drainAll(t, s)
			if len(got) != 0 || st != (DrainStats{}) {
				t.Errorf("second Drain: %d records, stats %+v; want none", len(got), st)
			}
		})
	}
}

func TestSpoolPending(t *testing.T) {
	rec := spoolRecord(0, 0)
	tests := []struct {
		name  string
		setup func(t *testing.T, s *Spool)
		want  bool
	}{
		{name: "no directory", setup: func(t *testing.T, s *Spool) {}, want: false},
		{name: "empty directory", setup: func(t *testing.T, s *Spool) { mkdir(t, s.Dir()) }, want: false},
		{name: "one record", setup: func(t *testing.T, s *Spool) { appendOK(t, s, rec) }, want: true},
		{name: "empty active file", setup: func(t *testing.T, s *Spool) { writeFile(t, filepath.Join(s.Dir(), spoolActive), nil) }, want: false},
		{name: "a file left by a failed drain", setup: func(t *testing.T, s *Spool) {
			writeFile(t, filepath.Join(s.Dir(), "00000000000000000001"+spoolDraining), []byte("x"))
		}, want: true},
		{name: "an unrelated file", setup: func(t *testing.T, s *Spool) { writeFile(t, filepath.Join(s.Dir(), "notes.txt"), []byte("x")) }, want: false},
		{
			name: "drained",
			setup: func(t *testing.T, s *Spool) {
				appendOK(t, s, rec)
				drainAll(t, s)
			},
			want: false,
		},
		{
			name: "drain failed",
			setup: func(t *testing.T, s *Spool) {
				appendOK(t, s, rec)
				if _, err := s.Drain(func([]RawRecord) error { return errors.New("no") }); err == nil {
					t.Fatal("Drain did not fail")
				}
			},
			want: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSpool(t, filepath.Join(t.TempDir(), "spool"))
			tt.setup(t, s)
			if got := s.Pending(); got != tt.want {
				t.Errorf("Pending() = %v, want %v", got, tt.want)
			}
		})
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	mkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendOK(t *testing.T, s *Spool, recs ...RawRecord) {
	t.Helper()
	for i := range recs {
		if err := s.Append(&recs[i]); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
}

func TestSpoolDrainFailureKeepsFile(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		failAt int // the call of fn that fails, from 1
	}{
		{name: "first chunk fails", n: 3, failAt: 1},
		{name: "second chunk fails", n: spoolChunk + 10, failAt: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSpool(t, filepath.Join(t.TempDir(), "spool"))
			var first []RawRecord
			for j := range tt.n {
				first = append(first, spoolRecord(1, j))
			}
			appendOK(t, s, first...)

			failure := errors.New("intake refused")
			calls, handed := 0, 0
			st, err := s.Drain(func(recs []RawRecord) error {
				calls++
				if calls == tt.failAt {
					return failure
				}
				handed += len(recs)
				return nil
			})
			if !errors.Is(err, failure) {
				t.Fatalf("Drain: error %v, want one wrapping %v", err, failure)
			}
			if st.Records != handed || st.Files != 0 {
				t.Errorf("failed Drain stats %+v, want %d records and no files", st, handed)
			}
			names := spoolFiles(t, s.Dir())
			if len(names) != 1 || !strings.HasSuffix(names[0], spoolDraining) {
				t.Fatalf("after a failed Drain the spool holds %q, want one %s file", names, spoolDraining)
			}
			if !s.Pending() {
				t.Error("Pending() after a failed Drain = false, want true")
			}

			// Records appended meanwhile go to a new file, drained after the old one.
			later := []RawRecord{spoolRecord(2, 0), spoolRecord(2, 1)}
			appendOK(t, s, later...)
			got, st := drainAll(t, s)
			checkRecords(t, got, asSpooled(append(slices.Clone(first), later...)))
			if want := (DrainStats{Records: tt.n + len(later), Files: 2}); st != want {
				t.Errorf("second Drain stats %+v, want %+v", st, want)
			}
			if names := spoolFiles(t, s.Dir()); len(names) != 0 {
				t.Errorf("after the second Drain the spool holds %q, want nothing", names)
			}
		})
	}
}

func TestSpoolTornTail(t *testing.T) {
	tests := []struct {
		name string
		keep func(frame int) int // how many bytes of the last frame survive
	}{
		{name: "torn in the magic", keep: func(int) int { return 2 }},
		{name: "torn in the header", keep: func(int) int { return 9 }},
		{name: "torn in the body", keep: func(n int) int { return n / 2 }},
		{name: "last byte missing", keep: func(n int) int { return n - 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSpool(t, filepath.Join(t.TempDir(), "spool"))
			before := []RawRecord{spoolRecord(3, 0), spoolRecord(3, 1), spoolRecord(3, 2)}
			appendOK(t, s, before...)
			// A hook killed mid-append: the last frame is cut short.
			path := filepath.Join(s.Dir(), spoolActive)
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			frame := len(AppendFrame(nil, &before[2])) + seal.Overhead
			kept := tt.keep(frame)
			if err := os.Truncate(path, info.Size()-int64(frame-kept)); err != nil {
				t.Fatal(err)
			}
			after := []RawRecord{spoolRecord(4, 0), spoolRecord(4, 1)}
			appendOK(t, s, after...)

			got, st := drainAll(t, s)
			checkRecords(t, got, asSpooled(append(before[:2:2], after...)))
			if want := (DrainStats{Records: 4, Files: 1, SkippedBytes: kept}); st != want {
				t.Errorf("Drain stats %+v, want %+v", st, want)
			}
		})
	}
}

// collector counts the records drains hand over, by id.
type collector struct {
	mu    sync.Mutex
	seen  map[sdk.ID]int
	order map[int]int // writer -> last sequence number seen
	bad   []string
}

func newCollector() *collector {
	return &collector{seen: map[sdk.ID]int{}, order: map[int]int{}}
}

// take records a chunk; it checks each record against what its writer appended, and that each
// writer's records arrive in the order it appended them.
func (c *collector) take(recs []RawRecord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rec := range recs {
		var w, j int
		if _, err := fmt.Sscanf(string(rec.Payload), `{"hook_event_name":"Stop","writer":%d,"n":%d}`, &w, &j); err != nil {
			c.bad = append(c.bad, fmt.Sprintf("payload %q: %v", rec.Payload, err))
			continue
		}
		want := spoolRecord(w, j)
		want.Source = "spool"
		if d := sameRecord(rec, want); d != "" {
			c.bad = append(c.bad, fmt.Sprintf("writer %d record %d: %s", w, j, d))
		}
		if last, ok := c.order[w]; ok && j <= last {
			c.bad = append(c.bad, fmt.Sprintf("writer %d: record %d after %d", w, j, last))
		}
		c.order[w] = j
		c.seen[rec.ID]++
	}
	return nil
}

// check reports every record of writers × perWriter that did not arrive exactly once.
func (c *collector) check(t *testing.T, writers, perWriter int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bad {
		t.Error(b)
	}
	missing, dup := 0, 0
	for w := range writers {
		for j := range perWriter {
			switch n := c.seen[spoolRecord(w, j).ID]; {
			case n == 0:
				missing++
				if missing <= 10 {
					t.Errorf("writer %d record %d never arrived", w, j)
				}
			case n > 1:
				dup++
				if dup <= 10 {
					t.Errorf("writer %d record %d arrived %d times", w, j, n)
				}
			}
		}
	}
	if len(c.seen) != writers*perWriter {
		t.Errorf("%d distinct records arrived, want %d (missing %d, duplicated %d)", len(c.seen), writers*perWriter, missing, dup)
	}
}

func TestSpoolConcurrentAppendDrain(t *testing.T) {
	const writers, perWriter = 16, 100
	s := newTestSpool(t, filepath.Join(t.TempDir(), "spool"))
	c := newCollector()

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for j := range perWriter {
				rec := spoolRecord(w, j)
				if err := s.Append(&rec); err != nil {
					errs <- fmt.Errorf("writer %d record %d: %w", w, j, err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	drained := drainUntil(t, s, c, done)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// One more after the writers finished, in case the last drain ran before the last append.
	st, err := s.Drain(c.take)
	if err != nil {
		t.Fatalf("final Drain: %v", err)
	}
	drained += st.Records
	c.check(t, writers, perWriter)
	if drained != writers*perWriter {
		t.Errorf("Drain stats count %d records, want %d", drained, writers*perWriter)
	}
	if s.Pending() {
		t.Errorf("Pending() after the final Drain = true; spool holds %q", spoolFiles(t, s.Dir()))
	}
}

// The environment variables of TestSpoolHelperProcess.
const (
	helperDirEnv    = "HANGAR_SPOOL_HELPER_DIR"
	helperWriterEnv = "HANGAR_SPOOL_HELPER_WRITER"
	helperCountEnv  = "HANGAR_SPOOL_HELPER_COUNT"
)

// TestSpoolHelperProcess is not a test: TestSpoolMultiProcess runs the test binary with it as a
// hook process that appends records to a spool.
func TestSpoolHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper process for TestSpoolMultiProcess")
	}
	w, err1 := strconv.Atoi(os.Getenv(helperWriterEnv))
	n, err2 := strconv.Atoi(os.Getenv(helperCountEnv))
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	s := newTestSpool(t, dir)
	for j := range n {
		rec := spoolRecord(w, j)
		if err := s.Append(&rec); err != nil {
			t.Fatalf("writer %d record %d: %v", w, j, err)
		}
	}
}

func TestSpoolMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	const writers, perWriter = 20, 50
	dir := filepath.Join(t.TempDir(), "spool")
	c := newCollector()

	type proc struct {
		cmd *exec.Cmd
		out strings.Builder
	}
	procs := make([]*proc, writers)
	for w := range procs {
		p := &proc{cmd: exec.Command(os.Args[0], "-test.run=^TestSpoolHelperProcess$", "-test.count=1")}
		p.cmd.Env = append(os.Environ(),
			helperDirEnv+"="+dir,
			helperWriterEnv+"="+strconv.Itoa(w),
			helperCountEnv+"="+strconv.Itoa(perWriter),
		)
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
		procs[w] = p
	}
	// Start them all before waiting on any, so that they append at once. No payload key exists
	// yet: the writers and this drainer race to create it, and must all end up with one.
	for w, p := range procs {
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("start writer %d: %v", w, err)
		}
	}
	s := newTestSpool(t, dir)
	done := make(chan struct{})
	waitErrs := make([]error, writers)
	go func() {
		for w, p := range procs {
			waitErrs[w] = p.cmd.Wait()
		}
		close(done)
	}()

	drainUntil(t, s, c, done)
	for w, err := range waitErrs {
		if err != nil {
			t.Errorf("writer %d: %v\n%s", w, err, procs[w].out.String())
		}
	}
	if _, err := s.Drain(c.take); err != nil {
		t.Fatalf("final Drain: %v", err)
	}
	c.check(t, writers, perWriter)
	if names := spoolFiles(t, dir); len(names) != 0 {
		t.Errorf("after the final Drain the spool holds %q, want nothing", names)
	}
}

func TestSpoolDrainMissingDir(t *testing.T) {
	s := newTestSpool(t, filepath.Join(t.TempDir(), "never-created"))
	calls := 0
	st, err := s.Drain(func([]RawRecord) error { calls++; return nil })
	if err != nil {
		t.Fatalf("Drain of a missing spool: %v", err)
	}
	if calls != 0 || st != (DrainStats{}) {
		t.Errorf("Drain of a missing spool: %d calls, stats %+v; want none", calls, st)
	}
	if _, err := os.Stat(s.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Drain created the spool dir: %v", err)
	}
}

// drainUntil drains the spool into c over and over until done is closed (and once more after),
// failing on an error or on skipped bytes, and returns how many records the drains handed over.
func drainUntil(t *testing.T, s *Spool, c *collector, done <-chan struct{}) int {
	t.Helper()
	drains, drained := 0, 0
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		st, err := s.Drain(c.take)
		if err != nil {
			t.Fatalf("Drain %d: %v", drains, err)
		}
		drains++
		drained += st.Records
		if st.SkippedBytes != 0 {
			t.Errorf("Drain %d skipped %d bytes", drains, st.SkippedBytes)
		}
	}
	return drained
}
