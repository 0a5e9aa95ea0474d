package main

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

// kvStore is the plugin's kv keyspace: pdk's in the module, a map in native tests.
type kvStore interface {
	Get(key []byte) ([]byte, bool)
	Set(key, value []byte)
}

// chunkSize is the most state bytes one kv value holds (the host allows 64 KiB): a session's
// log is split over as many values as it needs.
const chunkSize = 60000

// lastMax is the size up to which a call's entries are appended to the log's last chunk (which
// is then written again) rather than starting a new one: small enough that rewriting it costs
// little, large enough that a session's chunks stay few.
const lastMax = 2048

// stateKey is the kv key of chunk i of a session's log: "s/<session>/<i>".
func stateKey(session string, i int) []byte {
	return strconv.AppendInt([]byte("s/"+session+"/"), int64(i), 10)
}

// hashKey is the kv key of a session's log header: "h/<session>".
func hashKey(session string) []byte { return []byte("h/" + session) }

// logVersion is the first byte of a log header.
const logVersion = 2

// stored is where a session's log stands in kv: its chunk count, a hash chained over every
// entry appended (it names the log's content), and the last chunk's bytes (a call appends to
// it while it is small).
type stored struct {
	hash uint64
	n    int
	last []byte
	size int // the log's bytes
	snap int // the bytes of the snapshot it starts with (0: none)
}

// compactMin is the log size from which a session's log is compacted (rewritten as one snapshot
// of its state) once it has grown past twice its last snapshot: a replay then reads little more
// than the state, and each byte of log is rewritten a bounded number of times. A variable for
// tests.
var compactMin = 64 << 10

// header encodes a log header: the version, the chunk count and the chained hash.
func (st *stored) header() []byte {
	b := binary.AppendUvarint([]byte{logVersion}, uint64(st.n))
	return binary.LittleEndian.AppendUint64(b, st.hash)
}

// cached is a session's state kept in the module's memory after a call wrote it: a later call
// on the same instance whose kv header holds its hash uses it instead of reading and replaying
// the log again. A call that did not commit (failed, or the agent crashed) left its kv writes
// uncommitted, so the hash in kv is not the cached one and the log is read.
type cached struct {
	hash uint64
	s    *session
}

// cache holds the states of the sessions last written, at most maxCached of them. A call takes
// a session out while it works on it, so a call that fails half-way leaves nothing behind.
var cache = map[string]cached{}

const maxCached = 256

// loadSession returns a session's state: the cached one when kv's header names it, else the
// log in kv replayed (a new session when there is none).
func loadSession(kv kvStore, id string) (*session, error) {
	h, ok := kv.Get(hashKey(id))
	if !ok {
		delete(cache, id)
		if _, ok := kv.Get(stateKey(id, 0)); ok {
			return nil, fmt.Errorf("%w: no header", errCorrupt)
		}
		return newSession(id), nil
	}
	var st stored
	n, k := binary.Uvarint(h[min(1, len(h)):])
	if len(h) == 0 || h[0] != logVersion || k <= 0 || n == 0 || n > 1<<16 || len(h) != 1+k+8 {
		delete(cache, id)
		return nil, fmt.Errorf("%w: header", errCorrupt)
	}
	st.n, st.hash = int(n), binary.LittleEndian.Uint64(h[1+k:])
	if c, ok := cache[id]; ok {
		delete(cache, id)
		if c.hash == st.hash {
			return c.s, nil
		}
	}
	var blob []byte
	for i := range st.n {
		c, ok := kv.Get(stateKey(id, i))
		if !ok {
			return nil, fmt.Errorf("%w: chunk %d of %d missing", errCorrupt, i, st.n)
		}
		blob = append(blob, c...)
		if i == st.n-1 {
			st.last = append([]byte(nil), c...)
		}
	}
	s, err := replay(id, blob)
	if err != nil {
		return nil, err
	}
	st.size = len(blob)
	if blob[0] == entrySnap {
		if n, k := binary.Uvarint(blob[1:]); k > 0 {
			st.snap = int(n)
		}
	}
	s.st = st
	return s, nil
}

