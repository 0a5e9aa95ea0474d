package pricing

// This file checks the package against ccusage 20.0.24 itself: it reads Claude Code transcripts
// the way ccusage reads them (transcriptEntries below is a faithful, test-only port of ccusage's
// Claude loader), prices each deduplicated request with Default() in Auto mode, aggregates like
// `ccusage claude daily|session --offline --json -z UTC`, and compares with what ccusage printed.

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// realTranscripts is ../shared/fixtures/claude-code, laid out like ~/.claude.
const realTranscripts = "../../../shared/fixtures/claude-code"

// costTolerance is how far a cost may be from ccusage's, in USD.
const costTolerance = 1e-6

// transcriptEntry is one usage entry of a transcript, as ccusage's loader keeps it.
type transcriptEntry struct {
	file      string // path relative to projects/
	time      time.Time
	model     string // message.model; "" when absent
	messageID *string
	requestID *string
	sidechain bool
	usage     Usage
	speedSet  bool // usage.speed present
	costUSD   float64
	hasCost   bool
	cost      float64 // computed in Auto mode
}

// label is the model name ccusage reports the entry under; "" for none (no model, <synthetic>).
func (e transcriptEntry) label() string {
	if e.model == "" || e.model == "<synthetic>" {
		return ""
	}
	if e.usage.Fast { // always appended: claude-opus-5-fast at fast speed is claude-opus-5-fast-fast
		return e.model + "-fast"
	}
	return e.model
}

func (e transcriptEntry) tokens() int64 {
	u := e.usage
	return u.Input + u.Output + u.CacheCreation5m + u.CacheCreation1h + u.CacheRead
}

// transcriptEntries loads every *.jsonl below root/projects as ccusage 20.0.24 does and returns the
// deduplicated entries. daily selects the loader of the daily report, which also reads subagent
// progress lines and breaks dedup ties on cost; the other reports (session, monthly, weekly) use
// the general loader.
func transcriptEntries(t *testing.T, root string, daily bool) []transcriptEntry {
	t.Helper()
	projects := filepath.Join(root, "projects")
	var files []string
	err := filepath.WalkDir(projects, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".jsonl") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", projects, err)
	}
	sort.Strings(files) // ccusage sorts by full path
	var all []transcriptEntry
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read transcript: %v", err)
		}
		rel, _ := filepath.Rel(projects, path)
		for _, line := range bytes.Split(data, []byte("\n")) {
			all = append(all, lineEntries(rel, line, daily)...)
		}
	}
	return dedup(all, daily)
}

// lineEntries returns the usage entries of one transcript line: none, the line's own, and one per
// advisor iteration.
func lineEntries(file string, line []byte, daily bool) []transcriptEntry {
	if !bytes.Contains(line, []byte(`"usage":{`)) || hasUnsupportedNull(line) || !gjson.ValidBytes(line) {
		return nil
	}
	doc := gjson.ParseBytes(line)
	if !doc.IsObject() {
		return nil
	}
	e, ok := directEntry(doc)
	if !ok && daily {
		e, ok = agentProgressEntry(doc)
	}
	if !ok {
		return nil
	}
	e.file = file
	e.cost, _ = Default().EntryCost(Auto, e.model, e.usage, e.costUSD, e.hasCost)
	out := []transcriptEntry{e}
	if bytes.Contains(line, []byte(`"advisor_message"`)) {
		for i, it := range doc.Get("message.usage.iterations").Array() {
			model := it.Get("model")
			if it.Get("type").String() != "advisor_message" || model.Type != gjson.String || model.Str == "" {
				continue
			}
			u, _, ok := usageOf(it)
			if !ok {
				return out // ccusage drops all advisors when one does not decode
			}
			a := e
			a.model, a.usage, a.hasCost, a.costUSD, a.speedSet = model.Str, u, false, 0, it.Get("speed").Exists()
			if e.messageID != nil {
				id := *e.messageID + ":advisor:" + strconv.Itoa(i)
				a.messageID = &id
			}
			a.cost, _ = Default().EntryCost(Auto, a.model, a.usage, 0, false)
			out = append(out, a)
		}
	}
	return out
}

// directEntry decodes a line whose top level is the entry: timestamp, message{usage,model,id},
// sessionId, version, requestId, costUSD, isSidechain.
func directEntry(doc gjson.Result) (transcriptEntry, bool) {
	for _, f := range []struct {
		path string
		typ  gjson.Type
	}{{"sessionId", gjson.String}, {"version", gjson.String}} {
		if v := doc.Get(f.path); v.Exists() && v.Type != f.typ {
			return transcriptEntry{}, false
		}
	}
	e, ok := entryAt(doc, doc.Get("message"))
	if !ok {
		return e, false
	}
	if v := doc.Get("version"); v.Exists() && !semverPrefix(v.Str) {
		return e, false
	}
	if v := doc.Get("sessionId"); v.Exists() && v.Str == "" {
		return e, false
	}
	if v := doc.Get("isApiErrorMessage"); v.Exists() && !isBool(v) && v.Type != gjson.Null {
		return e, false
	}
	return e, true
}

