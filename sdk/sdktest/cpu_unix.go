//go:build unix

package sdktest

import (
	"syscall"
	"time"
)

// CPUTime returns the CPU time (user and system) the process has used, for the benchmarks that
// report a plugin's cost per record; 0 where it cannot be read.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
