//go:build !unix

package host

import "sync"

var registryMu sync.Mutex

// lockRegistry serializes changes within this process only; Hangar's daemon runs on Unix.
func lockRegistry(string) (func(), error) {
	registryMu.Lock()
	return registryMu.Unlock, nil
}
