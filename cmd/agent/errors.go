package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/jedib0t/go-pretty/v6/table"
)

// ErrorsCmd is the error analysis: tool errors by tool and by error kind (from the metrics
// plugin's daily buckets, dims tool and error_kind), the share of turns with an error, and the
// sessions where errors cluster (from the conversations plugin's session records): those whose
// error rate is at least twice the overall rate, with at least clusterMin errors, most errors
// first.
type ErrorsCmd struct {
	readFilter
	Top  int  `default:"10" help:"How many sessions to list where errors cluster."`
	JSON bool `name:"json" help:"Print JSON."`
}

// clusterMin is the fewest tool errors a session has for its errors to count as a cluster.
const clusterMin = 3

// errorCount is the tool errors of one tool or error kind.
type errorCount struct {
	Name      string  `json:"name"`
	Errors    int64   `json:"errors"`
	ToolCalls int64   `json:"tool_calls,omitempty"`
	Rate      float64 `json:"error_rate,omitempty"`
	Share     float64 `json:"share_of_errors"`
}

// errorCluster is a session where errors cluster.
type errorCluster struct {
	SessionID   string    `json:"session_id"`
	Start       time.Time `json:"start"`
	Project     string    `json:"project,omitempty"`
	ProjectName string    `json:"project_name,omitempty"`
	ToolCalls   int64     `json:"tool_calls"`
	ToolErrors  int64     `json:"tool_errors"`
	Rate        float64   `json:"error_rate"`
	Turns       int64     `json:"turns"`
	TurnsError  int64     `json:"turns_with_error"`
	Share       float64   `json:"share_of_errors"`
}

// errorReport is `agent errors --json`.
type errorReport struct {
	ToolCalls      int64          `json:"tool_calls"`
	ToolErrors     int64          `json:"tool_errors"`
	ErrorRate      float64        `json:"error_rate"`
	Turns          int64          `json:"turns"`
	TurnsWithError int64          `json:"turns_with_error"`
	TurnErrorShare float64        `json:"turns_with_error_share"`
	ByTool         []errorCount   `json:"by_tool"`
	ByKind         []errorCount   `json:"by_error_kind"`
	Clusters       []errorCluster `json:"clusters"`
}

// ratio returns a/b, 0 when b is 0.
func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Run implements the command.
func (c *ErrorsCmd) Run(g *Globals) error {
	sp, err := c.span("errors")
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	names, err := loadProjectNames(g.DataDir)
	if err != nil {
		return err
	}
	return g.withDerivedReader(func(ctx context.Context, cl *daemon.Client) error {
		rep, err := c.load(ctx, g, cl, sp, names)
		if err != nil {
			return err
		}
		if c.JSON {
			return writeJSONOut(g.stdout, rep)
		}
		c.print(g.stdout, rep, sp.loc)
		return nil
	})
}

// load reads the metrics buckets and the sessions of the span. With --project, the counts are
// the project's sessions' (the buckets count one dimension at a time: none is tool within a
// project), and by tool and kind are left out.
func (c *ErrorsCmd) load(ctx context.Context, g *Globals, cl *daemon.Client, sp span, names projectNames) (errorReport, error) {
	rep := errorReport{ByTool: []errorCount{}, ByKind: []errorCount{}, Clusters: []errorCluster{}}
	sessions, err := loadSessions(ctx, g, cl, sp, c.Project, names)
	if err != nil {
		return rep, fmt.Errorf("errors: %w", err)
	}
	if c.Project == "" {
		recs, err := readView(ctx, g, cl, daemon.ViewQuery{Kind: kindMetrics, From: bucketKeyAt(sp.from, true), To: bucketKeyAt(sp.to, false)})
		if err != nil {
			return rep, fmt.Errorf("errors: %w", err)
		}
		byTool, byKind := map[string]*errorCount{}, map[string]*errorCount{}
		for i := range recs {
			ev := &recs[i]
			value := attrIdent(ev, "value")
			switch attrIdent(ev, "dim") {
			case "all":
				rep.ToolCalls += attrInt(ev, "tool_calls")
				rep.ToolErrors += attrInt(ev, "tool_errors")
				rep.Turns += attrInt(ev, "turns")
				rep.TurnsWithError += attrInt(ev, "turns_with_error")
			case "tool":
				e := byTool[value]
				if e == nil {
					e = &errorCount{Name: value}
					byTool[value] = e
				}
				e.Errors += attrInt(ev, "tool_errors")
				e.ToolCalls += attrInt(ev, "tool_calls")
			case "error_kind":
				e := byKind[value]
				if e == nil {
					e = &errorCount{Name: value}
					byKind[value] = e
				}
				e.Errors += cmp.Or(attrInt(ev, "tool_errors"), attrInt(ev, "tool_calls"))
			}
		}
		rep.ByTool, rep.ByKind = errorCounts(byTool, rep.ToolErrors), errorCounts(byKind, rep.ToolErrors)
	} else {
		for _, s := range sessions {
			rep.ToolCalls += s.ToolCalls
			rep.ToolErrors += s.ToolErrors
			rep.Turns += s.Turns
			rep.TurnsWithError += s.TurnsWithError
		}
	}
	rep.ErrorRate, rep.TurnErrorShare = ratio(rep.ToolErrors, rep.ToolCalls), ratio(rep.TurnsWithError, rep.Turns)
	var inSessions int64
	for _, s := range sessions {
		inSessions += s.ToolErrors
	}
	for _, s := range sessions {
		rate := ratio(s.ToolErrors, s.ToolCalls)
		if s.ToolErrors < clusterMin || rate < 2*rep.ErrorRate {
			continue
		}
		rep.Clusters = append(rep.Clusters, errorCluster{SessionID: s.SessionID, Start: s.Start, Project: s.Project, ProjectName: s.ProjectName,
			ToolCalls: s.ToolCalls, ToolErrors: s.ToolErrors, Rate: rate, Turns: s.Turns, TurnsError: s.TurnsWithError, Share: ratio(s.ToolErrors, inSessions)})
	}
	slices.SortFunc(rep.Clusters, func(a, b errorCluster) int {
		return cmp.Or(cmp.Compare(b.ToolErrors, a.ToolErrors), cmp.Compare(b.Rate, a.Rate), cmp.Compare(a.SessionID, b.SessionID))
	})
	rep.Clusters = rep.Clusters[:min(len(rep.Clusters), max(c.Top, 0))]
	return rep, nil
}

