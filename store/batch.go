package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hangar-dev/hangar/sdk"
)

// Batch is a set of writes committed atomically and durably by Commit. A Batch is not safe for
// concurrent use. Every Batch must end with Commit or Close.
//
// The first AddEvent makes the batch the store's one event appender until its Commit begins (or it
// is closed); another batch's AddEvent waits until then, so the next batch can be built while this
// one syncs. Event batches commit in the order they were built.
type Batch struct {
	s        *Store
	b        *pebble.Batch
	deltas   map[string]int64
	ids      map[sdk.ID]struct{}
	appender bool
	nextSeq  uint64
	// pendingDup is set when an event was a duplicate of one in the batch being committed.
	pendingDup bool
	ingest     time.Time
	lastDLQ    uint64
	done       bool
	// committed is set once Commit succeeded.
	committed bool
	// derived are the derived records the batch adds (AddDerived); Commit numbers them.
	derived []pendingDerived
}

// NewBatch starts a batch.
func (s *Store) NewBatch() *Batch {
	return &Batch{s: s, b: s.db.NewBatch(), deltas: map[string]int64{}}
}

// AddEvent appends ev to the event log unless an event with its id is stored already or earlier in
// this batch, and reports whether it was added. It sets ev.IngestTime. ev must pass Validate.
func (b *Batch) AddEvent(ev *sdk.Event) (bool, error) {
	if b.done {
		return false, fmt.Errorf("add event: batch already ended")
	}
	if err := ev.Validate(); err != nil {
		return false, fmt.Errorf("add event: %w", err)
	}
	if b.s.closed.Load() {
		return false, fmt.Errorf("add event: %w", ErrClosed)
	}
	if !b.appender {
		b.s.appendMu.Lock()
		if b.s.ids == nil {
			if err := b.s.loadIDFilter(); err != nil {
				b.s.appendMu.Unlock()
				return false, fmt.Errorf("add event: %w", err)
			}
		}
		b.appender = true
		b.ids = map[sdk.ID]struct{}{}
		b.nextSeq = b.s.nextSeq
		b.ingest = time.Now().UTC()
		if b.ingest.Before(b.s.lastIngest) {
			b.ingest = b.s.lastIngest
		}
	}
	if _, dup := b.ids[ev.ID]; dup {
		return false, nil
	}
	if b.s.isPending(ev.ID) {
		// Stored by the batch being committed now: this batch's commit, which comes after it,
		// fails if that one does, so the duplicate is never acknowledged without the original.
		b.pendingDup = true
		return false, nil
	}
	if b.s.ids.mayContain(ev.ID) {
		if has, err := b.s.Has(ev.ID); err != nil {
			return false, fmt.Errorf("add event: %w", err)
		} else if has {
			return false, nil
		}
	}
	seq := b.nextSeq
	ev.IngestTime = b.ingest
	enc, err := ev.MarshalBinary()
	if err != nil {
		return false, fmt.Errorf("add event: %w", err)
	}
	b.b.Set(eventKey(seq), enc, nil)
	b.b.Set(idKey(ev.ID), binary.BigEndian.AppendUint64(nil, seq), nil)
	b.b.Set(timeKey(ev.Time, seq), nil, nil)
	if ev.SessionID != "" {
		b.b.Set(sessionKey(ev.SessionID, ev.Time, seq), nil, nil)
	}
	b.count(counterEvent+ev.Platform+"\x00"+ev.Kind, 1)
	b.ids[ev.ID] = struct{}{}
	b.s.ids.add(ev.ID) // if the batch is abandoned, a false positive: one lookup later
	b.nextSeq++
	return true, nil
}

// Events returns how many events the batch adds.
func (b *Batch) Events() int { return len(b.ids) }

// count adds delta to a counter; Commit writes one merge operand per counter it touched.
func (b *Batch) count(name string, delta int64) { b.deltas[name] += delta }

