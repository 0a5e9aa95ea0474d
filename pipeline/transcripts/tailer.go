package transcripts

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// Names of transcript records.
const (
	// Platform is the platform of transcript records.
	Platform = pipeline.PlatformClaudeCode
	// Source is the source of transcript records.
	Source = "transcript"
	// Namespace is the sdk.NewID namespace of transcript record ids, and the source of their
	// checkpoints in the store.
	Namespace = "claude-code-transcript"
	// HeadBytes is how many leading bytes of a file its checkpoint hashes.
	HeadBytes = 64
)

// Sink takes records and returns once they are durable, with what became of them.
// *pipeline.Intake is one. On an error wrapping pipeline.ErrBusy the Tailer waits and submits
// again; any other error stops the pass.
type Sink interface {
	Submit(ctx context.Context, recs []pipeline.RawRecord) (pipeline.Result, error)
}

// Checkpoints keeps the Tailer's checkpoints, by file path. StoreCheckpoints keeps them in a
// store; the daemon's client keeps them in the daemon's.
type Checkpoints interface {
	// List returns the checkpoints of the files whose path starts with prefix.
	List(ctx context.Context, prefix string) (map[string]store.Checkpoint, error)
	// Get returns the checkpoint of a file, nil if it has none.
	Get(ctx context.Context, file string) (*store.Checkpoint, error)
	// Swap replaces the checkpoint of a file with to (nil deletes it) if it is from (nil: it has
	// none), and reports whether it did.
	Swap(ctx context.Context, file string, from, to *store.Checkpoint) (bool, error)
}

// Config configures a Tailer. Sink and Checkpoints are required; zero fields take defaults.
type Config struct {
	Sink        Sink
	Checkpoints Checkpoints
	// BatchRecords and BatchBytes bound the records, and their payload bytes, of one Submit.
	// Defaults 500 and 4 MiB. A line larger than BatchBytes goes alone.
	BatchRecords int
	BatchBytes   int
	// QuiesceAfter is how long a file must have been unchanged for a last line without its
	// newline to be taken as it is. Default 60 s; negative: never.
	QuiesceAfter time.Duration
	// Workers is how many files Sync reads at once. Default 1.
	Workers int
	// CheckpointEvery is how many bytes of a file may be acknowledged before its checkpoint is
	// moved; the checkpoint is also moved at the end of each pass over the file. A crash resends
	// at most this much of a file. Default 16 MiB.
	CheckpointEvery int64
	// Report, if set, is told of each file or folder that cannot be read and is skipped.
	Report func(path string, err error)
	// Now returns the time records are received at. Default time.Now.
	Now func() time.Time
}

