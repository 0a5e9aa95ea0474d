//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package main

import "io"

// isTerminal reports false: without a way to tell, install needs --yes.
func isTerminal(io.Reader) bool { return false }
