package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store/seal"
)

// Sentinel errors.
var (
	// ErrNotFound is returned when a looked-up record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrClosed is returned by operations on a closed store.
	ErrClosed = errors.New("store: closed")
	// ErrNoPayloadKey means a dead letter's payload has no key to be sealed or opened with
	// (Options.PayloadKey): it is never written in the clear.
	ErrNoPayloadKey = errors.New("store: no payload key")
)

// formatVersion is the key layout version, kept under metaFormat. Open refuses a newer one.
const formatVersion = 1

var (
	metaFormat  = nameKey(prefixMeta, "format")
	metaLastDLQ = nameKey(prefixMeta, "dlq.last")
	metaLastSeq = nameKey(prefixMeta, "events.last")
	// metaLastDerived holds the highest committed derived-record sequence number (derived.go).
	metaLastDerived = nameKey(prefixMeta, "derived.last")
	counterDLQ      = "dlq"
	counterEvent    = "events\x00" // followed by platform 0x00 kind
)

// Options configure Open. The zero value is usable.
type Options struct {
	// Logger receives Pebble's own messages at debug level (errors at error level). Nil discards them.
	Logger *slog.Logger
	// CacheSize is Pebble's block cache in bytes; 0 means 16 MiB.
	CacheSize int64
	// ReadOnly opens an existing store for reading only: Open writes nothing (no new log, no
	// manifest, no options file), and every write fails. It is much quicker to open, which
	// matters to a command that lives a few milliseconds. A store that does not exist yet is an
	// error.
	ReadOnly bool
	// PayloadKey seals the payloads of dead letters before they enter a batch and opens them when
	// they are read (see DLQRecord). Without one, adding a dead letter with a payload fails, and
	// read payloads stay sealed. The key lives in a file of its own (seal.KeyName), never in the
	// store.
	PayloadKey *seal.Key
}

// Store is an open Hangar database. It is safe for concurrent use.
type Store struct {
	db       *pebble.DB
	dir      string
	readOnly bool
	fsCloser io.Closer // stops the disk-health checker
	key      *seal.Key // seals dead letters' payloads; nil: none can be added

	// Event batches are built one at a time and committed in log order, and the next batch can be
	// built while the previous one syncs: appendMu is held by the batch being built, from its first
	// AddEvent until its Commit starts; commitMu by the batch being committed. A batch takes
	// commitMu before it lets go of appendMu (hand over hand), so commits keep the build order.
	appendMu   sync.Mutex
	commitMu   sync.Mutex
	ids        *idFilter // guarded by appendMu; nil until the first append (idfilter.go)
	nextSeq    uint64    // guarded by appendMu: the next event sequence number to hand out
	prevFailed bool      // guarded by commitMu: the last event batch failed to commit

	pendingMu sync.Mutex
	pending   map[sdk.ID]struct{} // guarded by pendingMu: ids of the event batch being committed

	lastSeq    atomic.Uint64 // highest committed event sequence number
	nextDLQ    atomic.Uint64
	dlqMu      sync.Mutex // held while a batch that adds dead letters records metaLastDLQ and commits
	lastIngest time.Time  // guarded by appendMu: ingest times never go backwards

	// lifeMu is held by what deletes events (retention, a purge), so that two never count the
	// same deletion twice (lifecycle.go).
	lifeMu sync.Mutex

	// checkpointMu serializes checkpoint writes, so that SwapCheckpoint's read and write are
	// atomic; it is not held during the WAL sync (checkpoints.go).
	checkpointMu sync.Mutex

	mu       sync.Mutex
	counters map[string]int64 // guarded by mu; mirrors the n keyspace
	notify   chan struct{}    // guarded by mu; closed and replaced on every event commit
	closed   atomic.Bool      // set under mu; checked before every use of db, which panics once closed

	derived derivedState // derived records' sequence numbers and notification; see derived.go
}

// PlatformKind names a pair of event platform and kind, for counts.
type PlatformKind struct {
	Platform string `json:"platform"`
	Kind     string `json:"kind"`
}

