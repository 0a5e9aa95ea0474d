package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Checkpoints remember how far a tailer has read each file it follows (Claude Code transcripts,
// pipeline/transcripts), so that it resumes there after a restart instead of sending everything
// again. They are keyed by source and file (keyspace k, see docs/ARCHITECTURE.md), the value
// encoded by appendCheckpoint.
//
// source names the tailer ("claude-code-transcript"), file is the name the tailer gives the file
// (pipeline/transcripts gives keyed hashes of its path, never the path). A tailer writes a
// checkpoint only once the records before its offset are durable, so a crash resends, never skips.
// Writes are serialized by the store's checkpointMu so that SwapCheckpoint is a compare-and-swap
// between every writer of the store (the daemon's tailer and `agent import` talking to it), and
// durable when they return. One process opens a store at a time, so that is every writer.

// prefixCheckpoint is the checkpoints' keyspace.
const prefixCheckpoint = 'k'

// checkpointVersion is the first byte of an encoded checkpoint.
const checkpointVersion = 1

// Checkpoint is a tailer's position in one file, with what identifies the file it was taken in.
type Checkpoint struct {
	// Dev and Ino are the file's device and inode numbers: a file replaced under the same name
	// has other ones.
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
	// Size is the file's size when the checkpoint was taken.
	Size int64 `json:"size"`
	// HeadLen is how many leading bytes of the file Head hashes (at most 64; fewer in a smaller
	// file), and Head their hash: a file rewritten in place has another head.
	HeadLen int    `json:"head_len"`
	Head    uint64 `json:"head"`
	// Offset is the offset of the next unread byte: everything before it has been taken.
	Offset int64 `json:"offset"`
	// Updated is when the checkpoint was written.
	Updated time.Time `json:"updated,omitzero"`
}

// ErrCheckpoint is wrapped by the errors of checkpoint writes with a bad source or file name.
var ErrCheckpoint = errors.New("store: bad checkpoint name")

func checkpointPrefix(source string) []byte {
	k := make([]byte, 0, len(source)+2)
	k = append(k, prefixCheckpoint)
	k = append(k, source...)
	return append(k, 0)
}

func checkpointKey(source, file string) []byte {
	return append(checkpointPrefix(source), file...)
}

func checkCheckpointName(source, file string) error {
	switch {
	case source == "" || strings.IndexByte(source, 0) >= 0:
		return fmt.Errorf("%w: source %q", ErrCheckpoint, source)
	case file == "" || strings.IndexByte(file, 0) >= 0:
		return fmt.Errorf("%w: file %q", ErrCheckpoint, file)
	}
	return nil
}

// appendCheckpoint encodes cp: version (1) | dev, ino (uvarint) | size (varint) | head length
// (uvarint) | head (8, big-endian) | offset (varint) | updated (varint Unix ns, 0 if zero).
func appendCheckpoint(b []byte, cp *Checkpoint) []byte {
	b = append(b, checkpointVersion)
	b = binary.AppendUvarint(b, cp.Dev)
	b = binary.AppendUvarint(b, cp.Ino)
	b = binary.AppendVarint(b, cp.Size)
	b = binary.AppendUvarint(b, uint64(max(cp.HeadLen, 0)))
	b = binary.BigEndian.AppendUint64(b, cp.Head)
	b = binary.AppendVarint(b, cp.Offset)
	var ns int64
	if !cp.Updated.IsZero() {
		ns = cp.Updated.UnixNano()
	}
	return binary.AppendVarint(b, ns)
}

func decodeCheckpoint(v []byte) (Checkpoint, error) {
	var cp Checkpoint
	if len(v) == 0 || v[0] != checkpointVersion {
		return cp, errors.New("decode checkpoint: unknown version")
	}
	r := bytes.NewReader(v[1:])
	var err error
	uv := func() uint64 {
		if err != nil {
			return 0
		}
		var x uint64
		x, err = binary.ReadUvarint(r)
		return x
	}
	sv := func() int64 {
		if err != nil {
			return 0
		}
		var x int64
		x, err = binary.ReadVarint(r)
		return x
	}
	cp.Dev, cp.Ino, cp.Size = uv(), uv(), sv()
	headLen := uv()
	var head [8]byte
	if err == nil {
		_, err = r.Read(head[:])
	}
	cp.Head = binary.BigEndian.Uint64(head[:])
	cp.Offset = sv()
	ns := sv()
	if err != nil || r.Len() != 0 || headLen > 1<<20 {
		return Checkpoint{}, errors.New("decode checkpoint: corrupt")
	}
	cp.HeadLen = int(headLen)
	if ns != 0 {
		cp.Updated = time.Unix(0, ns).UTC()
	}
	return cp, nil
}

// Checkpoint returns the checkpoint of a file, or an error wrapping ErrNotFound.
func (s *Store) Checkpoint(source, file string) (Checkpoint, error) {
	if s.closed.Load() {
		return Checkpoint{}, fmt.Errorf("read checkpoint: %w", ErrClosed)
	}
	return s.getCheckpoint(source, file)
}

func (s *Store) getCheckpoint(source, file string) (Checkpoint, error) {
	v, closer, err := s.db.Get(checkpointKey(source, file))
	if errors.Is(err, pebble.ErrNotFound) {
		return Checkpoint{}, fmt.Errorf("read checkpoint of %s: %w", file, ErrNotFound)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read checkpoint of %s: %w", file, err)
	}
	defer closer.Close()
	cp, err := decodeCheckpoint(v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read checkpoint of %s: %w", file, err)
	}
	return cp, nil
}

// Checkpoints calls fn, in file order, for the checkpoints of a source whose file name starts
// with prefix ("" for all). A checkpoint that does not decode is an error.
func (s *Store) Checkpoints(source, prefix string, fn func(file string, cp Checkpoint) error) error {
	if s.closed.Load() {
		return fmt.Errorf("list checkpoints: %w", ErrClosed)
	}
	p := checkpointPrefix(source)
	lower := append(bytes.Clone(p), prefix...)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return fmt.Errorf("list checkpoints: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		file := string(it.Key()[len(p):])
		cp, err := decodeCheckpoint(it.Value())
		if err != nil {
			return fmt.Errorf("list checkpoints: %s: %w", file, err)
		}
		if err := fn(file, cp); err != nil {
			return err
		}
	}
	return it.Error()
}

// PutCheckpoint writes the checkpoint of a file, durably.
func (s *Store) PutCheckpoint(source, file string, cp Checkpoint) error {
	_, err := s.writeCheckpoint(source, file, false, nil, &cp)
	return err
}

// DeleteCheckpoint deletes the checkpoint of a file, durably. Deleting a missing one is no error.
func (s *Store) DeleteCheckpoint(source, file string) error {
	_, err := s.writeCheckpoint(source, file, false, nil, nil)
	return err
}

// SwapCheckpoint replaces the checkpoint of a file with to (nil deletes it) if the stored one is
// from (nil: none is stored), and reports whether it did: a compare-and-swap among the writers of
// this process. Checkpoints compare equal when every field but Updated does. The write is synced.
func (s *Store) SwapCheckpoint(source, file string, from, to *Checkpoint) (bool, error) {
	return s.writeCheckpoint(source, file, true, from, to)
}

// writeCheckpoint writes to (nil: deletes) as the checkpoint of a file; with cas, only if the
// stored one is from. The compare and the write happen under s.checkpointMu, unsynced; the WAL sync
// that makes the write durable happens after, so that concurrent writers share syncs. A reader may
// see a checkpoint a moment before it is durable, and a crash then may lose it: a checkpoint that
// goes back is safe (its file is read again from further back), and the WAL keeps writes in order.
func (s *Store) writeCheckpoint(source, file string, cas bool, from, to *Checkpoint) (bool, error) {
	if err := checkCheckpointName(source, file); err != nil {
		return false, fmt.Errorf("write checkpoint: %w", err)
	}
	ok, err := s.setCheckpoint(source, file, cas, from, to)
	if err != nil || !ok {
		return ok, err
	}
	if s.closed.Load() {
		return false, fmt.Errorf("write checkpoint: %w", ErrClosed)
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return false, fmt.Errorf("write checkpoint of %s: sync: %w", file, err)
	}
	return true, nil
}

// setCheckpoint is writeCheckpoint's compare and unsynced write.
func (s *Store) setCheckpoint(source, file string, cas bool, from, to *Checkpoint) (bool, error) {
	s.checkpointMu.Lock()
	defer s.checkpointMu.Unlock()
	if s.closed.Load() {
		return false, fmt.Errorf("write checkpoint: %w", ErrClosed)
	}
	if cas {
		cur, err := s.getCheckpoint(source, file)
		switch {
		case errors.Is(err, ErrNotFound):
			if from != nil {
				return false, nil
			}
		case err != nil:
			return false, fmt.Errorf("write checkpoint: %w", err)
		default:
			if from == nil || !sameCheckpoint(cur, *from) {
				return false, nil
			}
		}
	}
	key := checkpointKey(source, file)
	var err error
	if to == nil {
		err = s.db.Delete(key, pebble.NoSync)
	} else {
		cp := *to
		if cp.Updated.IsZero() {
			cp.Updated = time.Now().UTC()
		}
		err = s.db.Set(key, appendCheckpoint(nil, &cp), pebble.NoSync)
	}
	if err != nil {
		return false, fmt.Errorf("write checkpoint of %s: %w", file, err)
	}
	return true, nil
}

// sameCheckpoint compares checkpoints but for when they were written.
func sameCheckpoint(a, b Checkpoint) bool {
	a.Updated, b.Updated = time.Time{}, time.Time{}
	return a == b
}
