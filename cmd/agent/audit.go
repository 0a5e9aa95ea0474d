package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
	"github.com/jedib0t/go-pretty/v6/table"
)

// AuditCmd prints the plugin audit log.
type AuditCmd struct {
	JSON   bool   `name:"json" help:"Print JSON: {entries, summary}."`
	Plugin string `help:"Only this plugin's entries." placeholder:"NAME"`
	Limit  int    `default:"50" help:"Show at most this many of the latest entries (0: all); the summary counts them all."`
}

// auditJSON is what `agent audit --json` prints.
type auditJSON struct {
	Entries []host.AuditEntry   `json:"entries"`
	Summary []host.AuditSummary `json:"summary"`
	// Skipped counts lines that did not decode (a write torn by a crash).
	Skipped int `json:"skipped,omitempty"`
}

// Run implements the command. A running daemon is asked first to write its plugins' latest
// content reads to the log (it does so every minute anyway), so that the log agrees with `agent
// status`.
func (c *AuditCmd) Run(g *Globals) error {
	if c.Limit < 0 {
		return fmt.Errorf("limit %d is negative", c.Limit)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := daemon.NewClient(g.DataDir).FlushAudit(ctx)
	cancel()
	if err != nil && !errors.Is(err, daemon.ErrNoDaemon) {
		fmt.Fprintf(g.stderr, "agent: the running daemon did not write its plugins' latest content reads to the audit log (%v): they may lag `agent status` by up to a minute\n", err)
	}
	var entries []host.AuditEntry
	skipped, err := host.ReadAuditLog(filepath.Join(g.DataDir, host.AuditName), func(e host.AuditEntry) error {
		if c.Plugin == "" || e.Plugin == c.Plugin {
			entries = append(entries, e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := auditJSON{Entries: entries, Summary: host.SummarizeAudit(entries), Skipped: skipped}
	if c.Limit > 0 && len(out.Entries) > c.Limit {
		out.Entries = out.Entries[len(out.Entries)-c.Limit:]
	}
	if out.Entries == nil {
		out.Entries = []host.AuditEntry{}
	}
	if c.JSON {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	w := g.stdout
	if len(entries) == 0 {
		fmt.Fprintln(w, "The audit log is empty.")
		return nil
	}
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetStyle(table.StyleLight)
	t.SetTitle("Per plugin")
	t.AppendHeader(table.Row{"Plugin", "Content read (records)", "Refused emissions", "Denied host calls", "Quarantines", "Changes", "Last"})
	for _, s := range out.Summary {
		var reads []string
		for _, field := range slices.Sorted(maps.Keys(s.ContentAccesses)) {
			reads = append(reads, fmt.Sprintf("%s: %s", field, humanize.Comma(s.ContentAccesses[field])))
		}
		if len(reads) == 0 {
			reads = []string{"none"}
		}
		var changes int64
		for _, a := range []string{host.AuditInstall, host.AuditUpgrade, host.AuditRemove, host.AuditEnable, host.AuditDisable, host.AuditGrant, host.AuditRevoke} {
			changes += s.Actions[a]
		}
		t.AppendRow(table.Row{s.Plugin, strings.Join(reads, "\n"), s.Actions[host.AuditRefusedEmission], s.Actions[host.AuditDeniedHostCall],
			s.Actions[host.AuditQuarantine], changes, s.Last.Local().Format(time.DateTime)})
	}
	t.Render()
	fmt.Fprintln(w)
	t = table.NewWriter()
	t.SetOutputMirror(w)
	t.SetStyle(table.StyleLight)
	title := "Latest entries"
	if len(out.Entries) < len(entries) {
		title = fmt.Sprintf("Latest %d of %d entries (--limit 0 for all)", len(out.Entries), len(entries))
	}
	t.SetTitle(title)
	t.AppendHeader(table.Row{"Time", "Plugin", "Action", "Detail"})
	for _, e := range out.Entries {
		detail := clip(e.Detail, 70)
		if e.Count > 1 {
			detail = fmt.Sprintf("%s (%s records)", detail, humanize.Comma(e.Count))
		}
		t.AppendRow(table.Row{e.Time.Local().Format(time.DateTime), e.Plugin, e.Action, detail})
	}
	t.Render()
	if skipped > 0 {
		fmt.Fprintf(w, "%d torn line(s) skipped.\n", skipped)
	}
	return nil
}
