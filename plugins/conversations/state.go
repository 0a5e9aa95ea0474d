package main

import "strings"

// The per-session state: the facts of a session's events, merged into entities (prompts, tool
// calls, messages, usage copies, stops, compactions, interrupts, permission requests). Every merge
// is commutative: an entity's fields come from the source of highest rank that has them, or are a
// minimum, a maximum or a logical or, so the state after a set of events is the same whatever
// order they came in. The records are computed from the whole state (build.go), never
// incrementally, so they converge too.

// Sources of a prompt.
const (
	srcHook       = 1
	srcTranscript = 2
)

// Ranks of the sources of a tool call's input fields: a higher rank replaces a lower one.
const (
	rankUse  = 1 // transcript.tool_use
	rankPost = 2 // hook.PostToolUse / PostToolUseFailure
	rankPre  = 3 // hook.PreToolUse
)

// Tool flags.
const (
	tfPre             = 1 << iota // a hook.PreToolUse was seen
	tfPost                        // a hook.PostToolUse or PostToolUseFailure was seen
	tfHookFailed                  // the hook says it failed
	tfHookInterrupt               // the hook says it was interrupted
	tfUse                         // a transcript.tool_use was seen
	tfResult                      // a transcript.tool_result was seen
	tfResultError                 // the result is an error
	tfResultInterrupt             // the result says interrupted
	tfSidechain                   // a transcript event of it is on a sidechain
	tfHookDuration                // hookDur holds the hook's duration_ms
)

// session is one session's state.
type session struct {
	id string
	// project is the project hash of the session's earliest event that has one (ties: the
	// smaller hash), projectT that event's time.
	project  string
	projectT int64
	minT     int64 // the earliest event time, 0 before any
	maxT     int64
	sources  uint8 // srcHook | srcTranscript
	ended    bool  // a hook.SessionEnd was seen

	hookModels map[string]int64 // model of hook.SessionStart -> count
	prompts    []prompt
	tools      map[string]*tool // by tool_use_id
	anonPre    []*tool          // hook tool events without a tool_use_id
	anonPost   []*tool
	msgs       map[string]*message // by message id
	usages     map[string]*usage   // by message id 0x00 request id
	stops      []int64             // hook.Stop times
	compactsT  []int64             // transcript compaction boundaries
	compactsH  []int64             // hook.PreCompact times
	interrupts []mark              // transcript.user interruption lines
	perms      []permReq

	// hashes of the records last emitted: the session's, each turn's (by number - 1), each
	// anonymous tool call's (by ordinal - 1). A tool call with an id keeps its own.
	sessHash  uint64
	turnHash  []uint64
	anonHash  []uint64
	dirty     bool // the state changed during this call
	corrupted error

	st    stored // where the session's log stands in kv
	delta []byte // the log entries of this call, not written yet

	// What build keeps from one call to the next (in memory only): the tool calls with an id
	// in id order, the turns' skeleton (as of turnPrompts prompts), and buffers.
	toolOrder        []*tool
	turnBase         []turn
	turnPrompts      int
	turnBuf          []turn
	turnPtrs         []*turn
	mainBuf, sideBuf []*turn
	views            []view
}

// prompt is a user prompt, from a hook.UserPromptSubmit or a transcript.user prompt line.
type prompt struct {
	src   uint8
	side  bool
	hash  string // hex
	t     int64
	words int64
}

// tool is one tool call, merged from its hook and transcript events.
type tool struct {
	id      string
	flags   uint16
	rank    uint8 // of the source of the input fields
	name    string
	op      string
	ext     string
	cmd     string
	mcp     string
	added   int64
	removed int64
	inBytes int64  // tool_input_bytes (hooks), to join permission requests
	mode    string // permission_mode of the PreToolUse (else the PostToolUse)
	modeRk  uint8
	errKind string // the hook's, else the transcript's
	errRk   uint8
	preT    int64
	postT   int64
	useT    int64
	resT    int64
	hookDur int64
	hash    uint64 // of the record last emitted
}

// message is an assistant message (its lines share the message id).
type message struct {
	t     int64 // the earliest line's time
	side  bool
	model string
}

// usage is the fullest copy of a message's usage for one request id.
type usage struct {
	t               int64
	side            bool
	in, out, cc, cr int64
}

