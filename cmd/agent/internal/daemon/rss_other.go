//go:build !linux

package daemon

import "runtime"

// residentBytes approximates the resident set size by the memory the Go runtime holds.
func residentBytes() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Sys
}
