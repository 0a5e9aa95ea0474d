package host

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
)

// advTimeout is the call deadline of adversarial plugins; advMargin what containment may add.
const (
	advTimeout = 250 * time.Millisecond
	advMargin  = 750 * time.Millisecond
)

// TestAdversarial runs each adversarial plugin beside the well-behaved echo plugin and shows
// that it is contained, that every record gets an outcome saying why, that repeated offences
// quarantine it, that echo keeps its throughput, and that the host stays usable.
// The carry plugin's attacks (content kept from another record or call, emitted or written into
// errors, logs, kv and paths) are tested in window_test.go.
func TestAdversarial(t *testing.T) {
	if testing.Short() {
		// Its child compiles a dozen Go guests, cold: over 5 minutes under the race detector on
		// 2 busy cores (just race runs -short). go test ./... runs it.
		t.Skip("compiles a dozen guests in a child process: runs in go test ./... without -short")
	}
	if inChild(t, 5*time.Minute) { // its guests spin: see inChild
		return
	}
	prompt := `{"hook_event_name":"UserPromptSubmit","session_id":"s-1","prompt":"Please refactor the payment module so that refunds are idempotent and logged"}`
	tests := []struct {
		name    string
		plugin  string
		caps    []string
		lim     Limits
		payload string
		// callErr is the whole-call error wanted, or nil when the call succeeds and each record
		// fails with recErr (or, with recErr nil too, succeeds).
		callErr error
		recErr  error
		recMsg  string
		check   func(t *testing.T, p *Plugin, audit *auditSink)
	}{
		{name: "infinite loop", plugin: "loop", callErr: ErrDeadline},
		// The Go runtime either dies of a failed memory.grow or thrashes its GC until the deadline.
		{name: "memory bomb", plugin: "membomb", lim: Limits{MemoryPages: 256}, callErr: errTrapOrDeadline},
		{name: "output flood", plugin: "flood", lim: Limits{OutputBytes: 64 << 10}, callErr: ErrOutputTooLarge},
		{name: "trap", plugin: "trap", caps: []string{"read:payload.mode"}, payload: `{"mode":"trap"}`, callErr: ErrTrap},
		{name: "handler panic", plugin: "trap", caps: []string{"read:payload.mode"}, payload: `{"mode":"panic"}`, recErr: ErrRecordFailed, recMsg: "handler panic"},
		{name: "filesystem escape", plugin: "fsescape", recErr: ErrRecordFailed, recMsg: "/etc/passwd"},
		{name: "host function not granted", plugin: "kvnogrant", callErr: ErrDenied, check: func(t *testing.T, p *Plugin, a *auditSink) {
			if a.count(p.m.Name, AuditDeniedHostCall) == 0 {
				t.Error("denied host call not audited")
			}
		}},
		{name: "content leak", plugin: "leak", caps: []string{"content:prompt", "read:payload.session_id"}, payload: prompt, recErr: ErrRefusedEmission, recMsg: "content \"prompt\"", check: func(t *testing.T, p *Plugin, a *auditSink) {
			if a.count(p.m.Name, AuditRefusedEmission) == 0 {
				t.Error("refused emission not audited")
			}
			for _, e := range a.entries {
				if strings.Contains(e.Detail, "Pleaserefactor") {
					t.Errorf("audit entry carries the content: %+v", e)
				}
			}
			if s := p.Status(); s.ContentReads["prompt"] == 0 {
				t.Errorf("content reads not counted: %+v", s)
			}
		}},
		{name: "malformed output", plugin: "malformed", callErr: ErrMalformedOutput},
		{name: "sleep", plugin: "sleep", caps: []string{"read:payload.mode"}, payload: `{"mode":"sleep"}`, callErr: ErrDeadline},
		{name: "busy wait", plugin: "sleep", caps: []string{"read:payload.mode", "clock"}, payload: `{"mode":"busy"}`, callErr: ErrDeadline},
		{name: "log spam", plugin: "logspam", caps: []string{"log"}, lim: Limits{CallTimeout: Duration(5 * time.Second)}, check: func(t *testing.T, p *Plugin, _ *auditSink) {
			if s := p.Status(); s.LogsDropped == 0 || s.LogsWritten > 200 {
				t.Errorf("log spam not bounded: written %d, dropped %d", s.LogsWritten, s.LogsDropped)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			audit := &auditSink{}
			var qmu sync.Mutex
			var quarantines []string
			h := newTestHost(t, Config{Audit: audit, PoolSize: 1, OnQuarantine: func(name, reason string) {
				qmu.Lock()
				defer qmu.Unlock()
				quarantines = append(quarantines, name+": "+reason)
			}})
			if tt.lim.CallTimeout == 0 {
				tt.lim.CallTimeout = Duration(advTimeout)
			}
			p := loadTest(t, h, tt.plugin, tt.caps, tt.lim)
			payload := tt.payload
			if payload == "" {
				payload = `{"hook_event_name":"Stop"}`
			}
			recs := []Record{
				{ID: [16]byte{1}, Payload: []byte(payload)},
				{ID: [16]byte{2}, Payload: []byte(payload)},
			}
			// Contained, nothing lost, quarantined after three failed calls.
			calls := 3
			if tt.callErr == nil {
				calls = 1
			}
			for c := range calls {
				start := time.Now()
				evs, errs := callEach(p, recs)
				if d := time.Since(start); d > time.Duration(tt.lim.CallTimeout)+advMargin {
					t.Errorf("call %d took %v, want at most %v", c, d, advTimeout+advMargin)
				}
				for i := range recs {
					err := errs[i]
					switch {
					case tt.callErr != nil && !isCallErr(err, tt.callErr):
						t.Errorf("call %d record %d: got %v, want %v", c, i, err, tt.callErr)
					case tt.recErr != nil && !errors.Is(err, tt.recErr):
						t.Errorf("call %d record %d: got %v, want %v", c, i, err, tt.recErr)
					case tt.recMsg != "" && (err == nil || !strings.Contains(err.Error(), tt.recMsg)):
						t.Errorf("call %d record %d: got %v, want it to mention %q", c, i, err, tt.recMsg)
					case tt.callErr == nil && tt.recErr == nil && (err != nil || len(evs[i]) == 0):
						t.Errorf("call %d record %d: got %v, %v, want events", c, i, evs[i], err)
					}
					if err != nil && strings.Contains(err.Error(), "root:") {
						t.Errorf("the record's error carries /etc/passwd: %v", err)
					}
				}
			}
			if tt.callErr != nil {
				s := p.Status()
				if !s.Quarantined || s.Failures != 3 || audit.count(p.m.Name, AuditQuarantine) != 1 {
					t.Errorf("after 3 failed calls: status %+v, %d quarantine entries", s, audit.count(p.m.Name, AuditQuarantine))
				}
				_, errs := callEach(p, recs)
				if !errors.Is(errs[0], ErrQuarantined) || !strings.Contains(errs[0].Error(), "plugin quarantined") {
					t.Errorf("quarantined plugin: got %v, want ErrQuarantined", errs[0])
				}
				if s.Instances != 0 {
					t.Errorf("%d instances left after failed calls, want 0 (discarded)", s.Instances)
				}
				qmu.Lock()
				if len(quarantines) != 1 || !strings.HasPrefix(quarantines[0], p.m.Name+": 3 calls in a row failed") {
					t.Errorf("OnQuarantine calls = %q, want one for %s", quarantines, p.m.Name)
				}
				qmu.Unlock()
			} else if len(quarantines) != 0 {
				t.Errorf("OnQuarantine called for a plugin that was not quarantined: %q", quarantines)
			}
			if tt.check != nil {
				tt.check(t, p, audit)
			}
			// The host stays usable: echo works on the same host.
			echo := loadTest(t, h, "echo", echoCaps, Limits{})
			if outs, err := echo.Call(context.Background(), "capture", [][]byte{[]byte(`{"hook_event_name":"Stop"}`)}); err != nil || outs[0].Err != nil {
				t.Errorf("echo after %s: %v %v", tt.name, err, outs)
			}
		})
	}
}

// callEach calls a capture plugin over recs and returns each record's events and error: the
// call's error for every record when the call failed. (How the capture stage makes these
// permanent or retryable for the pipeline is package wasmstage's, and tested there.)
func callEach(p *Plugin, recs []Record) ([][]sdk.Event, []error) {
	evs := make([][]sdk.Event, len(recs))
	errs := make([]error, len(recs))
	outs, err := p.CallRecords(context.Background(), "capture", recs)
	for i := range recs {
		switch {
		case err != nil:
			errs[i] = err
		default:
			evs[i], errs[i] = outs[i].Events, outs[i].Err
		}
	}
	return evs, errs
}

// errTrapOrDeadline matches ErrTrap or ErrDeadline.
var errTrapOrDeadline = trapOrDeadline{}

type trapOrDeadline struct{}

func (trapOrDeadline) Error() string { return "trap or deadline" }

// Is makes errors.Is(err, errTrapOrDeadline) hold for both.
func (trapOrDeadline) Is(error) bool { return false }

func isCallErr(err, want error) bool {
	if want == errTrapOrDeadline {
		return errors.Is(err, ErrTrap) || errors.Is(err, ErrDeadline)
	}
	return errors.Is(err, want)
}

// TestAdversarialThroughput shows that echo keeps at least half its solo throughput while each
// adversarial plugin runs beside it, nonstop (never quarantined here), on the same host.
// adversaries run beside a well-behaved plugin in the neighbour test and benchmark.
var adversaries = []struct {
	plugin  string
	caps    []string
	lim     Limits
	payload string
}{
	{"loop", nil, Limits{}, ""},
	{"membomb", nil, Limits{MemoryPages: 256}, ""},
	{"flood", nil, Limits{OutputBytes: 64 << 10}, ""},
	{"trap", []string{"read:payload.mode"}, Limits{}, `{"mode":"trap"}`},
	{"malformed", nil, Limits{}, ""},
	{"sleep", []string{"read:payload.mode"}, Limits{}, `{"mode":"sleep"}`},
	{"logspam", []string{"log"}, Limits{}, ""},
}

// runAdversary keeps calling an adversary plugin until the returned stop is called.
func runAdversary(tb testing.TB, h *Host, i int) (stop func()) {
	adv := adversaries[i]
	adv.lim.CallTimeout = Duration(100 * time.Millisecond)
	p := loadTest(tb, h, adv.plugin, adv.caps, adv.lim)
	payload := adv.payload
	if payload == "" {
		payload = `{}`
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			p.Call(context.Background(), "capture", [][]byte{[]byte(payload)})
		}
	}()
	return func() { done.Store(true); wg.Wait() }
}

