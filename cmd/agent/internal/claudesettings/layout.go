package claudesettings

import (
	"bytes"
	"strings"
)

// style is how a settings file is laid out, as far as an edit needs it to write like the file.
type style struct {
	multiline   bool   // the file is written on lines of their own (or is empty: as Claude Code writes)
	newline     string // "\n", or "\r\n" in a file that uses it
	unit        string // one level of indentation
	colon       string // between a key and its value on lines of their own, as ": "
	inlineColon string // between a key and its value in an object written on one line
	inlineComma string // between the elements of an object or array written on one line
}

// detectStyle reads the layout of doc, whose top-level object is top: the indentation of the
// first object or array written on lines of their own, the separators of the first ones written
// on one line. Where the file shows none: two spaces, ": ", and on one line what the colon
// suggests.
func detectStyle(doc []byte, top *node) style {
	st := style{newline: "\n", unit: "  ", colon: ": "}
	st.multiline = len(top.elems) == 0 || bytes.IndexByte(doc[top.start:top.end], '\n') >= 0
	if bytes.Contains(doc, []byte("\r\n")) {
		st.newline = "\r\n"
	}
	var unit, colon, inlineColon, inlineComma bool
	var walk func(n *node)
	walk = func(n *node) {
		if len(n.elems) == 0 {
			return
		}
		oneLine := bytes.IndexByte(doc[n.start:n.end], '\n') < 0
		first := n.elems[0]
		if !unit && bytes.IndexByte(doc[n.start+1:first.start], '\n') >= 0 {
			if u, ok := strings.CutPrefix(lineIndent(doc, first.start), lineIndent(doc, n.start)); ok && u != "" {
				st.unit, unit = u, true
			}
		}
		if doc[n.start] == '{' {
			c := string(doc[first.keyEnd:first.val.start])
			switch {
			case oneLine && !inlineColon:
				st.inlineColon, inlineColon = c, true
			case !oneLine && !colon && !strings.ContainsAny(c, "\r\n"):
				st.colon, colon = c, true
			}
		}
		if oneLine && len(n.elems) >= 2 && !inlineComma {
			st.inlineComma, inlineComma = string(doc[first.val.end:n.elems[1].start]), true
		}
		for _, e := range n.elems {
			walk(e.val)
		}
	}
	walk(top)
	if !inlineColon {
		st.inlineColon = st.colon
	}
	if !inlineComma {
		st.inlineComma = ","
		if strings.HasSuffix(st.inlineColon, " ") {
			st.inlineComma = ", "
		}
	}
	return st
}

// lineIndent is the blanks that start the line holding doc[pos].
func lineIndent(doc []byte, pos int) string {
	start := bytes.LastIndexByte(doc[:pos], '\n') + 1
	end := start
	for end < pos && (doc[end] == ' ' || doc[end] == '\t') {
		end++
	}
	return string(doc[start:end])
}

// format lays out raw, a compact JSON value, in the file's style: on one line (inline), or on
// lines of their own, indented from prefix (the indentation of the line the value starts on).
// Empty objects and arrays stay {} and [].
func (st style) format(raw []byte, inline bool, prefix string) []byte {
	out := make([]byte, 0, 2*len(raw))
	depth := 0
	newline := func() {
		out = append(out, st.newline...)
		out = append(out, prefix...)
		for range depth {
			out = append(out, st.unit...)
		}
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '"':
			end := skipString(raw, i)
			out = append(out, raw[i:end]...)
			i = end - 1
		case '{', '[':
			out = append(out, c)
			if next := raw[i+1]; next == '}' || next == ']' {
				out = append(out, next)
				i++
				continue
			}
			depth++
			if !inline {
				newline()
			}
		case '}', ']':
			depth--
			if !inline {
				newline()
			}
			out = append(out, c)
		case ',':
			if inline {
				out = append(out, st.inlineComma...)
			} else {
				out = append(out, ',')
				newline()
			}
		case ':':
			if inline {
				out = append(out, st.inlineColon...)
			} else {
				out = append(out, st.colon...)
			}
		default:
			out = append(out, c)
		}
	}
	return out
}

