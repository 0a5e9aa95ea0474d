package main

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
	"github.com/tidwall/gjson"
)

// Code is the code of the plugin's insights (plugin.toml's [messages.slow_command]).
const Code = "slow_command"

// The rule: over the sessions weighed whose time is known, a shell command ran at least MinCalls
// times for at least MinTotalMs in all, and took at least MinSharePct percent of their time.
// Severity: critical from CriticalPct, warning from WarningPct, else info.
const (
	MinCalls    = 3
	MinTotalMs  = 60_000
	MinSharePct = 10
	WarningPct  = 25
	CriticalPct = 50
)

// maxEvidence is how many sessions an insight names (session_1 ...), those where the command
// took the most time.
const maxEvidence = 5

// handle is the batch handler: it reads the index once, folds every record into it (reading and
// writing the calls of the sessions the records touch once each), then emits the insights that
// changed, attached to the call's last record. Records it does not use yield nothing; none fails.
func handle(recs []pdk.Record) []pdk.Result {
	ix, err := decodeIndex(kvGet(indexKey))
	if err != nil {
		ix = &index{emitted: map[string]string{}}
	}
	c := &callState{ix: ix, calls: map[string]*sessionCalls{}}
	for _, rec := range recs {
		c.add(parse(rec))
	}
	for id := range c.calls {
		if ix.find(id) == nil {
			kvSet(sessionPrefix+id, nil) // dropped: forget its calls
			continue
		}
		kvSet(sessionPrefix+id, encodeCalls(c.calls[id].list))
	}
	for _, id := range c.dropped {
		if _, ok := c.calls[id]; !ok {
			kvSet(sessionPrefix+id, nil)
		}
	}
	evs := ix.insights()
	kvSet(indexKey, ix.encode())
	results := make([]pdk.Result, len(recs))
	if len(recs) > 0 {
		results[len(recs)-1].Events = evs
	}
	return results
}

// callState is the index and the calls of the sessions a call's records touched.
type callState struct {
	ix      *index
	calls   map[string]*sessionCalls // by session id, loaded on first use
	dropped []string                 // sessions dropped from the index during the call
}

// sessionCalls are a session's shell calls, with their positions by tool_use_id.
type sessionCalls struct {
	list []call
	pos  map[string]int
}

func (c *callState) sessionCalls(id string) *sessionCalls {
	sc, ok := c.calls[id]
	if !ok {
		list, _ := decodeCalls(kvGet(sessionPrefix + id))
		sc = &sessionCalls{list: list, pos: make(map[string]int, len(list))}
		for i, x := range list {
			sc.pos[x.id] = i
		}
		c.calls[id] = sc
	}
	return sc
}

// session returns the session id, adding it with start if it is new; nil if it is older than
// every session weighed.
func (c *callState) session(id string, start int64) *sess {
	if s := c.ix.find(id); s != nil {
		return s
	}
	s, dropped := c.ix.add(id, start)
	if dropped != "" {
		c.dropped = append(c.dropped, dropped)
		delete(c.calls, dropped)
	}
	return s
}

// fields are the attributes of a derived record the plugin reads.
type fields struct {
	kind, session, key, tool, command string
	start, duration, active           int64
}

// parse reads a derived record (sdk.Event.MarshalJSON) in one pass over its attributes.
func parse(rec pdk.Record) fields {
	var f fields
	rec.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "kind":
			f.kind = v.String()
		case "session_id":
			f.session = v.String()
		case "attrs":
			v.ForEach(func(_, a gjson.Result) bool {
				val := a.Get("value")
				switch a.Get("key").Str {
				case "key":
					f.key = val.String()
				case "tool_name":
					f.tool = val.String()
				case "command":
					f.command = val.String()
				case "start":
					f.start = val.Int()
				case "duration_ms":
					f.duration = val.Int()
				case "active_ms":
					f.active = val.Int()
				}
				return true
			})
		}
		return true
	})
	return f
}

// add folds one record into the state.
func (c *callState) add(f fields) {
	if f.session == "" || !sdk.IsIdent(f.session) || len(f.session) > 200 {
		return
	}
	switch f.kind {
	case "conversation.session":
		s := c.session(f.session, f.start)
		if s == nil {
			return
		}
		s.start = f.start
		s.timeMs = f.active
		if s.timeMs <= 0 {
			s.timeMs = f.duration
		}
	case "conversation.tool":
		if f.tool != "Bash" || f.command == "" || !sdk.IsIdent(f.command) || len(f.command) > 64 {
			return
		}
		_, useID, ok := cutLast(f.key)
		if !ok || useID == "" {
			return
		}
		s := c.session(f.session, f.start)
		if s == nil {
			return
		}
		if s.timeMs == 0 && f.start > 0 && f.start < s.start {
			s.start = f.start // the session record, when it comes, says when it started
		}
		ms := max(f.duration, 0)
		sc := c.sessionCalls(f.session)
		i, ok := sc.pos[useID]
		switch {
		case ok:
			old := sc.list[i]
			s.addTime(old.cmd, -old.ms, -1)
			sc.list[i] = call{id: useID, cmd: f.command, ms: ms}
		case len(sc.list) < MaxCalls:
			sc.pos[useID] = len(sc.list)
			sc.list = append(sc.list, call{id: useID, cmd: f.command, ms: ms})
		default:
			return
		}
		s.addTime(f.command, ms, 1)
	}
}

