package sdk

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Limits on what an event may carry. They keep events small and make it hard to smuggle text
// through an attribute.
const (
	// MaxIdentLen is the longest identifier (platform, kind, session id, ident attribute) in bytes.
	MaxIdentLen = 128
	// MaxHashLen is the longest hash attribute in bytes.
	MaxHashLen = 32
	// MaxAttrs is the most attributes one event may have.
	MaxAttrs = 64
	// MaxSketchLen is the most entries one sketch attribute may have.
	MaxSketchLen = 256
)

// Event is one privacy-safe fact captured from an AI assistant. Events are values: the store and the
// pipeline copy them and never share one between goroutines while changing it.
type Event struct {
	// ID is derived from the source record (see NewID); the store keeps one event per ID.
	ID ID
	// Platform names the assistant, such as "claude-code".
	Platform string
	// Kind names what happened, such as "hook.PostToolUse" or "transcript.assistant".
	Kind string
	// SessionID is the assistant's own session identifier, or empty.
	SessionID string
	// Time is when it happened, as the source says, or when it was received if the source has no
	// time (hook payloads carry none).
	Time time.Time
	// IngestTime is when the store committed the event; the store sets it.
	IngestTime time.Time
	// Attrs are the event's typed attributes, in the order the capture produced them.
	Attrs []Attr
}

// ValueKind is the type of an attribute value.
type ValueKind uint8

// The kinds of attribute value.
const (
	KindInvalid ValueKind = iota
	// KindInt is a signed 64-bit integer: counts, sizes, durations in milliseconds, exit codes.
	KindInt
	// KindFloat is a 64-bit float: costs, ratios.
	KindFloat
	// KindBool is a flag: success, interrupted, sidechain.
	KindBool
	// KindIdent is a short identifier (at most MaxIdentLen bytes of printable ASCII, no spaces):
	// a tool name, a model, a permission mode, a file extension.
	KindIdent
	// KindHash is an opaque hash of at most MaxHashLen bytes, such as a salted prompt hash.
	KindHash
	// KindSketch is a sparse vector of float32 values at uint16 indices, such as a feature-hashed
	// sketch of a prompt's words: 1 to MaxSketchLen entries, indices strictly increasing, values
	// finite.
	KindSketch
)

var kindNames = [...]string{"invalid", "int", "float", "bool", "ident", "hash", "sketch"}

// String returns the kind's name.
func (k ValueKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is a typed attribute value. The zero Value is invalid. Values are immutable and
// comparable with ==.
type Value struct {
	kind ValueKind
	num  uint64 // int, float bits, bool; for a sketch, non-zero if its index and value counts differ
	str  string // ident, hash bytes; a sketch's entries (sketchEntry bytes each)
}

// sketchEntry is the size of one sketch entry, in a Value and in the encoding: the index as 2
// bytes and the value's float32 bits as 4, both little-endian.
const sketchEntry = 6

// IntValue returns an integer value.
func IntValue(v int64) Value { return Value{kind: KindInt, num: uint64(v)} }

// FloatValue returns a float value.
func FloatValue(v float64) Value { return Value{kind: KindFloat, num: math.Float64bits(v)} }

// BoolValue returns a boolean value.
func BoolValue(v bool) Value {
	var n uint64
	if v {
		n = 1
	}
	return Value{kind: KindBool, num: n}
}

// IdentValue returns an identifier value. Event.Validate checks its length and characters.
func IdentValue(v string) Value { return Value{kind: KindIdent, str: v} }

// HashValue returns a hash value. Event.Validate checks its length.
func HashValue(v []byte) Value { return Value{kind: KindHash, str: string(v)} }

// SketchValue returns a sketch value of the entries idx[i], val[i]. It copies them. Event.Validate
// checks that there are 1 to MaxSketchLen, that the indices are strictly increasing, that the values
// are finite, and that idx and val have the same length.
func SketchValue(idx []uint16, val []float32) Value {
	n := min(len(idx), len(val))
	b := make([]byte, 0, n*sketchEntry)
	for i := range n {
		b = binary.LittleEndian.AppendUint16(b, idx[i])
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(val[i]))
	}
	v := Value{kind: KindSketch, str: string(b)}
	if len(idx) != len(val) {
		v.num = 1
	}
	return v
}

