package host

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

// TestRecordQuarantine: a plugin whose calls succeed but which fails every record (or emits only
// what the host refuses) is quarantined after QuarantineRecordsAfter records in a row, saying so
// without quoting the plugin; a captured record ends the run; a plugin exempted never is. (That bad
// input the capture stage refuses before any call counts neither way is TestRecordQuarantineBadInput
// in package wasmstage.)
func TestRecordQuarantine(t *testing.T) {
	const after = 5
	prompt := `{"hook_event_name":"UserPromptSubmit","prompt":"Please refactor the payment module so that refunds are idempotent and logged"}`
	type step struct {
		payload string
		n       int // records, in one call
	}
	tests := []struct {
		name   string
		plugin string
		caps   []string
		exempt bool
		steps  []step
		// want is how many steps run before the plugin is quarantined (-1: never).
		want     int
		inReason string
	}{
		{
			name: "every record failed", plugin: "trap", caps: []string{"read:payload.mode"},
			steps: []step{{`{"mode":"panic"}`, 2}, {`{"mode":"panic"}`, 2}, {`{"mode":"panic"}`, 1}},
			want:  3, inReason: "5 records in a row failed and none was captured (5 failed by the plugin, 0 whose events the host refused)",
		},
		{
			name: "a captured record ends the run", plugin: "trap", caps: []string{"read:payload.mode"},
			steps: []step{{`{"mode":"panic"}`, 4}, {`{"mode":"ok"}`, 1}, {`{"mode":"panic"}`, 4}, {`{"mode":"ok"}`, 1}, {`{"mode":"panic"}`, 4}},
			want:  -1,
		},
		{
			name: "every emission refused", plugin: "leak", caps: []string{"content:prompt"},
			steps: []step{{prompt, 3}, {prompt, 3}},
			want:  2, inReason: "6 records in a row failed and none was captured (0 failed by the plugin, 6 whose events the host refused)",
		},
		{
			name: "exempted (a first-party plugin)", plugin: "trap", caps: []string{"read:payload.mode"}, exempt: true,
			steps: []step{{`{"mode":"panic"}`, 20}, {`{"mode":"panic"}`, 20}},
			want:  -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			audit := &auditSink{}
			var mu sync.Mutex
			var reasons []string
			h := newTestHost(t, Config{Audit: audit, QuarantineRecordsAfter: after, OnQuarantine: func(name, reason string) {
				mu.Lock()
				defer mu.Unlock()
				reasons = append(reasons, reason)
			}})
			p := loadTest(t, h, tt.plugin, tt.caps, Limits{})
			if tt.exempt {
				p.SetQuarantineRecordsAfter(-1)
			}
			quarantinedAt := -1
			for i, s := range tt.steps {
				recs := make([]Record, s.n)
				for j := range recs {
					recs[j] = Record{ID: [16]byte{byte(i), byte(j)}, Payload: []byte(s.payload)}
				}
				_, errs := callEach(p, recs)
				for _, err := range errs {
					if errors.Is(err, ErrQuarantined) {
						t.Fatalf("step %d: called while quarantined", i+1)
					}
				}
				if q, _ := p.Quarantined(); q && quarantinedAt < 0 {
					quarantinedAt = i + 1
				}
			}
			if quarantinedAt != tt.want {
				t.Fatalf("quarantined after step %d, want %d", quarantinedAt, tt.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if tt.want < 0 {
				if len(reasons) != 0 || audit.count(p.m.Name, AuditQuarantine) != 0 {
					t.Errorf("quarantines %q, want none", reasons)
				}
				return
			}
			_, reason := p.Quarantined()
			if !strings.Contains(reason, tt.inReason) || len(reasons) != 1 || reasons[0] != reason || audit.count(p.m.Name, AuditQuarantine) != 1 {
				t.Errorf("reason %q, OnQuarantine %q, %d audited; want one quarantine saying %q", reason, reasons, audit.count(p.m.Name, AuditQuarantine), tt.inReason)
			}
			for _, leak := range []string{"handler panic", "Please", "refactor"} {
				if strings.Contains(reason, leak) {
					t.Errorf("the reason quotes the plugin or the content: %q", reason)
				}
			}
			_, errs := callEach(p, []Record{{Payload: []byte(`{"mode":"ok"}`)}})
			if !errors.Is(errs[0], ErrQuarantined) {
				t.Errorf("after the quarantine: %v, want ErrQuarantined", errs[0])
			}
			// Enabling lifts it with a fresh count.
			p.Unquarantine()
			for i := range after - 1 {
				callEach(p, []Record{{ID: [16]byte{0xff, byte(i)}, Payload: []byte(tt.steps[0].payload)}})
			}
			if q, _ := p.Quarantined(); q {
				t.Errorf("quarantined again after %d records once lifted", after-1)
			}
		})
	}
}
