package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/jedib0t/go-pretty/v6/table"
)

// StatusCmd shows whether the daemon runs and what it has stored.
type StatusCmd struct {
	JSON bool `name:"json" help:"Print JSON (events_stored, by_kind, queue_depth, captures, ...)."`
}

// Run implements the command.
func (s *StatusCmd) Run(g *Globals) error {
	return g.withClient(func(ctx context.Context, c *daemon.Client) error {
		st, err := c.Status(ctx)
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		if s.JSON {
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}
		printStatus(g, st)
		return nil
	})
}

func printStatus(g *Globals, st daemon.Status) {
	w := g.stdout
	if st.Running {
		fmt.Fprintf(w, "Daemon:      running (pid %d), up %s\n", st.PID, (time.Duration(st.UptimeSeconds) * time.Second).String())
	} else {
		fmt.Fprintf(w, "Daemon:      not running (read the store directly)\n")
	}
	fmt.Fprintf(w, "Data dir:    %s\n", st.DataDir)
	fmt.Fprintf(w, "Events:      %s stored\n", humanize.Comma(st.EventsStored))
	fmt.Fprintf(w, "Queue:       %d waiting\n", st.QueueDepth)
	fmt.Fprintf(w, "Dead letters: %d", st.DLQSize)
	if st.DLQSize > 0 {
		fmt.Fprintf(w, " (see `agent dlq list`)")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Store:       %s on disk\n", humanize.IBytes(st.StoreBytes))
	if st.Running { // without a daemon, no agent process has memory to show
		fmt.Fprintf(w, "Memory:      %s resident\n", humanize.IBytes(st.ResidentBytes))
	}
	if st.SpoolPending {
		fmt.Fprintf(w, "Spool:       payloads waiting for the daemon\n")
	}
	if st.SpoolParked {
		fmt.Fprintf(w, "Parked:      records waiting, sealed, for a capture plugin to serve their platform (agent plugins enable)\n")
	}
	for name, cs := range st.Consumers {
		fmt.Fprintf(w, "Consumer:    %s, %d behind\n", name, cs.Lag)
	}
	if st.Prices.ID != "" {
		from := "embedded"
		if st.Prices.Path != "" {
			from = st.Prices.Path
		}
		fmt.Fprintf(w, "Prices:      %s models (%s)\n", humanize.Comma(int64(st.Prices.Models)), from)
	}
	if len(st.UnpricedModels) > 0 {
		fmt.Fprintf(w, "No price:    %s: usage counts 0 USD %s\n", strings.Join(st.UnpricedModels, ", "), noPriceHint)
	}
	for _, platform := range slices.Sorted(maps.Keys(st.Captures)) {
		by := st.Captures[platform]
		if by == "none" {
			by = "nothing: no enabled capture plugin serves it (see `agent plugins list`)"
		}
		fmt.Fprintf(w, "Capture:     %s captured by %s\n", platform, by)
	}
	if len(st.ByKind) > 0 {
		t := table.NewWriter()
		t.SetOutputMirror(w)
		t.SetStyle(table.StyleLight)
		t.AppendHeader(table.Row{"Platform", "Kind", "Events"})
		for _, k := range st.ByKind {
			t.AppendRow(table.Row{k.Platform, k.Kind, humanize.Comma(k.Count)})
		}
		t.Render()
	}
	printPluginStatus(w, st.Plugins)
}

// printPluginStatus shows the plugins that run, ran or are quarantined, with their resource use;
// disabled ones are in `agent plugins list`.
func printPluginStatus(w io.Writer, plugins []daemon.PluginStatus) {
	var shown []daemon.PluginStatus
	for _, p := range plugins {
		if p.Enabled || p.Running || p.Quarantined || p.Calls > 0 {
			shown = append(shown, p)
		}
	}
	if len(shown) == 0 {
		fmt.Fprintf(w, "Plugins:     none enabled (see `agent plugins list`)\n")
		return
	}
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetStyle(table.StyleLight)
	t.AppendHeader(table.Row{"Plugin", "Kind", "State", "Calls", "Records", "Failures", "Refused", "Guest ms", "Memory / limit", "Content reads", "Cold start ms"})
	for _, p := range shown {
		state := "enabled, not loaded"
		switch {
		case p.Quarantined:
			state = "QUARANTINED"
		case p.Running && !p.Resident && p.Releases > 0:
			state = "idle, released" // its next call loads it again from the compilation cache
		case p.Running:
			state = "running"
		case !p.Enabled:
			state = "disabled"
		}
		var reads int64
		for _, n := range p.ContentReads {
			reads += n
		}
		t.AppendRow(table.Row{p.Name + "@" + p.Version, p.Kind, state, humanize.Comma(p.Calls), humanize.Comma(p.Records), humanize.Comma(p.Failures),
			humanize.Comma(p.RefusedEmissions), fmt.Sprintf("%.1f", p.GuestMS),
			humanize.IBytes(uint64(p.InstanceMemoryBytes)) + " / " + humanize.IBytes(uint64(p.MemoryLimitBytes)),
			humanize.Comma(reads), fmt.Sprintf("%.1f", p.ColdStartMS)})
	}
	t.Render()
	for _, p := range shown {
		if p.Quarantined {
			fmt.Fprintf(w, "Quarantined: %s: %s (`agent plugins enable %s` lifts it)\n", p.Name, p.QuarantineReason, p.Name)
		}
	}
}
