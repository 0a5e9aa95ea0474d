package usage

import (
	"fmt"
	"time"
)

// Entry is one deduplicated usage record of an assistant: what one API response cost.
//
// The caller owns deduplication and pricing. ccusage 20.0.24 counts every transcript line that
// holds `"usage":{` (no space) and parses with a timestamp and input and output token counts;
// the line's type is not checked. Copies are keyed by message.id and requestId, across sessions
// (by message.id and session when there is no requestId); of two copies the non-sidechain one
// wins, then the one with more tokens, and the survivor keeps the first copy's place. Claude Code
// writes several copies of a streamed message with a growing output count, so a consumer that
// rolled up an early copy must [Bucket.Remove] it and add the final one.
type Entry struct {
	// Time is when the record was written; reports work in whole milliseconds, as ccusage does.
	Time time.Time
	// Session identifies the session: for Claude Code, the transcript's file name without
	// ".jsonl", or the directory a subagent transcript sits in.
	Session string
	// Project is an opaque project key. In production it is a salted hash, never a path; reports
	// show it through [Options.ProjectName].
	Project string
	// Model is the model name as reports show it ("-fast" appended for fast mode), or "" when the
	// record names none or names "<synthetic>": such entries count in every total but in no
	// model list or breakdown.
	Model string
	// Input, Output, CacheCreation and CacheRead are token counts. CacheCreation is the sum of
	// the 5-minute and 1-hour cache writes when the record breaks them down, and
	// cache_creation_input_tokens otherwise.
	Input, Output, CacheCreation, CacheRead int64
	// CostAuto, CostCalculate and CostDisplay are the entry's cost in USD under ccusage's three
	// cost modes: the recorded costUSD when present and else the price of the tokens; the price
	// of the tokens; the recorded costUSD or zero.
	CostAuto, CostCalculate, CostDisplay float64
	// LimitReset is when the usage limit resets, for an API error entry that says "Claude AI
	// usage limit reached|<unix seconds>"; zero otherwise.
	LimitReset time.Time
	// Seq orders entries of one session written in the same millisecond: the entry's line
	// number or byte offset in its transcript, or any number that grows with it. ccusage lists
	// models in file order, and such entries (an advisor's usage is written with its parent's
	// timestamp) are told apart by nothing else.
	Seq int64
}

// Tokens returns the entry's total token count.
func (e Entry) Tokens() int64 { return e.Input + e.Output + e.CacheCreation + e.CacheRead }

// CostMode selects which of an entry's three costs a report sums, as ccusage's --mode does.
type CostMode int

// Cost modes. The zero value is ModeAuto, ccusage's default.
const (
	// ModeAuto uses the recorded costUSD when present and else prices the tokens.
	ModeAuto CostMode = iota
	// ModeCalculate always prices the tokens.
	ModeCalculate
	// ModeDisplay uses the recorded costUSD, or zero.
	ModeDisplay
)

// String returns the mode's name as ccusage's --mode flag spells it.
func (m CostMode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeCalculate:
		return "calculate"
	case ModeDisplay:
		return "display"
	}
	return fmt.Sprintf("CostMode(%d)", int(m))
}

// ParseCostMode parses "auto", "calculate" or "display".
func ParseCostMode(s string) (CostMode, error) {
	switch s {
	case "auto":
		return ModeAuto, nil
	case "calculate":
		return ModeCalculate, nil
	case "display":
		return ModeDisplay, nil
	}
	return 0, fmt.Errorf("parse cost mode %q: %w", s, ErrBadOption)
}
