package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline/pricing"
	"github.com/hangar-dev/hangar/pipeline/usagestore"
)

// embeddedSnapshot is the LiteLLM snapshot the binary embeds (pricing.Default).
const embeddedSnapshot = "../../pipeline/pricing/litellm.json"

const (
	sonnet4     = "claude-sonnet-4-20250514"
	unknownName = "acme-coder-1"
	// unpricedWarning is the line `agent report` writes on stderr while unknownName has no price.
	unpricedWarning = "warning: no price for model acme-coder-1; its usage counts 0 USD (update prices with `agent pricing update --file`)"
)

// syntheticUsage is one assistant line of the synthetic session: its model and usage.
type syntheticUsage struct {
	model string
	usage pricing.Usage
	json  string // message.usage
}

// syntheticSession is a session the shared transcripts lack, on a day of its own (2025-07-01):
// the unknown model (also in fast mode) and 1-hour cache writes.
var syntheticSession = []syntheticUsage{
	{unknownName, pricing.Usage{Input: 1000, Output: 2000, CacheCreation5m: 300, CacheRead: 4000},
		`{"input_tokens":1000,"output_tokens":2000,"cache_creation_input_tokens":300,"cache_read_input_tokens":4000}`},
	{unknownName, pricing.Usage{Input: 10, Output: 20, Fast: true}, `{"input_tokens":10,"output_tokens":20,"speed":"fast"}`},
	{sonnet4, pricing.Usage{Input: 10, Output: 20, CacheCreation5m: 300, CacheCreation1h: 1000, CacheRead: 400},
		`{"input_tokens":10,"output_tokens":20,"cache_creation_input_tokens":1300,"cache_read_input_tokens":400,"cache_creation":{"ephemeral_5m_input_tokens":300,"ephemeral_1h_input_tokens":1000}}`},
}

