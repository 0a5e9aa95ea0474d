package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
)

// PurgeCmd removes events and everything derived from them.
type PurgeCmd struct {
	Before  string `placeholder:"DATE" help:"Purge the events that happened before DATE: 2006-01-02 (midnight, local time) or an RFC 3339 time."`
	Session string `placeholder:"ID" help:"Purge the events of one session."`
	All     bool   `help:"Purge every event."`
	Yes     bool   `short:"y" help:"Purge without asking (needed without a terminal)."`
	NoWait  bool   `name:"no-wait" help:"With a running daemon, return once the events are gone, without waiting for the derived data to be rebuilt."`
	JSON    bool   `name:"json" help:"Print the result as JSON."`
}

// Help implements kong's detailed help.
func (*PurgeCmd) Help() string {
	return "Removes the selected events from the store with their index entries and their dead letters, " +
		"deletes every derived record and view and every enrich and insight plugin's state, resets the " +
		"built-in daily counts and usage rollup, and rebuilds them all from the events that remain (as " +
		"agent reindex). Then the store is compacted and its logs and manifests renewed, so that the " +
		"purged bytes leave the disk. Through the running daemon, or in this process when none runs.\n\n" +
		"Transcript checkpoints stay: a purged transcript is not imported again, by the daemon or by " +
		"agent import, unless the file grows (new lines are read) or is replaced."
}

// Validate implements kong's validation hook.
func (c *PurgeCmd) Validate() error {
	n := 0
	for _, set := range []bool{c.Before != "", c.Session != "", c.All} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("say what to purge: one of --before DATE, --session ID or --all")
	}
	if c.Before != "" {
		if _, err := parsePurgeDate(c.Before); err != nil {
			return err
		}
	}
	return nil
}

// parsePurgeDate reads a date (local midnight) or an RFC 3339 time.
func parsePurgeDate(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--before %q: want a date (2006-01-02) or an RFC 3339 time", s)
}

// Run implements the command.
func (c *PurgeCmd) Run(g *Globals) error {
	if err := g.needDataDir(); err != nil {
		return err
	}
	req := daemon.PurgeRequest{Session: c.Session, All: c.All}
	what := "every event"
	switch {
	case c.Session != "":
		what = "the events of session " + c.Session
	case c.Before != "":
		req.Before, _ = parsePurgeDate(c.Before)
		what = "the events before " + req.Before.Format(time.RFC3339)
	}
	if err := c.confirm(g, what); err != nil {
		return err
	}
	ctx, stop := interruptible()
	defer stop()
	return g.withDaemonOrStore(ctx, openCapture, func(cl *daemon.Client, viaDaemon bool) error {
		res, err := cl.Purge(ctx, req)
		if err != nil {
			return err
		}
		if !c.NoWait || !viaDaemon {
			if err := waitRebuilt(ctx, cl, g.stderr); err != nil {
				return err
			}
		}
		if c.JSON {
			return json.NewEncoder(g.stdout).Encode(res)
		}
		fmt.Fprintf(g.stdout, "Purged %d events and %d dead letters; derived data rebuilt from what remains.\n", res.Events, res.DeadLetters)
		if res.DeadLettersUnchecked > 0 {
			fmt.Fprintf(g.stdout, "%d dead letters are sealed under another payload key and could not be checked: they were kept (agent dlq list).\n", res.DeadLettersUnchecked)
		}
		return nil
	})
}

// confirm asks on a terminal, and refuses without one unless --yes.
func (c *PurgeCmd) confirm(g *Globals, what string) error {
	if c.Yes {
		return nil
	}
	if !isTerminal(g.stdin) {
		return &exitError{code: 1, err: errors.New("not purging: there is no terminal to confirm on; run again with --yes")}
	}
	fmt.Fprintf(g.stdout, "Purge %s, with their dead letters, and rebuild every derived record? This cannot be undone. [y/N] ", what)
	line, err := bufio.NewReader(g.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return &exitError{code: 1, err: errors.New("not purging: not confirmed")}
}