// agentProgressEntry decodes a subagent progress line: data.message holds the entry.
func agentProgressEntry(doc gjson.Result) (transcriptEntry, bool) {
	m := doc.Get("data.message")
	if !m.IsObject() {
		return transcriptEntry{}, false
	}
	return entryAt(m, m.Get("message"))
}

// entryAt decodes the fields ccusage reads from an entry object and its message object, with
// serde's types: a field of the wrong type makes the whole line undecodable.
func entryAt(entry, message gjson.Result) (transcriptEntry, bool) {
	var e transcriptEntry
	ts := entry.Get("timestamp")
	if ts.Type != gjson.String || !message.IsObject() {
		return e, false
	}
	u, speedSet, ok := usageOf(message.Get("usage"))
	if !ok {
		return e, false
	}
	e.usage, e.speedSet = u, speedSet
	optStr := func(r gjson.Result) (*string, bool) {
		switch r.Type {
		case gjson.Null:
			return nil, true // absent (an explicit null of these fields was refused earlier)
		case gjson.String:
			s := r.Str
			return &s, true
		}
		return nil, false
	}
	model, ok1 := optStr(message.Get("model"))
	id, ok2 := optStr(message.Get("id"))
	req, ok3 := optStr(entry.Get("requestId"))
	if !ok1 || !ok2 || !ok3 {
		return e, false
	}
	if c := entry.Get("costUSD"); c.Exists() {
		if c.Type != gjson.Number {
			return e, false
		}
		e.costUSD, e.hasCost = c.Num, true
	}
	if s := entry.Get("isSidechain"); s.Exists() && s.Type != gjson.Null {
		if !isBool(s) {
			return e, false
		}
		e.sidechain = s.Bool()
	}
	tm, err := time.Parse(time.RFC3339Nano, ts.Str)
	if err != nil {
		return e, false
	}
	e.time = tm
	// Present-but-empty identifiers make the entry invalid.
	if (model != nil && *model == "") || (id != nil && *id == "") || (req != nil && *req == "") {
		return e, false
	}
	if model != nil {
		e.model = *model
	}
	e.messageID, e.requestID = id, req
	return e, true
}

// usageOf decodes message.usage: input_tokens and output_tokens required, cache counts optional,
// all unsigned integers; speed "standard" or "fast"; cache_creation an optional breakdown.
func usageOf(u gjson.Result) (Usage, bool, bool) {
	if !u.IsObject() {
		return Usage{}, false, false
	}
	count := func(path string, required bool) (int64, bool) {
		v := u.Get(path)
		if !v.Exists() {
			return 0, !required
		}
		return unsigned(v)
	}
	in, ok1 := count("input_tokens", true)
	out, ok2 := count("output_tokens", true)
	cc, ok3 := count("cache_creation_input_tokens", false)
	cr, ok4 := count("cache_read_input_tokens", false)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return Usage{}, false, false
	}
	res := Usage{Input: in, Output: out, CacheRead: cr, CacheCreation5m: cc}
	speed := u.Get("speed")
	switch {
	case !speed.Exists():
	case speed.Type == gjson.String && speed.Str == "fast":
		res.Fast = true
	case speed.Type == gjson.String && speed.Str == "standard":
	default:
		return Usage{}, false, false
	}
	if b := u.Get("cache_creation"); b.Exists() && b.Type != gjson.Null {
		if !b.IsObject() {
			return Usage{}, false, false
		}
		var ok5, ok6 bool
		res.CacheCreation5m, ok5 = unsignedOr0(b.Get("ephemeral_5m_input_tokens"))
		res.CacheCreation1h, ok6 = unsignedOr0(b.Get("ephemeral_1h_input_tokens"))
		if !ok5 || !ok6 {
			return Usage{}, false, false
		}
	}
	return res, speed.Exists(), true
}

func unsigned(v gjson.Result) (int64, bool) {
	if v.Type != gjson.Number || v.Raw == "" || strings.Trim(v.Raw, "0123456789") != "" {
		return 0, false
	}
	return v.Int(), true
}

func unsignedOr0(v gjson.Result) (int64, bool) {
	if !v.Exists() {
		return 0, true
	}
	return unsigned(v)
}

func isBool(v gjson.Result) bool { return v.Type == gjson.True || v.Type == gjson.False }

// semverPrefix reports whether v starts with digits.digits.digit.
func semverPrefix(v string) bool {
	i := 0
	for k := 0; k < 2; k++ {
		start := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == start || i >= len(v) || v[i] != '.' {
			return false
		}
		i++
	}
	return i < len(v) && v[i] >= '0' && v[i] <= '9'
}

