package main

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/hangar-dev/hangar/sdk"
)

// Horizons behind the watermark (README.md, "State").
const (
	// idleMS caps each gap between a session's consecutive events in its active time.
	idleMS = 5 * 60 * 1000
	// sessionHorizon: a session whose last event is older is forgotten.
	sessionHorizon = 35 * day
	// entryHorizon: a response (message id + request id) whose kept copy is older is forgotten.
	entryHorizon = 35 * day
	// futureSlack: an event later than its ingest time by more does not move the watermark.
	futureSlack = 3600 * 1000
)

// global is the plugin's own bookkeeping, in one blob under "g": the watermark (the latest event
// time seen), the buckets that have state, the sessions and the days of indexed responses.
type global struct {
	w        int64
	open     [len(widths)][]int64 // bucket starts with state, per width, sorted
	sessions map[string]int64     // session -> last event time
	days     []dayIndex           // days with a response index, sorted
	pages    int
}

// dayIndex is a day (Unix ms / day) whose responses are indexed, in chunks: each call that
// indexes responses of the day writes the next chunk, so a call writes only its own keys.
type dayIndex struct {
	day    int64
	chunks int
}

func dayChunkKey(d int64, i int) []byte {
	return binary.AppendUvarint(binary.AppendVarint([]byte{'u'}, d), uint64(i))
}

func loadGlobal(kv kvStore) *global {
	data, pages := getBlob(kv, []byte("g"))
	g := &global{sessions: map[string]int64{}, pages: pages}
	d := decoder{b: data}
	if len(data) == 0 {
		return g
	}
	g.w = d.varint()
	for i := range g.open {
		g.open[i] = d.times()
	}
	n := d.uvarint()
	for i := uint64(0); i < n && !d.err; i++ {
		id := d.str()
		g.sessions[id] = d.varint()
	}
	n = d.uvarint()
	prev := int64(0)
	for i := uint64(0); i < n && !d.err; i++ {
		prev += d.varint()
		g.days = append(g.days, dayIndex{prev, int(d.uvarint())})
	}
	if d.err {
		return &global{sessions: map[string]int64{}, pages: pages}
	}
	return g
}

func (g *global) save(kv kvStore) {
	b := binary.AppendVarint(nil, g.w)
	for _, o := range g.open {
		b = appendTimes(b, o)
	}
	ids := make([]string, 0, len(g.sessions))
	for id := range g.sessions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendString(b, id)
		b = binary.AppendVarint(b, g.sessions[id])
	}
	b = binary.AppendUvarint(b, uint64(len(g.days)))
	prev := int64(0)
	for _, x := range g.days {
		b = binary.AppendVarint(b, x.day-prev)
		prev = x.day
		b = binary.AppendUvarint(b, uint64(x.chunks))
	}
	g.pages = setBlob(kv, []byte("g"), b, g.pages)
}

// sessState is a session during a call: as loaded (old) and as changed (cur).
type sessState struct {
	old, cur *session
	pages    int
	dirty    map[string]bool // tools changed
	newTimes []int64
	prompts  bool // prompts changed
	stops    bool // stops changed
	changed  bool
}

// entry is the kept copy of one response's usage (message id + request id).
type entry struct {
	t                int64
	id, model        string
	project          string
	sidechain, speed bool
	tok              [4]int64 // input, output, cache creation, cache read
	day              int64    // the day it is indexed under
}

func (e *entry) tokens() int64 { return e.tok[0] + e.tok[1] + e.tok[2] + e.tok[3] }

// wins reports whether copy c replaces the kept copy k, as the usage rollup decides
// (pipeline/usagestore): the non-sidechain one, then more tokens, then the one stating its speed;
// and, where the rollup keeps the first, the earlier one, then the lower event id, so that the
// choice does not depend on the order.
func wins(c, k *entry) bool {
	better := func(c, k *entry) bool {
		if c.sidechain != k.sidechain {
			return !c.sidechain
		}
		if ct, kt := c.tokens(), k.tokens(); ct != kt {
			return ct > kt
		}
		return c.speed && !k.speed
	}
	if better(c, k) {
		return true
	}
	if better(k, c) {
		return false
	}
	if c.t != k.t {
		return c.t < k.t
	}
	return c.id < k.id
}

