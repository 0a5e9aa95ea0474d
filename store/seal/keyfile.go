package seal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/hangar-dev/hangar/store/atomicfile"
)

// KeyName is the payload key's file in the data directory: KeyLen random bytes, mode 0600. It is
// not the install secret (which plugins' salts derive from) and is never written to the store.
const KeyName = "payload.key"

// shortReadTries bounds how often Load reads a file shorter than a key again, waiting for a
// creator still writing it (only on a file system without hard links, see create).
const shortReadTries = 20

// LoadOrCreate returns the payload key kept in the file at path, creating it on first use in a
// folder created 0700 if missing. Both the daemon and a hook (spooling while the daemon is down)
// call it, and may race to create the file: each writes a key aside (0600, synced) and links it
// into place, which never replaces an existing file, so exactly one key wins, whole, and every
// racer reads back and returns that one. A file that exists but is not a key (its size, its type)
// is an error wrapping ErrBadKey, never replaced here: payloads sealed under it would be lost (see
// Renew). A file readable by others is made 0600.
func LoadOrCreate(path string) (*Key, error) {
	for range 3 {
		k, err := Load(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return k, err
		}
		if err := create(path); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		// Ours or a racer's: read back whichever won.
	}
	return nil, fmt.Errorf("load payload key %s: it keeps appearing and disappearing", path)
}

// Load returns the payload key in the file at path. A missing file is an error wrapping
// fs.ErrNotExist; a file that is not a key, one wrapping ErrBadKey, naming the problem.
func Load(path string) (*Key, error) {
	for try := 0; ; try++ {
		raw, err := readKeyFile(path)
		if err != nil {
			return nil, err
		}
		if len(raw) < KeyLen && try < shortReadTries {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if len(raw) < KeyLen {
			return nil, fmt.Errorf("load payload key: %w: %s holds %d bytes, want %d", ErrBadKey, path, len(raw), KeyLen)
		}
		return NewKey(raw)
	}
}

// readKeyFile reads a key file, making it 0600 if others could read it. A file longer than a key
// is an error; a shorter one is returned as it is.
func readKeyFile(path string) ([]byte, error) {
	raw, err := atomicfile.ReadPrivate(path, KeyLen+1)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, err
	case errors.Is(err, atomicfile.ErrNotRegular):
		return nil, fmt.Errorf("load payload key: %w: %s is not a regular file", ErrBadKey, path)
	case err != nil:
		return nil, fmt.Errorf("load payload key: %w", err)
	}
	if len(raw) > KeyLen {
		return nil, fmt.Errorf("load payload key: %w: %s holds more than %d bytes, want %d", ErrBadKey, path, KeyLen, KeyLen)
	}
	return raw, nil
}

// create writes a new key to path, or fails with an error wrapping fs.ErrExist if there is one.
// It is written aside and linked into place (atomicfile.CreateRandom): a link never replaces an
// existing file (a rename would: two racers would each think their key won), and the file appears
// whole. Without hard links the file is created exclusively instead, and a reader may see it
// short until it is written; Load waits for that.
func create(path string) error {
	_, err := atomicfile.CreateRandom(path, KeyLen)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create payload key: %w", err)
	}
	return err
}

// Renew sets the key file at path aside, as path.bad-<unix nanoseconds>, and creates a new key
// in its place. It is for a file Load refused (ErrBadKey): payloads sealed under the old key stay
// sealed under it (their key id says which), and opening them fails with ErrOtherKey until the
// user puts the old key back. Only the daemon calls it, holding the data directory's lock, so no
// two renewals race; a hook that spools meanwhile creates or reads the new key through
// LoadOrCreate. It returns the new key and where the old file went.
func Renew(path string) (*Key, string, error) {
	aside := fmt.Sprintf("%s.bad-%d", path, time.Now().UnixNano())
	if err := os.Rename(path, aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("set the payload key aside: %w", err)
	}
	k, err := LoadOrCreate(path)
	if err != nil {
		return nil, aside, err
	}
	return k, aside, nil
}