// hasUnsupportedNull reports a line where one of the fields ccusage's schema refuses to see as null
// is null anywhere in the line, nested objects included: `"<field>"`, optional whitespace, ':',
// optional whitespace, `null`.
func hasUnsupportedNull(line []byte) bool {
	fields := map[string]bool{"id": true, "cwd": true, "model": true, "speed": true, "costUSD": true,
		"version": true, "sessionId": true, "requestId": true, "isApiErrorMessage": true,
		"cache_read_input_tokens": true, "cache_creation_input_tokens": true}
	const ws = " \t\r\n"
	for off := 0; ; {
		i := bytes.Index(line[off:], []byte("null"))
		if i < 0 {
			return false
		}
		i += off
		off = i + len("null")
		before, ok := bytes.CutSuffix(bytes.TrimRight(line[:i], ws), []byte(":"))
		if !ok {
			continue
		}
		before, ok = bytes.CutSuffix(bytes.TrimRight(before, ws), []byte(`"`))
		if !ok {
			continue
		}
		if start := bytes.LastIndexByte(before, '"'); start >= 0 && fields[string(before[start+1:])] {
			return true
		}
	}
}

// dedup keeps one entry per (message.id, requestId), ccusage's way: entries without a message id
// are all kept; an entry with the message id of a kept one but another request id is a duplicate
// too when either is a sidechain entry (isSidechain: true) and, outside the daily report, both have
// the same timestamp (to the millisecond); of two duplicates, the non-sidechain one wins, then the
// one with more tokens, then (daily only) the costlier one, then the one with usage.speed; otherwise
// the first one read stays. A replacement takes the kept entry's place in the order.
func dedup(entries []transcriptEntry, daily bool) []transcriptEntry {
	var kept []transcriptEntry
	exact := map[[2]string][]int{}
	byMessage := map[string][]int{}
	key := func(e transcriptEntry) [2]string {
		req := "\x00none"
		if e.requestID != nil {
			req = *e.requestID
		}
		return [2]string{*e.messageID, req}
	}
	for _, e := range entries {
		if e.messageID == nil {
			kept = append(kept, e)
			continue
		}
		k := key(e)
		found := -1
		for _, i := range exact[k] {
			if key(kept[i]) == k {
				found = i
				break
			}
		}
		if found < 0 {
			for _, i := range byMessage[*e.messageID] {
				if *kept[i].messageID == *e.messageID && (e.sidechain || kept[i].sidechain) &&
					(daily || kept[i].time.UnixMilli() == e.time.UnixMilli()) {
					found = i
					break
				}
			}
		}
		if found >= 0 {
			if replaces(e, kept[found], daily) {
				kept[found] = e
				if !daily {
					exact[k] = appendUnique(exact[k], found)
				}
			}
			continue
		}
		kept = append(kept, e)
		exact[k] = appendUnique(exact[k], len(kept)-1)
		byMessage[*e.messageID] = appendUnique(byMessage[*e.messageID], len(kept)-1)
	}
	return kept
}

func appendUnique(s []int, i int) []int {
	for _, x := range s {
		if x == i {
			return s
		}
	}
	return append(s, i)
}

func replaces(candidate, existing transcriptEntry, daily bool) bool {
	if candidate.sidechain != existing.sidechain {
		return existing.sidechain
	}
	if a, b := candidate.tokens(), existing.tokens(); a != b {
		return a > b
	}
	if daily && candidate.cost != existing.cost {
		return candidate.cost > existing.cost
	}
	return candidate.speedSet && !existing.speedSet
}

// report mirrors the JSON of a ccusage daily or session report (the fields compared here).
type report struct {
	Daily    []group `json:"daily"`
	Sessions []group `json:"sessions"`
	Totals   *group  `json:"totals"`
}

type group struct {
	Date      string `json:"date"`
	SessionID string `json:"sessionId"`
	counts
	TotalCost       float64     `json:"totalCost"`
	ModelBreakdowns []breakdown `json:"modelBreakdowns"`
}

type breakdown struct {
	ModelName string `json:"modelName"`
	counts
	Cost float64 `json:"cost"`
}

type counts struct {
	InputTokens         int64 `json:"inputTokens"`
	OutputTokens        int64 `json:"outputTokens"`
	CacheCreationTokens int64 `json:"cacheCreationTokens"`
	CacheReadTokens     int64 `json:"cacheReadTokens"`
}

func (c *counts) add(u Usage) {
	c.InputTokens += u.Input
	c.OutputTokens += u.Output
	c.CacheCreationTokens += u.CacheCreation5m + u.CacheCreation1h
	c.CacheReadTokens += u.CacheRead
}

