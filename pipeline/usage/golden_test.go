package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	update     = flag.Bool("update", false, "rewrite golden files (the ccusage goldens also need -ccusage)")
	ccusageBin = flag.String("ccusage", "", "path to ccusage 20.0.24's binary, used with -update to rewrite testdata/ccusage")
)

// realFixture holds real Claude Code transcripts and ccusage's reports on them.
const realFixture = "../../../shared/fixtures/claude-code"

// fixtureRoots maps the first word of a case's cmd file to a directory laid out like ~/.claude.
var fixtureRoots = map[string]string{
	"real":      realFixture,
	"synthetic": "testdata/transcripts/synthetic",
	"active":    "testdata/transcripts/active",
}

// costTolerance is how far a cost may be from ccusage's. ccusage sums entry costs one by one in
// file order; buckets sum them per 15 minutes first, so the last bits of a float sum can differ.
const costTolerance = 1e-9

// storeRoundTrip rolls entries up the way a store with a merge operator would: every entry
// becomes a one-entry bucket value merged into the value under its encoded key. It returns the
// decoded buckets in key order.
func storeRoundTrip(t testing.TB, entries []Entry) []Bucket {
	t.Helper()
	store := map[string][]byte{}
	for _, e := range entries {
		b := NewBucket(e)
		k := string(b.Key.AppendKey(nil))
		v, err := b.AppendBinary(nil)
		if err != nil {
			t.Fatalf("encode bucket: %v", err)
		}
		if old, ok := store[k]; ok {
			if v, err = MergeBinary(nil, old, v); err != nil {
				t.Fatalf("merge bucket: %v", err)
			}
		}
		store[k] = v
	}
	keys := make([]string, 0, len(store))
	for k := range store {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]Bucket, 0, len(keys))
	for _, k := range keys {
		key, err := ParseBucketKey([]byte(k))
		if err != nil {
			t.Fatalf("parse key: %v", err)
		}
		b := Bucket{Key: key}
		if err := b.UnmarshalBinary(store[k]); err != nil {
			t.Fatalf("decode bucket: %v", err)
		}
		if n := len(out); n > 0 && out[n-1].Key.Compare(key) >= 0 {
			t.Fatalf("key order: %+v sorts after %+v", out[n-1].Key, key)
		}
		out = append(out, b)
	}
	return out
}

// reportCase is a ccusage command line turned into a report of this package.
type reportCase struct {
	fixture, report string
	args            []string
	opts            Options
}

func parseCase(t testing.TB, line string, tr *transcripts, root string) reportCase {
	t.Helper()
	f := strings.Fields(line)
	if len(f) < 2 {
		t.Fatalf("cmd %q: want <fixture> <report> [flags]", line)
	}
	c := reportCase{fixture: f[0], report: f[1], args: f[1:]}
	c.opts.ProjectName = tr.projectName
	if b, err := os.ReadFile(filepath.Join(root, "now")); err == nil {
		now, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("parse now: %v", err)
		}
		c.opts.Now = now
	}
	var flags []string
	for _, a := range f[2:] {
		if name, value, ok := strings.Cut(a, "="); ok && strings.HasPrefix(a, "--") {
			flags = append(flags, name, value)
		} else {
			flags = append(flags, a)
		}
	}
	for i := 0; i < len(flags); i++ {
		arg := func() string {
			i++
			if i >= len(flags) {
				t.Fatalf("cmd %q: %s needs a value", line, flags[i-1])
			}
			return flags[i]
		}
		var err error
		switch flags[i] {
		case "-i", "--instances":
			c.opts.Instances = true
		case "-z", "--timezone":
			c.opts.Location, err = time.LoadLocation(arg())
		case "-s", "--since":
			c.opts.Since, err = ParseDate(arg())
		case "-u", "--until":
			c.opts.Until, err = ParseDate(arg())
		case "-m", "--mode":
			c.opts.Mode, err = ParseCostMode(arg())
		case "-o", "--order":
			c.opts.Order, err = ParseOrder(arg())
		case "-w", "--start-of-week":
			day := arg()
			err = fmt.Errorf("unknown weekday %q", day)
			for d := time.Sunday; d <= time.Saturday; d++ {
				if strings.EqualFold(d.String(), day) {
					c.opts.StartOfWeek, err = d, nil
				}
			}
		case "-b", "--breakdown":
			c.opts.Breakdown = true
		case "-a", "--active":
			c.opts.Active = true
		case "-r", "--recent":
			c.opts.Recent = true
		case "-t", "--token-limit":
			c.opts.TokenLimit = arg()
		case "-p", "--project":
			c.opts.Project = salted(arg())
		default:
			t.Fatalf("cmd %q: unknown flag %s", line, flags[i])
		}
		if err != nil {
			t.Fatalf("cmd %q: %v", line, err)
		}
	}
	return c
}

