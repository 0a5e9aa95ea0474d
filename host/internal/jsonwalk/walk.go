package jsonwalk

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// Tree is a tree of dotted paths ("tool_input.file_path"), one Node per name, whose values a
// Walk finds. Build it with Add; it is not safe for concurrent use while it is built, and
// read-only after.
type Tree struct {
	// Roots are the nodes of the paths' first names, in the order added.
	Roots []*Node
	// Slots is how many nodes the tree has: the length of a Walk's Vals.
	Slots int
}

// Node is one name of a path of a Tree.
type Node struct {
	// Name is the node's name.
	Name string
	// path is the path from the root to the node, dotted.
	path string
	// Slot is the index of the node's value in a Walk's Vals.
	Slot int
	// Leaf says a path added ends at the node (its children, if any, are other paths').
	Leaf bool
	// Children are the nodes of the names that follow, in the order added.
	Children []*Node
}

// Add adds a path to the tree, and returns the slot of its node.
func (t *Tree) Add(path string) int {
	nodes := &t.Roots
	var n *Node
	for end := 0; end < len(path); {
		start := end
		if start > 0 {
			start++ // past the dot
		}
		end = start + strings.IndexByte(path[start:], '.')
		if end < start {
			end = len(path)
		}
		n = find(*nodes, path[start:end])
		if n == nil {
			n = &Node{Name: path[start:end], path: path[:end], Slot: t.Slots}
			t.Slots++
			*nodes = append(*nodes, n)
		}
		nodes = &n.Children
	}
	n.Leaf = true
	return n.Slot
}

// node returns the node of a path added, or nil.
func (t *Tree) node(path string) *Node {
	nodes := t.Roots
	var n *Node
	for name := range strings.SplitSeq(path, ".") {
		if n = find(nodes, name); n == nil {
			return nil
		}
		nodes = n.Children
	}
	return n
}

