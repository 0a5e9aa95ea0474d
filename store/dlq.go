package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store/seal"
)

// DLQRecord is a record that a pipeline stage could not process, kept with the reason so that it
// can be inspected, replayed or dropped. Payload is the raw input of the failing stage (a hook
// payload for capture, an encoded event for a consumer): with the spool, the dead-letter queue is
// the only place raw payloads rest, so the store never writes one in the clear. It seals the
// payload under its payload key (Options.PayloadKey) before the record enters a batch, and opens
// it when it reads the record back; retention expires the queue.
type DLQRecord struct {
	// Seq is the record's number in the queue; AddDLQ sets it.
	Seq uint64 `json:"seq"`
	// Time is when the record was dead-lettered.
	Time time.Time `json:"time"`
	// Stage is where it failed: "capture" or "consumer:<name>".
	Stage string `json:"stage"`
	// Reason says why, for people.
	Reason string `json:"reason"`
	// Source is where the record came from: "hook", "spool", "api", "transcript".
	Source string `json:"source,omitempty"`
	// Platform is the record's platform.
	Platform string `json:"platform,omitempty"`
	// RecordID is the id of the source record or event.
	RecordID sdk.ID `json:"record_id,omitzero"`
	// ReceivedAt is when the source record was first received.
	ReceivedAt time.Time `json:"received_at,omitzero"`
	// Attempts counts how often the record was tried, replays included.
	Attempts int `json:"attempts"`
	// PayloadBytes is the payload's size in the clear (the store sets it).
	PayloadBytes int `json:"payload_bytes"`
	// Payload is the raw input of the failing stage, in the clear; nil when it was not kept (an
	// oversized input) or could not be opened (PayloadError says why).
	Payload []byte `json:"payload,omitempty"`
	// PayloadError says why the sealed payload could not be opened (the payload key was
	// replaced since, say); empty when it was opened or there is none.
	PayloadError string `json:"payload_error,omitempty"`
	// Sealed is the payload as it rests, sealed (see package store/seal): set by the store when it could
	// not open it, or by a caller adding a payload it cannot open either (a spooled record sealed
	// under another key). When Payload is nil, the store keeps Sealed as it is.
	Sealed []byte `json:"-"`
}

// dlqAtRest is a dead letter as the store keeps it: JSON, its payload sealed.
type dlqAtRest struct {
	Seq          uint64    `json:"seq"`
	Time         time.Time `json:"time"`
	Stage        string    `json:"stage"`
	Reason       string    `json:"reason"`
	Source       string    `json:"source,omitempty"`
	Platform     string    `json:"platform,omitempty"`
	RecordID     sdk.ID    `json:"record_id,omitzero"`
	ReceivedAt   time.Time `json:"received_at,omitzero"`
	Attempts     int       `json:"attempts"`
	PayloadBytes int       `json:"payload_bytes,omitempty"`
	// Sealed is the payload, sealed under the store's payload key with the record id as
	// additional data.
	Sealed []byte `json:"sealed,omitempty"`
	// Payload is the payload in the clear, as builds before sealing kept it: read, never written
	// (Open seals such records, see sealLegacyDLQ).
	Payload []byte `json:"payload,omitempty"`
}

// marshalDLQ encodes r as it rests: its payload sealed. A payload with no key to seal it under is
// an error wrapping ErrNoPayloadKey: it is never written in the clear.
func (s *Store) marshalDLQ(r *DLQRecord) ([]byte, error) {
	d := dlqAtRest{
		Seq: r.Seq, Time: r.Time, Stage: r.Stage, Reason: r.Reason, Source: r.Source, Platform: r.Platform,
		RecordID: r.RecordID, ReceivedAt: r.ReceivedAt, Attempts: r.Attempts, PayloadBytes: r.PayloadBytes,
	}
	switch {
	case r.Payload != nil:
		if s.key == nil {
			return nil, fmt.Errorf("seal the payload: %w", ErrNoPayloadKey)
		}
		d.Sealed = s.key.Seal(nil, r.Payload, r.RecordID[:])
		d.PayloadBytes = len(r.Payload)
	case r.Sealed != nil:
		if !seal.IsSealed(r.Sealed) {
			return nil, fmt.Errorf("keep the sealed payload: %w", seal.ErrCorrupt)
		}
		d.Sealed = r.Sealed
	}
	return json.Marshal(&d)
}

