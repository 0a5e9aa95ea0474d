package host

import (
	"github.com/hangar-dev/hangar/host/internal/jsonwalk"
	"github.com/hangar-dev/hangar/sdk/abi"
	"github.com/tidwall/gjson"
)

// The type rule of read:payload grants (sdk/abi, typed.go): a read field passes only values that
// are metadata by type, whatever the field and whatever the platform, and abi.Withheld stands in
// for every other value. Privacy does not rest on a list of content fields: a field no one listed
// (a tool's result, a summary, an error message, any field of a platform Hangar has never heard
// of) yields its numbers, flags, identifiers and shape, never its text.

// withheldJSON is abi.Withheld as a JSON string.
const withheldJSON = `"` + abi.Withheld + `"`

// appendTyped appends the typed copy of a read leaf's value v (a walk's value, or gjson.Get's):
// a scalar as it is if it is metadata by type, else abi.Withheld; an object or array member by
// member. The content values of inner (slots of vals: content grants below the leaf) are copied
// as they are where the leaf holds them (found by their index in the payload, gjson.Result.Index).
// A container that is not valid JSON (as gjson.Valid decides) or nests deeper than abi.MaxDepth
// outside content values is withheld as a whole.
func appendTyped(b []byte, v *gjson.Result, inner []int, vals []gjson.Result) []byte {
	raw := v.Raw
	switch v.Type {
	case gjson.String:
		if isIdentRaw(raw) {
			return append(b, raw...)
		}
	case gjson.Number:
		if end, ok := strictNumber(raw, 0); ok && end == len(raw) && end <= abi.MaxNumber {
			return append(b, raw...)
		}
	case gjson.True, gjson.False, gjson.Null:
		if raw == "true" || raw == "false" || raw == "null" {
			return append(b, raw...)
		}
	case gjson.JSON:
		t := typer{raw: raw, base: v.Index, inner: inner, vals: vals}
		mark := len(b)
		out, end, ok := t.value(b, 0, 0)
		if ok && jsonwalk.SkipSpace(raw, end) == len(raw) {
			return out
		}
		b = out[:mark]
	}
	return append(b, withheldJSON...)
}

// isIdentRaw reports whether raw is the JSON of a string that is an identifier: quotes around an
// identifier's bytes (which need no escape sequence).
func isIdentRaw(raw string) bool {
	return len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && abi.IsIdentifier(raw[1:len(raw)-1])
}

// typer types the members of a read leaf's object or array.
type typer struct {
	raw   string // the leaf's JSON
	base  int    // the leaf's index in the payload; 0 if unknown (then no content is found)
	inner []int  // slots of vals holding content values below the leaf
	vals  []gjson.Result
}

// value appends the typed copy of the JSON value at t.raw[i:] (after whitespace), at depth (the
// leaf's own value is at 0), and returns the index past it, or false if the JSON is not valid
// (as gjson.Valid decides) or nests too deep: then what was appended must be dropped.
func (t *typer) value(b []byte, i, depth int) ([]byte, int, bool) {
	raw := t.raw
	if i = jsonwalk.SkipSpace(raw, i); i >= len(raw) {
		return b, i, false
	}
	if t.base > 0 && depth > 0 {
		for _, slot := range t.inner {
			c := &t.vals[slot]
			if c.Index == t.base+i && c.Raw != "" && len(raw)-i >= len(c.Raw) && raw[i:i+len(c.Raw)] == c.Raw {
				// A content value: shown as it is, but it must be valid JSON for the leaf to be.
				if !gjson.Valid(c.Raw) {
					return b, i, false
				}
				return append(b, c.Raw...), i + len(c.Raw), true
			}
		}
	}
	switch c := raw[i]; {
	case c == '{' || c == '[':
		if depth >= abi.MaxDepth+1 {
			return b, i, false
		}
		return t.container(b, i, depth)
	case c == '"':
		end, plain, ok := strictString(raw, i)
		if !ok {
			return b, end, false
		}
		if plain && abi.IsIdentifier(raw[i+1:end-1]) {
			return append(b, raw[i:end]...), end, true
		}
		return append(b, withheldJSON...), end, true
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(raw)-i >= len(lit) && raw[i:i+len(lit)] == lit {
				return append(b, lit...), i + len(lit), true
			}
		}
		return b, i, false
	default:
		end, ok := strictNumber(raw, i)
		if !ok {
			return b, end, false
		}
		if end-i > abi.MaxNumber {
			return append(b, withheldJSON...), end, true
		}
		return append(b, raw[i:end]...), end, true
	}
}

