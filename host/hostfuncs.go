package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero/api"
)

// KV is the store behind the kv host functions: a keyspace per plugin. Implementations must be
// safe for concurrent use. The daemon backs it with the store's consumer-state keyspace.
type KV interface {
	// Get returns the value under key in plugin's keyspace, or nil and no error if there is none.
	Get(plugin string, key []byte) ([]byte, error)
	// Set stores value under key in plugin's keyspace.
	Set(plugin string, key, value []byte) error
}

// Limits of the kv host functions.
const (
	MaxKVKey   = 256
	MaxKVValue = 64 << 10
	// maxLogLine bounds one plugin log line.
	maxLogLine = 1024
)

// MemKV is a KV in memory, for tests and tools. The zero value is ready to use.
type MemKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

var _ KV = (*MemKV)(nil)

// Get implements KV.
func (kv *MemKV) Get(plugin string, key []byte) ([]byte, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	v, ok := kv.m[plugin+"\x00"+string(key)]
	if !ok {
		return nil, nil
	}
	return append([]byte{}, v...), nil
}

// Set implements KV.
func (kv *MemKV) Set(plugin string, key, value []byte) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if kv.m == nil {
		kv.m = map[string][]byte{}
	}
	kv.m[plugin+"\x00"+string(key)] = append([]byte{}, value...)
	return nil
}

// callKey is the context key of the callState of a call.
type callKey struct{}

// kvKey is the context key of a call's own KV (WithKV), which replaces the host's for that call.
type kvKey struct{}

// WithKV returns ctx carrying kv for the kv host functions of a call made with it (kv_get,
// kv_set), in place of the host's Config.KV: an enrich or insight consumer (package wasmstage)
// so writes the plugin's keyspace into the batch that commits its cursor.
func WithKV(ctx context.Context, kv KV) context.Context { return context.WithValue(ctx, kvKey{}, kv) }

// kvOf returns the KV of a call: the call's own (WithKV), else the host's.
func (p *Plugin) kvOf(ctx context.Context) KV {
	if kv, ok := ctx.Value(kvKey{}).(KV); ok {
		return kv
	}
	return p.h.cfg.KV
}

// callState is what host functions know of the call they serve.
type callState struct {
	p     *Plugin
	views []recordView // the records' content, when the plugin holds content grants
	// win is the instance's window (window.go), when the plugin holds content or fs:read grants:
	// everything it was shown, this call's records included.
	win *window
	// logs are the plugin's log lines of the call, written once it ends, through the gate.
	logs []logLine
	// denied is set by a host function that refused to run; the call then fails with it.
	denied error
	// mem is the guest's linear memory. input is the call's input, for input_read; output is
	// what output_write set, if outputSet.
	mem       api.Memory
	input     []byte
	output    []byte
	outputSet bool
}

func (cs *callState) view(i int) *recordView {
	if cs.views == nil {
		return nil
	}
	return &cs.views[i]
}

// readsOf returns the granted read values (of leakWindow bytes or more) of record i, or of every
// record of the call for i < 0: parts of plugin strings equal to one are not leaks.
func (cs *callState) readsOf(i int) []string {
	if cs.views == nil {
		return nil
	}
	if i >= 0 {
		return cs.views[i].reads
	}
	var all []string
	for k := range cs.views {
		all = append(all, cs.views[k].reads...)
	}
	return all
}

// logLine is a plugin's log line, held until its call ends.
type logLine struct {
	level slog.Level
	msg   string
}

// flushLogs writes the call's log lines to the agent's log, each through the gate (a line that
// carries content the instance was shown is withheld).
func (p *Plugin) flushLogs(ctx context.Context, cs *callState) {
	if len(cs.logs) == 0 {
		return
	}
	texts := make([]gateText, len(cs.logs))
	for k, l := range cs.logs {
		texts[k] = gateText{msg: l.msg, record: -1, max: maxLogLine}
	}
	for k, msg := range p.gateTexts(cs, texts) {
		p.log.Log(ctx, cs.logs[k].level, msg, "source", "plugin")
	}
	cs.logs = nil
}

// ErrDenied is wrapped by the error of a call that used a host function it was not granted.
var ErrDenied = errors.New("host: host function not granted")

