package host

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// AuditName is the file name of the audit log inside the data directory.
const AuditName = "audit.log"

// The audit actions.
const (
	AuditInstall    = "install"
	AuditUpgrade    = "upgrade"
	AuditRemove     = "remove"
	AuditEnable     = "enable"
	AuditDisable    = "disable"
	AuditGrant      = "grant"
	AuditRevoke     = "revoke"
	AuditQuarantine = "quarantine"
	// AuditMigrate records that the registry gave a plugin installed by an earlier build an
	// install id, and with it a salt of its own.
	AuditMigrate = "migrate"
	// AuditRefusedEmission records an emission the host refused (schema or content leak).
	AuditRefusedEmission = "refused-emission"
	// AuditContentAccess records that a plugin was shown a content field: Detail names the field
	// (e.g. "prompt") and Count says how many records (0 means 1).
	AuditContentAccess = "content-access"
	// AuditDeniedHostCall records a host function call the plugin was not granted.
	AuditDeniedHostCall = "denied-host-call"
)

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Plugin string    `json:"plugin"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
	// Count, for aggregated entries (content-access), is how many occurrences the entry stands
	// for; 0 means one.
	Count int64 `json:"count,omitempty"`
}

// N returns how many occurrences the entry stands for: Count, or 1 if Count is 0.
func (e AuditEntry) N() int64 {
	if e.Count > 0 {
		return e.Count
	}
	return 1
}

// Auditor records audit entries. Implementations must be safe for concurrent use.
type Auditor interface {
	Record(AuditEntry) error
}

// AuditLog is the append-only audit log, <data-dir>/audit.log: one JSON object per line, each
// written with a single write on a file opened O_APPEND and synced before Record returns, so that
// several processes (the daemon and the CLI) may append to it at once. It is safe for concurrent
// use.
type AuditLog struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

var _ Auditor = (*AuditLog)(nil)

// OpenAuditLog opens (creating with mode 0600) the audit log at path for appending.
func OpenAuditLog(path string) (*AuditLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	return &AuditLog{f: f, path: path}, nil
}

// Path returns the log's file path.
func (l *AuditLog) Path() string { return l.path }

// Record appends e (with the current time if e.Time is zero) and syncs it to disk.
func (l *AuditLog) Record(e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("audit: log closed")
	}
	if _, err := l.f.Write(line); err != nil {
		return fmt.Errorf("audit: write: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit: sync: %w", err)
	}
	return nil
}

// Close closes the log. It is safe to call more than once.
func (l *AuditLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// ReadAuditLog calls fn for each entry of the audit log at path, oldest first. A missing log has
// no entries. A line that does not decode (a write torn by a crash) is skipped and counted in the
// returned number.
func ReadAuditLog(path string, fn func(AuditEntry) error) (skipped int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read audit log: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for {
		line, rerr := r.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			var e AuditEntry
			if json.Unmarshal(line, &e) != nil || e.Action == "" {
				skipped++
			} else if err := fn(e); err != nil {
				return skipped, err
			}
		}
		if rerr == io.EOF {
			return skipped, nil
		}
		if rerr != nil {
			return skipped, fmt.Errorf("read audit log: %w", rerr)
		}
	}
}

// AuditSummary is what the audit log says about one plugin.
type AuditSummary struct {
	Plugin string `json:"plugin"`
	// Actions counts entries by action (aggregated entries count their Count).
	Actions map[string]int64 `json:"actions"`
	// ContentAccesses counts, by content field, the records whose field the plugin was shown.
	ContentAccesses map[string]int64 `json:"content_accesses"`
	// Last is the time of the plugin's latest entry.
	Last time.Time `json:"last"`
}

// SummarizeAudit aggregates entries per plugin, sorted by plugin name.
func SummarizeAudit(entries []AuditEntry) []AuditSummary {
	by := map[string]*AuditSummary{}
	for _, e := range entries {
		s := by[e.Plugin]
		if s == nil {
			s = &AuditSummary{Plugin: e.Plugin, Actions: map[string]int64{}, ContentAccesses: map[string]int64{}}
			by[e.Plugin] = s
		}
		s.Actions[e.Action] += e.N()
		if e.Action == AuditContentAccess {
			field := e.Detail
			if field == "" {
				field = "?"
			}
			s.ContentAccesses[field] += e.N()
		}
		if e.Time.After(s.Last) {
			s.Last = e.Time
		}
	}
	out := make([]AuditSummary, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b AuditSummary) int { return strings.Compare(a.Plugin, b.Plugin) })
	return out
}
