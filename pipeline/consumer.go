package pipeline

import (
	"context"
	"fmt"
	"log/slog"
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

// Consumer reads the event log from its own cursor. Consume is given the next entries in log order
// and a batch; whatever it writes into the batch (its state, with PutState) commits atomically with
// the cursor advance past those entries, so each entry is consumed exactly once across crashes. It
// must not commit or close the batch. An error marked Permanent sends the failing entry to the
// dead-letter queue; any other error is retried with backoff.
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

// Consumers runs consumers, each in its own goroutine. It is safe for concurrent use.
type Consumers struct {
	st     *store.Store
	cfg    ConsumersConfig
	byName map[string]*consumerState
	order  []*consumerState
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

type consumerState struct {
	c      Consumer
	cursor atomic.Uint64
	mu     sync.Mutex // serializes Consume calls of the run loop and of replays
}

// NewConsumers returns a runner of consumers; duplicate names are an error. Start starts them.
func NewConsumers(st *store.Store, consumers []Consumer, cfg ConsumersConfig) (*Consumers, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Consumers{st: st, cfg: cfg, byName: map[string]*consumerState{}}
	for _, c := range consumers {
		name := c.Name()
		if !sdk.IsIdent(name) || strings.ContainsRune(name, 0) {
			return nil, fmt.Errorf("new consumers: name %q is not an identifier", name)
		}
		if _, dup := r.byName[name]; dup {
			return nil, fmt.Errorf("new consumers: %q registered twice", name)
		}
		cur, err := st.Cursor(name)
		if err != nil {
			return nil, fmt.Errorf("new consumers: %w", err)
		}
		cs := &consumerState{c: c}
		cs.cursor.Store(cur)
		r.byName[name] = cs
		r.order = append(r.order, cs)
	}
	return r, nil
}

// Start starts every consumer. Close stops them.
func (r *Consumers) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, cs := range r.order {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.run(ctx, cs)
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

// Lag returns, for each consumer, how many events of the log it has not consumed yet.
func (r *Consumers) Lag() map[string]uint64 {
	last := r.st.LastSeq()
	out := make(map[string]uint64, len(r.order))
	for _, cs := range r.order {
		cur := cs.cursor.Load()
		lag := uint64(0)
		if last > cur {
			lag = last - cur
		}
		out[cs.c.Name()] = lag
		if m := r.cfg.Metrics; m != nil {
			m.ConsumerLag.WithLabelValues(cs.c.Name()).Set(float64(lag))
		}
	}
	return out
}

func (r *Consumers) run(ctx context.Context, cs *consumerState) {
	log := r.cfg.Logger.With("consumer", cs.c.Name())
	for ctx.Err() == nil {
		notify := r.st.Notify()
		entries, err := r.read(cs.cursor.Load())
		if err != nil {
			log.Error("read event log", "err", err)
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
		r.process(ctx, cs, entries, log)
	}
}

func (r *Consumers) read(after uint64) ([]Entry, error) {
	var entries []Entry
	_, err := r.st.ReadLog(after, r.cfg.BatchSize, func(seq uint64, ev *sdk.Event) error {
		e := Entry{Seq: seq, Event: *ev}
		e.Event.Attrs = append([]sdk.Attr(nil), ev.Attrs...)
		entries = append(entries, e)
		return nil
	})
	return entries, err
}

// process consumes entries; on a permanent error it isolates the failing entry by consuming one
// at a time and dead-letters it. Retryable errors are retried with backoff until ctx ends.
func (r *Consumers) process(ctx context.Context, cs *consumerState, entries []Entry, log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for len(entries) > 0 && ctx.Err() == nil {
		n := len(entries)
		err := r.consume(ctx, cs, entries)
		if err != nil && IsPermanent(err) && n > 1 {
			n = 1 // find the culprit: one entry at a time
			err = r.consume(ctx, cs, entries[:1])
		}
		switch {
		case err == nil:
		case IsPermanent(err):
			log.Warn("entry dead-lettered", "seq", entries[0].Seq, "err", err)
			if derr := r.deadLetter(cs, entries[0], err); derr != nil {
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
func (r *Consumers) consume(ctx context.Context, cs *consumerState, entries []Entry) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	b := r.st.NewBatch()
	defer b.Close()
	if err := safeConsume(ctx, cs.c, entries, b); err != nil {
		return err
	}
	last := entries[len(entries)-1].Seq
	b.SetCursor(cs.c.Name(), last)
	if err := b.Commit(); err != nil {
		return fmt.Errorf("commit consumer %s: %w", cs.c.Name(), err)
	}
	cs.cursor.Store(last)
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

func (r *Consumers) deadLetter(cs *consumerState, e Entry, cause error) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	payload, err := e.Event.MarshalBinary()
	if err != nil {
		return err
	}
	b := r.st.NewBatch()
	defer b.Close()
	if _, err := b.AddDLQ(&store.DLQRecord{
		Stage:    consumerStage(cs.c.Name()),
		Reason:   cause.Error(),
		Source:   "log",
		Platform: e.Event.Platform,
		RecordID: e.Event.ID,
		Attempts: 1,
		Payload:  payload,
	}); err != nil {
		return err
	}
	b.SetCursor(cs.c.Name(), e.Seq)
	if err := b.Commit(); err != nil {
		return err
	}
	cs.cursor.Store(e.Seq)
	return nil
}

func consumerStage(name string) string { return "consumer:" + name }

// Replay gives a dead-lettered event back to its consumer. On success the record leaves the queue
// in the same commit as the consumer's writes; on failure it stays, with the new reason.
// It reports whether the replay succeeded. The entry has the event's sequence number, or 0 if
// retention has removed the event from the log.
func (r *Consumers) Replay(ctx context.Context, rec store.DLQRecord) (bool, error) {
	name, ok := strings.CutPrefix(rec.Stage, "consumer:")
	cs := r.byName[name]
	if !ok || cs == nil {
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
	cs.mu.Lock()
	defer cs.mu.Unlock()
	b := r.st.NewBatch()
	defer b.Close()
	if err := safeConsume(ctx, cs.c, []Entry{entry}, b); err != nil {
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