func encodeEntry(e *entry) []byte {
	b := binary.AppendVarint(nil, e.t)
	b = appendString(b, e.id)
	b = appendString(b, e.model)
	b = appendString(b, e.project)
	var f byte
	if e.sidechain {
		f |= 1
	}
	if e.speed {
		f |= 2
	}
	b = append(b, f)
	for _, n := range e.tok {
		b = binary.AppendVarint(b, n)
	}
	return binary.AppendVarint(b, e.day)
}

func decodeEntry(data []byte) *entry {
	d := decoder{b: data}
	e := &entry{t: d.varint(), id: d.str(), model: d.str(), project: d.str()}
	f := d.byte1()
	e.sidechain, e.speed = f&1 != 0, f&2 != 0
	for i := range e.tok {
		e.tok[i] = d.varint()
	}
	e.day = d.varint()
	if d.err {
		return nil
	}
	return e
}

// engine runs one call: state loaded on first use, changed in memory, written back once.
type engine struct {
	kv       kvStore
	g        *global
	sessions map[string]*sessState
	entries  map[string]*entry // kept copies read or changed in this call, by kv key
	written  map[string]bool   // the entries this call changed
	dayIdx   map[int64][]string
	minute   map[minuteKey]*agg // contributions by minute and dimensions, before fanOut
	delta    map[aggKey]*agg
	buckets  map[bucketKey]*bucket
}

// minuteKey names the contributions of one minute (Unix s) to the records of a tuple of
// dimension values. Every bucket of every width is a union of whole minutes, so the call sums its
// contributions by minute first and adds each sum to its records once (fanOut): one map update per
// contribution instead of one per width and dimension.
type minuteKey struct {
	start int64
	d     dims
}

func newEngine(kv kvStore) *engine {
	return &engine{
		kv: kv, sessions: map[string]*sessState{}, entries: map[string]*entry{},
		written: map[string]bool{}, dayIdx: map[int64][]string{}, minute: map[minuteKey]*agg{}, delta: map[aggKey]*agg{}, buckets: map[bucketKey]*bucket{},
	}
}

