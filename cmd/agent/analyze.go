package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/jedib0t/go-pretty/v6/table"
)

// AnalyzeCmd shows one session's timeline: its turns, the tools each called (with duration,
// status, error kind and permission decision), the changes they made, tokens and cost. It reads
// the session's conversation.session record, its conversation.turn and conversation.tool records
// (one prefix scan each of the session's keys) and the usage rollup's buckets of the session.
type AnalyzeCmd struct {
	Session  string `arg:"" optional:"" help:"The session id, or a start of it that names one session."`
	Last     bool   `help:"The latest session (by start)."`
	Timezone string `short:"z" help:"Time zone of times, such as UTC or Europe/Paris (default: local)."`
	JSON     bool   `name:"json" help:"Print JSON."`
}

// analysis is a session's timeline, as `agent analyze --json` prints it.
type analysis struct {
	Session sessionRow `json:"session"`
	Turns   []turnRow  `json:"turns"`
}

// turnRow is one turn of the timeline.
type turnRow struct {
	Turn              int64     `json:"turn"`
	Start             time.Time `json:"start"`
	DurationMS        int64     `json:"duration_ms"`
	PromptWords       int64     `json:"prompt_words"`
	ToolCalls         int64     `json:"tool_calls"`
	ToolErrors        int64     `json:"tool_errors"`
	AssistantMessages int64     `json:"assistant_messages"`
	LinesAdded        int64     `json:"lines_added"`
	LinesRemoved      int64     `json:"lines_removed"`
	Sidechain         bool      `json:"sidechain,omitempty"`
	Compacted         bool      `json:"compacted,omitempty"`
	Interrupted       bool      `json:"interrupted,omitempty"`
	Tokens            tokens    `json:"tokens"`
	Tools             []toolRow `json:"tools"`
}

// toolRow is one tool call of a turn.
type toolRow struct {
	ToolUseID    string    `json:"tool_use_id"`
	Tool         string    `json:"tool"`
	Operation    string    `json:"operation,omitempty"`
	Start        time.Time `json:"start"`
	DurationMS   int64     `json:"duration_ms"`
	Status       string    `json:"status"`
	ErrorKind    string    `json:"error_kind,omitempty"`
	Decision     string    `json:"decision,omitempty"`
	FileExt      string    `json:"file_ext,omitempty"`
	LinesAdded   int64     `json:"lines_added"`
	LinesRemoved int64     `json:"lines_removed"`
	Command      string    `json:"command,omitempty"`
	MCPServer    string    `json:"mcp_server,omitempty"`
	Sidechain    bool      `json:"sidechain,omitempty"`
	turn         int64
}

func newTurnRow(ev *sdk.Event) turnRow {
	r := turnRow{Turn: attrInt(ev, "turn"), Start: attrMillis(ev, "start"), DurationMS: attrInt(ev, "duration_ms"),
		PromptWords: attrInt(ev, "prompt_words"), ToolCalls: attrInt(ev, "tool_calls"), ToolErrors: attrInt(ev, "tool_errors"),
		AssistantMessages: attrInt(ev, "assistant_messages"), LinesAdded: attrInt(ev, "lines_added"), LinesRemoved: attrInt(ev, "lines_removed"),
		Sidechain: attrBool(ev, "sidechain"), Compacted: attrBool(ev, "compacted"), Interrupted: attrBool(ev, "interrupted"),
		Tokens: recordTokens(ev), Tools: []toolRow{}}
	if r.Start.IsZero() {
		r.Start = ev.Time
	}
	return r
}

func newToolRow(ev *sdk.Event) toolRow {
	key := attrIdent(ev, "key")
	r := toolRow{ToolUseID: key[strings.IndexByte(key, '/')+1:], Tool: attrIdent(ev, "tool_name"), Operation: attrIdent(ev, "operation"),
		Start: attrMillis(ev, "start"), DurationMS: attrInt(ev, "duration_ms"), Status: attrIdent(ev, "status"), ErrorKind: attrIdent(ev, "error_kind"),
		Decision: attrIdent(ev, "decision"), FileExt: attrIdent(ev, "file_ext"), LinesAdded: attrInt(ev, "lines_added"), LinesRemoved: attrInt(ev, "lines_removed"),
		Command: attrIdent(ev, "command"), MCPServer: attrIdent(ev, "mcp_server"), Sidechain: attrBool(ev, "sidechain"), turn: attrInt(ev, "turn")}
	if r.Start.IsZero() {
		r.Start = ev.Time
	}
	return r
}

