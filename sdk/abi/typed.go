package abi

// What a read:payload grant passes. A record's JSON holds each field a plugin's read:payload
// grants name, but only the values in it that are metadata by type:
//
//   - numbers of at most MaxNumber bytes of JSON, true, false and null;
//   - strings that are identifiers (IsIdentifier): tool, model and event names, UUIDs, request
//     ids, ISO 8601 timestamps, versions, enumeration values, numbers written as strings;
//   - objects and arrays, with each member and element typed by the same rule, at most
//     MaxDepth deep, an object's keys included.
//
// Any other value, at any depth, is replaced by the string Withheld: text with a space, a path,
// a command, code, a file's content, an escape sequence, a string longer than MaxIdentifier
// bytes. An object key that is not an identifier is replaced by Withheld too (the member keeps
// its typed value). A field too deep or not valid JSON is Withheld as a whole. Values under a
// content:<path> grant are passed as they are.
//
// The rule depends on no list of fields and no platform: a plugin for a platform Hangar has never
// heard of gets the same protection.
const (
	// Withheld stands in, in a record, for a value a read:payload grant reaches that is not
	// metadata by type. It tells the plugin a value was there without any of its text. No value
	// that passes is equal to it: it holds '<' and '>', which identifiers do not.
	Withheld = "<withheld>"
	// MaxIdentifier is the longest identifier, in bytes: a tool name or an API's tool name
	// (64), a SHA-256 in hex (64), a UUID (36) fit.
	MaxIdentifier = 64
	// MaxNumber is the longest number, in bytes of JSON: a float64 printed in full takes 24.
	MaxNumber = 32
	// MaxDepth is the deepest nesting of objects and arrays inside a field (the field's own
	// value is at depth 0).
	MaxDepth = 64
)

// identByte holds the bytes an identifier is made of: ASCII letters and digits, '.', '_', '-',
// ':' and '+'. No '/', '\\', whitespace, quote, control byte or non-ASCII byte.
var identByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "._-:+" {
		t[c] = true
	}
	return t
}()

// IsIdentifier reports whether s is an identifier, metadata by type: at most MaxIdentifier bytes,
// each an ASCII letter or digit, '.', '_', '-', ':' or '+'. The empty string is one (it holds
// nothing).
func IsIdentifier(s string) bool {
	if len(s) > MaxIdentifier {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !identByte[s[i]] {
			return false
		}
	}
	return true
}