// hostFunctions returns the "hangar" module's functions, as sdk/pdk imports them. Each checks the
// plugin's grant when called; a denied call traps the guest, fails the call and is audited.
func (p *Plugin) hostFunctions() []extism.HostFunction {
	i64, i32 := extism.ValueTypeI64, extism.ValueTypeI32
	fns := []extism.HostFunction{
		extism.NewHostFunctionWithStack("log", p.hostLog, []extism.ValueType{i64, i64}, nil),
		extism.NewHostFunctionWithStack("kv_get", p.hostKVGet, []extism.ValueType{i64}, []extism.ValueType{i64}),
		extism.NewHostFunctionWithStack("kv_set", p.hostKVSet, []extism.ValueType{i64, i64}, nil),
		extism.NewHostFunctionWithStack("kv_read", p.hostKVRead, []extism.ValueType{i32, i32, i32, i32}, []extism.ValueType{i32}),
		extism.NewHostFunctionWithStack("kv_write", p.hostKVWrite, []extism.ValueType{i32, i32, i32, i32}, nil),
	}
	fns = append(fns, p.fsFunctions()...) // fs_read, fs_stat (fsread.go)
	fns = append(fns, p.saltFunction())   // salt (salt.go)
	for i := range fns {
		fns[i].SetNamespace("hangar")
	}
	return fns
}

// state returns the call's state; a host function called outside a call (impossible through
// Extism) traps.
func state(ctx context.Context) *callState {
	cs, ok := ctx.Value(callKey{}).(*callState)
	if !ok {
		panic("hangar host function called outside a call")
	}
	return cs
}

// deny records a refused host call and traps the guest.
func (cs *callState) deny(format string, args ...any) {
	err := fmt.Errorf("%w: %s", ErrDenied, fmt.Sprintf(format, args...))
	if cs.denied == nil {
		cs.denied = err
	}
	cs.p.deniedHostCalls.Add(1)
	cs.p.audit(AuditDeniedHostCall, err.Error(), 0)
	panic(err)
}

// fail traps the guest with err, as a failed (not denied) host call.
func (cs *callState) fail(err error) {
	if cs.denied == nil {
		cs.denied = err
	}
	panic(err)
}

func readBlock(cp *extism.CurrentPlugin, cs *callState, off uint64, limit uint64, what string) []byte {
	n, err := cp.Length(off)
	if err != nil {
		cs.fail(fmt.Errorf("read %s: %w", what, err))
	}
	if n > limit {
		cs.fail(fmt.Errorf("%s of %d bytes, at most %d", what, n, limit))
	}
	b, err := cp.ReadBytes(off)
	if err != nil {
		cs.fail(fmt.Errorf("read %s: %w", what, err))
	}
	return b
}

// hostLog is log(level, msg): a line in the agent's log under the plugin's name (capability
// "log"). Lines beyond the host's rate are dropped and counted; long lines are cut. The line is
// written when the call ends, through the gate (gateTexts): a line that carries content the
// instance was shown is withheld.
func (p *Plugin) hostLog(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	cs := state(ctx)
	if !p.g.Has(ClassLog, "") {
		cs.deny("log")
	}
	if !p.logLimit.allow() {
		p.logsDropped.Add(1)
		return
	}
	n, err := cp.Length(stack[1])
	if err != nil {
		cs.fail(fmt.Errorf("read log line: %w", err))
	}
	buf, ok := cp.Memory().Read(uint32(stack[1]), uint32(min(n, maxLogLine)))
	if !ok {
		cs.fail(errors.New("read log line: out of bounds"))
	}
	p.logsWritten.Add(1)
	level := slog.LevelInfo
	switch stack[0] {
	case 0:
		level = slog.LevelDebug
	case 2:
		level = slog.LevelWarn
	case 3:
		level = slog.LevelError
	}
	cs.logs = append(cs.logs, logLine{level, string(buf)})
}

// hostKVGet is kv_get(key) -> offset of the value, or 0 if there is none (capability "kv").
func (p *Plugin) hostKVGet(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	cs := state(ctx)
	if !p.g.Has(ClassKV, "") {
		cs.deny("kv_get")
	}
	kv := p.kvOf(ctx)
	if kv == nil {
		cs.fail(errors.New("kv_get: no kv store"))
	}
	key := readBlock(cp, cs, stack[0], MaxKVKey, "kv key")
	v, err := kv.Get(p.m.Name, key)
	if err != nil {
		cs.fail(fmt.Errorf("kv_get: %w", err))
	}
	if v == nil {
		stack[0] = 0
		return
	}
	off, err := cp.WriteBytes(v)
	if err != nil {
		cs.fail(fmt.Errorf("kv_get: %w", err))
	}
	stack[0] = off
}

// hostKVSet is kv_set(key, value) (capability "kv"). A key or value that carries content the
// instance was shown, in this call or an earlier one, is refused: the keyspace is at rest.
func (p *Plugin) hostKVSet(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	cs := state(ctx)
	if !p.g.Has(ClassKV, "") {
		cs.deny("kv_set")
	}
	kv := p.kvOf(ctx)
	if kv == nil {
		cs.fail(errors.New("kv_set: no kv store"))
	}
	key := readBlock(cp, cs, stack[0], MaxKVKey, "kv key")
	value := readBlock(cp, cs, stack[1], MaxKVValue, "kv value")
	if p.kvLeaks(cs, key, value) {
		p.refused.Add(1)
		p.audit(AuditRefusedEmission, "kv_set: the key or value carries content the plugin was shown", 0)
		cs.fail(fmt.Errorf("%w: kv_set carries content the plugin was shown", ErrRefusedEmission))
	}
	if err := kv.Set(p.m.Name, key, value); err != nil {
		cs.fail(fmt.Errorf("kv_set: %w", err))
	}
}

