package main

import (
	"bytes"
	"os"
	"runtime"
	"testing"
)

// TestIsTerminal: a pseudo-terminal is a terminal; /dev/null (a character device), a pipe, a
// regular file and a reader that is no file are not.
func TestIsTerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(t.TempDir() + "/f")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for name, in := range map[string]any{"/dev/null": null, "a pipe": r, "a file": file, "a bytes.Reader": bytes.NewReader(nil), "a nil *os.File": (*os.File)(nil)} {
		var got bool
		switch v := in.(type) {
		case *os.File:
			got = isTerminal(v)
		case *bytes.Reader:
			got = isTerminal(v)
		}
		if got {
			t.Errorf("isTerminal(%s) = true, want false", name)
		}
	}
	if runtime.GOOS != "linux" {
		return
	}
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	defer pty.Close()
	if !isTerminal(pty) {
		t.Errorf("isTerminal(/dev/ptmx) = false, want true")
	}
}