// run handles a call's events and returns the records it changed.
func (e *engine) run(evs []event) []sdk.Event {
	e.g = loadGlobal(e.kv)
	for i := range evs {
		ev := &evs[i]
		if ev.ingest == 0 || ev.t <= ev.ingest+futureSlack {
			e.g.w = max(e.g.w, ev.t)
		}
	}
	for i := range evs {
		e.apply(&evs[i])
	}
	for _, id := range sortedKeys(e.sessions) {
		e.diffSession(e.sessions[id])
	}
	e.fanOut()
	e.applyDeltas()
	out := e.emit()
	e.save()
	e.drop()
	e.g.save(e.kv)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (e *engine) session(id string) *sessState {
	if s, ok := e.sessions[id]; ok {
		return s
	}
	data, pages := getBlob(e.kv, shortKey('s', id))
	old := decodeSession(data)
	s := &sessState{old: old, cur: old.clone(), pages: pages, dirty: map[string]bool{}}
	e.sessions[id] = s
	return s
}

// apply merges one event into the facts it is about.
func (e *engine) apply(ev *event) {
	if ev.kind == "transcript.usage" && ev.hasTokens {
		e.usage(ev)
	}
	if ev.session == "" {
		return
	}
	ss := e.session(ev.session)
	s := ss.cur
	var added bool
	if s.times, added = insertTime(s.times, ev.t); added {
		ss.newTimes = append(ss.newTimes, ev.t)
		ss.changed = true
	}
	if p := pick(s.project, ev.project); p != s.project {
		s.project, ss.changed = p, true
	}
	hook := strings.HasPrefix(ev.kind, "hook.")
	if ev.model != "" && !ev.sidechain && (hook || ev.kind == "transcript.usage" || ev.kind == "transcript.assistant") {
		if s.addModel(ev.t, ev.model) {
			ss.changed = true
		}
	}
	switch {
	case ev.kind == "hook.UserPromptSubmit",
		ev.kind == "transcript.user" && !ev.sidechain && !ev.meta && !ev.interrupted && ev.toolResults == 0 && ev.promptHash != "":
		if s.addPrompt(ev.t, ev.promptHash) {
			ss.prompts, ss.changed = true, true
		}
	case ev.kind == "hook.Stop" || ev.kind == "hook.SessionEnd":
		var ok bool
		if s.stops, ok = insertTime(s.stops, ev.t); ok {
			ss.stops, ss.changed = true, true
		}
	}
	var id string
	switch ev.kind {
	case "hook.PreToolUse", "hook.PermissionRequest", "hook.PostToolUse", "hook.PostToolUseFailure",
		"transcript.tool_use", "transcript.tool_result":
		id = ev.toolUseID
		if id == "" {
			if ev.kind != "hook.PostToolUse" && ev.kind != "hook.PostToolUseFailure" && ev.kind != "transcript.tool_use" {
				return
			}
			id = "\x01" + ev.id // counted alone
		}
	default:
		return
	}
	tl := s.tools[id]
	if tl == nil {
		tl = &tool{hookDur: -1}
		s.tools[id] = tl
	}
	before := *tl
	if ev.kind != "transcript.tool_result" {
		tl.name, tl.op, tl.cmd = pick(tl.name, ev.toolName), pick(tl.op, ev.operation), pick(tl.cmd, ev.command)
	}
	if hook && (ev.permMode == "acceptEdits" || ev.permMode == "bypassPermissions") {
		tl.flags |= fAuto
	}
	switch ev.kind {
	case "hook.PreToolUse":
		tl.pre = minTime(tl.pre, ev.t)
	case "hook.PermissionRequest":
		tl.perm = minTime(tl.perm, ev.t)
	case "hook.PostToolUse", "hook.PostToolUseFailure":
		tl.post = minTime(tl.post, ev.t)
		if ev.hasDuration {
			tl.hookDur = max(tl.hookDur, ev.duration)
		}
		if ev.kind == "hook.PostToolUseFailure" || (ev.hasSuccess && !ev.success) || ev.isError {
			tl.flags |= fHookErr
			tl.hookKind = pick(tl.hookKind, ev.errorKind)
		}
		if ev.interrupted {
			tl.flags |= fInterrupted
		}
	case "transcript.tool_use":
		tl.use = minTime(tl.use, ev.t)
	case "transcript.tool_result":
		tl.result = minTime(tl.result, ev.t)
		if ev.isError {
			tl.flags |= fTrErr
			tl.trKind = pick(tl.trKind, ev.errorKind)
		}
		if ev.interrupted {
			tl.flags |= fInterrupted
		}
	}
	if ev.hasLines {
		if hook {
			tl.flags |= fHookLines
			tl.hookLA, tl.hookLR = max(tl.hookLA, ev.linesAdded), max(tl.hookLR, ev.linesRemoved)
		} else {
			tl.flags |= fTrLines
			tl.trLA, tl.trLR = max(tl.trLA, ev.linesAdded), max(tl.trLR, ev.linesRemoved)
		}
	}
	if *tl != before {
		ss.dirty[id], ss.changed = true, true
	}
}

// usage merges a copy of a response's usage: a first copy is added, a winning copy replaces
// the kept one.
func (e *engine) usage(ev *event) {
	c := &entry{t: ev.t, id: ev.id, project: ev.project, sidechain: ev.sidechain, speed: ev.speed != ""}
	if ev.model != "" && ev.model != "<synthetic>" {
		c.model = ev.model
		if ev.speed == "fast" {
			c.model += "-fast"
		}
	}
	cc := ev.cacheCreation
	if ev.hasBreakdown {
		cc = ev.cc5m + ev.cc1h
	}
	c.tok = [4]int64{ev.input, ev.output, cc, ev.cacheRead}
	if ev.messageID == "" {
		e.addEntry(c, 1)
		return
	}
	key := string(shortKey('m', ev.messageID+"\x00"+ev.requestID))
	k, ok := e.entries[key]
	if !ok {
		if data, found := e.kv.Get([]byte(key)); found {
			k = decodeEntry(data)
		}
	}
	if k != nil && !wins(c, k) {
		e.entries[key] = k
		return
	}
	if k != nil {
		e.addEntry(k, -1)
		c.day = k.day
	} else {
		c.day = -1
	}
	e.addEntry(c, 1)
	if d := c.t / day; d != c.day {
		c.day = d
		e.dayIdx[d] = append(e.dayIdx[d], key)
	}
	e.entries[key] = c
	e.written[key] = true
}

func (e *engine) addEntry(c *entry, sign int64) {
	a := &contrib{}
	copy(a.n[cInput:cCacheRead+1], c.tok[:])
	model := c.model
	if model == "" {
		model = "unknown"
	}
	e.contribute(c.t, dims{dimAll: "-", dimModel: model, dimProject: c.project}, a, sign)
}

type dims [numDims]string

// contribute adds sign times a at time t to every width's bucket, under each dimension with a
// value (through the minute's sum: fanOut).
func (e *engine) contribute(t int64, d dims, a *contrib, sign int64) {
	if t < 0 {
		return
	}
	e.addMinute(t/1000/60*60, d, a, sign)
}

// contrib is one contribution: counters, and at most one latency observation.
type contrib struct {
	n      [numCounters]int64
	lat    uint16
	hasLat bool
}

func (e *engine) addMinute(start int64, d dims, a *contrib, sign int64) {
	k := minuteKey{start, d}
	x := e.minute[k]
	if x == nil {
		x = &agg{}
		e.minute[k] = x
	}
	for i := range x.n {
		x.n[i] += sign * a.n[i]
	}
	if a.hasLat {
		x.addLat(a.lat, sign)
	}
}

// contributeActive adds sign times the active span [from, to) to the buckets it overlaps.
func (e *engine) contributeActive(from, to int64, d dims, sign int64) {
	const ws = 60 * 1000
	for t := from; t < to; {
		start := t / ws * ws
		end := min(to, start+ws)
		var a contrib
		a.n[cActiveMS] = end - t
		e.addMinute(start/1000, d, &a, sign)
		t = end
	}
}

// fanOut adds each minute's sums to the records of every width and dimension it belongs to.
func (e *engine) fanOut() {
	for k, a := range e.minute {
		if a.zero() {
			continue
		}
		for w := range widths {
			start := k.start / widths[w].s * widths[w].s
			for dim, v := range k.d {
				if v == "" {
					continue
				}
				ak := aggKey{w, start, dim, v}
				x := e.delta[ak]
				if x == nil {
					x = &agg{}
					e.delta[ak] = x
				}
				x.add(a, 1)
			}
		}
	}
}

// diffSession subtracts the contributions of what changed as it was and adds them as it is now.
func (e *engine) diffSession(ss *sessState) {
	if !ss.changed {
		return
	}
	old, cur := ss.old, ss.cur
	full := old.project != cur.project || !slices.Equal(old.modelRuns(), cur.modelRuns())
	// Tool calls.
	tools := ss.dirty
	if full || ss.stops {
		tools = map[string]bool{}
		for id := range old.tools {
			tools[id] = true
		}
		for id := range cur.tools {
			tools[id] = true
		}
	}
	for _, id := range sortedKeys(tools) {
		if tl := old.tools[id]; tl != nil {
			e.addCall(old, tl, -1)
		}
		if tl := cur.tools[id]; tl != nil {
			e.addCall(cur, tl, 1)
		}
	}
	// Turns.
	if full || ss.prompts || len(ss.dirty) > 0 {
		for _, t := range old.turns() {
			e.addTurn(old, t, -1)
		}
		for _, t := range cur.turns() {
			e.addTurn(cur, t, 1)
		}
	}
	// Active time.
	if full {
		addGaps(old.times, func(a, b int64) { e.addGap(old, a, b, -1) })
		addGaps(cur.times, func(a, b int64) { e.addGap(cur, a, b, 1) })
	} else if len(ss.newTimes) > 0 {
		gone := map[int64]int64{}
		made := map[int64]int64{}
		for _, t := range ss.newTimes {
			i, _ := slices.BinarySearch(old.times, t)
			if i > 0 && i < len(old.times) {
				gone[old.times[i-1]] = old.times[i]
			}
			j, _ := slices.BinarySearch(cur.times, t)
			if j > 0 {
				made[cur.times[j-1]] = t
			}
			if j+1 < len(cur.times) {
				made[t] = cur.times[j+1]
			}
		}
		for a, b := range gone {
			e.addGap(old, a, b, -1)
		}
		for a, b := range made {
			e.addGap(cur, a, b, 1)
		}
	}
}

func addGaps(ts []int64, fn func(a, b int64)) {
	for i := 1; i < len(ts); i++ {
		fn(ts[i-1], ts[i])
	}
}

func (e *engine) addGap(s *session, a, b int64, sign int64) {
	e.contributeActive(a, a+min(b-a, idleMS), dims{dimAll: "-", dimModel: s.modelAt(a), dimProject: s.project}, sign)
}

func (e *engine) addTurn(s *session, t turn, sign int64) {
	a := &contrib{}
	a.n[cTurns] = 1
	if t.hasError {
		a.n[cTurnsWithError] = 1
	}
	e.contribute(t.t, dims{dimAll: "-", dimModel: s.modelAt(t.t), dimProject: s.project}, a, sign)
}

func (e *engine) addCall(s *session, tl *tool, sign int64) {
	c, ok := s.toolCall(tl)
	if !ok {
		return
	}
	a := &contrib{}
	a.n[cToolCalls] = 1
	if c.err {
		a.n[cToolErrors] = 1
	}
	if c.decided {
		a.n[cEditsDecided] = 1
	}
	if c.accepted {
		a.n[cEditsAccepted] = 1
	}
	a.n[cLinesAdded], a.n[cLinesRemoved] = c.linesAdd, c.linesRem
	if c.duration >= 0 {
		a.n[cDurationMS] = c.duration
		a.lat, a.hasLat = latencyIndex(c.duration), true
	}
	name := c.name
	if name == "" {
		name = "unknown"
	}
	e.contribute(c.start, dims{
		dimAll: "-", dimTool: name, dimModel: s.modelAt(c.start), dimProject: s.project,
		dimErrorKind: c.kind, dimCommand: c.cmd,
	}, a, sign)
}

// closed reports whether a bucket of width w starting at start (Unix s) is final: it ended more
// than the width's horizon before the watermark.
func (e *engine) closed(w int, start int64) bool {
	return (start+widths[w].s)*1000 <= e.g.w-widths[w].horizon
}

func (e *engine) bucket(k bucketKey) *bucket {
	if b, ok := e.buckets[k]; ok {
		return b
	}
	data, pages := getBlob(e.kv, k.kvKey())
	b := decodeBucket(data)
	b.pages = pages
	e.buckets[k] = b
	return b
}

// changed are the records of the call, in key order, once applyDeltas ran.
func (e *engine) applyDeltas() {
	for k, d := range e.delta {
		if d.zero() || e.closed(k.w, k.start) {
			delete(e.delta, k)
			continue
		}
		b := e.bucket(bucketKey{k.w, k.start})
		dv := dimValue{k.dim, k.value}
		a := b.recs[dv]
		if a == nil {
			a = &agg{}
			b.recs[dv] = a
		}
		a.add(d, 1)
		b.dirty = true
	}
}

// emit returns the record of every key whose numbers changed in this call, in key order.
func (e *engine) emit() []sdk.Event {
	keys := make([]aggKey, 0, len(e.delta))
	for k := range e.delta {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y aggKey) int {
		if x.w != y.w {
			return x.w - y.w
		}
		if x.start != y.start {
			return cmpInt(x.start, y.start)
		}
		if x.dim != y.dim {
			return x.dim - y.dim
		}
		return cmpStr(x.value, y.value)
	})
	out := make([]sdk.Event, 0, len(keys))
	for _, k := range keys {
		a := e.buckets[bucketKey{k.w, k.start}].recs[dimValue{k.dim, k.value}]
		out = append(out, recordEvent(k, a))
	}
	return out
}

