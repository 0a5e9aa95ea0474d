package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// event is the part of an input event (sdk.Event.MarshalJSON) the reconstruction reads.
type event struct {
	id      string
	kind    string
	session string
	t       int64 // Unix ms
	attrs   []attr
}

// attr is one attribute of an input event: its key and value (a string's text, unescaped; a
// number's or a boolean's JSON).
type attr struct {
	key string
	val string
	str bool // val is a string's text
}

// parseEvent reads an input record: one stored event as sdk.Event.MarshalJSON writes it. It
// reports false for a record that is not such an event (no kind, no session, not a hook or
// transcript event): those are ignored. The common form is scanned directly (scan); anything
// else goes through gjson.
func parseEvent(js string) (event, bool) { return parseEventInto(js, make([]attr, 0, 24)) }

// parseEventInto is parseEvent with the attributes kept in buf (reused: they are valid until
// the next call).
func parseEventInto(js string, buf []attr) (event, bool) {
	ev := event{attrs: buf[:0]}
	if !scan(js, &ev) {
		ev = event{attrs: ev.attrs[:0]}
		parseGeneric(js, &ev)
	}
	if ev.kind == "" || ev.session == "" {
		return ev, false
	}
	return ev, strings.HasPrefix(ev.kind, "hook.") || strings.HasPrefix(ev.kind, "transcript.")
}

// parseGeneric reads any JSON form of an event with gjson.
func parseGeneric(js string, ev *event) {
	gjson.Parse(js).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "id":
			ev.id = v.Str
		case "kind":
			ev.kind = v.Str
		case "session_id":
			ev.session = v.Str
		case "time":
			ev.t = parseTime(v.Str)
		case "attrs":
			v.ForEach(func(_, a gjson.Result) bool {
				var at attr
				a.ForEach(func(k, v gjson.Result) bool {
					switch k.Str {
					case "key":
						at.key = v.Str
					case "value":
						if v.Type == gjson.String {
							at.val, at.str = v.Str, true
						} else {
							at.val = v.Raw
						}
					}
					return true
				})
				if at.key != "" {
					ev.attrs = append(ev.attrs, at)
				}
				return true
			})
		}
		return true
	})
}

// scanner reads the JSON sdk.Event.MarshalJSON writes: objects of string keys, strings without
// escapes, numbers, booleans, no spaces. Any other byte makes it give up (ok false).
type scanner struct {
	s  string
	i  int
	ok bool
}

func (p *scanner) expect(c byte) {
	if p.ok && p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return
	}
	p.ok = false
}

func (p *scanner) peek() byte {
	if !p.ok || p.i >= len(p.s) {
		p.ok = false
		return 0
	}
	return p.s[p.i]
}

// str reads a string without escapes.
func (p *scanner) str() string {
	p.expect('"')
	if !p.ok {
		return ""
	}
	j := strings.IndexByte(p.s[p.i:], '"')
	if j < 0 || strings.IndexByte(p.s[p.i:p.i+j], '\\') >= 0 {
		p.ok = false
		return ""
	}
	v := p.s[p.i : p.i+j]
	p.i += j + 1
	return v
}

// value reads a string, number or boolean; it reports whether it was a string.
func (p *scanner) value() (string, bool) {
	switch c := p.peek(); {
	case c == '"':
		return p.str(), true
	case c == '-' || c == 't' || c == 'f' || (c >= '0' && c <= '9'):
		j := p.i
		for j < len(p.s) && p.s[j] != ',' && p.s[j] != '}' && p.s[j] != ']' {
			j++
		}
		v := p.s[p.i:j]
		p.i = j
		return v, false
	}
	p.ok = false
	return "", false
}

// scan reads the event's fields; it reports false if js is not in the form scanner reads.
func scan(js string, ev *event) bool {
	p := &scanner{s: js, ok: true}
	p.expect('{')
	for p.ok && p.peek() != '}' {
		if p.peek() == ',' {
			p.i++
		}
		k := p.str()
		p.expect(':')
		if k == "attrs" {
			p.expect('[')
			for p.ok && p.peek() != ']' {
				if p.peek() == ',' {
					p.i++
				}
				var at attr
				p.expect('{')
				for p.ok && p.peek() != '}' {
					if p.peek() == ',' {
						p.i++
					}
					ak := p.str()
					p.expect(':')
					if ak == "value" && p.peek() == '{' {
						// A sketch ({"i":[...],"v":[...]}): kept raw, not read.
						j := strings.IndexByte(p.s[p.i:], '}')
						if j < 0 {
							return false
						}
						at.val = p.s[p.i : p.i+j+1]
						p.i += j + 1
						continue
					}
					v, isStr := p.value()
					switch ak {
					case "key":
						at.key = v
					case "value":
						at.val, at.str = v, isStr
					}
				}
				p.expect('}')
				if at.key != "" {
					ev.attrs = append(ev.attrs, at)
				}
			}
			p.expect(']')
			continue
		}
		v, _ := p.value()
		switch k {
		case "id":
			ev.id = v
		case "kind":
			ev.kind = v
		case "session_id":
			ev.session = v
		case "time":
			ev.t = parseTime(v)
		}
	}
	p.expect('}')
	return p.ok && p.i == len(p.s)
}

// parseTime returns the Unix milliseconds of an RFC 3339 time, 0 if it is not one. UTC times
// ("2025-06-08T10:47:08.446Z", as MarshalJSON writes the store's) are read directly.
func parseTime(s string) int64 {
	if len(s) >= 20 && s[len(s)-1] == 'Z' && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':' {
		n := func(a, b int) int {
			v, err := strconv.Atoi(s[a:b])
			if err != nil {
				return -1
			}
			return v
		}
		y, mo, d, h, mi, sec := n(0, 4), n(5, 7), n(8, 10), n(11, 13), n(14, 16), n(17, 19)
		msec := 0
		frac := s[19 : len(s)-1]
		if len(frac) > 0 {
			if frac[0] != '.' || len(frac) < 2 {
				frac = "x"
			} else {
				f := frac[1:]
				f = (f + "000")[:3]
				v, err := strconv.Atoi(f)
				if err != nil {
					msec = -1
				} else {
					msec = v
				}
			}
		}
		if y >= 0 && mo >= 1 && d >= 1 && h >= 0 && mi >= 0 && sec >= 0 && msec >= 0 && frac != "x" {
			return time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC).UnixMilli() + int64(msec)
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}

// get returns the value of attribute key.
func (ev *event) get(key string) (attr, bool) {
	for i := range ev.attrs {
		if ev.attrs[i].key == key {
			return ev.attrs[i], true
		}
	}
	return attr{}, false
}

// str returns a string attribute's text, or "".
func (ev *event) str(key string) string {
	a, ok := ev.get(key)
	if !ok || !a.str {
		return ""
	}
	return a.val
}

// num returns an integer attribute, or 0.
func (ev *event) num(key string) int64 {
	a, ok := ev.get(key)
	if !ok || a.str {
		return 0
	}
	n, err := strconv.ParseInt(a.val, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// flag returns a boolean attribute, false if it has none.
func (ev *event) flag(key string) bool {
	a, ok := ev.get(key)
	return ok && !a.str && a.val == "true"
}

// has reports whether the event has attribute key.
func (ev *event) has(key string) bool { _, ok := ev.get(key); return ok }
