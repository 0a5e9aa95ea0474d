package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/jedib0t/go-pretty/v6/table"
)

// DerivedCmd shows what enrich and insight plugins made: their derived records.
type DerivedCmd struct {
	List DerivedListCmd `cmd:"" help:"List the latest derived records of each kind, as plugins emitted them."`
}

// DerivedListCmd lists the last records of the derived log (store keyspace r), by kind: what
// plugins emitted, keyed or not, in the order they were stored.
type DerivedListCmd struct {
	Kind   string `help:"Only this derived kind (such as conversation.session)."`
	Plugin string `help:"Only the kinds this plugin may emit (its emit:derived grants; insight.<plugin> for an insight plugin)."`
	Last   int    `short:"n" default:"20" help:"How many of the latest records of each kind (0: all)."`
	JSON   bool   `name:"json" help:"Print JSON: the records, as plugins see them (a kind field names where each is stored)."`
}

// derivedJSON is a derived record in the --json output.
type derivedJSON struct {
	Kind   string    `json:"stored_kind"`
	Record sdk.Event `json:"record"`
}

// Run implements the command.
func (c *DerivedListCmd) Run(g *Globals) error {
	var kinds []string
	if c.Plugin != "" {
		var err error
		if kinds, err = pluginKinds(g.DataDir, c.Plugin); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("derived list: %w", err)}
		}
	}
	return g.withDerivedReader(func(ctx context.Context, cl *daemon.Client) error {
		all, err := cl.DerivedKinds(ctx)
		if err != nil {
			return fmt.Errorf("derived list: %w", err)
		}
		want := all
		if c.Plugin != "" {
			want = slices.DeleteFunc(all, func(k string) bool { return !slices.Contains(kinds, k) })
		}
		if c.Kind != "" {
			want = slices.DeleteFunc(want, func(k string) bool { return k != c.Kind })
		}
		var out []derivedJSON
		var behind uint64
		for _, k := range want {
			res, err := cl.DerivedLog(ctx, k, c.Last)
			if err != nil {
				return fmt.Errorf("derived list: %w", err)
			}
			behind = max(behind, res.Behind)
			for _, ev := range res.Records {
				out = append(out, derivedJSON{Kind: k, Record: ev})
			}
		}
		warnBehind(g.stderr, behind)
		if c.JSON {
			if out == nil {
				out = []derivedJSON{}
			}
			return writeJSONOut(g.stdout, out)
		}
		printDerived(g.stdout, out)
		return nil
	})
}

// pluginKinds returns the derived kinds a plugin may emit: its emit:derived grants, and
// insight.<name> for an insight plugin.
func pluginKinds(dataDir, name string) ([]string, error) {
	reg, err := openRegistry(dataDir, nil)
	if err != nil {
		return nil, err
	}
	p, err := reg.Get(name)
	if err != nil {
		return nil, err
	}
	var kinds []string
	for _, gr := range p.Granted {
		if k, ok := strings.CutPrefix(gr, "emit:derived:"); ok {
			kinds = append(kinds, k)
		}
	}
	if p.Manifest.Kind == host.KindInsight {
		kinds = append(kinds, "insight."+name)
	}
	return kinds, nil
}

// printDerived prints the records as a table.
func printDerived(w io.Writer, recs []derivedJSON) {
	if len(recs) == 0 {
		fmt.Fprintln(w, "No derived records. Enrich and insight plugins make them (`agent plugins list`).")
		return
	}
	t := newTable(w, table.Row{"Kind", "Key", "Session", "Time", "Attributes"}, 99)
	for _, r := range recs {
		ev := &r.Record
		t.AppendRow(table.Row{r.Kind, attrIdent(ev, "key"), ev.SessionID, ev.Time.UTC().Format("2006-01-02 15:04:05"), attrsText(ev, "key")})
	}
	t.Render()
}

// writeEventLines writes events as JSON lines, as sdk.Event.MarshalJSON has them.
func writeEventLines(w io.Writer, evs []sdk.Event) error {
	enc := json.NewEncoder(w)
	for i := range evs {
		if err := enc.Encode(evs[i]); err != nil {
			return err
		}
	}
	return nil
}
