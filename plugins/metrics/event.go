package main

import (
	"time"

	"github.com/tidwall/gjson"
)

// event is what the plugin reads of one stored event (sdk.Event.MarshalJSON form): the kind,
// session, times and the attributes it uses.
type event struct {
	id, kind, session string
	t, ingest         int64 // Unix ms; ingest 0 when unknown

	toolName, toolUseID, operation, command, errorKind, permMode, model string
	messageID, requestID, project, promptHash, speed                    string

	duration, linesAdded, linesRemoved                             int64
	hasDuration, hasLines, success, hasSuccess, isError, sidechain bool
	interrupted, meta                                              bool
	toolResults                                                    int64

	input, output, cacheCreation, cacheRead, cc5m, cc1h int64
	hasBreakdown, hasTokens                             bool
}

// parseEvent reads an event's JSON; ok is false for a record that is not an event with a kind
// and a time (the plugin skips it: it never fails a record).
func parseEvent(js []byte) (ev event, ok bool) {
	root := gjson.ParseBytes(js)
	if !root.IsObject() {
		return ev, false
	}
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "id":
			ev.id = v.Str
		case "kind":
			ev.kind = v.Str
		case "session_id":
			ev.session = v.Str
		case "time":
			ev.t = parseTime(v.Str)
		case "ingest_time":
			ev.ingest = parseTime(v.Str)
		case "attrs":
			v.ForEach(func(_, a gjson.Result) bool {
				ev.attr(a)
				return true
			})
		}
		return true
	})
	return ev, ev.kind != "" && ev.t > 0
}

func parseTime(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}

// attr reads one {key, type, value} attribute.
func (ev *event) attr(a gjson.Result) {
	var key, value gjson.Result
	a.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "key":
			key = v
		case "value":
			value = v
		}
		return true
	})
	switch key.Str {
	case "tool_name":
		ev.toolName = value.Str
	case "tool_use_id":
		ev.toolUseID = value.Str
	case "operation":
		ev.operation = value.Str
	case "command":
		ev.command = value.Str
	case "error_kind":
		ev.errorKind = value.Str
	case "permission_mode":
		ev.permMode = value.Str
	case "model":
		ev.model = value.Str
	case "message_id":
		ev.messageID = value.Str
	case "request_id":
		ev.requestID = value.Str
	case "project":
		ev.project = value.Str
	case "prompt_hash":
		ev.promptHash = value.Str
	case "speed":
		ev.speed = value.Str
	case "duration_ms":
		ev.duration, ev.hasDuration = value.Int(), true
	case "lines_added":
		ev.linesAdded, ev.hasLines = value.Int(), true
	case "lines_removed":
		ev.linesRemoved, ev.hasLines = value.Int(), true
	case "success":
		ev.success, ev.hasSuccess = value.Bool(), true
	case "is_error":
		ev.isError = value.Bool()
	case "sidechain":
		ev.sidechain = value.Bool()
	case "interrupted":
		ev.interrupted = value.Bool()
	case "meta":
		ev.meta = value.Bool()
	case "tool_results":
		ev.toolResults = value.Int()
	case "input_tokens":
		ev.input, ev.hasTokens = value.Int(), true
	case "output_tokens":
		ev.output = value.Int()
	case "cache_creation_tokens":
		ev.cacheCreation = value.Int()
	case "cache_read_tokens":
		ev.cacheRead = value.Int()
	case "cache_creation_5m_tokens":
		ev.cc5m, ev.hasBreakdown = value.Int(), true
	case "cache_creation_1h_tokens":
		ev.cc1h, ev.hasBreakdown = value.Int(), true
	}
}
