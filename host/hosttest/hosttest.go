// Package hosttest provides what the tests of the host room share: the test plugins under
// host/testdata, built to WASM once per test binary, and the real Claude Code hook payloads of
// the shared fixtures (../shared/fixtures next to the module), in the manner of net/http/httptest.
//
// It imports nothing of Hangar, so that package host's own tests can use it as well as the
// packages over the host (pipeline/wasmstage, plugins).
package hosttest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/gjson"
)

// ModuleRoot returns the root of the module the test runs in: the nearest folder at or above the
// working directory (the package under test) that holds a go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// BuildPlugins compiles test plugins with the Go toolchain (GOOS=wasip1, c-shared), two at a
// time, into dir, and returns each module's bytes by name. srcs maps a plugin's name to its
// source folder under host/testdata (e.g. "loop": "adversarial/loop").
func BuildPlugins(dir string, srcs map[string]string) (map[string][]byte, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, fmt.Errorf("build test plugins: %w", err)
	}
	wasm := make(map[string][]byte, len(srcs))
	var mu sync.Mutex
	var errs []string
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for name, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out := filepath.Join(dir, name+".wasm")
			cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, "./host/testdata/"+src)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			msg, err := cmd.CombinedOutput()
			var b []byte
			if err == nil {
				b, err = os.ReadFile(out)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Sprintf("build %s: %v\n%s", name, err, msg))
				return
			}
			wasm[name] = b
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("build test plugins:\n%s", strings.Join(errs, "\n"))
	}
	return wasm, nil
}

// CacheEnv names a folder the tests of several packages and runs may share as wazero's compilation
// cache (.ci/run sets it): the same test plugin, compiled once for the whole run instead of once per
// test binary, and under the race detector at native compile speed, since compiled code does not
// depend on how the compiler was built. Compiled code is keyed by the module's hash and wazero's
// version, and written by rename.
const CacheEnv = "HANGAR_TEST_CACHE_DIR"

// CacheDir returns the folder named by CacheEnv, or fallback when it is unset.
func CacheDir(fallback string) string {
	if dir := os.Getenv(CacheEnv); dir != "" {
		return dir
	}
	return fallback
}

// HooksDir returns the folder of the shared Claude Code hook fixtures.
func HooksDir(t testing.TB) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "..", "shared", "fixtures", "claude-code", "hooks")
}

// HookPayloads returns the real Claude Code hook payloads of the shared fixtures, as they stand
// in the files: each file holds one payload or an array of them. It fails the test if there are
// fewer than 100.
func HookPayloads(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	err := filepath.WalkDir(HooksDir(t), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		r := gjson.ParseBytes(b)
		if !r.IsArray() {
			out = append(out, []byte(strings.TrimSpace(r.Raw)))
			return nil
		}
		r.ForEach(func(_, v gjson.Result) bool {
			out = append(out, []byte(v.Raw))
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 100 {
		t.Fatalf("%d fixture payloads, want at least 100", len(out))
	}
	return out
}

// Mutate returns a copy of p damaged at random, one to three times: a byte replaced by JSON
// punctuation (or a NUL, tab or newline), such a byte inserted, the rest cut off, or a bit
// flipped. It is how the tests try a JSON reader on input near the real thing without the
// fuzzing engine.
func Mutate(rng *rand.Rand, p []byte) []byte {
	const punct = `{}[]()":,\ ` + "\n\t\x00"
	p = []byte(string(p))
	for range 1 + rng.IntN(3) {
		if len(p) == 0 {
			break
		}
		k := rng.IntN(len(p))
		switch rng.IntN(4) {
		case 0:
			p[k] = punct[rng.IntN(len(punct))]
		case 1:
			p = append(p[:k], append([]byte{punct[rng.IntN(len(punct))]}, p[k:]...)...)
		case 2:
			p = p[:k]
		default:
			p[k] ^= byte(1 << rng.IntN(8))
		}
	}
	return p
}

// Buffer is a bytes.Buffer safe for concurrent use: a logger or a child process writes it while
// the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