// AddDLQ adds a record to the dead-letter queue and returns its sequence number. It sets r.Seq,
// and r.Time if it is zero. The payload enters the batch sealed (see DLQRecord); with no payload
// key it is an error wrapping ErrNoPayloadKey.
func (b *Batch) AddDLQ(r *DLQRecord) (uint64, error) {
	if b.done {
		return 0, fmt.Errorf("add dead letter: batch already ended")
	}
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	if r.Payload != nil {
		r.PayloadBytes = len(r.Payload)
	}
	seq := b.s.nextDLQ.Add(1)
	r.Seq = seq
	v, err := b.s.marshalDLQ(r)
	if err != nil {
		return 0, fmt.Errorf("add dead letter: %w", err)
	}
	b.b.Set(dlqKey(r.Seq), v, nil)
	b.lastDLQ = max(b.lastDLQ, r.Seq)
	b.count(counterDLQ, 1)
	return r.Seq, nil
}

// DeleteDLQ removes the dead-letter record seq, which must exist (see Store.DLQ).
func (b *Batch) DeleteDLQ(seq uint64) {
	b.b.Delete(dlqKey(seq), nil)
	b.count(counterDLQ, -1)
}

// SetCursor records that consumer has consumed the log up to and including seq.
func (b *Batch) SetCursor(consumer string, seq uint64) {
	b.b.Set(nameKey(prefixCursor, consumer), binary.BigEndian.AppendUint64(nil, seq), nil)
}

// PutState stores a value in a consumer's own keyspace.
func (b *Batch) PutState(consumer string, key, value []byte) {
	b.b.Set(stateKey(consumer, key), value, nil)
}

// DeleteState removes a key from a consumer's own keyspace.
func (b *Batch) DeleteState(consumer string, key []byte) {
	b.b.Delete(stateKey(consumer, key), nil)
}

// Commit writes the batch durably (a synced write) and ends it.
func (b *Batch) Commit() error {
	if b.done {
		return fmt.Errorf("commit batch: already ended")
	}
	if b.s.closed.Load() { // Pebble panics on a commit after Close
		b.end()
		return fmt.Errorf("commit batch: %w", ErrClosed)
	}
	if b.lastDLQ > 0 {
		// Batches take DLQ numbers when they add records but may commit in another order: record
		// the highest number handed out so far, with commits serialized so that it only grows.
		b.s.dlqMu.Lock()
		defer b.s.dlqMu.Unlock()
		b.b.Set(metaLastDLQ, binary.BigEndian.AppendUint64(nil, b.s.nextDLQ.Load()), nil)
	}
	if len(b.ids) > 0 {
		b.b.Set(metaLastSeq, binary.BigEndian.AppendUint64(nil, b.nextSeq-1), nil)
	}
	if len(b.derived) > 0 {
		// Number the derived records and commit with derived.mu held, so that they commit in
		// sequence order and a reader's cursor never skips one (derived.go).
		b.s.derived.mu.Lock()
		defer b.s.derived.mu.Unlock()
		last := b.setDerived()
		defer func() {
			if b.committed {
				b.s.derivedCommitted(last)
			}
		}()
	}
	for name, d := range b.deltas {
		if d != 0 {
			b.b.Merge(nameKey(prefixCounter, name), encodeDelta(d), nil)
		}
	}
	if b.appender {
		// Take our place in the commit order, publish what the next batch builds on, and let it
		// be built while this one syncs.
		b.s.commitMu.Lock()
		defer b.s.commitMu.Unlock()
		b.s.nextSeq = b.nextSeq
		b.s.lastIngest = b.ingest
		b.s.setPending(b.ids)
		defer b.s.setPending(nil)
		b.appender = false
		b.s.appendMu.Unlock()
		if b.pendingDup && b.s.prevFailed {
			b.end()
			return fmt.Errorf("commit batch: an event it found stored was in a batch that failed to commit")
		}
		if len(b.ids) > 0 {
			defer func() { b.s.prevFailed = !b.committed }()
		}
	}
	err := b.b.Commit(pebble.Sync)
	if err != nil {
		b.end()
		if errors.Is(err, pebble.ErrClosed) {
			return fmt.Errorf("commit batch: %w", ErrClosed)
		}
		return fmt.Errorf("commit batch: %w", err)
	}
	var last uint64
	if len(b.ids) > 0 {
		last = b.nextSeq - 1
	}
	b.committed = true
	b.s.commitNotify(last, b.deltas)
	b.end()
	return nil
}

// Close abandons the batch if it was not committed. It is safe after Commit.
func (b *Batch) Close() {
	if !b.done {
		b.end()
	}
}

func (b *Batch) end() {
	b.done = true
	b.b.Close()
	if b.appender {
		b.appender = false
		b.s.appendMu.Unlock()
	}
}
