package host

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// InsightConfig configures an Insight runner. Zero fields take their defaults.
type InsightConfig struct {
	// BatchSize is the most derived records given to one call. Default 256.
	BatchSize int
	// MaxBackoff bounds the wait between retries of a retryable error. Default 30s.
	MaxBackoff time.Duration
	// Logger receives the runner's logs. Nil discards them.
	Logger *slog.Logger
}

// Insight runs an insight plugin over the derived records of each kind it was granted
// (read:derived:<kind>), in sequence order, from a cursor per kind kept in its consumer state
// (ConsumerName). What the plugin emits is stored as derived records of kind InsightKind(name),
// in the batch that advances the cursor: each derived record is seen exactly once, across crashes
// and restarts. A failed record is dead-lettered (stage "insight:<name>") and the cursor moves
// past it; a quarantined or closed plugin holds its cursor until it runs again.
//
// Lifecycle: NewInsight, Start, Close. It is safe for concurrent use.
type Insight struct {
	p     *Plugin
	st    *store.Store
	kinds []string
	cfg   InsightConfig
	log   *slog.Logger

	mu      sync.Mutex        // serializes steps
	cursors map[string]uint64 // guarded by mu; loaded on first use

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// NewInsight returns the runner of an insight plugin over st. Start starts it.
func NewInsight(p *Plugin, st *store.Store, cfg InsightConfig) (*Insight, error) {
	if p.m.Kind != KindInsight {
		return nil, fmt.Errorf("new insight: plugin %s is a %s plugin", p.m.Name, p.m.Kind)
	}
	var kinds []string
	for _, c := range p.g.Of(ClassReadDerived) {
		kinds = append(kinds, c.Arg)
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("new insight: plugin %s was not granted any read:derived:<kind>", p.m.Name)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Insight{p: p, st: st, kinds: kinds, cfg: cfg, log: cfg.Logger.With("insight", p.m.Name)}, nil
}

// Name returns the runner's consumer name, "plugin:<name>".
func (in *Insight) Name() string { return ConsumerName(in.p.m.Name) }

// Kind returns the derived kind the runner stores the plugin's insights under.
func (in *Insight) Kind() string { return InsightKind(in.p.m.Name) }

// Plugin returns the plugin that serves the runner.
func (in *Insight) Plugin() *Plugin { return in.p }

// Start runs the plugin in its own goroutine, woken by each commit of derived records.
func (in *Insight) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		in.run(ctx)
	}()
}

// Close stops the runner and waits for it. It is safe to call more than once, and without Start.
func (in *Insight) Close() {
	in.once.Do(func() {
		if in.cancel != nil {
			in.cancel()
		}
		in.wg.Wait()
	})
}

func (in *Insight) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		notify := in.st.DerivedNotify()
		n, err := in.Step(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			in.log.Warn("insight failed, retrying", "err", err, "backoff", backoff)
			sleepCtx(ctx, backoff)
			backoff = min(backoff*2, in.cfg.MaxBackoff)
			continue
		case n == 0:
			select {
			case <-ctx.Done():
			case <-notify:
			case <-time.After(5 * time.Second):
			}
		}
		backoff = 100 * time.Millisecond
	}
}

