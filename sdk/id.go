package sdk

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// ID identifies an event. It is derived from the event's source (see [NewID]), so the same source
// record always has the same ID.
type ID [16]byte

// NewID derives an ID from a namespace, naming the kind of source (for example "hook" or
// "transcript"), and the parts that identify one record within it. Parts are length-prefixed before
// hashing, so ("ab", "c") and ("a", "bc") differ.
func NewID(namespace string, parts ...[]byte) ID {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	write := func(p []byte) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		h.Write(p)
	}
	write([]byte(namespace))
	for _, p := range parts {
		write(p)
	}
	var id ID
	copy(id[:], h.Sum(nil))
	return id
}

// String returns the ID as 32 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero ID, which no real event has.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the form String returns.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("parse id %q: want %d hex digits", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("parse id %q: %w", s, err)
	}
	return id, nil
}

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
