package pipeline

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
	"github.com/hangar-dev/hangar/store/seal"
)

// IntakeConfig configures an Intake. Zero fields take their defaults.
type IntakeConfig struct {
	// BatchMaxEvents bounds the events and dead letters of a batch; a single larger request is
	// committed in a batch of its own. Default 100.
	BatchMaxEvents int
	// BatchMaxDelay bounds how long a batch waits for more records while submitters are on their
	// way; a batch never waits when nobody else is submitting. Default 10ms.
	BatchMaxDelay time.Duration
	// QueueSize bounds the events waiting to be committed; beyond it Submit returns ErrBusy.
	// Default 10000.
	QueueSize int
	// CaptureRetries is how often a capture that failed with a retryable error is tried again
	// before its record goes to the dead-letter queue. Default 3.
	CaptureRetries int
	// Logger receives the intake's logs. Nil discards them.
	Logger *slog.Logger
	// Metrics records self-metrics. Nil records none.
	Metrics *Metrics
	// ObserveCommit, if set, is called after each batch commits with its size and duration.
	ObserveCommit func(items int, d time.Duration)
	// Parked is where records wait, sealed, while no capture serves their platform (their
	// capture failed with an error wrapping ErrNoCapture): the daemon drains it when a capture
	// serves again. Nil dead-letters them instead.
	Parked *Spool
}

// Validate reports a configuration error.
func (c *IntakeConfig) Validate() error {
	switch {
	case c.BatchMaxEvents < 0:
		return fmt.Errorf("batch max events %d is negative", c.BatchMaxEvents)
	case c.BatchMaxDelay < 0:
		return fmt.Errorf("batch max delay %v is negative", c.BatchMaxDelay)
	case c.QueueSize < 0:
		return fmt.Errorf("queue size %d is negative", c.QueueSize)
	case c.CaptureRetries < 0:
		return fmt.Errorf("capture retries %d is negative", c.CaptureRetries)
	}
	return nil
}

