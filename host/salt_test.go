package host

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// saltWasm builds testdata/salt once per test binary.
var saltWasm = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "hangar-salt-test")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "salt.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, "./testdata/salt")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, errors.New(err.Error() + "\n" + string(msg))
	}
	return os.ReadFile(out)
})

// loadSalt loads the salt test plugin under name, with no capability but emit:events, as a
// first-party plugin.
func loadSalt(t *testing.T, h *Host, name string) *Plugin {
	t.Helper()
	return loadSaltInstalled(t, h, name, "")
}

// loadSaltInstalled loads the salt test plugin under name as the install installID (LoadInstalled),
// or, if installID is "", as a first-party plugin (Load).
func loadSaltInstalled(t *testing.T, h *Host, name, installID string) *Plugin {
	t.Helper()
	wasm, err := saltWasm()
	if err != nil {
		t.Fatalf("build testdata/salt: %v", err)
	}
	sum := sha256.Sum256(wasm)
	m := Manifest{Name: name, Version: "1.0.0", Kind: KindCapture, ABI: ABIVersion, Platform: "claude-code",
		Wasm: "salt.wasm", SHA256: hex.EncodeToString(sum[:]), Capabilities: []string{"emit:events"}, Emits: []string{"salt"}}
	g, err := NewGrants(m.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	var p *Plugin
	if installID == "" {
		p, err = h.Load(m, wasm, g)
	} else {
		p, err = h.LoadInstalled(m, wasm, g, installID)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// callSalt returns the salt a plugin sees, and checks what the plugin says of its copies.
func callSalt(t *testing.T, p *Plugin) []byte {
	t.Helper()
	out, err := p.Call(context.Background(), "capture", [][]byte{[]byte(`{}`), []byte(`{}`)})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	var first []byte
	for i, o := range out {
		if o.Err != nil || len(o.Events) != 1 {
			t.Fatalf("record %d: %v, %v", i, o.Events, o.Err)
		}
		ev := o.Events[0]
		if v, _ := ev.Attr("same"); !v.Bool() {
			t.Errorf("record %d: a second pdk.Salt differed, or changing a returned copy changed the next", i)
		}
		if v, _ := ev.Attr("len"); v.Int() != 32 {
			t.Errorf("record %d: salt of %d bytes, want 32", i, v.Int())
		}
		v, _ := ev.Attr("salt")
		if first == nil {
			first = v.Hash()
		} else if !bytes.Equal(v.Hash(), first) {
			t.Errorf("record %d: salt %x, the first record's was %x", i, v.Hash(), first)
		}
	}
	return first
}

func wantSalt(secret []byte, name string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("hangar-salt\x00" + name))
	return mac.Sum(nil)
}

func TestSaltHostFunction(t *testing.T) {
	secret := bytes.Repeat([]byte{0x5e}, 32)
	h := newTestHost(t, Config{Secret: secret})
	a, b := loadSalt(t, h, "salt-a"), loadSalt(t, h, "salt-b")
	sa, sb := callSalt(t, a), callSalt(t, b)
	if want := wantSalt(secret, "salt-a"); !bytes.Equal(sa, want) {
		t.Errorf("salt of salt-a = %x, want HMAC-SHA256(secret, \"hangar-salt\\x00salt-a\") = %x", sa, want)
	}
	if bytes.Equal(sa, sb) {
		t.Errorf("two plugins share the salt %x", sa)
	}
	// Another install (secret) gives the same plugin another salt; the same secret the same one.
	other := newTestHost(t, Config{Secret: bytes.Repeat([]byte{0x11}, 32)})
	if so := callSalt(t, loadSalt(t, other, "salt-a")); bytes.Equal(so, sa) {
		t.Errorf("two installs give salt-a the same salt %x", so)
	}
	same := newTestHost(t, Config{Secret: bytes.Clone(secret)})
	if ss := callSalt(t, loadSalt(t, same, "salt-a")); !bytes.Equal(ss, sa) {
		t.Errorf("the same secret gives salt-a %x, then %x", sa, ss)
	}
}

// TestSaltInstalled: an installed plugin's salt derives from its install id, never from its name:
// a plugin installed under a first-party name does not get the first-party salt, two installs of
// one name get two salts, and an upgrade (the same install id) keeps it.
func TestSaltInstalled(t *testing.T) {
	secret := bytes.Repeat([]byte{0x5e}, 32)
	h := newTestHost(t, Config{Secret: secret})
	const id1, id2 = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	firstParty := callSalt(t, loadSaltInstalled(t, h, "claude-code", ""))
	installed := callSalt(t, loadSaltInstalled(t, h, "claude-code", id1))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("hangar-install-salt\x00" + id1))
	if want := mac.Sum(nil); !bytes.Equal(installed, want) {
		t.Errorf("installed salt = %x, want HMAC-SHA256(secret, \"hangar-install-salt\\x00\" id) = %x", installed, want)
	}
	if want := wantSalt(secret, "claude-code"); !bytes.Equal(firstParty, want) {
		t.Errorf("first-party salt = %x, want %x", firstParty, want)
	}
	if bytes.Equal(installed, firstParty) {
		t.Error("a plugin installed under a first-party name has the first-party salt")
	}
	if other := callSalt(t, loadSaltInstalled(t, h, "claude-code", id2)); bytes.Equal(other, installed) {
		t.Error("two installs of one name share a salt")
	}
	if again := callSalt(t, loadSaltInstalled(t, h, "renamed", id1)); !bytes.Equal(again, installed) {
		t.Error("one install id gave two salts")
	}
	wasm, err := saltWasm()
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "0123", strings.ToUpper(id1), id1 + "0", "0123456789abcdef0123456789abcdeg"} {
		if _, err := h.LoadInstalled(Manifest{Name: "x"}, wasm, Grants{}, bad); !errors.Is(err, ErrInstallID) {
			t.Errorf("LoadInstalled with install id %q: %v, want ErrInstallID", bad, err)
		}
	}
}

