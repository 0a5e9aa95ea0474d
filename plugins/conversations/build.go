package main

import (
	"cmp"
	"encoding/hex"
	"slices"
	"strconv"
	"time"

	"github.com/hangar-dev/hangar/sdk"
)

// The derived kinds the plugin emits.
const (
	kindSession = "conversation.session"
	kindTurn    = "conversation.turn"
	kindTool    = "conversation.tool"
)

// turn is a turn being built: opened by a prompt (a hook's and a transcript's, joined, or
// either).
type turn struct {
	num       int
	side      bool
	start     int64
	end       int64
	hash      string
	words     int64
	tools     int64
	errors    int64
	msgs      int64
	in, out   int64
	cc, cr    int64
	added     int64
	removed   int64
	compacted bool
	interrupt bool
	stopped   bool // a hook.Stop fell in it
}

// view is a tool call with what build derived for it.
type view struct {
	*tool
	key     string
	start   int64
	dur     int64
	status  string
	errKind string
	dec     string
	turn    *turn
	side    bool
	ordinal int // of an anonymous call, 1-based
}

// editTools are the tools whose uses are code changes that may need a decision.
var editTools = map[string]bool{"Write": true, "Edit": true, "MultiEdit": true, "NotebookEdit": true}

// built is what the records of a session are made of: its turns, its tool calls and the
// session's totals. A record is made (record) only when its hash changed.
type built struct {
	session totals
	turns   []*turn
	tools   []view
}

// totals is the value of a session's record.
type totals struct {
	project                      string
	model                        string
	start, end                   int64
	active, mainTurns, withErr   int64
	interrupts, compactions      int64
	calls, errs, edits, acc, rej int64
	added, removed, subturns     int64
	in, out, cc, cr              int64
	source                       string
}

// build computes the records of a session from its whole state.
func (s *session) build() built {
	turns := s.buildTurns()
	main, side := s.mainBuf[:0], s.sideBuf[:0]
	for _, t := range turns {
		if t.side {
			side = append(side, t)
		} else {
			main = append(main, t)
		}
	}
	s.mainBuf, s.sideBuf = main, side
	// find returns the turn an item at t of a chain belongs to: the latest turn of its chain (a
	// sidechain item: of the sidechain, else the main chain) that started at or before t.
	find := func(t int64, sc bool) *turn {
		if sc {
			if tn := latest(side, t); tn != nil {
				return tn
			}
		}
		return latest(main, t)
	}
	grow := func(tn *turn, t int64) {
		if tn != nil && t > tn.end {
			tn.end = t
		}
	}
	for _, t := range s.stops {
		if tn := find(t, false); tn != nil {
			tn.stopped = true
			grow(tn, t)
		}
	}
	for _, m := range s.interrupts {
		if tn := find(m.t, m.side); tn != nil {
			tn.interrupt = true
			grow(tn, m.t)
		}
	}
	compactions := s.compactsT
	if len(compactions) < len(s.compactsH) {
		// One source has more boundaries than the other (hooks or transcript alone): they are the
		// same compactions, counted once.
		compactions = s.compactsH
	}
	for _, t := range compactions {
		if tn := find(t, false); tn != nil {
			tn.compacted = true
		}
	}
	for _, m := range s.msgs {
		if tn := find(m.t, m.side); tn != nil {
			tn.msgs++
			grow(tn, m.t)
		}
	}
	var in, out, cc, cr int64
	for _, u := range s.usages {
		in, out, cc, cr = in+u.in, out+u.out, cc+u.cc, cr+u.cr
		if tn := find(u.t, u.side); tn != nil {
			tn.in, tn.out, tn.cc, tn.cr = tn.in+u.in, tn.out+u.out, tn.cc+u.cc, tn.cr+u.cr
		}
	}

	views := s.toolViews()
	s.joinPermissions(views)
	// A turn has ended when a Stop fell in it, a later turn of its chain started, or the session
	// ended: a permission asked for in it and never followed by the tool's result was refused.
	ended := func(tn *turn) bool {
		if s.ended {
			return true
		}
		if tn == nil {
			return false
		}
		if tn.stopped {
			return true
		}
		chain := main
		if tn.side {
			chain = side
		}
		return chain[len(chain)-1] != tn
	}
	var tot totals
	for i := range views {
		v := &views[i]
		v.turn = find(v.start, v.side)
		v.resolve(ended(v.turn))
		tot.calls++
		failed := v.status == "error" || v.status == "rejected" || v.status == "interrupted"
		if failed {
			tot.errs++
		}
		if editTools[v.name] {
			tot.edits++
			switch v.dec {
			case "accepted":
				tot.acc++
			case "rejected":
				tot.rej++
			}
		}
		applied := v.status == "ok"
		if applied {
			tot.added += v.added
			tot.removed += v.removed
		}
		if tn := v.turn; tn != nil {
			tn.tools++
			if failed {
				tn.errors++
			}
			if applied {
				tn.added += v.added
				tn.removed += v.removed
			}
			if v.status == "interrupted" {
				tn.interrupt = true
			}
			grow(tn, v.start+v.dur)
			grow(tn, max(v.postT, v.resT))
		}
	}

	var b built
	for _, tn := range turns {
		if tn.side {
			tot.subturns++
		} else {
			tot.mainTurns++
			tot.active += tn.end - tn.start
		}
		if tn.errors > 0 {
			tot.withErr++
		}
		if tn.interrupt {
			tot.interrupts++
		}
	}
	b.turns = turns
	b.tools = views
	tot.project = s.project
	tot.model = s.model()
	tot.source = "hooks"
	switch s.sources {
	case srcTranscript:
		tot.source = "transcript"
	case srcHook | srcTranscript:
		tot.source = "both"
	}
	tot.start, tot.end = s.minT, s.maxT
	tot.in, tot.out, tot.cc, tot.cr = in, out, cc, cr
	tot.compactions = int64(len(compactions))
	b.session = tot
	return b
}