// Open opens (creating if needed) the store in dir. Only one process can have a store open.
func Open(dir string, opts Options) (*Store, error) {
	cacheSize := opts.CacheSize
	if cacheSize <= 0 {
		cacheSize = 16 << 20
	}
	cache := pebble.NewCache(cacheSize)
	defer cache.Unref()
	// Pebble wraps the filesystem with disk-health checks itself, but leaks the checker's goroutine
	// when Open fails; owning the wrapper lets a failed Open (and Close) stop it.
	fs, fsCloser := vfs.WithDiskHealthChecks(vfs.Default, 5*time.Second, nil, func(info vfs.DiskSlowInfo) {
		if opts.Logger != nil {
			opts.Logger.Warn("slow disk", "op", info.OpType.String(), "path", info.Path, "duration", info.Duration)
		}
	})
	po := &pebble.Options{
		FS:                 fs,
		Cache:              cache,
		Merger:             counterMerger,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{opts.Logger},
		ReadOnly:           opts.ReadOnly,
		ErrorIfNotExists:   opts.ReadOnly,
		// Never recycle a write-ahead log, and rotate the manifest as soon as the edits since
		// its last snapshot outnumber the live tables: deleted data must be able to leave the
		// disk (Scrub, lifecycle.go).
		Cleaner:             noRecycleCleaner{},
		MaxManifestFileSize: 1,
	}
	// Every appended event looks its id up first (dedup), and nearly all are new: bloom filters let
	// such a miss skip the tables instead of reading their blocks. Later levels inherit L0's.
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	po.L0CompactionThreshold, po.L0StopWritesThreshold = 16, 64
	db, err := pebble.Open(dir, po)
	if err != nil {
		fsCloser.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db, dir: dir, readOnly: opts.ReadOnly, fsCloser: fsCloser, key: opts.PayloadKey, counters: map[string]int64{}, notify: make(chan struct{})}
	s.derived.notify = make(chan struct{})
	if err := s.load(); err != nil {
		db.Close()
		fsCloser.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return s, nil
}

// load checks the format and reads the counters and sequence numbers.
func (s *Store) load() error {
	v, closer, err := s.db.Get(metaFormat)
	switch {
	case errors.Is(err, pebble.ErrNotFound) && s.readOnly:
		return errors.New("the store is not initialized, and is open read-only")
	case errors.Is(err, pebble.ErrNotFound):
		if err := s.db.Set(metaFormat, binary.BigEndian.AppendUint64(nil, formatVersion), pebble.Sync); err != nil {
			return fmt.Errorf("write format version: %w", err)
		}
	case err != nil:
		return fmt.Errorf("read format version: %w", err)
	default:
		f := uint64(0)
		if len(v) == 8 {
			f = binary.BigEndian.Uint64(v)
		}
		closer.Close()
		if f != formatVersion {
			return fmt.Errorf("store format %d, this build reads %d", f, formatVersion)
		}
	}

	lastKey, err := s.lastKeySeq(prefixEvent)
	if err != nil {
		return err
	}
	// Event sequence numbers are never reused either, even after retention expired the whole log.
	last := lastKey
	if v, closer, err := s.db.Get(metaLastSeq); err == nil {
		if len(v) == 8 {
			last = max(last, binary.BigEndian.Uint64(v))
		}
		closer.Close()
	}
	s.lastSeq.Store(last)
	s.nextSeq = last + 1
	// DLQ sequence numbers are never reused, even after the newest record is dropped.
	lastDLQ, err := s.lastKeySeq(prefixDLQ)
	if err != nil {
		return err
	}
	if v, closer, err := s.db.Get(metaLastDLQ); err == nil {
		if len(v) == 8 {
			lastDLQ = max(lastDLQ, binary.BigEndian.Uint64(v))
		}
		closer.Close()
	}
	s.nextDLQ.Store(lastDLQ)
	if err := s.loadDerived(); err != nil {
		return err
	}
	if lastKey > 0 {
		var ev sdk.Event
		if err := s.getEvent(lastKey, &ev); err != nil {
			return err
		}
		s.lastIngest = ev.IngestTime
	}

	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixCounter}, UpperBound: []byte{prefixCounter + 1}})
	if err != nil {
		return fmt.Errorf("read counters: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		n, err := decodeCounter(it.Value())
		if err != nil {
			return fmt.Errorf("read counter %q: %w", it.Key()[1:], err)
		}
		s.counters[string(it.Key()[1:])] = n
	}
	return it.Error()
}

// lastKeySeq returns the sequence number of the last key in a sequence-keyed keyspace, or 0.
func (s *Store) lastKeySeq(prefix byte) (uint64, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return 0, fmt.Errorf("find last %c key: %w", prefix, err)
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	return seqOf(it.Key()), nil
}

// flushOnCloseBytes is the memtable size from which Close flushes it.
const flushOnCloseBytes = 1 << 20

// Close closes the store. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.closed.Store(true)
	close(s.notify)
	close(s.derived.notify)
	s.mu.Unlock()
	// Flush a memtable of some size, so that the next Open reads tables instead of replaying the
	// log: a report right after an import would replay megabytes of it (40 ms instead of 20). A
	// command that wrote little (a status) does not pay for a flush, and a read-only store cannot.
	var flushErr error
	if !s.readOnly && s.db.Metrics().MemTable.Size >= flushOnCloseBytes {
		flushErr = s.db.Flush()
	}
	err := s.db.Close()
	s.fsCloser.Close()
	if err = errors.Join(flushErr, err); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// LastSeq returns the sequence number of the newest committed event, 0 if there is none.
