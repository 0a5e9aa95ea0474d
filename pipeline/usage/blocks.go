package usage

import (
	"cmp"
	"fmt"
	"io"
	"iter"
	"math"
	"slices"
	"strings"
	"time"
)

// blocksWarning is the share of the token limit above which a projection is a "warning".
const blocksWarning = 0.8

// TokenCounts are a block's token sums (ccusage's tokenCounts).
type TokenCounts struct {
	InputTokens, OutputTokens, CacheCreationInputTokens, CacheReadInputTokens int64
}

// BurnRate is an active block's rate of use between its first and last entries.
type BurnRate struct {
	// TokensPerMinute counts all tokens; TokensPerMinuteForIndicator only input and output.
	TokensPerMinute, TokensPerMinuteForIndicator float64
	CostPerHour                                  float64
}

// Projection extrapolates an active block's burn rate to the block's end.
type Projection struct {
	// RemainingMinutes is the rounded number of minutes until the block ends.
	RemainingMinutes int64
	// TotalTokens is rounded to a whole token, TotalCost to a cent.
	TotalTokens int64
	TotalCost   float64
}

// TokenLimitStatus compares an active block's projection with Options.TokenLimit.
type TokenLimitStatus struct {
	Limit, ProjectedUsage uint64
	// PercentUsed is ProjectedUsage as a percentage of Limit (infinite or NaN when Limit is 0,
	// written as null).
	PercentUsed float64
	// Status is "ok", "warning" (above 80%) or "exceeds".
	Status string
}

// Block is one billing block, or one gap between blocks, of a [BlocksReport].
type Block struct {
	// ID is the start time as ccusage formats it, prefixed with "gap-" for a gap.
	ID string
	// StartTime is the first entry's time floored to the UTC hour; a gap starts one session
	// length after the last entry before it.
	StartTime time.Time
	// EndTime is StartTime plus the session length; a gap ends at the next entry.
	EndTime time.Time
	// ActualEndTime is the last entry's time; zero (null) for a gap.
	ActualEndTime time.Time
	// IsActive is true when the last entry is less than a session length before Now and Now is
	// before EndTime.
	IsActive, IsGap bool
	// Entries counts the block's entries.
	Entries int64
	// TokenCounts and TotalTokens are the block's token sums.
	TokenCounts TokenCounts
	TotalTokens int64
	// CostUSD is the block's cost; written as an integer when it is one, as ccusage does.
	CostUSD float64
	// Models lists the models in the order of their first entry.
	Models []string
	// BurnRate and Projection are set for an active block whose entries span some time.
	BurnRate   *BurnRate
	Projection *Projection
	// TokenLimitStatus is set when Projection is and Options.TokenLimit gives a limit.
	TokenLimitStatus *TokenLimitStatus
	// UsageLimitResetTime is the first entry's [Entry.LimitReset] that has one; zero (absent)
	// when none does.
	UsageLimitResetTime time.Time

	first time.Time // first entry
}

// BlocksReport is ccusage's `blocks --json`.
type BlocksReport struct {
	Blocks []Block
}

