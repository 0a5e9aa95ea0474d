package wasmstage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
)

// TestErrorClasses: which failed calls a stage makes permanent (the pipeline dead-letters the
// record or entry) and which it leaves retryable. A capture stage retries only what a closed host
// or plugin refused (a reload: the next capture serves the record); a consumer also holds its
// cursor while the plugin is quarantined or its context ended.
func TestErrorClasses(t *testing.T) {
	live, done := context.Background(), func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}()
	tests := []struct {
		err               error
		ctx               context.Context
		capture, consumer bool // permanent?
	}{
		{host.ErrTrap, live, true, true},
		{host.ErrDeadline, live, true, true},
		{host.ErrOutputTooLarge, live, true, true},
		{host.ErrMalformedOutput, live, true, true},
		{host.ErrQuarantined, live, true, false},
		{host.ErrClosed, live, false, false},
		{context.Canceled, done, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			err := fmt.Errorf("call plugin p: %w", tt.err)
			if got := pipeline.IsPermanent(captureErr(err)); got != tt.capture {
				t.Errorf("capture: permanent %v, want %v", got, tt.capture)
			}
			if got := pipeline.IsPermanent(consumerErr(tt.ctx, err)); got != tt.consumer {
				t.Errorf("consumer: permanent %v, want %v", got, tt.consumer)
			}
			if !errors.Is(captureErr(err), tt.err) || !errors.Is(consumerErr(tt.ctx, err), tt.err) {
				t.Error("the class hides the cause")
			}
		})
	}
}

// TestCaptureFailures runs the claude-code plugin through the capture stage into each way a
// record fails: the plugin fails it (permanent), the plugin is quarantined (permanent, saying
// so), the plugin is closed (retryable).
func TestCaptureFailures(t *testing.T) {
	h := newTestHost(t, host.Config{Secret: testSecret, QuarantineRecordsAfter: 2})
	c := loadClaudeCode(t, h)
	rec := func(i int, payload string) *pipeline.RawRecord {
		return &pipeline.RawRecord{ID: sdk.NewID("fail", fmt.Append(nil, i)), Platform: pipeline.PlatformClaudeCode, Payload: []byte(payload)}
	}
	good := `{"hook_event_name":"Stop","session_id":"s-1"}`
	_, errs := c.CaptureBatch([]*pipeline.RawRecord{rec(0, `{"x":1}`), rec(1, `{"x":2}`)})
	for i, err := range errs {
		if !errors.Is(err, host.ErrRecordFailed) || !pipeline.IsPermanent(err) {
			t.Errorf("record %d the plugin failed: %v, want a permanent ErrRecordFailed", i, err)
		}
	}
	if q, _ := c.p.Quarantined(); !q {
		t.Fatal("not quarantined after 2 failed records")
	}
	if _, err := c.Capture(rec(2, good)); !errors.Is(err, host.ErrQuarantined) || !pipeline.IsPermanent(err) || !strings.Contains(err.Error(), "plugin quarantined") {
		t.Errorf("quarantined plugin: %v, want a permanent ErrQuarantined", err)
	}
	c.p.Unquarantine()
	if evs, err := c.Capture(rec(3, good)); err != nil || len(evs) != 1 {
		t.Fatalf("after the quarantine is lifted: %v, %v", evs, err)
	}
	if err := c.p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Capture(rec(4, good)); !errors.Is(err, host.ErrClosed) || pipeline.IsPermanent(err) {
		t.Errorf("closed plugin: %v, want a retryable ErrClosed", err)
	}
}

// TestRecordQuarantineBadInput: records the capture stage refuses before any call (not JSON, not
// an object) never reach the plugin, so they count neither way toward its record quarantine: the
// failed records around them still add up to QuarantineRecordsAfter.
func TestRecordQuarantineBadInput(t *testing.T) {
	const after = 5
	h := newTestHost(t, host.Config{Secret: testSecret, QuarantineRecordsAfter: after})
	c := loadClaudeCode(t, h)
	steps := []struct {
		payload string
		n       int
	}{{`{"x":1}`, after - 1}, {`not json`, 20}, {`[1,2]`, 20}, {`{"x":1}`, 1}}
	for i, s := range steps {
		recs := make([]*pipeline.RawRecord, s.n)
		for j := range recs {
			recs[j] = &pipeline.RawRecord{ID: sdk.NewID("bad", fmt.Append(nil, i, j)), Platform: pipeline.PlatformClaudeCode, Payload: []byte(s.payload)}
		}
		_, errs := c.CaptureBatch(recs)
		for _, err := range errs {
			if !pipeline.IsPermanent(err) || errors.Is(err, host.ErrQuarantined) {
				t.Fatalf("step %d: %v, want a permanent error, and no quarantine yet", i+1, err)
			}
		}
		q, reason := c.p.Quarantined()
		if last := i == len(steps)-1; q != last {
			t.Fatalf("after step %d: quarantined %v (%s), want %v", i+1, q, reason, last)
		}
		if i == len(steps)-1 && !strings.Contains(reason, fmt.Sprintf("%d records in a row failed", after)) {
			t.Errorf("reason %q", reason)
		}
	}
	if got := c.p.Status().Calls; got != 2 {
		t.Errorf("%d plugin calls, want 2: the refused records reached it", got)
	}
}
