package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// Entry is one event of the log with its sequence number.
type Entry struct {
	Seq   uint64
	Event sdk.Event
}

// Consumer reads the event log, or derived records (NewDerivedConsumer), from its own cursor.
// Consume is given the next entries in sequence order and a batch; whatever it writes into the
// batch (its state, with PutState; derived records) commits atomically with the cursor advance
// past those entries, so each entry is consumed exactly once across crashes. It must not commit
// or close the batch. An error marked Permanent sends the failing entry to the dead-letter queue;
// any other error is retried with backoff.
type Consumer interface {
	// Name names the consumer and its cursor; it must be an identifier and unique.
	Name() string
	Consume(ctx context.Context, entries []Entry, b *store.Batch) error
}

// ConsumersConfig configures the Consumers runner.
type ConsumersConfig struct {
	// BatchSize is the most entries given to one Consume call. Default 256.
	BatchSize int
	// MaxBackoff bounds the wait between retries of a retryable error. Default 30s.
	MaxBackoff time.Duration
	Logger     *slog.Logger
	Metrics    *Metrics
}

// Consumers runs consumers, each reading its feed in its own goroutine: a consumer of the event
// log (NewConsumers) one, a consumer of derived records (NewDerivedConsumer) one per kind. It is
// safe for concurrent use.
type Consumers struct {
	st     *store.Store
	cfg    ConsumersConfig
	byName map[string]*lane // the event log's lanes, by consumer name
	lanes  []*lane
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// lane is one consumer reading one feed from its own cursor: the event log, or the derived
// records of one kind.
type lane struct {
	c Consumer
	// kind is the derived kind the lane reads, or "" for the event log.
	kind string
	// stage names the lane's dead letters (store.DLQRecord.Stage).
	stage  string
	cursor atomic.Uint64
	// mu serializes the consumer's calls: of its lanes' run loops, and of replays.
	mu *sync.Mutex
}

// newConfig returns cfg with its defaults.
func newConfig(cfg ConsumersConfig) ConsumersConfig {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// checkName refuses a consumer name that is not an identifier.
func checkName(name string) error {
	if !sdk.IsIdent(name) || strings.ContainsRune(name, 0) {
		return fmt.Errorf("name %q is not an identifier", name)
	}
	return nil
}

// NewConsumers returns a runner of consumers of the event log; duplicate names are an error.
// Each consumer's cursor is the store's (store.Store.Cursor), and its failed entries are
// dead-lettered under stage "consumer:<name>", which Replay serves. Start starts them.
func NewConsumers(st *store.Store, consumers []Consumer, cfg ConsumersConfig) (*Consumers, error) {
	r := &Consumers{st: st, cfg: newConfig(cfg), byName: map[string]*lane{}}
	for _, c := range consumers {
		name := c.Name()
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("new consumers: %w", err)
		}
		if _, dup := r.byName[name]; dup {
			return nil, fmt.Errorf("new consumers: %q registered twice", name)
		}
		cur, err := st.Cursor(name)
		if err != nil {
			return nil, fmt.Errorf("new consumers: %w", err)
		}
		l := &lane{c: c, stage: consumerStage(name), mu: &sync.Mutex{}}
		l.cursor.Store(cur)
		r.byName[name] = l
		r.lanes = append(r.lanes, l)
	}
	return r, nil
}

// derivedCursor is the first byte of the state keys (store.Batch.PutState) under which a derived
// consumer's cursors are kept, one per kind: 'c' <kind>. Its Consume must write no state key that
// begins with it.
const derivedCursor = 'c'

// derivedCursorKey returns the state key of a derived consumer's cursor in a kind.
func derivedCursorKey(kind string) []byte { return append([]byte{derivedCursor}, kind...) }

// NewDerivedConsumer returns a runner of one consumer over the derived records of each of kinds,
// in sequence order, woken by each commit of derived records. Its cursor in each kind is kept in
// its own state, under the key 'c' <kind>, so its Consume must write no state key beginning with
// 'c'. Its failed records are dead-lettered under stage (with source "derived:<kind>"); Replay
// does not serve them. Its calls are serialized across kinds. Start starts it.
func NewDerivedConsumer(st *store.Store, c Consumer, kinds []string, stage string, cfg ConsumersConfig) (*Consumers, error) {
	name := c.Name()
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("new derived consumer: %w", err)
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("new derived consumer %s: no kinds", name)
	}
	r := &Consumers{st: st, cfg: newConfig(cfg), byName: map[string]*lane{}}
	mu := &sync.Mutex{}
	for i, kind := range kinds {
		if kind == "" || slices.Contains(kinds[:i], kind) {
			return nil, fmt.Errorf("new derived consumer %s: kind %q empty or repeated", name, kind)
		}
		l := &lane{c: c, kind: kind, stage: stage, mu: mu}
		v, err := st.State(name, derivedCursorKey(kind))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("new derived consumer %s: %w", name, err)
		case len(v) != 8:
			return nil, fmt.Errorf("new derived consumer %s: cursor of %q has %d bytes", name, kind, len(v))
		default:
			l.cursor.Store(binary.BigEndian.Uint64(v))
		}
		r.lanes = append(r.lanes, l)
	}
	return r, nil
}

