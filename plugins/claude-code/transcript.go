package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
	"github.com/tidwall/gjson"
)

// The kinds of transcript events.
const (
	kindUsage     = "transcript.usage"
	kindAssistant = "transcript.assistant"
	kindUser      = "transcript.user"
	kindSummary   = "transcript.summary"
	kindCompact   = "transcript.compact"
	kindSystem    = "transcript.system"
	kindOther     = "transcript.other"
	kindToolUse   = "transcript.tool_use"
	kindResult    = "transcript.tool_result"
)

// maxTokens bounds a token count: more is a corrupt line, not a response.
const maxTokens = 1_000_000_000_000

var (
	errType       = errors.New("type is not a non-empty string")
	errNoMessage  = errors.New("message is not an object")
	errCost       = errors.New("costUSD is not a non-negative number")
	interruptMark = "[Request interrupted by user"
)

// usageCounts are the token counts of a usage event: the path in message.usage, the attribute,
// and whether a line with usage must have it.
var usageCounts = [...]struct {
	path, key string
	required  bool
}{
	{"input_tokens", "input_tokens", true},
	{"output_tokens", "output_tokens", true},
	{"cache_creation_input_tokens", "cache_creation_tokens", false},
	{"cache_creation.ephemeral_5m_input_tokens", "cache_creation_5m_tokens", false},
	{"cache_creation.ephemeral_1h_input_tokens", "cache_creation_1h_tokens", false},
	{"cache_read_input_tokens", "cache_read_tokens", false},
}

// usageFields are the raw JSON values of a usage object that the reductions read: counts in the
// order of usageCounts, then service_tier and speed.
type usageFields struct {
	counts             [len(usageCounts)]string
	serviceTier, speed string
}

// readUsage reads a usage object in one pass (and its cache_creation object in another), decoding
// nothing; the first of repeated keys wins, as for gjson.Get.
func readUsage(raw string) (u usageFields) {
	cacheCreation := false
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	pdk.Members(raw, func(key, v string) bool {
		switch key {
		case "input_tokens":
			set(&u.counts[0], v)
		case "output_tokens":
			set(&u.counts[1], v)
		case "cache_creation_input_tokens":
			set(&u.counts[2], v)
		case "cache_read_input_tokens":
			set(&u.counts[5], v)
		case "service_tier":
			set(&u.serviceTier, v)
		case "speed":
			set(&u.speed, v)
		case "cache_creation":
			if cacheCreation {
				break
			}
			cacheCreation = true
			pdk.Members(v, func(key, v string) bool {
				switch key {
				case "ephemeral_5m_input_tokens":
					set(&u.counts[3], v)
				case "ephemeral_1h_input_tokens":
					set(&u.counts[4], v)
				}
				return true
			})
		}
		return true
	})
	return u
}

var (
	speeds          = map[string]bool{"standard": true, "fast": true}
	compactTriggers = map[string]bool{"manual": true, "auto": true}
)

