package seal

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func newTestKey(t testing.TB) *Key {
	t.Helper()
	k, err := LoadOrCreate(filepath.Join(t.TempDir(), KeyName))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := newTestKey(t)
	other := newTestKey(t)
	id := []byte("record-id-16byte")
	plain := []byte(`{"prompt":"the secret plan","cwd":"/home/ada/payments"}`)
	sealed := k.Seal(nil, plain, id)
	if len(sealed) != len(plain)+Overhead || !IsSealed(sealed) {
		t.Fatalf("sealed %d bytes (sealed %v), want %d", len(sealed), IsSealed(sealed), len(plain)+Overhead)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("the sealed payload holds the plain text")
	}
	if got, err := KeyID(sealed); err != nil || got != k.ID() {
		t.Errorf("KeyID = %q, %v; want %q", got, err, k.ID())
	}
	if again := k.Seal(nil, plain, id); bytes.Equal(again, sealed) {
		t.Error("sealing twice gave the same bytes: the nonce is not fresh")
	}
	got, err := k.Open(nil, sealed, id)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want the payload", got, err)
	}
	if got, err := k.Open(nil, k.Seal(nil, nil, id), id); err != nil || len(got) != 0 {
		t.Errorf("an empty payload: Open = %q, %v", got, err)
	}
	// Appending to dst keeps dst.
	if got, err := k.Open([]byte("x"), sealed, id); err != nil || string(got) != "x"+string(plain) {
		t.Errorf("Open into a prefix = %q, %v", got, err)
	}

	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name   string
		sealed []byte
		ad     []byte
		key    *Key
		want   error
		inMsg  string
	}{
		{name: "another record's id", sealed: sealed, ad: []byte("record-id-other!"), key: k, want: ErrCorrupt},
		{name: "a ciphertext byte changed", sealed: flip(Overhead), ad: id, key: k, want: ErrCorrupt},
		{name: "the tag changed", sealed: flip(len(sealed) - 1), ad: id, key: k, want: ErrCorrupt},
		{name: "the nonce changed", sealed: flip(headerLen), ad: id, key: k, want: ErrCorrupt},
		{name: "cut short", sealed: sealed[:len(sealed)-1], ad: id, key: k, want: ErrCorrupt},
		{name: "too short to be sealed", sealed: sealed[:Overhead-1], ad: id, key: k, want: ErrCorrupt},
		{name: "not sealed", sealed: plain, ad: id, key: k, want: ErrCorrupt},
		{name: "another key", sealed: sealed, ad: id, key: other, want: ErrOtherKey, inMsg: k.ID()},
		{name: "the key id changed", sealed: flip(len(magic) + 1), ad: id, key: k, want: ErrOtherKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.key.Open(nil, tt.sealed, tt.ad)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("Open = %q, %v; want %v", got, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("error %q does not name %q", err, tt.inMsg)
			}
		})
	}
}

func TestNewKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := NewKey(make([]byte, n)); !errors.Is(err, ErrBadKey) {
			t.Errorf("NewKey(%d bytes) = %v, want ErrBadKey", n, err)
		}
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // made by LoadOrCreate
	path := filepath.Join(dir, KeyName)
	if _, err := Load(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of no file = %v, want fs.ErrNotExist", err)
	}
	k, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != KeyLen || info.Mode().Perm() != 0o600 {
		t.Errorf("key file: %d bytes, mode %v; want %d bytes, 0600", info.Size(), info.Mode().Perm(), KeyLen)
	}
	if d, _ := os.Stat(dir); d.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %v, want 0700", d.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want the key file alone (no temporary file left)", len(entries))
	}
	again, err := LoadOrCreate(path)
	if err != nil || again.ID() != k.ID() {
		t.Fatalf("second LoadOrCreate: %v, id %v; want the same key %s", err, again, k.ID())
	}
	// Others' read bits are taken away.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("mode after Load of a 0644 file: %v, want 0600", info.Mode().Perm())
	}
}

// TestLoadOrCreateRace has many creators race on a fresh folder: they all end up with the one key
// that won, whole.
func TestLoadOrCreateRace(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), KeyName)
		const n = 16
		ids := make([]string, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				k, err := LoadOrCreate(path)
				if err != nil {
					t.Errorf("round %d creator %d: %v", round, i, err)
					return
				}
				ids[i] = k.ID()
			}()
		}
		close(start)
		wg.Wait()
		final, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if id != final.ID() {
				t.Fatalf("round %d: creator %d got key %s, the file holds %s", round, i, id, final.ID())
			}
		}
	}
}

func TestBadKeyFile(t *testing.T) {
	tests := []struct {
		name  string
		make  func(path string) error
		inMsg string
	}{
		{name: "empty", make: func(p string) error { return os.WriteFile(p, nil, 0o600) }, inMsg: "holds 0 bytes, want 32"},
		{name: "short", make: func(p string) error { return os.WriteFile(p, make([]byte, 31), 0o600) }, inMsg: "holds 31 bytes"},
		{name: "long", make: func(p string) error { return os.WriteFile(p, make([]byte, 33), 0o600) }, inMsg: "more than 32 bytes"},
		{name: "a folder", make: func(p string) error { return os.Mkdir(p, 0o700) }, inMsg: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), KeyName)
			if err := tt.make(path); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreate(path)
			if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.inMsg) {
				t.Fatalf("LoadOrCreate = %v; want ErrBadKey naming %s and saying %q", err, path, tt.inMsg)
			}
			// Never replaced by LoadOrCreate; Renew sets it aside and makes a new key.
			k, aside, err := Renew(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(aside); err != nil {
				t.Errorf("the bad file was not kept aside: %v", err)
			}
			if again, err := Load(path); err != nil || again.ID() != k.ID() {
				t.Errorf("after Renew, Load = %v, %v; want the new key %s", again, err, k.ID())
			}
		})
	}
}

// FuzzOpen feeds Open arbitrary bytes: it never panics, and opens only what it sealed.
func FuzzOpen(f *testing.F) {
	k, err := NewKey(bytes.Repeat([]byte{7}, KeyLen))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(k.Seal(nil, []byte(`{"a":1}`), []byte("id")), []byte("id"))
	f.Add([]byte("HGS\x01"), []byte{})
	f.Fuzz(func(t *testing.T, sealed, ad []byte) {
		plain, err := k.Open(nil, sealed, ad)
		if err == nil && !bytes.Equal(k.Seal(nil, plain, ad)[:headerLen], sealed[:headerLen]) {
			t.Fatal("opened a payload whose header is not this key's")
		}
	})
}

// BenchmarkSeal seals and opens a 1 KB payload, the size of a typical hook payload.
func BenchmarkSeal(b *testing.B) {
	k, err := NewKey(bytes.Repeat([]byte{1}, KeyLen))
	if err != nil {
		b.Fatal(err)
	}
	plain := bytes.Repeat([]byte("x"), 1024)
	id := []byte("record-id-16byte")
	var sealed, opened []byte
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		sealed = k.Seal(sealed[:0], plain, id)
		if opened, err = k.Open(opened[:0], sealed, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadKey reads the key file and prepares the cipher, as a spooling hook does once.
func BenchmarkLoadKey(b *testing.B) {
	path := filepath.Join(b.TempDir(), KeyName)
	if _, err := LoadOrCreate(path); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := LoadOrCreate(path); err != nil {
			b.Fatal(err)
		}
	}
}