func echoBatch(n int) [][]byte {
	batch := make([][]byte, n)
	for i := range batch {
		batch[i] = []byte(`{"hook_event_name":"PostToolUse","session_id":"s","tool_name":"Read"}`)
	}
	return batch
}

// TestAdversaryNeighbour shows that a well-behaved plugin keeps working, correctly, while each
// adversary runs beside it. (How fast it keeps working is BenchmarkAdversaryNeighbour's figure.)
func TestAdversaryNeighbour(t *testing.T) {
	if inChild(t, 5*time.Minute) { // its guests spin: see inChild
		return
	}
	h := newTestHost(t, Config{QuarantineAfter: 1 << 30, PoolSize: 1})
	echo := loadTest(t, h, "echo", echoCaps, Limits{})
	batch := echoBatch(20)
	for i, adv := range adversaries {
		t.Run(adv.plugin, func(t *testing.T) {
			stop := runAdversary(t, h, i)
			defer stop()
			for range 10 {
				out, err := echo.Call(context.Background(), "capture", batch)
				if err != nil {
					t.Fatalf("echo beside %s: %v", adv.plugin, err)
				}
				for j, o := range out {
					if o.Err != nil || len(o.Events) != 1 || o.Events[0].Kind != "hook.PostToolUse" {
						t.Fatalf("echo beside %s, record %d: %+v", adv.plugin, j, o)
					}
				}
			}
		})
	}
}