// Kind returns the value's kind.
func (v Value) Kind() ValueKind { return v.kind }

// Int returns the value of an int; it is 0 for other kinds.
func (v Value) Int() int64 {
	if v.kind != KindInt {
		return 0
	}
	return int64(v.num)
}

// Float returns the value of a float; it is 0 for other kinds.
func (v Value) Float() float64 {
	if v.kind != KindFloat {
		return 0
	}
	return math.Float64frombits(v.num)
}

// Bool returns the value of a bool; it is false for other kinds.
func (v Value) Bool() bool { return v.kind == KindBool && v.num != 0 }

// Ident returns the value of an ident; it is "" for other kinds.
func (v Value) Ident() string {
	if v.kind != KindIdent {
		return ""
	}
	return v.str
}

// Hash returns the bytes of a hash; it is nil for other kinds.
func (v Value) Hash() []byte {
	if v.kind != KindHash {
		return nil
	}
	return []byte(v.str)
}

// HashString returns the bytes of a hash as a string, without copying them; it is "" for other
// kinds.
func (v Value) HashString() string {
	if v.kind != KindHash {
		return ""
	}
	return v.str
}

// Sketch returns a sketch's indices and values, in new slices; they are nil for other kinds.
func (v Value) Sketch() (idx []uint16, val []float32) {
	if v.kind != KindSketch {
		return nil, nil
	}
	n := len(v.str) / sketchEntry
	idx, val = make([]uint16, n), make([]float32, n)
	for i := range n {
		e := v.str[i*sketchEntry:]
		idx[i] = uint16(e[0]) | uint16(e[1])<<8
		val[i] = math.Float32frombits(uint32(e[2]) | uint32(e[3])<<8 | uint32(e[4])<<16 | uint32(e[5])<<24)
	}
	return idx, val
}

// String formats the value for people: hashes in hex, sketches as {index:value ...}.
func (v Value) String() string {
	switch v.kind {
	case KindInt:
		return strconv.FormatInt(v.Int(), 10)
	case KindFloat:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case KindBool:
		return strconv.FormatBool(v.Bool())
	case KindIdent:
		return v.str
	case KindHash:
		return hex.EncodeToString([]byte(v.str))
	case KindSketch:
		idx, val := v.Sketch()
		b := []byte{'{'}
		for i := range idx {
			if i > 0 {
				b = append(b, ' ')
			}
			b = strconv.AppendUint(b, uint64(idx[i]), 10)
			b = append(b, ':')
			b = strconv.AppendFloat(b, float64(val[i]), 'g', -1, 32)
		}
		return string(append(b, '}'))
	}
	return "<invalid>"
}

// Attr is a named attribute.
type Attr struct {
	Key   string
	Value Value
}

// Int returns an int attribute.
func Int(key string, v int64) Attr { return Attr{key, IntValue(v)} }

// Float returns a float attribute.
func Float(key string, v float64) Attr { return Attr{key, FloatValue(v)} }

// Bool returns a bool attribute.
func Bool(key string, v bool) Attr { return Attr{key, BoolValue(v)} }

// Ident returns an identifier attribute.
func Ident(key, v string) Attr { return Attr{key, IdentValue(v)} }

// Hash returns a hash attribute.
func Hash(key string, v []byte) Attr { return Attr{key, HashValue(v)} }

// Sketch returns a sketch attribute of the entries idx[i], val[i]; see SketchValue.
func Sketch(key string, idx []uint16, val []float32) Attr { return Attr{key, SketchValue(idx, val)} }

// Attr returns the value of the attribute named key, and whether there is one.
func (e *Event) Attr(key string) (Value, bool) {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return Value{}, false
}