// writeSyntheticSession adds the synthetic session to the projects folder of src.
func writeSyntheticSession(t testing.TB, src string) {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(src, "projects", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no project folder in %s: %v", src, err)
	}
	sid := "5e55a0e1-0000-4000-8000-00000000c0de"
	var out bytes.Buffer
	for i, s := range syntheticSession {
		fmt.Fprintf(&out, `{"parentUuid":null,"isSidechain":false,"userType":"external","cwd":"/Users/chip/dev/ai-music","sessionId":%q,"version":"1.0.17",`+
			`"message":{"id":"msg_synthetic%d","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":"ok"}],"stop_reason":null,"stop_sequence":null,"usage":%s},`+
			`"requestId":"req_synthetic%d","type":"assistant","uuid":%q,"timestamp":"2025-07-01T10:0%d:00.000Z"}`+"\n",
			sid, i, s.model, s.json, i, uuid(), i)
	}
	if err := os.WriteFile(filepath.Join(dirs[0], sid+".jsonl"), out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newPriceFile writes a LiteLLM table into dir: the embedded snapshot's claude-sonnet-4 entry at
// twice its prices, and a price for the unknown model. It returns the file and the table.
func newPriceFile(t testing.TB, dir string) (string, *pricing.Table) {
	t.Helper()
	data, err := os.ReadFile(embeddedSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	var snapshot map[string]map[string]any
	if err := json.Unmarshal(data, &snapshot); err != nil {
		t.Fatal(err)
	}
	doubled := map[string]any{}
	for k, v := range snapshot[sonnet4] {
		if f, ok := v.(float64); ok && strings.Contains(k, "cost") {
			v = 2 * f
		}
		doubled[k] = v
	}
	table := map[string]any{
		sonnet4: doubled,
		unknownName: map[string]any{"input_cost_per_token": 2e-6, "output_cost_per_token": 4e-6, "cache_creation_input_token_cost": 2.5e-6,
			"cache_read_input_token_cost": 2e-7, "provider_specific_entry": map[string]any{"fast": 3}},
	}
	out, err := json.MarshalIndent(table, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model_prices_and_context_window.json")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	parsed, err := pricing.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	return path, parsed
}

// dailyReport is the part of `agent report daily --json` the pricing tests read.
type dailyReport struct {
	Daily []struct {
		Date        string  `json:"date"`
		TotalTokens int64   `json:"totalTokens"`
		TotalCost   float64 `json:"totalCost"`
	} `json:"daily"`
}

// reportOut is one `agent report daily --json -z UTC` run.
type reportOut struct {
	stdout, stderr string
	daily          dailyReport
	byDate         map[string]float64 // totalCost by date
}

// reportDaily runs `agent report daily --json -z UTC`; its stdout must be JSON and nothing else.
func reportDaily(t testing.TB, dataDir string) reportOut {
	t.Helper()
	res := runAgent(t, nil, nil, 60*time.Second, "report", "daily", "--json", "-z", "UTC", "--data-dir", dataDir)
	if res.code != 0 {
		t.Fatalf("report: exit %d\n%s", res.code, res.stderr)
	}
	out := reportOut{stdout: res.stdout, stderr: res.stderr, byDate: map[string]float64{}}
	dec := json.NewDecoder(strings.NewReader(res.stdout))
	if err := dec.Decode(&out.daily); err != nil || dec.More() {
		t.Fatalf("report --json stdout is not one JSON document: %v\n%s", err, res.stdout)
	}
	for _, d := range out.daily.Daily {
		out.byDate[d.Date] = d.TotalCost
	}
	return out
}

// checkWarnings checks that stderr holds want (one line) and nothing else, and stdout no warning.
func checkWarnings(t testing.TB, what string, r reportOut, want ...string) {
	t.Helper()
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if l != "" {
			got = append(got, l)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: stderr lines %q, want %q", what, got, want)
	}
	if strings.Contains(r.stdout, "warning") {
		t.Errorf("%s: a warning on stdout:\n%s", what, r.stdout)
	}
}

// statusJSON runs `agent status --json`.
func statusJSON(t testing.TB, dataDir string) daemon.Status {
	t.Helper()
	res := runAgent(t, nil, nil, 30*time.Second, "status", "--json", "--data-dir", dataDir)
	var st daemon.Status
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatalf("status --json: %v\n%s%s", err, res.stdout, res.stderr)
	}
	return st
}

// TestPricingUpdate imports the real transcripts and a session of a model without a price, then
// updates the prices, with no daemon (the CLI opens the store) and through a running one: a bad
// file is refused with nothing changed; the report warns once (on stderr) about the unknown model
// until the update prices it; after the update the report costs what the new table says; and an
// update with the embedded snapshot gives the first report back.
func TestPricingUpdate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		daemon bool
	}{{"no daemon", false}, {"daemon", true}} {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "claude")
			copyTranscripts(t, sharedTranscripts, src)
			writeSyntheticSession(t, src)
			dataDir := newDataDir(t)
			runImport(t, nil, "--data-dir", dataDir, "--source", src)
			if tt.daemon {
				d := startDaemon(t, dataDir, nil)
				defer func() {
					if code := d.stop(syscall.SIGTERM); code != 0 {
						t.Errorf("daemon exit %d\n%s", code, d.stderr.String())
					}
				}()
			}

			before := reportDaily(t, dataDir)
			checkWarnings(t, "before", before, unpricedWarning)
			if got := statusJSON(t, dataDir); !slices.Equal(got.UnpricedModels, []string{unknownName}) || got.Prices.ID != daemon.EmbeddedPrices() {
				t.Errorf("status before: unpriced %v, prices %+v; want [%s], the embedded table", got.UnpricedModels, got.Prices, unknownName)
			}
			if res := runAgent(t, nil, nil, 30*time.Second, "report", "daily", "--data-dir", dataDir); !strings.Contains(res.stderr, unpricedWarning) || strings.Contains(res.stdout, "warning") {
				t.Errorf("report table: the warning must be on stderr only\nstdout: %s\nstderr: %s", res.stdout, res.stderr)
			}

			dir := t.TempDir()
			bad := []struct{ name, content, wantErr string }{
				{"not JSON", `{"claude-x": `, "nothing changed"},
				{"no priced model", `{"sample_spec": {"mode": "chat"}}`, "no model with both input and output prices"},
				{"negative price", `{"m": {"input_cost_per_token": -1, "output_cost_per_token": 1}}`, "nothing changed"},
				{"missing", "", "no such file"},
			}
			for _, b := range bad {
				path := filepath.Join(dir, strings.ReplaceAll(b.name, " ", "-")+".json")
				if b.content != "" {
					os.WriteFile(path, []byte(b.content), 0o644)
				}
				res := runAgent(t, nil, nil, 30*time.Second, "pricing", "update", "--file", path, "--data-dir", dataDir)
				if res.code == 0 || !strings.Contains(res.stderr, path) || !strings.Contains(res.stderr, b.wantErr) {
					t.Errorf("bad file %s: exit %d, stderr %q; want an error naming the file and %q", b.name, res.code, res.stderr, b.wantErr)
				}
			}
			if _, err := os.Stat(filepath.Join(dataDir, "pricing")); !os.IsNotExist(err) {
				t.Errorf("bad files left a pricing folder: %v", err)
			}
			if got := reportDaily(t, dataDir); got.stdout != before.stdout {
				t.Errorf("the report changed after bad files:\n%s\nwant\n%s", got.stdout, before.stdout)
			}

			file, table := newPriceFile(t, dir)
			res := runAgent(t, nil, nil, 60*time.Second, "pricing", "update", "--file", file, "--json", "--data-dir", dataDir)
			if res.code != 0 {
				t.Fatalf("pricing update: exit %d\n%s", res.code, res.stderr)
			}
			var up daemon.PricingUpdate
			if err := json.Unmarshal([]byte(res.stdout), &up); err != nil {
				t.Fatalf("pricing update --json: %v\n%s", err, res.stdout)
			}
			saved := daemon.PricesPath(dataDir)
			if up.Entries == 0 || up.Repriced != up.Entries || up.Kept != 0 || up.Changed == 0 || len(up.Unpriced) != 0 ||
				up.Table.Path != saved || up.Table.Models != table.Len() {
				t.Errorf("pricing update: %+v; want every entry repriced, none unpriced, %d models saved as %s", up, table.Len(), saved)
			}
			want, _ := os.ReadFile(file)
			if got, err := os.ReadFile(saved); err != nil || !bytes.Equal(got, want) {
				t.Errorf("saved table: %v, want the file's bytes", err)
			}
			if mode := fileMode(t, saved); mode.Perm() != 0o600 {
				t.Errorf("saved table mode %v, want 0600", mode)
			}

			after := reportDaily(t, dataDir)
			checkWarnings(t, "after", after)
			var wantSynthetic float64
			for _, s := range syntheticSession {
				c, ok := table.Cost(s.model, s.usage)
				if !ok {
					t.Fatalf("the new table has no price for %s", s.model)
				}
				wantSynthetic += c
			}
			for date, cost := range before.byDate {
				want := 2 * cost // the transcripts' days: claude-sonnet-4 only, at twice its prices
				if date == "2025-07-01" {
					want = wantSynthetic
				}
				if got := after.byDate[date]; math.Abs(got-want) > 1e-9 {
					t.Errorf("cost of %s after the update: got %v, want %v", date, got, want)
				}
			}
			if len(after.byDate) != len(before.byDate) || len(before.byDate) != 3 {
				t.Errorf("days: %v after, %v before, want the 3 same", after.byDate, before.byDate)
			}
			if got := statusJSON(t, dataDir); len(got.UnpricedModels) != 0 || got.Prices.ID != up.Table.ID || !strings.HasPrefix(got.Prices.ID, "sha256:") {
				t.Errorf("status after: unpriced %v, prices %+v; want none, table %s", got.UnpricedModels, got.Prices, up.Table.ID)
			}

			// Back to the embedded snapshot: the first report again.
			res = runAgent(t, nil, nil, 60*time.Second, "pricing", "update", "--file", embeddedSnapshot, "--data-dir", dataDir)
			if res.code != 0 || !strings.Contains(res.stdout, "No price:  "+unknownName+" (usage counts 0 USD)") || !strings.Contains(res.stdout, "Repriced:  ") {
				t.Errorf("pricing update with the snapshot: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
			}
			again := reportDaily(t, dataDir)
			checkWarnings(t, "with the snapshot", again, unpricedWarning)
			var got, exp any
			json.Unmarshal([]byte(again.stdout), &got)
			json.Unmarshal([]byte(before.stdout), &exp)
			jsonNear(t, "report with the snapshot", got, exp)
		})
	}
}

