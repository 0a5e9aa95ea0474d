package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"
)

// Plugin is a loaded plugin: its compiled module, a pool of instances, its grants and its
// counters. It is safe for concurrent use; at most the host's PoolSize calls run at once (fewer
// when Config.PluginMemory bounds its instances).
type Plugin struct {
	h        *Host
	m        Manifest
	g        Grants
	lim      Limits
	proj     *projector
	log      *slog.Logger
	logLimit *rateLimiter

	// installID is an installed plugin's install id, which its salt derives from (salt.go); ""
	// for a first-party plugin, whose salt derives from its name.
	installID string

	idle   chan *instance
	slots  chan struct{}
	closed atomic.Bool

	interrupt InterruptMode // how calls are stopped: the host's mode, or InterruptClose as a fallback
	coldStart atomic.Int64  // nanoseconds to compile and make the first instance

	// code is the module as compiled (instrumented for interrupts). codeMu guards compiled and
	// cache: the compiled module, nil while released (see releaseIdle), and, with a CacheDir,
	// the plugin's own handle on the compilation cache, whose closing frees the machine code.
	code        []byte
	codeMu      sync.Mutex
	compiled    *extism.CompiledPlugin
	hasCode     atomic.Bool // compiled != nil, for resident without codeMu
	cache       wazero.CompilationCache
	compileTime time.Duration
	lastUsed    atomic.Int64 // Unix nanoseconds at the end of the last call
	releases    atomic.Int64 // how many times idling released the compiled module

	mu          sync.Mutex
	failStreak  int
	quarantined bool
	quarReason  string
	// recordStreak counts the records in a row, across calls, that the plugin failed
	// (streakFailed) or whose emissions the host refused (streakRefused); recordsAfter, when not
	// zero, overrides the host's QuarantineRecordsAfter (negative: never).
	recordStreak, streakFailed, streakRefused int
	recordsAfter                              int

	calls, failures, records, recordErrors, refused atomic.Int64
	guestNanos, lastCallNanos                       atomic.Int64
	instances, instantiations, instantiateNanos     atomic.Int64
	maxMem                                          atomic.Int64
	logsWritten, logsDropped, deniedHostCalls       atomic.Int64
	fsReads, fsBytes                                atomic.Int64
	contentReads                                    []atomic.Int64 // per content grant, as proj.content
	contentMu                                       sync.Mutex
	contentFlushed                                  []int64 // guarded by contentMu

	// recycles counts the instances closed because their window was full (window.go), windowed
	// the bytes all its instances' windows hold; lits answers which strings occur in the plugin's
	// module.
	recycles, windowed atomic.Int64
	lits               literals
}

// Manifest returns the plugin's manifest.
func (p *Plugin) Manifest() Manifest { return p.m }

// Grants returns what the plugin was granted.
func (p *Plugin) Grants() Grants { return p.g }

// Close closes the plugin's instances and compiled module and unloads it from its host (Plugins
// and Stats no longer list it). Calls in flight finish first with an error; later calls return
// ErrClosed. It is safe to call more than once.
func (p *Plugin) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.h.mu.Lock()
	if p.h.plugins[p.m.Name] == p {
		delete(p.h.plugins, p.m.Name)
	}
	p.h.mu.Unlock()
	// Wait for the calls in flight by taking every slot.
	for range cap(p.slots) {
		p.slots <- struct{}{}
	}
	p.drainIdle()
	err := errors.Join(p.flushContentAccess(), p.closeCode())
	if err != nil {
		return fmt.Errorf("close plugin %s: %w", p.m.Name, err)
	}
	return nil
}

// Record is one input record of a call.
type Record struct {
	// ID identifies the record; the ids of the events a plugin emits for it derive from it
	// (capturedID, as pipeline.EventID, for a capture plugin, DerivedID for an enrich or insight plugin).
	ID sdk.ID
	// Received is when the record was received; events with no time of their own get it.
	Received time.Time
	// Payload is the record's raw JSON. The host projects it to the plugin's grants.
	Payload []byte
	// Platform is, for enrich and insight calls, the platform of the source event or derived
	// record; the host sets it on what the plugin emits for the record.
	Platform string
}

