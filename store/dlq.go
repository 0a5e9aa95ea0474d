package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hangar-dev/hangar/sdk"
)

// DLQRecord is a record that a pipeline stage could not process, kept with the reason so that it
// can be inspected, replayed or dropped. Payload is the raw input of the failing stage (a hook
// payload for capture, an encoded event for a consumer): the dead-letter queue is, with the spool,
// the only place raw payloads are at rest, and retention expires it.
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
	// Payload is the raw input of the failing stage; nil when it was not kept (an oversized input).
	Payload []byte `json:"payload,omitempty"`
}

func (r *DLQRecord) marshal() ([]byte, error) { return json.Marshal(r) }

func unmarshalDLQ(v []byte) (DLQRecord, error) {
	var r DLQRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("decode dead letter: %w", err)
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
	return unmarshalDLQ(v)
}

// ScanDLQ calls fn for each dead-letter record in order, stopping early if fn returns false.
func (s *Store) ScanDLQ(fn func(r DLQRecord) bool) error {
	if s.closed.Load() {
		return fmt.Errorf("scan dead letters: %w", ErrClosed)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixDLQ}, UpperBound: []byte{prefixDLQ + 1}})
	if err != nil {
		return fmt.Errorf("scan dead letters: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		r, err := unmarshalDLQ(it.Value())
		if err != nil {
			return fmt.Errorf("scan dead letters at %d: %w", seqOf(it.Key()), err)
		}
		if !fn(r) {
			break
		}
	}
	return it.Error()
}

// UpdateDLQ records another failed attempt of a dead-letter record, with its new reason.
func (s *Store) UpdateDLQ(r DLQRecord, reason string) error {
	if s.closed.Load() {
		return fmt.Errorf("update dead letter %d: %w", r.Seq, ErrClosed)
	}
	r.Attempts++
	r.Reason = reason
	v, err := r.marshal()
	if err != nil {
		return fmt.Errorf("update dead letter %d: %w", r.Seq, err)
	}
	if err := s.db.Set(dlqKey(r.Seq), v, pebble.Sync); err != nil {
		return fmt.Errorf("update dead letter %d: %w", r.Seq, err)
	}
	return nil
}
