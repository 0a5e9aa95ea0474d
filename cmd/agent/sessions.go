package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/sdk"
)

// SessionsCmd lists the sessions: start, duration, turns, tool calls, errors, tokens, cost and
// project, from the conversations plugin's conversation.session records, with tokens and cost
// from the usage rollup (as `agent report session` counts them).
type SessionsCmd struct {
	readFilter
	Limit int  `short:"n" help:"Show only the latest N sessions (0: all)."`
	JSON  bool `name:"json" help:"Print JSON."`
}

// sessionRow is one session as `agent sessions` shows it.
type sessionRow struct {
	SessionID      string    `json:"session_id"`
	Start          time.Time `json:"start"`
	End            time.Time `json:"end,omitzero"`
	DurationMS     int64     `json:"duration_ms"`
	ActiveMS       int64     `json:"active_ms"`
	Turns          int64     `json:"turns"`
	ToolCalls      int64     `json:"tool_calls"`
	ToolErrors     int64     `json:"tool_errors"`
	TurnsWithError int64     `json:"turns_with_error"`
	Edits          int64     `json:"edits"`
	LinesAdded     int64     `json:"lines_added"`
	LinesRemoved   int64     `json:"lines_removed"`
	Model          string    `json:"model,omitempty"`
	Project        string    `json:"project,omitempty"`
	ProjectName    string    `json:"project_name,omitempty"`
	Source         string    `json:"source,omitempty"`
	spend
}

// newSessionRow makes a row of a conversation.session record and the session's usage.
func newSessionRow(ev *sdk.Event, sp spend, names projectNames) sessionRow {
	r := sessionRow{
		SessionID: ev.SessionID, Start: ev.Time, End: attrMillis(ev, "end"),
		DurationMS: attrInt(ev, "duration_ms"), ActiveMS: attrInt(ev, "active_ms"),
		Turns: attrInt(ev, "turns"), ToolCalls: attrInt(ev, "tool_calls"), ToolErrors: attrInt(ev, "tool_errors"),
		TurnsWithError: attrInt(ev, "turns_with_error"), Edits: attrInt(ev, "edits"),
		LinesAdded: attrInt(ev, "lines_added"), LinesRemoved: attrInt(ev, "lines_removed"),
		Model: attrIdent(ev, "model"), Project: attrHex(ev, "project"), Source: attrIdent(ev, "source"),
		spend: sp,
	}
	if r.SessionID == "" {
		r.SessionID = attrIdent(ev, "key")
	}
	if s := attrMillis(ev, "start"); !s.IsZero() {
		r.Start = s
	}
	if r.Project != "" {
		r.ProjectName = names.show(r.Project)
	}
	return r
}

// Run implements the command.
func (c *SessionsCmd) Run(g *Globals) error {
	sp, err := c.span("sessions")
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	names, err := loadProjectNames(g.DataDir)
	if err != nil {
		return err
	}
	return g.withDerivedReader(func(ctx context.Context, cl *daemon.Client) error {
		rows, err := loadSessions(ctx, g, cl, sp, c.Project, names)
		if err != nil {
			return fmt.Errorf("sessions: %w", err)
		}
		if c.Limit > 0 && len(rows) > c.Limit {
			rows = rows[len(rows)-c.Limit:]
		}
		if c.JSON {
			return writeJSONOut(g.stdout, rows)
		}
		printSessions(g.stdout, rows, sp.loc)
		return nil
	})
}

// loadSessions reads the sessions that start in sp (of the project named, if not ""), oldest
// first, with their usage. It keeps the fields it shows, not the records.
func loadSessions(ctx context.Context, g *Globals, cl *daemon.Client, sp span, project string, names projectNames) ([]sessionRow, error) {
	// The usage and the records are two scans of the store: side by side, on two cores.
	var sums []daemon.UsageSum
	var sumsErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		sums, sumsErr = cl.UsageSums(ctx, daemon.UsageSumQuery{From: sp.from, Group: []string{"session"}})
	}()
	var rows []sessionRow
	behind, err := cl.EachView(ctx, daemon.ViewQuery{Kind: kindSession, Since: sp.from, Until: sp.to}, func(ev *sdk.Event) error {
		rows = append(rows, newSessionRow(ev, spend{}, names))
		return nil
	})
	<-done
	if err = cmp.Or(err, sumsErr); err != nil {
		return nil, err
	}
	warnBehind(g.stderr, behind)
	usage := spendBySession(sums)
	for i := range rows {
		rows[i].spend = usage[rows[i].SessionID]
	}
	if project != "" {
		keys := make([]string, len(rows))
		for i := range rows {
			keys[i] = rows[i].Project
		}
		if project, err = resolveProjectKey(keys, project, names); err != nil {
			return nil, &exitError{code: 2, err: err}
		}
		rows = slices.DeleteFunc(rows, func(r sessionRow) bool { return r.Project != project })
	}
	if rows == nil {
		rows = []sessionRow{}
	}
	slices.SortStableFunc(rows, func(a, b sessionRow) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.SessionID, b.SessionID))
	})
	return rows, nil
}

// printSessions prints the sessions as a table, with a total.
func printSessions(w io.Writer, rows []sessionRow, loc *time.Location) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "No sessions found. They appear once the conversations plugin has read the events (`agent plugins list`).")
		return
	}
	t := newLineTable([]string{"Start", "Session", "Project", "Duration", "Turns", "Tools", "Errors", "Tokens", "Cost (USD)"}, 4)
	var total sessionRow
	for _, r := range rows {
		t.appendRow(r.Start.In(loc).Format("2006-01-02 15:04"), r.SessionID, r.ProjectName, showDuration(time.Duration(r.DurationMS)*time.Millisecond),
			humanize.Comma(r.Turns), humanize.Comma(r.ToolCalls), humanize.Comma(r.ToolErrors), humanize.Comma(r.Tokens.total()), showCost(r.Cost))
		total.DurationMS += r.DurationMS
		total.Turns += r.Turns
		total.ToolCalls += r.ToolCalls
		total.ToolErrors += r.ToolErrors
		total.Tokens.add(r.Tokens)
		total.Cost += r.Cost
	}
	t.setFooter("Total", fmt.Sprintf("%d sessions", len(rows)), "", showDuration(time.Duration(total.DurationMS)*time.Millisecond),
		humanize.Comma(total.Turns), humanize.Comma(total.ToolCalls), humanize.Comma(total.ToolErrors), humanize.Comma(total.Tokens.total()), showCost(total.Cost))
	t.render(w)
}

// writeJSONOut writes v as indented JSON.
func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
