// Package atomicfile writes whole files atomically and durably: a reader, and the file system
// after a crash, sees either the old file or the new one whole, never a part of one. It is the one
// place Hangar writes a file that way (settings, plugin state, the price table, the install secret,
// the payload key, the login service).
//
// A write goes to a temporary file in the destination's folder (named after it, starting with a
// dot), which is synced, then renamed over the destination (github.com/google/renameio/v2), and
// then the folder is synced, so that the rename itself survives a crash. A failed write removes
// its temporary file and leaves the old file as it was.
//
// It is a leaf: it imports nothing of Hangar's, so that every package may use it. Its functions
// are safe for concurrent use; two concurrent writes of one path leave one of them whole.
package atomicfile

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/google/renameio/v2"
)

// Option changes what WriteFile does.
type Option func(*options)

type options struct {
	check func() error
}

// BeforeReplace runs check after the new content is written and synced and right before it
// replaces the file; an error from check refuses the write (the old file stays) and is returned.
// Use it to refuse replacing a file that changed since it was read.
func BeforeReplace(check func() error) Option {
	return func(o *options) { o.check = check }
}

// WriteFile writes data to path atomically, with exactly the permissions perm (the umask does not
// apply; an existing file's mode does not carry over). The folder must exist. path must not be a
// symbolic link to be kept: the rename replaces the link itself.
func WriteFile(path string, data []byte, perm fs.FileMode, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dir := filepath.Dir(path)
	t, err := renameio.NewPendingFile(path, renameio.WithTempDir(dir), renameio.WithStaticPermissions(perm))
	if err != nil {
		return err
	}
	defer t.Cleanup()
	if _, err := t.Write(data); err != nil {
		return err
	}
	if o.check != nil {
		// Sync first, so that the check runs as close to the rename as the write allows.
		if err := t.Sync(); err != nil {
			return err
		}
		if err := o.check(); err != nil {
			return err
		}
	}
	if err := t.CloseAtomicallyReplace(); err != nil {
		return err
	}
	return SyncDir(dir)
}

// Create writes data to path, which must not exist, with exactly the permissions perm: the file
// appears whole (a hard link to a synced temporary file), and if path exists, or appears
// meanwhile, Create fails with an error wrapping fs.ErrExist and leaves it alone, so that of two
// racing creators exactly one wins. On a file system without hard links it creates path
// exclusively instead, and a reader may then see it short until it is written.
func Create(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	t, err := renameio.NewPendingFile(path, renameio.WithTempDir(dir), renameio.WithStaticPermissions(perm))
	if err != nil {
		return err
	}
	defer t.Cleanup() // removes the temporary name; the link keeps the file
	if _, err := t.Write(data); err != nil {
		return err
	}
	if err := t.Sync(); err != nil {
		return err
	}
	if err := os.Link(t.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := createExclusive(path, data, perm); err != nil {
			return err
		}
	}
	return SyncDir(dir)
}

// createExclusive creates path, which must not exist, with perm, and writes and syncs data.
func createExclusive(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDir syncs the folder dir, so that a file created, renamed or removed in it stays so after a
// crash. A file system that cannot sync a folder (it answers EINVAL) is not an error: there is
// nothing more to do on it.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// ErrNotRegular is the error ReadPrivate wraps for a path that is not a regular file.
var ErrNotRegular = errors.New("atomicfile: not a regular file")

// ReadPrivate reads at most limit bytes of the secret file at path, first making it 0600 if others
// could read it (on Windows, where modes do not apply, it is left as it is). A missing file is an
// error wrapping fs.ErrNotExist, one that is not a regular file an error wrapping ErrNotRegular;
// other errors are those of the file system, unwrapped, for the caller to name its operation.
func ReadPrivate(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrNotRegular, path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return nil, fmt.Errorf("%s is readable by others and cannot be made 0600: %w", path, err)
		}
	}
	return io.ReadAll(io.LimitReader(f, limit))
}

// CreateRandom creates the secret file path, which must not exist, holding n random bytes, mode
// 0600, in a folder created 0700 if missing, and returns the bytes. It writes as Create does: the
// file appears whole, and if path exists or appears meanwhile it fails with an error wrapping
// fs.ErrExist, so that of two racing creators exactly one wins.
func CreateRandom(path string, n int) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		return nil, err
	}
	if err := Create(path, data, 0o600); err != nil {
		return nil, err
	}
	return data, nil
}