// saveSession appends the entries of this call (s.delta) to the session's log in kv and writes
// its header; and keeps the state in cache.
func saveSession(kv kvStore, s *session) {
	if st := &s.st; len(s.delta) > 0 && st.size+len(s.delta) >= compactMin && st.size+len(s.delta) > 2*st.snap {
		// Compact: the log becomes one snapshot of the state, from chunk 0.
		snap := s.encode(nil)
		s.delta = append(binary.AppendUvarint(append(s.delta[:0], entrySnap), uint64(len(snap))), snap...)
		*st = stored{snap: len(snap), last: st.last[:0]}
	}
	if d := s.delta; len(d) > 0 {
		st := &s.st
		st.size += len(d)
		h := st.hash
		if h == 0 {
			h = fnvOffset
		}
		for _, c := range d {
			h = (h ^ uint64(c)) * fnvPrime
		}
		st.hash = h | 1
		if st.n > 0 && len(st.last)+len(d) <= lastMax {
			st.last = append(st.last, d...)
			kv.Set(stateKey(s.id, st.n-1), st.last)
		} else {
			for len(d) > 0 {
				c := d[:min(len(d), chunkSize)]
				d = d[len(c):]
				kv.Set(stateKey(s.id, st.n), c)
				st.n++
				st.last = append(st.last[:0], c...)
			}
		}
		kv.Set(hashKey(s.id), st.header())
		s.delta = s.delta[:0]
	}
	if len(cache) >= maxCached {
		for k := range cache {
			delete(cache, k)
			break
		}
	}
	cache[s.id] = cached{s.st.hash, s}
}

// enrich handles one call's records: it reads the state of each session they touch once, merges
// every event into it, then writes the state back and emits each record whose value changed,
// once, attached to the last record that did not fail. A record whose session's state cannot be
// read fails with the reason; the others stand.
func enrich(kv kvStore, recs []string) []pdk.Result {
	results := make([]pdk.Result, len(recs))
	sessions := map[string]*session{}
	failed := map[string]error{}
	var order []*session
	buf := make([]attr, 0, 32)
	for i, r := range recs {
		ev, ok := parseEventInto(r, buf)
		buf = ev.attrs
		if !ok {
			continue
		}
		s := sessions[ev.session]
		if s == nil {
			if err := failed[ev.session]; err != nil {
				results[i].Err = err
				continue
			}
			var err error
			// The state keeps the id: a copy, not the call's input.
			if s, err = loadSession(kv, strings.Clone(ev.session)); err != nil {
				err = fmt.Errorf("load the state of session %s: %w", ev.session, err)
				failed[ev.session] = err
				results[i].Err = err
				continue
			}
			sessions[ev.session] = s
			order = append(order, s)
		}
		s.apply(&ev)
		s.delta = appendEvent(s.delta, &ev)
	}
	last := len(results) - 1
	for last >= 0 && results[last].Err != nil {
		last--
	}
	if last < 0 {
		return results
	}
	var out []sdk.Event
	for _, s := range order {
		out = s.emit(out)
		saveSession(kv, s)
	}
	results[last].Events = out
	return results
}

// emit appends the session's records that changed since they were last emitted, and remembers
// their hashes (in the state and in the call's log entries).
func (s *session) emit(out []sdk.Event) []sdk.Event {
	b := s.build()
	var sess uint64
	if h := b.session.valueHash(); h != s.sessHash {
		s.sessHash, sess = h, h
		out = append(out, b.session.record(s.id))
	}
	for len(s.turnHash) < len(b.turns) {
		s.turnHash = append(s.turnHash, 0)
	}
	var turns, anons []int
	var tools []*tool
	for i, tn := range b.turns {
		if h := tn.valueHash(); h != s.turnHash[i] {
			s.turnHash[i] = h
			out = append(out, tn.record(s.id))
			turns = append(turns, i)
		}
	}
	for i := range b.tools {
		v := &b.tools[i]
		h := v.valueHash()
		if v.ordinal == 0 {
			if h != v.tool.hash {
				v.tool.hash = h
				out = append(out, v.record(s.id))
				tools = append(tools, v.tool)
			}
			continue
		}
		for len(s.anonHash) < v.ordinal {
			s.anonHash = append(s.anonHash, 0)
		}
		if h != s.anonHash[v.ordinal-1] {
			s.anonHash[v.ordinal-1] = h
			out = append(out, v.record(s.id))
			anons = append(anons, v.ordinal-1)
		}
	}
	if sess != 0 || len(turns) > 0 || len(anons) > 0 || len(tools) > 0 {
		s.delta = appendHashes(s.delta, sess, turns, anons, s, tools)
	}
	return out
}

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)
