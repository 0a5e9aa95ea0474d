package main

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
	"github.com/tidwall/gjson"
)

// Code is the code of the plugin's insights (plugin.toml's [messages.tool_errors_rising]).
const Code = "tool_errors_rising"

// The rule: over the last PeriodDays days of data a tool made at least MinCalls calls and
// MinErrors errors, over the PeriodDays before at least MinPriorCalls calls, and its error rate
// rose by at least MinRisePct points and to at least RiseFactor times the earlier rate.
const (
	PeriodDays    = 7
	MinCalls      = 20
	MinErrors     = 5
	MinPriorCalls = 10
	MinRisePct    = 5
	RiseFactor    = 1.5
)

const secondsPerDay = 24 * 60 * 60

// handle is the batch handler: it reads the state once, folds every record into it, then emits
// the insights that changed, attached to the call's last record, and writes the state back.
// Records it does not use (other kinds, other dimensions) yield nothing; none fails.
func handle(recs []pdk.Record) []pdk.Result {
	s, err := decodeState(kvGet(stateKey))
	if err != nil {
		s = &state{} // a corrupt state rebuilds from the records that follow
	}
	for _, rec := range recs {
		s.add(rec)
	}
	evs := s.insights()
	kvSet(stateKey, s.encode())
	results := make([]pdk.Result, len(recs))
	if len(recs) > 0 {
		results[len(recs)-1].Events = evs
	}
	return results
}

// fields are the attributes of a derived record the plugin reads.
type fields struct {
	kind, session                          string
	dim, value, tool, status               string
	bucket, calls, errors, start, duration int64
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
				case "dim":
					f.dim = val.String()
				case "value":
					f.value = val.String()
				case "tool_name":
					f.tool = val.String()
				case "status":
					f.status = val.String()
				case "bucket":
					f.bucket = val.Int()
				case "tool_calls":
					f.calls = val.Int()
				case "tool_errors":
					f.errors = val.Int()
				case "start":
					f.start = val.Int()
				}
				return true
			})
		}
		return true
	})
	return f
}

// add folds one record into the state.
func (s *state) add(rec pdk.Record) {
	f := parse(rec)
	switch f.kind {
	case "metrics.1d":
		if f.dim != "tool" || !sdk.IsIdent(f.value) || f.value == "" || f.calls < 0 || f.errors < 0 {
			return
		}
		s.find(f.value, true).setDay(f.bucket, f.calls, f.errors)
		s.newest = max(s.newest, f.bucket)
	case "conversation.tool":
		if f.status != "error" || f.tool == "" || !sdk.IsIdent(f.tool) || f.session == "" {
			return
		}
		s.find(f.tool, true).addSession(f.session, f.start)
	}
}

// insights evaluates every tool over the window ending at the newest day and returns the
// insights that changed since they were last emitted: a tool whose rate is rising, or one that
// was and no longer is (resolved).
func (s *state) insights() []sdk.Event {
	var out []sdk.Event
	kept := s.tools[:0]
	for _, t := range s.tools {
		t.trim(s.newest)
		ev, active := s.evaluate(t)
		fp := "resolved"
		if active {
			fp = fingerprint(&ev)
		}
		switch {
		case active && fp != t.emitted:
			out = append(out, ev)
			t.emitted = fp
		case !active && t.emitted != "" && t.emitted != "resolved":
			out = append(out, ev)
			t.emitted = fp
		}
		// A tool with no days left in the window is forgotten once its failures are as old.
		if len(t.days) > 0 || t.seen >= s.newest-windowDays*secondsPerDay {
			kept = append(kept, t)
		}
	}
	clear(s.tools[len(kept):])
	s.tools = kept
	return out
}

// evaluate returns a tool's insight over the two periods ending at the newest day, and whether
// the rule holds.
func (s *state) evaluate(t *tool) (sdk.Event, bool) {
	recentFrom := s.newest - (PeriodDays-1)*secondsPerDay
	var calls, errs, priorCalls, priorErrs int64
	for _, d := range t.days {
		if d.start >= recentFrom {
			calls += d.calls
			errs += d.errors
		} else {
			priorCalls += d.calls
			priorErrs += d.errors
		}
	}
	pct, priorPct := percent(errs, calls), percent(priorErrs, priorCalls)
	active := calls >= MinCalls && errs >= MinErrors && priorCalls >= MinPriorCalls &&
		pct >= priorPct+MinRisePct && float64(errs)*float64(priorCalls) >= RiseFactor*float64(priorErrs)*float64(calls)
	severity := "info"
	switch {
	case !active:
	case pct >= 50:
		severity = "critical"
	case pct >= 20:
		severity = "warning"
	}
	ev := sdk.Event{Kind: Code, Attrs: []sdk.Attr{
		sdk.Ident("key", t.name),
		sdk.Ident("code", Code),
		sdk.Ident("severity", severity),
		sdk.Ident("tool", t.name),
		sdk.Int("calls", calls),
		sdk.Int("errors", errs),
		sdk.Int("error_pct", pct),
		sdk.Int("prior_calls", priorCalls),
		sdk.Int("prior_errors", priorErrs),
		sdk.Int("prior_error_pct", priorPct),
		sdk.Int("days", PeriodDays),
		sdk.Bool("resolved", !active),
	}}
	if s.newest > 0 {
		ev.Time = time.Unix(s.newest, 0).UTC()
	}
	n := 0
	for _, x := range t.sessions {
		if x.start/1000 >= recentFrom {
			n++
			ev.Attrs = append(ev.Attrs, sdk.Ident("session_"+strconv.Itoa(n), x.id))
		}
	}
	return ev, active
}

// percent returns 100 n / d rounded to the nearest integer, 0 if d is 0.
func percent(n, d int64) int64 {
	if d <= 0 {
		return 0
	}
	return (200*n + d) / (2 * d)
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