// unmarshalDLQ decodes a dead letter as it rests, opening its payload if open is set.
func (s *Store) unmarshalDLQ(v []byte, open bool) (DLQRecord, error) {
	var d dlqAtRest
	if err := json.Unmarshal(v, &d); err != nil {
		return DLQRecord{}, fmt.Errorf("decode dead letter: %w", err)
	}
	r := DLQRecord{
		Seq: d.Seq, Time: d.Time, Stage: d.Stage, Reason: d.Reason, Source: d.Source, Platform: d.Platform,
		RecordID: d.RecordID, ReceivedAt: d.ReceivedAt, Attempts: d.Attempts, PayloadBytes: d.PayloadBytes,
	}
	switch {
	case d.Sealed != nil:
		r.Sealed = d.Sealed
		if !open {
			break
		}
		if s.key == nil {
			r.PayloadError = fmt.Sprintf("the payload is sealed, and %v", ErrNoPayloadKey)
			break
		}
		p, err := s.key.Open(nil, d.Sealed, d.RecordID[:])
		if err != nil {
			r.PayloadError = err.Error()
			break
		}
		r.Payload, r.Sealed = p, nil
	case d.Payload != nil: // an earlier build's record
		r.Payload, r.PayloadBytes = d.Payload, len(d.Payload)
	}
	return r, nil
}

// DLQ returns the dead-letter record seq, or ErrNotFound.
func (s *Store) DLQ(seq uint64) (DLQRecord, error) {
	if s.closed.Load() {
		return DLQRecord{}, fmt.Errorf("read dead letter %d: %w", seq, ErrClosed)
	}
	v, closer, err := s.db.Get(dlqKey(seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return DLQRecord{}, fmt.Errorf("read dead letter %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return DLQRecord{}, fmt.Errorf("read dead letter %d: %w", seq, err)
	}
	defer closer.Close()
	return s.unmarshalDLQ(v, true)
}

// ScanDLQ calls fn for each dead-letter record in order, with its payload opened, stopping early if
// fn returns false.
func (s *Store) ScanDLQ(fn func(r DLQRecord) bool) error { return s.scanDLQ(true, fn) }

// scanDLQ is ScanDLQ, opening payloads only if open is set.
func (s *Store) scanDLQ(open bool, fn func(r DLQRecord) bool) error {
	if s.closed.Load() {
		return fmt.Errorf("scan dead letters: %w", ErrClosed)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixDLQ}, UpperBound: []byte{prefixDLQ + 1}})
	if err != nil {
		return fmt.Errorf("scan dead letters: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		r, err := s.unmarshalDLQ(it.Value(), open)
		if err != nil {
			return fmt.Errorf("scan dead letters at %d: %w", seqOf(it.Key()), err)
		}
		if !fn(r) {
			break
		}
	}
	return it.Error()
}

// UpdateDLQ records another failed attempt of a dead-letter record, with its new reason. The
// payload is sealed again (or, if it could not be opened, kept as it was).
func (s *Store) UpdateDLQ(r DLQRecord, reason string) error {
	if s.closed.Load() {
		return fmt.Errorf("update dead letter %d: %w", r.Seq, ErrClosed)
	}
	r.Attempts++
	r.Reason = reason
	v, err := s.marshalDLQ(&r)
	if err != nil {
		return fmt.Errorf("update dead letter %d: %w", r.Seq, err)
	}
	if err := s.db.Set(dlqKey(r.Seq), v, pebble.Sync); err != nil {
		return fmt.Errorf("update dead letter %d: %w", r.Seq, err)
	}
	return nil
}

// SealDeadLetters seals the payloads that dead letters of an earlier build keep in the clear, and
// returns how many it sealed. It then compacts the dead-letter keyspace, so that the tables holding
// the old values are rewritten without them (what Pebble's recycled log files may still hold is
// overwritten as the log is reused). The daemon calls it when it opens the store for writing;
// until then such records read and replay as they are.
func (s *Store) SealDeadLetters(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("seal dead letters: %w", ErrClosed)
	}
	if s.key == nil {
		return 0, fmt.Errorf("seal dead letters: %w", ErrNoPayloadKey)
	}
	lo, hi := []byte{prefixDLQ}, []byte{prefixDLQ + 1}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, fmt.Errorf("seal dead letters: %w", err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		var d dlqAtRest
		if err := json.Unmarshal(it.Value(), &d); err != nil || d.Payload == nil || d.Sealed != nil {
			continue // not one of an earlier build's (a record that does not decode is left for the reader to report)
		}
		r, err := s.unmarshalDLQ(it.Value(), false)
		if err != nil {
			continue
		}
		v, err := s.marshalDLQ(&r)
		if err != nil {
			it.Close()
			return 0, fmt.Errorf("seal dead letter %d: %w", seqOf(it.Key()), err)
		}
		b.Set(bytes.Clone(it.Key()), v, nil)
		n++
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return 0, fmt.Errorf("seal dead letters: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("seal dead letters: %w", err)
	}
	if err := s.db.Compact(ctx, lo, hi, false); err != nil {
		return n, fmt.Errorf("seal dead letters: compact: %w", err)
	}
	return n, nil
}
