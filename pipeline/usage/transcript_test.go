package usage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// This file turns Claude Code transcripts into entries the way ccusage 20.0.24 does, so that the
// reports of this package can be compared with the real tool's. It is test code: Hangar's own
// capture path is elsewhere.

// price is a per-token price list (LiteLLM's, as ccusage embeds it).
type price struct{ input, output, cacheWrite, cacheWrite1h, cacheRead float64 }

var prices = map[string]price{
	"claude-sonnet-4-20250514":  {3e-6, 1.5e-5, 3.75e-6, 6e-6, 3e-7},
	"claude-opus-4-20250514":    {1.5e-5, 7.5e-5, 1.875e-5, 3e-5, 1.5e-6},
	"claude-3-5-haiku-20241022": {8e-7, 4e-6, 1e-6, 1.6e-6, 8e-8},
}

// calculate prices tokens as ccusage does, summing left to right; cw1h are the 1-hour cache
// writes among cw (no token type of the test data passes LiteLLM's 200k-token tier).
func calculate(model string, in, out, cw, cw1h, cr int64) float64 {
	p := prices[model]
	c := float64(in)*p.input + float64(out)*p.output + float64(cw)*p.cacheWrite + float64(cr)*p.cacheRead
	if cw1h > 0 {
		c += float64(cw1h) * (p.cacheWrite1h - p.cacheWrite)
	}
	return c
}

// salted turns a project folder into an opaque key, as Hangar stores projects.
func salted(folder string) string {
	h := sha256.Sum256([]byte("test-salt\x00" + folder))
	return "p" + hex.EncodeToString(h[:8])
}

// transcripts is what loadTranscripts read: entries in ccusage's order and the project names.
type transcripts struct {
	entries []Entry
	names   map[string]string // salted key → folder
}

func (tr *transcripts) projectName(key string) string { return tr.names[key] }

// dedupKey is ccusage's: message.id and requestId, or message.id and the session when the line
// has no requestId.
type dedupKey struct {
	msg, req   string
	sessionKey string
}

type loaded struct {
	e         Entry
	sidechain bool
}

