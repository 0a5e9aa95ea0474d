package main

// What the read commands (sessions, analyze, metrics, errors, export, derived list) share: the
// filters, the attributes of derived records, the latency sketches' merge and quantiles, usage by
// session and period from the usage rollup, and small renderers. They read derived records and the
// usage rollup only (TestLayering); no enrichment happens here: the numbers are the plugins', summed
// and merged.

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
)

// Derived kinds the read commands show (docs/PLUGINS.md, "Enrich and insight plugins").
const (
	kindSession = "conversation.session"
	kindTurn    = "conversation.turn"
	kindTool    = "conversation.tool"
	kindMetrics = "metrics.1d"
)

// readFilter are the filters every read command takes, as `agent report` has them.
type readFilter struct {
	Since    string `help:"First day to include (YYYY-MM-DD or YYYYMMDD), in the time zone of --timezone."`
	Until    string `help:"Last day to include (YYYY-MM-DD or YYYYMMDD), in the time zone of --timezone."`
	Project  string `help:"Only this project: its display name (agent projects), or its key or the start of it that tables show."`
	Timezone string `short:"z" help:"Time zone of dates, such as UTC or Europe/Paris (default: local)."`
}

// span is a resolved readFilter: [from, to) (zero: open) in loc.
type span struct {
	from, to time.Time
	loc      *time.Location
}

// span resolves the dates of the filter.
func (f *readFilter) span(cmd string) (span, error) {
	s := span{loc: time.Local}
	if f.Timezone != "" {
		loc, err := time.LoadLocation(f.Timezone)
		if err != nil {
			return s, fmt.Errorf("%s: time zone %q: %w", cmd, f.Timezone, err)
		}
		s.loc = loc
	}
	for _, d := range []struct {
		flag, v string
		dst     *time.Time
		days    int
	}{{"since", f.Since, &s.from, 0}, {"until", f.Until, &s.to, 1}} {
		if d.v == "" {
			continue
		}
		date, err := usage.ParseDate(strings.ReplaceAll(d.v, "-", ""))
		if err != nil {
			return s, fmt.Errorf("%s: --%s %q: want YYYY-MM-DD or YYYYMMDD", cmd, d.flag, d.v)
		}
		*d.dst = time.Date(date.Year, date.Month, date.Day+d.days, 0, 0, 0, 0, s.loc)
	}
	if !s.from.IsZero() && !s.to.IsZero() && !s.from.Before(s.to) {
		return s, fmt.Errorf("%s: --since %s is after --until %s", cmd, f.Since, f.Until)
	}
	return s, nil
}

// contains reports whether t is in the span.
func (s span) contains(t time.Time) bool {
	return (s.from.IsZero() || !t.Before(s.from)) && (s.to.IsZero() || t.Before(s.to))
}

// resolveProjectKey finds the project key among keys that a --project value names: the key, the
// start of it that tables show, or its display name.
func resolveProjectKey(keys []string, name string, names projectNames) (string, error) {
	for _, k := range keys {
		if k == name || projectName(k) == name || names[k] == name {
			return k, nil
		}
	}
	return "", fmt.Errorf("no project %q (see `agent projects` for project names)", name)
}

// attrInt returns an int attribute, 0 if absent.
func attrInt(ev *sdk.Event, key string) int64 {
	if v, ok := ev.Attr(key); ok && v.Kind() == sdk.KindInt {
		return v.Int()
	}
	return 0
}

// attrIdent returns an ident attribute, "" if absent.
func attrIdent(ev *sdk.Event, key string) string {
	if v, ok := ev.Attr(key); ok && v.Kind() == sdk.KindIdent {
		return v.Ident()
	}
	return ""
}

// attrBool returns a bool attribute, false if absent.
func attrBool(ev *sdk.Event, key string) bool {
	v, ok := ev.Attr(key)
	return ok && v.Bool()
}

// attrHex returns a hash attribute in hex (an ident one as it is), "" if absent.
func attrHex(ev *sdk.Event, key string) string {
	v, ok := ev.Attr(key)
	switch {
	case !ok:
		return ""
	case v.Kind() == sdk.KindHash:
		return hex.EncodeToString(v.Hash())
	case v.Kind() == sdk.KindIdent:
		return v.Ident()
	}
	return ""
}

// attrMillis returns a time attribute (Unix milliseconds), the zero time if absent.
func attrMillis(ev *sdk.Event, key string) time.Time {
	if ms := attrInt(ev, key); ms != 0 {
		return time.UnixMilli(ms).UTC()
	}
	return time.Time{}
}

// tokens are the four token counts.
type tokens struct {
	Input         int64 `json:"input"`
	Output        int64 `json:"output"`
	CacheCreation int64 `json:"cache_creation"`
	CacheRead     int64 `json:"cache_read"`
}

// total returns the sum of the four counts.
func (t tokens) total() int64 { return t.Input + t.Output + t.CacheCreation + t.CacheRead }

// add adds o to t.
func (t *tokens) add(o tokens) {
	t.Input += o.Input
	t.Output += o.Output
	t.CacheCreation += o.CacheCreation
	t.CacheRead += o.CacheRead
}