// record returns the session's record.
func (tot *totals) record(id string) sdk.Event {
	attrs := make([]sdk.Attr, 0, 28)
	attrs = append(attrs, sdk.Ident("key", id))
	if p, err := hex.DecodeString(tot.project); err == nil && len(p) > 0 && len(p) <= sdk.MaxHashLen {
		attrs = append(attrs, sdk.Hash("project", p))
	}
	if tot.model != "" {
		attrs = append(attrs, sdk.Ident("model", tot.model))
	}
	attrs = append(attrs,
		sdk.Int("start", tot.start), sdk.Int("end", tot.end), sdk.Int("duration_ms", tot.end-tot.start),
		sdk.Int("active_ms", tot.active), sdk.Int("turns", tot.mainTurns),
		sdk.Int("tool_calls", tot.calls), sdk.Int("tool_errors", tot.errs), sdk.Int("turns_with_error", tot.withErr),
		sdk.Int("edits", tot.edits), sdk.Int("edits_accepted", tot.acc), sdk.Int("edits_rejected", tot.rej),
		sdk.Int("lines_added", tot.added), sdk.Int("lines_removed", tot.removed),
		sdk.Int("input_tokens", tot.in), sdk.Int("output_tokens", tot.out),
		sdk.Int("cache_creation_tokens", tot.cc), sdk.Int("cache_read_tokens", tot.cr),
		sdk.Int("subagent_turns", tot.subturns), sdk.Int("compactions", tot.compactions),
		sdk.Int("interrupts", tot.interrupts), sdk.Ident("source", tot.source),
	)
	return sdk.Event{Kind: kindSession, SessionID: id, Time: ms(tot.start), Attrs: attrs}
}

// valueHash returns a hash of the session record's value (never 0).
func (tot *totals) valueHash() uint64 {
	h := newHasher()
	h.str(tot.project)
	h.str(tot.model)
	h.str(tot.source)
	for _, v := range [...]int64{tot.start, tot.end, tot.active, tot.mainTurns, tot.withErr, tot.interrupts,
		tot.compactions, tot.calls, tot.errs, tot.edits, tot.acc, tot.rej, tot.added, tot.removed,
		tot.subturns, tot.in, tot.out, tot.cc, tot.cr} {
		h.num(uint64(v))
	}
	return h.sum()
}

// record returns the turn's record.
func (tn *turn) record(session string) sdk.Event {
	return sdk.Event{
		Kind: kindTurn, SessionID: session, Time: ms(tn.start),
		Attrs: []sdk.Attr{
			sdk.Ident("key", turnKey(session, tn.num)),
			sdk.Int("turn", int64(tn.num)),
			sdk.Int("start", tn.start), sdk.Int("end", tn.end), sdk.Int("duration_ms", tn.end-tn.start),
			sdk.Int("prompt_words", tn.words),
			sdk.Int("tool_calls", tn.tools), sdk.Int("tool_errors", tn.errors),
			sdk.Int("assistant_messages", tn.msgs),
			sdk.Int("input_tokens", tn.in), sdk.Int("output_tokens", tn.out),
			sdk.Int("cache_creation_tokens", tn.cc), sdk.Int("cache_read_tokens", tn.cr),
			sdk.Int("lines_added", tn.added), sdk.Int("lines_removed", tn.removed),
			sdk.Bool("sidechain", tn.side), sdk.Bool("compacted", tn.compacted), sdk.Bool("interrupted", tn.interrupt),
		},
	}
}

