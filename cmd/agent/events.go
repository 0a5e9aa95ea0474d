package main

import (
	"context"
	"fmt"
	"io"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/jedib0t/go-pretty/v6/table"
)

// EventsCmd shows stored events, as plugins see them. It is the one read command that reads the
// raw event log (TestLayering keeps the others from it): events are metadata only, as the capture
// plugins made them.
type EventsCmd struct {
	Tail EventsTailCmd `cmd:"" help:"Show the latest stored events, as an enrich plugin with read:events is handed them."`
}

// EventsTailCmd prints the last stored events, oldest first.
type EventsTailCmd struct {
	Kind string `help:"Only events of this kind (such as hook.PostToolUse or transcript.usage)."`
	Last int    `short:"n" default:"20" help:"How many events."`
	JSON bool   `name:"json" help:"Print JSON lines, each event as a plugin reads it (sdk.Event's JSON)."`
}

// Run implements the command.
func (c *EventsTailCmd) Run(g *Globals) error {
	if c.Last <= 0 {
		return &exitError{code: 2, err: fmt.Errorf("events tail: -n must be positive")}
	}
	// The events are what they are: no plugin need catch up first.
	return g.withUsageReader(func(ctx context.Context, cl *daemon.Client) error {
		evs, err := cl.EventsTail(ctx, c.Kind, c.Last)
		if err != nil {
			return err
		}
		if c.JSON {
			return writeEventLines(g.stdout, evs)
		}
		printEvents(g.stdout, evs)
		return nil
	})
}

// printEvents prints events as a table.
func printEvents(w io.Writer, evs []sdk.Event) {
	if len(evs) == 0 {
		fmt.Fprintln(w, "No events stored.")
		return
	}
	t := newTable(w, table.Row{"Time", "Platform", "Kind", "Session", "Attributes"}, 99)
	for i := range evs {
		ev := &evs[i]
		t.AppendRow(table.Row{ev.Time.UTC().Format("2006-01-02 15:04:05.000"), ev.Platform, ev.Kind, ev.SessionID, attrsText(ev)})
	}
	t.Render()
}
