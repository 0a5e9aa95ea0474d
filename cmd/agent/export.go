package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store/atomicfile"
)

// ExportCmd writes the sessions (as `agent sessions` has them) to a file: JSON with each
// session's turns and tool calls, CSV or Markdown with a row per session. --anonymize replaces
// session ids with random ones (the same session has the same one throughout the export, and
// another one in the next export) and drops what links to a workspace: project hashes and names.
type ExportCmd struct {
	readFilter
	Format    string `default:"json" enum:"json,csv,md" help:"Format: json (sessions with their turns and tools), csv or md (a row per session)."`
	Anonymize bool   `help:"Replace session ids with random ones and drop project hashes and names."`
	Output    string `short:"o" required:"" placeholder:"FILE" help:"The file to write (- for standard output)."`
}

// exportSession is a session in the JSON export.
type exportSession struct {
	sessionRow
	// Timeline is the session's turns, each with its tool calls (JSON only).
	Timeline []turnRow `json:"timeline"`
}

// Run implements the command.
func (c *ExportCmd) Run(g *Globals) error {
	sp, err := c.span("export")
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	names, err := loadProjectNames(g.DataDir)
	if err != nil {
		return err
	}
	return g.withDerivedReader(func(ctx context.Context, cl *daemon.Client) error {
		rows, err := loadSessions(ctx, g, cl, sp, c.Project, names)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		var sessions []exportSession
		for _, r := range rows {
			sessions = append(sessions, exportSession{sessionRow: r, Timeline: []turnRow{}})
		}
		if c.Format == "json" {
			if err := loadTimelines(ctx, cl, sessions); err != nil {
				return fmt.Errorf("export: %w", err)
			}
		}
		if c.Anonymize {
			if err := anonymize(sessions); err != nil {
				return fmt.Errorf("export: %w", err)
			}
		}
		var buf bytes.Buffer
		switch c.Format {
		case "json":
			if sessions == nil {
				sessions = []exportSession{}
			}
			err = writeJSONOut(&buf, sessions)
		case "csv":
			err = writeSessionsCSV(&buf, sessions)
		case "md":
			writeSessionsMarkdown(&buf, sessions)
		}
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if c.Output == "-" {
			_, err = g.stdout.Write(buf.Bytes())
			return err
		}
		// Private: an export holds what the store holds.
		if err := atomicfile.WriteFile(c.Output, buf.Bytes(), 0o600); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		fmt.Fprintf(g.stderr, "exported %d sessions to %s\n", len(sessions), c.Output)
		return nil
	})
}

// loadTimelines reads every session's turns and tool calls: one scan of each kind's view, in key
// order (session id, then turn or tool use), so a session's records are contiguous.
func loadTimelines(ctx context.Context, cl *daemon.Client, sessions []exportSession) error {
	index := map[string]int{}
	for i := range sessions {
		index[sessions[i].SessionID] = i
	}
	session := func(ev *sdk.Event) (int, bool) {
		key := attrIdent(ev, "key")
		id, _, _ := strings.Cut(key, "/")
		i, ok := index[id]
		return i, ok
	}
	turns, err := cl.View(ctx, daemon.ViewQuery{Kind: kindTurn})
	if err != nil {
		return err
	}
	byTurn := map[[2]int64]int{}
	for i := range turns.Records {
		if s, ok := session(&turns.Records[i]); ok {
			t := newTurnRow(&turns.Records[i])
			byTurn[[2]int64{int64(s), t.Turn}] = len(sessions[s].Timeline)
			sessions[s].Timeline = append(sessions[s].Timeline, t)
		}
	}
	tools, err := cl.View(ctx, daemon.ViewQuery{Kind: kindTool})
	if err != nil {
		return err
	}
	for i := range tools.Records {
		s, ok := session(&tools.Records[i])
		if !ok {
			continue
		}
		t := newToolRow(&tools.Records[i])
		j, ok := byTurn[[2]int64{int64(s), t.turn}]
		if !ok {
			j = len(sessions[s].Timeline)
			byTurn[[2]int64{int64(s), t.turn}] = j
			sessions[s].Timeline = append(sessions[s].Timeline, turnRow{Turn: t.turn, Start: t.Start, Tools: []toolRow{}})
		}
		sessions[s].Timeline[j].Tools = append(sessions[s].Timeline[j].Tools, t)
	}
	return nil
}

// anonymize replaces the session ids with random ones and drops the projects. Tool use ids are
// the assistant's and name nothing of the workspace, but they are replaced too (by their
// position), so that nothing in the export matches the assistant's own files.
func anonymize(sessions []exportSession) error {
	seen := map[string]bool{}
	for i := range sessions {
		s := &sessions[i]
		var b [16]byte
		for {
			if _, err := rand.Read(b[:]); err != nil {
				return fmt.Errorf("anonymize: %w", err)
			}
			if id := hex.EncodeToString(b[:]); !seen[id] {
				seen[id] = true
				s.SessionID = id
				break
			}
		}
		s.Project, s.ProjectName = "", ""
		n := 0
		for j := range s.Timeline {
			for k := range s.Timeline[j].Tools {
				n++
				s.Timeline[j].Tools[k].ToolUseID = "tool-" + strconv.Itoa(n)
			}
		}
	}
	return nil
}

// csvHeader are the columns of the CSV and Markdown exports.
var csvHeader = []string{"session_id", "start", "duration_ms", "active_ms", "turns", "tool_calls", "tool_errors", "turns_with_error",
	"edits", "lines_added", "lines_removed", "model", "project", "project_name", "input_tokens", "output_tokens", "cache_creation_tokens",
	"cache_read_tokens", "cost_usd"}

// csvRow returns a session's cells, in csvHeader's order.
func csvRow(s *exportSession) []string {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return []string{s.SessionID, s.Start.UTC().Format(time.RFC3339), i(s.DurationMS), i(s.ActiveMS), i(s.Turns), i(s.ToolCalls), i(s.ToolErrors),
		i(s.TurnsWithError), i(s.Edits), i(s.LinesAdded), i(s.LinesRemoved), s.Model, s.Project, s.ProjectName, i(s.Tokens.Input), i(s.Tokens.Output),
		i(s.Tokens.CacheCreation), i(s.Tokens.CacheRead), strconv.FormatFloat(s.Cost, 'f', 6, 64)}
}

// writeSessionsCSV writes a row per session.
func writeSessionsCSV(w io.Writer, sessions []exportSession) error {
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	for i := range sessions {
		cw.Write(csvRow(&sessions[i]))
	}
	cw.Flush()
	return cw.Error()
}

// writeSessionsMarkdown writes a Markdown table, a row per session. Cells are identifiers and
// numbers (display names are checked when set: no control characters); a | is escaped.
func writeSessionsMarkdown(w io.Writer, sessions []exportSession) {
	fmt.Fprintln(w, "| "+strings.Join(csvHeader, " | ")+" |")
	fmt.Fprintln(w, strings.Repeat("| --- ", len(csvHeader))+"|")
	for i := range sessions {
		cells := csvRow(&sessions[i])
		for j := range cells {
			cells[j] = strings.ReplaceAll(cells[j], "|", `\|`)
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
}