// save writes back the state the call changed.
func (e *engine) save() {
	for k, b := range e.buckets {
		if !b.dirty {
			continue
		}
		b.pages = setBlob(e.kv, k.kvKey(), encodeBucket(b), b.pages)
		o := e.g.open[k.w]
		if i, found := slices.BinarySearch(o, k.start); !found && b.pages > 0 {
			e.g.open[k.w] = slices.Insert(o, i, k.start)
		}
	}
	for id, ss := range e.sessions {
		if !ss.changed {
			continue
		}
		ss.pages = setBlob(e.kv, shortKey('s', id), encodeSession(ss.cur), ss.pages)
		if n := len(ss.cur.times); n > 0 {
			e.g.sessions[id] = ss.cur.times[n-1]
		}
	}
	for _, key := range sortedKeys(e.written) {
		e.kv.Set([]byte(key), encodeEntry(e.entries[key]))
	}
	for d, keys := range e.dayIdx {
		var data []byte
		for _, key := range keys {
			data = appendString(data, key)
		}
		i, found := slices.BinarySearchFunc(e.g.days, d, func(x dayIndex, d int64) int { return cmpInt(x.day, d) })
		if !found {
			e.g.days = slices.Insert(e.g.days, i, dayIndex{day: d})
		}
		setBlob(e.kv, dayChunkKey(d, e.g.days[i].chunks), data, 0)
		e.g.days[i].chunks++
	}
}

