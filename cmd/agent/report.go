package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
)

// ReportCmd prints token usage and cost reports, from the usage rollups the daemon keeps as
// events arrive. Its --json output has ccusage's shape.
type ReportCmd struct {
	Kind        string `arg:"" enum:"daily,weekly,monthly,session,blocks" help:"Report: daily, weekly, monthly, session or blocks (5-hour billing windows)."`
	Since       string `help:"First day to include (YYYY-MM-DD or YYYYMMDD), in the report's time zone."`
	Until       string `help:"Last day to include (YYYY-MM-DD or YYYYMMDD), in the report's time zone."`
	Timezone    string `short:"z" help:"Time zone of dates, such as UTC or Europe/Paris (default: local)."`
	Project     string `help:"Only this project (as the session report names it)."`
	Breakdown   bool   `help:"Show a row per model under each period."`
	JSON        bool   `name:"json" help:"Print JSON in ccusage's shape."`
	Mode        string `default:"auto" enum:"auto,calculate,display" help:"Cost: auto (recorded costUSD, else priced), calculate (always priced) or display (recorded only)."`
	Order       string `default:"asc" enum:"asc,desc" help:"Order of periods: asc or desc."`
	StartOfWeek string `name:"start-of-week" default:"sunday" help:"First day of a week, for the weekly report."`
	Active      bool   `help:"Blocks: only the active block."`
	Recent      bool   `help:"Blocks: blocks of the last 3 days, and the active one."`
	TokenLimit  string `name:"token-limit" help:"Blocks: a token limit to judge the active block by (a number, or max)."`
}

// Run implements the command.
func (c *ReportCmd) Run(g *Globals) error {
	opts, err := c.options()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	names, err := loadProjectNames(g.DataDir)
	if err != nil {
		return err
	}
	opts.ProjectName = names.show
	return g.withUsageReader(func(ctx context.Context, cl *daemon.Client) error {
		var buckets []usage.Bucket
		if buckets, err = cl.UsageBuckets(ctx, time.Time{}, time.Time{}); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if opts.Project != "" {
			if opts.Project, err = resolveProject(buckets, opts.Project, names); err != nil {
				return &exitError{code: 2, err: err}
			}
		}
		if err := c.print(g.stdout, slices.Values(buckets), opts); err != nil {
			return err
		}
		warnUnpriced(ctx, g.stderr, cl)
		return nil
	})
}

// warnUnpriced writes one line on w naming the models whose usage counts 0 USD for want of a
// price. It is quiet when it cannot tell (a daemon older than GET /v1/usage/unpriced).
func warnUnpriced(ctx context.Context, w io.Writer, cl *daemon.Client) {
	models, err := cl.UnpricedModels(ctx)
	switch {
	case err != nil, len(models) == 0:
	case len(models) == 1:
		fmt.Fprintf(w, "warning: no price for model %s; its usage counts 0 USD %s\n", models[0], noPriceHint)
	default:
		fmt.Fprintf(w, "warning: no price for models %s; their usage counts 0 USD %s\n", strings.Join(models, ", "), noPriceHint)
	}
}

// options turns the flags into report options.
func (c *ReportCmd) options() (usage.Options, error) {
	opts := usage.Options{Location: time.Local, Project: c.Project, Breakdown: c.Breakdown, Active: c.Active, Recent: c.Recent, TokenLimit: c.TokenLimit, ProjectName: projectName}
	var err error
	if c.Timezone != "" {
		if opts.Location, err = time.LoadLocation(c.Timezone); err != nil {
			return opts, fmt.Errorf("report: time zone %q: %w", c.Timezone, err)
		}
	}
	for _, d := range []struct {
		flag, v string
		dst     *usage.Date
	}{{"since", c.Since, &opts.Since}, {"until", c.Until, &opts.Until}} {
		if d.v == "" {
			continue
		}
		if *d.dst, err = usage.ParseDate(strings.ReplaceAll(d.v, "-", "")); err != nil {
			if *d.dst, err = usage.ParseDate(d.v); err != nil {
				return opts, fmt.Errorf("report: --%s %q: want YYYY-MM-DD or YYYYMMDD", d.flag, d.v)
			}
		}
	}
	if opts.Mode, err = usage.ParseCostMode(c.Mode); err != nil {
		return opts, fmt.Errorf("report: %w", err)
	}
	if opts.Order, err = usage.ParseOrder(c.Order); err != nil {
		return opts, fmt.Errorf("report: %w", err)
	}
	day := -1
	for d := time.Sunday; d <= time.Saturday; d++ {
		if strings.EqualFold(d.String(), c.StartOfWeek) {
			day = int(d)
		}
	}
	if day < 0 {
		return opts, fmt.Errorf("report: --start-of-week %q: want a day name such as monday", c.StartOfWeek)
	}
	opts.StartOfWeek = time.Weekday(day)
	return opts, opts.Validate()
}

// projectName is how reports show a project without a display name (projectNames.show): the
// start of its salted hash. Hangar never keeps the folder.
func projectName(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}

// resolveProject finds the project key that a --project value names: the key, the start of it
// that reports show, or its display name.
func resolveProject(buckets []usage.Bucket, name string, names projectNames) (string, error) {
	for _, b := range buckets {
		if b.Key.Project == name || projectName(b.Key.Project) == name || names[b.Key.Project] == name {
			return b.Key.Project, nil
		}
	}
	return "", fmt.Errorf("report: no usage for project %q (see `agent report session` for project names)", name)
}