func (c *IntakeConfig) setDefaults() {
	if c.BatchMaxEvents == 0 {
		c.BatchMaxEvents = 100
	}
	if c.BatchMaxDelay == 0 {
		c.BatchMaxDelay = 10 * time.Millisecond
	}
	if c.QueueSize == 0 {
		c.QueueSize = 10000
	}
	if c.CaptureRetries == 0 {
		c.CaptureRetries = 3
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Result counts what happened to the records of one Submit.
type Result struct {
	// Stored counts new events committed.
	Stored int `json:"stored"`
	// Duplicates counts events whose id was stored already.
	Duplicates int `json:"duplicates"`
	// DeadLettered counts records sent to the dead-letter queue.
	DeadLettered int `json:"dead_lettered"`
	// Parked counts records that wait, sealed, for a capture to serve their platform
	// (IntakeConfig.Parked).
	Parked int `json:"parked,omitempty"`
}

// Intake is the pipeline's fast path: capture, then group commit. It is safe for concurrent use.
type Intake struct {
	st       *store.Store
	captures Captures
	cfg      IntakeConfig
	log      *slog.Logger

	queue     chan *request
	depth     atomic.Int64 // items admitted and not yet committed
	admitting atomic.Int64 // submitters between admission and enqueue

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	built  chan *builtBatch // from the builder to the syncer
	done   chan struct{}
}

// builtBatch is a store batch built for some requests, on its way to be committed.
type builtBatch struct {
	reqs  []*request
	items int
	b     *store.Batch // nil if building failed with err
	err   error
}

// request is one Submit's work for the committer.
type request struct {
	events  []sdk.Event
	dead    []*store.DLQRecord
	resolve []uint64 // dead letters to delete when the request commits (a replay)
	items   int
	res     Result
	err     error
	done    chan struct{}
}

// NewIntake returns an intake writing to st, capturing with captures, and starts its committer.
// Close stops it.
func NewIntake(st *store.Store, captures Captures, cfg IntakeConfig) (*Intake, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new intake: %w", err)
	}
	cfg.setDefaults()
	in := &Intake{
		st:       st,
		captures: captures,
		cfg:      cfg,
		log:      cfg.Logger,
		queue:    make(chan *request, cfg.QueueSize),
		built:    make(chan *builtBatch, 1),
		done:     make(chan struct{}),
	}
	go in.commitLoop()
	go in.syncLoop()
	return in, nil
}

// QueueDepth returns how many events and dead letters wait to be committed.
func (in *Intake) QueueDepth() int64 { return in.depth.Load() }

// Submit captures recs and commits their events (and the dead letters of records that failed)
// durably, then returns what happened. A record with a zero ID is given a random one. It returns
// ErrBusy at once when the queue is full, and ErrClosed after Close. If ctx ends first it returns
// ctx.Err(); the records may still be committed, and submitting them again is safe.
func (in *Intake) Submit(ctx context.Context, recs []RawRecord) (Result, error) {
	if m := in.cfg.Metrics; m != nil {
		m.Records.Add(float64(len(recs)))
	}
	req := &request{done: make(chan struct{})}
	for i := range recs {
		rec := &recs[i]
		if rec.ID.IsZero() {
			rand.Read(rec.ID[:])
		}
		if rec.ReceivedAt.IsZero() {
			rec.ReceivedAt = time.Now().UTC()
		}
	}
	batched := in.captureBatch(recs)
	var parked []RawRecord
	for i := range recs {
		rec := &recs[i]
		if rec.Unopened != nil {
			// A spooled record sealed under a key the data directory no longer has: kept sealed.
			req.dead = append(req.dead, unopenedLetter(rec))
			continue
		}
		var evs []sdk.Event
		var err error
		if b := batched[i]; b.done {
			evs, err = b.evs, b.err
		} else {
			evs, err = in.capture(ctx, rec)
		}
		if err != nil && !IsPermanent(err) {
			return Result{}, err // ctx ended during a retry: the record is not at fault, nothing is taken
		}
		if errors.Is(err, ErrNoCapture) && in.cfg.Parked != nil {
			parked = append(parked, *rec)
			continue
		}
		if err != nil {
			req.dead = append(req.dead, deadLetter(rec, err))
			continue
		}
		req.events = append(req.events, evs...)
	}
	if len(parked) > 0 {
		// Durable before anything is answered; if what follows fails, the caller submits again
		// and the record is parked twice, which its id makes harmless.
		if err := in.cfg.Parked.AppendAll(parked); err != nil {
			return Result{}, fmt.Errorf("park records while no capture serves their platform: %w", err)
		}
		if m := in.cfg.Metrics; m != nil {
			m.Events.WithLabelValues("parked").Add(float64(len(parked)))
		}
	}
	res, err := in.enqueue(ctx, req)
	if err == nil {
		res.Parked = len(parked)
	}
	return res, err
}

// batchOutcome is what a BatchCapture made of one record; done is false when the record still
// needs the one-record path.
type batchOutcome struct {
	evs  []sdk.Event
	err  error
	done bool
}

// captureBatch captures, in one CaptureBatch call per platform, the records whose platform's
// capture is a BatchCapture, when a platform has several records. Events are validated as
// capture does; a record with a retryable error is left for the one-record path and its retries.
func (in *Intake) captureBatch(recs []RawRecord) []batchOutcome {
	out := make([]batchOutcome, len(recs))
	if len(recs) < 2 {
		return out
	}
	by := map[string][]int{}
	for i := range recs {
		if _, ok := in.captures[recs[i].Platform].(BatchCapture); ok {
			by[recs[i].Platform] = append(by[recs[i].Platform], i)
		}
	}
	for platform, idx := range by {
		if len(idx) < 2 {
			continue
		}
		batch := make([]*RawRecord, len(idx))
		for k, i := range idx {
			batch[k] = &recs[i]
		}
		evs, errs := safeCaptureBatch(in.captures[platform].(BatchCapture), batch)
		for k, i := range idx {
			o := &out[i]
			switch err := errs[k]; {
			case err == nil:
				o.evs, o.done = evs[k], true
				for j := range o.evs {
					if verr := o.evs[j].Validate(); verr != nil {
						in.cfg.Metrics.error("invalid_event")
						o.evs, o.err = nil, Permanent(fmt.Errorf("capture produced an invalid event: %w", verr))
						break
					}
				}
			case IsPermanent(err):
				in.cfg.Metrics.error("capture")
				o.err, o.done = Permanent(fmt.Errorf("capture: %w", err)), true
			}
		}
	}
	return out
}

// safeCaptureBatch turns a panic in a batch capture into a permanent error for every record, and
// a result of the wrong length into retryable errors (the one-record path then decides).
func safeCaptureBatch(c BatchCapture, recs []*RawRecord) (evs [][]sdk.Event, errs []error) {
	defer func() {
		if r := recover(); r != nil {
			evs, errs = make([][]sdk.Event, len(recs)), make([]error, len(recs))
			for i := range errs {
				errs[i] = Permanent(fmt.Errorf("capture panicked: %v", r))
			}
		}
	}()
	evs, errs = c.CaptureBatch(recs)
	if len(evs) != len(recs) || len(errs) != len(recs) {
		evs, errs = make([][]sdk.Event, len(recs)), make([]error, len(recs))
		for i := range errs {
			errs[i] = errors.New("batch capture returned the wrong number of results")
		}
	}
	return evs, errs
}

// capture runs the platform's capture with retries, and validates what it returns. Its errors are
// Permanent, except when ctx ends while it waits to retry: then it returns ctx.Err().
func (in *Intake) capture(ctx context.Context, rec *RawRecord) ([]sdk.Event, error) {
	c, ok := in.captures[rec.Platform]
	if !ok {
		in.cfg.Metrics.error("unknown_platform")
		return nil, Permanent(fmt.Errorf("no capture for platform %q", rec.Platform))
	}
	backoff := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		evs, err := safeCapture(c, rec)
		if err == nil {
			for i := range evs {
				if verr := evs[i].Validate(); verr != nil {
					in.cfg.Metrics.error("invalid_event")
					return nil, Permanent(fmt.Errorf("capture produced an invalid event: %w", verr))
				}
			}
			return evs, nil
		}
		if IsPermanent(err) || attempt >= in.cfg.CaptureRetries {
			in.cfg.Metrics.error("capture")
			return nil, Permanent(fmt.Errorf("capture: %w", err))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// safeCapture turns a panic in a capture into a permanent error: bad input never crashes the agent.
func safeCapture(c Capture, rec *RawRecord) (evs []sdk.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			evs, err = nil, Permanent(fmt.Errorf("capture panicked: %v", r))
		}
	}()
	return c.Capture(rec)
}

// unopenedLetter is the dead letter of a spooled record whose payload could not be opened: the
// payload stays sealed as it was, for a replay once the key that sealed it is back.
func unopenedLetter(rec *RawRecord) *store.DLQRecord {
	return &store.DLQRecord{
		Stage:        "capture",
		Reason:       fmt.Sprintf("the spooled payload cannot be opened: %v", rec.Unopened),
		Source:       rec.Source,
		Platform:     rec.Platform,
		RecordID:     rec.ID,
		ReceivedAt:   rec.ReceivedAt,
		Attempts:     1,
		PayloadBytes: max(len(rec.Payload)-seal.Overhead, 0),
		Sealed:       rec.Payload,
	}
}

func deadLetter(rec *RawRecord, err error) *store.DLQRecord {
	return &store.DLQRecord{
		Stage:      "capture",
		Reason:     err.Error(),
		Source:     rec.Source,
		Platform:   rec.Platform,
		RecordID:   rec.ID,
		ReceivedAt: rec.ReceivedAt,
		Attempts:   1,
		Payload:    rec.Payload,
	}
}

// enqueue admits req to the queue, or refuses it when full, and waits for its commit.
func (in *Intake) enqueue(ctx context.Context, req *request) (Result, error) {
	req.items = len(req.events) + len(req.dead) + len(req.resolve)
	if req.items == 0 {
		return Result{}, nil
	}
	in.admitting.Add(1)
	in.mu.RLock()
	if in.closed {
		in.mu.RUnlock()
		in.admitting.Add(-1)
		return Result{}, ErrClosed
	}
	if n := in.depth.Add(int64(req.items)); n > int64(in.cfg.QueueSize) && n != int64(req.items) {
		// Full. (A single request larger than the queue is still admitted when the queue is empty.)
		in.depth.Add(-int64(req.items))
		in.mu.RUnlock()
		in.admitting.Add(-1)
		if m := in.cfg.Metrics; m != nil {
			m.Busy.Inc()
		}
		return Result{}, ErrBusy
	}
	// No longer on the way once sent: the committer that takes req must not wait for its submitter.
	in.admitting.Add(-1)
	select {
	case in.queue <- req:
	default:
		// The channel holds QueueSize requests of at least one item each, so admission above
		// keeps it from filling; this is a guard, not a path.
		in.depth.Add(-int64(req.items))
		in.mu.RUnlock()
		return Result{}, ErrBusy
	}
	in.mu.RUnlock()
	select {
	case <-req.done:
		return req.res, req.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Close stops taking submissions, commits what is queued, and stops the committer. It is safe to
// call more than once; it returns when the queue is drained or ctx ends.
func (in *Intake) Close(ctx context.Context) error {
	in.mu.Lock()
	if !in.closed {
		in.closed = true
		close(in.queue)
	}
	in.mu.Unlock()
	select {
	case <-in.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close intake: %w", ctx.Err())
	}
}

// commitLoop is the single builder: it gathers requests into batches and builds each into a store
// batch, which syncLoop commits. The store lets the next batch be built while the previous one
// syncs, and keeps commits in build order.
func (in *Intake) commitLoop() {
	defer close(in.built)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var next *request // taken from the queue but too large for the batch it came to: starts the next
	for {
		first := next
		next = nil
		if first == nil {
			var ok bool
			if first, ok = <-in.queue; !ok {
				return
			}
		}
		batch := []*request{first}
		items := first.items
		// add adds r to the batch, or keeps it for the next batch if it would overfill this one.
		add := func(r *request) bool {
			if items+r.items > in.cfg.BatchMaxEvents {
				next = r
				return false
			}
			batch = append(batch, r)
			items += r.items
			return true
		}
		timer.Reset(in.cfg.BatchMaxDelay)
	gather:
		for items < in.cfg.BatchMaxEvents {
			select {
			case r, ok := <-in.queue:
				if !ok || !add(r) {
					break gather
				}
				continue
			default:
			}
			if in.admitting.Load() == 0 {
				break // nobody is on the way: do not make the batch wait
			}
			select {
			case r, ok := <-in.queue:
				if !ok || !add(r) {
					break gather
				}
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		bb := &builtBatch{reqs: batch, items: items}
		bb.b, bb.err = in.build(batch)
		in.built <- bb
	}
}

// syncLoop commits built batches in order and answers their requests.
func (in *Intake) syncLoop() {
	defer close(in.done)
	for bb := range in.built {
		in.commit(bb)
	}
}

// commit commits a built batch and answers its requests. A failed commit is not retried here: a
// later batch may already hold the store's append slot, and the failure is an I/O error that the
// callers' own retries handle (the hook spools, the spool drainer tries again every second).
func (in *Intake) commit(bb *builtBatch) {
	batch, items, start := bb.reqs, bb.items, time.Now()
	err := bb.err
	if err == nil {
		err = bb.b.Commit()
	}
	if err != nil && !errors.Is(err, store.ErrClosed) {
		in.cfg.Metrics.error("commit")
	}
	d := time.Since(start)
	if err != nil {
		in.log.Error("commit failed", "err", err, "items", items)
	}
	if m := in.cfg.Metrics; m != nil && err == nil {
		m.CommitTime.Observe(d.Seconds())
		m.BatchEvents.Observe(float64(items))
		for _, r := range batch {
			m.Events.WithLabelValues("stored").Add(float64(r.res.Stored))
			m.Events.WithLabelValues("duplicate").Add(float64(r.res.Duplicates))
			m.Events.WithLabelValues("dead_lettered").Add(float64(r.res.DeadLettered))
		}
	}
	if in.cfg.ObserveCommit != nil && err == nil {
		in.cfg.ObserveCommit(items, d)
	}
	for _, r := range batch {
		in.depth.Add(-int64(r.items))
		r.err = err
		close(r.done)
	}
}

// build builds one store batch for the requests, for the caller to commit. On error it has
// closed the batch.
func (in *Intake) build(batch []*request) (_ *store.Batch, err error) {
	b := in.st.NewBatch()
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	for _, r := range batch {
		r.res = Result{}
		for i := range r.events {
			added, err := b.AddEvent(&r.events[i])
			if err != nil {
				return nil, err
			}
			if added {
				r.res.Stored++
			} else {
				r.res.Duplicates++
			}
		}
		for _, d := range r.dead {
			if _, err := b.AddDLQ(d); err != nil {
				return nil, err
			}
			r.res.DeadLettered++
		}
		for _, seq := range r.resolve {
			b.DeleteDLQ(seq)
		}
	}
	return b, nil
}
