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

// ModelBreakdown is one model's share of a report row (ccusage's modelBreakdowns element).
type ModelBreakdown struct {
	ModelName                                                       string
	InputTokens, OutputTokens, CacheCreationTokens, CacheReadTokens int64
	Cost                                                            float64
}

// Usage is what every daily, weekly, monthly and session row carries.
//
// ModelsUsed lists the models in the order ccusage first meets them: ccusage reads transcripts in
// path order (projects/<project>/<session>.jsonl) and lines in file order, so models are ordered
// by project name, then session, then the time of their first entry. ModelBreakdowns has one
// element per model, by cost (highest first), ties in ModelsUsed order.
type Usage struct {
	InputTokens, OutputTokens, CacheCreationTokens, CacheReadTokens, TotalTokens int64
	TotalCost                                                                    float64
	ModelsUsed                                                                   []string
	ModelBreakdowns                                                              []ModelBreakdown
}

// Totals sums a report's rows (ccusage's totals object).
type Totals struct {
	InputTokens, OutputTokens, CacheCreationTokens, CacheReadTokens, TotalTokens int64
	TotalCost                                                                    float64
}

// DailyRow is one day of a [DailyReport].
type DailyRow struct {
	// Date is the day in the report's time zone, "2006-01-02".
	Date string
	// Project is the project's name ([Options.ProjectName]) when the report is by project
	// (Options.Instances or Options.Project); "" otherwise.
	Project string
	Usage
}

// DailyReport is ccusage's `daily --json`.
type DailyReport struct {
	// Daily is sorted by date, then project.
	Daily []DailyRow
	// Instances is Options.Instances: the JSON then groups rows by project, as
	// {"projects": {name: [rows]}, "totals": ...}, unless there are no rows.
	Instances bool
	Totals    Totals
}

// WeeklyRow is one week of a [WeeklyReport].
type WeeklyRow struct {
	// Week is the date of the week's first day, "2006-01-02".
	Week string
	Usage
}

// WeeklyReport is ccusage's `weekly --json`.
type WeeklyReport struct {
	Weekly []WeeklyRow
	Totals Totals
}

// MonthlyRow is one month of a [MonthlyReport].
type MonthlyRow struct {
	// Month is "2006-01".
	Month string
	Usage
}

// MonthlyReport is ccusage's `monthly --json`.
type MonthlyReport struct {
	Monthly []MonthlyRow
	Totals  Totals
}

// item is a bucket as a report sees it.
type item struct {
	b    Bucket
	slot int64
	date Date
	// path orders buckets as ccusage orders transcript files: "<project name>/<session>.jsonl".
	path string
	cost float64
}

// collect reads the buckets that pass the project filter and, when inRange, the date range.
func collect(buckets iter.Seq[Bucket], opts *Options, inRange bool) []item {
	loc := opts.location()
	var items []item
	for b := range buckets {
		if opts.Project != "" && b.Key.Project != opts.Project {
			continue
		}
		it := item{
			b:    b,
			slot: b.Key.slot(),
			date: DateOf(b.Key.Start, loc),
			path: opts.projectName(b.Key.Project) + "/" + b.Key.Session + ".jsonl",
			cost: b.Cost(opts.Mode),
		}
		if inRange && !opts.inRange(it.date) {
			continue
		}
		items = append(items, it)
	}
	return items
}

// sortFileOrder sorts items in the order ccusage meets their entries: by transcript path, then
// time, then Entry.Seq; items equal in all keep their order. It sorts indexes, not the items
// themselves (a Bucket is large), and breaks ties by index rather than with a stable sort.
func sortFileOrder(items []item) {
	order := make([]int, len(items))
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(x, y int) int {
		a, b := &items[x], &items[y]
		return cmp.Or(
			strings.Compare(a.path, b.path),
			cmp.Compare(a.slot, b.slot),
			a.b.First.Compare(b.b.First),
			cmp.Compare(a.b.FirstSeq, b.b.FirstSeq),
			strings.Compare(a.b.Key.Model, b.b.Key.Model),
			cmp.Compare(x, y),
		)
	})
	sorted := make([]item, len(items))
	for k, i := range order {
		sorted[k] = items[i]
	}
	copy(items, sorted)
}

// usageAcc sums items into a Usage; items must come in file order.
type usageAcc struct {
	in, out, cc, cr int64
	cost            float64
	models          []*ModelBreakdown
	byModel         map[string]*ModelBreakdown
}