// valueHash returns a hash of the turn record's value (never 0).
func (tn *turn) valueHash() uint64 {
	h := newHasher()
	for _, v := range [...]int64{int64(tn.num), tn.start, tn.end, tn.words, tn.tools, tn.errors, tn.msgs,
		tn.in, tn.out, tn.cc, tn.cr, tn.added, tn.removed, b2i(tn.side), b2i(tn.compacted), b2i(tn.interrupt)} {
		h.num(uint64(v))
	}
	return h.sum()
}

// valueHash returns a hash of the tool call record's value (never 0).
func (v *view) valueHash() uint64 {
	h := newHasher()
	tn := int64(0)
	if v.turn != nil {
		tn = int64(v.turn.num)
	}
	for _, x := range [...]int64{tn, v.start, v.dur, v.added, v.removed, b2i(v.side)} {
		h.num(uint64(x))
	}
	for _, x := range [...]string{v.name, v.op, v.status, v.errKind, v.dec, v.ext, v.cmd, v.mcp} {
		h.str(x)
	}
	return h.sum()
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// hasher is FNV-1a, 64 bits, over numbers (8 bytes) and strings (their length, then their bytes).
type hasher struct{ h uint64 }

func newHasher() hasher { return hasher{fnvOffset} }

func (h *hasher) num(v uint64) {
	for range 8 {
		h.h = (h.h ^ (v & 0xff)) * fnvPrime
		v >>= 8
	}
}

func (h *hasher) str(s string) {
	h.num(uint64(len(s)))
	for i := 0; i < len(s); i++ {
		h.h = (h.h ^ uint64(s[i])) * fnvPrime
	}
}

// sum returns the hash, never 0 (which stands for "never emitted").
func (h *hasher) sum() uint64 { return h.h | 1 }

// ms returns the time of Unix milliseconds (UTC).
func ms(t int64) time.Time { return time.UnixMilli(t).UTC() }

// latest returns the last turn of turns (in start order) that started at or before t, or nil.
func latest(turns []*turn, t int64) *turn {
	i, _ := slices.BinarySearchFunc(turns, t, func(tn *turn, t int64) int {
		if tn.start <= t {
			return -1
		}
		return 1
	})
	if i == 0 {
		return nil
	}
	return turns[i-1]
}

// model returns the session's most used model: of its assistant messages, else of its
// SessionStart hooks; ties go to the smaller name.
func (s *session) model() string {
	counts := map[string]int64{}
	for _, m := range s.msgs {
		if m.model != "" {
			counts[m.model]++
		}
	}
	if len(counts) == 0 {
		counts = s.hookModels
	}
	best, n := "", int64(0)
	for m, c := range counts {
		if c > n || (c == n && m < best) {
			best, n = m, c
		}
	}
	return best
}

// buildTurns joins the prompts into turns and numbers them in start order. A hook prompt and a
// main-chain transcript prompt with the same hash join: per hash, the i-th of each in time order.
// A sidechain prompt (a subagent's task) opens a sidechain turn of its own.
func (s *session) buildTurns() []*turn {
	if s.turnBase == nil || s.turnPrompts != len(s.prompts) {
		s.turnBase = s.turnBase[:0]
		for _, t := range s.joinPrompts() {
			s.turnBase = append(s.turnBase, *t)
		}
		s.turnPrompts = len(s.prompts)
	}
	s.turnBuf = append(s.turnBuf[:0], s.turnBase...)
	s.turnPtrs = s.turnPtrs[:0]
	for i := range s.turnBuf {
		s.turnPtrs = append(s.turnPtrs, &s.turnBuf[i])
	}
	return s.turnPtrs
}

// joinPrompts returns the turns of the prompts, numbered, with nothing attached yet.
func (s *session) joinPrompts() []*turn {
	byHash := map[string][2][]prompt{}
	var turns []*turn
	for _, p := range s.prompts {
		if p.side {
			turns = append(turns, &turn{side: true, start: p.t, hash: p.hash, words: p.words})
			continue
		}
		g := byHash[p.hash]
		i := 0
		if p.src == srcTranscript {
			i = 1
		}
		g[i] = append(g[i], p)
		byHash[p.hash] = g
	}
	order := func(a, b prompt) int { return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.words, b.words)) }
	for h, g := range byHash {
		slices.SortFunc(g[0], order)
		slices.SortFunc(g[1], order)
		for i := range max(len(g[0]), len(g[1])) {
			var p prompt
			if i < len(g[1]) {
				p = g[1][i] // the transcript's time and words, when it has the prompt
			} else {
				p = g[0][i]
			}
			turns = append(turns, &turn{start: p.t, hash: h, words: p.words})
		}
	}
	slices.SortFunc(turns, func(a, b *turn) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmpBool(a.side, b.side), cmp.Compare(a.hash, b.hash), cmp.Compare(a.words, b.words))
	})
	for i, t := range turns {
		t.num = i + 1
		t.end = t.start
	}
	return turns
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// toolViews returns the session's tool calls: those with an id, then the anonymous ones (hooks
// without tool_use_id: per tool name, the i-th PreToolUse and the i-th PostToolUse in time
// order are one call), numbered in order. The result is in key order.
func (s *session) toolViews() []view {
	if len(s.toolOrder) != len(s.tools) {
		s.toolOrder = s.toolOrder[:0]
		for _, tl := range s.tools {
			s.toolOrder = append(s.toolOrder, tl)
		}
		// Keys are the session id, "/", the tool_use_id: in the order of the ids.
		slices.SortFunc(s.toolOrder, func(a, b *tool) int { return cmp.Compare(a.id, b.id) })
	}
	views := s.views[:0]
	for _, tl := range s.toolOrder {
		views = append(views, view{tool: tl})
	}
	if len(s.anonPre)+len(s.anonPost) == 0 {
		s.views = views
		return s.finishViews(views)
	}
	byName := map[string][2][]*tool{}
	for _, tl := range s.anonPre {
		g := byName[tl.name]
		g[0] = append(g[0], tl)
		byName[tl.name] = g
	}
	for _, tl := range s.anonPost {
		g := byName[tl.name]
		g[1] = append(g[1], tl)
		byName[tl.name] = g
	}
	var anon []*tool
	for _, g := range byName {
		slices.SortFunc(g[0], anonOrder)
		slices.SortFunc(g[1], anonOrder)
		for i := range max(len(g[0]), len(g[1])) {
			var m tool
			if i < len(g[1]) {
				m = *g[1][i]
			}
			if i < len(g[0]) {
				pre := g[0][i]
				m.flags |= pre.flags
				m.preT = pre.preT
				m.copyInput(pre)
				if pre.modeRk > m.modeRk {
					m.mode, m.modeRk = pre.mode, pre.modeRk
				}
			}
			m.hash = 0
			anon = append(anon, &m)
		}
	}
	slices.SortFunc(anon, anonOrder)
	for i, tl := range anon {
		v := view{tool: tl, ordinal: i + 1, key: s.id + "/anon-" + pad6(i+1)}
		if i < len(s.anonHash) {
			tl.hash = s.anonHash[i]
		}
		views = append(views, v)
	}
	s.views = views
	return s.finishViews(views)
}