// recordTokens returns the token attributes of a derived record.
func recordTokens(ev *sdk.Event) tokens {
	return tokens{attrInt(ev, "input_tokens"), attrInt(ev, "output_tokens"), attrInt(ev, "cache_creation_tokens"), attrInt(ev, "cache_read_tokens")}
}

// spend is usage's tokens and cost (USD, ccusage's auto mode).
type spend struct {
	Tokens tokens  `json:"tokens"`
	Cost   float64 `json:"cost_usd"`
}

// spendOf returns a usage sum's tokens and cost.
func spendOf(u *daemon.UsageSum) spend {
	return spend{Tokens: tokens{u.Input, u.Output, u.CacheCreation, u.CacheRead}, Cost: u.Cost}
}

// spendBySession indexes usage sums grouped by session.
func spendBySession(sums []daemon.UsageSum) map[string]spend {
	out := make(map[string]spend, len(sums))
	for i := range sums {
		out[sums[i].Session] = spendOf(&sums[i])
	}
	return out
}

// warnBehind says on w that an answer misses events the enrich plugins have not read yet.
func warnBehind(w io.Writer, behind uint64) {
	if behind > 0 {
		fmt.Fprintf(w, "warning: the enrich plugins have %s events left to read; this shows what they have read so far\n", humanize.Comma(int64(behind)))
	}
}

// readView reads a kind's view, warning on stderr when it is behind.
func readView(ctx context.Context, g *Globals, cl *daemon.Client, q daemon.ViewQuery) ([]sdk.Event, error) {
	res, err := cl.View(ctx, q)
	if err != nil {
		return nil, err
	}
	warnBehind(g.stderr, res.Behind)
	return res.Records, nil
}

// Latency sketches (docs/PLUGINS.md): index i counts the durations of log-bucket
// ceil(log(ms)/log(1.08)), index 0 those of 0 ms; a quantile is its bucket's representative
// 1.08^i, within 4%.

// latencyBase is the sketches' bucket ratio.
const latencyBase = 1.08

// sketch is a merged latency sketch: counts by index.
type sketch map[uint16]float64

// merge adds a sketch attribute's counts to s.
func (s sketch) merge(ev *sdk.Event, key string) {
	v, ok := ev.Attr(key)
	if !ok || v.Kind() != sdk.KindSketch {
		return
	}
	idx, val := v.Sketch()
	for i := range idx {
		s[idx[i]] += float64(val[i])
	}
}

// add adds o's counts to s.
func (s sketch) add(o sketch) {
	for i, n := range o {
		s[i] += n
	}
}

// quantile returns the q-quantile (0 < q <= 1) of the durations in s, and false if s is empty.
func (s sketch) quantile(q float64) (time.Duration, bool) {
	var total float64
	idx := make([]uint16, 0, len(s))
	for i, n := range s {
		if n > 0 {
			idx = append(idx, i)
			total += n
		}
	}
	if total == 0 {
		return 0, false
	}
	slices.Sort(idx)
	rank := q * total
	var seen float64
	for _, i := range idx {
		if seen += s[i]; seen >= rank {
			return bucketDuration(i), true
		}
	}
	return bucketDuration(idx[len(idx)-1]), true
}

// bucketDuration is the representative duration of a sketch index.
func bucketDuration(i uint16) time.Duration {
	if i == 0 {
		return 0
	}
	return time.Duration(math.Pow(latencyBase, float64(i)) * float64(time.Millisecond))
}

// showDuration formats a duration for a table: 850ms, 12.3s, 4m05s, 2h10m.
func showDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// showQuantile formats a latency quantile, "-" when there is none.
func showQuantile(s sketch, q float64) string {
	d, ok := s.quantile(q)
	if !ok {
		return "-"
	}
	return showDuration(d)
}

// showCost formats dollars.
func showCost(c float64) string { return fmt.Sprintf("$%.2f", c) }

// showRate formats part of whole as a percentage, "-" when whole is 0.
func showRate(part, whole int64) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

// newTable returns a table in the house style (as `agent report`), writing to w, with the columns
// from rightFrom (1-based) on right-aligned, except those in left.
func newTable(w io.Writer, header table.Row, rightFrom int, left ...int) table.Writer {
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetStyle(table.StyleLight)
	t.Style().Format.Footer = text.FormatDefault // a duration in a footer keeps its case
	t.AppendHeader(header)
	var cols []table.ColumnConfig
	for i := rightFrom; i <= len(header); i++ {
		if !slices.Contains(left, i) {
			cols = append(cols, table.ColumnConfig{Number: i, Align: text.AlignRight, AlignFooter: text.AlignRight})
		}
	}
	t.SetColumnConfigs(cols)
	return t
}

// sparkBars are the eighth-blocks of a sparkline, lowest first.
var sparkBars = []rune("▁▂▃▄▅▆▇█")