// The kv functions on the guest's own memory, as the batch ABI's input_read and output_write:
// kv_get and kv_set move keys and values through Extism's memory, which a guest fills and reads 8
// bytes per host call (each a trip through Extism's kernel module), which cost more than the
// plugin's own work on a call's state. Both pairs share the keyspace, the limits and the checks.

// hostKVRead is kv_read(key i32, key_len i32, dst i32, cap i32) -> i32 (capability "kv"): it
// copies the value under the key into guest memory at dst if it fits in cap bytes, and returns its
// length either way, or -1 if there is none. A guest whose buffer was too small calls again with
// one of the length returned (values are at most MaxKVValue bytes).
func (p *Plugin) hostKVRead(ctx context.Context, _ *extism.CurrentPlugin, stack []uint64) {
	cs := state(ctx)
	if !p.g.Has(ClassKV, "") {
		cs.deny("kv_read")
	}
	kv := p.kvOf(ctx)
	if kv == nil {
		cs.fail(errors.New("kv_read: no kv store"))
	}
	key := guestBlock(cs, uint32(stack[0]), uint32(stack[1]), MaxKVKey, "kv key")
	dst, capacity := uint32(stack[2]), uint32(stack[3])
	v, err := kv.Get(p.m.Name, key)
	if err != nil {
		cs.fail(fmt.Errorf("kv_read: %w", err))
	}
	if v == nil {
		stack[0] = api.EncodeI32(-1)
		return
	}
	if len(v) <= int(capacity) && !cs.mem.Write(dst, v) {
		cs.fail(errors.New("kv_read out of bounds"))
	}
	stack[0] = api.EncodeI32(int32(len(v)))
}

// hostKVWrite is kv_write(key i32, key_len i32, value i32, value_len i32) (capability "kv"): what
// kv_set does, with the key and value in guest memory.
func (p *Plugin) hostKVWrite(ctx context.Context, _ *extism.CurrentPlugin, stack []uint64) {
	cs := state(ctx)
	if !p.g.Has(ClassKV, "") {
		cs.deny("kv_write")
	}
	kv := p.kvOf(ctx)
	if kv == nil {
		cs.fail(errors.New("kv_write: no kv store"))
	}
	// Copies: a view of guest memory is valid only until the guest runs again.
	key := bytes.Clone(guestBlock(cs, uint32(stack[0]), uint32(stack[1]), MaxKVKey, "kv key"))
	value := bytes.Clone(guestBlock(cs, uint32(stack[2]), uint32(stack[3]), MaxKVValue, "kv value"))
	if p.kvLeaks(cs, key, value) {
		p.refused.Add(1)
		p.audit(AuditRefusedEmission, "kv_write: the key or value carries content the plugin was shown", 0)
		cs.fail(fmt.Errorf("%w: kv_write carries content the plugin was shown", ErrRefusedEmission))
	}
	if err := kv.Set(p.m.Name, key, value); err != nil {
		cs.fail(fmt.Errorf("kv_write: %w", err))
	}
}

// guestBlock returns a view of n bytes of guest memory at ptr, failing the call if n is over
// limit or the block is out of bounds.
func guestBlock(cs *callState, ptr, n uint32, limit uint64, what string) []byte {
	if uint64(n) > limit {
		cs.fail(fmt.Errorf("%s of %d bytes, at most %d", what, n, limit))
	}
	b, ok := cs.mem.Read(ptr, n)
	if !ok {
		cs.fail(fmt.Errorf("read %s: out of bounds", what))
	}
	return b
}

// kvLeaks reports whether a kv key or value carries content the instance was shown (less the
// granted read values of the call's records).
func (p *Plugin) kvLeaks(cs *callState, key, value []byte) bool {
	if cs.win.empty() {
		return false
	}
	var segs []string
	reads := cs.readsOf(-1)
	for _, b := range [][]byte{key, value} {
		segments(reads, unsafe.String(unsafe.SliceData(b), len(b)), func(seg string) { segs = append(segs, seg) })
	}
	for _, hit := range p.windowLeaks(cs.win, segs, false) {
		if hit {
			return true
		}
	}
	return false
}

// rateLimiter is a token bucket: rate tokens a second, bursts of rate.
type rateLimiter struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newRateLimiter(rate int, now func() time.Time) *rateLimiter {
	return &rateLimiter{rate: float64(rate), tokens: float64(rate), now: now, last: now()}
}

func (r *rateLimiter) allow() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.now()
	r.tokens = min(r.rate, r.tokens+t.Sub(r.last).Seconds()*r.rate)
	r.last = t
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}
