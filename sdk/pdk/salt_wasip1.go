//go:build wasip1

package pdk

import "bytes"

// The salt host function, in the "hangar" module (host/salt.go).

//go:wasmimport hangar salt
func hostSalt() uint64

// salt is the plugin's salt, once read from the host. An instance serves one call at a time, so
// it needs no lock.
var salt []byte

// Salt returns the plugin's salt: 32 secret bytes that stay the same for this plugin on this
// install, and differ between plugins and between installs (the host derives them from the
// install's secret and the plugin's name). Key a hash with it, such as HMAC-SHA256, to emit values
// that can be compared within an install but not guessed from outside it; WASM's own randomness
// is not secret. It needs no capability. The host is asked once per instance; each call returns a
// new copy. A host without an install secret traps the plugin: the call fails.
func Salt() []byte {
	if salt == nil {
		salt = load(hostSalt())
	}
	return bytes.Clone(salt)
}
