//go:build wasip1

package pdk

import (
	"errors"
	"unsafe"
)

// The fs:read host functions, in the "hangar" module (host/fsread.go). A plugin has no other
// access to files: WASI gives it no directories.

//go:wasmimport hangar fs_read
func hostFSRead(path, offset, maxLen uint64) uint64

//go:wasmimport hangar fs_stat
func hostFSStat(path uint64) uint64

// MaxRead is the most bytes one ReadFile returns; the host caps a larger max to it.
const MaxRead = 1 << 20

// ReadFile returns up to max bytes (at most MaxRead) of the file at path, from byte offset on,
// and none at or after its end (capability "fs:read:<glob>"). It may return fewer bytes than
// max before the end: read on from offset+len until it returns none.
//
// path must be absolute, or "~/…" in the user's home directory, and clean (no "..", no "//", no
// trailing "/"); it and the file it resolves to through symlinks must match one of the plugin's
// fs:read globs, and it must be a regular file. A path that breaks a rule, a missing file, or an
// I/O error traps the plugin: the host fails the whole call and says why (a refusal is audited).
// The error is only for a negative offset or max, caught before asking the host.
func ReadFile(path string, offset int64, max int) ([]byte, error) {
	if offset < 0 || max < 0 {
		return nil, errors.New("pdk: read file: negative offset or max")
	}
	p := storeString(path)
	b := load(hostFSRead(p, uint64(offset), uint64(max)))
	extismFree(p)
	return b, nil
}

// StatFile returns the size in bytes of the file at path, and false if there is no such file
// (capability "fs:read:<glob>"), so that a plugin can tail a file or notice a database changed.
// path follows ReadFile's rules; breaking one traps the plugin, as there.
func StatFile(path string) (size int64, ok bool) {
	p := storeString(path)
	n := int64(hostFSStat(p))
	extismFree(p)
	if n < 0 {
		return 0, false
	}
	return n, true
}

// storeString copies s into Extism's memory, as store does, and returns its offset.
func storeString(s string) uint64 { return store(unsafe.Slice(unsafe.StringData(s), len(s))) }