// find returns the node of nodes with the name, or nil.
func find(nodes []*Node, name string) *Node {
	for _, n := range nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Walk finds the values of a tree's nodes in one JSON document, in one pass, as gjson.Get would
// find them for their paths. A Walk may be run over many documents, one after another; it is not
// safe for concurrent use.
type Walk struct {
	// Vals holds, after Run, each node's value by slot: not Exists() when the document has none.
	// Only Type, Raw, Str and Index are set. The values alias the document, and decoded strings
	// the walk's own memory, which later runs never write again.
	Vals []gjson.Result

	json string
	// arena holds decoded strings (unescape), in chunks.
	arena []byte
	// escaped holds Escaped's strings.
	escaped []string
}

// Run sets w.Vals to the values of t's nodes in the JSON document payload: each the one
// gjson.Get returns for its path (the first match in document order). The document's top-level
// object is walked once, descending only into the objects that paths continue into; when the
// document is not one the walk reads as gjson does (another root, an array on a path, malformed
// JSON), each path is looked up with gjson.Get instead. The values alias payload, which must not
// change while they are in use.
func (w *Walk) Run(t *Tree, payload []byte) {
	if cap(w.Vals) < t.Slots {
		w.Vals = make([]gjson.Result, t.Slots)
	}
	w.Vals = w.Vals[:t.Slots]
	clear(w.Vals)
	w.json = unsafe.String(unsafe.SliceData(payload), len(payload))
	i := SkipSpace(w.json, 0)
	if i < len(w.json) && w.json[i] == '{' {
		if _, ok := w.object(i, t.Roots); ok {
			return
		}
	}
	// Not an object the walk could read as gjson does: look each path up with gjson.
	clear(w.Vals)
	w.lookup(t.Roots)
}

// Escaped returns the text, as gjson decodes it, of every string inside the JSON container r
// (an object or array, at any depth, object keys included) whose text differs from its raw JSON
// text less the quotes: the strings with escape sequences, which a search of the container's raw
// text does not find. The slice is the walk's, valid until its next Escaped; the strings stay.
func (w *Walk) Escaped(r *gjson.Result) []string {
	w.escaped = w.escaped[:0]
	if strings.IndexByte(r.Raw, '\\') < 0 {
		return w.escaped // no string inside has an escape sequence
	}
	if end, ok := w.escapedStrings(r.Raw, 0); ok && end == len(r.Raw) {
		return w.escaped
	}
	w.escaped = appendEscaped(w.escaped[:0], *r)
	return w.escaped
}

// escapedStrings adds to w.escaped the text, as gjson decodes it, of every string that holds a
// backslash in the JSON value at raw[i] (object keys included), and returns the index past the
// value. It returns false for any value that is not strict JSON (less the checks of strings'
// contents and of literals' spelling): on strict JSON it finds the strings gjson's ForEach finds,
// nested, as appendEscaped does, and gjson would find them alike; past that, appendEscaped must.
func (w *Walk) escapedStrings(raw string, i int) (int, bool) {
	if i = SkipSpace(raw, i); i >= len(raw) {
		return i, false
	}
	switch c := raw[i]; c {
	case '"':
		start := i
		end, esc, ok := skipString(raw, i)
		if ok && esc {
			w.escaped = append(w.escaped, w.unescape(raw[start+1:end-1]))
		}
		return end, ok
	case '{', '[':
		return w.escapedMembers(raw, i)
	}
	end, _, ok := skipValue(raw, i)
	return end, ok
}

// escapedMembers is escapedStrings for an object or array at raw[i].
func (w *Walk) escapedMembers(raw string, i int) (int, bool) {
	obj := raw[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	if i = SkipSpace(raw, i+1); i < len(raw) && raw[i] == closer {
		return i + 1, true
	}
	for {
		var ok bool
		if obj {
			// A key, as a string value, then a colon.
			if i >= len(raw) || raw[i] != '"' {
				return i, false
			}
			if i, ok = w.escapedStrings(raw, i); !ok {
				return i, false
			}
			if i = SkipSpace(raw, i); i >= len(raw) || raw[i] != ':' {
				return i, false
			}
			i++
		}
		if i, ok = w.escapedStrings(raw, i); !ok {
			return i, false
		}
		if i = SkipSpace(raw, i); i >= len(raw) {
			return i, false
		}
		switch raw[i] {
		case closer:
			return i + 1, true
		case ',':
			i = SkipSpace(raw, i+1)
		default:
			return i, false
		}
	}
}

// appendEscaped adds the text of every string inside a container, at any depth, that differs
// from its raw JSON text (less the quotes): strings with escape sequences, object keys included.
// gjson's results slice the container's raw text, so a nested container with no backslash holds
// no such string and is not entered. It is the way for containers escapedStrings refuses.
func appendEscaped(out []string, r gjson.Result) []string {
	r.ForEach(func(k, v gjson.Result) bool {
		if k.Type == gjson.String && escaped(k) {
			out = append(out, k.Str)
		}
		switch {
		case v.Type == gjson.String:
			if escaped(v) {
				out = append(out, v.Str)
			}
		case v.IsObject() || v.IsArray():
			if strings.IndexByte(v.Raw, '\\') >= 0 {
				out = appendEscaped(out, v)
			}
		}
		return true
	})
	return out
}

// escaped reports whether a string result's text is not its raw text less the quotes.
func escaped(s gjson.Result) bool {
	return len(s.Raw) < 2 || s.Str != s.Raw[1:len(s.Raw)-1]
}

// unescape returns the text of a JSON string's raw content (between its quotes) as gjson decodes
// it, in w's arena.
func (w *Walk) unescape(s string) string {
	// The text is at most as long as s (an escape sequence is never shorter than what it
	// decodes to): when it may not fit, start a new chunk. Bytes once appended to a chunk are
	// never written again, so the strings made of them stay as they are.
	if cap(w.arena)-len(w.arena) < len(s) {
		w.arena = make([]byte, 0, max(arenaChunk, len(s)))
	}
	start := len(w.arena)
	w.arena = appendUnescaped(w.arena, s)
	if len(w.arena) == start {
		return ""
	}
	return unsafe.String(&w.arena[start], len(w.arena)-start)
}

// arenaChunk is the size of the chunks of a walk's arena.
const arenaChunk = 8 << 10

// appendUnescaped appends the text of a JSON string's raw content (between its quotes) as gjson
// decodes it (its unexported unescape, which this mirrors): escape sequences decoded, \u escapes
// as UTF-8 (a surrogate pair joined, a lone surrogate as U+FFFD, bad hex as U+0000), and the
// text cut short at a control byte or a malformed escape.
func appendUnescaped(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		j := i + plainRun(s[i:])
		b = append(b, s[i:j]...)
		if j == len(s) || s[j] < ' ' {
			return b
		}
		if j++; j == len(s) {
			return b
		}
		switch c := s[j]; c {
		case '\\', '/', '"':
			b = append(b, c)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			if j+5 > len(s) {
				return b
			}
			r := hexRune(s[j+1 : j+5])
			j += 5
			if r >= 0xD800 && r < 0xDC00 && len(s)-j >= 6 && s[j] == '\\' && s[j+1] == 'u' {
				if r2 := hexRune(s[j+2 : j+6]); r2 >= 0xDC00 && r2 < 0xE000 {
					r = utf16.DecodeRune(r, r2)
					j += 6
				}
			}
			b = utf8.AppendRune(b, r)
			i = j
			continue
		default:
			return b
		}
		i = j + 1
	}
	return b
}

// plainRun returns the length of the run at the start of s that holds no backslash and no control
// byte (below ' '), testing 8 bytes at a time.
func plainRun(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A byte below ' ', or equal to '\\' (its xor with '\\' zero, so below 1), sets its high bit.
		y := x ^ ones*'\\'
		if ((x-ones*' ')&^x|(y-ones)&^y)&highs != 0 {
			break
		}
	}
	for i < len(s) && s[i] >= ' ' && s[i] != '\\' {
		i++
	}
	return i
}