func (a *usageAcc) add(it *item) {
	b := &it.b
	a.in += b.Input
	a.out += b.Output
	a.cc += b.CacheCreation
	a.cr += b.CacheRead
	a.cost += it.cost
	if b.Key.Model == "" {
		return
	}
	m := a.model(b.Key.Model)
	m.InputTokens += b.Input
	m.OutputTokens += b.Output
	m.CacheCreationTokens += b.CacheCreation
	m.CacheReadTokens += b.CacheRead
	m.Cost += it.cost
}

func (a *usageAcc) model(name string) *ModelBreakdown {
	if m, ok := a.byModel[name]; ok {
		return m
	}
	if a.byModel == nil {
		a.byModel = make(map[string]*ModelBreakdown)
	}
	m := &ModelBreakdown{ModelName: name}
	a.byModel[name] = m
	a.models = append(a.models, m)
	return m
}

func (a *usageAcc) usage() Usage {
	u := Usage{
		InputTokens:         a.in,
		OutputTokens:        a.out,
		CacheCreationTokens: a.cc,
		CacheReadTokens:     a.cr,
		TotalTokens:         a.in + a.out + a.cc + a.cr,
		TotalCost:           a.cost,
		ModelsUsed:          make([]string, len(a.models)),
		ModelBreakdowns:     make([]ModelBreakdown, len(a.models)),
	}
	for i, m := range a.models {
		u.ModelsUsed[i] = m.ModelName
		u.ModelBreakdowns[i] = *m
	}
	sortByCost(u.ModelBreakdowns)
	return u
}

// sortByCost sorts breakdowns by cost, highest first, keeping ties in order, with Rust's
// f64::total_cmp (so +0 sorts before -0).
func sortByCost(bs []ModelBreakdown) {
	slices.SortStableFunc(bs, func(a, b ModelBreakdown) int { return totalCmp(b.Cost, a.Cost) })
}

// totalCmp is Rust's f64::total_cmp.
func totalCmp(a, b float64) int {
	x, y := int64(math.Float64bits(a)), int64(math.Float64bits(b))
	x ^= int64(uint64(x>>63) >> 1)
	y ^= int64(uint64(y>>63) >> 1)
	return cmp.Compare(x, y)
}

// aggregate merges rows as ccusage merges daily rows into a week or month: tokens and costs
// summed in row order, models in order of first appearance, breakdowns merged in the order the
// rows list them and then sorted by cost.
func aggregate(rows []*Usage) Usage {
	var u Usage
	idx := map[string]int{}
	seen := map[string]bool{}
	u.ModelsUsed = []string{}
	u.ModelBreakdowns = []ModelBreakdown{}
	for _, r := range rows {
		u.InputTokens += r.InputTokens
		u.OutputTokens += r.OutputTokens
		u.CacheCreationTokens += r.CacheCreationTokens
		u.CacheReadTokens += r.CacheReadTokens
		u.TotalCost += r.TotalCost
		for _, m := range r.ModelsUsed {
			if !seen[m] {
				seen[m] = true
				u.ModelsUsed = append(u.ModelsUsed, m)
			}
		}
		for _, m := range r.ModelBreakdowns {
			i, ok := idx[m.ModelName]
			if !ok {
				i = len(u.ModelBreakdowns)
				idx[m.ModelName] = i
				u.ModelBreakdowns = append(u.ModelBreakdowns, ModelBreakdown{ModelName: m.ModelName})
			}
			t := &u.ModelBreakdowns[i]
			t.InputTokens += m.InputTokens
			t.OutputTokens += m.OutputTokens
			t.CacheCreationTokens += m.CacheCreationTokens
			t.CacheReadTokens += m.CacheReadTokens
			t.Cost += m.Cost
		}
	}
	u.TotalTokens = u.InputTokens + u.OutputTokens + u.CacheCreationTokens + u.CacheReadTokens
	sortByCost(u.ModelBreakdowns)
	return u
}

// totalsOf sums rows in order. Rust's f64 Sum starts from -0.0, so an empty report's totalCost
// is -0.0.
func totalsOf(rows []*Usage) Totals {
	t := Totals{TotalCost: math.Copysign(0, -1)}
	for _, r := range rows {
		t.InputTokens += r.InputTokens
		t.OutputTokens += r.OutputTokens
		t.CacheCreationTokens += r.CacheCreationTokens
		t.CacheReadTokens += r.CacheReadTokens
		t.TotalCost += r.TotalCost
	}
	t.TotalTokens = t.InputTokens + t.OutputTokens + t.CacheCreationTokens + t.CacheReadTokens
	return t
}