// Blocks builds ccusage's blocks report. Entries are taken in time order; the first starts a
// block at its time floored to the UTC hour, and an entry more than a session length after the
// block's start, or after the previous entry, starts a new block (exactly a session length is
// not more). When the wait after the previous entry was longer than a session length, a gap
// block spans from one session length after that entry to the new entry. Blocks are built from
// all usage and then filtered by their start date and by Recent and Active.
func Blocks(buckets iter.Seq[Bucket], opts Options) (BlocksReport, error) {
	if err := opts.Validate(); err != nil {
		return BlocksReport{}, fmt.Errorf("blocks report: %w", err)
	}
	limit, _ := opts.tokenLimit()
	loc := opts.location()
	now := opts.now().UnixMilli()
	length := opts.sessionLength().Milliseconds()

	items := collect(buckets, &opts, false)
	slices.SortStableFunc(items, func(a, b item) int {
		return cmp.Or(
			cmp.Compare(a.slot, b.slot),
			a.b.First.Compare(b.b.First),
			strings.Compare(a.path, b.path),
			cmp.Compare(a.b.FirstSeq, b.b.FirstSeq),
			strings.Compare(a.b.Key.Model, b.b.Key.Model),
		)
	})

	var blocks []Block
	var cur *blockAcc
	for i := 0; i < len(items); {
		// A half-slot is never split: its entries lie within one 15-minute slot and one hour, and
		// block ends and hours fall on slot boundaries.
		j := i
		first, last := items[i].b.First.UnixMilli(), items[i].b.Last.UnixMilli()
		for ; j < len(items) && items[j].slot == items[i].slot; j++ {
			first = min(first, items[j].b.First.UnixMilli())
			last = max(last, items[j].b.Last.UnixMilli())
		}
		if cur != nil {
			sinceStart, sinceLast := first-cur.start, first-cur.last
			if sinceStart > length || sinceLast > length {
				blocks = append(blocks, cur.block(now, length))
				if sinceLast > length {
					blocks = append(blocks, gapBlock(cur.last+length, first))
				}
				cur = nil
			}
		}
		if cur == nil {
			cur = &blockAcc{start: floorDiv(first, hourMillis) * hourMillis, first: first, last: last}
		}
		for ; i < j; i++ {
			cur.add(&items[i])
		}
		cur.last = max(cur.last, last)
	}
	if cur != nil {
		blocks = append(blocks, cur.block(now, length))
	}

	if !opts.Since.IsZero() || !opts.Until.IsZero() {
		blocks = slices.DeleteFunc(blocks, func(b Block) bool { return !opts.inRange(DateOf(b.StartTime, loc)) })
	}
	slices.SortStableFunc(blocks, func(a, b Block) int { return a.StartTime.Compare(b.StartTime) })
	if opts.Order == OrderDesc {
		slices.Reverse(blocks)
	}
	if opts.Recent {
		cutoff := now - recentDays*24*hourMillis
		blocks = slices.DeleteFunc(blocks, func(b Block) bool { return b.StartTime.UnixMilli() < cutoff && !b.IsActive })
	}
	if opts.Active {
		blocks = slices.DeleteFunc(blocks, func(b Block) bool { return !b.IsActive })
	}

	var maxTokens uint64
	for _, b := range blocks {
		if !b.IsGap && !b.IsActive {
			maxTokens = max(maxTokens, uint64(b.TotalTokens))
		}
	}
	for i := range blocks {
		b := &blocks[i]
		if !b.IsActive {
			continue
		}
		b.BurnRate = burnRate(b)
		b.Projection = projection(b, now)
		if b.Projection == nil || !limit.set {
			continue
		}
		n := limit.tokens
		if limit.useMax {
			if maxTokens == 0 {
				continue
			}
			n = maxTokens
		}
		projected := uint64(b.Projection.TotalTokens)
		s := &TokenLimitStatus{Limit: n, ProjectedUsage: projected, PercentUsed: float64(projected) / float64(n) * 100, Status: "ok"}
		switch {
		case projected > n:
			s.Status = "exceeds"
		case float64(projected) > float64(n)*blocksWarning:
			s.Status = "warning"
		}
		b.TokenLimitStatus = s
	}
	if blocks == nil {
		blocks = []Block{}
	}
	return BlocksReport{Blocks: blocks}, nil
}

const hourMillis = int64(time.Hour / time.Millisecond)

// blockAcc sums the items of one block; items come in time order.
type blockAcc struct {
	start, first, last int64
	entries            int64
	tokens             TokenCounts
	cost               float64
	models             []string
	modelRank          map[string]modelRank
	reset, resetEntry  time.Time
	resetPath          string
}

// modelRank places a model's first entry: by time, then transcript path, then Entry.Seq.
type modelRank struct {
	first int64
	path  string
	seq   int64
}

func (r modelRank) compare(o modelRank) int {
	return cmp.Or(cmp.Compare(r.first, o.first), strings.Compare(r.path, o.path), cmp.Compare(r.seq, o.seq))
}

func (a *blockAcc) add(it *item) {
	b := &it.b
	a.entries += b.Entries
	a.tokens.InputTokens += b.Input
	a.tokens.OutputTokens += b.Output
	a.tokens.CacheCreationInputTokens += b.CacheCreation
	a.tokens.CacheReadInputTokens += b.CacheRead
	a.cost += it.cost
	a.first = min(a.first, b.First.UnixMilli())
	if m := b.Key.Model; m != "" {
		r := modelRank{b.First.UnixMilli(), it.path, b.FirstSeq}
		if a.modelRank == nil {
			a.modelRank = map[string]modelRank{}
		}
		if old, ok := a.modelRank[m]; !ok {
			a.modelRank[m] = r
			a.models = append(a.models, m)
		} else if r.compare(old) < 0 {
			a.modelRank[m] = r
		}
	}
	if !b.LimitResetEntry.IsZero() {
		if a.resetEntry.IsZero() || b.LimitResetEntry.Before(a.resetEntry) ||
			(b.LimitResetEntry.Equal(a.resetEntry) && it.path < a.resetPath) {
			a.reset, a.resetEntry, a.resetPath = b.LimitReset, b.LimitResetEntry, it.path
		}
	}
}

func (a *blockAcc) block(now, length int64) Block {
	slices.SortStableFunc(a.models, func(x, y string) int {
		return cmp.Or(a.modelRank[x].compare(a.modelRank[y]), strings.Compare(x, y))
	})
	start := time.UnixMilli(a.start).UTC()
	end := a.start + length
	t := a.tokens
	return Block{
		ID:                  start.Format(idLayout),
		StartTime:           start,
		EndTime:             time.UnixMilli(end).UTC(),
		ActualEndTime:       time.UnixMilli(a.last).UTC(),
		IsActive:            now-a.last < length && now < end,
		Entries:             a.entries,
		TokenCounts:         t,
		TotalTokens:         t.InputTokens + t.OutputTokens + t.CacheCreationInputTokens + t.CacheReadInputTokens,
		CostUSD:             a.cost,
		Models:              append([]string{}, a.models...),
		UsageLimitResetTime: a.reset,
		first:               time.UnixMilli(a.first).UTC(),
	}
}