// hexRune returns the rune of 4 hex digits, as gjson reads them: 0 if they are not hex.
func hexRune(s string) rune {
	n, _ := strconv.ParseUint(s, 16, 64)
	return rune(n)
}

// lookup sets the values of nodes and their descendants with gjson.Get.
func (w *Walk) lookup(nodes []*Node) {
	for _, n := range nodes {
		w.Vals[n.Slot] = gjson.Get(w.json, n.path)
		w.lookup(n.Children)
	}
}

// object walks the members of the object at w.json[i] ('{'): it records the value of each of
// nodes its key names (the first such member only, as gjson.Get), and walks the objects of nodes
// with children, whose deeper paths gjson.Get would also look for in every such member, in order.
// It returns the index past the object, or false when the object is not one the walk reads as
// gjson.Get does: then nothing it recorded may be used.
//
// It accepts only what gjson.Get parses the same way (whitespace, commas, keys, colons, and
// values that start as gjson's parser starts them); values it does not descend into are skipped
// as gjson skips them (skipValue).
func (w *Walk) object(i int, nodes []*Node) (int, bool) {
	json := w.json
	for i++; ; {
		i = SkipSpace(json, i)
		if i >= len(json) {
			return i, false
		}
		switch json[i] {
		case '}':
			return i + 1, true
		case ',':
			i++
			continue
		case '"':
		default:
			return i, false
		}
		ks := i
		var esc, ok bool
		if i, esc, ok = skipString(json, i); !ok {
			return i, false
		}
		key := json[ks+1 : i-1]
		if esc {
			key = gjson.Parse(json[ks:i]).Str
		}
		if i = SkipSpace(json, i); i >= len(json) || json[i] != ':' {
			return i, false
		}
		vs := SkipSpace(json, i+1)
		if vs >= len(json) {
			return vs, false
		}
		n := find(nodes, key)
		switch {
		case n == nil || len(n.Children) == 0:
			i, esc, ok = skipValue(json, vs)
		case json[vs] == '{':
			i, ok = w.object(vs, n.Children)
		case json[vs] == '[':
			return vs, false // gjson indexes arrays by number: leave them to gjson.Get
		default:
			i, esc, ok = skipValue(json, vs)
		}
		if !ok {
			return i, false
		}
		if n != nil && !w.Vals[n.Slot].Exists() {
			w.Vals[n.Slot] = w.valueOf(json[vs:i], esc)
			w.Vals[n.Slot].Index = vs // as gjson.Get sets it
		}
	}
}