func (s *Store) LastSeq() uint64 { return s.lastSeq.Load() }

// Notify returns a channel that is closed when the next batch of events commits, or the store closes.
func (s *Store) Notify() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify
}

// Counts returns the number of stored events by platform and kind.
func (s *Store) Counts() map[PlatformKind]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[PlatformKind]int64{}
	for k, n := range s.counters {
		rest, ok := strings.CutPrefix(k, counterEvent)
		if !ok || n == 0 {
			continue
		}
		platform, kind, _ := strings.Cut(rest, "\x00")
		out[PlatformKind{platform, kind}] = n
	}
	return out
}

// EventCount returns the number of stored events.
func (s *Store) EventCount() int64 {
	var total int64
	for _, n := range s.Counts() {
		total += n
	}
	return total
}

// DLQCount returns the number of records in the dead-letter queue.
func (s *Store) DLQCount() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters[counterDLQ]
}

// DiskSize returns the bytes the store uses on disk. It is 0 once the store is closed.
//
// Pebble's own figure (DiskSpaceUsage) counts the write-ahead log being written at the size it
// had when it was opened, and until a memtable is flushed nothing else on disk grows: a store
// that took 400 events showed the size it had with 3. What was written to the live logs beyond
// their size at open (Metrics.WAL.Size, the bytes logged) is added; a log Pebble recycled keeps
// its length on disk until the writes pass it.
func (s *Store) DiskSize() uint64 {
	if s.closed.Load() {
		return 0
	}
	m := s.db.Metrics()
	size := m.DiskSpaceUsage()
	if m.WAL.Size > m.WAL.PhysicalSize {
		size += m.WAL.Size - m.WAL.PhysicalSize
	}
	return size
}

// Event returns the event with the given sequence number.
func (s *Store) Event(seq uint64) (sdk.Event, error) {
	var ev sdk.Event
	err := s.getEvent(seq, &ev)
	return ev, err
}

