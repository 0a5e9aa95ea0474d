package usagestore

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/pricing"
	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/pipeline/usage/usagetest"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// TestRollupMatchesCcusage runs the real transcripts through the intake and the usage rollup
// and compares the daily and session reports with ccusage's: tokens exact, costs within 1e-6. It
// then restarts the consumer and submits everything again: nothing changes.
func TestRollupMatchesCcusage(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, pipeline.Captures{testPlatform: capFunc(usageCapture)}, pipeline.IntakeConfig{})
	recs := transcriptRecords(t)
	// Submit in small batches, so duplicates of one response land in different Consume calls.
	for i := 0; i < len(recs); i += 7 {
		submit(t, in, recs[i:min(i+7, len(recs))])
	}
	r := startConsumers(t, st, pipeline.ConsumersConfig{BatchSize: 5}, New(st, nil, nil))
	waitConsumed(t, r)
	checkUsageReports(t, st)

	r.Close()
	submit(t, in, recs)
	r2 := startConsumers(t, st, pipeline.ConsumersConfig{}, New(st, nil, nil))
	waitConsumed(t, r2)
	checkUsageReports(t, st)
}

func checkUsageReports(t *testing.T, st *store.Store) {
	t.Helper()
	opts := usage.Options{Location: time.UTC}
	daily, err := usage.Daily(slices.Values(bucketsOf(t, st)), opts)
	if err != nil {
		t.Fatal(err)
	}
	compareReport(t, "daily", &daily, "ccusage-daily.json")
	sess, err := usage.Session(slices.Values(bucketsOf(t, st)), opts)
	if err != nil {
		t.Fatal(err)
	}
	compareReport(t, "session", &sess, "ccusage-session.json")
}

// compareReport compares a report's JSON with ccusage's, numbers within 1e-6, except the session
// report's projectPath: ccusage shows the folder, Hangar never stores it.
func compareReport(t *testing.T, name string, r interface{ WriteJSON(w io.Writer) error }, file string) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("../../../shared/fixtures/claude-code/expected", file))
	if err != nil {
		t.Fatal(err)
	}
	var got, exp any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &exp); err != nil {
		t.Fatal(err)
	}
	jsonClose(t, name, got, exp)
}

// jsonClose compares decoded JSON: numbers within 1e-6; projectPath, a folder in ccusage's output
// and a key here, is not compared.
func jsonClose(t *testing.T, path string, got, want any) {
	t.Helper()
	usagetest.JSONNear(t, path, got, want, map[string]func(testing.TB, string, any){
		"projectPath": func(testing.TB, string, any) {},
	})
}

// TestRollupUnknownModel: an entry of a model without a price costs 0, one warning names
// the model, and the model is kept in the state until a reprice finds a price for it.
func TestRollupUnknownModel(t *testing.T) {
	st := openPebble(t)
	var logs syncBuf
	u := New(st, nil, slog.New(slog.NewJSONHandler(&logs, nil)))
	tokens := []sdk.Attr{sdk.Int("input_tokens", 100), sdk.Int("output_tokens", 200)}
	consumeNow(t, st, u, usageEvent(1, "a", "acme-coder-1", recTime, tokens...), usageEvent(2, "b", sonnet, recTime, tokens...))
	consumeNow(t, st, u, usageEvent(3, "c", "acme-coder-1", recTime.Add(time.Minute), tokens...))
	if got, want := unpricedModels(t, st), []string{"acme-coder-1"}; !slices.Equal(got, want) {
		t.Errorf("unpriced models: got %v, want %v", got, want)
	}
	if got := strings.Count(logs.String(), `"model":"acme-coder-1"`); got != 1 {
		t.Errorf("warnings naming the model: got %d, want 1\n%s", got, logs.String())
	}
	if strings.Contains(logs.String(), sonnet) {
		t.Errorf("a warning names a priced model:\n%s", logs.String())
	}
	acmeCost := func() float64 {
		var sum float64
		for bu, err := range Buckets(st, time.Time{}, time.Time{}) {
			if err != nil {
				t.Fatal(err)
			}
			if bu.Key.Model == "acme-coder-1" {
				sum += bu.CostAuto
			}
		}
		return sum
	}
	if got := acmeCost(); got != 0 {
		t.Errorf("cost of the unknown model: got %v, want 0", got)
	}

	prices := parseTable(t, newPrices)
	res, err := u.Reprice(context.Background(), prices, "new")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unpriced) != 0 || len(unpricedModels(t, st)) != 0 {
		t.Errorf("after a reprice with a price: result %v, state %v, want none unpriced", res.Unpriced, unpricedModels(t, st))
	}
	one, _ := prices.Cost("acme-coder-1", pricing.Usage{Input: 100, Output: 200})
	if got, want := acmeCost(), 2*one; math.Abs(got-want) > 1e-12 {
		t.Errorf("cost of the model once priced: got %v, want %v", got, want)
	}

	res, err = u.Reprice(context.Background(), pricing.Default(), "embedded")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"acme-coder-1"}; !slices.Equal(res.Unpriced, want) || !slices.Equal(unpricedModels(t, st), want) {
		t.Errorf("after a reprice without its price: result %v, state %v, want %v", res.Unpriced, unpricedModels(t, st), want)
	}
	if got := acmeCost(); got != 0 {
		t.Errorf("cost of the unknown model again: got %v, want 0", got)
	}
}

// syncBuf is a bytes.Buffer safe for concurrent use.
type syncBuf = hosttest.Buffer