// valueOf returns the result of a value skipValue or object delimited; esc tells whether a
// string holds a backslash.
func (w *Walk) valueOf(raw string, esc bool) gjson.Result {
	switch raw[0] {
	case '"':
		if esc {
			return gjson.Result{Type: gjson.String, Raw: raw, Str: w.unescape(raw[1 : len(raw)-1])}
		}
		return gjson.Result{Type: gjson.String, Raw: raw, Str: raw[1 : len(raw)-1]}
	case '{', '[':
		return gjson.Result{Type: gjson.JSON, Raw: raw}
	case 't':
		return gjson.Result{Type: gjson.True, Raw: raw}
	case 'f':
		return gjson.Result{Type: gjson.False, Raw: raw}
	case 'n':
		return gjson.Result{Type: gjson.Null, Raw: raw}
	default:
		return gjson.Result{Type: gjson.Number, Raw: raw}
	}
}

// skipValue returns the index past the value at json[i], whether it is a string holding a
// backslash, and false if gjson might read it otherwise. Its ends are gjson's: a string ends at
// its first quote not escaped by a backslash; an object or array at its closing bracket, counting
// '{', '[', '(' against '}', ']', ')' outside strings; a number at whitespace, a control byte,
// ',', ']' or '}'; true, false and null after their run of lowercase letters. Numbers hold only
// number bytes, and literals only letters: no quote or bracket, so that an object walked
// (walk.object) ends where gjson's skipping of it (counting brackets outside strings) ends.
func skipValue(json string, i int) (int, bool, bool) {
	switch c := json[i]; {
	case c == '"':
		return skipString(json, i)
	case c == '{' || c == '[':
		end, ok := skipContainer(json, i)
		return end, false, ok
	case c == '-' || c >= '0' && c <= '9':
		for i++; i < len(json); i++ {
			if c := json[i]; c <= ' ' || c == ',' || c == ']' || c == '}' {
				return i, false, true
			} else if !isNumberByte(c) {
				// gjson would take it into the number, but its skipping of an object or array
				// that holds the number would not: a quote or bracket would end them apart.
				return i, false, false
			}
		}
		return i, false, false
	case c == 't' || c == 'f' || c == 'n' && i+1 < len(json) && json[i+1] == 'u':
		for i++; i < len(json) && json[i] >= 'a' && json[i] <= 'z'; i++ {
		}
		return i, false, i < len(json)
	}
	return i, false, false
}

// isNumberByte reports whether c may be part of a JSON number.
func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// skipString returns the index past the string whose opening quote is json[i], whether it holds
// a backslash, and false if it does not end.
func skipString(json string, i int) (int, bool, bool) {
	esc := false
	for i++; ; i++ {
		k := strings.IndexByte(json[i:], '"')
		if k < 0 {
			return len(json), esc, false
		}
		if !esc && strings.IndexByte(json[i:i+k], '\\') >= 0 {
			esc = true
		}
		i += k
		n := 0 // backslashes before the quote
		for json[i-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return i + 1, esc, true
		}
	}
}

// bracket is +1 for an opening bracket (gjson counts parentheses too), -1 for a closing one.
var bracket = [256]int8{'{': 1, '[': 1, '(': 1, '}': -1, ']': -1, ')': -1}

// skipContainer returns the index past the object or array that opens at json[i], and false if
// it does not close.
func skipContainer(json string, i int) (int, bool) {
	depth := 0
	for ; i < len(json); i++ {
		c := json[i]
		if c == '"' {
			end, _, ok := skipString(json, i)
			if !ok {
				return end, false
			}
			i = end - 1
			continue
		}
		if d := bracket[c]; d != 0 {
			if depth += int(d); depth == 0 {
				return i + 1, true
			}
		}
	}
	return i, false
}

// SkipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func SkipSpace(json string, i int) int {
	for i < len(json) && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r') {
		i++
	}
	return i
}