// Daily builds ccusage's daily report: usage per day in opts.Location.
func Daily(buckets iter.Seq[Bucket], opts Options) (DailyReport, error) {
	if err := opts.Validate(); err != nil {
		return DailyReport{}, fmt.Errorf("daily report: %w", err)
	}
	rows := dailyRows(buckets, &opts, opts.Instances || opts.Project != "")
	r := DailyReport{Daily: make([]DailyRow, len(rows)), Instances: opts.Instances}
	us := make([]*Usage, len(rows))
	for i, row := range rows {
		r.Daily[i] = DailyRow{Date: row.date.String(), Project: row.project, Usage: row.usage}
		us[i] = &r.Daily[i].Usage
	}
	r.Totals = totalsOf(us)
	return r, nil
}

type dayRow struct {
	date    Date
	project string
	usage   Usage
}

// dailyRows returns the days in the range, by project when byProject, sorted by date in
// opts.Order and then by project name.
func dailyRows(buckets iter.Seq[Bucket], opts *Options, byProject bool) []dayRow {
	items := collect(buckets, opts, true)
	sortFileOrder(items)
	type key struct {
		date    Date
		project string
	}
	accs := map[key]*usageAcc{}
	for i := range items {
		k := key{date: items[i].date}
		if byProject {
			k.project = opts.projectName(items[i].b.Key.Project)
		}
		a, ok := accs[k]
		if !ok {
			a = &usageAcc{}
			accs[k] = a
		}
		a.add(&items[i])
	}
	rows := make([]dayRow, 0, len(accs))
	for k, a := range accs {
		rows = append(rows, dayRow{date: k.date, project: k.project, usage: a.usage()})
	}
	slices.SortFunc(rows, func(a, b dayRow) int {
		c := cmp.Compare(a.date.String(), b.date.String())
		if opts.Order == OrderDesc {
			c = -c
		}
		return cmp.Or(c, strings.Compare(a.project, b.project))
	})
	return rows
}