func (s *Store) getEvent(seq uint64, ev *sdk.Event) error {
	if s.closed.Load() {
		return fmt.Errorf("read event %d: %w", seq, ErrClosed)
	}
	v, closer, err := s.db.Get(eventKey(seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("read event %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read event %d: %w", seq, err)
	}
	defer closer.Close()
	if err := ev.UnmarshalBinary(v); err != nil {
		return fmt.Errorf("read event %d: %w", seq, err)
	}
	return nil
}

// EventByID returns the event with the given id and its sequence number.
func (s *Store) EventByID(id sdk.ID) (uint64, sdk.Event, error) {
	seq, err := s.seqOfID(id)
	if err != nil {
		return 0, sdk.Event{}, err
	}
	ev, err := s.Event(seq)
	return seq, ev, err
}

func (s *Store) seqOfID(id sdk.ID) (uint64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("look up event %s: %w", id, ErrClosed)
	}
	v, closer, err := s.db.Get(idKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, fmt.Errorf("look up event %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("look up event %s: %w", id, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("look up event %s: index value of %d bytes", id, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Has reports whether an event with the id is stored.
func (s *Store) Has(id sdk.ID) (bool, error) {
	_, err := s.seqOfID(id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ReadLog calls fn for up to max events of the log after sequence number after, in order. fn must
// not keep ev beyond the call. It returns the sequence number of the last event passed to fn, or
// after if there was none.
func (s *Store) ReadLog(after uint64, max int, fn func(seq uint64, ev *sdk.Event) error) (uint64, error) {
	if s.closed.Load() {
		return after, fmt.Errorf("read event log: %w", ErrClosed)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: eventKey(after + 1), UpperBound: []byte{prefixEvent + 1}})
	if err != nil {
		return after, fmt.Errorf("read event log: %w", err)
	}
	defer it.Close()
	last := after
	var ev sdk.Event
	for ok := it.First(); ok && max > 0; ok = it.Next() {
		seq := seqOf(it.Key())
		if err := ev.UnmarshalBinary(it.Value()); err != nil {
			return last, fmt.Errorf("read event log at %d: %w", seq, err)
		}
		if err := fn(seq, &ev); err != nil {
			return last, err
		}
		last = seq
		max--
	}
	return last, it.Error()
}

// SessionEvents calls fn for the events of a session in event-time order.
func (s *Store) SessionEvents(session string, fn func(seq uint64, ev *sdk.Event) error) error {
	p := sessionPrefix(session)
	return s.scanIndex(p, prefixEnd(p), fn)
}

// EventsBetween calls fn for the events whose event time is in [from, to), in time order.
func (s *Store) EventsBetween(from, to time.Time, fn func(seq uint64, ev *sdk.Event) error) error {
	return s.scanIndex(timeKey(from, 0), timeKey(to, 0), fn)
}

func (s *Store) scanIndex(lower, upper []byte, fn func(seq uint64, ev *sdk.Event) error) error {
	if s.closed.Load() {
		return fmt.Errorf("scan index: %w", ErrClosed)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("scan index: %w", err)
	}
	defer it.Close()
	var ev sdk.Event
	for ok := it.First(); ok; ok = it.Next() {
		seq := seqOf(it.Key())
		if err := s.getEvent(seq, &ev); errors.Is(err, ErrNotFound) {
			continue // expired by retention since the iterator opened: the index reads an older state
		} else if err != nil {
			return fmt.Errorf("scan index: %w", err)
		}
		if err := fn(seq, &ev); err != nil {
			return err
		}
	}
	return it.Error()
}

// Cursor returns a consumer's cursor: the sequence number of the last event it has consumed, 0
// if it has none yet.
func (s *Store) Cursor(consumer string) (uint64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("read cursor %q: %w", consumer, ErrClosed)
	}
	v, closer, err := s.db.Get(nameKey(prefixCursor, consumer))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read cursor %q: %w", consumer, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("read cursor %q: value of %d bytes", consumer, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// State returns the value a consumer stored under key, or ErrNotFound.
func (s *Store) State(consumer string, key []byte) ([]byte, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("read state %q: %w", consumer, ErrClosed)
	}
	v, closer, err := s.db.Get(stateKey(consumer, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("read state %q: %w", consumer, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read state %q: %w", consumer, err)
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

// ScanState calls fn for each key (without the consumer prefix) and value a consumer stored whose
// key starts with prefix, in key order. fn must not keep key or value beyond the call.
func (s *Store) ScanState(consumer string, prefix []byte, fn func(key, value []byte) error) error {
	lower := stateKey(consumer, prefix)
	return s.scanState(consumer, lower, prefixEnd(lower), fn)
}

// ScanStateRange calls fn, in key order, for each key (without the consumer prefix) and value a
// consumer stored from lower (inclusive) to upper (exclusive); a nil upper leaves the range open
// to the end of the consumer's state. The scan starts with a seek to lower: the keys below it
// cost nothing, however many there are. fn must not keep key or value beyond the call.
func (s *Store) ScanStateRange(consumer string, lower, upper []byte, fn func(key, value []byte) error) error {
	hi := prefixEnd(stateKey(consumer, nil))
	if upper != nil {
		if bytes.Compare(lower, upper) >= 0 {
			return nil // an empty range (Pebble wants its lower bound below its upper)
		}
		hi = stateKey(consumer, upper)
	}
	return s.scanState(consumer, stateKey(consumer, lower), hi, fn)
}

// scanState calls fn for the consumer's state keys in [lower, upper) (whole keys; upper nil: no
// bound).
func (s *Store) scanState(consumer string, lower, upper []byte, fn func(key, value []byte) error) error {
	if s.closed.Load() {
		return fmt.Errorf("scan state %q: %w", consumer, ErrClosed)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("scan state %q: %w", consumer, err)
	}
	defer it.Close()
	skip := len(stateKey(consumer, nil))
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key()[skip:], it.Value()); err != nil {
			return err
		}
	}
	return it.Error()
}

// commitNotify publishes a commit of events up to seq, and the counter deltas of any batch.
func (s *Store) commitNotify(seq uint64, deltas map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, d := range deltas {
		s.counters[k] += d
	}
	if seq > 0 && !s.closed.Load() {
		s.lastSeq.Store(seq)
		close(s.notify)
		s.notify = make(chan struct{})
	}
}

// pebbleLogger sends Pebble's log lines to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	if p.l != nil {
		p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	if p.l != nil {
		p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.l != nil {
		p.l.Error(msg, "component", "pebble")
	}
	panic("pebble: " + msg) // Pebble expects Fatalf not to return.
}

// ScanAll calls fn for every key and value in the store, in key order: events, indexes, state,
// dead letters, everything. It exists for audits, such as the privacy test that looks for planted
// content in every stored byte. fn must not keep key or value beyond the call.
func (s *Store) ScanAll(fn func(key, value []byte) error) error {
	if s.closed.Load() {
		return fmt.Errorf("scan store: %w", ErrClosed)
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("scan store: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	return it.Error()
}