// Outcome is what became of one record of a call: its events, or why it failed.
type Outcome struct {
	// Events are the record's events, checked and completed by the host (ids, platform, times).
	Events []sdk.Event
	// Err, if not nil, says why the record failed: it wraps ErrRecordFailed (the plugin said so)
	// or ErrRefusedEmission (the host refused what the plugin emitted). Events is then nil.
	Err error
}

// Call runs one of the plugin's exports ("capture", "enrich" or "insight", matching its kind)
// over raw JSON records, each identified by the hash of its payload. See CallRecords.
func (p *Plugin) Call(ctx context.Context, export string, records [][]byte) ([]Outcome, error) {
	recs := make([]Record, len(records))
	now := p.h.cfg.Now()
	for i, r := range records {
		recs[i] = Record{ID: sdk.NewID("payload", r), Received: now, Payload: r}
	}
	return p.CallRecords(ctx, export, recs)
}

// CallRecords runs one of the plugin's exports over a batch of records in one WASM call: it
// projects each record to the plugin's grants, calls an instance under the plugin's deadline,
// memory and output limits, and checks every emission (see enforce.go). It returns one outcome per
// record, or an error for the whole call: ctx's error if ctx ended, ErrQuarantined, ErrClosed, or
// an error wrapping ErrTrap, ErrDeadline, ErrOutputTooLarge or ErrMalformedOutput when the plugin
// failed (those count toward quarantine, and the instance is discarded).
func (p *Plugin) CallRecords(ctx context.Context, export string, recs []Record) ([]Outcome, error) {
	if export != string(p.m.Kind) {
		return nil, fmt.Errorf("call plugin %s: export %q, want %q for a %s plugin", p.m.Name, export, p.m.Kind, p.m.Kind)
	}
	if p.closed.Load() {
		return nil, fmt.Errorf("call plugin %s: %w", p.m.Name, ErrClosed)
	}
	if q, reason := p.Quarantined(); q {
		return nil, fmt.Errorf("call plugin %s: %w: %s", p.m.Name, ErrQuarantined, reason)
	}
	cs := &callState{p: p}
	input := make([]byte, 0, 64*len(recs)+16)
	input, cs.views = p.proj.appendInput(input, recs, p.contentReads)
	cs.input = input
	in, err := p.acquire(ctx)
	if err != nil {
		if errors.Is(err, ErrTrap) || errors.Is(err, ErrDeadline) {
			p.failed(err) // the plugin's own start function failed
		}
		return nil, fmt.Errorf("call plugin %s: %w", p.m.Name, err)
	}
	if p.closed.Load() {
		p.release(in, false)
		return nil, fmt.Errorf("call plugin %s: %w", p.m.Name, ErrClosed)
	}
	if p.watched() {
		if in, err = p.prepareWindow(ctx, in, cs.views); err != nil {
			return nil, fmt.Errorf("call plugin %s: %w", p.m.Name, err)
		}
		cs.win = in.win
	}
	cs.mem = in.mod.Memory()
	cctx, cancel := context.WithTimeout(context.WithValue(ctx, callKey{}, cs), time.Duration(p.lim.CallTimeout))
	start := time.Now()
	rc, out, err := in.x.CallWithContext(cctx, export, input)
	if cs.outputSet {
		out = cs.output
	}
	d := time.Since(start)
	cause := whyStopped(ctx, cctx, err)
	cancel()
	p.calls.Add(1)
	p.guestNanos.Add(int64(d))
	p.lastCallNanos.Store(int64(d))
	if m := in.mem.Load(); m > p.maxMem.Load() {
		p.maxMem.Store(m) // racy max, good enough for a gauge
	}
	p.flushLogs(ctx, cs)

	var callErr error
	switch {
	case cs.denied != nil:
		callErr = fmt.Errorf("%w: %w", ErrTrap, cs.denied)
	case cause == stopDeadline:
		callErr = fmt.Errorf("%w (%v)", ErrDeadline, time.Duration(p.lim.CallTimeout))
	case cause == stopCaller:
		// The caller gave up: not the plugin's fault. The instance stopped mid-call.
		p.release(in, false)
		return nil, fmt.Errorf("call plugin %s: %w", p.m.Name, callerErr(ctx))
	case err != nil:
		// The guest's own error message (Extism's error_set), or wazero's: plugin text, gated.
		callErr = fmt.Errorf("%w: %s", ErrTrap, p.gateTexts(cs, []gateText{{msg: trapReason(err), record: -1, max: maxTrapText}})[0])
	case rc != 0:
		callErr = fmt.Errorf("%w: exit status %d", ErrTrap, rc)
	case int64(len(out)) > p.lim.OutputBytes:
		callErr = fmt.Errorf("%w: %d bytes, limit %d", ErrOutputTooLarge, len(out), p.lim.OutputBytes)
	}
	var outcomes []Outcome
	if callErr == nil {
		outcomes = make([]Outcome, len(recs))
		var msgs []gateText
		derr := abi.DecodeOutput(out, len(recs), func(i int, evs []sdk.Event, msg string) error {
			if msg != "" {
				msgs = append(msgs, gateText{msg: msg, record: i, max: maxRecordErr, quote: true})
			} else {
				outcomes[i].Events = evs
			}
			return nil
		})
		if derr != nil {
			callErr = fmt.Errorf("%w: %w", ErrMalformedOutput, derr)
			outcomes = nil
		} else {
			for k, msg := range p.gateTexts(cs, msgs) {
				outcomes[msgs[k].record].Err = fmt.Errorf("%w: %s", ErrRecordFailed, msg)
			}
		}
	}
	if callErr == nil {
		// Before the instance goes back: the checks read its window, which its next call changes.
		p.enforce(recs, cs, outcomes)
	}
	p.release(in, callErr == nil)
	p.lastUsed.Store(p.h.cfg.Now().UnixNano())
	if callErr != nil {
		p.failed(callErr)
		return nil, fmt.Errorf("call plugin %s: %w", p.m.Name, callErr)
	}
	p.succeeded()
	p.records.Add(int64(len(recs)))
	p.countRecords(outcomes)
	return outcomes, nil
}

