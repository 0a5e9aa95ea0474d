package main

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// The native tests' leakSource: the host's leak check (host/enforce.go) over the record's content
// fields, redone here as the plugin did before the host answered it (pdk.Leaks). Through the host,
// the golden tests (host_test.go) run the real one.

func init() { leakSource = scanLeaks }

// scanLeaks reports which of ss hold a leakWindow-byte window of r's content, with whitespace
// removed, less the parts equal to a granted read field's value.
func scanLeaks(r *record, ss []string) []bool {
	var reads []string
	for _, f := range readFields {
		if v := r.get(f); v.Type == gjson.String && len(v.Str) >= leakWindow {
			reads = append(reads, v.Str)
		}
	}
	var idx windowIndex
	for k, s := range ss {
		idx.add(reads, s, guardLabel{attr: k})
	}
	hits := map[guardLabel]bool{}
	if idx.wins != nil {
		for _, f := range contentFields {
			if raw := r.raw(f); raw != "" {
				idx.scanContent(raw, hits)
			}
		}
	}
	out := make([]bool, len(ss))
	for l := range hits {
		out[l.attr] = true
	}
	return out
}

// scanContent scans the texts of a content value (raw JSON) as the host sees them: a string's
// text, or an object's or array's raw JSON and the text of every string inside it (keys
// included) that holds an escape sequence, or another value's raw JSON. Escaped strings are
// decoded as they are scanned, never copied whole: a tool response can be megabytes.
func (x *windowIndex) scanContent(raw string, hits map[guardLabel]bool) {
	var r roller
	switch raw[0] {
	case '"':
		if s := raw[1 : len(raw)-1]; strings.IndexByte(s, '\\') >= 0 {
			decodeString(s, func(b []byte) { x.scan(&r, b, hits) })
		} else {
			x.scan(&r, bytesOf(s), hits)
		}
	case '{', '[':
		x.scan(&r, bytesOf(raw), hits)
		if strings.IndexByte(raw, '\\') >= 0 {
			x.scanEscapedStrings(raw, hits)
		}
	default:
		x.scan(&r, bytesOf(raw), hits)
	}
}

// scanEscapedStrings scans the decoded text of every string of a JSON container's raw text that
// holds a backslash, each as a text of its own.
func (x *windowIndex) scanEscapedStrings(raw string, hits map[guardLabel]bool) {
	for i := 0; i < len(raw); {
		k := strings.IndexByte(raw[i:], '"')
		if k < 0 {
			return
		}
		start := i + k
		end := skipString(raw, start)
		if s := raw[start+1 : max(start+1, end-1)]; strings.IndexByte(s, '\\') >= 0 {
			var r roller
			decodeString(s, func(b []byte) { x.scan(&r, b, hits) })
		}
		i = end
	}
}

// bytesOf returns the bytes of s, without a copy: they must not be written.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// windowIndex holds the leakWindow-byte windows of emitted strings, with whitespace removed, by
// the strings that hold them.
type windowIndex struct {
	bits [64]uint64
	wins map[windowKey][]guardLabel
}

// windowKey is a window: its first 8 bytes and last 4, little endian.
type windowKey struct {
	lo uint64
	hi uint32
}

// add indexes the windows of s, less the parts of it equal to one of reads.
func (x *windowIndex) add(reads []string, s string, l guardLabel) {
	for ; len(reads) > 0 && len(s) >= leakWindow; reads = reads[1:] {
		r := reads[0]
		for k := strings.Index(s, r); k >= 0; k = strings.Index(s, r) {
			x.add(reads[1:], s[:k], l)
			s = s[k+len(r):]
		}
	}
	if len(s) < leakWindow {
		return
	}
	var lo uint64
	var hi uint32
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSpace(c) {
			continue
		}
		lo, hi = push(lo, hi, c)
		if n++; n >= leakWindow {
			if x.wins == nil {
				x.wins = map[windowKey][]guardLabel{}
			}
			h := windowBit(lo)
			x.bits[h>>6] |= 1 << (h & 63)
			w := windowKey{lo, hi}
			x.wins[w] = append(x.wins[w], l)
		}
	}
}

