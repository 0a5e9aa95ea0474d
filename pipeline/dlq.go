package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar/store"
)

// DeadLetters manages the dead-letter queue: listing, replaying and dropping records. Its
// operations are serialized. It is safe for concurrent use.
type DeadLetters struct {
	st        *store.Store
	intake    *Intake
	consumers *Consumers
	mu        sync.Mutex
}

// NewDeadLetters returns the manager of st's dead-letter queue. Capture records replay through
// intake, consumer records through consumers.
func NewDeadLetters(st *store.Store, intake *Intake, consumers *Consumers) *DeadLetters {
	return &DeadLetters{st: st, intake: intake, consumers: consumers}
}

// List returns up to limit records (all if limit <= 0) in queue order.
func (d *DeadLetters) List(limit int) ([]store.DLQRecord, error) {
	var out []store.DLQRecord
	err := d.st.ScanDLQ(func(r store.DLQRecord) bool {
		out = append(out, r)
		return limit <= 0 || len(out) < limit
	})
	return out, err
}

// Get returns one record.
func (d *DeadLetters) Get(seq uint64) (store.DLQRecord, error) { return d.st.DLQ(seq) }

// ReplayResult counts the outcome of a replay.
type ReplayResult struct {
	// Replayed records succeeded and left the queue.
	Replayed int `json:"replayed"`
	// Failed records failed again and stayed, with their new reason.
	Failed int `json:"failed"`
	// Skipped records stayed untouched because the stage that failed them is not running.
	Skipped int `json:"skipped"`
}

// ErrStageNotRunning means a dead letter's stage (a consumer, a plugin) is not running, so it
// cannot be replayed now.
var ErrStageNotRunning = errors.New("pipeline: stage not running")

// Replay runs the records seqs (every record when seqs is empty) through their stage again.
func (d *DeadLetters) Replay(ctx context.Context, seqs []uint64) (ReplayResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var res ReplayResult
	recs, err := d.pick(seqs)
	if err != nil {
		return res, err
	}
	for _, rec := range recs {
		var ok bool
		switch {
		case rec.Stage == "capture":
			ok, err = d.intake.replay(ctx, rec)
		case strings.HasPrefix(rec.Stage, "consumer:") && d.consumers != nil:
			ok, err = d.consumers.Replay(ctx, rec)
		default:
			err = fmt.Errorf("replay dead letter %d: %w: %q", rec.Seq, ErrStageNotRunning, rec.Stage)
		}
		if errors.Is(err, ErrStageNotRunning) {
			res.Skipped++ // its stage (say, a disabled plugin) is not running: it stays for later
			continue
		}
		if err != nil {
			return res, err
		}
		if ok {
			res.Replayed++
		} else {
			res.Failed++
		}
	}
	return res, nil
}

// Drop removes the records seqs (every record when seqs is empty) and returns how many it removed.
func (d *DeadLetters) Drop(seqs []uint64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	recs, err := d.pick(seqs)
	if err != nil {
		return 0, err
	}
	if len(recs) == 0 {
		return 0, nil
	}
	b := d.st.NewBatch()
	defer b.Close()
	for _, r := range recs {
		b.DeleteDLQ(r.Seq)
	}
	if err := b.Commit(); err != nil {
		return 0, fmt.Errorf("drop dead letters: %w", err)
	}
	return len(recs), nil
}

// pick returns the records seqs, or all; a missing one is an error wrapping store.ErrNotFound.
func (d *DeadLetters) pick(seqs []uint64) ([]store.DLQRecord, error) {
	if len(seqs) == 0 {
		return d.List(0)
	}
	out := make([]store.DLQRecord, 0, len(seqs))
	for _, s := range seqs {
		r, err := d.st.DLQ(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// replay captures a dead-lettered record again. On success its events commit in the same batch
// that removes it from the queue.
func (in *Intake) replay(ctx context.Context, rec store.DLQRecord) (bool, error) {
	if rec.Payload == nil && rec.Sealed != nil {
		// Sealed under a key this data directory no longer has: it stays, saying so.
		return false, in.st.UpdateDLQ(rec, "the payload cannot be opened: "+rec.PayloadError)
	}
	raw := RawRecord{ID: rec.RecordID, Platform: rec.Platform, Source: rec.Source, ReceivedAt: rec.ReceivedAt, Payload: rec.Payload}
	evs, err := in.capture(ctx, &raw)
	if err != nil && !IsPermanent(err) {
		return false, fmt.Errorf("replay dead letter %d: %w", rec.Seq, err) // ctx ended: no attempt
	}
	if err != nil {
		return false, in.st.UpdateDLQ(rec, err.Error())
	}
	_, err = in.enqueue(ctx, &request{events: evs, resolve: []uint64{rec.Seq}, done: make(chan struct{})})
	if errors.Is(err, ErrBusy) {
		return false, fmt.Errorf("replay dead letter %d: %w", rec.Seq, err)
	}
	return err == nil, err
}
