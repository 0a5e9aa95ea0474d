package loader

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
)

// auditedReads returns the content reads of field the audit log holds for plugin.
func auditedReads(t *testing.T, path, plugin, field string) int64 {
	t.Helper()
	var entries []host.AuditEntry
	if _, err := host.ReadAuditLog(path, func(e host.AuditEntry) error {
		entries = append(entries, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, s := range host.SummarizeAudit(entries) {
		if s.Plugin == plugin {
			return s.ContentAccesses[field]
		}
	}
	return 0
}

// TestAuditFlush: while plugins run, their content reads reach the audit log every
// Config.AuditFlush, and at once on FlushAudit, so that the log agrees with the status. They used
// to reach it only when the plugin was closed (a reload, the daemon stopping): `agent audit`
// showed 1 content read while `agent status` showed hundreds.
func TestAuditFlush(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		explicit bool // call FlushAudit rather than wait for the interval
	}{
		{"every interval", 100 * time.Millisecond, false},
		{"on demand", time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.install(t, buildPluginFolder(t, "adversarial/trap", "trapper", host.KindCapture, "claude-code",
				"read:payload.mode", "content:prompt", "emit:events"))
			cfg := e.config()
			cfg.AuditFlush = tt.interval
			l := e.loader(t, cfg)
			if _, err := l.Start(nil); err != nil {
				t.Fatal(err)
			}
			auditLog := filepath.Join(cfg.DataDir, host.AuditName)
			for round, n := range []int64{3, 4} {
				for range n {
					rec := newRecord([]byte(`{"hook_event_name":"UserPromptSubmit","session_id":"s1","prompt":"why does the job retry twice?"}`))
					if _, err := e.swap.Capture(&rec); err != nil {
						t.Fatal(err)
					}
				}
				want := statusOf(t, l, "trapper").ContentReads["prompt"]
				if want != 3+int64(round)*4 {
					t.Fatalf("round %d: status counts %d prompt reads, want %d", round, want, 3+round*4)
				}
				if tt.explicit {
					if err := l.FlushAudit(); err != nil {
						t.Fatal(err)
					}
					if got := auditedReads(t, auditLog, "trapper", "prompt"); got != want {
						t.Fatalf("round %d: after FlushAudit the audit log has %d prompt reads, status %d", round, got, want)
					}
					continue
				}
				deadline := time.Now().Add(10 * time.Second)
				for {
					got := auditedReads(t, auditLog, "trapper", "prompt")
					if got == want {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("round %d: 10 s after the reads the audit log has %d prompt reads, status %d (flushed every %v)", round, got, want, tt.interval)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			// Close flushes, and nothing after it.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := l.FlushAudit(); err != nil {
				t.Errorf("FlushAudit after Close: %v, want nil (nothing to flush)", err)
			}
			if got := auditedReads(t, auditLog, "trapper", "prompt"); got != 7 {
				t.Errorf("after Close the audit log has %d prompt reads, want 7", got)
			}
		})
	}
}