// roller is the window of a text being scanned.
type roller struct {
	lo uint64
	hi uint32
	n  int
}

// scan adds the next bytes of a text to its window, less whitespace, and marks in hits the
// strings that hold a window of it.
func (x *windowIndex) scan(r *roller, b []byte, hits map[guardLabel]bool) {
	lo, hi, n := r.lo, r.hi, r.n
	for _, c := range b {
		if c <= ' ' && isSpace(c) {
			continue
		}
		lo, hi = lo>>8|uint64(hi)<<56, hi>>8|uint32(c)<<24
		if n++; n < leakWindow {
			continue
		}
		if h := windowBit(lo); x.bits[h>>6]&(1<<(h&63)) != 0 {
			for _, l := range x.wins[windowKey{lo, hi}] {
				hits[l] = true
			}
		}
	}
	r.lo, r.hi, r.n = lo, hi, n
}

// push shifts byte c into the window lo, hi; the first byte drops out.
func push(lo uint64, hi uint32, c byte) (uint64, uint32) {
	return lo>>8 | uint64(hi)<<56, hi>>8 | uint32(c)<<24
}

// windowBit returns the bit of a window in the index's bitmap, from its first 8 bytes.
func windowBit(lo uint64) uint32 { return uint32((lo * 0x9e3779b97f4a7c15) >> 52) }

// isSpace reports whether c is ASCII whitespace as the host removes it.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// decodeString passes emit the text of a JSON string's raw content (between its quotes), a chunk
// at a time, as gjson decodes it and so the host: escape sequences decoded, \u escapes as UTF-8 (a
// surrogate pair joined, a lone surrogate as U+FFFD, bad hex as U+0000), and the text cut short
// at a control byte or a malformed escape. The chunks are valid during the call only.
func decodeString(s string, emit func([]byte)) {
	var buf [4096]byte
	n := 0
	flush := func() {
		if n > 0 {
			emit(buf[:n])
			n = 0
		}
	}
	defer flush()
	for i := 0; i < len(s); i++ {
		if n > len(buf)-utf8.UTFMax {
			flush()
		}
		c := s[i]
		if c < ' ' {
			return
		}
		if c != '\\' {
			buf[n] = c
			n++
			continue
		}
		if i++; i == len(s) {
			return
		}
		switch c := s[i]; c {
		case '\\', '/', '"':
			buf[n] = c
		case 'b':
			buf[n] = '\b'
		case 'f':
			buf[n] = '\f'
		case 'n':
			buf[n] = '\n'
		case 'r':
			buf[n] = '\r'
		case 't':
			buf[n] = '\t'
		case 'u':
			if i+5 > len(s) {
				return
			}
			ru := hexRune(s[i+1 : i+5])
			i += 4
			if ru >= 0xd800 && ru < 0xdc00 && len(s)-i-1 >= 6 && s[i+1] == '\\' && s[i+2] == 'u' {
				if r2 := hexRune(s[i+3 : i+7]); r2 >= 0xdc00 && r2 < 0xe000 {
					ru = utf16.DecodeRune(ru, r2)
					i += 6
				}
			}
			n += utf8.EncodeRune(buf[n:], ru)
			continue
		default:
			return
		}
		n++
	}
}

// skipString returns the index past the string whose opening quote is json[i]: past the first
// quote not escaped by a backslash.
func skipString(json string, i int) int {
	for i++; ; i++ {
		k := strings.IndexByte(json[i:], '"')
		if k < 0 {
			return len(json)
		}
		i += k
		n := 0 // backslashes before the quote
		for json[i-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return i + 1
		}
	}
}

func skipSpace(json string, i int) int {
	for i < len(json) && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r') {
		i++
	}
	return i
}
