package main

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
)

// kvStore is the plugin's kv keyspace: pdk's in the module, a map in native tests.
type kvStore interface {
	Get(key []byte) ([]byte, bool)
	Set(key, value []byte)
}

// chunkSize is the most state bytes one kv value holds (the host allows 64 KiB): a session's
// state is split over as many values as it needs.
const chunkSize = 60000

// stateKey is the kv key of chunk i of a session's state: "s/<session>/<i>".
func stateKey(session string, i int) []byte {
	return strconv.AppendInt([]byte("s/"+session+"/"), int64(i), 10)
}

// hashKey is the kv key of the hash of a session's state as last written: "h/<session>".
func hashKey(session string) []byte { return []byte("h/" + session) }

// cached is a session's state kept in the module's memory after a call wrote it, with the hash
// of its encoding: a later call on the same instance whose kv holds that hash uses it instead of
// reading and decoding the state again. A call that did not commit (failed, or the agent crashed)
// left its kv writes uncommitted, so the hash in kv is not the cached one and the state is read.
type cached struct {
	hash uint64
	s    *session
}

// cache holds the states of the sessions last written, at most maxCached of them. A call takes
// a session out while it works on it, so a call that fails half-way leaves nothing behind.
var cache = map[string]cached{}

const maxCached = 64

// loadSession returns a session's state and the hash of its encoding in kv (0 for a new one).
func loadSession(kv kvStore, id string) (*session, uint64, error) {
	var hash uint64
	if h, ok := kv.Get(hashKey(id)); ok && len(h) == 8 {
		hash = binary.LittleEndian.Uint64(h)
	}
	if c, ok := cache[id]; ok {
		delete(cache, id)
		if hash != 0 && c.hash == hash {
			return c.s, hash, nil
		}
	}
	v, ok := kv.Get(stateKey(id, 0))
	if !ok {
		return newSession(id), hash, nil
	}
	n, k := binary.Uvarint(v)
	if k <= 0 || n == 0 || n > 1<<16 {
		return nil, 0, fmt.Errorf("%w: chunk count", errCorrupt)
	}
	blob := v[k:]
	if n > 1 {
		blob = append([]byte(nil), blob...)
	}
	for i := 1; i < int(n); i++ {
		c, ok := kv.Get(stateKey(id, i))
		if !ok {
			return nil, 0, fmt.Errorf("%w: chunk %d of %d missing", errCorrupt, i, n)
		}
		blob = append(blob, c...)
	}
	s, err := decodeSession(id, blob)
	return s, hash, err
}

// saveSession writes a session's state to kv, in chunks of chunkSize, with its hash, unless it
// is the state loaded (hash old); and keeps it in cache.
func saveSession(kv kvStore, s *session, old uint64, buf []byte) []byte {
	blob := s.encode(buf[:0])
	hash := hashBytes(blob)
	if hash != old {
		n := max(1, (len(blob)+chunkSize-1)/chunkSize)
		first := binary.AppendUvarint(make([]byte, 0, min(len(blob), chunkSize)+binary.MaxVarintLen64), uint64(n))
		first = append(first, blob[:min(len(blob), chunkSize)]...)
		kv.Set(stateKey(s.id, 0), first)
		for i := 1; i < n; i++ {
			kv.Set(stateKey(s.id, i), blob[i*chunkSize:min(len(blob), (i+1)*chunkSize)])
		}
		kv.Set(hashKey(s.id), binary.LittleEndian.AppendUint64(nil, hash))
	}
	if len(cache) >= maxCached {
		for k := range cache {
			delete(cache, k)
			break
		}
	}
	cache[s.id] = cached{hash, s}
	return blob
}

// hashBytes is FNV-1a of b, never 0.
func hashBytes(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h | 1
}

// enrich handles one call's records: it reads the state of each session they touch once, merges
// every event into it, then writes the state back and emits each record whose value changed,
// once, attached to the last record that did not fail. A record whose session's state cannot be
// read fails with the reason; the others stand.
func enrich(kv kvStore, recs []string) []pdk.Result {
	results := make([]pdk.Result, len(recs))
	sessions := map[string]*session{}
	loaded := map[string]uint64{}
	failed := map[string]error{}
	var order []*session
	for i, r := range recs {
		ev, ok := parseEvent(r)
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
			var hash uint64
			if s, hash, err = loadSession(kv, ev.session); err != nil {
				err = fmt.Errorf("load the state of session %s: %w", ev.session, err)
				failed[ev.session] = err
				results[i].Err = err
				continue
			}
			sessions[ev.session] = s
			loaded[ev.session] = hash
			order = append(order, s)
		}
		s.apply(&ev)
	}
	last := len(results) - 1
	for last >= 0 && results[last].Err != nil {
		last--
	}
	if last < 0 {
		return results
	}
	var out []sdk.Event
	var buf []byte
	for _, s := range order {
		out = s.emit(out)
		buf = saveSession(kv, s, loaded[s.id], buf)
	}
	results[last].Events = out
	return results
}

// emit appends the session's records that changed since they were last emitted, and remembers
// them.
func (s *session) emit(out []sdk.Event) []sdk.Event {
	b := s.build()
	changed := func(ev *sdk.Event, old *uint64) bool {
		sum := hashRecord(ev)
		if sum == *old {
			return false
		}
		*old = sum
		return true
	}
	if changed(&b.session, &s.sessHash) {
		out = append(out, b.session)
	}
	for len(s.turnHash) < len(b.turns) {
		s.turnHash = append(s.turnHash, 0)
	}
	for i := range b.turns {
		if changed(&b.turns[i], &s.turnHash[i]) {
			out = append(out, b.turns[i])
		}
	}
	for i := range b.tools {
		v := &b.tools[i]
		if v.ordinal == 0 {
			if changed(&b.toolEvs[i], &v.tool.hash) {
				out = append(out, b.toolEvs[i])
			}
			continue
		}
		for len(s.anonHash) < v.ordinal {
			s.anonHash = append(s.anonHash, 0)
		}
		if changed(&b.toolEvs[i], &s.anonHash[v.ordinal-1]) {
			out = append(out, b.toolEvs[i])
		}
	}
	return out
}

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hashRecord returns a hash of a record's value (never 0, which stands for "never emitted"): its
// time and attributes, which are all a record's value (kind and session are in its key).
func hashRecord(ev *sdk.Event) uint64 {
	h := uint64(fnvOffset)
	num := func(v uint64) {
		for range 8 {
			h = (h ^ (v & 0xff)) * fnvPrime
			v >>= 8
		}
	}
	str := func(s string) {
		num(uint64(len(s)))
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * fnvPrime
		}
	}
	num(uint64(ev.Time.UnixMilli()))
	for _, a := range ev.Attrs {
		str(a.Key)
		num(uint64(a.Value.Kind()))
		switch a.Value.Kind() {
		case sdk.KindInt:
			num(uint64(a.Value.Int()))
		case sdk.KindBool:
			if a.Value.Bool() {
				num(1)
			} else {
				num(0)
			}
		case sdk.KindHash:
			str(string(a.Value.Hash()))
		default:
			str(a.Value.Ident())
		}
	}
	return h | 1
}
