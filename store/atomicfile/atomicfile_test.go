package atomicfile_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/store/atomicfile"
)

// TestWriteFileReaderSeesWholeFiles rewrites a file over and over between two contents of 256 KiB
// while readers read it: every read sees one of them whole, never a part, a mix or an empty file.
// (os.WriteFile, which truncates then writes, fails this within a few rounds.)
func TestWriteFileReaderSeesWholeFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	contents := [][]byte{bytes.Repeat([]byte("a"), 256<<10), bytes.Repeat([]byte("b"), 256<<10)}
	if err := atomicfile.WriteFile(path, contents[0], 0o600); err != nil {
		t.Fatal(err)
	}
	// At most 200 writes, and no more than 10 s of them on a loaded machine.
	deadline := time.Now().Add(10 * time.Second)
	done := make(chan struct{})
	var reads, bad int
	var badErr error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := os.ReadFile(path)
				mu.Lock()
				reads++
				if err != nil || !(bytes.Equal(got, contents[0]) || bytes.Equal(got, contents[1])) {
					bad++
					if badErr == nil {
						badErr = fmt.Errorf("read %d bytes (%v), want one of the two contents whole", len(got), err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	writes := 0
	for ; writes < 200 && time.Now().Before(deadline); writes++ {
		if err := atomicfile.WriteFile(path, contents[(writes+1)%2], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d of %d reads saw a partial file: %v", bad, reads, badErr)
	}
	if writes < 20 || reads < 20 {
		t.Errorf("%d reads during %d writes: too few to tell", reads, writes)
	}
	checkOnly(t, filepath.Dir(path), "state.json")
}

// TestWriteFileFailureKeepsOld: a write refused before it replaces the file (by BeforeReplace, or
// because the folder is gone) leaves the old file as it was and no temporary file behind.
func TestWriteFileFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "settings.json")
	old := []byte(`{"model": "opus"}`)
	if err := os.WriteFile(path, old, 0o640); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("it changed meanwhile")
	checked := false
	err := atomicfile.WriteFile(path, []byte(`{}`), 0o600, atomicfile.BeforeReplace(func() error {
		checked = true
		// The new content is in a temporary file beside the old one, already written.
		entries, _ := os.ReadDir(dir)
		if len(entries) != 2 {
			t.Errorf("during the check the folder holds %d files, want the old and the temporary one", len(entries))
		}
		return refused
	}))
	if !checked || !errors.Is(err, refused) {
		t.Fatalf("WriteFile with a refusing check: checked %v, err %v; want the check's error", checked, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
		t.Errorf("after a refused write the file holds %q, want %q", got, old)
	}
	if m := mode(t, path); m != 0o640 {
		t.Errorf("after a refused write the mode is %v, want 0640", m)
	}
	checkOnly(t, dir, "settings.json")

	if err := atomicfile.WriteFile(filepath.Join(dir, "missing", "x.json"), old, 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFile into a missing folder: %v, want not exist", err)
	}
	checkOnly(t, dir, "settings.json")

	// A check that passes lets the write through.
	if err := atomicfile.WriteFile(path, []byte(`{}`), 0o600, atomicfile.BeforeReplace(func() error { return nil })); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != `{}` {
		t.Errorf("after a checked write the file holds %q", got)
	}
}

// TestWriteFilePermissions: the file gets exactly the permissions asked for, whatever the umask
// and whatever the mode of the file it replaces.
func TestWriteFilePermissions(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	tests := []struct {
		name     string
		existing fs.FileMode // 0: no file before
		perm     fs.FileMode
	}{
		{"new private", 0, 0o600},
		{"new shared, umask 077", 0, 0o644},
		{"replace 0600 with 0644", 0o600, 0o644},
		{"replace 0644 with 0600", 0o644, 0o600},
		{"replace 0640 keeping it", 0o640, 0o640},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("f%d", i))
			if tc.existing != 0 {
				if err := os.WriteFile(path, []byte("old"), tc.existing); err != nil {
					t.Fatal(err)
				}
				os.Chmod(path, tc.existing)
			}
			if err := atomicfile.WriteFile(path, []byte("new"), tc.perm); err != nil {
				t.Fatal(err)
			}
			if got := mode(t, path); got != tc.perm {
				t.Errorf("mode %v, want %v", got, tc.perm)
			}
			if got, _ := os.ReadFile(path); string(got) != "new" {
				t.Errorf("content %q, want new", got)
			}
		})
	}
}

