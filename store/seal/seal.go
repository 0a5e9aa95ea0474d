// Package seal keeps raw payloads at rest unreadable without the data directory's payload key.
//
// A raw payload (a hook payload, a transcript line) holds prompts, code, paths and commands. It
// rests on disk in two places only: the spool, while the daemon cannot take it, and the
// dead-letter queue, once a stage failed it. Both keep it sealed: AES-256-GCM under a 32-byte key
// that lives in a file of its own in the data directory (KeyName, mode 0600), never in the store
// and never beside what it seals. The user's own commands (agent dlq show, replay) open it; a
// copy of the store, a backup of the spool or a stray read of the data directory without the key
// file shows only ciphertext.
//
// A sealed payload is
//
//	magic "HGS" | version 0x01 | key id (8) | nonce (12) | ciphertext | tag (16)
//
// The key id (the first 8 bytes of SHA-256("hangar-payload-key-id" 0x00 key)) names the key a
// payload was sealed under, so that a payload sealed under a key the data directory no longer has
// fails to open with a message saying so (ErrOtherKey), not as a corrupt one. The header and the
// caller's additional data (the record's id) are authenticated: a sealed payload cannot be moved
// to another record.
//
// A Key is safe for concurrent use.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Errors of sealing and opening.
var (
	// ErrBadKey means a payload key (a file, or raw bytes) is not what it must be.
	ErrBadKey = errors.New("seal: bad payload key")
	// ErrOtherKey means a payload was sealed under another key than the one opening it: the key
	// file was replaced or lost since.
	ErrOtherKey = errors.New("seal: sealed under another payload key")
	// ErrCorrupt means bytes are not a sealed payload, or were changed since they were sealed.
	ErrCorrupt = errors.New("seal: corrupt sealed payload")
)

// Sizes of a key and of a sealed payload's parts.
const (
	// KeyLen is the size of a payload key: AES-256.
	KeyLen = 32
	// IDLen is the size of a key id.
	IDLen     = 8
	nonceLen  = 12
	tagLen    = 16
	headerLen = len(magic) + 1 + IDLen
	// Overhead is how many bytes sealing adds to a payload.
	Overhead = headerLen + nonceLen + tagLen
)

// version is the sealed format's version byte.
const version = 1

var magic = [3]byte{'H', 'G', 'S'}

// Key is a payload key, ready to seal and open.
type Key struct {
	aead cipher.AEAD
	id   [IDLen]byte
}

// NewKey returns the key of raw, which must be KeyLen bytes. The key does not keep raw.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeyLen {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadKey, len(raw), KeyLen)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	k := &Key{aead: aead}
	h := sha256.New()
	h.Write([]byte("hangar-payload-key-id\x00"))
	h.Write(raw)
	copy(k.id[:], h.Sum(nil))
	return k, nil
}

// ID returns the key's id in hex, as error messages name it.
func (k *Key) ID() string { return hex.EncodeToString(k.id[:]) }

// Seal appends plain, sealed, to dst and returns the result. ad (a record's id) is authenticated
// but not stored: Open must be given the same. Each call draws a random nonce; with 96-bit
// nonces a key seals well over 2^32 payloads before a repeat is likely at all, far beyond what
// a spool and a dead-letter queue see.
func (k *Key) Seal(dst, plain, ad []byte) []byte {
	start := len(dst)
	dst = append(dst, magic[:]...)
	dst = append(dst, version)
	dst = append(dst, k.id[:]...)
	var nonce [nonceLen]byte
	rand.Read(nonce[:]) // never fails (crypto/rand panics rather than return short)
	dst = append(dst, nonce[:]...)
	header := dst[start : start+headerLen]
	return k.aead.Seal(dst, nonce[:], plain, additional(header, ad))
}

// Open appends the payload that sealed holds to dst and returns the result. It fails with an
// error wrapping ErrOtherKey when sealed was sealed under another key, and ErrCorrupt when it is
// not a sealed payload or was changed.
func (k *Key) Open(dst, sealed, ad []byte) ([]byte, error) {
	id, err := keyID(sealed)
	if err != nil {
		return nil, err
	}
	if id != k.id {
		return nil, fmt.Errorf("%w: sealed under key %x, this data directory's key is %s (its key file was replaced or lost since)", ErrOtherKey, id, k.ID())
	}
	nonce := sealed[headerLen : headerLen+nonceLen]
	out, err := k.aead.Open(dst, nonce, sealed[headerLen+nonceLen:], additional(sealed[:headerLen], ad))
	if err != nil {
		return nil, fmt.Errorf("%w: it fails authentication (changed or cut since it was sealed)", ErrCorrupt)
	}
	return out, nil
}

// IsSealed reports whether b starts like a sealed payload.
func IsSealed(b []byte) bool {
	return len(b) >= Overhead && bytes.Equal(b[:len(magic)], magic[:]) && b[len(magic)] == version
}

// KeyID returns the id, in hex, of the key sealed was sealed under.
func KeyID(sealed []byte) (string, error) {
	id, err := keyID(sealed)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(id[:]), nil
}

func keyID(sealed []byte) (id [IDLen]byte, err error) {
	if !IsSealed(sealed) {
		return id, fmt.Errorf("%w: no sealed header (%d bytes)", ErrCorrupt, len(sealed))
	}
	copy(id[:], sealed[len(magic)+1:])
	return id, nil
}

// additional returns what a sealed payload authenticates beside its ciphertext: its header and
// the caller's data.
func additional(header, ad []byte) []byte {
	out := make([]byte, 0, len(header)+len(ad))
	return append(append(out, header...), ad...)
}
