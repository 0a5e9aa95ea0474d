package main

import (
	"encoding/binary"
	"errors"
	"slices"
)

// Bounds of the state, so that it stays one kv value (the host's limit is 64 KiB).
const (
	// MaxTools is the most tools followed; past it, the tool seen least recently is dropped.
	MaxTools = 64
	// MaxSessions is the most sessions kept per tool as evidence (the newest it failed in).
	MaxSessions = 5
	// windowDays is how many days of counts a tool keeps: the two 7-day periods compared.
	windowDays = 14
)

// day is one day's counts of a tool, from its metrics.1d record (the latest one wins).
type day struct {
	start         int64 // the bucket's start, Unix seconds
	calls, errors int64
}

// session is a session a tool failed in.
type session struct {
	id    string
	start int64 // Unix milliseconds of the failed call
}

// tool is what the plugin keeps of one tool.
type tool struct {
	name     string
	days     []day     // by start, within windowDays of the newest day
	sessions []session // the newest first, at most MaxSessions
	seen     int64     // the newest day start or failure time (Unix s) seen for it
	emitted  string    // the fingerprint of the last insight emitted for it, "" if none
}

// state is the plugin's whole kv state.
type state struct {
	newest int64 // the newest metrics day start seen, Unix seconds
	tools  []*tool
}

const stateKey = "state"

// find returns the tool named name, adding it (and dropping the one seen least recently if there
// are MaxTools) if add.
func (s *state) find(name string, add bool) *tool {
	for _, t := range s.tools {
		if t.name == name {
			return t
		}
	}
	if !add {
		return nil
	}
	if len(s.tools) >= MaxTools {
		oldest := 0
		for i, t := range s.tools {
			if t.seen < s.tools[oldest].seen {
				oldest = i
			}
		}
		s.tools = slices.Delete(s.tools, oldest, oldest+1)
	}
	t := &tool{name: name}
	s.tools = append(s.tools, t)
	return t
}

// setDay records a tool's counts of a day, replacing earlier counts of that day.
func (t *tool) setDay(start, calls, errs int64) {
	t.seen = max(t.seen, start)
	i, found := slices.BinarySearchFunc(t.days, start, func(d day, s int64) int { return cmpInt(d.start, s) })
	if found {
		t.days[i].calls, t.days[i].errors = calls, errs
		return
	}
	t.days = slices.Insert(t.days, i, day{start: start, calls: calls, errors: errs})
}

// addSession records that the tool failed in a session at start (Unix ms), keeping the newest
// MaxSessions distinct sessions.
func (t *tool) addSession(id string, start int64) {
	t.seen = max(t.seen, start/1000)
	for i, s := range t.sessions {
		if s.id == id {
			if start <= s.start {
				return
			}
			t.sessions = slices.Delete(t.sessions, i, i+1)
			break
		}
	}
	i, _ := slices.BinarySearchFunc(t.sessions, start, func(s session, v int64) int { return cmpInt(v, s.start) })
	if i >= MaxSessions {
		return
	}
	t.sessions = slices.Insert(t.sessions, i, session{id: id, start: start})
	if len(t.sessions) > MaxSessions {
		t.sessions = t.sessions[:MaxSessions]
	}
}

// trim drops the days older than the window ending at newest.
func (t *tool) trim(newest int64) {
	cut := newest - (windowDays-1)*secondsPerDay
	i := 0
	for i < len(t.days) && t.days[i].start < cut {
		i++
	}
	t.days = slices.Delete(t.days, 0, i)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// stateVersion starts the encoding; another version is dropped (the state then rebuilds from
// the records that follow).
const stateVersion = 1

// encode writes the state: version, newest, tool count, then each tool.
func (s *state) encode() []byte {
	b := []byte{stateVersion}
	b = binary.AppendVarint(b, s.newest)
	b = binary.AppendUvarint(b, uint64(len(s.tools)))
	for _, t := range s.tools {
		b = appendString(b, t.name)
		b = binary.AppendVarint(b, t.seen)
		b = appendString(b, t.emitted)
		b = binary.AppendUvarint(b, uint64(len(t.days)))
		for _, d := range t.days {
			b = binary.AppendVarint(b, d.start)
			b = binary.AppendVarint(b, d.calls)
			b = binary.AppendVarint(b, d.errors)
		}
		b = binary.AppendUvarint(b, uint64(len(t.sessions)))
		for _, x := range t.sessions {
			b = appendString(b, x.id)
			b = binary.AppendVarint(b, x.start)
		}
	}
	return b
}

// decodeState reads what encode wrote; empty input is the empty state.
func decodeState(b []byte) (*state, error) {
	s := &state{}
	if len(b) == 0 {
		return s, nil
	}
	r := reader{b: b}
	if r.byte() != stateVersion {
		return &state{}, nil
	}
	s.newest = r.varint()
	n := r.count()
	for i := 0; i < n && r.err == nil; i++ {
		t := &tool{name: r.string(), seen: r.varint(), emitted: r.string()}
		nd := r.count()
		for j := 0; j < nd && r.err == nil; j++ {
			t.days = append(t.days, day{start: r.varint(), calls: r.varint(), errors: r.varint()})
		}
		ns := r.count()
		for j := 0; j < ns && r.err == nil; j++ {
			t.sessions = append(t.sessions, session{id: r.string(), start: r.varint()})
		}
		s.tools = append(s.tools, t)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = errors.New("trailing bytes")
	}
	return s, r.err
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