// cutLast splits a key "<session>/<tool_use_id>" at its last slash.
func cutLast(key string) (before, after string, ok bool) {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return "", "", false
}

// total is a command's time over the sessions weighed.
type total struct {
	cmd       string
	ms, calls int64
	sessions  []cmdSession
}

type cmdSession struct {
	id string
	ms int64
}

// insights weighs every command over the sessions whose time is known, and returns the insights
// that changed since they were last emitted: a command that takes a large share of session time,
// or one that did and no longer does (resolved).
func (ix *index) insights() []sdk.Event {
	var sessionMs, newest int64
	totals := map[string]*total{}
	for _, s := range ix.sessions {
		if s.timeMs <= 0 {
			continue
		}
		sessionMs += s.timeMs
		newest = max(newest, s.start)
		for _, c := range s.cmds {
			t := totals[c.cmd]
			if t == nil {
				t = &total{cmd: c.cmd}
				totals[c.cmd] = t
			}
			t.ms += c.ms
			t.calls += c.calls
			t.sessions = append(t.sessions, cmdSession{id: s.id, ms: c.ms})
		}
	}
	cmds := make([]string, 0, len(totals))
	for c := range totals {
		cmds = append(cmds, c)
	}
	for c := range ix.emitted {
		if totals[c] == nil {
			cmds = append(cmds, c)
		}
	}
	slices.Sort(cmds)
	var out []sdk.Event
	for _, cmd := range cmds {
		t := totals[cmd]
		if t == nil {
			t = &total{cmd: cmd}
		}
		ev, active := evaluate(t, sessionMs, newest)
		switch {
		case active:
			if fp := fingerprint(&ev); fp != ix.emitted[cmd] {
				out = append(out, ev)
				ix.emitted[cmd] = fp
			}
		case ix.emitted[cmd] != "":
			out = append(out, ev)
			delete(ix.emitted, cmd)
		}
	}
	return out
}

// evaluate returns a command's insight and whether the rule holds.
func evaluate(t *total, sessionMs, newest int64) (sdk.Event, bool) {
	share := int64(0)
	if sessionMs > 0 {
		share = (200*t.ms + sessionMs) / (2 * sessionMs)
	}
	active := t.calls >= MinCalls && t.ms >= MinTotalMs && share >= MinSharePct
	severity := "info"
	switch {
	case !active:
	case share >= CriticalPct:
		severity = "critical"
	case share >= WarningPct:
		severity = "warning"
	}
	avg := int64(0)
	if t.calls > 0 {
		avg = t.ms / t.calls
	}
	ev := sdk.Event{Kind: Code, Attrs: []sdk.Attr{
		sdk.Ident("key", t.cmd),
		sdk.Ident("code", Code),
		sdk.Ident("severity", severity),
		sdk.Ident("command", t.cmd),
		sdk.Int("calls", t.calls),
		sdk.Int("total_ms", t.ms),
		sdk.Int("total_s", (t.ms+500)/1000),
		sdk.Int("avg_ms", avg),
		sdk.Int("share_pct", share),
		sdk.Int("sessions", int64(len(t.sessions))),
		sdk.Int("session_time_ms", sessionMs),
		sdk.Bool("resolved", !active),
	}}
	if newest > 0 {
		ev.Time = time.UnixMilli(newest).UTC()
	}
	slices.SortFunc(t.sessions, func(a, b cmdSession) int {
		return cmp.Or(cmp.Compare(b.ms, a.ms), cmp.Compare(a.id, b.id))
	})
	for i, s := range t.sessions[:min(len(t.sessions), maxEvidence)] {
		ev.Attrs = append(ev.Attrs, sdk.Ident("session_"+strconv.Itoa(i+1), s.id))
	}
	return ev, active
}

// fingerprint identifies an insight's content (a 64-bit FNV-1a hash of its time and attributes,
// in hex), so that an unchanged one is not emitted again.
func fingerprint(ev *sdk.Event) string {
	h := fnv.New64a()
	fmt.Fprint(h, ev.Time.Unix())
	for _, a := range ev.Attrs {
		fmt.Fprintf(h, "|%s=%s", a.Key, a.Value.String())
	}
	return strconv.FormatUint(h.Sum64(), 16)
}