var semverPrefix = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]`)

// nonNullable are the fields whose null value makes ccusage skip a line.
var nonNullable = []string{
	"message.id", "cwd", "message.model", "message.usage.speed", "costUSD", "version", "sessionId",
	"requestId", "isApiErrorMessage", "message.usage.cache_read_input_tokens",
	"message.usage.cache_creation_input_tokens",
}

// loadTranscripts reads root/projects/**/*.jsonl as ccusage does: files in path order, lines in
// file order; a line counts when it holds `"usage":{`, parses, has a timestamp, input and output
// token counts and no invalid field (its type is not checked); copies of one (message.id,
// requestId, session) are merged into the one with the most tokens, non-sidechain first.
func loadTranscripts(t testing.TB, root string) *transcripts {
	t.Helper()
	projects := filepath.Join(root, "projects")
	var paths []string
	err := filepath.WalkDir(projects, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".jsonl") {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		t.Fatalf("walk transcripts: %v", err)
	}
	slices.Sort(paths)
	tr := &transcripts{names: map[string]string{}}
	var out []loaded
	index := map[dedupKey]int{}
	for _, p := range paths {
		rel, _ := filepath.Rel(projects, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) < 2 {
			continue
		}
		folder := parts[0]
		session := strings.TrimSuffix(parts[1], ".jsonl")
		project := salted(folder)
		tr.names[project] = folder
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read transcript: %v", err)
		}
		for n, line := range bytes.Split(data, []byte("\n")) {
			l, key, ok := parseLine(line, project, session)
			if !ok {
				continue
			}
			l.e.Seq = int64(n)
			if key == nil {
				out = append(out, l)
				continue
			}
			if i, dup := index[*key]; dup {
				if replaces(l, out[i]) {
					l.e.Seq = out[i].e.Seq // the survivor keeps the first copy's place
					out[i] = l
				}
				continue
			}
			index[*key] = len(out)
			out = append(out, l)
		}
	}
	for _, l := range out {
		tr.entries = append(tr.entries, l.e)
	}
	return tr
}

// replaces is ccusage's rule for which copy of a message survives.
func replaces(candidate, existing loaded) bool {
	if candidate.sidechain != existing.sidechain {
		return existing.sidechain
	}
	return candidate.e.Tokens() > existing.e.Tokens()
}

func parseLine(line []byte, project, session string) (loaded, *dedupKey, bool) {
	if !bytes.Contains(line, []byte(`"usage":{`)) || !gjson.ValidBytes(line) {
		return loaded{}, nil, false
	}
	v := gjson.ParseBytes(line)
	for _, f := range nonNullable {
		if r := v.Get(f); r.Exists() && r.Type == gjson.Null {
			return loaded{}, nil, false
		}
	}
	ts, err := time.Parse(time.RFC3339Nano, v.Get("timestamp").String())
	if err != nil {
		return loaded{}, nil, false
	}
	u := v.Get("message.usage")
	if !u.IsObject() || !u.Get("input_tokens").Exists() || !u.Get("output_tokens").Exists() {
		return loaded{}, nil, false
	}
	if r := v.Get("version"); r.Exists() && !semverPrefix.MatchString(r.String()) {
		return loaded{}, nil, false
	}
	for _, f := range []string{"sessionId", "requestId", "message.id", "message.model"} {
		if r := v.Get(f); r.Exists() && r.String() == "" {
			return loaded{}, nil, false
		}
	}
	model := v.Get("message.model").String()
	if model == "<synthetic>" {
		model = ""
	} else if model != "" && u.Get("speed").String() == "fast" {
		model += "-fast"
	}
	e := Entry{
		Time:      ts,
		Session:   session,
		Project:   project,
		Model:     model,
		Input:     u.Get("input_tokens").Int(),
		Output:    u.Get("output_tokens").Int(),
		CacheRead: u.Get("cache_read_input_tokens").Int(),
	}
	var oneHour int64
	if cc := u.Get("cache_creation"); cc.IsObject() {
		oneHour = cc.Get("ephemeral_1h_input_tokens").Int()
		e.CacheCreation = cc.Get("ephemeral_5m_input_tokens").Int() + oneHour
	} else {
		e.CacheCreation = u.Get("cache_creation_input_tokens").Int()
	}
	e.CostCalculate = calculate(v.Get("message.model").String(), e.Input, e.Output, e.CacheCreation, oneHour, e.CacheRead)
	e.CostAuto = e.CostCalculate
	if c := v.Get("costUSD"); c.Exists() {
		e.CostAuto, e.CostDisplay = c.Float(), c.Float()
	}
	if v.Get("isApiErrorMessage").Bool() {
		const marker = "Claude AI usage limit reached"
		if i := bytes.Index(line, []byte(marker)); i >= 0 {
			if j := bytes.IndexByte(line[i:], '|'); j >= 0 {
				digits := line[i+j+1:]
				k := 0
				for k < len(digits) && digits[k] >= '0' && digits[k] <= '9' {
					k++
				}
				if s, err := strconv.ParseInt(string(digits[:k]), 10, 64); err == nil && s > 0 {
					e.LimitReset = time.Unix(s, 0)
				}
			}
		}
	}
	l := loaded{e: e, sidechain: v.Get("isSidechain").Bool()}
	id := v.Get("message.id")
	if !id.Exists() {
		return l, nil, true
	}
	if req := v.Get("requestId"); req.Exists() {
		return l, &dedupKey{msg: id.String(), req: req.String()}, true
	}
	sessionKey := session
	if s := v.Get("sessionId"); s.Exists() {
		sessionKey = s.String()
	}
	return l, &dedupKey{msg: id.String(), sessionKey: sessionKey}, true
}
