package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/sdk"
)

// InsightsCmd shows the current insights of the insight plugins, newest first, in the words of
// each plugin's manifest (its [messages.<code>]: title and suggestion, filled from the record).
type InsightsCmd struct {
	JSON bool `name:"json" help:"Print JSON: one object per insight (plugin, key, code, severity, time, title, suggestion, evidence, sessions)."`
	All  bool `name:"all" help:"Also show insights that were resolved (no longer hold)."`
}

// shownInsight is one insight as the command shows it.
type shownInsight struct {
	Plugin     string         `json:"plugin"`
	Key        string         `json:"key"`
	Code       string         `json:"code"`
	Severity   string         `json:"severity"`
	Time       time.Time      `json:"time"`
	Title      string         `json:"title"`
	Suggestion string         `json:"suggestion,omitempty"`
	Resolved   bool           `json:"resolved,omitempty"`
	Evidence   map[string]any `json:"evidence"`
	Sessions   []string       `json:"sessions,omitempty"`
	// evidence is Evidence in the record's order, for the text output.
	evidence []sdk.Attr
}

// Run implements the command.
func (c *InsightsCmd) Run(g *Globals) error {
	reg, err := openRegistry(g.DataDir, nil)
	if err != nil {
		return fmt.Errorf("insights: %w", err)
	}
	list, err := reg.List()
	if err != nil {
		return fmt.Errorf("insights: %w", err)
	}
	manifests := map[string]*host.Manifest{}
	var names []string
	for i := range list {
		if m := &list[i].Manifest; m.Kind == host.KindInsight {
			manifests[m.Name] = m
			names = append(names, m.Name)
		}
	}
	var recs []daemon.Insight
	if len(names) > 0 {
		err = g.withUsageReader(func(ctx context.Context, cl *daemon.Client) error {
			recs, err = cl.Insights(ctx, names)
			return err
		})
		if err != nil {
			return fmt.Errorf("insights: %w", err)
		}
	}
	shown := make([]shownInsight, 0, len(recs))
	for i := range recs {
		s := renderInsight(&recs[i], manifests[recs[i].Plugin])
		if s.Resolved && !c.All {
			continue
		}
		shown = append(shown, s)
	}
	sortInsights(shown)
	if c.JSON {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(shown)
	}
	printInsights(g.stdout, shown, len(names))
	return nil
}

// severityRank orders severities, the gravest first.
var severityRank = map[string]int{"critical": 0, "warning": 1, "info": 2}

// sortInsights orders insights newest first, then the gravest, then by plugin and key.
func sortInsights(s []shownInsight) {
	slices.SortStableFunc(s, func(a, b shownInsight) int {
		ra, ok := severityRank[a.Severity]
		if !ok {
			ra = len(severityRank)
		}
		rb, ok := severityRank[b.Severity]
		if !ok {
			rb = len(severityRank)
		}
		return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(ra, rb), cmp.Compare(a.Plugin, b.Plugin), cmp.Compare(a.Key, b.Key))
	})
}

// renderInsight turns an insight record into what the command shows: the manifest's message of
// its code with the placeholders filled from the record's attributes (or the code itself, if the
// manifest has no message for it), and its evidence.
func renderInsight(in *daemon.Insight, m *host.Manifest) shownInsight {
	ev := &in.Record
	s := shownInsight{Plugin: in.Plugin, Key: in.Key, Time: ev.Time.UTC(), Evidence: map[string]any{}}
	for _, a := range ev.Attrs {
		switch {
		case a.Key == "key":
		case a.Key == "code" && a.Value.Kind() == sdk.KindIdent:
			s.Code = a.Value.Ident()
		case a.Key == "severity" && a.Value.Kind() == sdk.KindIdent:
			s.Severity = a.Value.Ident()
		case a.Key == "resolved" && a.Value.Kind() == sdk.KindBool:
			s.Resolved = a.Value.Bool()
		case isSessionAttr(a.Key) && a.Value.Kind() == sdk.KindIdent:
			s.Sessions = append(s.Sessions, a.Value.Ident())
		default:
			if v, ok := attrText(a.Value); ok {
				s.evidence = append(s.evidence, a)
				s.Evidence[a.Key] = attrJSON(a.Value, v)
			}
		}
	}
	if s.Code == "" {
		s.Code = ev.Kind
	}
	if s.Severity == "" {
		s.Severity = "info"
	}
	value := func(attr string) (string, bool) {
		v, ok := ev.Attr(attr)
		if !ok {
			return "", false
		}
		return attrText(v)
	}
	s.Title = s.Code
	if m != nil {
		if msg, ok := m.Messages[s.Code]; ok {
			s.Title = host.ExpandMessage(msg.Title, value)
			s.Suggestion = host.ExpandMessage(msg.Suggestion, value)
		}
	}
	return s
}

// isSessionAttr reports whether key is session_1, session_2 ...: the sessions an insight names.
func isSessionAttr(key string) bool {
	n, ok := strings.CutPrefix(key, "session_")
	if !ok || n == "" {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 8)
	return err == nil
}

// attrText is an attribute's value as a message shows it: idents, ints, floats (at most 2
// decimals) and flags; false for other kinds (hashes, sketches), which no message shows.
func attrText(v sdk.Value) (string, bool) {
	switch v.Kind() {
	case sdk.KindIdent:
		return v.Ident(), true
	case sdk.KindInt:
		return strconv.FormatInt(v.Int(), 10), true
	case sdk.KindFloat:
		return strconv.FormatFloat(math.Round(v.Float()*100)/100, 'f', -1, 64), true
	case sdk.KindBool:
		return strconv.FormatBool(v.Bool()), true
	}
	return "", false
}

// attrJSON is an attribute's value in the JSON output: numbers and flags as such.
func attrJSON(v sdk.Value, text string) any {
	switch v.Kind() {
	case sdk.KindInt:
		return v.Int()
	case sdk.KindFloat:
		return v.Float()
	case sdk.KindBool:
		return v.Bool()
	}
	return text
}

// printInsights writes the insights as text: per insight, a heading line (date, severity,
// plugin), the title, the evidence, the sessions and the suggestion.
func printInsights(w io.Writer, s []shownInsight, plugins int) {
	if len(s) == 0 {
		fmt.Fprintf(w, "No insights yet (%d insight plugins enabled or installed; `agent plugins list` shows them).\n", plugins)
		return
	}
	for i, in := range s {
		if i > 0 {
			fmt.Fprintln(w)
		}
		date := "-"
		if !in.Time.IsZero() {
			date = in.Time.Local().Format(time.DateOnly)
		}
		status := strings.ToUpper(in.Severity)
		if in.Resolved {
			status += " (resolved)"
		}
		fmt.Fprintf(w, "%s  %s  %s\n", date, status, in.Plugin)
		fmt.Fprintf(w, "  %s\n", in.Title)
		if len(in.evidence) > 0 {
			parts := make([]string, len(in.evidence))
			for j, a := range in.evidence {
				v, _ := attrText(a.Value)
				parts[j] = strings.ReplaceAll(a.Key, "_", " ") + " " + v
			}
			fmt.Fprintf(w, "  Evidence: %s\n", strings.Join(parts, ", "))
		}
		if len(in.Sessions) > 0 {
			fmt.Fprintf(w, "  Sessions: %s\n", strings.Join(in.Sessions, ", "))
		}
		if in.Suggestion != "" {
			fmt.Fprintf(w, "  Suggestion: %s\n", in.Suggestion)
		}
	}
}
