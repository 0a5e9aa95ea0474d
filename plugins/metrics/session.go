package main

import (
	"encoding/binary"
	"slices"
	"sort"
)

// session is what the plugin keeps of a session: every fact its contributions are computed from,
// each merged so that the result does not depend on the order the events came in.
type session struct {
	project string
	times   []int64    // distinct event times, sorted: active time
	models  []modelObs // model observations, sorted: the session's current model
	prompts []promptObs
	stops   []int64 // hook Stop and SessionEnd times, sorted: the end of a turn
	tools   map[string]*tool
}

type modelObs struct {
	t     int64
	model string
}

type promptObs struct {
	t    int64
	hash string
}

// tool is what hooks and the transcript said about one tool call (tool_use_id), merged.
type tool struct {
	name, op, cmd, hookKind, trKind string
	// First times seen: PreToolUse, transcript tool_use, PermissionRequest, PostToolUse(Failure),
	// transcript tool_result; 0 for none.
	pre, use, perm, post, result int64
	hookDur                      int64 // -1: none
	hookLA, hookLR, trLA, trLR   int64
	flags                        uint8
}

const (
	fHookErr = 1 << iota
	fTrErr
	fInterrupted
	fAuto
	fHookLines
	fTrLines
)

func newSession() *session { return &session{tools: map[string]*tool{}} }

// clone returns a copy of s that shares nothing it can change.
func (s *session) clone() *session {
	c := &session{
		project: s.project, times: slices.Clone(s.times), models: slices.Clone(s.models),
		prompts: slices.Clone(s.prompts), stops: slices.Clone(s.stops), tools: make(map[string]*tool, len(s.tools)),
	}
	for id, tl := range s.tools {
		t := *tl
		c.tools[id] = &t
	}
	return c
}

func insertTime(ts []int64, t int64) ([]int64, bool) {
	i, found := slices.BinarySearch(ts, t)
	if found {
		return ts, false
	}
	return slices.Insert(ts, i, t), true
}

func (s *session) addModel(t int64, m string) bool {
	o := modelObs{t, m}
	i, found := slices.BinarySearchFunc(s.models, o, cmpModel)
	if found {
		return false
	}
	s.models = slices.Insert(s.models, i, o)
	return true
}