// trapReason says why a wazero call failed, in one line.
func trapReason(err error) string {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return "deadline exceeded"
		case sys.ExitCodeContextCanceled:
			return "cancelled"
		}
		return fmt.Sprintf("exited with code %d", exit.ExitCode())
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 { // wazero appends the guest's stack trace
		msg = msg[:i]
	}
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}

// failed counts a failed call and quarantines the plugin after QuarantineAfter in a row.
func (p *Plugin) failed(err error) {
	p.failures.Add(1)
	p.mu.Lock()
	p.failStreak++
	quarantine := !p.quarantined && p.failStreak >= p.h.cfg.QuarantineAfter
	if quarantine {
		p.quarantined = true
		p.quarReason = fmt.Sprintf("%d calls in a row failed, the last with: %v", p.failStreak, err)
	}
	reason := p.quarReason
	p.mu.Unlock()
	p.log.Warn("plugin call failed", "err", err)
	if quarantine {
		p.quarantinedNow(reason)
	}
}

// countRecords counts the outcomes of a capture plugin's successful call toward the record
// quarantine: a capture plugin whose calls succeed but that fails every record (or emits only
// what the host refuses) is as broken as one that traps, and without it every record of its
// platform would be dead-lettered. After QuarantineRecordsAfter records in a row failed or
// refused, with none captured in between, the plugin is quarantined. Any record it captures (even
// into no event) ends the run. Records the host refused before the call (bad input no plugin
// could read) never get here. The reason quotes nothing the plugin wrote. Enrich and insight
// plugins are left out: what they fail is an event, metadata, dead-lettered while the rest runs.
func (p *Plugin) countRecords(outcomes []Outcome) {
	if p.m.Kind != KindCapture {
		return
	}
	p.mu.Lock()
	limit := p.h.cfg.QuarantineRecordsAfter
	if p.recordsAfter != 0 {
		limit = p.recordsAfter
	}
	for i := range outcomes {
		switch err := outcomes[i].Err; {
		case err == nil:
			p.recordStreak, p.streakFailed, p.streakRefused = 0, 0, 0
		case errors.Is(err, ErrRefusedEmission):
			p.recordStreak++
			p.streakRefused++
		default:
			p.recordStreak++
			p.streakFailed++
		}
	}
	quarantine := limit > 0 && !p.quarantined && p.recordStreak >= limit
	if quarantine {
		p.quarantined = true
		p.quarReason = fmt.Sprintf("%d records in a row failed and none was captured (%d failed by the plugin, %d whose events the host refused)",
			p.recordStreak, p.streakFailed, p.streakRefused)
	}
	reason := p.quarReason
	p.mu.Unlock()
	if quarantine {
		p.quarantinedNow(reason)
	}
}