// print writes the report, as JSON or a table.
func (c *ReportCmd) print(w io.Writer, buckets func(func(usage.Bucket) bool), opts usage.Options) error {
	type jsonReport interface{ WriteJSON(io.Writer) error }
	var rep jsonReport
	var rows []reportRow
	var err error
	switch c.Kind {
	case "daily":
		var r usage.DailyReport
		r, err = usage.Daily(buckets, opts)
		rep = &r
		for _, d := range r.Daily {
			rows = append(rows, reportRow{d.Date, d.Usage})
		}
	case "weekly":
		var r usage.WeeklyReport
		r, err = usage.Weekly(buckets, opts)
		rep = &r
		for _, d := range r.Weekly {
			rows = append(rows, reportRow{d.Week, d.Usage})
		}
	case "monthly":
		var r usage.MonthlyReport
		r, err = usage.Monthly(buckets, opts)
		rep = &r
		for _, d := range r.Monthly {
			rows = append(rows, reportRow{d.Month, d.Usage})
		}
	case "session":
		var r usage.SessionReport
		r, err = usage.Session(buckets, opts)
		rep = &r
		for _, s := range r.Sessions {
			rows = append(rows, reportRow{s.SessionID + " (" + s.ProjectPath + ")", s.Usage})
		}
	case "blocks":
		var r usage.BlocksReport
		if r, err = usage.Blocks(buckets, opts); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if c.JSON {
			return r.WriteJSON(w)
		}
		return printBlocks(w, &r)
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if c.JSON {
		return rep.WriteJSON(w)
	}
	return c.printTable(w, rows)
}

// reportRow is one period of a daily, weekly, monthly or session report, for the table.
type reportRow struct {
	label string
	u     usage.Usage
}

func (c *ReportCmd) printTable(w io.Writer, rows []reportRow) error {
	if len(rows) == 0 {
		fmt.Fprintln(w, "No usage found. Import transcripts with `agent import`, or let the daemon watch them.")
		return nil
	}
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetStyle(table.StyleLight)
	heading := map[string]string{"daily": "Date", "weekly": "Week", "monthly": "Month", "session": "Session (project)"}[c.Kind]
	t.AppendHeader(table.Row{heading, "Models", "Input", "Output", "Cache create", "Cache read", "Total tokens", "Cost (USD)"})
	var total usage.Usage
	for _, r := range rows {
		t.AppendRow(table.Row{r.label, strings.Join(r.u.ModelsUsed, ", "), humanize.Comma(r.u.InputTokens), humanize.Comma(r.u.OutputTokens),
			humanize.Comma(r.u.CacheCreationTokens), humanize.Comma(r.u.CacheReadTokens), humanize.Comma(r.u.TotalTokens), fmt.Sprintf("$%.2f", r.u.TotalCost)})
		if c.Breakdown {
			for _, m := range r.u.ModelBreakdowns {
				t.AppendRow(table.Row{"  └ " + m.ModelName, "", humanize.Comma(m.InputTokens), humanize.Comma(m.OutputTokens),
					humanize.Comma(m.CacheCreationTokens), humanize.Comma(m.CacheReadTokens), humanize.Comma(m.InputTokens + m.OutputTokens + m.CacheCreationTokens + m.CacheReadTokens), fmt.Sprintf("$%.2f", m.Cost)})
			}
		}
		total.InputTokens += r.u.InputTokens
		total.OutputTokens += r.u.OutputTokens
		total.CacheCreationTokens += r.u.CacheCreationTokens
		total.CacheReadTokens += r.u.CacheReadTokens
		total.TotalTokens += r.u.TotalTokens
		total.TotalCost += r.u.TotalCost
	}
	t.AppendFooter(table.Row{"Total", "", humanize.Comma(total.InputTokens), humanize.Comma(total.OutputTokens), humanize.Comma(total.CacheCreationTokens),
		humanize.Comma(total.CacheReadTokens), humanize.Comma(total.TotalTokens), fmt.Sprintf("$%.2f", total.TotalCost)})
	right := []table.ColumnConfig{}
	for i := 3; i <= 8; i++ {
		right = append(right, table.ColumnConfig{Number: i, Align: text.AlignRight, AlignFooter: text.AlignRight})
	}
	t.SetColumnConfigs(right)
	t.Render()
	return nil
}

// printBlocks prints the 5-hour billing blocks as a table, with the active block's burn rate and
// projection.
func printBlocks(w io.Writer, r *usage.BlocksReport) error {
	if len(r.Blocks) == 0 {
		fmt.Fprintln(w, "No usage found.")
		return nil
	}
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetStyle(table.StyleLight)
	t.AppendHeader(table.Row{"Block start", "State", "Models", "Tokens", "Cost (USD)", "Burn rate", "Projected"})
	for _, b := range r.Blocks {
		state := "done"
		switch {
		case b.IsGap:
			state = "gap"
		case b.IsActive:
			state = "ACTIVE"
		}
		burn, proj := "", ""
		if b.BurnRate != nil {
			burn = fmt.Sprintf("%s tok/min, $%.2f/h", humanize.Comma(int64(b.BurnRate.TokensPerMinute)), b.BurnRate.CostPerHour)
		}
		if b.Projection != nil {
			proj = fmt.Sprintf("%s tok, $%.2f (%d min left)", humanize.Comma(b.Projection.TotalTokens), b.Projection.TotalCost, b.Projection.RemainingMinutes)
		}
		t.AppendRow(table.Row{b.StartTime.Local().Format("2006-01-02 15:04"), state, strings.Join(b.Models, ", "), humanize.Comma(b.TotalTokens), fmt.Sprintf("$%.2f", b.CostUSD), burn, proj})
	}
	t.Render()
	return nil
}
