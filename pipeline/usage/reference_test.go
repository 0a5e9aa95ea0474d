package usage

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// This file checks the claim the package rests on: reports built from 15-minute buckets equal
// reports built entry by entry, as ccusage builds them. The reference functions below follow
// ccusage's algorithms over single entries; random entries crowd the boundaries (slots, hours,
// days in odd time zones, exactly one block length apart). Costs are multiples of 1/8, so float
// sums are exact in any order and are compared exactly.

var refZones = []string{
	"UTC", "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns",
	"Australia/Lord_Howe", "America/Los_Angeles", "Europe/London",
}

// randomEntries returns entries in file order: by path (project, session), then time.
func randomEntries(r *rand.Rand) []Entry {
	base := ms("2025-03-28T00:00:00Z").UnixMilli()
	t := base + r.Int64N(hourMillis)
	var es []Entry
	for range 1 + r.IntN(80) {
		switch r.IntN(8) {
		case 0:
			t += 5 * hourMillis // exactly one block length
		case 1:
			t += 5*hourMillis + 1
		case 2:
			t = (t/hourMillis+1)*hourMillis + r.Int64N(3) - 1 // an hour boundary, ±1ms
		case 3:
			t = (t/slotMillis+1)*slotMillis + r.Int64N(3) - 1 // a slot boundary, ±1ms
		case 4:
			t += r.Int64N(20 * hourMillis)
		default:
			t += r.Int64N(40 * 60000)
		}
		e := Entry{
			Time:     time.UnixMilli(t),
			Project:  []string{"pa", "pa-x", "pb"}[r.IntN(3)],
			Session:  []string{"s1", "s2"}[r.IntN(2)],
			Model:    []string{"m1", "m2", "m3", ""}[r.IntN(4)],
			Input:    r.Int64N(100),
			Output:   r.Int64N(100),
			CostAuto: float64(r.IntN(8)) / 8,
		}
		e.CostCalculate, e.CostDisplay = e.CostAuto*2, 0
		if r.IntN(10) == 0 {
			e.LimitReset = time.UnixMilli(t + r.Int64N(10*hourMillis)).Add(time.Hour)
		}
		es = append(es, e)
	}
	path := func(e Entry) string { return e.Project + "/" + e.Session + ".jsonl" }
	slices.SortStableFunc(es, func(a, b Entry) int {
		return cmp.Or(strings.Compare(path(a), path(b)), a.Time.Compare(b.Time))
	})
	for i := range es {
		es[i].Seq = int64(i)
	}
	return es
}

func TestBucketsEqualEntries(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 3000 {
		es := randomEntries(r)
		var rollup Rollup
		for _, e := range es {
			rollup.Add(e)
		}
		loc, err := time.LoadLocation(refZones[r.IntN(len(refZones))])
		if err != nil {
			t.Fatal(err)
		}
		opts := Options{
			Location:      loc,
			Mode:          CostMode(r.IntN(3)),
			Order:         Order(r.IntN(2)),
			StartOfWeek:   time.Weekday(r.IntN(7)),
			Now:           es[len(es)-1].Time.Add(time.Duration(r.Int64N(6*hourMillis)) * time.Millisecond),
			SessionLength: []time.Duration{0, time.Hour, 90 * time.Minute, 8 * time.Hour}[r.IntN(4)],
		}
		if r.IntN(3) == 0 {
			d := DateOf(es[r.IntN(len(es))].Time, loc)
			opts.Since, opts.Until = d, d.AddDays(r.IntN(3))
		}
		name := fmt.Sprintf("case %d (%s, %+v)", i, loc, opts)
		for _, report := range []string{"daily", "weekly", "session", "blocks"} {
			got, err := reportJSON(report, slices.Collect(rollup.Buckets()), opts)
			if err != nil {
				t.Fatal(err)
			}
			want := refReportJSON(report, es, opts)
			if got != want {
				t.Fatalf("%s: %s report from buckets differs from the entry-level one\n--- got\n%s\n--- want\n%s", name, report, got, want)
			}
		}
	}
}