// SetQuarantineRecordsAfter overrides the host's Config.QuarantineRecordsAfter for this plugin:
// n records in a row failed or refused quarantine it; n < 0 never does. The daemon exempts the
// first-party plugins: their record failures are bad input, and no other plugin could take their
// platform.
func (p *Plugin) SetQuarantineRecordsAfter(n int) {
	p.mu.Lock()
	p.recordsAfter = n
	p.mu.Unlock()
}

// quarantinedNow logs, audits and reports (OnQuarantine) a quarantine just decided.
func (p *Plugin) quarantinedNow(reason string) {
	p.log.Error("plugin quarantined", "reason", reason)
	p.audit(AuditQuarantine, reason, 0)
	if fn := p.h.cfg.OnQuarantine; fn != nil {
		fn(p.m.Name, reason)
	}
}

func (p *Plugin) succeeded() {
	p.mu.Lock()
	p.failStreak = 0
	p.mu.Unlock()
}

// Quarantined reports whether the plugin is quarantined, and why.
func (p *Plugin) Quarantined() (bool, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.quarantined, p.quarReason
}

// Unquarantine lifts a quarantine (agent plugins enable): calls run again.
func (p *Plugin) Unquarantine() {
	p.mu.Lock()
	p.quarantined, p.quarReason, p.failStreak = false, "", 0
	p.recordStreak, p.streakFailed, p.streakRefused = 0, 0, 0
	p.mu.Unlock()
}

// audit records an entry, logging (not returning) a failure: the audit log must not stop calls.
func (p *Plugin) audit(action, detail string, count int64) {
	a := p.h.cfg.Audit
	if a == nil {
		return
	}
	if err := a.Record(AuditEntry{Time: p.h.cfg.Now(), Plugin: p.m.Name, Action: action, Detail: detail, Count: count}); err != nil {
		p.log.Error("audit failed", "action", action, "err", err)
	}
}

// flushContentAccess writes the content-access counts since the last flush to the audit log.
func (p *Plugin) flushContentAccess() error {
	p.contentMu.Lock()
	defer p.contentMu.Unlock()
	for i, path := range p.proj.content {
		n := p.contentReads[i].Load()
		if d := n - p.contentFlushed[i]; d > 0 {
			if a := p.h.cfg.Audit; a != nil {
				if err := a.Record(AuditEntry{Time: p.h.cfg.Now(), Plugin: p.m.Name, Action: AuditContentAccess, Detail: path, Count: d}); err != nil {
					return fmt.Errorf("flush content accesses of %s: %w", p.m.Name, err)
				}
			}
			p.contentFlushed[i] = n
		}
	}
	return nil
}