// Start starts every consumer. Close stops them.
func (r *Consumers) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, l := range r.lanes {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.run(ctx, l)
		}()
	}
}

// Close stops the consumers and waits for them. It is safe to call more than once, and without Start.
func (r *Consumers) Close() {
	r.once.Do(func() {
		if r.cancel != nil {
			r.cancel()
		}
		r.wg.Wait()
	})
}

// Lag returns, for each consumer, how many entries of its feed it has not consumed yet: events
// of the log (the span of sequence numbers from the next stored event to the last), or derived
// records of its kinds. A derived feed that cannot be read is logged and
// counts what was read of it.
func (r *Consumers) Lag() map[string]uint64 {
	last := r.st.LastSeq()
	out := make(map[string]uint64, len(r.lanes))
	for _, l := range r.lanes {
		name := l.c.Name()
		lag := uint64(0)
		switch {
		case l.kind != "":
			if _, err := r.st.ScanDerived(l.kind, l.cursor.Load(), 0, func(uint64, *sdk.Event) error { lag++; return nil }); err != nil {
				r.cfg.Logger.Error("read derived records", "consumer", name, "kind", l.kind, "err", err)
			}
		case last > l.cursor.Load():
			// Counted from the next event after the cursor: a purge (store.PurgeEvents) leaves
			// gaps in the sequence, at its end too, where nothing is left to consume.
			cur := l.cursor.Load()
			next := cur
			if _, err := r.st.ReadLog(cur, 1, func(seq uint64, _ *sdk.Event) error { next = seq; return nil }); err != nil {
				r.cfg.Logger.Error("read event log", "consumer", name, "err", err)
				next = cur + 1
			}
			if next > cur {
				lag = last - next + 1
			}
		}
		out[name] += lag
	}
	if m := r.cfg.Metrics; m != nil {
		for name, lag := range out {
			m.ConsumerLag.WithLabelValues(name).Set(float64(lag))
		}
	}
	return out
}

func (r *Consumers) run(ctx context.Context, l *lane) {
	log := r.cfg.Logger.With("consumer", l.c.Name())
	if l.kind != "" {
		log = log.With("kind", l.kind)
	}
	for ctx.Err() == nil {
		notify := r.notify(l)
		entries, err := r.read(l)
		if err != nil {
			what := "read event log"
			if l.kind != "" {
				what = "read derived records"
			}
			log.Error(what, "err", err)
			r.cfg.Metrics.error("consumer_read")
			sleep(ctx, time.Second)
			continue
		}
		if len(entries) == 0 {
			select {
			case <-ctx.Done():
			case <-notify:
			case <-time.After(5 * time.Second): // retention may have moved the log's start
			}
			continue
		}
		r.process(ctx, l, entries, log)
	}
}

// notify returns the channel closed at the next commit to the lane's feed.
func (r *Consumers) notify(l *lane) <-chan struct{} {
	if l.kind != "" {
		return r.st.DerivedNotify()
	}
	return r.st.Notify()
}

// read returns the next entries of the lane's feed after its cursor.
func (r *Consumers) read(l *lane) ([]Entry, error) {
	var entries []Entry
	fn := func(seq uint64, ev *sdk.Event) error {
		e := Entry{Seq: seq, Event: *ev}
		e.Event.Attrs = append([]sdk.Attr(nil), ev.Attrs...)
		entries = append(entries, e)
		return nil
	}
	var err error
	if l.kind != "" {
		_, err = r.st.ScanDerived(l.kind, l.cursor.Load(), r.cfg.BatchSize, fn)
	} else {
		_, err = r.st.ReadLog(l.cursor.Load(), r.cfg.BatchSize, fn)
	}
	return entries, err
}

// source names the lane's feed, as its dead letters' source: "log" or "derived:<kind>".
func (l *lane) source() string {
	if l.kind != "" {
		return "derived:" + l.kind
	}
	return "log"
}

