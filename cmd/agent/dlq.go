package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/jedib0t/go-pretty/v6/table"
)

// DLQCmd manages the dead-letter queue.
type DLQCmd struct {
	List   DLQListCmd   `cmd:"" help:"List dead letters."`
	Show   DLQShowCmd   `cmd:"" help:"Show one dead letter, with its payload."`
	Replay DLQReplayCmd `cmd:"" help:"Run dead letters through their stage again; those that succeed leave the queue."`
	Drop   DLQDropCmd   `cmd:"" help:"Delete dead letters."`
}

// DLQListCmd lists dead letters.
type DLQListCmd struct {
	Limit int  `default:"100" help:"Show at most this many (0: all)."`
	JSON  bool `name:"json" help:"Print JSON."`
}

// Run implements the command.
func (l *DLQListCmd) Run(g *Globals) error {
	return g.withClient(func(ctx context.Context, c *daemon.Client) error {
		recs, err := c.ListDLQ(ctx, l.Limit)
		if err != nil {
			return fmt.Errorf("list dead letters: %w", err)
		}
		if l.JSON {
			return json.NewEncoder(g.stdout).Encode(recs)
		}
		if len(recs) == 0 {
			fmt.Fprintln(g.stdout, "The dead-letter queue is empty.")
			return nil
		}
		t := table.NewWriter()
		t.SetOutputMirror(g.stdout)
		t.SetStyle(table.StyleLight)
		t.AppendHeader(table.Row{"#", "Time", "Stage", "Source", "Platform", "Bytes", "Tries", "Reason"})
		for _, r := range recs {
			t.AppendRow(table.Row{r.Seq, r.Time.Local().Format(time.DateTime), r.Stage, r.Source, r.Platform, r.PayloadBytes, r.Attempts, clip(r.Reason, 60)})
		}
		t.Render()
		return nil
	})
}

// DLQShowCmd shows one dead letter.
type DLQShowCmd struct {
	Seq  uint64 `arg:"" help:"The dead letter's number, from dlq list."`
	JSON bool   `name:"json" help:"Print JSON, the payload base64-encoded."`
}

// Run implements the command.
func (s *DLQShowCmd) Run(g *Globals) error {
	return g.withClient(func(ctx context.Context, c *daemon.Client) error {
		r, err := c.GetDLQ(ctx, s.Seq)
		if err != nil {
			return fmt.Errorf("show dead letter: %w", err)
		}
		if s.JSON {
			return json.NewEncoder(g.stdout).Encode(r)
		}
		w := g.stdout
		fmt.Fprintf(w, "Number:    %d\nTime:      %s\nStage:     %s\nSource:    %s\nPlatform:  %s\nRecord id: %s\nReceived:  %s\nTries:     %d\nReason:    %s\n",
			r.Seq, r.Time.Local().Format(time.RFC3339), r.Stage, r.Source, r.Platform, r.RecordID, r.ReceivedAt.Local().Format(time.RFC3339), r.Attempts, r.Reason)
		fmt.Fprintf(w, "Payload:   %d bytes\n", r.PayloadBytes)
		if r.PayloadError != "" {
			fmt.Fprintf(w, "It is sealed and cannot be opened: %s\n", r.PayloadError)
		}
		if len(r.Payload) > 0 {
			fmt.Fprintln(w, clip(printable(r.Payload), 4096))
		}
		return nil
	})
}

// DLQReplayCmd replays dead letters.
type DLQReplayCmd struct {
	Seqs []uint64 `arg:"" optional:"" help:"Dead letter numbers."`
	All  bool     `help:"Replay every dead letter."`
}

// Run implements the command.
func (r *DLQReplayCmd) Run(g *Globals) error {
	req, err := dlqSelection(r.Seqs, r.All)
	if err != nil {
		return err
	}
	return g.withClient(func(ctx context.Context, c *daemon.Client) error {
		res, err := c.ReplayDLQ(ctx, req)
		if err != nil {
			return fmt.Errorf("replay dead letters: %w", err)
		}
		fmt.Fprintf(g.stdout, "Replayed %d; %d failed again and stay in the queue; %d skipped (their stage is not running).\n", res.Replayed, res.Failed, res.Skipped)
		return nil
	})
}

// DLQDropCmd drops dead letters.
type DLQDropCmd struct {
	Seqs []uint64 `arg:"" optional:"" help:"Dead letter numbers."`
	All  bool     `help:"Drop every dead letter."`
}

// Run implements the command.
func (d *DLQDropCmd) Run(g *Globals) error {
	req, err := dlqSelection(d.Seqs, d.All)
	if err != nil {
		return err
	}
	return g.withClient(func(ctx context.Context, c *daemon.Client) error {
		res, err := c.DropDLQ(ctx, req)
		if err != nil {
			return fmt.Errorf("drop dead letters: %w", err)
		}
		fmt.Fprintf(g.stdout, "Dropped %d.\n", res.Dropped)
		return nil
	})
}

func dlqSelection(seqs []uint64, all bool) (daemon.DLQRequest, error) {
	switch {
	case len(seqs) > 0 && all:
		return daemon.DLQRequest{}, errors.New("give dead letter numbers or --all, not both")
	case len(seqs) == 0 && !all:
		return daemon.DLQRequest{}, errors.New("give dead letter numbers, or --all")
	}
	return daemon.DLQRequest{Seqs: seqs, All: all}, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// printable shows a payload as text, with invalid UTF-8 and control characters escaped.
func printable(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
		case r < ' ' && r != '\n' && r != '\t':
			fmt.Fprintf(&sb, `\x%02x`, r)
		default:
			sb.WriteRune(r)
		}
		b = b[size:]
	}
	return sb.String()
}