// TestCreate: Create makes a new file whole with its permissions, refuses an existing one
// (fs.ErrExist, the file untouched), and of many racing creators exactly one wins.
func TestCreate(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := atomicfile.Create(path, []byte("first"), 0o640); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, path); m != 0o640 {
		t.Errorf("mode %v, want 0640", m)
	}
	if err := atomicfile.Create(path, []byte("second"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over an existing file: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "first" {
		t.Errorf("the existing file holds %q, want first", got)
	}
	checkOnly(t, dir, "secret")

	race := filepath.Join(dir, "raced")
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = atomicfile.Create(race, bytes.Repeat([]byte{byte('a' + i)}, 4096), 0o600)
		}()
	}
	wg.Wait()
	winners := 0
	var winner int
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			winner = i
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("creator %d: %v, want success or fs.ErrExist", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d creators won, want exactly 1", winners)
	}
	if got, _ := os.ReadFile(race); !bytes.Equal(got, bytes.Repeat([]byte{byte('a' + winner)}, 4096)) {
		t.Errorf("the file holds %d bytes that are not the winner's whole", len(got))
	}
	checkOnly(t, dir, "raced", "secret")
}

func TestSyncDir(t *testing.T) {
	if err := atomicfile.SyncDir(t.TempDir()); err != nil {
		t.Errorf("SyncDir of a folder: %v", err)
	}
	if err := atomicfile.SyncDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncDir of a missing folder: %v, want not exist", err)
	}
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

// checkOnly checks that dir holds exactly names: no temporary file was left behind.
func checkOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if fmt.Sprint(got) != fmt.Sprint(names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

// TestCreateRandomReadPrivate: CreateRandom makes the folder 0700 and a file of n random bytes
// 0600, refuses an existing file with fs.ErrExist, and ReadPrivate reads it back, making a file
// others could read 0600 and refusing what is not a regular file.
func TestCreateRandomReadPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secret")
	data, err := atomicfile.CreateRandom(path, 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 32 || bytes.Equal(data, make([]byte, 32)) {
		t.Fatalf("created %x, want 32 random bytes", data)
	}
	if _, err := atomicfile.CreateRandom(path, 32); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateRandom over an existing file: got %v, want fs.ErrExist", err)
	}
	got, err := atomicfile.ReadPrivate(path, 33)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("ReadPrivate: got %x, %v, want %x", got, err, data)
	}
	if got, err := atomicfile.ReadPrivate(path, 4); err != nil || !bytes.Equal(got, data[:4]) {
		t.Errorf("ReadPrivate limited to 4: got %x, %v, want %x", got, err, data[:4])
	}
	if runtime.GOOS != "windows" {
		if got := mode(t, filepath.Dir(path)); got != 0o700 {
			t.Errorf("folder mode: got %v, want 0700", got)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := atomicfile.ReadPrivate(path, 33); err != nil {
			t.Fatal(err)
		}
		if got := mode(t, path); got != 0o600 {
			t.Errorf("mode after ReadPrivate: got %v, want 0600", got)
		}
	}
	if _, err := atomicfile.ReadPrivate(filepath.Dir(path), 33); !errors.Is(err, atomicfile.ErrNotRegular) {
		t.Errorf("ReadPrivate of a folder: got %v, want ErrNotRegular", err)
	}
	if _, err := atomicfile.ReadPrivate(path+".missing", 33); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadPrivate of a missing file: got %v, want fs.ErrNotExist", err)
	}
}