// periods groups daily rows (in their order) by key, as ccusage builds weeks and months, and
// returns the keys sorted by opts.Order with their aggregated usage.
func periods(rows []dayRow, opts *Options, key func(Date) string) ([]string, []Usage) {
	groups := map[string][]*Usage{}
	for i := range rows {
		k := key(rows[i].date)
		groups[k] = append(groups[k], &rows[i].usage)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if opts.Order == OrderDesc {
		slices.Reverse(keys)
	}
	us := make([]Usage, len(keys))
	for i, k := range keys {
		us[i] = aggregate(groups[k])
	}
	return keys, us
}

// WeekStart returns the first day of d's week when weeks start on start.
func WeekStart(d Date, start time.Weekday) Date {
	return d.AddDays(-((int(d.Weekday()) - int(start) + 7) % 7))
}

// Weekly builds ccusage's weekly report: usage per week starting on opts.StartOfWeek. The date
// range filters days before they are grouped, so the first and last weeks may be partial.
func Weekly(buckets iter.Seq[Bucket], opts Options) (WeeklyReport, error) {
	if err := opts.Validate(); err != nil {
		return WeeklyReport{}, fmt.Errorf("weekly report: %w", err)
	}
	keys, us := periods(dailyRows(buckets, &opts, false), &opts, func(d Date) string {
		return WeekStart(d, opts.StartOfWeek).String()
	})
	r := WeeklyReport{Weekly: make([]WeeklyRow, len(keys))}
	ps := make([]*Usage, len(keys))
	for i := range keys {
		r.Weekly[i] = WeeklyRow{Week: keys[i], Usage: us[i]}
		ps[i] = &r.Weekly[i].Usage
	}
	r.Totals = totalsOf(ps)
	return r, nil
}

// Monthly builds ccusage's monthly report: usage per calendar month in opts.Location.
func Monthly(buckets iter.Seq[Bucket], opts Options) (MonthlyReport, error) {
	if err := opts.Validate(); err != nil {
		return MonthlyReport{}, fmt.Errorf("monthly report: %w", err)
	}
	keys, us := periods(dailyRows(buckets, &opts, false), &opts, Date.month)
	r := MonthlyReport{Monthly: make([]MonthlyRow, len(keys))}
	ps := make([]*Usage, len(keys))
	for i := range keys {
		r.Monthly[i] = MonthlyRow{Month: keys[i], Usage: us[i]}
		ps[i] = &r.Monthly[i].Usage
	}
	r.Totals = totalsOf(ps)
	return r, nil
}

// JSON.

func (u *Usage) members() jsonObject {
	bs := make(jsonArray, len(u.ModelBreakdowns))
	for i, m := range u.ModelBreakdowns {
		bs[i] = jsonObject{
			{"cacheCreationTokens", jsonInt(m.CacheCreationTokens)},
			{"cacheReadTokens", jsonInt(m.CacheReadTokens)},
			{"cost", jsonFloat(m.Cost)},
			{"inputTokens", jsonInt(m.InputTokens)},
			{"modelName", jsonString(m.ModelName)},
			{"outputTokens", jsonInt(m.OutputTokens)},
		}
	}
	return jsonObject{
		{"cacheCreationTokens", jsonInt(u.CacheCreationTokens)},
		{"cacheReadTokens", jsonInt(u.CacheReadTokens)},
		{"inputTokens", jsonInt(u.InputTokens)},
		{"modelBreakdowns", bs},
		{"modelsUsed", stringsNode(u.ModelsUsed)},
		{"outputTokens", jsonInt(u.OutputTokens)},
		{"totalCost", jsonFloat(u.TotalCost)},
		{"totalTokens", jsonInt(u.TotalTokens)},
	}
}

func (t *Totals) node() node {
	return jsonObject{
		{"cacheCreationTokens", jsonInt(t.CacheCreationTokens)},
		{"cacheReadTokens", jsonInt(t.CacheReadTokens)},
		{"inputTokens", jsonInt(t.InputTokens)},
		{"outputTokens", jsonInt(t.OutputTokens)},
		{"totalCost", jsonFloat(t.TotalCost)},
		{"totalTokens", jsonInt(t.TotalTokens)},
	}
}

func (r *DailyReport) node() node {
	rows := make(jsonArray, len(r.Daily))
	projects := jsonObject{}
	index := map[string]int{}
	for i := range r.Daily {
		d := &r.Daily[i]
		o := append(d.members(), member{"date", jsonString(d.Date)})
		if d.Project != "" {
			o = append(o, member{"project", jsonString(d.Project)})
		}
		rows[i] = o
		j, ok := index[d.Project]
		if !ok {
			j = len(projects)
			index[d.Project] = j
			projects = append(projects, member{d.Project, jsonArray{}})
		}
		projects[j].val = append(projects[j].val.(jsonArray), o)
	}
	if r.Instances && len(rows) > 0 {
		return jsonObject{{"projects", projects}, {"totals", r.Totals.node()}}
	}
	return jsonObject{{"daily", rows}, {"totals", r.Totals.node()}}
}

func (r *WeeklyReport) node() node {
	rows := make(jsonArray, len(r.Weekly))
	for i := range r.Weekly {
		rows[i] = append(r.Weekly[i].members(), member{"week", jsonString(r.Weekly[i].Week)})
	}
	return jsonObject{{"weekly", rows}, {"totals", r.Totals.node()}}
}

func (r *MonthlyReport) node() node {
	rows := make(jsonArray, len(r.Monthly))
	for i := range r.Monthly {
		rows[i] = append(r.Monthly[i].members(), member{"month", jsonString(r.Monthly[i].Month)})
	}
	return jsonObject{{"monthly", rows}, {"totals", r.Totals.node()}}
}

// WriteJSON writes the report exactly as `ccusage daily --json` prints it.
func (r *DailyReport) WriteJSON(w io.Writer) error { return writeNode(w, r.node()) }

// MarshalJSON returns the report's ccusage JSON.
func (r DailyReport) MarshalJSON() ([]byte, error) { return marshalNode(r.node()), nil }

// WriteJSON writes the report exactly as `ccusage weekly --json` prints it.
func (r *WeeklyReport) WriteJSON(w io.Writer) error { return writeNode(w, r.node()) }

// MarshalJSON returns the report's ccusage JSON.
func (r WeeklyReport) MarshalJSON() ([]byte, error) { return marshalNode(r.node()), nil }

// WriteJSON writes the report exactly as `ccusage monthly --json` prints it.
func (r *MonthlyReport) WriteJSON(w io.Writer) error { return writeNode(w, r.node()) }

// MarshalJSON returns the report's ccusage JSON.
func (r MonthlyReport) MarshalJSON() ([]byte, error) { return marshalNode(r.node()), nil }
