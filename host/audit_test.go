package host

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestAuditLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", AuditName)
	l, err := OpenAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	in := []AuditEntry{
		{Time: t0, Plugin: "a", Action: AuditInstall, Detail: "a@1.0.0"},
		{Time: t0, Plugin: "a", Action: AuditContentAccess, Detail: "prompt", Count: 40},
		{Time: t0, Plugin: "a", Action: AuditContentAccess, Detail: "prompt", Count: 2},
		{Time: t0, Plugin: "a", Action: AuditContentAccess, Detail: "tool_input"},
		{Time: t0.Add(time.Second), Plugin: "b", Action: AuditRefusedEmission, Detail: "carries 12+ bytes of content:prompt"},
	}
	for _, e := range in {
		if err := l.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Record(AuditEntry{Plugin: "b", Action: AuditDeniedHostCall, Detail: "kv_get"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := l.Record(in[0]); err == nil {
		t.Error("Record after Close succeeded")
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Errorf("audit log mode = %v, want 0600", got)
	}
	// A torn last line (a crash mid-write) is skipped; reopening appends.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":"2025-01-02T03:04:05Z","plugin":"a","act`)
	f.Close()
	var got []AuditEntry
	skipped, err := ReadAuditLog(path, func(e AuditEntry) error { got = append(got, e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 1 || len(got) != len(in)+1 {
		t.Fatalf("read %d entries, skipped %d; want %d and 1", len(got), skipped, len(in)+1)
	}
	for i, e := range in {
		if got[i] != e {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], e)
		}
	}
	if got[len(in)].Time.IsZero() || got[len(in)].Time.Location() != time.UTC {
		t.Errorf("a zero time was not set to now in UTC: %v", got[len(in)].Time)
	}
	sum := SummarizeAudit(got)
	if len(sum) != 2 || sum[0].Plugin != "a" || sum[1].Plugin != "b" {
		t.Fatalf("summary = %+v", sum)
	}
	if got, want := sum[0].ContentAccesses["prompt"], int64(42); got != want {
		t.Errorf("prompt accesses = %d, want %d", got, want)
	}
	if got, want := sum[0].ContentAccesses["tool_input"], int64(1); got != want {
		t.Errorf("tool_input accesses = %d, want %d", got, want)
	}
	if got := sum[1].Actions[AuditRefusedEmission]; got != 1 {
		t.Errorf("refused emissions of b = %d, want 1", got)
	}
	if len(sum[1].ContentAccesses) != 0 {
		t.Errorf("b has content accesses: %v", sum[1].ContentAccesses)
	}
	if _, err := ReadAuditLog(filepath.Join(t.TempDir(), "none"), func(AuditEntry) error { return nil }); err != nil {
		t.Errorf("read a missing log: %v", err)
	}
}

// TestAuditLogConcurrent appends from many goroutines through two logs on one file (as the daemon
// and the CLI do): every line is whole.
func TestAuditLogConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), AuditName)
	var logs []*AuditLog
	for range 2 {
		l, err := OpenAuditLog(path)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		logs = append(logs, l)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if err := logs[i%2].Record(AuditEntry{Plugin: "p", Action: AuditContentAccess, Detail: "prompt", Count: 1}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	skipped, err := ReadAuditLog(path, func(AuditEntry) error { n++; return nil })
	if err != nil || skipped != 0 || n != 200 {
		t.Errorf("read %d entries, %d skipped (%v); want 200, 0", n, skipped, err)
	}
}