// container is value for the object or array at t.raw[i].
func (t *typer) container(b []byte, i, depth int) ([]byte, int, bool) {
	raw := t.raw
	obj := raw[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	b = append(b, raw[i])
	if i = jsonwalk.SkipSpace(raw, i+1); i < len(raw) && raw[i] == closer {
		return append(b, closer), i + 1, true
	}
	for {
		var ok bool
		if obj {
			if i >= len(raw) || raw[i] != '"' {
				return b, i, false
			}
			end, plain, ok := strictString(raw, i)
			if !ok {
				return b, end, false
			}
			if plain && abi.IsIdentifier(raw[i+1:end-1]) {
				b = append(b, raw[i:end]...)
			} else {
				b = append(b, withheldJSON...)
			}
			if i = jsonwalk.SkipSpace(raw, end); i >= len(raw) || raw[i] != ':' {
				return b, i, false
			}
			b = append(b, ':')
			i++
		}
		if b, i, ok = t.value(b, i, depth+1); !ok {
			return b, i, false
		}
		if i = jsonwalk.SkipSpace(raw, i); i >= len(raw) {
			return b, i, false
		}
		switch raw[i] {
		case closer:
			return append(b, closer), i + 1, true
		case ',':
			b = append(b, ',')
			i = jsonwalk.SkipSpace(raw, i+1)
		default:
			return b, i, false
		}
	}
}

// strictString returns the index past the JSON string whose opening quote is s[i], whether it
// holds no escape sequence, and false if it is not valid as gjson.Valid decides: no control byte,
// only the escapes \" \\ \/ \b \f \n \r \t and \u with four hex digits, a closing quote.
func strictString(s string, i int) (int, bool, bool) {
	plain := true
	for i++; i < len(s); {
		i += stringRun(s[i:])
		if i >= len(s) {
			break
		}
		switch c := s[i]; {
		case c == '"':
			return i + 1, plain, true
		case c < ' ':
			return i, plain, false
		}
		// A backslash.
		plain = false
		if i++; i >= len(s) {
			return i, plain, false
		}
		switch s[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i++
		case 'u':
			if len(s)-i < 5 || !isHex(s[i+1]) || !isHex(s[i+2]) || !isHex(s[i+3]) || !isHex(s[i+4]) {
				return i, plain, false
			}
			i += 5
		default:
			return i, plain, false
		}
	}
	return i, plain, false
}

// isHex reports whether c is a hex digit.
func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// stringRun returns the length of the run at the start of s that holds no quote, no backslash
// and no control byte (below ' '), testing 8 bytes at a time (as jsonwalk does).
func stringRun(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A byte below ' ', or equal to '\\' or '"' (its xor with it zero, so below 1), sets its
		// high bit.
		y, z := x^(ones*'\\'), x^(ones*'"')
		if ((x-ones*' ')&^x|(y-ones)&^y|(z-ones)&^z)&highs != 0 {
			break
		}
	}
	for i < len(s) && s[i] >= ' ' && s[i] != '\\' && s[i] != '"' {
		i++
	}
	return i
}

// strictNumber returns the index past the JSON number at s[i], and false if there is none there
// as gjson.Valid decides: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func strictNumber(s string, i int) (int, bool) {
	digits := func(i int) (int, bool) {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i, i > start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) || s[i] < '0' || s[i] > '9' {
		return i, false
	}
	if s[i] == '0' {
		i++
	} else {
		i, _ = digits(i)
	}
	var ok bool
	if i < len(s) && s[i] == '.' {
		if i, ok = digits(i + 1); !ok {
			return i, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	return i, true
}