// errorCounts sorts counts, most errors first, with their share of total.
func errorCounts(m map[string]*errorCount, total int64) []errorCount {
	out := []errorCount{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e := m[k]
		if e.Errors == 0 {
			continue
		}
		e.Rate, e.Share = ratio(e.Errors, e.ToolCalls), ratio(e.Errors, total)
		out = append(out, *e)
	}
	slices.SortStableFunc(out, func(a, b errorCount) int { return cmp.Compare(b.Errors, a.Errors) })
	return out
}

// pct formats a fraction as a percentage.
func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// print prints the analysis.
func (c *ErrorsCmd) print(w io.Writer, rep errorReport, loc *time.Location) {
	if rep.ToolCalls == 0 && rep.Turns == 0 {
		fmt.Fprintln(w, "No tool calls found. Errors are counted once the metrics and conversations plugins have read the events (`agent plugins list`).")
		return
	}
	fmt.Fprintf(w, "Tool errors: %s of %s tool calls (%s); turns with an error: %s of %s (%s)\n",
		humanize.Comma(rep.ToolErrors), humanize.Comma(rep.ToolCalls), pct(rep.ErrorRate),
		humanize.Comma(rep.TurnsWithError), humanize.Comma(rep.Turns), pct(rep.TurnErrorShare))
	if len(rep.ByTool) > 0 {
		fmt.Fprintln(w, "\nBy tool")
		t := newTable(w, table.Row{"Tool", "Errors", "Tool calls", "Error rate", "Share of errors"}, 2)
		for _, e := range rep.ByTool {
			t.AppendRow(table.Row{e.Name, humanize.Comma(e.Errors), humanize.Comma(e.ToolCalls), pct(e.Rate), pct(e.Share)})
		}
		t.Render()
	}
	if len(rep.ByKind) > 0 {
		fmt.Fprintln(w, "\nBy error kind")
		t := newTable(w, table.Row{"Error kind", "Errors", "Share of errors"}, 2)
		for _, e := range rep.ByKind {
			t.AppendRow(table.Row{e.Name, humanize.Comma(e.Errors), pct(e.Share)})
		}
		t.Render()
	}
	fmt.Fprintf(w, "\nSessions where errors cluster (at least %d errors, error rate at least twice the overall %s)\n", clusterMin, pct(rep.ErrorRate))
	if len(rep.Clusters) == 0 {
		fmt.Fprintln(w, "None.")
		return
	}
	t := newTable(w, table.Row{"Start", "Session", "Project", "Errors", "Tool calls", "Error rate", "Turns with error", "Share of errors"}, 4)
	for _, s := range rep.Clusters {
		t.AppendRow(table.Row{s.Start.In(loc).Format("2006-01-02 15:04"), s.SessionID, s.ProjectName, humanize.Comma(s.ToolErrors), humanize.Comma(s.ToolCalls),
			pct(s.Rate), fmt.Sprintf("%d of %d", s.TurnsError, s.Turns), pct(s.Share)})
	}
	t.Render()
}