// Run implements the command.
func (c *AnalyzeCmd) Run(g *Globals) error {
	if (c.Session == "") == !c.Last {
		return &exitError{code: 2, err: errors.New("analyze: name a session, or --last")}
	}
	f := readFilter{Timezone: c.Timezone}
	sp, err := f.span("analyze")
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	names, err := loadProjectNames(g.DataDir)
	if err != nil {
		return err
	}
	return g.withDerivedReader(func(ctx context.Context, cl *daemon.Client) error {
		a, err := c.load(ctx, g, cl, names)
		if err != nil {
			return err
		}
		if c.JSON {
			return writeJSONOut(g.stdout, a)
		}
		printAnalysis(g.stdout, a, sp.loc)
		return nil
	})
}

// findSession returns the session record the command names.
func (c *AnalyzeCmd) findSession(ctx context.Context, g *Globals, cl *daemon.Client) (sdk.Event, error) {
	if c.Last {
		recs, err := readView(ctx, g, cl, daemon.ViewQuery{Kind: kindSession})
		if err != nil {
			return sdk.Event{}, err
		}
		if len(recs) == 0 {
			return sdk.Event{}, &exitError{code: 1, err: errors.New("analyze: no sessions yet")}
		}
		return slices.MaxFunc(recs, func(a, b sdk.Event) int {
			return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.SessionID, b.SessionID))
		}), nil
	}
	ev, behind, err := cl.Record(ctx, kindSession, c.Session)
	var se *daemon.StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound {
		// A start of a session id.
		recs, err := readView(ctx, g, cl, daemon.ViewQuery{Kind: kindSession, Prefix: c.Session, Limit: 2})
		switch {
		case err != nil:
			return sdk.Event{}, err
		case len(recs) == 1:
			return recs[0], nil
		case len(recs) > 1:
			return sdk.Event{}, &exitError{code: 2, err: fmt.Errorf("analyze: %q starts more than one session id: give more of it", c.Session)}
		}
		return sdk.Event{}, &exitError{code: 1, err: fmt.Errorf("analyze: no session %q (see `agent sessions`)", c.Session)}
	}
	warnBehind(g.stderr, behind)
	return ev, err
}

// load reads the session's record, turns, tools and usage.
func (c *AnalyzeCmd) load(ctx context.Context, g *Globals, cl *daemon.Client, names projectNames) (analysis, error) {
	rec, err := c.findSession(ctx, g, cl)
	if err != nil {
		return analysis{}, err
	}
	id := rec.SessionID
	if id == "" {
		id = attrIdent(&rec, "key")
	}
	var sp spend
	// The session's usage is in the buckets from the slot of its start on.
	sums, err := cl.UsageSums(ctx, daemon.UsageSumQuery{From: rec.Time.Add(-usage.SlotDuration), Group: []string{"session"}})
	if err != nil {
		return analysis{}, fmt.Errorf("analyze: %w", err)
	}
	for i := range sums {
		if sums[i].Session == id {
			sp = spendOf(&sums[i])
		}
	}
	a := analysis{Session: newSessionRow(&rec, sp, names), Turns: []turnRow{}}
	turns, err := cl.View(ctx, daemon.ViewQuery{Kind: kindTurn, Prefix: id + "/"})
	if err != nil {
		return a, fmt.Errorf("analyze: %w", err)
	}
	tools, err := cl.View(ctx, daemon.ViewQuery{Kind: kindTool, Prefix: id + "/"})
	if err != nil {
		return a, fmt.Errorf("analyze: %w", err)
	}
	byTurn := map[int64]int{}
	for i := range turns.Records {
		t := newTurnRow(&turns.Records[i])
		byTurn[t.Turn] = len(a.Turns)
		a.Turns = append(a.Turns, t)
	}
	for i := range tools.Records {
		t := newToolRow(&tools.Records[i])
		j, ok := byTurn[t.turn]
		if !ok { // a tool whose turn has no record (yet): a turn of its own
			byTurn[t.turn] = len(a.Turns)
			j = len(a.Turns)
			a.Turns = append(a.Turns, turnRow{Turn: t.turn, Start: t.Start, Tools: []toolRow{}})
		}
		a.Turns[j].Tools = append(a.Turns[j].Tools, t)
	}
	slices.SortFunc(a.Turns, func(x, y turnRow) int { return cmp.Compare(x.Turn, y.Turn) })
	for i := range a.Turns {
		slices.SortStableFunc(a.Turns[i].Tools, func(x, y toolRow) int {
			return cmp.Or(x.Start.Compare(y.Start), cmp.Compare(x.ToolUseID, y.ToolUseID))
		})
	}
	return a, nil
}

