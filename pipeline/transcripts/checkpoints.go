package transcripts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar/store"
)

// StoreCheckpoints keeps a Tailer's checkpoints in a store, under the source Namespace. It is
// safe for concurrent use, and its swaps are atomic among all the writers of the process.
type StoreCheckpoints struct {
	St *store.Store
}

var _ Checkpoints = StoreCheckpoints{}

// List implements Checkpoints.
func (c StoreCheckpoints) List(_ context.Context, prefix string) (map[string]store.Checkpoint, error) {
	out := map[string]store.Checkpoint{}
	err := c.St.Checkpoints(Namespace, prefix, func(file string, cp store.Checkpoint) error {
		out[file] = cp
		return nil
	})
	return out, err
}

// Get implements Checkpoints.
func (c StoreCheckpoints) Get(_ context.Context, file string) (*store.Checkpoint, error) {
	cp, err := c.St.Checkpoint(Namespace, file)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &cp, nil
}

// Swap implements Checkpoints.
func (c StoreCheckpoints) Swap(_ context.Context, file string, from, to *store.Checkpoint) (bool, error) {
	return c.St.SwapCheckpoint(Namespace, file, from, to)
}

// HashedCheckpoints keeps checkpoints under keyed hashes of the files' paths instead of the paths,
// which name the user's projects and must not be at rest: a file's checkpoint is stored as
// HMAC(Key, root) "/" HMAC(Key, path), truncated, so a root's checkpoints stay listable by
// prefix. It remembers the paths it has been given in this process; a checkpoint List finds whose
// path it does not know (a file deleted before the process started) is listed under "\x00" and its
// stored name, which matches no file, so the tailer deletes it like any checkpoint of a vanished
// file. It is safe for concurrent use if Inner is.
type HashedCheckpoints struct {
	Inner Checkpoints
	// Key is the install secret; the same key must be used by every process of a data dir.
	Key []byte

	mu    sync.Mutex
	paths map[string]string // stored name → path
}

var _ Checkpoints = (*HashedCheckpoints)(nil)

// hashLen is how many hex digits of each HMAC a stored name keeps.
const hashLen = 32

// unknownPath starts the path List gives a checkpoint whose file it does not know, followed by
// the stored name. No file's path holds a NUL byte (and os.Lstat fails on one with EINVAL, not
// ErrNotExist): the Tailer takes such a path for a file that no longer exists.
const unknownPath = "\x00"

func (h *HashedCheckpoints) digest(s string) string {
	m := hmac.New(sha256.New, h.Key)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))[:hashLen]
}

// name returns the stored name of a path below its root, and remembers the path.
func (h *HashedCheckpoints) name(path string) string {
	if n, ok := strings.CutPrefix(path, unknownPath); ok {
		return n // a name List returned for an unknown path
	}
	root := rootOf(path)
	if root == "" {
		root = filepath.Dir(path)
	}
	n := h.digest(root) + "/" + h.digest(path)
	h.mu.Lock()
	if h.paths == nil {
		h.paths = map[string]string{}
	}
	h.paths[n] = path
	h.mu.Unlock()
	return n
}

// rootOf returns the projects folder a transcript path lies in: everything up to and including
// its last "projects" element, or "".
func rootOf(path string) string {
	parts := strings.Split(filepath.ToSlash(path), "/")
	for i := len(parts) - 2; i >= 0; i-- {
		if parts[i] == "projects" {
			return filepath.FromSlash(strings.Join(parts[:i+1], "/"))
		}
	}
	return ""
}

// Learn remembers the stored names of paths, so that List maps their checkpoints back to them.
func (h *HashedCheckpoints) Learn(paths []string) {
	for _, p := range paths {
		h.name(p)
	}
}

// List implements Checkpoints. prefix must be a root followed by a path separator, as the Tailer
// asks.
func (h *HashedCheckpoints) List(ctx context.Context, prefix string) (map[string]store.Checkpoint, error) {
	root := strings.TrimSuffix(prefix, string(filepath.Separator))
	cps, err := h.Inner.List(ctx, h.digest(root)+"/")
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.Checkpoint, len(cps))
	h.mu.Lock()
	defer h.mu.Unlock()
	for n, cp := range cps {
		if p, ok := h.paths[n]; ok {
			out[p] = cp
		} else {
			out[unknownPath+n] = cp
		}
	}
	return out, nil
}

// Get implements Checkpoints.
func (h *HashedCheckpoints) Get(ctx context.Context, file string) (*store.Checkpoint, error) {
	return h.Inner.Get(ctx, h.name(file))
}

// Swap implements Checkpoints.
func (h *HashedCheckpoints) Swap(ctx context.Context, file string, from, to *store.Checkpoint) (bool, error) {
	return h.Inner.Swap(ctx, h.name(file), from, to)
}
