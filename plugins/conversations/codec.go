package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// stateVersion is the first byte of an encoded session state.
const stateVersion = 1

// errCorrupt is wrapped by the errors of decoding a session's state.
var errCorrupt = errors.New("conversations: corrupt session state")

// encoder appends a session's state.
type encoder struct{ b []byte }

func (e *encoder) u(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) i(v int64)  { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) s(v string) { e.u(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) f(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// decoder reads what encoder wrote; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated", errCorrupt)
	}
	d.b = nil
}

func (d *decoder) u() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) i() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) s() string {
	n := d.u()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) f() bool { return d.u() != 0 }

// count reads a length, refusing one longer than the bytes left could hold.
func (d *decoder) count() int {
	n := d.u()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

// encode returns the session's state. Maps are written in key order, so equal states encode
// alike.
func (s *session) encode(b []byte) []byte {
	e := &encoder{b: append(b, stateVersion)}
	e.s(s.project)
	e.i(s.projectT)
	e.i(s.minT)
	e.i(s.maxT)
	e.u(uint64(s.sources))
	e.f(s.ended)
	e.u(uint64(len(s.hookModels)))
	for _, k := range sortedKeys(s.hookModels) {
		e.s(k)
		e.i(s.hookModels[k])
	}
	e.u(uint64(len(s.prompts)))
	for _, p := range s.prompts {
		e.u(uint64(p.src))
		e.f(p.side)
		e.s(p.hash)
		e.i(p.t)
		e.i(p.words)
	}
	e.u(uint64(len(s.tools)))
	for _, k := range sortedKeys(s.tools) {
		e.tool(s.tools[k])
	}
	for _, l := range [][]*tool{s.anonPre, s.anonPost} {
		e.u(uint64(len(l)))
		for _, tl := range l {
			e.tool(tl)
		}
	}
	e.u(uint64(len(s.msgs)))
	for _, k := range sortedKeys(s.msgs) {
		m := s.msgs[k]
		e.s(k)
		e.i(m.t)
		e.f(m.side)
		e.s(m.model)
	}
	e.u(uint64(len(s.usages)))
	for _, k := range sortedKeys(s.usages) {
		u := s.usages[k]
		e.s(k)
		e.i(u.t)
		e.f(u.side)
		e.i(u.in)
		e.i(u.out)
		e.i(u.cc)
		e.i(u.cr)
	}
	for _, l := range [][]int64{s.stops, s.compactsT, s.compactsH} {
		e.u(uint64(len(l)))
		for _, t := range l {
			e.i(t)
		}
	}
	e.u(uint64(len(s.interrupts)))
	for _, m := range s.interrupts {
		e.i(m.t)
		e.f(m.side)
	}
	e.u(uint64(len(s.perms)))
	for _, p := range s.perms {
		e.i(p.t)
		e.s(p.name)
		e.i(p.inBytes)
		e.s(p.mode)
	}
	e.u(s.sessHash)
	for _, l := range [][]uint64{s.turnHash, s.anonHash} {
		e.u(uint64(len(l)))
		for _, h := range l {
			e.u(h)
		}
	}
	return e.b
}

func (e *encoder) tool(tl *tool) {
	e.s(tl.id)
	e.u(uint64(tl.flags))
	e.u(uint64(tl.rank))
	e.s(tl.name)
	e.s(tl.op)
	e.s(tl.ext)
	e.s(tl.cmd)
	e.s(tl.mcp)
	e.i(tl.added)
	e.i(tl.removed)
	e.i(tl.inBytes)
	e.s(tl.mode)
	e.u(uint64(tl.modeRk))
	e.s(tl.errKind)
	e.u(uint64(tl.errRk))
	e.i(tl.preT)
	e.i(tl.postT)
	e.i(tl.useT)
	e.i(tl.resT)
	e.i(tl.hookDur)
	e.u(tl.hash)
}

func (d *decoder) tool() *tool {
	return &tool{id: d.s(), flags: uint16(d.u()), rank: uint8(d.u()), name: d.s(), op: d.s(), ext: d.s(), cmd: d.s(), mcp: d.s(),
		added: d.i(), removed: d.i(), inBytes: d.i(), mode: d.s(), modeRk: uint8(d.u()), errKind: d.s(), errRk: uint8(d.u()),
		preT: d.i(), postT: d.i(), useT: d.i(), resT: d.i(), hookDur: d.i(), hash: d.u()}
}

// decodeSession reads the state encode wrote for session id.
func decodeSession(id string, b []byte) (*session, error) {
	if len(b) == 0 || b[0] != stateVersion {
		return nil, fmt.Errorf("%w: version", errCorrupt)
	}
	d := &decoder{b: b[1:]}
	s := newSession(id)
	s.project, s.projectT, s.minT, s.maxT = d.s(), d.i(), d.i(), d.i()
	s.sources, s.ended = uint8(d.u()), d.f()
	for range d.count() {
		k := d.s()
		s.hookModels[k] = d.i()
	}
	for range d.count() {
		s.prompts = append(s.prompts, prompt{src: uint8(d.u()), side: d.f(), hash: d.s(), t: d.i(), words: d.i()})
	}
	for range d.count() {
		tl := d.tool()
		s.tools[tl.id] = tl
	}
	for range d.count() {
		s.anonPre = append(s.anonPre, d.tool())
	}
	for range d.count() {
		s.anonPost = append(s.anonPost, d.tool())
	}
	for range d.count() {
		k := d.s()
		s.msgs[k] = &message{t: d.i(), side: d.f(), model: d.s()}
	}
	for range d.count() {
		k := d.s()
		s.usages[k] = &usage{t: d.i(), side: d.f(), in: d.i(), out: d.i(), cc: d.i(), cr: d.i()}
	}
	for _, l := range []*[]int64{&s.stops, &s.compactsT, &s.compactsH} {
		for range d.count() {
			*l = append(*l, d.i())
		}
	}
	for range d.count() {
		s.interrupts = append(s.interrupts, mark{t: d.i(), side: d.f()})
	}
	for range d.count() {
		s.perms = append(s.perms, permReq{t: d.i(), name: d.s(), inBytes: d.i(), mode: d.s()})
	}
	s.sessHash = d.u()
	for _, l := range []*[]uint64{&s.turnHash, &s.anonHash} {
		for range d.count() {
			*l = append(*l, d.u())
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d bytes left over", errCorrupt, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// The entries of a session's log (its kv chunks, concatenated): each call appends, for each
// session it touched, an entry per event it merged and one with the hashes of the records it
// emitted. Replaying the entries in order rebuilds the state the calls left.
const (
	entryEvent  = 'E' // an event's kind, id (when it counts), time and the attributes apply reads
	entryHashes = 'H' // the hashes of the records a call emitted
	entrySnap   = 'S' // a whole state (encode), replacing what came before
)

// keptAttrs are the attributes of an event that apply reads, in the order of their codes in an
// event entry.
var keptAttrs = []string{
	"project", "sidechain", "model", "prompt_hash", "prompt_words", "interrupted", "meta",
	"tool_use_id", "tool_name", "tool_input_bytes", "permission_mode", "summary_bytes", "is_error",
	"error_kind", "message_id", "request_id", "input_tokens", "output_tokens",
	"cache_creation_tokens", "cache_read_tokens", "success", "duration_ms", "operation",
	"file_ext", "command", "command_kind", "mcp_server", "lines_added", "lines_removed",
}

// attrCode maps a kept attribute to its code.
var attrCode = func() map[string]byte {
	m := make(map[string]byte, len(keptAttrs))
	for i, k := range keptAttrs {
		m[k] = byte(i)
	}
	return m
}()

// appendEvent appends an event entry for ev.
func appendEvent(b []byte, ev *event) []byte {
	e := encoder{b: append(b, entryEvent)}
	e.s(ev.kind)
	id := ""
	if (ev.kind == "transcript.assistant" || ev.kind == "transcript.usage") && ev.str("message_id") == "" {
		id = ev.id
	}
	e.s(id)
	e.i(ev.t)
	n := 0
	for _, a := range ev.attrs {
		if _, ok := attrCode[a.key]; ok {
			n++
		}
	}
	e.u(uint64(n))
	for _, a := range ev.attrs {
		c, ok := attrCode[a.key]
		if !ok {
			continue
		}
		if a.str {
			c |= 0x80
		}
		e.b = append(e.b, c)
		e.s(a.val)
	}
	return e.b
}

// replay rebuilds a session's state from its log.
func replay(id string, b []byte) (*session, error) {
	s := newSession(id)
	d := &decoder{b: b}
	for d.err == nil && len(d.b) > 0 {
		tag := d.b[0]
		d.b = d.b[1:]
		switch tag {
		case entrySnap:
			n := d.count()
			if d.err != nil {
				break
			}
			snap, err := decodeSession(id, d.b[:n])
			if err != nil {
				return nil, err
			}
			d.b = d.b[n:]
			s = snap
		case entryEvent:
			ev := event{kind: d.s(), session: id}
			ev.id = d.s()
			ev.t = d.i()
			n := d.count()
			ev.attrs = make([]attr, 0, n)
			for range n {
				if len(d.b) == 0 {
					d.fail()
					break
				}
				c := d.b[0]
				d.b = d.b[1:]
				if int(c&0x7f) >= len(keptAttrs) {
					d.err = fmt.Errorf("%w: attribute code %d", errCorrupt, c)
					break
				}
				ev.attrs = append(ev.attrs, attr{key: keptAttrs[c&0x7f], str: c&0x80 != 0, val: d.s()})
			}
			if d.err == nil {
				if len(ev.kind) == 0 {
					d.err = fmt.Errorf("%w: event without a kind", errCorrupt)
					break
				}
				s.apply(&ev)
			}
		case entryHashes:
			s.readHashes(d)
		default:
			d.err = fmt.Errorf("%w: entry %d", errCorrupt, tag)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	s.dirty = false
	return s, nil
}

// appendHashes appends a hashes entry: the session record's hash (0: unchanged), then the
// changed turns' and anonymous calls' (index, hash) and the changed calls' (id, hash).
func appendHashes(b []byte, sess uint64, turns, anons []int, s *session, tools []*tool) []byte {
	e := encoder{b: append(b, entryHashes)}
	e.u(sess)
	e.u(uint64(len(turns)))
	for _, i := range turns {
		e.u(uint64(i))
		e.u(s.turnHash[i])
	}
	e.u(uint64(len(anons)))
	for _, i := range anons {
		e.u(uint64(i))
		e.u(s.anonHash[i])
	}
	e.u(uint64(len(tools)))
	for _, tl := range tools {
		e.s(tl.id)
		e.u(tl.hash)
	}
	return e.b
}

// readHashes reads a hashes entry into s.
func (s *session) readHashes(d *decoder) {
	if h := d.u(); h != 0 {
		s.sessHash = h
	}
	for _, l := range []*[]uint64{&s.turnHash, &s.anonHash} {
		for range d.count() {
			i, h := d.u(), d.u()
			if d.err != nil {
				return
			}
			if i >= 1<<20 {
				d.err = fmt.Errorf("%w: record index %d", errCorrupt, i)
				return
			}
			for uint64(len(*l)) <= i {
				*l = append(*l, 0)
			}
			(*l)[i] = h
		}
	}
	for range d.count() {
		id, h := d.s(), d.u()
		if d.err != nil {
			return
		}
		tl := s.tools[id]
		if tl == nil {
			d.err = fmt.Errorf("%w: hash of unknown tool call", errCorrupt)
			return
		}
		tl.hash = h
	}
}