// printAnalysis prints the session's summary and its timeline.
func printAnalysis(w io.Writer, a analysis, loc *time.Location) {
	s := a.Session
	fmt.Fprintf(w, "Session  %s\n", s.SessionID)
	if s.ProjectName != "" {
		fmt.Fprintf(w, "Project  %s\n", s.ProjectName)
	}
	if s.Model != "" {
		fmt.Fprintf(w, "Model    %s\n", s.Model)
	}
	fmt.Fprintf(w, "Start    %s, lasted %s (active %s)\n", s.Start.In(loc).Format("2006-01-02 15:04:05"),
		showDuration(time.Duration(s.DurationMS)*time.Millisecond), showDuration(time.Duration(s.ActiveMS)*time.Millisecond))
	fmt.Fprintf(w, "Turns    %d (%d with an error); tools %d, errors %d; lines +%d -%d\n", s.Turns, s.TurnsWithError, s.ToolCalls, s.ToolErrors, s.LinesAdded, s.LinesRemoved)
	fmt.Fprintf(w, "Tokens   %s (input %s, output %s, cache write %s, cache read %s); cost %s\n\n", humanize.Comma(s.Tokens.total()),
		humanize.Comma(s.Tokens.Input), humanize.Comma(s.Tokens.Output), humanize.Comma(s.Tokens.CacheCreation), humanize.Comma(s.Tokens.CacheRead), showCost(s.Cost))
	if len(a.Turns) == 0 {
		fmt.Fprintln(w, "No turns recorded.")
		return
	}
	t := newTable(w, table.Row{"Turn", "Time", "What", "Duration", "Status", "Lines", "Tokens"}, 4, 5)
	for _, turn := range a.Turns {
		what := fmt.Sprintf("prompt (%d words), %d tools", turn.PromptWords, turn.ToolCalls)
		var flags []string
		for _, f := range []struct {
			on   bool
			name string
		}{{turn.Sidechain, "subagent"}, {turn.Compacted, "compacted"}, {turn.Interrupted, "interrupted"}} {
			if f.on {
				flags = append(flags, f.name)
			}
		}
		status := "ok"
		if turn.ToolErrors > 0 {
			status = fmt.Sprintf("%d errors", turn.ToolErrors)
		}
		if len(flags) > 0 {
			status += " (" + strings.Join(flags, ", ") + ")"
		}
		t.AppendRow(table.Row{turn.Turn, turn.Start.In(loc).Format("15:04:05"), what, showDuration(time.Duration(turn.DurationMS) * time.Millisecond),
			status, lines(turn.LinesAdded, turn.LinesRemoved), humanize.Comma(turn.Tokens.total())})
		for _, tool := range turn.Tools {
			name := tool.Tool
			if tool.Operation != "" && !strings.EqualFold(tool.Operation, tool.Tool) {
				name += " " + tool.Operation
			}
			if tool.Command != "" {
				name += " (" + tool.Command + ")"
			} else if tool.FileExt != "" {
				name += " (" + tool.FileExt + ")"
			}
			status := tool.Status
			if tool.ErrorKind != "" && tool.ErrorKind != tool.Status {
				status += ": " + tool.ErrorKind
			}
			if (tool.Decision == "accepted" || tool.Decision == "rejected") && tool.Decision != tool.Status {
				status += ", " + tool.Decision
			}
			t.AppendRow(table.Row{"", tool.Start.In(loc).Format("15:04:05"), "  └ " + name, showDuration(time.Duration(tool.DurationMS) * time.Millisecond),
				status, lines(tool.LinesAdded, tool.LinesRemoved), ""})
		}
	}
	t.Render()
}

// lines shows lines added and removed, "" when none.
func lines(added, removed int64) string {
	if added == 0 && removed == 0 {
		return ""
	}
	return fmt.Sprintf("+%d -%d", added, removed)
}
