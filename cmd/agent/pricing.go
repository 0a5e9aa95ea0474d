package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline/pricing"
)

// PricingCmd manages the price table usage is priced with: the embedded snapshot, until `agent
// pricing update` saves a newer one in the data directory.
type PricingCmd struct {
	Update PricingUpdateCmd `cmd:"" help:"Price usage with a LiteLLM price table (model_prices_and_context_window.json) from now on, and reprice the stored usage with it."`
	Show   PricingShowCmd   `cmd:"" help:"Show the price of a model, as the table in use matches its name."`
}

// PricingUpdateCmd saves a price table in the data directory and reprices the stored usage with
// it, through the daemon when one runs.
type PricingUpdateCmd struct {
	File string `required:"" type:"path" placeholder:"FILE" help:"LiteLLM's model_prices_and_context_window.json (or a file of the same format)."`
	JSON bool   `name:"json" help:"Print the summary as JSON."`
}

// noPriceHint ends every message about a model without a price.
const noPriceHint = "(update prices with `agent pricing update --file`)"

// Run implements the command.
func (c *PricingUpdateCmd) Run(g *Globals) error {
	data, err := os.ReadFile(c.File)
	if err != nil {
		return fmt.Errorf("pricing update: %w", err)
	}
	// Refuse a bad file before anything changes; the daemon checks it again.
	if _, err := pricing.Parse(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("pricing update: %s is not a price table in LiteLLM's format: %w (nothing changed)", c.File, err)
	}
	return g.withClient(func(ctx context.Context, cl *daemon.Client) error {
		res, err := cl.UpdatePrices(ctx, data)
		if err != nil {
			return fmt.Errorf("pricing update: %w", err)
		}
		if c.JSON {
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		}
		printPricingUpdate(g.stdout, c.File, res)
		return nil
	})
}

func printPricingUpdate(w io.Writer, file string, res daemon.PricingUpdate) {
	fmt.Fprintf(w, "Prices:    %s models, from %s (saved as %s)\n", humanize.Comma(int64(res.Table.Models)), file, res.Table.Path)
	fmt.Fprintf(w, "Repriced:  %s usage entries, %s of them changed cost\n", humanize.Comma(int64(res.Repriced)), humanize.Comma(int64(res.Changed)))
	if res.Kept > 0 {
		fmt.Fprintf(w, "Kept:      %s entries stored by an older agent keep their costs (it did not keep what repricing needs)\n", humanize.Comma(int64(res.Kept)))
	}
	if len(res.Unpriced) == 0 {
		fmt.Fprintf(w, "No price:  none; every model with usage has a price\n")
		return
	}
	fmt.Fprintf(w, "No price:  %s (usage counts 0 USD)\n", strings.Join(res.Unpriced, ", "))
}

// PricingShowCmd shows a model's price in the table in use.
type PricingShowCmd struct {
	Model string `arg:"" help:"Model name, as transcripts write it (claude-sonnet-4-20250514)."`
}

// Run implements the command. It reads the saved table itself: it needs neither the store nor the
// daemon.
func (c *PricingShowCmd) Run(g *Globals) error {
	t, table, err := daemon.LoadPrices(g.DataDir)
	if err != nil {
		return fmt.Errorf("pricing show: %w", err)
	}
	name := "the embedded table"
	if table.Path != "" {
		name = table.Path
	}
	p, ok := t.Lookup(c.Model)
	if !ok {
		fmt.Fprintf(g.stdout, "%s: no price in %s; its usage counts 0 USD %s\n", c.Model, name, noPriceHint)
		return nil
	}
	printPrice(g.stdout, c.Model, name, p)
	return nil
}

// printPrice prints a price in USD per million tokens.
func printPrice(w io.Writer, model, table string, p pricing.Price) {
	fmt.Fprintf(w, "%s: priced as %s (%s, in %s)\n", model, p.Key, p.Source, table)
	perM := func(usd float64) string {
		return "$" + strconv.FormatFloat(math.Round(usd*1e12)/1e6, 'f', -1, 64)
	}
	rows := func(r pricing.Rates) [][2]string {
		return [][2]string{{"input", perM(r.Input)}, {"output", perM(r.Output)}, {"cache write 5m", perM(r.CacheWrite5m)},
			{"cache write 1h", perM(r.CacheWrite1h)}, {"cache read", perM(r.CacheRead)}}
	}
	fmt.Fprintf(w, "  USD per million tokens:\n")
	for _, r := range rows(p.Base) {
		fmt.Fprintf(w, "    %-16s%s\n", r[0], r[1])
	}
	if p.Threshold > 0 && p.Long != p.Base {
		how := "tokens of a class beyond"
		if p.WholeRequest {
			how = "a whole request whose input and cache tokens exceed"
		}
		fmt.Fprintf(w, "  USD per million tokens, for %s %s:\n", how, humanize.Comma(p.Threshold))
		for _, r := range rows(p.Long) {
			fmt.Fprintf(w, "    %-16s%s\n", r[0], r[1])
		}
	}
	if p.FastMultiplier != 1 {
		fmt.Fprintf(w, "  fast mode:        x%g\n", p.FastMultiplier)
	}
}
