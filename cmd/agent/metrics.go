package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/jedib0t/go-pretty/v6/table"
)

// MetricsCmd shows the metrics plugin's daily buckets (metrics.1d) summed by day, week or month,
// overall or by tool, model or project: tool calls and errors, turns, latency p50/p95/p99 (the
// buckets' latency sketches merged), acceptance, lines, active time, tokens and cost (cost from the
// usage rollup, as `agent report` has it), each with its change against the previous period, and
// a trend chart. Periods are UTC days, weeks (from Monday) and months, as the buckets are UTC days.
type MetricsCmd struct {
	readFilter
	Period string `default:"day" enum:"day,week,month" help:"Period: day, week or month."`
	By     string `enum:",tool,model,project" default:"" help:"A row per tool, model or project in each period."`
	JSON   bool   `name:"json" help:"Print JSON."`
}

// metricsRow is one period (and tool, model or project) of `agent metrics`.
type metricsRow struct {
	Period         string      `json:"period"`
	Value          string      `json:"value,omitempty"`
	Name           string      `json:"name,omitempty"`
	ToolCalls      int64       `json:"tool_calls"`
	ToolErrors     int64       `json:"tool_errors"`
	Turns          int64       `json:"turns"`
	TurnsWithError int64       `json:"turns_with_error"`
	EditsDecided   int64       `json:"edits_decided"`
	EditsAccepted  int64       `json:"edits_accepted"`
	LinesAdded     int64       `json:"lines_added"`
	LinesRemoved   int64       `json:"lines_removed"`
	ActiveMS       int64       `json:"active_ms"`
	DurationMS     int64       `json:"duration_ms"`
	Latency        latencyMS   `json:"latency_ms"`
	Tokens         tokens      `json:"tokens"`
	Cost           *float64    `json:"cost_usd,omitempty"`
	Change         *changeRate `json:"change,omitempty"`
	sketch         sketch
}

// latencyMS are the latency quantiles of a row, in milliseconds (nil when it has no tool call).
type latencyMS struct {
	P50 *float64 `json:"p50"`
	P95 *float64 `json:"p95"`
	P99 *float64 `json:"p99"`
}

// changeRate is a row's change against the same value's previous period, as fractions (0.25 is
// +25%); nil when the previous period had none.
type changeRate struct {
	ToolCalls *float64 `json:"tool_calls"`
	ErrorRate *float64 `json:"error_rate_points"`
	Cost      *float64 `json:"cost_usd"`
}

// metricsReport is `agent metrics --json`.
type metricsReport struct {
	Period string       `json:"period"`
	By     string       `json:"by,omitempty"`
	Rows   []metricsRow `json:"rows"`
}

// periodOf returns the period (day, week or month, UTC) t falls in.
func periodOf(t time.Time, period string) string { return daemon.UsagePeriod(t, period) }

// Run implements the command.
func (c *MetricsCmd) Run(g *Globals) error {
	sp, err := c.span("metrics")
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if c.Project != "" && c.By != "" && c.By != "project" {
		return &exitError{code: 2, err: fmt.Errorf("metrics: --project goes with --by project, or alone (the buckets count one dimension at a time)")}
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
		c.print(g.stdout, rep)
		return nil
	})
}

// dayFrom returns the UTC day a bucket key range starts at for t (zero: open).
func bucketKeyAt(t time.Time, floor bool) string {
	if t.IsZero() {
		return ""
	}
	if floor {
		t = t.UTC().Truncate(24 * time.Hour)
	}
	return fmt.Sprintf("%010d", t.Unix())
}