// Step runs the plugin once over up to BatchSize new records of each granted kind and returns
// how many records it consumed (dead-lettered ones included). An error is retryable: the cursor
// stays before the records it could not consume.
func (in *Insight) Step(ctx context.Context) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.loadCursors(); err != nil {
		return 0, err
	}
	total := 0
	for _, kind := range in.kinds {
		var entries []pipeline.Entry
		_, err := in.st.ScanDerived(kind, in.cursors[kind], in.cfg.BatchSize, func(seq uint64, ev *sdk.Event) error {
			e := pipeline.Entry{Seq: seq, Event: *ev}
			e.Event.Attrs = append([]sdk.Attr(nil), ev.Attrs...)
			entries = append(entries, e)
			return nil
		})
		if err != nil {
			return total, err
		}
		n, err := in.process(ctx, kind, entries)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// process consumes entries of a kind; on a permanent error it isolates the failing entry by
// consuming one at a time and dead-letters it.
func (in *Insight) process(ctx context.Context, kind string, entries []pipeline.Entry) (int, error) {
	done := 0
	for len(entries) > 0 {
		n := len(entries)
		err := in.consume(ctx, kind, entries)
		if err != nil && pipeline.IsPermanent(err) && n > 1 {
			n = 1
			err = in.consume(ctx, kind, entries[:1])
		}
		if err != nil && pipeline.IsPermanent(err) {
			in.log.Warn("derived record dead-lettered", "kind", kind, "seq", entries[0].Seq, "err", err)
			err = in.deadLetter(kind, entries[0], err)
		}
		if err != nil {
			return done, err
		}
		done += n
		entries = entries[n:]
	}
	return done, nil
}

// consume runs one call and commits its insights with the cursor advance.
func (in *Insight) consume(ctx context.Context, kind string, entries []pipeline.Entry) error {
	recs := make([]Record, len(entries))
	for i := range entries {
		ev := &entries[i].Event
		js, err := ev.MarshalJSON()
		if err != nil {
			return pipeline.Permanent(fmt.Errorf("insight %s: derived record %d: %w", in.p.m.Name, entries[i].Seq, err))
		}
		recs[i] = Record{ID: ev.ID, Received: ev.Time, Platform: ev.Platform, Payload: js}
	}
	b := in.st.NewBatch()
	defer b.Close()
	outs, err := callConsumer(ctx, in.p, in.st, b, recs)
	if err != nil {
		return err
	}
	for _, o := range outs {
		for j := range o.Events {
			if err := b.AddDerived(in.Kind(), &o.Events[j]); err != nil {
				return pipeline.Permanent(fmt.Errorf("insight %s: %w", in.p.m.Name, err))
			}
		}
	}
	last := entries[len(entries)-1].Seq
	in.setCursor(b, kind, last)
	if err := b.Commit(); err != nil {
		return fmt.Errorf("commit insight %s: %w", in.p.m.Name, err)
	}
	in.cursors[kind] = last
	return nil
}

// deadLetter sends a derived record to the dead-letter queue and moves the cursor past it.
func (in *Insight) deadLetter(kind string, e pipeline.Entry, cause error) error {
	payload, err := e.Event.MarshalBinary()
	if err != nil {
		return err
	}
	b := in.st.NewBatch()
	defer b.Close()
	if _, err := b.AddDLQ(&store.DLQRecord{
		Stage:    "insight:" + in.p.m.Name,
		Reason:   cause.Error(),
		Source:   "derived:" + kind,
		Platform: e.Event.Platform,
		RecordID: e.Event.ID,
		Attempts: 1,
		Payload:  payload,
	}); err != nil {
		return err
	}
	in.setCursor(b, kind, e.Seq)
	if err := b.Commit(); err != nil {
		return fmt.Errorf("dead-letter for insight %s: %w", in.p.m.Name, err)
	}
	in.cursors[kind] = e.Seq
	return nil
}

func cursorKey(kind string) []byte { return append([]byte{stateCursor}, kind...) }

func (in *Insight) setCursor(b *store.Batch, kind string, seq uint64) {
	b.PutState(in.Name(), cursorKey(kind), binary.BigEndian.AppendUint64(nil, seq))
}

// loadCursors reads the cursors once. The caller holds mu.
func (in *Insight) loadCursors() error {
	if in.cursors != nil {
		return nil
	}
	cursors := map[string]uint64{}
	for _, kind := range in.kinds {
		v, err := in.st.State(in.Name(), cursorKey(kind))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return fmt.Errorf("insight %s: %w", in.p.m.Name, err)
		case len(v) != 8:
			return fmt.Errorf("insight %s: cursor of %q has %d bytes", in.p.m.Name, kind, len(v))
		default:
			cursors[kind] = binary.BigEndian.Uint64(v)
		}
	}
	in.cursors = cursors
	return nil
}

// Lag returns how many derived records of the granted kinds the runner has not consumed yet.
func (in *Insight) Lag() (uint64, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.loadCursors(); err != nil {
		return 0, err
	}
	var n uint64
	for _, kind := range in.kinds {
		if _, err := in.st.ScanDerived(kind, in.cursors[kind], 0, func(uint64, *sdk.Event) error { n++; return nil }); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
