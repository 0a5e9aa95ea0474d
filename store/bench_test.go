package store_test

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
)

var benchTools = []string{"Bash", "Read", "Edit", "Grep", "Write", "WebFetch"}

// benchEvent builds a realistic hook event: a tool use with its outcome, timing, model and a hash
// of the input.
func benchEvent(n int, now time.Time) sdk.Event {
	h := sha256.Sum256([]byte(strconv.Itoa(n)))
	return sdk.Event{
		ID:        sdk.NewID("hook", []byte("bench"), []byte(strconv.Itoa(n))),
		Platform:  "claude-code",
		Kind:      "hook.PostToolUse",
		SessionID: fmt.Sprintf("0b7e5c9a-3f1d-4e2a-9c6b-%012d", n/500),
		Time:      now,
		Attrs: []sdk.Attr{
			sdk.Ident("tool_name", benchTools[n%len(benchTools)]),
			sdk.Bool("success", n%17 != 0),
			sdk.Int("duration_ms", int64(n%5000)),
			sdk.Int("output_bytes", int64(n*37%100000)),
			sdk.Ident("model", "claude-sonnet-4-5"),
			sdk.Ident("permission_mode", "acceptEdits"),
			sdk.Float("cost_usd", float64(n%1000)/10000),
			sdk.Hash("input_hash", h[:]),
		},
	}
}

// BenchmarkBatchCommit measures appending batches of 100 events, each committed with a synced
// write.
func BenchmarkBatchCommit(b *testing.B) {
	const perBatch = 100
	s, _ := newStore(b)
	evs := make([]sdk.Event, perBatch)
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		now := time.Now()
		for j := range evs {
			evs[j] = benchEvent(n, now)
			n++
		}
		batch := s.NewBatch()
		for j := range evs {
			if ok, err := batch.AddEvent(&evs[j]); err != nil || !ok {
				b.Fatalf("AddEvent = %v, %v", ok, err)
			}
		}
		if err := batch.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "events/s")
	if got := s.EventCount(); got != int64(n) {
		b.Fatalf("EventCount() = %d, want %d", got, n)
	}
}