// aggregate groups entries by keyOf (the UTC date, or the session) like ccusage's reports.
func aggregate(entries []transcriptEntry, keyOf func(transcriptEntry) string) (map[string]*group, group) {
	groups := map[string]*group{}
	var totals group
	for _, e := range entries {
		k := keyOf(e)
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
		}
		g.add(e.usage)
		g.TotalCost += e.cost
		totals.add(e.usage)
		totals.TotalCost += e.cost
		label := e.label()
		if label == "" {
			continue
		}
		i := 0
		for i < len(g.ModelBreakdowns) && g.ModelBreakdowns[i].ModelName != label {
			i++
		}
		if i == len(g.ModelBreakdowns) {
			g.ModelBreakdowns = append(g.ModelBreakdowns, breakdown{ModelName: label})
		}
		g.ModelBreakdowns[i].add(e.usage)
		g.ModelBreakdowns[i].Cost += e.cost
	}
	return groups, totals
}

func utcDate(e transcriptEntry) string { return e.time.UTC().Format(time.DateOnly) }

// sessionOf is ccusage's session id of a file: projects/<project>/<session>.jsonl, or the directory
// below the project for nested files.
func sessionOf(e transcriptEntry) string {
	parts := strings.Split(filepath.ToSlash(e.file), "/")
	if len(parts) == 2 {
		return strings.TrimSuffix(parts[1], ".jsonl")
	}
	return parts[1]
}

func readReport(t *testing.T, path string) report {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read expected report: %v", err)
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return r
}

// compareGroups checks got against ccusage's groups: token counts exactly, costs within tolerance.
func compareGroups(t *testing.T, want []group, keyOf func(group) string, got map[string]*group) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d groups, ccusage has %d", len(got), len(want))
	}
	for _, w := range want {
		k := keyOf(w)
		g := got[k]
		if g == nil {
			t.Errorf("%s: missing", k)
			continue
		}
		if g.counts != w.counts {
			t.Errorf("%s: tokens %+v, ccusage %+v", k, g.counts, w.counts)
		}
		if math.Abs(g.TotalCost-w.TotalCost) > costTolerance {
			t.Errorf("%s: totalCost %.10f, ccusage %.10f", k, g.TotalCost, w.TotalCost)
		}
		if len(g.ModelBreakdowns) != len(w.ModelBreakdowns) {
			t.Errorf("%s: %d model breakdowns, ccusage %d", k, len(g.ModelBreakdowns), len(w.ModelBreakdowns))
		}
		for _, wb := range w.ModelBreakdowns {
			var gb *breakdown
			for i := range g.ModelBreakdowns {
				if g.ModelBreakdowns[i].ModelName == wb.ModelName {
					gb = &g.ModelBreakdowns[i]
				}
			}
			if gb == nil {
				t.Errorf("%s/%s: missing model", k, wb.ModelName)
				continue
			}
			if gb.counts != wb.counts {
				t.Errorf("%s/%s: tokens %+v, ccusage %+v", k, wb.ModelName, gb.counts, wb.counts)
			}
			if math.Abs(gb.Cost-wb.Cost) > costTolerance {
				t.Errorf("%s/%s: cost %.10f, ccusage %.10f", k, wb.ModelName, gb.Cost, wb.Cost)
			}
		}
	}
}

func compareTotals(t *testing.T, got, want group) {
	t.Helper()
	if got.counts != want.counts {
		t.Errorf("totals: tokens %+v, ccusage %+v", got.counts, want.counts)
	}
	if math.Abs(got.TotalCost-want.TotalCost) > costTolerance {
		t.Errorf("totals: cost %.10f, ccusage %.10f", got.TotalCost, want.TotalCost)
	}
}

// TestRealTranscriptsMatchCcusage is the decisive test: four real Claude Code transcripts, priced
// here, against `ccusage claude daily|session --offline --json -z UTC` (ccusage 20.0.24).
func TestRealTranscriptsMatchCcusage(t *testing.T) {
	expected := filepath.Join(realTranscripts, "expected")
	t.Run("daily", func(t *testing.T) {
		want := readReport(t, filepath.Join(expected, "ccusage-daily.json"))
		groups, totals := aggregate(transcriptEntries(t, realTranscripts, true), utcDate)
		compareGroups(t, want.Daily, func(g group) string { return g.Date }, groups)
		compareTotals(t, totals, *want.Totals)
	})
	t.Run("session", func(t *testing.T) {
		want := readReport(t, filepath.Join(expected, "ccusage-session.json"))
		groups, totals := aggregate(transcriptEntries(t, realTranscripts, false), sessionOf)
		compareGroups(t, want.Sessions, func(g group) string { return g.SessionID }, groups)
		compareTotals(t, totals, *want.Totals)
	})
}
