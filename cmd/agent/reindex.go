package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/store"
)

// ReindexCmd rebuilds every derived record from the event log.
type ReindexCmd struct {
	NoWait bool `name:"no-wait" help:"With a running daemon, return once the rebuild has started instead of waiting for it (agent status shows the consumers' lag)."`
	JSON   bool `name:"json" help:"Print the result as JSON."`
}

// Help implements kong's detailed help.
func (*ReindexCmd) Help() string {
	return "Deletes every derived record and view, every enrich and insight plugin's state and cursor, " +
		"and the built-in daily counts and usage rollup, then has them all consume the event log again " +
		"from its start, and waits until they caught up. Through the running daemon, or in this " +
		"process when none runs. The events themselves are not touched."
}

// Run implements the command.
func (c *ReindexCmd) Run(g *Globals) error {
	if err := g.needDataDir(); err != nil {
		return err
	}
	ctx, stop := interruptible()
	defer stop()
	return g.withDaemonOrStore(ctx, openCapture, func(cl *daemon.Client, viaDaemon bool) error {
		res, err := cl.Reindex(ctx)
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
		fmt.Fprintf(g.stdout, "Reindexed: %d consumers started over (%s), %d of their dead letters dropped.\n",
			len(res.Consumers), joinOr(res.Consumers, "none"), res.DeadLetters)
		return nil
	})
}

// needDataDir refuses a data directory that does not exist: there is nothing to rebuild or purge.
func (g *Globals) needDataDir() error {
	if _, err := os.Stat(g.DataDir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no data in %s yet: start the agent with `agent run`", g.DataDir)
	}
	return nil
}

// interruptible returns a context that ends on SIGINT or SIGTERM.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// waitRebuilt waits until every consumer (built-in, enrich and insight) has consumed its feed,
// reporting progress on w at most once a second. A consumer of a quarantined plugin is not
// waited for: it holds its cursor until the plugin is enabled again.
func waitRebuilt(ctx context.Context, c *daemon.Client, w io.Writer) error {
	start := time.Now()
	lastReport := start
	for {
		st, err := c.Status(ctx)
		if err != nil {
			return fmt.Errorf("wait for the rebuild: %w", err)
		}
		left, behind, held := rebuildLag(st)
		if left == 0 {
			if len(held) > 0 {
				fmt.Fprintf(w, "agent: not waited for (their plugins are quarantined): %s\n", joinOr(held, ""))
			}
			return nil
		}
		if time.Since(lastReport) >= time.Second {
			fmt.Fprintf(w, "agent: rebuilding: %d entries left (%s), %s\n", left, joinOr(behind, ""), time.Since(start).Round(time.Second))
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the rebuild (it goes on in the daemon, or at the next start): %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// rebuildLag sums the lag of the consumers a rebuild waits for, and names those behind and those
// of quarantined plugins, which it does not wait for.
func rebuildLag(st daemon.Status) (left uint64, behind, held []string) {
	quarantined := map[string]bool{}
	for _, p := range st.Plugins {
		if p.Quarantined {
			quarantined[store.PluginConsumerPrefix+p.Name] = true
		}
	}
	for name, cs := range st.Consumers {
		switch {
		case cs.Lag == 0:
		case quarantined[name]:
			held = append(held, name)
		default:
			left += cs.Lag
			behind = append(behind, name)
		}
	}
	slices.Sort(behind)
	slices.Sort(held)
	return left, behind, held
}

// joinOr joins names with commas, or returns none if there are none.
func joinOr(names []string, none string) string {
	if len(names) == 0 {
		return none
	}
	out := names[0]
	for _, n := range names[1:] {
		out += ", " + n
	}
	return out
}
