package main

import (
	"encoding/binary"
	"errors"
	"slices"
)

// Bounds of the state, so that each kv value stays well under the host's 64 KiB.
const (
	// MaxSessions is how many sessions the plugin weighs: the newest by start.
	MaxSessions = 50
	// MaxCommands is the most distinct commands kept per session; later ones are not counted.
	MaxCommands = 32
	// MaxCalls is the most shell calls remembered per session; later ones are not counted.
	MaxCalls = 800
)

// cmdTotal is a command's time in one session.
type cmdTotal struct {
	cmd       string
	ms, calls int64
}

// sess is what the index keeps of a session.
type sess struct {
	id     string
	start  int64 // Unix ms: the session's start, or its earliest shell call's until that is known
	timeMs int64 // its active time (else duration) from conversation.session, 0 until known
	cmds   []cmdTotal
}

// call is one shell call of a session, remembered to replace it when its record is re-emitted.
type call struct {
	id, cmd string
	ms      int64
}

// index is the plugin's state but the calls: the sessions, and the fingerprints of the insights
// emitted and not resolved, by command.
type index struct {
	sessions []*sess
	emitted  map[string]string
}

const (
	indexKey      = "index"
	sessionPrefix = "s/"
	stateVersion  = 1
)

func (ix *index) find(id string) *sess {
	for _, s := range ix.sessions {
		if s.id == id {
			return s
		}
	}
	return nil
}

// add adds a session that starts at start, dropping the oldest if there are MaxSessions; it
// returns nil, and the id of no session to drop, if the new one is older than all of them.
func (ix *index) add(id string, start int64) (s *sess, dropped string) {
	if len(ix.sessions) >= MaxSessions {
		oldest := 0
		for i, s := range ix.sessions {
			if s.start < ix.sessions[oldest].start {
				oldest = i
			}
		}
		if ix.sessions[oldest].start >= start {
			return nil, ""
		}
		dropped = ix.sessions[oldest].id
		ix.sessions = slices.Delete(ix.sessions, oldest, oldest+1)
	}
	s = &sess{id: id, start: start}
	ix.sessions = append(ix.sessions, s)
	return s, dropped
}

// addTime adds ms and calls to the session's total of cmd.
func (s *sess) addTime(cmd string, ms, calls int64) {
	for i := range s.cmds {
		if s.cmds[i].cmd == cmd {
			s.cmds[i].ms += ms
			s.cmds[i].calls += calls
			if s.cmds[i].calls <= 0 {
				s.cmds = slices.Delete(s.cmds, i, i+1)
			}
			return
		}
	}
	if calls > 0 && len(s.cmds) < MaxCommands {
		s.cmds = append(s.cmds, cmdTotal{cmd: cmd, ms: ms, calls: calls})
	}
}

func (ix *index) encode() []byte {
	b := []byte{stateVersion}
	b = binary.AppendUvarint(b, uint64(len(ix.sessions)))
	for _, s := range ix.sessions {
		b = appendString(b, s.id)
		b = binary.AppendVarint(b, s.start)
		b = binary.AppendVarint(b, s.timeMs)
		b = binary.AppendUvarint(b, uint64(len(s.cmds)))
		for _, c := range s.cmds {
			b = appendString(b, c.cmd)
			b = binary.AppendVarint(b, c.ms)
			b = binary.AppendVarint(b, c.calls)
		}
	}
	cmds := make([]string, 0, len(ix.emitted))
	for c := range ix.emitted {
		cmds = append(cmds, c)
	}
	slices.Sort(cmds)
	b = binary.AppendUvarint(b, uint64(len(cmds)))
	for _, c := range cmds {
		b = appendString(b, c)
		b = appendString(b, ix.emitted[c])
	}
	return b
}

func decodeIndex(b []byte) (*index, error) {
	ix := &index{emitted: map[string]string{}}
	if len(b) == 0 {
		return ix, nil
	}
	r := reader{b: b}
	if r.byte() != stateVersion {
		return ix, nil
	}
	n := r.count()
	for i := 0; i < n && r.err == nil; i++ {
		s := &sess{id: r.string(), start: r.varint(), timeMs: r.varint()}
		nc := r.count()
		for j := 0; j < nc && r.err == nil; j++ {
			s.cmds = append(s.cmds, cmdTotal{cmd: r.string(), ms: r.varint(), calls: r.varint()})
		}
		ix.sessions = append(ix.sessions, s)
	}
	ne := r.count()
	for i := 0; i < ne && r.err == nil; i++ {
		c := r.string()
		ix.emitted[c] = r.string()
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = errors.New("trailing bytes")
	}
	return ix, r.err
}

func encodeCalls(calls []call) []byte {
	b := []byte{stateVersion}
	b = binary.AppendUvarint(b, uint64(len(calls)))
	for _, c := range calls {
		b = appendString(b, c.id)
		b = appendString(b, c.cmd)
		b = binary.AppendVarint(b, c.ms)
	}
	return b
}

func decodeCalls(b []byte) ([]call, error) {
	if len(b) == 0 {
		return nil, nil
	}
	r := reader{b: b}
	if r.byte() != stateVersion {
		return nil, nil
	}
	n := r.count()
	calls := make([]call, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		calls = append(calls, call{id: r.string(), cmd: r.string(), ms: r.varint()})
	}
	return calls, r.err
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// reader decodes the state, remembering the first error.
type reader struct {
	b   []byte
	err error
}

var errCorrupt = errors.New("corrupt state")

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errCorrupt
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count no larger than the bytes left.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err = errCorrupt
		return 0
	}
	return int(n)
}

func (r *reader) string() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