// The times an event can hold: those Unix nanoseconds in an int64 represent, except the lowest,
// which encodes the zero time.
var (
	minTime = time.Unix(0, math.MinInt64+1).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// ErrInvalid is wrapped by every error Validate returns.
var ErrInvalid = errors.New("sdk: invalid event")

// Validate reports whether the event may be stored: a non-zero id, identifiers within limits,
// at most MaxAttrs attributes with unique identifier keys, and values of a known kind within limits.
// Its errors name an attribute by its index, never by its key (a plugin's text), nor quote a
// value.
func (e *Event) Validate() error {
	if e.ID.IsZero() {
		return fmt.Errorf("%w: zero id", ErrInvalid)
	}
	if e.Platform == "" || e.Kind == "" {
		return fmt.Errorf("%w: platform and kind are required", ErrInvalid)
	}
	for _, f := range []struct{ name, v string }{{"platform", e.Platform}, {"kind", e.Kind}, {"session id", e.SessionID}} {
		if err := checkIdent(f.v); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalid, f.name, err)
		}
	}
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"time", e.Time}, {"ingest time", e.IngestTime}} {
		if !t.t.IsZero() && (t.t.Before(minTime) || t.t.After(maxTime)) {
			return fmt.Errorf("%w: %s %v outside %v to %v", ErrInvalid, t.name, t.t, minTime, maxTime)
		}
	}
	if len(e.Attrs) > MaxAttrs {
		return fmt.Errorf("%w: %d attributes, at most %d", ErrInvalid, len(e.Attrs), MaxAttrs)
	}
	for i, a := range e.Attrs {
		if a.Key == "" {
			return fmt.Errorf("%w: attribute %d has no key", ErrInvalid, i)
		}
		if err := checkIdent(a.Key); err != nil {
			return fmt.Errorf("%w: attribute %d key: %v", ErrInvalid, i, err)
		}
		for j, b := range e.Attrs[:i] {
			if b.Key == a.Key {
				return fmt.Errorf("%w: attribute %d repeats the key of attribute %d", ErrInvalid, i, j)
			}
		}
		switch a.Value.kind {
		case KindInt, KindBool:
		case KindFloat:
			if f := a.Value.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("%w: attribute %d: not a finite number", ErrInvalid, i)
			}
		case KindIdent:
			if err := checkIdent(a.Value.str); err != nil {
				return fmt.Errorf("%w: attribute %d: %v", ErrInvalid, i, err)
			}
		case KindHash:
			if len(a.Value.str) == 0 || len(a.Value.str) > MaxHashLen {
				return fmt.Errorf("%w: attribute %d: hash of %d bytes, want 1 to %d", ErrInvalid, i, len(a.Value.str), MaxHashLen)
			}
		case KindSketch:
			if err := checkSketch(a.Value); err != nil {
				return fmt.Errorf("%w: attribute %d: %v", ErrInvalid, i, err)
			}
		default:
			return fmt.Errorf("%w: attribute %d: %v", ErrInvalid, i, a.Value.kind)
		}
	}
	return nil
}

// checkSketch allows 1 to MaxSketchLen entries with strictly increasing indices and finite values.
func checkSketch(v Value) error {
	if v.num != 0 || len(v.str)%sketchEntry != 0 {
		return errors.New("sketch indices and values differ in number")
	}
	idx, val := v.Sketch()
	if len(idx) == 0 || len(idx) > MaxSketchLen {
		return fmt.Errorf("sketch of %d entries, want 1 to %d", len(idx), MaxSketchLen)
	}
	for i := range idx {
		if i > 0 && idx[i] <= idx[i-1] {
			return fmt.Errorf("sketch index %d at %d is not above the one before", idx[i], i)
		}
		if f := float64(val[i]); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("sketch value at %d is not a finite number", i)
		}
	}
	return nil
}

// checkIdent allows printable ASCII without spaces, at most MaxIdentLen bytes: enough for tool
// names, models and UUIDs, too narrow for sentences.
func checkIdent(s string) error {
	if len(s) > MaxIdentLen {
		return fmt.Errorf("%d bytes, at most %d", len(s), MaxIdentLen)
	}
	if i := unprintable(s); i >= 0 {
		return fmt.Errorf("byte %#x at %d is not printable ASCII", s[i], i)
	}
	return nil
}