func TestSaltWithoutSecret(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret []byte
		want   error
	}{
		{"none", nil, ErrNoSecret},
		{"too short", make([]byte, minSecretLen-1), ErrBadSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHost(t, Config{Secret: tc.secret})
			p := loadSalt(t, h, "salt-a")
			_, err := p.Call(context.Background(), "capture", [][]byte{[]byte(`{}`)})
			if !errors.Is(err, ErrTrap) || !errors.Is(err, tc.want) {
				t.Fatalf("call = %v, want a trap wrapping %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q does not say what is missing", err)
			}
			if s := p.Status(); s.DeniedHostCalls != 0 {
				t.Errorf("%d denied host calls, want 0: salt needs no capability", s.DeniedHostCalls)
			}
		})
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "secret") // the folder is created too
	s1, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(s1) != SecretLen || bytes.Equal(s1, make([]byte, SecretLen)) {
		t.Fatalf("secret = %x, want %d random bytes", s1, SecretLen)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	if onDisk, _ := os.ReadFile(path); !bytes.Equal(onDisk, s1) {
		t.Errorf("file holds %x, returned %x", onDisk, s1)
	}
	s2, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s1, s2) {
		t.Errorf("second load = %x, want the first %x", s2, s1)
	}
	// Another install's secret differs.
	s3, err := LoadOrCreateSecret(filepath.Join(t.TempDir(), "secret"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(s1, s3) {
		t.Error("two installs got the same secret")
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %v, want only the secret", names)
	}
}

func TestLoadOrCreateSecretBadFile(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short", make([]byte, SecretLen-1)},
		{"long", make([]byte, SecretLen+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if got, err := LoadOrCreateSecret(path); !errors.Is(err, ErrBadSecret) {
				t.Fatalf("LoadOrCreateSecret = %x, %v; want an error wrapping %v", got, err, ErrBadSecret)
			}
			// The bad file is never replaced: stored hashes depend on it.
			if after, _ := os.ReadFile(path); !bytes.Equal(after, tt.data) {
				t.Errorf("file changed to %x", after)
			}
		})
	}
	t.Run("folder", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "secret")
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateSecret(path); err == nil {
			t.Fatal("LoadOrCreateSecret of a folder succeeded")
		}
	})
}

func TestLoadOrCreateSecretTightensMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	path := filepath.Join(t.TempDir(), "secret")
	want := bytes.Repeat([]byte{7}, SecretLen)
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // past the umask
		t.Fatal(err)
	}
	got, err := LoadOrCreateSecret(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("LoadOrCreateSecret = %x, %v; want %x", got, err, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestLoadOrCreateSecretRace starts many first loads at once: they all return the same secret.
func TestLoadOrCreateSecretRace(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), "secret")
		const n = 8
		var wg sync.WaitGroup
		got := make([][]byte, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = LoadOrCreateSecret(path)
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d, loader %d: %v", round, i, errs[i])
			}
			if !bytes.Equal(got[i], got[0]) {
				t.Fatalf("round %d: loader %d got %x, loader 0 got %x", round, i, got[i], got[0])
			}
		}
	}
}