// sparkline draws values as one line of blocks scaled between 0 and their maximum: a terminal
// trend chart. A zero value is a space when others are not.
func sparkline(values []float64) string {
	var top float64
	for _, v := range values {
		top = max(top, v)
	}
	var b strings.Builder
	for _, v := range values {
		switch {
		case top == 0:
			b.WriteRune(sparkBars[0])
		case v <= 0:
			b.WriteRune(' ')
		default:
			b.WriteRune(sparkBars[min(len(sparkBars)-1, int(v/top*float64(len(sparkBars)-1)+0.5))])
		}
	}
	return b.String()
}

// attrsText shows an event's attributes as key=value pairs, for a table.
func attrsText(ev *sdk.Event, skip ...string) string {
	var parts []string
	for _, a := range ev.Attrs {
		if slices.Contains(skip, a.Key) {
			continue
		}
		v := a.Value.String()
		if a.Value.Kind() == sdk.KindSketch {
			idx, _ := a.Value.Sketch()
			v = fmt.Sprintf("sketch(%d)", len(idx))
		}
		parts = append(parts, a.Key+"="+v)
	}
	return strings.Join(parts, " ")
}

// lineTable draws what newTable draws, for tables whose cells are single lines of printable text:
// go-pretty costs about 10 µs a row, so `agent sessions` over 2,000 sessions spent 20 ms drawing.
// A table with a cell it cannot draw (a control character: a newline, a tab, an escape
// sequence), or no row, is drawn by go-pretty.
type lineTable struct {
	header, footer []string
	rows           [][]string
	rightFrom      int // columns from this one (1-based) on are right-aligned, in rows and footer
}

// newLineTable returns a lineTable of the header's columns, the columns from rightFrom (1-based)
// on right-aligned.
func newLineTable(header []string, rightFrom int) *lineTable {
	return &lineTable{header: header, rightFrom: rightFrom}
}

// appendRow adds a row.
func (t *lineTable) appendRow(cells ...string) { t.rows = append(t.rows, cells) }

// setFooter sets the footer.
func (t *lineTable) setFooter(cells ...string) { t.footer = cells }

// plainCell reports whether s is drawn as it is: no control character.
func plainCell(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return !strings.ContainsRune(s, '\u009b') // the one-rune CSI
}

// render writes the table to w.
func (t *lineTable) render(w io.Writer) {
	header := make([]string, len(t.header))
	for i, h := range t.header {
		header[i] = strings.ToUpper(h)
	}
	all := append(append([][]string{header}, t.rows...), t.footer)
	if len(t.rows) == 0 || len(t.header) == 0 {
		t.renderPretty(w) // go-pretty has its ways with an empty table
		return
	}
	for _, row := range all {
		for _, c := range row {
			if !plainCell(c) {
				t.renderPretty(w)
				return
			}
		}
	}
	widths := make([]int, len(header))
	cellWidths := make([][]int, len(all))
	for r, row := range all {
		cellWidths[r] = make([]int, len(row))
		for i, c := range row {
			n := len(c)
			if !isASCII(c) {
				n = text.StringWidthWithoutEscSequences(c)
			}
			cellWidths[r][i] = n
			widths[i] = max(widths[i], n)
		}
	}
	var b strings.Builder
	lineBytes := 4 // the last bar (3 bytes) and the newline
	for _, n := range widths {
		lineBytes += 3 * (n + 3) // a bar or a rule's runes: 3 bytes each, at most
	}
	b.Grow(lineBytes * (len(all) + 4))
	spaces := strings.Repeat(" ", slices.Max(widths))
	rule := func(left, mid, right string) {
		b.WriteString(left)
		for i, n := range widths {
			if i > 0 {
				b.WriteString(mid)
			}
			b.WriteString(strings.Repeat("─", n+2))
		}
		b.WriteString(right)
		b.WriteByte('\n')
	}
	line := func(r int, alignRight bool) {
		row := all[r]
		for i, n := range widths {
			b.WriteString("│ ")
			c, cw := "", 0
			if i < len(row) {
				c, cw = row[i], cellWidths[r][i]
			}
			pad := spaces[:n-cw]
			if alignRight && i+1 >= t.rightFrom {
				b.WriteString(pad)
				b.WriteString(c)
			} else {
				b.WriteString(c)
				b.WriteString(pad)
			}
			b.WriteByte(' ')
		}
		b.WriteString("│\n")
	}
	rule("┌", "┬", "┐")
	line(0, false)
	rule("├", "┼", "┤")
	for r := 1; r <= len(t.rows); r++ {
		line(r, true)
	}
	if t.footer != nil {
		rule("├", "┼", "┤")
		line(len(all)-1, true)
	}
	rule("└", "┴", "┘")
	io.WriteString(w, b.String())
}

// renderPretty draws the table with go-pretty.
func (t *lineTable) renderPretty(w io.Writer) {
	row := func(cells []string) table.Row {
		r := make(table.Row, len(cells))
		for i, c := range cells {
			r[i] = c
		}
		return r
	}
	pt := newTable(w, row(t.header), t.rightFrom)
	for _, r := range t.rows {
		pt.AppendRow(row(r))
	}
	if t.footer != nil {
		pt.AppendFooter(row(t.footer))
	}
	pt.Render()
}

// isASCII reports whether s is ASCII: one column a byte.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
