package host

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"

	extism "github.com/extism/go-sdk"
	"github.com/hangar-dev/hangar/store/atomicfile"
)

// The salt host function, salt in the "hangar" module, gives each plugin a secret of its own to
// key its hashes with (a prompt's hash, a project's), since WASM has no secret randomness: a
// guest's random numbers are the host's to choose, and wazero's default is a fixed seed. The salt
// derives from the plugin's identity, never from a name a folder can claim:
//
//   - an installed plugin (LoadInstalled): HMAC-SHA256(install secret, "hangar-install-salt" 0x00
//     install id), where the install id is random, chosen by the registry at the plugin's first
//     install and kept by its upgrades;
//   - a first-party plugin built into the agent (Load): HMAC-SHA256(install secret,
//     "hangar-salt" 0x00 plugin name), as it has always been, so that the hashes it stored (project
//     keys, prompt hashes) keep joining.
//
// The two prefixes keep the spaces apart: no install id gives a first-party salt. A salt is stable
// across restarts and upgrades, different for each plugin (so two plugins' hashes cannot be
// joined, and a folder plugin that replaces a first-party one cannot make its hashes) and for
// each data directory (so a hash cannot be tested against guesses on another machine). It needs
// no capability.

// SecretLen is the size of an install secret as LoadOrCreateSecret makes it.
const SecretLen = 32

// minSecretLen is the shortest secret the salt host function accepts.
const minSecretLen = 16

// Errors of the install secret.
var (
	// ErrNoSecret means the host has no install secret (Config.Secret), so salt traps.
	ErrNoSecret = errors.New("host: no install secret")
	// ErrBadSecret means an install secret (a file, or Config.Secret) is not what it must be.
	ErrBadSecret = errors.New("host: bad install secret")
)

// saltFunction returns the salt host function: salt() -> block. hostFunctions adds it to the
// "hangar" module.
func (p *Plugin) saltFunction() extism.HostFunction {
	return extism.NewHostFunctionWithStack("salt", p.hostSalt, nil, []extism.ValueType{extism.ValueTypeI64})
}

// hostSalt is salt() -> the offset of a new block of 32 bytes, the plugin's salt (the plugin frees
// it). Without an install secret it traps: the call fails, saying so.
func (p *Plugin) hostSalt(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	cs := state(ctx)
	salt, err := pluginSalt(p.h.cfg.Secret, p.m.Name, p.installID)
	if err != nil {
		cs.fail(fmt.Errorf("salt: %w", err))
	}
	off, err := cp.WriteBytes(salt)
	if err == nil && off == 0 {
		err = errors.New("out of memory")
	}
	if err != nil {
		cs.fail(fmt.Errorf("salt: write block: %w", err))
	}
	stack[0] = off
}

// installIDLen is the length of an install id: 16 random bytes in hex.
const installIDLen = 32

// ErrInstallID means an install id is not 32 lowercase hex digits.
var ErrInstallID = errors.New("host: bad install id")

// LoadInstalled is Load for a plugin installed into the registry, whose salt derives from its
// install id (PluginEntry.InstallID), 32 lowercase hex digits, instead of its name.
func (h *Host) LoadInstalled(m Manifest, wasm []byte, g Grants, installID string, opts ...LoadOption) (*Plugin, error) {
	if !validInstallID(installID) {
		return nil, fmt.Errorf("load plugin %s: %w: %q", m.Name, ErrInstallID, installID)
	}
	return h.load(m, wasm, g, installID, opts)
}

func validInstallID(id string) bool {
	if len(id) != installIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// pluginSalt returns the salt of a plugin: HMAC-SHA256(secret, "hangar-install-salt" 0x00
// installID) for an installed one, HMAC-SHA256(secret, "hangar-salt" 0x00 name) for a first-party
// one (installID "").
func pluginSalt(secret []byte, name, installID string) ([]byte, error) {
	switch {
	case len(secret) == 0:
		return nil, fmt.Errorf("%w: the host was started without one (host.Config.Secret), so plugins cannot key their hashes", ErrNoSecret)
	case len(secret) < minSecretLen:
		return nil, fmt.Errorf("%w: %d bytes, at least %d", ErrBadSecret, len(secret), minSecretLen)
	}
	mac := hmac.New(sha256.New, secret)
	if installID != "" {
		mac.Write([]byte("hangar-install-salt\x00"))
		mac.Write([]byte(installID))
	} else {
		mac.Write([]byte("hangar-salt\x00"))
		mac.Write([]byte(name))
	}
	return mac.Sum(nil), nil
}

// LoadOrCreateSecret returns the install secret kept in the file at path, creating it on first use:
// SecretLen random bytes, mode 0600, in a folder created 0700 if missing. The file appears whole or
// not at all (it is written aside, synced, then linked into place), and when several processes
// race to create it they all return the one that won. A file that exists with a size other than
// SecretLen is an error wrapping ErrBadSecret, never replaced: the salted hashes already stored
// depend on it. A file readable by others is made 0600 (on Windows, where modes do not apply,
// it is left as it is).
func LoadOrCreateSecret(path string) ([]byte, error) {
	for range 3 {
		secret, err := readSecret(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return secret, err
		}
		secret, err = createSecret(path)
		if errors.Is(err, fs.ErrExist) {
			continue // another process created it first: read theirs
		}
		return secret, err
	}
	return nil, fmt.Errorf("load install secret %s: it keeps appearing and disappearing", path)
}

// readSecret reads an existing secret file, making it 0600 if others could read it.
func readSecret(path string) ([]byte, error) {
	secret, err := atomicfile.ReadPrivate(path, SecretLen+1)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, err
	case errors.Is(err, atomicfile.ErrNotRegular):
		return nil, fmt.Errorf("load install secret: %w: %s is not a regular file", ErrBadSecret, path)
	case err != nil:
		return nil, fmt.Errorf("load install secret: %w", err)
	}
	if len(secret) != SecretLen {
		return nil, fmt.Errorf("load install secret: %w: %s holds %d bytes, want %d (it is never replaced: the stored hashes depend on it)",
			ErrBadSecret, path, len(secret), SecretLen)
	}
	return secret, nil
}

// createSecret creates the secret file, or returns an error wrapping fs.ErrExist if it exists.
// It is written aside and linked into place (atomicfile.CreateRandom): a link never replaces an
// existing file, so a racing process's secret wins whole.
func createSecret(path string) ([]byte, error) {
	secret, err := atomicfile.CreateRandom(path, SecretLen)
	if errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("create install secret: %w", err)
	}
	return secret, nil
}