// finishViews sets each view's start and chain.
func (s *session) finishViews(views []view) []view {
	for i := range views {
		v := &views[i]
		v.start = v.useT
		if v.start == 0 {
			v.start = v.preT
		}
		if v.start == 0 {
			v.start = v.postT
		}
		v.side = v.flags&tfSidechain != 0
	}
	return views
}

// anonOrder orders anonymous hook tool events: by time, then by every field, so that equal
// events are interchangeable.
func anonOrder(a, b *tool) int {
	return cmp.Or(cmp.Compare(max(a.preT, a.postT), max(b.preT, b.postT)), cmp.Compare(a.name, b.name),
		cmp.Compare(a.inBytes, b.inBytes), cmp.Compare(a.flags, b.flags), cmp.Compare(a.op, b.op),
		cmp.Compare(a.ext, b.ext), cmp.Compare(a.cmd, b.cmd), cmp.Compare(a.mcp, b.mcp),
		cmp.Compare(a.added, b.added), cmp.Compare(a.removed, b.removed), cmp.Compare(a.mode, b.mode),
		cmp.Compare(a.errKind, b.errKind), cmp.Compare(a.hookDur, b.hookDur))
}

// copyInput copies the input fields of o into tl.
func (tl *tool) copyInput(o *tool) {
	tl.rank, tl.name, tl.op, tl.ext, tl.cmd, tl.mcp = o.rank, o.name, o.op, o.ext, o.cmd, o.mcp
	tl.added, tl.removed, tl.inBytes = o.added, o.removed, o.inBytes
}