// drop deletes the state nothing can change any more: buckets past their width's horizon,
// sessions and responses past theirs.
func (e *engine) drop() {
	for w := range widths {
		o := e.g.open[w]
		n := 0
		for n < len(o) && e.closed(w, o[n]) {
			k := bucketKey{w, o[n]}.kvKey()
			_, pages := getBlob(e.kv, k)
			setBlob(e.kv, k, nil, pages)
			n++
		}
		e.g.open[w] = o[n:]
	}
	for _, id := range sortedKeys(e.g.sessions) {
		if e.g.sessions[id] < e.g.w-sessionHorizon {
			k := shortKey('s', id)
			_, pages := getBlob(e.kv, k)
			setBlob(e.kv, k, nil, pages)
			delete(e.g.sessions, id)
		}
	}
	n := 0
	for n < len(e.g.days) && (e.g.days[n].day+1)*day <= e.g.w-entryHorizon {
		x := e.g.days[n]
		for c := range x.chunks {
			k := dayChunkKey(x.day, c)
			data, pages := getBlob(e.kv, k)
			d := decoder{b: data}
			for d.more() {
				key := []byte(d.str())
				if v, ok := e.kv.Get(key); ok {
					if en := decodeEntry(v); en == nil || en.day == x.day {
						e.kv.Set(key, nil)
					}
				}
			}
			setBlob(e.kv, k, nil, pages)
		}
		n++
	}
	e.g.days = e.g.days[n:]
}
