package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline/transcripts"
	"github.com/schollz/progressbar/v3"
)

// importWorkers is how many transcripts `agent import` reads at once: the daemon captures the
// requests of each in parallel and commits them together.
const importWorkers = 4

// ImportCmd reads Claude Code transcripts into the store: each line once, ever. It shares its
// checkpoints with the daemon's tailer, so that neither sends again what the other sent.
type ImportCmd struct {
	Source string `name:"source" type:"path" placeholder:"DIR" help:"Read DIR/projects (DIR laid out like ~/.claude; its other folders are ignored). Default: the folders of CLAUDE_CONFIG_DIR, else ~/.config/claude and ~/.claude."`
	JSON   bool   `name:"json" help:"Print the summary as JSON."`
}

// ImportSummary is what `agent import --json` prints.
type ImportSummary struct {
	transcripts.Totals
	// FilesFound counts the transcripts found; Files (in Totals) those read to their end.
	FilesFound int     `json:"files_found"`
	Seconds    float64 `json:"seconds"`
	// Daemon is true when the records went through a running daemon, false when the store was
	// opened in this process.
	Daemon bool `json:"daemon"`
}

// Run implements the command.
func (c *ImportCmd) Run(g *Globals) error {
	start := time.Now()
	var roots []string
	if c.Source != "" {
		root, err := transcripts.SourceRoot(c.Source)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		roots = []string{root}
	} else if roots = transcripts.Locations(os.Getenv); len(roots) == 0 {
		return fmt.Errorf("import: no Claude Code transcripts in %s (set CLAUDE_CONFIG_DIR, or name a folder with --source)",
			strings.Join(transcripts.Candidates(os.Getenv), " or "))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return g.withDaemonOrStore(ctx, openCapture, func(client *daemon.Client, viaDaemon bool) error {
		var problems []string
		// Checkpoints are kept under keyed hashes of the paths, as the daemon's tailer keeps them.
		secret, err := host.LoadOrCreateSecret(filepath.Join(g.DataDir, daemon.SecretName))
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		t, err := transcripts.NewTailer(transcripts.Config{
			Sink:        client.TranscriptSink(),
			Checkpoints: &transcripts.HashedCheckpoints{Inner: daemon.TranscriptCheckpoints{C: client}, Key: secret},
			Workers:     importWorkers,
			Report: func(path string, err error) {
				problems = append(problems, fmt.Sprintf("%s: %v", path, err))
			},
		})
		if err != nil {
			return err
		}
		sc, err := t.Scan(ctx, roots)
		var se *daemon.StatusError
		if errors.As(err, &se) && se.Code == http.StatusNotFound {
			return fmt.Errorf("import: the running daemon does not keep transcript checkpoints (an older agent?): restart it")
		}
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		var st transcripts.Stats
		stopBar := c.progress(g, sc, &st)
		syncErr := t.Sync(ctx, sc, &st)
		stopBar()
		sum := ImportSummary{Totals: st.Totals(), FilesFound: len(sc.Files), Seconds: time.Since(start).Seconds(), Daemon: viaDaemon}
		for _, p := range problems {
			fmt.Fprintf(g.stderr, "agent: import: skipped %s\n", p)
		}
		if c.JSON {
			if err := json.NewEncoder(g.stdout).Encode(sum); err != nil {
				return err
			}
		} else {
			printImportSummary(g, sum)
		}
		if syncErr != nil {
			if errors.Is(syncErr, context.Canceled) {
				return &exitError{code: 130, err: errors.New("import interrupted; run it again to go on where it stopped")}
			}
			return fmt.Errorf("import: %w", syncErr)
		}
		return nil
	})
}

// progress shows a progress bar of the bytes read on a terminal's stderr, until the returned
// function is called. Elsewhere, or with --json, it shows nothing.
func (c *ImportCmd) progress(g *Globals, sc *transcripts.Scan, st *transcripts.Stats) func() {
	f, ok := g.stderr.(*os.File)
	if c.JSON || !ok || !isTerminal(f) || sc.Pending == 0 {
		return func() {}
	}
	bar := progressbar.NewOptions64(sc.Pending,
		progressbar.OptionSetWriter(f),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetDescription(fmt.Sprintf("0/%d files", len(sc.Files))),
	)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			tt := st.Totals()
			bar.Describe(fmt.Sprintf("%d/%d files", tt.Files+tt.Failed, len(sc.Files)))
			bar.Set64(min(tt.Bytes, sc.Pending))
			select {
			case <-done:
				bar.Finish()
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

func printImportSummary(g *Globals, s ImportSummary) {
	where := "into the store (no daemon running)"
	if s.Daemon {
		where = "through the daemon"
	}
	line := fmt.Sprintf("Imported %d of %d transcripts %s: %s lines, %s, in %s",
		s.Files, s.FilesFound, where, humanize.Comma(s.Lines), humanize.IBytes(uint64(s.Bytes)), time.Duration(s.Seconds*float64(time.Second)).Round(time.Millisecond))
	if s.Lines > 0 {
		line += fmt.Sprintf(" (%s/s); events: %s new, %s already stored; %s dead-lettered",
			humanize.IBytes(uint64(float64(s.Bytes)/max(s.Seconds, 1e-3))), humanize.Comma(s.Stored), humanize.Comma(s.Duplicates), humanize.Comma(s.DeadLettered))
	} else {
		line += "; nothing new"
	}
	if s.Failed > 0 {
		line += fmt.Sprintf("; %d skipped", s.Failed)
	}
	if s.Unfinished > 0 {
		line += fmt.Sprintf("; %d end with a line still being written (taken once unchanged for a minute)", s.Unfinished)
	}
	fmt.Fprintln(g.stdout, line+".")
	if s.DeadLettered > 0 {
		fmt.Fprintln(g.stdout, "The capture could not make events of some lines: see `agent dlq list`.")
	}
}
