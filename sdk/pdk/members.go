package pdk

import (
	"strings"

	"github.com/tidwall/gjson"
)

// Members calls fn with the key and the raw JSON text of each member of a JSON object, in order,
// until fn returns false. It reports whether json was a well-formed object up to where it stopped.
//
// It is the cheap way to walk a record in a guest: it never decodes a value, so a long string
// (the content of a file being written) costs a skip, not an unescaped copy, and strings are
// skipped by searching for their closing quote rather than byte by byte. Decode what you keep
// with gjson.Parse(raw). Keys are unescaped.
func Members(json string, fn func(key, raw string) bool) bool {
	i := skipSpace(json, 0)
	if i >= len(json) || json[i] != '{' {
		return false
	}
	i = skipSpace(json, i+1)
	if i < len(json) && json[i] == '}' {
		return true
	}
	for i < len(json) {
		if json[i] != '"' {
			return false
		}
		end := skipString(json, i)
		if end < 0 {
			return false
		}
		key := json[i+1 : end-1]
		if strings.IndexByte(key, '\\') >= 0 {
			key = gjson.Parse(json[i:end]).Str
		}
		i = skipSpace(json, end)
		if i >= len(json) || json[i] != ':' {
			return false
		}
		i = skipSpace(json, i+1)
		vend := skipValue(json, i)
		if vend < 0 {
			return false
		}
		if !fn(key, json[i:vend]) {
			return true
		}
		var done bool
		if i, done = next(json, vend, '}'); done {
			return i >= 0
		}
	}
	return false
}

// Elements calls fn with the raw JSON text of each element of a JSON array, in order, until fn
// returns false. It reports whether json was a well-formed array up to where it stopped. Like
// Members, it decodes nothing and skips strings by searching for their closing quote: one pass
// over an array of content blocks, where gjson's ForEach would scan each block to find its end
// and a lookup in it would scan it again.
func Elements(json string, fn func(raw string) bool) bool {
	i := skipSpace(json, 0)
	if i >= len(json) || json[i] != '[' {
		return false
	}
	i = skipSpace(json, i+1)
	if i < len(json) && json[i] == ']' {
		return true
	}
	for i < len(json) {
		end := skipValue(json, i)
		if end < 0 {
			return false
		}
		if !fn(json[i:end]) {
			return true
		}
		var done bool
		if i, done = next(json, end, ']'); done {
			return i >= 0
		}
	}
	return false
}

// next reads what follows a container's member or element ending at json[i]: a comma, after which
// it returns the index of the next one, or the container's closing byte end, after which it
// reports done. Anything else is malformed: done, with a negative index.
func next(json string, i int, end byte) (int, bool) {
	i = skipSpace(json, i)
	switch {
	case i >= len(json):
		return -1, true
	case json[i] == end:
		return i, true
	case json[i] == ',':
		return skipSpace(json, i+1), false
	}
	return -1, true
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at s[i] (a quote), or -1.
func skipString(s string, i int) int {
	j := i + 1
	for {
		k := IndexByte(s[j:], '"')
		if k < 0 {
			return -1
		}
		q := j + k
		// The quote is escaped if an odd number of backslashes precede it.
		n := 0
		for b := q - 1; b > i && s[b] == '\\'; b-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// skipValue returns the index just past the JSON value starting at s[i], or -1. Containers are
// matched by depth, skipping their strings; scalars end at a delimiter. Scalars are not checked
// beyond that: gjson.Parse judges them when they are read.
func skipValue(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{', '[':
		depth := 0
		for i < len(s) {
			switch s[i] {
			case '"':
				if i = skipString(s, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		j := i
		for j < len(s) && s[j] != ',' && s[j] != '}' && s[j] != ']' && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}