// Validate reports a configuration error.
func (c *Config) Validate() error {
	switch {
	case c.Sink == nil:
		return errors.New("tailer: no sink")
	case c.Checkpoints == nil:
		return errors.New("tailer: no checkpoints")
	case c.BatchRecords < 0 || c.BatchBytes < 0 || c.Workers < 0 || c.CheckpointEvery < 0:
		return errors.New("tailer: negative batch size, workers or checkpoint interval")
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.BatchRecords == 0 {
		c.BatchRecords = 500
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 4 << 20
	}
	if c.QuiesceAfter == 0 {
		c.QuiesceAfter = 60 * time.Second
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 16 << 20
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Tailer reads transcripts into a Sink, each file from its checkpoint on (see the package
// documentation for the rules). It is safe for concurrent use, but must not sync one file from two
// goroutines at once.
type Tailer struct {
	cfg Config
}

// NewTailer returns a Tailer.
func NewTailer(cfg Config) (*Tailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Tailer{cfg: cfg}, nil
}

// Stats counts what passes did. Its fields are updated as the passes go, and may be read at any
// time (for a progress bar).
type Stats struct {
	// Files counts files read to their end (or found unchanged); Failed those skipped for an
	// error; Restarted those read again from the start (replaced or truncated); Removed the
	// checkpoints of files that no longer exist.
	Files, Failed, Restarted, Removed atomic.Int64
	// Lines counts the records sent (one per non-blank line), Oversized those over
	// pipeline.MaxPayload, and Bytes the bytes consumed (blank lines and newlines included).
	// Unfinished counts the files whose last line, without its newline, was left for later.
	Lines, Oversized, Bytes, Unfinished atomic.Int64
	// Stored, Duplicates, DeadLettered and Parked add up the intake's results: new events, events
	// it had, records that went to the dead-letter queue, and records that wait (sealed) for a
	// capture plugin to serve their platform.
	Stored, Duplicates, DeadLettered, Parked atomic.Int64
}

// Totals is a snapshot of Stats.
type Totals struct {
	Files        int64 `json:"files"`
	Failed       int64 `json:"failed"`
	Restarted    int64 `json:"restarted"`
	Removed      int64 `json:"removed"`
	Lines        int64 `json:"lines"`
	Oversized    int64 `json:"oversized"`
	Bytes        int64 `json:"bytes"`
	Unfinished   int64 `json:"unfinished"`
	Stored       int64 `json:"stored"`
	Duplicates   int64 `json:"duplicates"`
	DeadLettered int64 `json:"dead_lettered"`
	Parked       int64 `json:"parked,omitempty"`
}

// Totals returns the counts so far.
func (s *Stats) Totals() Totals {
	return Totals{
		Files: s.Files.Load(), Failed: s.Failed.Load(), Restarted: s.Restarted.Load(), Removed: s.Removed.Load(),
		Lines: s.Lines.Load(), Oversized: s.Oversized.Load(), Bytes: s.Bytes.Load(), Unfinished: s.Unfinished.Load(),
		Stored: s.Stored.Load(), Duplicates: s.Duplicates.Load(), DeadLettered: s.DeadLettered.Load(), Parked: s.Parked.Load(),
	}
}

// Scan is what a pass will read: the transcripts found and their checkpoints.
type Scan struct {
	Roots []string
	Files []File
	// Dirs are the folders walked, roots included.
	Dirs []string
	// Checkpoints are the checkpoints of the files below Roots, by path, when the scan was made;
	// a checkpoint whose file is not in Files may belong to a deleted file.
	Checkpoints map[string]store.Checkpoint
	// Pending estimates the bytes the pass will read: what each file holds past its checkpoint.
	Pending int64
}

// pathLearner is a Checkpoints that must be told the paths of the files found before it lists
// their checkpoints (HashedCheckpoints keeps hashes, and maps them back only to paths it knows).
type pathLearner interface{ Learn(paths []string) }

// Scan lists the transcripts below roots and their checkpoints. Problems with files are reported
// and skip them; it fails only when the checkpoints cannot be read.
func (t *Tailer) Scan(ctx context.Context, roots []string) (*Scan, error) {
	sc := &Scan{Roots: roots, Checkpoints: map[string]store.Checkpoint{}}
	sc.Files, sc.Dirs = walk(roots, t.cfg.Report)
	if k, ok := t.cfg.Checkpoints.(pathLearner); ok {
		paths := make([]string, len(sc.Files))
		for i, f := range sc.Files {
			paths[i] = f.Path
		}
		k.Learn(paths)
	}
	for _, root := range roots {
		cps, err := t.cfg.Checkpoints.List(ctx, root+string(filepath.Separator))
		if err != nil {
			return nil, fmt.Errorf("scan transcripts: %w", err)
		}
		for p, cp := range cps {
			sc.Checkpoints[p] = cp
		}
	}
	for _, f := range sc.Files {
		fi, err := os.Stat(f.Path)
		if err != nil {
			continue
		}
		size := fi.Size()
		if cp, ok := sc.Checkpoints[f.Path]; ok && size >= cp.Offset {
			if dev, ino, _ := identity(fi); dev == cp.Dev && ino == cp.Ino {
				size -= cp.Offset
			}
		}
		sc.Pending += size
	}
	return sc, nil
}

// Sync reads every file of sc from its checkpoint on (Workers at a time), then deletes the
// checkpoints of files that no longer exist. A file that cannot be read is reported, counted in
// st.Failed and skipped; one deleted since the scan is no problem: it loses its checkpoint. It
// returns early with the error of the sink or the checkpoints, or when ctx ends.
func (t *Tailer) Sync(ctx context.Context, sc *Scan, st *Stats) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan File)
	var wg sync.WaitGroup
	for range min(t.cfg.Workers, max(len(sc.Files), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				var cp *store.Checkpoint
				if c, ok := sc.Checkpoints[f.Path]; ok {
					cp = &c
				}
				if err := t.syncFile(ctx, f, cp, st); err != nil {
					if gone(f.Path, err) {
						// Deleted since the scan: as if the scan had not found it.
						err = t.forget(ctx, f.Path, cp, st)
					} else if t.fileProblem(f.Path, err, st) {
						err = nil
					}
					if err != nil {
						cancel(err)
					}
				}
			}
		}()
	}
feed:
	for _, f := range sc.Files {
		select {
		case work <- f:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	found := make(map[string]bool, len(sc.Files))
	for _, f := range sc.Files {
		found[f.Path] = true
	}
	for p, cp := range sc.Checkpoints {
		if found[p] {
			continue
		}
		if !vanished(p) {
			continue // there but unreadable, or no longer a transcript: keep its place
		}
		if ok, err := t.cfg.Checkpoints.Swap(ctx, p, &cp, nil); err != nil {
			return fmt.Errorf("delete checkpoint of %s: %w", p, err)
		} else if ok {
			st.Removed.Add(1)
		}
	}
	return nil
}

// SyncFile reads one file from its checkpoint on; a file that no longer exists loses its
// checkpoint. Problems with the file are reported, counted in st.Failed and not returned; the
// errors of the sink and the checkpoints are.
func (t *Tailer) SyncFile(ctx context.Context, f File, st *Stats) error {
	cp, err := t.cfg.Checkpoints.Get(ctx, f.Path)
	if err != nil {
		return fmt.Errorf("read checkpoint of %s: %w", f.Path, err)
	}
	if vanished(f.Path) {
		return t.forget(ctx, f.Path, cp, st)
	}
	err = t.syncFile(ctx, f, cp, st)
	switch {
	case err == nil:
		return nil
	case gone(f.Path, err):
		return t.forget(ctx, f.Path, cp, st)
	case t.fileProblem(f.Path, err, st):
		return nil
	}
	return err
}

// forget deletes the checkpoint cp (nil: none) of a file that no longer exists.
func (t *Tailer) forget(ctx context.Context, path string, cp *store.Checkpoint, st *Stats) error {
	if cp == nil {
		return nil
	}
	ok, err := t.cfg.Checkpoints.Swap(ctx, path, cp, nil)
	if err != nil {
		return fmt.Errorf("delete checkpoint of %s: %w", path, err)
	}
	if ok {
		st.Removed.Add(1)
	}
	return nil
}

// gone reports whether err, from reading the file at path, is that the file no longer exists:
// deleted (or its folder) since it was found. A symbolic link whose target is gone is still
// there, and still a problem to report.
func gone(path string, err error) bool {
	var pe pipeError
	return !errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist) && vanished(path)
}

// vanished reports whether no file (nor symbolic link) is at path. The path of a checkpoint that
// HashedCheckpoints.List could not map back to its file (unknownPath and its stored name) names
// none: the file was deleted before the process learnt its path.
func vanished(path string) bool {
	if strings.HasPrefix(path, unknownPath) {
		return true
	}
	_, err := os.Lstat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// pipeError marks an error of the sink or the checkpoints, which stops a pass, as opposed to a
// problem with one file.
type pipeError struct{ err error }

func (e pipeError) Error() string { return e.err.Error() }
func (e pipeError) Unwrap() error { return e.err }

// fileProblem reports err and counts the file as failed if err is a problem with the file; it
// returns false for errors that must stop the pass.
func (t *Tailer) fileProblem(path string, err error, st *Stats) bool {
	var pe pipeError
	if errors.As(err, &pe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	st.Failed.Add(1)
	if t.cfg.Report != nil {
		t.cfg.Report(path, err)
	}
	return true
}

// headHash hashes the first n bytes of f.
func headHash(f io.ReaderAt, n int) (uint64, error) {
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return 0, err
	}
	sum := sha256.Sum256(buf)
	return binary.BigEndian.Uint64(sum[:8]), nil
}

// sameFile reports whether cp was taken in the open file f (of identity dev, ino and size):
// same device and inode, not shorter than the checkpoint's offset or head, same head.
func sameFile(f io.ReaderAt, dev, ino uint64, size int64, cp *store.Checkpoint) (bool, error) {
	if cp.Dev != dev || cp.Ino != ino || size < cp.Offset || size < int64(cp.HeadLen) || cp.HeadLen < 0 {
		return false, nil
	}
	h, err := headHash(f, cp.HeadLen)
	if err != nil {
		return false, err
	}
	return h == cp.Head, nil
}

// syncFile reads f from cp (nil: from the start) to its current end, submitting its lines in
// batches and moving its checkpoint after each.
func (t *Tailer) syncFile(ctx context.Context, f File, cp *store.Checkpoint, st *Stats) error {
	// Look before opening: opening a named pipe would wait for a writer.
	if fi, err := os.Stat(f.Path); err != nil {
		return err
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	size := fi.Size()
	dev, ino, _ := identity(fi)
	start := int64(0)
	if cp != nil {
		same, err := sameFile(fh, dev, ino, size, cp)
		if err != nil {
			return err
		}
		if same {
			start = cp.Offset
		} else {
			st.Restarted.Add(1)
		}
	}
	if start == size {
		st.Files.Add(1)
		return nil
	}
	headLen := int(min(HeadBytes, size))
	head, err := headHash(fh, headLen)
	if err != nil {
		return err
	}
	quiet := t.cfg.QuiesceAfter > 0 && t.cfg.Now().Sub(fi.ModTime()) >= t.cfg.QuiesceAfter
	b := &fileSync{
		t: t, ctx: ctx, f: f, st: st, prev: cp, end: start, acked: start, saved: start,
		base: store.Checkpoint{Dev: dev, Ino: ino, Size: size, HeadLen: headLen, Head: head},
	}
	lr := newLineReader(io.NewSectionReader(fh, start, size-start))
	off := start // of the next unread byte
	for {
		ln, err := lr.next(quiet)
		if err != nil {
			return fmt.Errorf("read at byte %d: %w", off, err)
		}
		if ln.n == 0 {
			if ln.unfinished {
				st.Unfinished.Add(1)
			}
			break // end of the file, or a last line still being written
		}
		off += ln.n
		st.Bytes.Add(ln.n)
		if ln.oversize == 0 && len(bytes.TrimSpace(ln.line)) == 0 {
			b.skip(off)
			continue
		}
		more, err := b.add(ln, off)
		if err != nil || !more {
			return err
		}
	}
	if _, err := b.flush(true); err != nil {
		return err
	}
	st.Files.Add(1)
	return nil
}

// fileSync batches the records of one file and moves its checkpoint as batches are acknowledged.
type fileSync struct {
	t    *Tailer
	ctx  context.Context
	f    File
	st   *Stats
	base store.Checkpoint  // the file's identity, for the checkpoints written
	prev *store.Checkpoint // the stored checkpoint: what the next Swap expects

	recs  []pipeline.RawRecord
	arena []byte // payloads of recs; a fresh one per batch, as the intake may keep them
	end   int64  // offset just past the batch's last line (or skipped blank lines)
	acked int64  // offset just past the last line the sink acknowledged (or found checkpointed)
	saved int64  // offset of the last checkpoint written (or found)
}

// skip consumes a line that makes no record.
func (s *fileSync) skip(end int64) {
	s.end = end
}

// add adds the record of a line ending at end, submitting the batch when full. It returns false
// when the file's checkpoint was moved past this point by another reader: this one stops.
func (s *fileSync) add(ln line, end int64) (bool, error) {
	cfg := &s.t.cfg
	if len(s.recs) > 0 && (len(s.recs) >= cfg.BatchRecords || len(s.arena)+len(ln.line) > cfg.BatchBytes) {
		if more, err := s.flush(false); err != nil || !more {
			return more, err
		}
	}
	if s.arena == nil {
		// Room for a batch, or for what is left of the file (s.end is where this line starts).
		s.arena = make([]byte, 0, max(len(ln.line), int(min(int64(cfg.BatchBytes), s.base.Size-s.end))))
	}
	rec := pipeline.RawRecord{Platform: Platform, Source: Source, ReceivedAt: cfg.Now().UTC()}
	if ln.oversize > 0 {
		rec.ID = sdk.NewID(Namespace, []byte(s.f.Name), []byte("oversize"), ln.sum[:])
		rec.Oversize = ln.oversize
		s.st.Oversized.Add(1)
	} else {
		at := len(s.arena)
		s.arena = append(s.arena, ln.line...)
		rec.Payload = s.arena[at:len(s.arena):len(s.arena)]
		rec.ID = sdk.NewID(Namespace, []byte(s.f.Name), rec.Payload)
	}
	s.recs = append(s.recs, rec)
	s.end = end
	return true, nil
}

// flush submits the batch, waiting while the sink is busy, then moves the checkpoint to its end
// if final (the end of the pass), if CheckpointEvery bytes were acknowledged since the last one,
// or if the pass is being stopped (the next submit ends it): a pass stopped reads nothing again.
func (s *fileSync) flush(final bool) (bool, error) {
	if len(s.recs) > 0 {
		res, err := s.t.submit(s.ctx, s.recs)
		if err != nil {
			// A pass stopped between two batches (the stop came after the last one was
			// acknowledged and its checkpoint put off): move the checkpoint past what was
			// acknowledged, or the next pass reads it again. The submit's error is what the
			// caller needs; a checkpoint not written only means reading those lines again.
			if s.acked > s.saved {
				s.checkpoint(s.acked)
			}
			return false, err
		}
		s.st.Lines.Add(int64(len(s.recs)))
		s.st.Stored.Add(int64(res.Stored))
		s.st.Duplicates.Add(int64(res.Duplicates))
		s.st.DeadLettered.Add(int64(res.DeadLettered))
		s.st.Parked.Add(int64(res.Parked))
		s.recs, s.arena = s.recs[:0], nil
	}
	s.acked = s.end
	if s.end == s.saved || (!final && s.end-s.saved < s.t.cfg.CheckpointEvery && s.ctx.Err() == nil) {
		return true, nil
	}
	return s.checkpoint(s.end)
}

// checkpoint moves the file's checkpoint to offset. When another reader moved it meanwhile, it
// takes over if that reader is behind in the same file, and otherwise gives way (false).
func (s *fileSync) checkpoint(offset int64) (bool, error) {
	to := s.base
	to.Offset = offset
	cps := s.t.cfg.Checkpoints
	for range 3 {
		ok, err := cps.Swap(s.ctx, s.f.Path, s.prev, &to)
		if err != nil {
			return false, pipeError{fmt.Errorf("write checkpoint of %s: %w", s.f.Path, err)}
		}
		if ok {
			s.prev, s.saved = &to, offset
			return true, nil
		}
		cur, err := cps.Get(s.ctx, s.f.Path)
		if err != nil {
			return false, pipeError{fmt.Errorf("read checkpoint of %s: %w", s.f.Path, err)}
		}
		if cur == nil || cur.Dev != to.Dev || cur.Ino != to.Ino || cur.Offset >= offset {
			return false, nil
		}
		s.prev = cur
	}
	return false, nil
}

// submit submits recs, waiting and trying again while the sink is busy. A batch submitted is seen
// through even if ctx ends meanwhile (the sink takes a batch in milliseconds): acknowledged, its
// lines are counted and the checkpoint can move past them, where an abandoned batch would be
// stored all the same and read again by the next pass. ctx stops the next batch, and the waits.
func (t *Tailer) submit(ctx context.Context, recs []pipeline.RawRecord) (pipeline.Result, error) {
	backoff := 20 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return pipeline.Result{}, err
		}
		res, err := t.cfg.Sink.Submit(context.WithoutCancel(ctx), recs)
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, pipeline.ErrBusy) {
			return res, pipeError{fmt.Errorf("submit transcript records: %w", err)}
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// line is one line read from a file.
type line struct {
	line     []byte // without the newline (and a carriage return before it); valid until next
	n        int64  // bytes consumed, newline included; 0 at the end
	oversize int64  // the line's size when over pipeline.MaxPayload (line is then nil)
	sum      [sha256.Size]byte
	// unfinished is set, with n == 0, when the section ends with a line without its newline.
	unfinished bool
}

// lineReader splits a file section into lines, holding at most pipeline.MaxPayload bytes of one.
type lineReader struct {
	r    *bufio.Reader
	long []byte // a line longer than the buffer, being gathered
	h    hash.Hash
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 256<<10)}
}

// next returns the next complete line, or n == 0 at the end. A last line without its newline is
// returned only if quiet (the file has stopped changing); otherwise it is left unconsumed.
func (lr *lineReader) next(quiet bool) (line, error) {
	var size int64 // bytes of the line so far
	var over bool  // over MaxPayload: hashing, not keeping
	lr.long = lr.long[:0]
	for {
		chunk, err := lr.r.ReadSlice('\n')
		size += int64(len(chunk))
		done := err == nil
		if !done && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
			return line{}, err
		}
		content := chunk
		if done {
			content = chunk[:len(chunk)-1]
		}
		switch {
		case over:
			lr.h.Write(content)
		case done && len(lr.long) == 0 && len(content) <= pipeline.MaxPayload:
			return line{line: trimCR(content), n: size}, nil
		case len(lr.long)+len(content) > pipeline.MaxPayload:
			over = true
			if lr.h == nil {
				lr.h = sha256.New()
			}
			lr.h.Reset()
			lr.h.Write(lr.long)
			lr.h.Write(content)
			lr.long = lr.long[:0]
		default:
			lr.long = append(lr.long, content...)
		}
		if done || errors.Is(err, io.EOF) {
			if !done && (size == 0 || !quiet) {
				return line{unfinished: size > 0}, nil // the end, or a last line still being written
			}
			if over {
				ln := line{n: size, oversize: size}
				if done {
					ln.oversize--
				}
				lr.h.Sum(ln.sum[:0])
				return ln, nil
			}
			return line{line: trimCR(lr.long), n: size}, nil
		}
	}
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}
