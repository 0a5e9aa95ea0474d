//go:build unix

package transcripts

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestUnreadable(t *testing.T) {
	t.Run("permissions", func(t *testing.T) {
		if os.Geteuid() == 0 {
			// Root reads a file of mode 000 anyway. A link to a file not there yet fails to open
			// too, and so is reported and skipped (by the scan, which finds it), then read once it resolves. (The mode
			// 000 case itself runs as an unprivileged user in cmd/agent's TestTranscriptBadInput.)
			e := newEnv(t, Config{})
			e.write("p/b.jsonl", "{\"b\":1}\n")
			if err := os.Symlink("a.txt", e.path("p/a.jsonl")); err != nil {
				t.Fatal(err)
			}
			wantPayloads(t, e.sync(), `{"b":1}`)
			if len(e.probs) != 1 || !strings.HasPrefix(e.probs[0], "p/a.jsonl: ") || !strings.Contains(e.probs[0], "no such file") {
				t.Errorf("reported %q, want p/a.jsonl, no such file", e.probs)
			}
			e.write("p/a.txt", "{\"a\":1}\n")
			wantPayloads(t, e.sync(), `{"a":1}`)
			return
		}
		e := newEnv(t, Config{})
		e.write("p/a.jsonl", "{\"a\":1}\n")
		e.write("p/b.jsonl", "{\"b\":1}\n")
		e.write("q/c.jsonl", "{\"c\":1}\n")
		if err := os.Chmod(e.path("p/a.jsonl"), 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(e.path("q"), 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(e.path("q"), 0o755) })
		wantPayloads(t, e.sync(), `{"b":1}`)
		if len(e.probs) != 2 || !strings.Contains(strings.Join(e.probs, "\n"), "permission denied") {
			t.Errorf("reported %q, want p/a.jsonl and q, permission denied", e.probs)
		}
		if n := e.stats.Failed.Load(); n != 1 {
			t.Errorf("failed = %d, want 1", n)
		}
		// Readable again: read then, and the checkpoint of the file kept meanwhile.
		os.Chmod(e.path("p/a.jsonl"), 0o644)
		os.Chmod(e.path("q"), 0o755)
		wantPayloads(t, e.sync(), `{"a":1}`, `{"c":1}`)
	})
	t.Run("not a regular file", func(t *testing.T) {
		e := newEnv(t, Config{})
		e.write("p/b.jsonl", "{\"b\":1}\n")
		if err := syscall.Mkfifo(e.path("p/a.jsonl"), 0o644); err != nil {
			t.Fatalf("mkfifo: %v", err)
		}
		wantPayloads(t, e.sync(), `{"b":1}`)
		if len(e.probs) != 1 || !strings.HasPrefix(e.probs[0], "p/a.jsonl: not a regular file") {
			t.Errorf("reported %q", e.probs)
		}
		// Named by a notification, it is refused without being opened (which would block).
		if err := e.tl.SyncFile(context.Background(), File{Path: e.path("p/a.jsonl"), Root: e.root, Name: "p/a.jsonl"}, &e.stats); err != nil {
			t.Fatal(err)
		}
		if n := e.stats.Failed.Load(); n != 1 {
			t.Errorf("failed = %d, want 1", n)
		}
	})
}