// value is a JSON value as an edit leaves it: a value of the file kept as written, a container
// of the file with its elements edited (items), or a new value (raw).
type value struct {
	orig   *node
	edited bool   // orig's elements are items
	items  []item // orig's elements as the edit leaves them: some of its own, in order, then new ones
	raw    []byte // a new value, compact; laid out where it is written
}

// item is one element of an edited container: an element of the file, kept where it was (its
// value possibly edited), or a new one (orig nil), added after them.
type item struct {
	orig *elem
	key  string // a new member's key
	val  value
}

// keep is an element of the file, kept as written.
func keep(e *elem) item { return item{orig: e, val: value{orig: e.val}} }

// renderValue writes v. inline and prefix say how a new value is laid out there (see format).
func (s *settings) renderValue(v value, inline bool, prefix string) []byte {
	switch {
	case v.raw != nil:
		return s.style.format(v.raw, inline, prefix)
	case v.edited:
		return s.renderContainer(v.orig, v.items)
	}
	return s.raw(v.orig)
}

// renderContainer writes the object or array c of the file with items as its elements. The bytes
// of c are kept: before each kept element, what was before it (the comma and blanks after the
// element before it, which is the same whether or not that one is kept; before the first,
// the blanks after the opening bracket), and after the last, what followed the last element.
// New elements are added after the kept ones, as the last one was: on a line of its own, at its
// indentation, or on the same line. In an empty container they go on lines of their own, one
// level deeper than the container's line, unless the file is written on one line.
func (s *settings) renderContainer(c *node, items []item) []byte {
	doc, st := s.doc, s.style
	open, close := doc[c.start], doc[c.end-1]
	if len(items) == 0 {
		return []byte{open, close}
	}
	lead := func(i int) []byte {
		if i == 0 {
			return doc[c.start+1 : c.elems[0].start]
		}
		return doc[c.elems[i-1].val.end:c.elems[i].start]
	}
	var (
		firstLead, newLead, trailing []byte
		inline                       bool
		prefix                       string // the indentation of a new element's line
	)
	switch n := len(c.elems); {
	case n > 0:
		last := c.elems[n-1]
		firstLead, trailing = lead(0), doc[last.val.end:c.end]
		ownLines := bytes.IndexByte(lead(n-1), '\n') >= 0
		switch {
		case n >= 2:
			newLead = lead(n - 1)
		case ownLines:
			newLead = append([]byte{','}, lead(0)...)
		default:
			newLead = []byte(st.inlineComma)
		}
		inline = !ownLines || s.siblingsInline(c)
		prefix = lineIndent(doc, last.start)
	case st.multiline:
		outer := lineIndent(doc, c.start)
		prefix = outer + st.unit
		firstLead = []byte(st.newline + prefix)
		newLead = []byte("," + st.newline + prefix)
		trailing = []byte(st.newline + outer + string(close))
	default:
		inline = true
		newLead, trailing = []byte(st.inlineComma), []byte{close}
	}
	out := []byte{open}
	for j, it := range items {
		switch {
		case j == 0:
			out = append(out, firstLead...)
		case it.orig != nil:
			out = append(out, lead(it.orig.index(c))...)
		default:
			out = append(out, newLead...)
		}
		if it.orig != nil {
			e := it.orig
			out = append(out, doc[e.start:e.val.start]...)
			out = append(out, s.renderValue(it.val, bytes.IndexByte(s.raw(e.val), '\n') < 0, lineIndent(doc, e.start))...)
			continue
		}
		if open == '{' {
			colon := st.colon
			if inline {
				colon = st.inlineColon
			}
			out = append(out, marshal(it.key)...)
			out = append(out, colon...)
		}
		out = append(out, s.renderValue(it.val, inline, prefix)...)
	}
	return append(out, trailing...)
}

// index is e's position among c's elements.
func (e *elem) index(c *node) int {
	for i, x := range c.elems {
		if x == e {
			return i
		}
	}
	panic("claudesettings: an element of another container")
}

// siblingsInline reports whether the last element of c whose value is a non-empty object or
// array is written on one line: a new element written among such ones is too.
func (s *settings) siblingsInline(c *node) bool {
	for i := len(c.elems) - 1; i >= 0; i-- {
		if v := c.elems[i].val; len(v.elems) > 0 {
			return bytes.IndexByte(s.raw(v), '\n') < 0
		}
	}
	return false
}
