package main

import (
	"strings"

	"github.com/hangar-dev/hangar/sdk/pdk"
	"github.com/tidwall/gjson"
)

// record is one projected record, read in one pass. A tool response or a message can be
// megabytes: each lookup by gjson.Get would scan the record from its start, and gjson's ForEach
// decodes every string it passes. So the record's top-level members are split once into their
// raw values (pdk.Members), and a value is decoded only when it is asked for.
//
// Members are kept in slices and looked up by a linear scan rather than in maps: a record has a
// few dozen members at most, and in a guest a map costs a hash of every key (no hardware AES for
// it) and an allocation per map, for every record. A record's slices are reused by the next
// readRecord (see scratch), so a record is valid until then: within one capture call.
type record struct {
	top  members
	subs []sub    // the members of the top-level objects read so far
	buf  []member // backing store of top and subs
}

// sub is the members of a top-level object.
type sub struct {
	key string
	m   members
}

// member is one member of an object: its key, unescaped, and its value's raw JSON.
type member struct{ key, raw string }

// members are an object's members in order, ok if the value was an object (possibly empty). The
// first of repeated keys wins, as for gjson.Get and the host's projection.
type members struct {
	list []member
	ok   bool
}

// scratch is the record the next readRecord fills: its slices' storage is reused from record to
// record. The module serves one call at a time, and a capture call reads one record at a time.
var scratch record

// readRecord reads a record, which must be a JSON object. The host gives plugins valid JSON only
// (it refuses other payloads before projecting them), so the whole record is checked only when
// reading its members fails, to say why.
func readRecord(json string) (*record, error) {
	r := &scratch
	clear(r.subs)
	r.subs, r.buf = r.subs[:0], r.buf[:0]
	top, ok := r.members(json)
	switch {
	case ok:
		r.top = top
		return r, nil
	case !gjson.Valid(json):
		return nil, errNotJSON
	}
	return nil, errNotObject
}

// members splits a JSON object into its members, appended to r.buf, and reports whether json was
// a well-formed object.
func (r *record) members(json string) (members, bool) {
	start := len(r.buf)
	ok := pdk.Members(json, func(key, raw string) bool {
		r.buf = append(r.buf, member{key, raw})
		return true
	})
	return members{list: r.buf[start:len(r.buf):len(r.buf)], ok: ok}, ok
}

// get returns the value at a path of one or two names ("cwd", "message.usage").
func (r *record) get(path string) gjson.Result {
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		return r.top.get(head)
	}
	return r.sub(head).get(rest)
}

// raw returns the raw JSON of the value at a path of one or two names, or "".
func (r *record) raw(path string) string {
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		return r.top.raw(head)
	}
	return r.sub(head).raw(rest)
}

// sub returns the members of the top-level object named key: not ok if it is not an object (a
// malformed object keeps the members read before the fault, as gjson would).
func (r *record) sub(key string) members {
	for _, s := range r.subs {
		if s.key == key {
			return s.m
		}
	}
	var m members
	if raw, ok := r.top.lookup(key); ok {
		var whole bool
		m, whole = r.members(raw)
		m.ok = whole || len(m.list) > 0
	}
	r.subs = append(r.subs, sub{key, m})
	return m
}

// lookup returns the raw JSON of key's value, if the object has key.
func (m members) lookup(key string) (string, bool) {
	for i := range m.list {
		if m.list[i].key == key {
			return m.list[i].raw, true
		}
	}
	return "", false
}

// raw returns the raw JSON of key's value, or "".
func (m members) raw(key string) string {
	raw, _ := m.lookup(key)
	return raw
}

// get returns the value of key, parsed (a string decoded), or a Result that does not exist.
func (m members) get(key string) gjson.Result {
	raw, ok := m.lookup(key)
	if !ok {
		return gjson.Result{}
	}
	return gjson.Parse(raw)
}

// release drops the record's references to its input, so that the input of a call is not kept
// alive by the scratch record until the next one.
func (r *record) release() {
	clear(r.buf)
	clear(r.subs)
	r.top = members{}
}