// run builds the case's report from buckets and returns its JSON.
func (c reportCase) run(buckets []Bucket) ([]byte, error) {
	var buf bytes.Buffer
	seq := slices.Values(buckets)
	var err error
	switch c.report {
	case "daily":
		var r DailyReport
		if r, err = Daily(seq, c.opts); err == nil {
			err = r.WriteJSON(&buf)
		}
	case "weekly":
		var r WeeklyReport
		if r, err = Weekly(seq, c.opts); err == nil {
			err = r.WriteJSON(&buf)
		}
	case "monthly":
		var r MonthlyReport
		if r, err = Monthly(seq, c.opts); err == nil {
			err = r.WriteJSON(&buf)
		}
	case "session":
		var r SessionReport
		if r, err = Session(seq, c.opts); err == nil {
			err = r.WriteJSON(&buf)
		}
	case "blocks":
		var r BlocksReport
		if r, err = Blocks(seq, c.opts); err == nil {
			err = r.WriteJSON(&buf)
		}
	default:
		err = fmt.Errorf("unknown report %q", c.report)
	}
	return buf.Bytes(), err
}

// TestCcusageExpected compares the reports built from the real transcripts with the ccusage
// output that ships with them.
func TestCcusageExpected(t *testing.T) {
	tr := loadTranscripts(t, realFixture)
	buckets := storeRoundTrip(t, tr.entries)
	for _, report := range []string{"daily", "monthly", "session"} {
		t.Run(report, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(realFixture, "expected", "ccusage-"+report+".json"))
			if err != nil {
				t.Fatalf("read expected: %v", err)
			}
			c := parseCase(t, "real "+report+" -z UTC", tr, realFixture)
			got, err := c.run(buckets)
			if err != nil {
				t.Fatalf("%s report: %v", report, err)
			}
			compareReports(t, got, want)
		})
	}
}

// TestCcusageGolden runs every case under testdata/ccusage: a cmd file names a fixture and a
// ccusage command line, and expected.json is what ccusage 20.0.24 printed for it. With -update
// and -ccusage, the synthetic and active transcripts and the expected files are rewritten:
//
//	go test ./pipeline/usage -run TestCcusageGolden -update -ccusage=$(which ccusage)
func TestCcusageGolden(t *testing.T) {
	regenerate := *update && *ccusageBin != ""
	if *update && !regenerate {
		t.Log("-update without -ccusage: ccusage goldens are left as they are")
	}
	if regenerate {
		writeSynthetic(t, fixtureRoots["synthetic"])
		writeActive(t, fixtureRoots["active"])
	}
	dirs, err := filepath.Glob("testdata/ccusage/*/cmd")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases under testdata/ccusage: %v", err)
	}
	loaded := map[string]*transcripts{}
	buckets := map[string][]Bucket{}
	for _, cmdPath := range dirs {
		dir := filepath.Dir(cmdPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			line, err := os.ReadFile(cmdPath)
			if err != nil {
				t.Fatalf("read cmd: %v", err)
			}
			fixture := strings.Fields(string(line))[0]
			root, ok := fixtureRoots[fixture]
			if !ok {
				t.Fatalf("unknown fixture %q", fixture)
			}
			if loaded[fixture] == nil {
				loaded[fixture] = loadTranscripts(t, root)
				buckets[fixture] = storeRoundTrip(t, loaded[fixture].entries)
			}
			c := parseCase(t, string(line), loaded[fixture], root)
			expected := filepath.Join(dir, "expected.json")
			if regenerate {
				writeCcusage(t, root, c.args, expected)
			}
			want, err := os.ReadFile(expected)
			if err != nil {
				t.Fatalf("read expected: %v", err)
			}
			got, err := c.run(buckets[fixture])
			if err != nil {
				t.Fatalf("report: %v", err)
			}
			compareReports(t, got, want)
		})
	}
}

