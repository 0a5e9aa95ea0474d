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
type record struct {
	top  members
	subs map[string]members // members of top-level objects, for dotted paths
}

// members maps an object's keys to their values' raw JSON. The first of repeated keys wins, as
// for gjson.Get and the host's projection.
type members map[string]string

// readRecord reads a record, which must be a JSON object. The host gives plugins valid JSON only
// (it refuses other payloads before projecting them), so the whole record is checked only when
// reading its members fails, to say why.
func readRecord(json string) (*record, error) {
	m := members{}
	ok := pdk.Members(json, func(key, raw string) bool {
		if _, dup := m[key]; !dup {
			m[key] = raw
		}
		return true
	})
	switch {
	case ok:
		return &record{top: m}, nil
	case !gjson.Valid(json):
		return nil, errNotJSON
	}
	return nil, errNotObject
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
		return r.top[head]
	}
	return r.sub(head)[rest]
}

// sub returns the members of the top-level object named key (none if it is not an object).
func (r *record) sub(key string) members {
	if m, ok := r.subs[key]; ok {
		return m
	}
	m := parseMembers(r.top[key])
	if r.subs == nil {
		r.subs = map[string]members{}
	}
	r.subs[key] = m
	return m
}

// get returns the value of key, parsed (a string decoded), or a Result that does not exist.
func (m members) get(key string) gjson.Result {
	raw, ok := m[key]
	if !ok {
		return gjson.Result{}
	}
	return gjson.Parse(raw)
}

// parseMembers splits a JSON object into its members (pdk.Members); anything else has none.
func parseMembers(json string) members {
	m := members{}
	ok := pdk.Members(json, func(key, raw string) bool {
		if _, dup := m[key]; !dup {
			m[key] = raw
		}
		return true
	})
	if !ok && len(m) == 0 {
		return nil
	}
	return m
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