// Stats are a plugin's resource use and state, for agent status and /metrics.
type Stats struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Kind        Kind   `json:"kind"`
	Quarantined bool   `json:"quarantined"`
	// QuarantineReason says why, when quarantined.
	QuarantineReason string `json:"quarantine_reason,omitempty"`
	// Calls counts WASM calls (batches); Failures those that failed as a whole.
	Calls    int64 `json:"calls"`
	Failures int64 `json:"failures"`
	// Records counts records of successful calls; RecordErrors those the plugin failed, Refused
	// those whose emissions the host refused.
	Records      int64 `json:"records"`
	RecordErrors int64 `json:"record_errors"`
	Refused      int64 `json:"refused"`
	// GuestTime is the total time spent in calls; LastCall the latest call's.
	GuestTime time.Duration `json:"guest_time_ns"`
	LastCall  time.Duration `json:"last_call_ns"`
	// CompileTime is the time Load took to compile (short when the cache had it); ColdStart adds
	// the first instantiation; AvgInstantiate is the mean time to make an instance.
	CompileTime    time.Duration `json:"compile_time_ns"`
	ColdStart      time.Duration `json:"cold_start_ns"`
	AvgInstantiate time.Duration `json:"avg_instantiate_ns"`
	// Instances is how many instances exist now; MaxMemoryBytes the most linear memory one
	// instance has held (its module's and Extism's kernel's), MemoryLimitPages the module's limit.
	Instances        int64  `json:"instances"`
	MaxMemoryBytes   int64  `json:"max_memory_bytes"`
	MemoryLimitPages uint32 `json:"memory_limit_pages"`
	// Released counts the times the host released the idle plugin's instances and machine code
	// (Config.IdleRelease); Resident is whether its machine code is loaded now.
	Released int64 `json:"released"`
	Resident bool  `json:"resident"`
	// LogsWritten and LogsDropped count plugin log lines (dropped by the rate limit).
	LogsWritten int64 `json:"logs_written"`
	LogsDropped int64 `json:"logs_dropped"`
	// DeniedHostCalls counts calls to host functions the plugin was not granted.
	DeniedHostCalls int64 `json:"denied_host_calls"`
	// FSReads and FSReadBytes count successful fs_read calls and the bytes they returned.
	FSReads     int64 `json:"fs_reads"`
	FSReadBytes int64 `json:"fs_read_bytes"`
	// WindowRecycles counts the instances closed because their window was full: the next call
	// ran on a fresh one (Config.WindowBytes). WindowBytes is what the windows hold now.
	WindowRecycles int64 `json:"window_recycles"`
	WindowBytes    int64 `json:"window_bytes"`
	// ContentReads counts, per content grant ("prompt"), the records whose field the plugin was
	// shown.
	ContentReads map[string]int64 `json:"content_reads,omitempty"`
}

// resident reports whether the plugin's machine code is loaded. It does not take codeMu, which a
// compile holds for as long as it takes (seconds, for a deferred one): status never waits for it.
func (p *Plugin) resident() bool { return p.hasCode.Load() }

// Status returns the plugin's state and resource use.
func (p *Plugin) Status() Stats {
	q, reason := p.Quarantined()
	s := Stats{
		Name: p.m.Name, Version: p.m.Version, Kind: p.m.Kind,
		Quarantined: q, QuarantineReason: reason,
		Calls: p.calls.Load(), Failures: p.failures.Load(),
		Records: p.records.Load(), RecordErrors: p.recordErrors.Load(), Refused: p.refused.Load(),
		GuestTime: time.Duration(p.guestNanos.Load()), LastCall: time.Duration(p.lastCallNanos.Load()),
		CompileTime: p.compileTime, ColdStart: time.Duration(p.coldStart.Load()),
		Instances: p.instances.Load(), MaxMemoryBytes: p.maxMem.Load(), MemoryLimitPages: p.lim.MemoryPages,
		Released: p.releases.Load(), Resident: p.resident(),
		LogsWritten: p.logsWritten.Load(), LogsDropped: p.logsDropped.Load(),
		DeniedHostCalls: p.deniedHostCalls.Load(),
		FSReads:         p.fsReads.Load(), FSReadBytes: p.fsBytes.Load(),
		WindowRecycles: p.recycles.Load(), WindowBytes: p.windowed.Load(),
	}
	if n := p.instantiations.Load(); n > 0 {
		s.AvgInstantiate = time.Duration(p.instantiateNanos.Load() / n)
	}
	for i, path := range p.proj.content {
		if s.ContentReads == nil {
			s.ContentReads = map[string]int64{}
		}
		s.ContentReads[path] = p.contentReads[i].Load()
	}
	return s
}

// Stats returns the status of every loaded plugin.
func (h *Host) Stats() []Stats {
	ps := h.Plugins()
	out := make([]Stats, len(ps))
	for i, p := range ps {
		out[i] = p.Status()
	}
	return out
}
