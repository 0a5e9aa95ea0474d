package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline/transcripts"
	"github.com/schollz/progressbar/v3"
)

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
	// Daemon is true when a running daemon read the files, false when this process did, with the
	// store opened in it.
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
	return g.withDaemonOrStore(ctx, openImport, func(client *daemon.Client, viaDaemon bool) error {
		var (
			problems []string
			scan     *daemon.ImportScan
			bar      = c.newBar(g)
		)
		tot, err := client.ImportTranscripts(ctx, roots, func(e daemon.ImportEvent) {
			switch {
			case e.Scan != nil:
				scan = e.Scan
				bar.start(*e.Scan)
			case e.Progress != nil:
				bar.update(*e.Progress)
			case e.Skipped != nil:
				problems = append(problems, fmt.Sprintf("%s: %s", e.Skipped.Path, e.Skipped.Error))
			}
		})
		bar.finish()
		for _, p := range problems {
			fmt.Fprintf(g.stderr, "agent: import: skipped %s\n", p)
		}
		var se *daemon.StatusError
		switch {
		case errors.As(err, &se) && se.Code == http.StatusNotFound:
			return fmt.Errorf("import: the running daemon does not import transcripts (an older agent?): restart it")
		case errors.Is(err, context.Canceled):
			err = &exitError{code: 130, err: errors.New("import interrupted; run it again to go on where it stopped")}
		case err != nil:
			err = fmt.Errorf("import: %w", err)
		}
		if scan == nil { // it failed before it read anything
			return err
		}
		sum := ImportSummary{Totals: tot, FilesFound: scan.Files, Seconds: time.Since(start).Seconds(), Daemon: viaDaemon}
		if c.JSON {
			if jerr := json.NewEncoder(g.stdout).Encode(sum); jerr != nil {
				return errors.Join(err, jerr)
			}
		} else {
			printImportSummary(g, sum)
		}
		return err
	})
}

// importBar shows an import's progress (files, bytes, rate, time left) on a terminal's stderr.
// Elsewhere, or with --json, it shows nothing: all its methods do nothing on a nil *importBar.
type importBar struct {
	w     *os.File
	bar   *progressbar.ProgressBar
	files int
}

// newBar returns the import's progress bar, nil if it shows none.
func (c *ImportCmd) newBar(g *Globals) *importBar {
	f, ok := g.stderr.(*os.File)
	if c.JSON || !ok || !isTerminal(f) {
		return nil
	}
	return &importBar{w: f}
}

// start shows the bar, for what the scan found.
func (b *importBar) start(sc daemon.ImportScan) {
	if b == nil || sc.Pending == 0 {
		return
	}
	b.files = sc.Files
	b.bar = progressbar.NewOptions64(sc.Pending,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetDescription(fmt.Sprintf("0/%d files", sc.Files)),
	)
}

// update moves the bar to t.
func (b *importBar) update(t transcripts.Totals) {
	if b == nil || b.bar == nil {
		return
	}
	b.bar.Describe(fmt.Sprintf("%d/%d files", t.Files+t.Failed, b.files))
	b.bar.Set64(min(t.Bytes, b.bar.GetMax64()))
}

// finish clears the bar.
func (b *importBar) finish() {
	if b == nil || b.bar == nil {
		return
	}
	b.bar.Finish()
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
	if s.Parked > 0 {
		fmt.Fprintf(g.stdout, "No capture plugin serves Claude Code: %s lines wait, sealed, and are captured once one does (`agent plugins enable claude-code`).\n", humanize.Comma(s.Parked))
	}
	if s.DeadLettered > 0 {
		fmt.Fprintln(g.stdout, "The capture could not make events of some lines: see `agent dlq list`.")
	}
}