// load sums the buckets of the span by period and value, with the usage rollup's cost.
func (c *MetricsCmd) load(ctx context.Context, g *Globals, cl *daemon.Client, sp span, names projectNames) (metricsReport, error) {
	rep := metricsReport{Period: c.Period, By: c.By, Rows: []metricsRow{}}
	// The usage sums (for cost) and the buckets are two scans of the store: side by side, on two
	// cores. With --project, the sums are by project, the project picked once it is resolved.
	var sums []daemon.UsageSum
	var sumsErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if c.By == "tool" {
			return // by tool, no cost
		}
		q := daemon.UsageSumQuery{From: sp.from, To: sp.to, Period: c.Period}
		if c.By != "" {
			q.Group = []string{c.By}
		} else if c.Project != "" {
			q.Group = []string{"project"}
		}
		sums, sumsErr = cl.UsageSums(ctx, q)
	}()
	defer func() { <-done }()
	dim := cmp.Or(c.By, "all")
	if c.Project != "" {
		dim = "project"
	}
	type rowKey struct{ period, value string }
	rows := map[rowKey]*metricsRow{}
	var projects []string // with --project: the dim's values, in the order they come
	seen := map[string]bool{}
	behind, err := cl.EachView(ctx, daemon.ViewQuery{Kind: kindMetrics, From: bucketKeyAt(sp.from, true), To: bucketKeyAt(sp.to, false)}, func(ev *sdk.Event) error {
		if attrIdent(ev, "dim") != dim {
			return nil
		}
		value := attrIdent(ev, "value")
		if c.Project != "" && !seen[value] {
			seen[value] = true
			projects = append(projects, value)
		}
		if c.By == "" && c.Project == "" {
			value = ""
		}
		k := rowKey{periodOf(time.Unix(attrInt(ev, "bucket"), 0), c.Period), value}
		r := rows[k]
		if r == nil {
			r = &metricsRow{Period: k.period, Value: value, sketch: sketch{}}
			if c.By == "project" {
				r.Name = names.show(value)
			}
			rows[k] = r
		}
		r.add(ev)
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("metrics: %w", err)
	}
	warnBehind(g.stderr, behind)
	project := ""
	if c.Project != "" {
		if project, err = resolveProjectKey(projects, c.Project, names); err != nil {
			return rep, &exitError{code: 2, err: fmt.Errorf("metrics: %w", err)}
		}
		// Only the project's rows; without --by, they are the period's rows.
		kept := map[rowKey]*metricsRow{}
		for k, r := range rows {
			if k.value != project {
				continue
			}
			if c.By == "" {
				k.value, r.Value = "", ""
			}
			kept[k] = r
		}
		rows = kept
	}
	<-done
	if sumsErr != nil {
		return rep, fmt.Errorf("metrics: %w", sumsErr)
	}
	for i := range sums {
		u := &sums[i]
		if project != "" && u.Project != project {
			continue
		}
		value := ""
		switch c.By {
		case "model":
			value = u.Model
		case "project":
			value = u.Project
		}
		k := rowKey{u.Period, value}
		r := rows[k]
		if r == nil {
			r = &metricsRow{Period: k.period, Value: value, sketch: sketch{}}
			if c.By == "project" {
				r.Name = names.show(value)
			}
			rows[k] = r
		}
		cost := u.Cost
		if r.Cost != nil {
			cost += *r.Cost
		}
		r.Cost = &cost
	}
	periods := map[string]bool{}
	for k := range rows {
		periods[k.period] = true
	}
	order := slices.Sorted(maps.Keys(periods))
	for k, r := range rows {
		r.finish()
		if i := slices.Index(order, k.period); i > 0 {
			if prev := rows[rowKey{order[i-1], k.value}]; prev != nil {
				r.Change = change(prev, r)
			}
		}
	}
	for _, r := range rows {
		rep.Rows = append(rep.Rows, *r)
	}
	slices.SortFunc(rep.Rows, func(a, b metricsRow) int {
		return cmp.Or(cmp.Compare(a.Period, b.Period), cmp.Compare(b.ToolCalls, a.ToolCalls), cmp.Compare(a.Value, b.Value))
	})
	return rep, nil
}

// add sums a bucket record into r.
func (r *metricsRow) add(ev *sdk.Event) {
	r.ToolCalls += attrInt(ev, "tool_calls")
	r.ToolErrors += attrInt(ev, "tool_errors")
	r.Turns += attrInt(ev, "turns")
	r.TurnsWithError += attrInt(ev, "turns_with_error")
	r.EditsDecided += attrInt(ev, "edits_decided")
	r.EditsAccepted += attrInt(ev, "edits_accepted")
	r.LinesAdded += attrInt(ev, "lines_added")
	r.LinesRemoved += attrInt(ev, "lines_removed")
	r.ActiveMS += attrInt(ev, "active_ms")
	r.DurationMS += attrInt(ev, "duration_ms")
	r.Tokens.add(recordTokens(ev))
	r.sketch.merge(ev, "latency")
}

// finish sets the latency quantiles of the merged sketch.
func (r *metricsRow) finish() {
	for q, dst := range map[float64]**float64{0.50: &r.Latency.P50, 0.95: &r.Latency.P95, 0.99: &r.Latency.P99} {
		if d, ok := r.sketch.quantile(q); ok {
			ms := float64(d.Microseconds()) / 1000
			*dst = &ms
		}
	}
}

// errorRate returns r's tool error rate, and false with no tool call.
func (r *metricsRow) errorRate() (float64, bool) {
	if r.ToolCalls == 0 {
		return 0, false
	}
	return float64(r.ToolErrors) / float64(r.ToolCalls), true
}

// change returns r's change against prev.
func change(prev, r *metricsRow) *changeRate {
	var c changeRate
	if prev.ToolCalls > 0 {
		f := float64(r.ToolCalls-prev.ToolCalls) / float64(prev.ToolCalls)
		c.ToolCalls = &f
	}
	if a, ok := prev.errorRate(); ok {
		if b, ok := r.errorRate(); ok {
			f := (b - a) * 100
			c.ErrorRate = &f
		}
	}
	if prev.Cost != nil && *prev.Cost > 0 && r.Cost != nil {
		f := (*r.Cost - *prev.Cost) / *prev.Cost
		c.Cost = &f
	}
	return &c
}