const idLayout = "2006-01-02T15:04:05.000Z"

func gapBlock(start, end int64) Block {
	s := time.UnixMilli(start).UTC()
	return Block{
		ID:        "gap-" + s.Format(idLayout),
		StartTime: s,
		EndTime:   time.UnixMilli(end).UTC(),
		IsGap:     true,
		Models:    []string{},
	}
}

// burnRate is ccusage's calculate_burn_rate: nil for a gap, an empty block, or one whose entries
// all share a millisecond.
func burnRate(b *Block) *BurnRate {
	if b.IsGap || b.Entries == 0 {
		return nil
	}
	minutes := float64(b.ActualEndTime.UnixMilli()-b.first.UnixMilli()) / 60000
	if minutes <= 0 {
		return nil
	}
	t := b.TokenCounts
	return &BurnRate{
		TokensPerMinute:             float64(b.TotalTokens) / minutes,
		TokensPerMinuteForIndicator: float64(t.InputTokens+t.OutputTokens) / minutes,
		CostPerHour:                 b.CostUSD / minutes * 60,
	}
}

// projection is ccusage's project_block_usage; the remaining minutes are rounded before they
// are used.
func projection(b *Block, now int64) *Projection {
	if !b.IsActive || b.IsGap {
		return nil
	}
	rate := burnRate(b)
	if rate == nil {
		return nil
	}
	remaining := math.Round(float64(b.EndTime.UnixMilli()-now) / 60000)
	tokens := float64(b.TotalTokens) + rate.TokensPerMinute*remaining
	cost := b.CostUSD + rate.CostPerHour/60*remaining
	return &Projection{
		RemainingMinutes: saturateInt(remaining),
		TotalTokens:      saturateInt(math.Round(tokens)),
		TotalCost:        math.Round(cost*100) / 100,
	}
}

// saturateInt converts as Rust's `as u64` does: NaN and negatives to 0, too large to the maximum.
func saturateInt(f float64) int64 {
	switch {
	case math.IsNaN(f) || f <= 0:
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	}
	return int64(f)
}

func (b *Block) node() node {
	t := b.TokenCounts
	o := jsonObject{
		{"actualEndTime", jsonNull{}},
		{"burnRate", jsonNull{}},
		{"costUSD", intOrFloat(b.CostUSD)},
		{"endTime", timeNode(b.EndTime)},
		{"entries", jsonInt(b.Entries)},
		{"id", jsonString(b.ID)},
		{"isActive", jsonBool(b.IsActive)},
		{"isGap", jsonBool(b.IsGap)},
		{"models", stringsNode(b.Models)},
		{"projection", jsonNull{}},
		{"startTime", timeNode(b.StartTime)},
		{"tokenCounts", jsonObject{
			{"cacheCreationInputTokens", jsonInt(t.CacheCreationInputTokens)},
			{"cacheReadInputTokens", jsonInt(t.CacheReadInputTokens)},
			{"inputTokens", jsonInt(t.InputTokens)},
			{"outputTokens", jsonInt(t.OutputTokens)},
		}},
		{"totalTokens", jsonInt(b.TotalTokens)},
	}
	if !b.IsGap {
		o[0].val = timeNode(b.ActualEndTime)
	}
	if r := b.BurnRate; r != nil {
		o[1].val = jsonObject{
			{"costPerHour", jsonFloat(r.CostPerHour)},
			{"tokensPerMinute", jsonFloat(r.TokensPerMinute)},
			{"tokensPerMinuteForIndicator", jsonFloat(r.TokensPerMinuteForIndicator)},
		}
	}
	if p := b.Projection; p != nil {
		o[9].val = jsonObject{
			{"remainingMinutes", jsonInt(p.RemainingMinutes)},
			{"totalCost", jsonFloat(p.TotalCost)},
			{"totalTokens", jsonInt(p.TotalTokens)},
		}
	}
	if s := b.TokenLimitStatus; s != nil {
		o = append(o, member{"tokenLimitStatus", jsonObject{
			{"limit", jsonUint(s.Limit)},
			{"percentUsed", jsonFloat(s.PercentUsed)},
			{"projectedUsage", jsonUint(s.ProjectedUsage)},
			{"status", jsonString(s.Status)},
		}})
	}
	if !b.UsageLimitResetTime.IsZero() {
		o = append(o, member{"usageLimitResetTime", timeNode(b.UsageLimitResetTime)})
	}
	return o
}

func (r *BlocksReport) node() node {
	bs := make(jsonArray, len(r.Blocks))
	for i := range r.Blocks {
		bs[i] = r.Blocks[i].node()
	}
	return jsonObject{{"blocks", bs}}
}

// WriteJSON writes the report exactly as `ccusage blocks --json` prints it.
func (r *BlocksReport) WriteJSON(w io.Writer) error { return writeNode(w, r.node()) }

// MarshalJSON returns the report's ccusage JSON.
func (r BlocksReport) MarshalJSON() ([]byte, error) { return marshalNode(r.node()), nil }