// mark is a point event of a chain: an interruption.
type mark struct {
	t    int64
	side bool
}

// permReq is a hook.PermissionRequest (it has no tool_use_id: it joins a PreToolUse by tool name,
// input size and time).
type permReq struct {
	t       int64
	name    string
	inBytes int64
	mode    string
}

// interned holds the idents the states keep (tool names, operations, extensions, commands,
// models, ...), each once: an event's strings alias the call's input, which a state must not
// keep alive, and these few values recur in every session.
var interned = map[string]string{}

// maxInterned bounds interned; past it, values are copied.
const maxInterned = 8192

// intern returns a copy of s that does not alias the call's input, shared by equal values.
func intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := interned[s]; ok {
		return v
	}
	v := strings.Clone(s)
	if len(interned) < maxInterned {
		interned[v] = v
	}
	return v
}

func newSession(id string) *session {
	return &session{id: id, hookModels: map[string]int64{}, tools: map[string]*tool{}, msgs: map[string]*message{}, usages: map[string]*usage{}}
}

func minT(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// apply merges one event into the session.
func (s *session) apply(ev *event) {
	s.dirty = true
	if ev.t != 0 {
		s.minT = minT(s.minT, ev.t)
		s.maxT = max(s.maxT, ev.t)
	}
	hook := ev.kind[0] == 'h'
	if hook {
		s.sources |= srcHook
	} else {
		s.sources |= srcTranscript
	}
	if p := ev.str("project"); p != "" && (s.project == "" || ev.t < s.projectT || (ev.t == s.projectT && p < s.project)) {
		s.project, s.projectT = intern(p), ev.t
	}
	side := ev.flag("sidechain")
	switch ev.kind {
	case "hook.SessionStart":
		if m := ev.str("model"); m != "" {
			s.hookModels[intern(m)]++
		}
	case "hook.SessionEnd":
		s.ended = true
	case "hook.UserPromptSubmit":
		s.prompts = append(s.prompts, prompt{src: srcHook, hash: strings.Clone(ev.str("prompt_hash")), t: ev.t, words: ev.num("prompt_words")})
	case "transcript.user":
		switch {
		case ev.flag("interrupted"):
			s.interrupts = append(s.interrupts, mark{ev.t, side})
		case ev.flag("meta"):
		case ev.has("prompt_hash"):
			s.prompts = append(s.prompts, prompt{src: srcTranscript, side: side, hash: strings.Clone(ev.str("prompt_hash")), t: ev.t, words: ev.num("prompt_words")})
		}
	case "hook.PreToolUse", "hook.PostToolUse", "hook.PostToolUseFailure":
		s.applyHookTool(ev)
	case "hook.PermissionRequest":
		s.perms = append(s.perms, permReq{t: ev.t, name: intern(ev.str("tool_name")), inBytes: ev.num("tool_input_bytes"), mode: intern(ev.str("permission_mode"))})
	case "hook.Stop":
		s.stops = append(s.stops, ev.t)
	case "hook.PreCompact":
		s.compactsH = append(s.compactsH, ev.t)
	case "transcript.compact":
		// A compaction writes a boundary (system line: trigger, pre_tokens) and a summary (user
		// line: summary_bytes); the boundary counts.
		if !ev.has("summary_bytes") {
			s.compactsT = append(s.compactsT, ev.t)
		}
	case "transcript.tool_use":
		id := ev.str("tool_use_id")
		if id == "" {
			return
		}
		tl := s.tool(id)
		tl.flags |= tfUse
		if side {
			tl.flags |= tfSidechain
		}
		tl.useT = minT(tl.useT, ev.t)
		tl.input(ev, rankUse)
	case "transcript.tool_result":
		id := ev.str("tool_use_id")
		if id == "" {
			return
		}
		tl := s.tool(id)
		tl.flags |= tfResult
		if side {
			tl.flags |= tfSidechain
		}
		if ev.flag("is_error") {
			tl.flags |= tfResultError
		}
		if ev.flag("interrupted") {
			tl.flags |= tfResultInterrupt
		}
		tl.resT = max(tl.resT, ev.t)
		if k := ev.str("error_kind"); k != "" && tl.errRk <= 1 && (tl.errRk == 0 || k < tl.errKind) {
			tl.errKind, tl.errRk = intern(k), 1
		}
	case "transcript.assistant", "transcript.usage":
		id := ev.str("message_id")
		if id == "" {
			id = "e:" + ev.id
		}
		m := s.msgs[id]
		if m == nil {
			m = &message{t: ev.t, side: side}
			s.msgs[strings.Clone(id)] = m
		}
		if ev.t != 0 && (m.t == 0 || ev.t < m.t) {
			m.t = ev.t
		}
		m.side = m.side || side
		if md := ev.str("model"); md != "" && (m.model == "" || md < m.model) {
			m.model = intern(md)
		}
		if ev.kind == "transcript.usage" {
			key := id + "\x00" + ev.str("request_id")
			u := &usage{t: ev.t, side: side, in: ev.num("input_tokens"), out: ev.num("output_tokens"), cc: ev.num("cache_creation_tokens"), cr: ev.num("cache_read_tokens")}
			if old := s.usages[key]; old == nil {
				s.usages[key] = u
			} else {
				u.t, u.side = minT(old.t, u.t), old.side || u.side
				if !u.fuller(old) {
					u.in, u.out, u.cc, u.cr = old.in, old.out, old.cc, old.cr
				}
				s.usages[key] = u
			}
		}
	default:
		return
	}
}

// fuller reports whether u's counts win over o's: the larger total, ties broken by the counts in
// order, so that the choice does not depend on which copy came first.
func (u *usage) fuller(o *usage) bool {
	a := [5]int64{u.in + u.out + u.cc + u.cr, u.in, u.out, u.cc, u.cr}
	b := [5]int64{o.in + o.out + o.cc + o.cr, o.in, o.out, o.cc, o.cr}
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return false
}

// tool returns the tool call of id, created if new.
func (s *session) tool(id string) *tool {
	tl := s.tools[id]
	if tl == nil {
		tl = &tool{id: strings.Clone(id)}
		s.tools[id] = tl
	}
	return tl
}

// applyHookTool merges a PreToolUse, PostToolUse or PostToolUseFailure.
func (s *session) applyHookTool(ev *event) {
	pre := ev.kind == "hook.PreToolUse"
	var tl *tool
	if id := ev.str("tool_use_id"); id != "" {
		tl = s.tool(id)
	} else {
		tl = &tool{}
		if pre {
			s.anonPre = append(s.anonPre, tl)
		} else {
			s.anonPost = append(s.anonPost, tl)
		}
	}
	rank := uint8(rankPost)
	if pre {
		rank = rankPre
		tl.flags |= tfPre
		tl.preT = minT(tl.preT, ev.t)
	} else {
		tl.flags |= tfPost
		tl.postT = max(tl.postT, ev.t)
		if ev.kind == "hook.PostToolUseFailure" || (ev.has("success") && !ev.flag("success")) {
			tl.flags |= tfHookFailed
		}
		if ev.flag("interrupted") {
			tl.flags |= tfHookInterrupt
		}
		if ev.has("duration_ms") {
			tl.flags |= tfHookDuration
			tl.hookDur = ev.num("duration_ms")
		}
		if k := ev.str("error_kind"); k != "" {
			tl.errKind, tl.errRk = intern(k), 2
		}
	}
	if m := ev.str("permission_mode"); m != "" && rank > tl.modeRk {
		tl.mode, tl.modeRk = intern(m), rank
	}
	tl.input(ev, rank)
}

// input merges the input fields of a tool event of source rank.
func (tl *tool) input(ev *event, rank uint8) {
	if rank < tl.rank {
		return
	}
	if rank == tl.rank && tl.name != "" {
		return
	}
	tl.rank = rank
	tl.name = intern(ev.str("tool_name"))
	tl.op = intern(ev.str("operation"))
	tl.ext = intern(ev.str("file_ext"))
	tl.cmd = ev.str("command")
	if tl.cmd == "" {
		tl.cmd = ev.str("command_kind")
	}
	tl.cmd = intern(tl.cmd)
	tl.mcp = intern(ev.str("mcp_server"))
	tl.added = ev.num("lines_added")
	tl.removed = ev.num("lines_removed")
	if ev.has("tool_input_bytes") {
		tl.inBytes = ev.num("tool_input_bytes")
	}
}