func cmpModel(a, b modelObs) int {
	if a.t != b.t {
		return cmpInt(a.t, b.t)
	}
	return cmpStr(a.model, b.model)
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

func (s *session) addPrompt(t int64, h string) bool {
	o := promptObs{t, h}
	i, found := slices.BinarySearchFunc(s.prompts, o, func(a, b promptObs) int {
		if a.t != b.t {
			return cmpInt(a.t, b.t)
		}
		return cmpStr(a.hash, b.hash)
	})
	if found {
		return false
	}
	s.prompts = slices.Insert(s.prompts, i, o)
	return true
}

// modelAt returns the session's model at t: that of the last observation at or before t, else of
// the first one, else "unknown".
func (s *session) modelAt(t int64) string {
	if len(s.models) == 0 {
		return "unknown"
	}
	i := sort.Search(len(s.models), func(i int) bool { return s.models[i].t > t })
	if i == 0 {
		return s.models[0].model
	}
	return s.models[i-1].model
}

// modelRuns returns the change points of the model timeline: what modelAt depends on.
func (s *session) modelRuns() []modelObs {
	var runs []modelObs
	for _, o := range s.models {
		if len(runs) == 0 || runs[len(runs)-1].model != o.model {
			runs = append(runs, o)
		}
	}
	return runs
}

// turnJoinMS joins a hook prompt and its transcript line: prompt observations with the same hash
// within this span of the first are one turn.
const turnJoinMS = 120_000

// turn is a user prompt that opened a turn, and whether a tool call in it failed.
type turn struct {
	t        int64
	hasError bool
}

// turns returns the session's turns in time order.
func (s *session) turns() []turn {
	byHash := slices.Clone(s.prompts)
	slices.SortFunc(byHash, func(a, b promptObs) int {
		if a.hash != b.hash {
			return cmpStr(a.hash, b.hash)
		}
		return cmpInt(a.t, b.t)
	})
	var starts []int64
	cluster := int64(0) // the start of the current cluster of the same hash
	for i, p := range byHash {
		if p.hash != "" && i > 0 && byHash[i-1].hash == p.hash && p.t-cluster <= turnJoinMS {
			continue
		}
		cluster = p.t
		starts = append(starts, p.t)
	}
	slices.Sort(starts)
	var errs []int64
	for _, tl := range s.tools {
		if c, ok := s.toolCall(tl); ok && c.err {
			errs = append(errs, c.start)
		}
	}
	slices.Sort(errs)
	out := make([]turn, len(starts))
	for i, st := range starts {
		end := int64(1 << 62)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		k := sort.Search(len(errs), func(k int) bool { return errs[k] >= st })
		out[i] = turn{t: st, hasError: k < len(errs) && errs[k] < end}
	}
	return out
}

// editTools are the tools whose uses the acceptance rate counts.
var editTools = map[string]bool{"Write": true, "Edit": true, "MultiEdit": true, "NotebookEdit": true}

// call is what a tool call contributes.
type call struct {
	start              int64
	name, cmd, kind    string
	err                bool
	duration           int64 // -1: unknown
	decided, accepted  bool
	linesAdd, linesRem int64
}

// toolCall computes a tool call's contribution from its merged facts; ok is false while it has no
// time to be counted at.
func (s *session) toolCall(tl *tool) (c call, ok bool) {
	c.start = minTime(minTime(tl.pre, tl.use), tl.perm)
	if c.start == 0 {
		switch {
		case tl.post != 0:
			c.start = tl.post
			if tl.hookDur > 0 && tl.post-tl.hookDur > 0 {
				c.start = tl.post - tl.hookDur
			}
		case tl.result != 0:
			c.start = tl.result
		default:
			return c, false
		}
	}
	c.name, c.cmd = tl.name, tl.cmd
	c.err = tl.flags&(fHookErr|fTrErr) != 0
	if c.err {
		c.kind = tl.hookKind
		if c.kind == "" {
			c.kind = tl.trKind
		}
		if c.kind == "" {
			c.kind = "other"
		}
	}
	c.duration = -1
	switch {
	case tl.hookDur >= 0:
		c.duration = tl.hookDur
	case tl.use != 0 && tl.result >= tl.use:
		c.duration = tl.result - tl.use
	}
	if !c.err {
		if tl.flags&fHookLines != 0 {
			c.linesAdd, c.linesRem = tl.hookLA, tl.hookLR
		} else if tl.flags&fTrLines != 0 {
			c.linesAdd, c.linesRem = tl.trLA, tl.trLR
		}
	}
	if editTools[tl.name] && tl.flags&fAuto == 0 {
		rejected := tl.hookKind == "rejected" || tl.trKind == "rejected"
		hooks := tl.pre != 0 || tl.perm != 0 || tl.post != 0
		switch {
		case hooks && tl.perm != 0:
			// A permission dialog was shown: a PostToolUse says yes; a rejection, or the turn or
			// the session ending with none, says no.
			if tl.post != 0 && !rejected {
				c.decided, c.accepted = true, true
			} else if rejected || s.stoppedAfter(tl.perm) {
				c.decided = true
			}
		case hooks:
			// Allowed by a rule: no decision, unless the transcript shows a rejection.
			c.decided = rejected
		case tl.result != 0:
			c.decided, c.accepted = true, !rejected
		}
	}
	return c, true
}

func (s *session) stoppedAfter(t int64) bool {
	i := sort.Search(len(s.stops), func(i int) bool { return s.stops[i] > t })
	return i < len(s.stops)
}

func encodeSession(s *session) []byte {
	b := appendString(nil, s.project)
	b = appendTimes(b, s.times)
	b = binary.AppendUvarint(b, uint64(len(s.models)))
	prev := int64(0)
	for _, o := range s.models {
		b = binary.AppendVarint(b, o.t-prev)
		prev = o.t
		b = appendString(b, o.model)
	}
	b = binary.AppendUvarint(b, uint64(len(s.prompts)))
	prev = 0
	for _, o := range s.prompts {
		b = binary.AppendVarint(b, o.t-prev)
		prev = o.t
		b = appendString(b, o.hash)
	}
	b = appendTimes(b, s.stops)
	ids := make([]string, 0, len(s.tools))
	for id := range s.tools {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		tl := s.tools[id]
		b = appendString(b, id)
		for _, str := range []string{tl.name, tl.op, tl.cmd, tl.hookKind, tl.trKind} {
			b = appendString(b, str)
		}
		for _, n := range []int64{tl.pre, tl.use, tl.perm, tl.post, tl.result, tl.hookDur, tl.hookLA, tl.hookLR, tl.trLA, tl.trLR} {
			b = binary.AppendVarint(b, n)
		}
		b = append(b, tl.flags)
	}
	return b
}

func decodeSession(data []byte) *session {
	s := newSession()
	if len(data) == 0 {
		return s
	}
	d := decoder{b: data}
	s.project = d.str()
	s.times = d.times()
	n := d.uvarint()
	prev := int64(0)
	for i := uint64(0); i < n && !d.err; i++ {
		prev += d.varint()
		s.models = append(s.models, modelObs{prev, d.str()})
	}
	n = d.uvarint()
	prev = 0
	for i := uint64(0); i < n && !d.err; i++ {
		prev += d.varint()
		s.prompts = append(s.prompts, promptObs{prev, d.str()})
	}
	s.stops = d.times()
	n = d.uvarint()
	for i := uint64(0); i < n && !d.err; i++ {
		id := d.str()
		tl := &tool{}
		for _, p := range []*string{&tl.name, &tl.op, &tl.cmd, &tl.hookKind, &tl.trKind} {
			*p = d.str()
		}
		for _, p := range []*int64{&tl.pre, &tl.use, &tl.perm, &tl.post, &tl.result, &tl.hookDur, &tl.hookLA, &tl.hookLR, &tl.trLA, &tl.trLR} {
			*p = d.varint()
		}
		tl.flags = d.byte1()
		s.tools[id] = tl
	}
	if d.err {
		return newSession()
	}
	return s
}