// joinPermissions joins each permission request to a tool call: the latest PreToolUse of the same
// tool and input size at or before it not joined yet (requests taken in time order).
func (s *session) joinPermissions(views []view) {
	if len(s.perms) == 0 {
		return
	}
	perms := slices.Clone(s.perms)
	slices.SortFunc(perms, func(a, b permReq) int {
		return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.name, b.name), cmp.Compare(a.inBytes, b.inBytes), cmp.Compare(a.mode, b.mode))
	})
	taken := make([]bool, len(views))
	for _, p := range perms {
		best := -1
		for i := range views {
			v := &views[i]
			if taken[i] || v.flags&tfPre == 0 || v.name != p.name || v.inBytes != p.inBytes || v.preT > p.t {
				continue
			}
			if best < 0 || v.preT > views[best].preT || (v.preT == views[best].preT && v.key < views[best].key) {
				best = i
			}
		}
		if best >= 0 {
			taken[best] = true
			views[best].dec = "asked"
		}
	}
}

// resolve derives a tool call's duration, status, error kind and decision; ended says whether its
// turn has ended.
func (v *view) resolve(ended bool) {
	switch {
	case v.flags&tfHookDuration != 0:
		v.dur = v.hookDur
	case v.flags&tfPre != 0 && v.flags&tfPost != 0:
		v.dur = v.postT - v.preT
	case v.flags&tfUse != 0 && v.flags&tfResult != 0:
		v.dur = v.resT - v.useT
	}
	v.dur = max(v.dur, 0)
	asked := v.dec == "asked"
	v.errKind = v.tool.errKind
	switch {
	case v.errKind == "rejected":
		v.status = "rejected"
	case v.flags&(tfHookInterrupt|tfResultInterrupt) != 0 || v.errKind == "interrupted":
		v.status = "interrupted"
	case v.flags&(tfHookFailed|tfResultError) != 0:
		v.status = "error"
	case v.flags&(tfPost|tfResult) != 0:
		v.status = "ok"
	case asked && ended:
		// A permission was asked for and the tool never ran: the user refused it.
		v.status, v.errKind = "rejected", "rejected"
	default:
		v.status = "pending"
	}
	switch {
	case v.status == "rejected":
		v.dec = "rejected"
	case v.mode == "bypassPermissions" || (v.mode == "acceptEdits" && editTools[v.name]):
		v.dec = "auto"
	case asked && v.status != "pending":
		v.dec = "accepted"
	default:
		v.dec = "none"
	}
}

// record returns the tool call's record.
func (v *view) record(session string) sdk.Event {
	tn := int64(0)
	if v.turn != nil {
		tn = int64(v.turn.num)
	}
	key := v.key
	if key == "" {
		key = session + "/" + v.id
	}
	attrs := make([]sdk.Attr, 0, 18)
	attrs = append(attrs, sdk.Ident("key", key), sdk.Int("turn", tn))
	str := func(k, s string) {
		if s != "" {
			attrs = append(attrs, sdk.Ident(k, s))
		}
	}
	str("tool_name", v.name)
	str("operation", v.op)
	attrs = append(attrs, sdk.Int("start", v.start), sdk.Int("duration_ms", v.dur), sdk.Ident("status", v.status))
	str("error_kind", v.errKind)
	attrs = append(attrs, sdk.Ident("decision", v.dec))
	str("file_ext", v.ext)
	if v.added != 0 || v.removed != 0 {
		attrs = append(attrs, sdk.Int("lines_added", v.added), sdk.Int("lines_removed", v.removed))
	}
	str("command", v.cmd)
	str("mcp_server", v.mcp)
	attrs = append(attrs, sdk.Bool("sidechain", v.side))
	return sdk.Event{Kind: kindTool, SessionID: session, Time: ms(v.start), Attrs: attrs}
}

// turnKey returns the key of a session's turn n: the session id, "/", n in six digits.
func turnKey(session string, n int) string { return session + "/" + pad6(n) }

// pad6 returns n in at least six digits, zero-padded.
func pad6(n int) string {
	s := strconv.Itoa(n)
	if len(s) < 6 {
		s = "000000"[len(s):] + s
	}
	return s
}
