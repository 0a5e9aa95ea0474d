package claudesettings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// node is one JSON value of the settings file: where it is, and for an object or an array its
// elements, each with where it is. The file is parsed to the end, so that an edit can keep every
// byte it does not change.
type node struct {
	start, end int // the value is doc[start:end]
	elems      []*elem
}

// elem is one element of an object or array: a member (key and value) or an array element.
type elem struct {
	start  int    // where it starts: its key's opening quote, or its value for an array element
	keyEnd int    // after a member's key (the colon and blanks follow); start for an element
	key    string // a member's key, decoded
	val    *node
}

// parseValue parses the valid JSON value of doc that starts at or after i (blanks first), and
// returns it and the offset after it.
func parseValue(doc []byte, i int) (*node, int) {
	i = skipBlanks(doc, i)
	n := &node{start: i}
	switch doc[i] {
	case '{', '[':
		isObject := doc[i] == '{'
		i = skipBlanks(doc, i+1)
		for doc[i] != '}' && doc[i] != ']' {
			e := &elem{start: i, keyEnd: i}
			if isObject {
				e.keyEnd = skipString(doc, i)
				json.Unmarshal(doc[i:e.keyEnd], &e.key)
				i = skipBlanks(doc, e.keyEnd) + 1 // the colon
			}
			e.val, i = parseValue(doc, i)
			n.elems = append(n.elems, e)
			if i = skipBlanks(doc, i); doc[i] == ',' {
				i = skipBlanks(doc, i+1)
			}
		}
		n.end = i + 1
	case '"':
		n.end = skipString(doc, i)
	default: // number, true, false, null
		for i < len(doc) && bytes.IndexByte([]byte(",]} \t\r\n"), doc[i]) < 0 {
			i++
		}
		n.end = i
	}
	return n, n.end
}

func skipBlanks(doc []byte, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\r' || doc[i] == '\n') {
		i++
	}
	return i
}

// skipString returns the offset after the string that starts at doc[i].
func skipString(doc []byte, i int) int {
	for i++; doc[i] != '"'; i++ {
		if doc[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// kind names the kind of a JSON value, for errors.
func (d *settings) kind(n *node) string {
	switch d.doc[n.start] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func (d *settings) raw(n *node) []byte { return d.doc[n.start:n.end] }

// member returns the member of object n named key, nil if absent.
func member(n *node, key string) *elem {
	for _, e := range n.elems {
		if e.key == key {
			return e
		}
	}
	return nil
}

// settings is a Claude Code settings file: the file as it was (doc and its parse), and the hooks
// as an edit leaves them.
type settings struct {
	doc []byte
	top *node // the top-level object
	// hooks is the top-level "hooks" member, nil if absent.
	hooks *elem
	// events are the members of "hooks", in order; with hasHooks false, "hooks" is absent (or
	// is to be removed).
	events   []*event
	hasHooks bool
	style    style
}

// event is a member of "hooks": the matcher groups of one hook event.
type event struct {
	name   string
	orig   *elem // its member in the file's "hooks", nil for a new one
	groups []*group
}

// group is a matcher group: an object with an optional matcher and its hook entries.
type group struct {
	orig *elem // its element in the event's array, nil for a new one
	// hooksMember is the group's "hooks" member in the file (nil for a new group or one without).
	hooksMember *elem
	matcher     *string // the matcher if it is a string, nil if absent
	hasMatcher  bool
	entries     []*entry
	hasEntries  bool // the group has a "hooks" array
}

// entry is a hook entry: an object, as written, or as the edit rewrote it.
type entry struct {
	orig *elem  // its element in the group's "hooks" array, nil for a new one
	raw  []byte // the entry: as written, or the new one (compact)
	new  bool   // raw is new: written where orig was, or appended
}

// parse parses a settings file. An empty file (or blanks only) is an empty object, laid out as
// Claude Code writes a new file. Anything Claude Code would not read as settings with hooks is an
// error naming the problem.
func parse(data []byte) (*settings, error) {
	s := &settings{doc: data}
	if len(bytes.TrimSpace(data)) == 0 {
		s.doc = []byte("{}\n")
	} else if !json.Valid(data) {
		var v any
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		err := json.Unmarshal(bytes.TrimSpace(trimmed), &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := lineColumn(data, int(se.Offset)+len(data)-len(trimmed))
			return nil, fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, se)
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	s.top, _ = parseValue(s.doc, 0)
	if err := s.checkObject(s.top, "the top level"); err != nil {
		return nil, err
	}
	s.style = detectStyle(s.doc, s.top)
	s.hooks = member(s.top, "hooks")
	if s.hooks == nil {
		return s, nil
	}
	s.hasHooks = true
	if err := s.checkObject(s.hooks.val, `"hooks"`); err != nil {
		return nil, err
	}
	for _, m := range s.hooks.val.elems {
		where := "hooks." + m.key
		if s.doc[m.val.start] != '[' {
			return nil, fmt.Errorf("%s is %s, want an array of matcher groups", where, s.kind(m.val))
		}
		ev := &event{name: m.key, orig: m}
		for gi, ge := range m.val.elems {
			gwhere := fmt.Sprintf("%s[%d]", where, gi)
			if err := s.checkObject(ge.val, gwhere); err != nil {
				return nil, err
			}
			g := &group{orig: ge}
			if mm := member(ge.val, "matcher"); mm != nil {
				g.hasMatcher = true
				var matcher string
				if json.Unmarshal(s.raw(mm.val), &matcher) == nil {
					g.matcher = &matcher
				}
			}
			if hm := member(ge.val, "hooks"); hm != nil {
				if s.doc[hm.val.start] != '[' {
					return nil, fmt.Errorf("%s.hooks is %s, want an array of hooks", gwhere, s.kind(hm.val))
				}
				for ei, ee := range hm.val.elems {
					if s.doc[ee.val.start] != '{' {
						return nil, fmt.Errorf("%s.hooks[%d] is %s, want an object", gwhere, ei, s.kind(ee.val))
					}
					g.entries = append(g.entries, &entry{orig: ee, raw: s.raw(ee.val)})
				}
				g.hooksMember, g.hasEntries = hm, true
			}
			ev.groups = append(ev.groups, g)
		}
		s.events = append(s.events, ev)
	}
	return s, nil
}

// checkObject checks that n is an object without a key written twice. where names it in errors.
func (s *settings) checkObject(n *node, where string) error {
	if s.doc[n.start] != '{' {
		return fmt.Errorf("%s is %s, want an object", where, s.kind(n))
	}
	seen := make(map[string]bool, len(n.elems))
	for _, e := range n.elems {
		if seen[e.key] {
			return fmt.Errorf("%s has the key %q twice", where, e.key)
		}
		seen[e.key] = true
	}
	return nil
}

// lineColumn is the 1-based line and column of the byte before offset off in data, where a
// json.SyntaxError's Offset says the error is.
func lineColumn(data []byte, off int) (int, int) {
	at := min(max(off-1, 0), len(data))
	before := data[:at]
	return bytes.Count(before, []byte("\n")) + 1, at - (bytes.LastIndexByte(before, '\n') + 1) + 1
}