func reportJSON(report string, buckets []Bucket, opts Options) (string, error) {
	c := reportCase{report: report, opts: opts}
	b, err := c.run(buckets)
	return string(b), err
}

// refReportJSON builds a report entry by entry. Blocks follow ccusage's algorithm in refBlocks.
// The other reports group and order whatever they are given by date, path, time and Seq, which
// the ccusage goldens check; given one bucket per entry they work entry by entry, so comparing
// them with the rolled-up buckets checks that rolling up loses nothing.
func refReportJSON(report string, es []Entry, opts Options) string {
	if report == "blocks" {
		r := refBlocks(es, opts)
		return string(render(r.node()))
	}
	buckets := make([]Bucket, len(es))
	for i, e := range es {
		buckets[i] = NewBucket(e)
	}
	b, err := reportJSON(report, buckets, opts)
	if err != nil {
		return err.Error()
	}
	return b
}

// refBlocks is ccusage's identify_session_blocks over single entries (es in file order).
func refBlocks(es []Entry, opts Options) BlocksReport {
	length := opts.sessionLength().Milliseconds()
	now := opts.now().UnixMilli()
	sorted := slices.Clone(es)
	slices.SortStableFunc(sorted, func(a, b Entry) int { return cmp.Compare(a.Time.UnixMilli(), b.Time.UnixMilli()) })
	var blocks []Block
	var cur []Entry
	var start int64
	flush := func() {
		first, last := cur[0].Time.UnixMilli(), cur[len(cur)-1].Time.UnixMilli()
		b := Block{
			StartTime:     time.UnixMilli(start).UTC(),
			EndTime:       time.UnixMilli(start + length).UTC(),
			ActualEndTime: time.UnixMilli(last).UTC(),
			IsActive:      now-last < length && now < start+length,
			Models:        []string{},
			first:         time.UnixMilli(first).UTC(),
		}
		b.ID = b.StartTime.Format(idLayout)
		for _, e := range cur {
			b.Entries++
			b.TokenCounts.InputTokens += e.Input
			b.TokenCounts.OutputTokens += e.Output
			b.TokenCounts.CacheCreationInputTokens += e.CacheCreation
			b.TokenCounts.CacheReadInputTokens += e.CacheRead
			one := NewBucket(e)
			b.CostUSD += one.Cost(opts.Mode)
			if e.Model != "" && !slices.Contains(b.Models, e.Model) {
				b.Models = append(b.Models, e.Model)
			}
			if b.UsageLimitResetTime.IsZero() && !e.LimitReset.IsZero() {
				b.UsageLimitResetTime = msTime(e.LimitReset)
			}
		}
		t := b.TokenCounts
		b.TotalTokens = t.InputTokens + t.OutputTokens + t.CacheCreationInputTokens + t.CacheReadInputTokens
		blocks = append(blocks, b)
	}
	for _, e := range sorted {
		t := e.Time.UnixMilli()
		if len(cur) > 0 {
			last := cur[len(cur)-1].Time.UnixMilli()
			if t-start > length || t-last > length {
				flush()
				if t-last > length {
					blocks = append(blocks, gapBlock(last+length, t))
				}
				cur = nil
			}
		}
		if len(cur) == 0 {
			start = floorDiv(t, hourMillis) * hourMillis
		}
		cur = append(cur, e)
	}
	if len(cur) > 0 {
		flush()
	}
	if !opts.Since.IsZero() || !opts.Until.IsZero() {
		blocks = slices.DeleteFunc(blocks, func(b Block) bool { return !opts.inRange(DateOf(b.StartTime, opts.location())) })
	}
	slices.SortStableFunc(blocks, func(a, b Block) int { return a.StartTime.Compare(b.StartTime) })
	if opts.Order == OrderDesc {
		slices.Reverse(blocks)
	}
	for i := range blocks {
		if blocks[i].IsActive {
			blocks[i].BurnRate = burnRate(&blocks[i])
			blocks[i].Projection = projection(&blocks[i], now)
		}
	}
	if blocks == nil {
		blocks = []Block{}
	}
	return BlocksReport{Blocks: blocks}
}
