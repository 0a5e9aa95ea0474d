//go:build unix

package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hangar-dev/hangar/store/atomicfile"
	"github.com/hangar-dev/hangar/store/seal"
)

// Spool keeps raw records on disk while the daemon cannot take them. Hook processes append frames
// (see AppendSealedFrame) to one active file, each append under an exclusive flock and fsynced, so
// many hooks can append at once. The daemon drains the spool: it renames the active file aside
// under the same lock, feeds its records to the intake, and deletes it once they are durable in
// the store. Records keep their ids, so draining a file twice stores nothing twice.
//
// Payloads rest sealed under the data directory's payload key (package store/seal): a spool
// without a key refuses to append, rather than write a payload in the clear. Spool files are mode
// 0600 in a 0700 directory. Frames of an earlier build, whose payloads are in the clear, still
// drain.
type Spool struct {
	dir string
	key *seal.Key
}

const (
	spoolActive   = "active.spool"
	spoolDraining = ".draining"
	// spoolChunk is how many records one call of a Drain callback gets.
	spoolChunk = 256
)

// ErrNoKey means a spool has no payload key to seal with: it never appends a payload in the clear.
var ErrNoKey = errors.New("pipeline: the spool has no payload key")

// NewSpool returns the spool in dir, sealing and opening payloads with key; the directory is
// created on first append. With a nil key, Append fails (ErrNoKey) and sealed frames drain as
// records that cannot be opened.
func NewSpool(dir string, key *seal.Key) *Spool { return &Spool{dir: dir, key: key} }

// Dir returns the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// Append adds rec to the spool durably, its payload sealed: when it returns nil, the record
// survives a crash.
func (s *Spool) Append(rec *RawRecord) error {
	return s.AppendAll([]RawRecord{*rec})
}

// AppendAll adds recs to the spool durably, as Append does, under one lock and one fsync.
func (s *Spool) AppendAll(recs []RawRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if s.key == nil {
		return fmt.Errorf("spool record: %w", ErrNoKey)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("spool record: %w", err)
	}
	var frame []byte
	for i := range recs {
		frame = AppendSealedFrame(frame, &recs[i], s.key)
	}
	path := filepath.Join(s.dir, spoolActive)
	for attempt := 0; attempt < 100; attempt++ {
		ok, err := appendLocked(path, frame)
		if err != nil {
			return fmt.Errorf("spool record: %w", err)
		}
		if ok {
			return nil
		}
		// The daemon renamed the file between our open and our lock: open the new one.
	}
	return fmt.Errorf("spool record: %s kept being renamed", path)
}

// appendLocked appends frame to the file at path while holding its lock, unless the file was
// renamed away before the lock was taken (then it reports false).
func appendLocked(path string, frame []byte) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_EX); err != nil {
		return false, fmt.Errorf("lock %s: %w", path, err)
	}
	held, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !os.SameFile(held, now)) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := f.Write(frame); err != nil {
		return false, fmt.Errorf("append to %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("sync %s: %w", path, err)
	}
	if held.Size() == 0 {
		// A new file: make its directory entry durable too.
		if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
			return false, err
		}
	}
	return true, nil
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// Pending reports whether the spool holds anything to drain.
func (s *Spool) Pending() bool {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.Name() == spoolActive || strings.HasSuffix(e.Name(), spoolDraining) {
			if info, err := e.Info(); err == nil && info.Size() > 0 {
				return true
			}
		}
	}
	return false
}

// DrainStats says what a Drain did.
type DrainStats struct {
	// Records is how many records were handed over.
	Records int
	// Unopened counts the records among them whose sealed payload could not be opened (see
	// RawRecord.Unopened).
	Unopened int
	// Files is how many spool files were drained and deleted.
	Files int
	// SkippedBytes counts bytes of torn or corrupt frames that were passed over. A torn frame
	// comes from a hook killed mid-append, before it was acknowledged.
	SkippedBytes int
}

// Drain hands every spooled record to fn, in chunks, oldest file first, and deletes each file
// once fn has accepted all of its records. If fn fails, the file stays for the next Drain, and
// records of it that fn already accepted are handed over again then (fn must be idempotent; the
// intake is, by record id). fn must not keep recs after it returns: the slice is reused.
//
// Payloads are handed over opened. A record whose payload cannot be opened (sealed under another
// key, or with no key) is handed over still sealed, with Unopened saying why: the intake
// dead-letters it as it is, so that it is neither lost nor opened by anyone without the key.
func (s *Spool) Drain(fn func(recs []RawRecord) error) (DrainStats, error) {
	var st DrainStats
	if err := s.rotate(); err != nil {
		return st, fmt.Errorf("drain spool: %w", err)
	}
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("drain spool: %w", err)
	}
	var files []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), spoolDraining) {
			files = append(files, e.Name())
		}
	}
	slices.Sort(files) // names are zero-padded times: oldest first
	for _, name := range files {
		path := filepath.Join(s.dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return st, fmt.Errorf("drain spool: %w", err)
		}
		chunk := make([]RawRecord, 0, spoolChunk)
		flush := func() error {
			if len(chunk) == 0 {
				return nil
			}
			if err := fn(chunk); err != nil {
				return err
			}
			st.Records += len(chunk)
			chunk = chunk[:0]
			return nil
		}
		skipped, err := decodeFrames(data, true, true, func(rec RawRecord, sealed bool) error {
			rec.Source = "spool"
			if sealed {
				s.open(&rec)
				if rec.Unopened != nil {
					st.Unopened++
				}
			}
			chunk = append(chunk, rec)
			if len(chunk) == spoolChunk {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return st, fmt.Errorf("drain spool %s: %w", name, err)
		}
		st.SkippedBytes += skipped
		if err := os.Remove(path); err != nil {
			return st, fmt.Errorf("drain spool: %w", err)
		}
		st.Files++
	}
	if st.Files > 0 {
		if err := atomicfile.SyncDir(s.dir); err != nil {
			return st, fmt.Errorf("drain spool: %w", err)
		}
	}
	return st, nil
}

// open opens the sealed payload of rec in place, or sets rec.Unopened.
func (s *Spool) open(rec *RawRecord) {
	if s.key == nil {
		rec.Unopened = ErrNoKey
		return
	}
	p, err := s.key.Open(nil, rec.Payload, rec.ID[:])
	if err != nil {
		rec.Unopened = err
		return
	}
	rec.Payload = p
}

// rotate renames the active file aside, under its lock, so that appends go to a new file.
func (s *Spool) rotate() error {
	path := filepath.Join(s.dir, spoolActive)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.Size() == 0 {
		return nil
	}
	aside := filepath.Join(s.dir, fmt.Sprintf("%020d%s", time.Now().UnixNano(), spoolDraining))
	if err := os.Rename(path, aside); err != nil {
		return err
	}
	return atomicfile.SyncDir(s.dir)
}
