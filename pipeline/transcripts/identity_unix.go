//go:build unix

package transcripts

import (
	"io/fs"
	"syscall"
)

// identity returns a file's device and inode numbers.
func identity(fi fs.FileInfo) (dev, ino uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return uint64(st.Dev), uint64(st.Ino), true // Dev is an int32 on darwin
}
