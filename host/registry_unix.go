//go:build unix

package host

import (
	"os"
	"syscall"
)

// lockRegistry takes an exclusive lock on path (created 0600) and returns its release.
func lockRegistry(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