// showChange formats a relative change, "" when there is none.
func showChange(f *float64) string {
	if f == nil {
		return ""
	}
	return fmt.Sprintf("%+.0f%%", *f*100)
}

// print prints the table and the trend chart.
func (c *MetricsCmd) print(w io.Writer, rep metricsReport) {
	if len(rep.Rows) == 0 {
		fmt.Fprintln(w, "No metrics found. They appear once the metrics plugin has read the events (`agent plugins list`).")
		return
	}
	header := table.Row{strings.ToUpper(c.Period[:1]) + c.Period[1:]}
	if c.By != "" {
		header = append(header, strings.ToUpper(c.By[:1])+c.By[1:])
	}
	// By tool, there is no active time, no tokens and no cost: turns and usage are not a tool's.
	byTool := c.By == "tool"
	header = append(header, "Tool calls", "Δ", "Errors", "Error rate", "p50", "p95", "p99", "Accepted", "Lines")
	if !byTool {
		header = append(header, "Active", "Tokens", "Cost (USD)", "Δ cost")
	}
	t := newTable(w, header, 2)
	if c.By != "" {
		t = newTable(w, header, 3)
	}
	for _, r := range rep.Rows {
		row := table.Row{r.Period}
		if c.By != "" {
			row = append(row, cmp.Or(r.Name, r.Value))
		}
		var dCalls, dCost string
		if r.Change != nil {
			dCalls, dCost = showChange(r.Change.ToolCalls), showChange(r.Change.Cost)
		}
		cost := "-"
		if r.Cost != nil {
			cost = showCost(*r.Cost)
		}
		row = append(row, humanize.Comma(r.ToolCalls), dCalls, humanize.Comma(r.ToolErrors), showRate(r.ToolErrors, r.ToolCalls),
			showQuantile(r.sketch, 0.50), showQuantile(r.sketch, 0.95), showQuantile(r.sketch, 0.99), showRate(r.EditsAccepted, r.EditsDecided),
			lines(r.LinesAdded, r.LinesRemoved))
		if !byTool {
			row = append(row, showDuration(time.Duration(r.ActiveMS)*time.Millisecond), humanize.Comma(r.Tokens.total()), cost, dCost)
		}
		t.AppendRow(row)
	}
	t.Render()
	c.printTrend(w, rep)
}

// printTrend draws the trend chart: a sparkline per series over the periods, oldest first; by
// tool, model or project, one of tool calls per value (the five with the most).
func (c *MetricsCmd) printTrend(w io.Writer, rep metricsReport) {
	var periods []string
	for _, r := range rep.Rows {
		if len(periods) == 0 || periods[len(periods)-1] != r.Period {
			periods = append(periods, r.Period)
		}
	}
	if len(periods) < 2 {
		return
	}
	series := func(value string, f func(r *metricsRow) float64) []float64 {
		out := make([]float64, len(periods))
		for i := range rep.Rows {
			if r := &rep.Rows[i]; r.Value == value {
				out[slices.Index(periods, r.Period)] = f(r)
			}
		}
		return out
	}
	fmt.Fprintf(w, "\nTrend, %s to %s (%d %ss)\n", periods[0], periods[len(periods)-1], len(periods), c.Period)
	if c.By == "" {
		for _, s := range []struct {
			name string
			f    func(r *metricsRow) float64
		}{
			{"Tool calls", func(r *metricsRow) float64 { return float64(r.ToolCalls) }},
			{"Error rate", func(r *metricsRow) float64 { e, _ := r.errorRate(); return e }},
			{"p95", func(r *metricsRow) float64 { d, _ := r.sketch.quantile(0.95); return float64(d) }},
			{"Cost", func(r *metricsRow) float64 {
				if r.Cost == nil {
					return 0
				}
				return *r.Cost
			}},
		} {
			fmt.Fprintf(w, "  %-12s %s\n", s.name, sparkline(series("", s.f)))
		}
		return
	}
	totals := map[string]int64{}
	label := map[string]string{}
	for _, r := range rep.Rows {
		totals[r.Value] += r.ToolCalls
		label[r.Value] = cmp.Or(r.Name, r.Value)
	}
	values := slices.SortedFunc(maps.Keys(totals), func(a, b string) int { return cmp.Or(cmp.Compare(totals[b], totals[a]), cmp.Compare(a, b)) })
	fmt.Fprintln(w, "  tool calls:")
	for _, v := range values[:min(5, len(values))] {
		fmt.Fprintf(w, "  %-20s %s\n", label[v], sparkline(series(v, func(r *metricsRow) float64 { return float64(r.ToolCalls) })))
	}
}