// TestPricingRepriceAtStart saves a table the stored usage was not priced with, as an update cut
// short between saving it and repricing: the next open of the store (here by the CLI) reprices,
// and a daemon started after it loads and logs the saved table without repricing again.
func TestPricingRepriceAtStart(t *testing.T) {
	dataDir := importShared(t)
	before := reportDaily(t, dataDir)

	file, _ := newPriceFile(t, t.TempDir())
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dataDir, "pricing"), 0o700)
	if err := os.WriteFile(daemon.PricesPath(dataDir), data, 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(how string) {
		t.Helper()
		got := reportDaily(t, dataDir)
		for date, cost := range before.byDate {
			if g := got.byDate[date]; math.Abs(g-2*cost) > 1e-9 {
				t.Errorf("%s: cost of %s: got %v, want %v", how, date, g, 2*cost)
			}
		}
	}
	check("no daemon")
	d := startDaemon(t, dataDir, nil)
	check("daemon")
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
	logData, err := os.ReadFile(filepath.Join(dataDir, "logs", "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := string(logData)
	if n := strings.Count(log, `"msg":"repricing stored usage`); n != 1 {
		t.Errorf("the log tells of %d reprices at start, want 1\n%s", n, log)
	}
	if !strings.Contains(log, `"msg":"price table","id":"sha256:`) {
		t.Errorf("the log does not name the saved price table\n%s", log)
	}
}

// TestPricingRepriceNewBuild stores usage priced by a table the binary does not embed (another
// build's snapshots: an id of the same form, with prices doubled), and usage with no table id (as
// builds before ids kept it): the next open of the store reprices both with the embedded table.
func TestPricingRepriceNewBuild(t *testing.T) {
	dataDir := importShared(t)
	want := reportDaily(t, dataDir)
	_, doubled := newPriceFile(t, t.TempDir())
	for _, tc := range []struct {
		name   string
		forget bool // drop the table id, as builds before ids left it
	}{{"another build's snapshots", false}, {"no table id", true}} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, dataDir)
			u := usagestore.New(st, doubled, nil)
			if _, err := u.Reprice(context.Background(), doubled, "embedded:0123456789abcdef"); err != nil {
				t.Fatal(err)
			}
			if tc.forget {
				b := st.NewBatch()
				b.DeleteState(usagestore.Name, []byte{'p'}) // the rollup's tableKey (usagestore/codec.go)
				if err := b.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			got := reportDaily(t, dataDir)
			for date, cost := range want.byDate {
				if g := got.byDate[date]; math.Abs(g-cost) > 1e-9 {
					t.Errorf("cost of %s: got %v, want %v (the embedded table's)", date, g, cost)
				}
			}
		})
	}
}