// setCursor writes the lane's cursor into b.
func (l *lane) setCursor(b *store.Batch, seq uint64) {
	if l.kind != "" {
		b.PutState(l.c.Name(), derivedCursorKey(l.kind), binary.BigEndian.AppendUint64(nil, seq))
		return
	}
	b.SetCursor(l.c.Name(), seq)
}

// process consumes entries; on a permanent error it isolates the failing entry by consuming one
// at a time and dead-letters it. Retryable errors are retried with backoff until ctx ends.
func (r *Consumers) process(ctx context.Context, l *lane, entries []Entry, log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for len(entries) > 0 && ctx.Err() == nil {
		n := len(entries)
		err := r.consume(ctx, l, entries)
		if err != nil && IsPermanent(err) && n > 1 {
			n = 1 // find the culprit: one entry at a time
			err = r.consume(ctx, l, entries[:1])
		}
		switch {
		case err == nil:
		case IsPermanent(err):
			log.Warn("entry dead-lettered", "seq", entries[0].Seq, "err", err)
			if derr := r.deadLetter(l, entries[0], err); derr != nil {
				log.Error("dead-letter entry", "err", derr)
				sleep(ctx, backoff)
				continue
			}
		default:
			log.Warn("consume failed, retrying", "err", err, "backoff", backoff)
			r.cfg.Metrics.error("consumer")
			sleep(ctx, backoff)
			backoff = min(backoff*2, r.cfg.MaxBackoff)
			continue
		}
		backoff = 100 * time.Millisecond
		entries = entries[n:]
	}
}

// consume runs one Consume call and commits its writes with the cursor advance.
func (r *Consumers) consume(ctx context.Context, l *lane, entries []Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := r.st.NewBatch()
	defer b.Close()
	if err := safeConsume(ctx, l.c, entries, b); err != nil {
		return err
	}
	last := entries[len(entries)-1].Seq
	l.setCursor(b, last)
	if err := b.Commit(); err != nil {
		return fmt.Errorf("commit consumer %s: %w", l.c.Name(), err)
	}
	l.cursor.Store(last)
	return nil
}

func safeConsume(ctx context.Context, c Consumer, entries []Entry, b *store.Batch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Permanent(fmt.Errorf("consumer panicked: %v", r))
		}
	}()
	return c.Consume(ctx, entries, b)
}

func (r *Consumers) deadLetter(l *lane, e Entry, cause error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	payload, err := e.Event.MarshalBinary()
	if err != nil {
		return err
	}
	b := r.st.NewBatch()
	defer b.Close()
	if _, err := b.AddDLQ(&store.DLQRecord{
		Stage:    l.stage,
		Reason:   cause.Error(),
		Source:   l.source(),
		Platform: e.Event.Platform,
		RecordID: e.Event.ID,
		Attempts: 1,
		Payload:  payload,
	}); err != nil {
		return err
	}
	l.setCursor(b, e.Seq)
	if err := b.Commit(); err != nil {
		return err
	}
	l.cursor.Store(e.Seq)
	return nil
}

func consumerStage(name string) string { return "consumer:" + name }

// Replay gives a dead-lettered event back to its consumer of the event log. On success the record
// leaves the queue in the same commit as the consumer's writes; on failure it stays, with the new
// reason. It reports whether the replay succeeded. The entry has the event's sequence number, or
// 0 if retention has removed the event from the log.
func (r *Consumers) Replay(ctx context.Context, rec store.DLQRecord) (bool, error) {
	name, ok := strings.CutPrefix(rec.Stage, "consumer:")
	l := r.byName[name]
	if !ok || l == nil {
		return false, fmt.Errorf("replay dead letter %d: %w: no consumer %q", rec.Seq, ErrStageNotRunning, name)
	}
	var ev sdk.Event
	if err := ev.UnmarshalBinary(rec.Payload); err != nil {
		return false, fmt.Errorf("replay dead letter %d: %w", rec.Seq, err)
	}
	entry := Entry{Event: ev}
	if seq, _, err := r.st.EventByID(ev.ID); err == nil {
		entry.Seq = seq // its place in the log, unless retention has removed it
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := r.st.NewBatch()
	defer b.Close()
	if err := safeConsume(ctx, l.c, []Entry{entry}, b); err != nil {
		b.Close()
		return false, r.st.UpdateDLQ(rec, err.Error())
	}
	b.DeleteDLQ(rec.Seq)
	if err := b.Commit(); err != nil {
		return false, fmt.Errorf("replay dead letter %d: %w", rec.Seq, err)
	}
	return true, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