// IsIdent reports whether s is a non-empty identifier that Validate accepts as a session id or an
// ident value: at most MaxIdentLen bytes of printable ASCII, no space.
func IsIdent(s string) bool {
	return s != "" && len(s) <= MaxIdentLen && unprintable(s) < 0
}

// unprintable returns the index of the first byte of s that is not printable ASCII or is a space,
// or -1.
func unprintable(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return i
		}
	}
	return -1
}

// jsonEvent is the JSON form of an Event, for the CLI and the local API.
type jsonEvent struct {
	ID         ID         `json:"id"`
	Platform   string     `json:"platform"`
	Kind       string     `json:"kind"`
	SessionID  string     `json:"session_id,omitempty"`
	Time       time.Time  `json:"time"`
	IngestTime time.Time  `json:"ingest_time,omitzero"`
	Attrs      []jsonAttr `json:"attrs,omitempty"`
}

type jsonAttr struct {
	Key   string          `json:"key"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// jsonSketch is the JSON form of a sketch value: {"i":[indices],"v":[values]}.
type jsonSketch struct {
	I []uint16  `json:"i"`
	V []float32 `json:"v"`
}

// MarshalJSON encodes the event with each attribute's type named, so that it round-trips.
func (e Event) MarshalJSON() ([]byte, error) {
	j := jsonEvent{ID: e.ID, Platform: e.Platform, Kind: e.Kind, SessionID: e.SessionID, Time: e.Time, IngestTime: e.IngestTime}
	for _, a := range e.Attrs {
		var raw []byte
		var err error
		switch a.Value.kind {
		case KindInt:
			raw, err = json.Marshal(a.Value.Int())
		case KindFloat:
			raw, err = json.Marshal(a.Value.Float())
		case KindBool:
			raw, err = json.Marshal(a.Value.Bool())
		case KindIdent, KindHash:
			raw, err = json.Marshal(a.Value.String())
		case KindSketch:
			idx, val := a.Value.Sketch()
			raw, err = json.Marshal(jsonSketch{I: idx, V: val})
		default:
			return nil, fmt.Errorf("marshal attribute %q: %v", a.Key, a.Value.kind)
		}
		if err != nil {
			return nil, fmt.Errorf("marshal attribute %q: %w", a.Key, err)
		}
		j.Attrs = append(j.Attrs, jsonAttr{Key: a.Key, Type: a.Value.kind.String(), Value: raw})
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j jsonEvent
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("unmarshal event: %w", err)
	}
	*e = Event{ID: j.ID, Platform: j.Platform, Kind: j.Kind, SessionID: j.SessionID, Time: j.Time, IngestTime: j.IngestTime}
	for _, a := range j.Attrs {
		var v Value
		var err error
		switch a.Type {
		case "int":
			var n int64
			err = json.Unmarshal(a.Value, &n)
			v = IntValue(n)
		case "float":
			var f float64
			err = json.Unmarshal(a.Value, &f)
			v = FloatValue(f)
		case "bool":
			var t bool
			err = json.Unmarshal(a.Value, &t)
			v = BoolValue(t)
		case "ident":
			var s string
			err = json.Unmarshal(a.Value, &s)
			v = IdentValue(s)
		case "hash":
			var s string
			if err = json.Unmarshal(a.Value, &s); err == nil {
				var h []byte
				h, err = hex.DecodeString(s)
				v = HashValue(h)
			}
		case "sketch":
			var s jsonSketch
			if err = json.Unmarshal(a.Value, &s); err == nil {
				if len(s.I) != len(s.V) {
					err = fmt.Errorf("sketch of %d indices and %d values", len(s.I), len(s.V))
				}
				v = SketchValue(s.I, s.V)
			}
		default:
			err = fmt.Errorf("unknown type %q", a.Type)
		}
		if err != nil {
			return fmt.Errorf("unmarshal attribute %q: %w", a.Key, err)
		}
		e.Attrs = append(e.Attrs, Attr{Key: a.Key, Value: v})
	}
	return nil
}