// writeCcusage runs ccusage on a fixture and writes what it prints.
func writeCcusage(t testing.TB, root string, args []string, out string) {
	t.Helper()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(*ccusageBin, append(append([]string{"claude"}, args...), "--offline", "--json")...)
	cmd.Env = append(os.Environ(), "CLAUDE_CONFIG_DIR="+abs, "NO_COLOR=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("run ccusage %v: %v: %s", args, err, stderr.Bytes())
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// compareReports fails unless got and want have the same JSON structure, key order, strings,
// integers, nulls and number forms (an integer stays an integer), and floats within
// costTolerance. It logs whether the bytes are identical too.
func compareReports(t *testing.T, got, want []byte) {
	t.Helper()
	g, err := decodeOrdered(got)
	if err != nil {
		t.Fatalf("decode our report: %v\n%s", err, got)
	}
	w, err := decodeOrdered(want)
	if err != nil {
		t.Fatalf("decode ccusage report: %v", err)
	}
	var diffs []string
	compareValues("$", g, w, &diffs)
	if len(diffs) > 0 {
		if len(diffs) > 20 {
			diffs = append(diffs[:20], "...")
		}
		t.Errorf("report differs from ccusage's:\n%s\n--- got:\n%s", strings.Join(diffs, "\n"), got)
		return
	}
	if !bytes.Equal(got, want) {
		t.Logf("same report, float digits differ within %g", costTolerance)
	}
}

// orderedValue is a decoded JSON value that keeps object key order and number text.
type orderedValue struct {
	kind  byte // '{', '[', '"', 'n' (number), 't', 'f', '0' (null)
	keys  []string
	vals  []*orderedValue
	str   string
	float float64
}

func decodeOrdered(b []byte) (*orderedValue, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	v, err := decodeValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

func decodeValue(d *json.Decoder) (*orderedValue, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch tok := tok.(type) {
	case json.Delim:
		v := &orderedValue{kind: byte(tok)}
		for d.More() {
			if tok == '{' {
				k, err := d.Token()
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, k.(string))
			}
			e, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			v.vals = append(v.vals, e)
		}
		_, err := d.Token()
		return v, err
	case string:
		return &orderedValue{kind: '"', str: tok}, nil
	case json.Number:
		f, err := tok.Float64()
		return &orderedValue{kind: 'n', str: tok.String(), float: f}, err
	case bool:
		if tok {
			return &orderedValue{kind: 't'}, nil
		}
		return &orderedValue{kind: 'f'}, nil
	case nil:
		return &orderedValue{kind: '0'}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

func compareValues(path string, g, w *orderedValue, diffs *[]string) {
	if g.kind != w.kind {
		*diffs = append(*diffs, fmt.Sprintf("%s: kind %q, want %q", path, g.kind, w.kind))
		return
	}
	switch g.kind {
	case '{':
		if !slices.Equal(g.keys, w.keys) {
			*diffs = append(*diffs, fmt.Sprintf("%s: keys %v, want %v", path, g.keys, w.keys))
			return
		}
		for i, k := range g.keys {
			compareValues(path+"."+k, g.vals[i], w.vals[i], diffs)
		}
	case '[':
		if len(g.vals) != len(w.vals) {
			*diffs = append(*diffs, fmt.Sprintf("%s: %d elements, want %d", path, len(g.vals), len(w.vals)))
			return
		}
		for i := range g.vals {
			compareValues(fmt.Sprintf("%s[%d]", path, i), g.vals[i], w.vals[i], diffs)
		}
	case '"':
		if g.str != w.str {
			*diffs = append(*diffs, fmt.Sprintf("%s: %q, want %q", path, g.str, w.str))
		}
	case 'n':
		gi, wi := !strings.ContainsAny(g.str, ".eE"), !strings.ContainsAny(w.str, ".eE")
		switch {
		case gi != wi:
			*diffs = append(*diffs, fmt.Sprintf("%s: number %s, want %s (integer vs float form)", path, g.str, w.str))
		case (gi || g.float == 0) && g.str != w.str:
			*diffs = append(*diffs, fmt.Sprintf("%s: %s, want %s", path, g.str, w.str))
		case !gi && math.Abs(g.float-w.float) > costTolerance*math.Max(1, math.Abs(w.float)):
			*diffs = append(*diffs, fmt.Sprintf("%s: %s, want %s", path, g.str, w.str))
		}
	}
}