// BenchmarkAdversaryNeighbour reports a well-behaved plugin's throughput beside each adversary as
// a share of its throughput alone ("%-of-solo"; the aim is at least 50 on 2 cores).
func BenchmarkAdversaryNeighbour(b *testing.B) {
	h := newTestHost(b, Config{QuarantineAfter: 1 << 30, PoolSize: 1})
	echo := loadTest(b, h, "echo", echoCaps, Limits{})
	batch := echoBatch(50)
	const window = 300 * time.Millisecond
	rate := func() float64 {
		n := 0
		start := time.Now()
		for time.Since(start) < window {
			if _, err := echo.Call(context.Background(), "capture", batch); err != nil {
				b.Fatal(err)
			}
			n += len(batch)
		}
		return float64(n) / time.Since(start).Seconds()
	}
	rate() // warm up
	for i, adv := range adversaries {
		b.Run(adv.plugin, func(b *testing.B) {
			var solo, beside float64
			for range b.N {
				// Best of three windows each way, so a GC or a scheduler hiccup does not decide.
				for range 3 {
					solo = max(solo, rate())
				}
				stop := runAdversary(b, h, i)
				for range 3 {
					beside = max(beside, rate())
				}
				stop()
			}
			b.ReportMetric(solo, "solo-records/s")
			b.ReportMetric(100*beside/solo, "%-of-solo")
		})
	}
}