// TestPricingShow shows a model's price in the table in use: the embedded one, then a saved one.
func TestPricingShow(t *testing.T) {
	dataDir := newDataDir(t)
	file, _ := newPriceFile(t, t.TempDir())
	tests := []struct {
		name  string
		saved bool // the table of newPriceFile is saved
		model string
		want  []string
	}{
		{"embedded", false, sonnet4, []string{"claude-sonnet-4-20250514: priced as claude-sonnet-4-20250514 (litellm, in the embedded table)",
			"    input           $3\n", "    output          $15\n", "    cache write 1h  $6\n", "beyond 200,000:"}},
		{"embedded, by a dated alias", false, "claude-sonnet-4", []string{"priced as claude-sonnet-4"}},
		{"embedded, no price", false, unknownName, []string{"acme-coder-1: no price in the embedded table; its usage counts 0 USD"}},
		{"saved", true, unknownName, []string{"priced as acme-coder-1 (litellm, in " + daemon.PricesPath(dataDir) + ")",
			"    input           $2\n", "    cache read      $0.2\n", "  fast mode:        x3\n"}},
		{"saved, doubled", true, sonnet4, []string{"    input           $6\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.saved {
				data, _ := os.ReadFile(file)
				os.MkdirAll(filepath.Join(dataDir, "pricing"), 0o700)
				if err := os.WriteFile(daemon.PricesPath(dataDir), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			res := runAgent(t, nil, nil, 30*time.Second, "pricing", "show", tt.model, "--data-dir", dataDir)
			if res.code != 0 {
				t.Fatalf("exit %d\n%s", res.code, res.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("got\n%s\nwant it to contain %q", res.stdout, w)
				}
			}
		})
	}
}