// transcriptEvents turns a transcript line into its events. Every event has the line's session
// and time, and ends with its metadata: sidechain, version and project.
func transcriptEvents(r *record, t gjson.Result) ([]sdk.Event, error) {
	if t.Type != gjson.String || t.Str == "" {
		return nil, errType
	}
	meta := newAttrs(metaAttrs)
	meta.boolOf("sidechain", r.get("isSidechain"))
	if v := r.get("version"); v.Type == gjson.String && isVersion(v.Str) {
		meta.ident("version", v.Str)
	}
	if v := r.get("cwd"); v.Type == gjson.String && v.Str != "" {
		if err := meta.cwdProject(v.Str); err != nil {
			return nil, err
		}
	}
	base := sdk.Event{SessionID: sessionID(r.get("sessionId")), Time: eventTime(r.get("timestamp"))}
	event := func(kind string, a attrs) sdk.Event {
		ev := base
		ev.Kind = kind
		if a == nil {
			a = newAttrs(len(meta))
		}
		ev.Attrs = append(a, meta...) // each a has room for meta (newEventAttrs)
		return ev
	}

	a := newEventAttrs(2)
	switch {
	case t.Str == "assistant":
		return assistantEvents(r, event)
	case t.Str == "user" && r.get("isCompactSummary").Bool():
		msg := r.sub("message")
		if !msg.ok {
			return nil, errNoMessage
		}
		text, _ := userContent(msg.raw("content"))
		a.int("summary_bytes", int64(len(text)))
		return []sdk.Event{event(kindCompact, a)}, nil
	case t.Str == "user":
		ua, err := userAttrs(r)
		if err != nil {
			return nil, err
		}
		evs := []sdk.Event{event(kindUser, ua)}
		return toolResultEvents(r.sub("message").raw("content"), evs, event)
	case t.Str == "summary":
		if raw, ok := r.top.lookup("summary"); ok && raw != "null" {
			a.int("summary_bytes", rawSize(raw))
		}
		return []sdk.Event{event(kindSummary, a)}, nil
	case t.Str == "system" && r.get("subtype").Str == "compact_boundary":
		a.enumOf("trigger", r.get("compactMetadata.trigger"), compactTriggers)
		if n, ok := intValue(r.get("compactMetadata.preTokens")); ok && n >= 0 && n <= maxTokens {
			a.int("pre_tokens", n)
		}
		return []sdk.Event{event(kindCompact, a)}, nil
	case t.Str == "system":
		if v := r.get("subtype"); v.Type == gjson.String && isShortName(v.Str) {
			a.ident("subtype", v.Str)
		}
		return []sdk.Event{event(kindSystem, a)}, nil
	case isKindName(t.Str):
		return []sdk.Event{event("transcript."+t.Str, nil)}, nil
	}
	return []sdk.Event{event(kindOther, nil)}, nil
}

