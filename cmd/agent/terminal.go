package main

import (
	"io"
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether r is a terminal: a file with terminal attributes (/dev/null, a
// character device too, is not one). Where that cannot be told, it is not, and install and
// plugins install then need --yes.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && f != nil && term.IsTerminal(int(f.Fd()))
}
