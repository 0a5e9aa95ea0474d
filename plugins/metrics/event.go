package main

import (
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/hangar-dev/hangar/sdk/pdk"
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
// and a time (the plugin skips it: it never fails a record). It walks the JSON once with
// pdk.Members and pdk.Elements, which decode nothing, and decodes only the values it keeps: in a
// guest, gjson's ForEach over every member and attribute was a fifth of the plugin's time.
func parseEvent(js []byte) (ev event, ok bool) {
	if !pdk.Members(unsafe.String(unsafe.SliceData(js), len(js)), func(k, v string) bool {
		switch k {
		case "id":
			ev.id = str(v)
		case "kind":
			ev.kind = str(v)
		case "session_id":
			ev.session = str(v)
		case "time":
			ev.t = parseTime(str(v))
		case "ingest_time":
			ev.ingest = parseTime(str(v))
		case "attrs":
			pdk.Elements(v, func(a string) bool {
				ev.attr(a)
				return true
			})
		}
		return true
	}) {
		return event{}, false
	}
	return ev, ev.kind != "" && ev.t > 0
}

// str decodes a raw JSON string; the strings of an event (idents, hashes, times) rarely have
// escapes, and then are the raw text between the quotes, which alias the record: pdk never reuses
// a call's input.
func str(raw string) string {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		s := raw[1 : len(raw)-1]
		if strings.IndexByte(s, '\\') < 0 {
			return s
		}
	}
	return gjson.Parse(raw).String()
}

// rawInt decodes a raw JSON integer (a float or anything else through gjson).
func rawInt(raw string) int64 {
	if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
		return n
	}
	return gjson.Parse(raw).Int()
}

func parseTime(s string) int64 {
	if t, ok := parseUTC(s); ok {
		return t
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}

// parseUTC reads the UTC form of RFC 3339 that sdk.Event.MarshalJSON writes
// (2025-06-08T10:00:00.123456789Z, the fraction optional) as Unix milliseconds; ok is false for
// any other form, which time.Parse then reads.
func parseUTC(s string) (int64, bool) {
	if len(s) < 20 || s[len(s)-1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	digits := func(s string) (int, bool) {
		n := 0
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			n = n*10 + int(s[i]-'0')
		}
		return n, true
	}
	y, ok1 := digits(s[0:4])
	mo, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	h, ok4 := digits(s[11:13])
	mi, ok5 := digits(s[14:16])
	se, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59 {
		return 0, false
	}
	ms := 0
	if rest := s[19 : len(s)-1]; rest != "" {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return 0, false
		}
		frac, ok := digits(rest[1:])
		if !ok {
			return 0, false
		}
		for i := len(rest) - 1; i < 9; i++ {
			frac *= 10
		}
		ms = frac / 1e6
	}
	t := time.Date(y, time.Month(mo), d, h, mi, se, 0, time.UTC)
	if t.Day() != d {
		return 0, false // 31 June and the like: time.Parse rejects them
	}
	return t.Unix()*1000 + int64(ms), true
}

// attr reads one {key, type, value} attribute.
func (ev *event) attr(a string) {
	var key, value string
	pdk.Members(a, func(k, v string) bool {
		switch k {
		case "key":
			key = v
		case "value":
			value = v
		}
		return true
	})
	if len(key) < 2 {
		return
	}
	switch key[1 : len(key)-1] {
	case "tool_name":
		ev.toolName = str(value)
	case "tool_use_id":
		ev.toolUseID = str(value)
	case "operation":
		ev.operation = str(value)
	case "command":
		ev.command = str(value)
	case "error_kind":
		ev.errorKind = str(value)
	case "permission_mode":
		ev.permMode = str(value)
	case "model":
		ev.model = str(value)
	case "message_id":
		ev.messageID = str(value)
	case "request_id":
		ev.requestID = str(value)
	case "project":
		ev.project = str(value)
	case "prompt_hash":
		ev.promptHash = str(value)
	case "speed":
		ev.speed = str(value)
	case "duration_ms":
		ev.duration, ev.hasDuration = rawInt(value), true
	case "lines_added":
		ev.linesAdded, ev.hasLines = rawInt(value), true
	case "lines_removed":
		ev.linesRemoved, ev.hasLines = rawInt(value), true
	case "success":
		ev.success, ev.hasSuccess = value == "true", true
	case "is_error":
		ev.isError = value == "true"
	case "sidechain":
		ev.sidechain = value == "true"
	case "interrupted":
		ev.interrupted = value == "true"
	case "meta":
		ev.meta = value == "true"
	case "tool_results":
		ev.toolResults = rawInt(value)
	case "input_tokens":
		ev.input, ev.hasTokens = rawInt(value), true
	case "output_tokens":
		ev.output = rawInt(value)
	case "cache_creation_tokens":
		ev.cacheCreation = rawInt(value)
	case "cache_read_tokens":
		ev.cacheRead = rawInt(value)
	case "cache_creation_5m_tokens":
		ev.cc5m, ev.hasBreakdown = rawInt(value), true
	case "cache_creation_1h_tokens":
		ev.cc1h, ev.hasBreakdown = rawInt(value), true
	}
}