// assistantEvents turns an assistant line into its transcript.usage event, when its message has
// usage, and its transcript.assistant event.
func assistantEvents(r *record, event func(string, attrs) sdk.Event) ([]sdk.Event, error) {
	msg := r.sub("message")
	if !msg.ok {
		return nil, errNoMessage
	}
	var evs []sdk.Event
	if u := readUsage(msg.raw("usage")); u.counts[0] != "" && u.counts[1] != "" {
		a, err := usageAttrs(r, msg, &u)
		if err != nil {
			return nil, err
		}
		evs = append(evs, event(kindUsage, a))
	}
	a := newEventAttrs(8)
	a.identOf("model", msg.get("model"))
	a.identOf("message_id", msg.get("id"))
	var text, thinking, tools int64
	var first string
	var uses []block
	switch raw := msg.raw("content"); {
	case strings.HasPrefix(raw, `"`):
		text = rawSize(raw)
	case strings.HasPrefix(raw, "["):
		pdk.Elements(raw, func(v string) bool {
			switch b := readBlock(v); {
			case b.is("text"):
				text += rawSize(b.text)
			case b.is("thinking"):
				thinking += rawSize(b.thinking)
			case b.is("redacted_thinking"):
				thinking += rawSize(b.data)
			case b.is("tool_use"), b.is("server_tool_use"):
				if tools++; tools == 1 {
					first = gjson.Parse(b.name).Str
				}
				uses = append(uses, b)
			}
			return true
		})
	}
	a.int("text_bytes", text)
	a.int("thinking_bytes", thinking)
	a.int("tool_uses", tools)
	if first != "" {
		// The name is in the line's content verbatim: one of leakWindow bytes or more would be
		// refused, so it is left to operation (and mcp_server, if short).
		if sdk.IsIdent(first) && len(first) < leakWindow {
			a.ident("tool_name", first)
		}
		a.ident("operation", operation(first))
		if server, _, ok := mcpNames(first); ok && server != "" && len(server) < leakWindow {
			a.ident("mcp_server", server)
		}
	}
	evs = append(evs, event(kindAssistant, a))
	for _, b := range uses {
		ev, err := toolUseEvent(r, msg, b, event)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// toolUseEvent returns the transcript.tool_use event of a tool_use block: its join key, the tool
// and the reductions of its input, as a hook's, and the ids of the response it is part of.
func toolUseEvent(r *record, msg members, b block, event func(string, attrs) sdk.Event) (sdk.Event, error) {
	a := newEventAttrs(14)
	if err := a.toolUse(gjson.Parse(b.id)); err != nil {
		return sdk.Event{}, err
	}
	name := gjson.Parse(b.name).Str
	// The name is in the line's content verbatim: one of leakWindow bytes or more would be
	// refused, so it is left to operation (and mcp_server, if short).
	if sdk.IsIdent(name) && len(name) < leakWindow {
		a.ident("tool_name", name)
	}
	if name != "" {
		input, whole := r.members(b.input)
		input.ok = whole || len(input.list) > 0
		toolInput(&a, name, input)
	}
	a.identOf("message_id", msg.get("id"))
	a.identOf("request_id", r.get("requestId"))
	return event(kindToolUse, a), nil
}

// usageAttrs returns the attributes of a usage event. A count that is not a non-negative integer
// of at most maxTokens fails the record.
func usageAttrs(r *record, msg members, usage *usageFields) (attrs, error) {
	a := newEventAttrs(13)
	a.identOf("model", msg.get("model"))
	a.identOf("message_id", msg.get("id"))
	a.identOf("request_id", r.get("requestId"))
	for k, c := range usageCounts {
		v := gjson.Parse(usage.counts[k])
		if !c.required && (!v.Exists() || v.Type == gjson.Null) {
			continue
		}
		n, ok := intValue(v)
		switch {
		case !ok && v.Type == gjson.Number && isDigits(v.Raw):
			return nil, fmt.Errorf("usage %s is over %d", c.path, int64(maxTokens)) // past int64
		case !ok || n < 0:
			return nil, fmt.Errorf("usage %s is not a non-negative integer", c.path)
		case n > maxTokens:
			return nil, fmt.Errorf("usage %s is over %d", c.path, int64(maxTokens))
		}
		a.int(c.key, n)
	}
	if v := r.get("costUSD"); v.Exists() && v.Type != gjson.Null {
		if v.Type != gjson.Number || !finite(v.Num) || v.Num < 0 {
			return nil, errCost
		}
		a.float("cost_usd", v.Num)
	}
	if v := gjson.Parse(usage.serviceTier); v.Type == gjson.String && isShortName(v.Str) {
		a.ident("service_tier", v.Str)
	}
	a.enumOf("speed", gjson.Parse(usage.speed), speeds)
	return a, nil
}

// userAttrs returns the attributes of a user line: the reductions of its text, if it is text the
// user wrote (not a meta line, not an interruption), and of its tool results.
func userAttrs(rec *record) (attrs, error) {
	msg := rec.sub("message")
	if !msg.ok {
		return nil, errNoMessage
	}
	a := newEventAttrs(8)
	text, r := userContent(msg.raw("content"))
	switch {
	case rec.get("isMeta").Bool():
		a.bool("meta", true)
	case strings.HasPrefix(text, interruptMark):
		a.bool("interrupted", true)
	case text != "":
		a.int("prompt_bytes", int64(len(text)))
		if err := a.prompt(text); err != nil {
			return nil, err
		}
	}
	if r.count > 0 {
		a.int("tool_results", r.count)
		a.int("tool_response_bytes", r.bytes)
		a.bool("is_error", r.errors > 0)
	}
	return a, nil
}

// toolResults sums a user line's tool_result blocks.
type toolResults struct{ count, bytes, errors int64 }

// userContent returns the text of a user message's content (raw JSON: a string, or its text blocks
// joined by newlines) and its tool results: their number, the size of their content, and how many
// are errors.
func userContent(raw string) (string, toolResults) {
	var r toolResults
	if strings.HasPrefix(raw, `"`) {
		return gjson.Parse(raw).Str, r
	}
	var texts []string
	pdk.Elements(raw, func(v string) bool {
		switch b := readBlock(v); {
		case b.is("text"):
			if t := gjson.Parse(b.text); t.Type == gjson.String {
				texts = append(texts, t.Str)
			}
		case b.is("tool_result"):
			r.count++
			if b.content != "" && b.content != "null" {
				r.bytes += rawSize(b.content)
			}
			if b.isError != "" && gjson.Parse(b.isError).Bool() {
				r.errors++
			}
		}
		return true
	})
	return strings.Join(texts, "\n"), r
}

// block is what the reductions read of a message content block: the raw JSON of its members.
type block struct{ typ, text, thinking, data, name, content, isError, id, input, toolUseID string }

// readBlock reads a content block in one pass, decoding nothing: a block can hold a file's
// content, which the reductions only measure. The first of repeated keys wins, as for gjson.Get.
func readBlock(raw string) block {
	var b block
	pdk.Members(raw, func(key, v string) bool {
		var dst *string
		switch key {
		case "type":
			dst = &b.typ
		case "text":
			dst = &b.text
		case "thinking":
			dst = &b.thinking
		case "data":
			dst = &b.data
		case "name":
			dst = &b.name
		case "content":
			dst = &b.content
		case "is_error":
			dst = &b.isError
		case "id":
			dst = &b.id
		case "input":
			dst = &b.input
		case "tool_use_id":
			dst = &b.toolUseID
		default:
			return true
		}
		if *dst == "" {
			*dst = v
		}
		return true
	})
	return b
}

// is reports whether the block's type is t.
func (b block) is(t string) bool {
	if strings.IndexByte(b.typ, '\\') >= 0 {
		return gjson.Parse(b.typ).Str == t
	}
	return len(b.typ) == len(t)+2 && b.typ[0] == '"' && b.typ[1:len(b.typ)-1] == t
}

// toolResultEvents appends to evs the transcript.tool_result event of each tool_result block of a
// user message's content (raw JSON): the join key of its tool use, whether it failed and how
// (error_kind, classified from its text in memory), its size, and whether it was interrupted.
func toolResultEvents(raw string, evs []sdk.Event, event func(string, attrs) sdk.Event) ([]sdk.Event, error) {
	if !strings.HasPrefix(raw, "[") {
		return evs, nil
	}
	var err error
	pdk.Elements(raw, func(v string) bool {
		b := readBlock(v)
		if !b.is("tool_result") {
			return true
		}
		a := newEventAttrs(6)
		if err = a.toolUse(gjson.Parse(b.toolUseID)); err != nil {
			return false
		}
		isError := b.isError != "" && gjson.Parse(b.isError).Bool()
		a.bool("is_error", isError)
		text := resultText(b.content)
		kind := errorKind(text)
		interrupted := strings.HasPrefix(text, interruptMark) || isError && kind == errInterrupted
		if isError {
			if interrupted {
				kind = errInterrupted
			}
			a.ident("error_kind", kind)
		}
		if b.content != "" && b.content != "null" {
			a.int("tool_response_bytes", rawSize(b.content))
		}
		if interrupted {
			a.bool("interrupted", true)
		}
		evs = append(evs, event(kindResult, a))
		return true
	})
	return evs, err
}

// resultText returns the start of a tool result's text (its content's raw JSON: a string, or
// blocks whose first text block is used), enough for errorKind: at most maxErrorText bytes of
// the raw JSON are decoded.
func resultText(raw string) string {
	if strings.HasPrefix(raw, "[") {
		var text string
		pdk.Elements(raw, func(v string) bool {
			if b := readBlock(v); b.is("text") {
				text = b.text
				return false
			}
			return true
		})
		raw = text
	}
	if !strings.HasPrefix(raw, `"`) {
		return ""
	}
	if len(raw) > maxErrorText {
		// Cut and close the string; a cut escape sequence only spoils the end.
		raw = strings.TrimRight(raw[:maxErrorText], `\`) + `"`
	}
	return gjson.Parse(raw).Str
}
