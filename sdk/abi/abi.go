// Package abi is the batch ABI between Hangar's plugin host and its WASM plugins, version 1. It is
// pure Go, so the host and Go plugins share it; other languages implement the same bytes (see
// docs/PLUGINS.md).
//
// One call carries a batch. The host calls the plugin's export for its kind ("capture", "enrich"
// or "insight") with an input of
//
//	version (1 byte, 1) | record count (uvarint) | records
//
// where each record is a uvarint length and the record's bytes: a JSON object holding exactly the
// fields the plugin was granted. The plugin answers through Extism's output with
//
//	version (1 byte, 1) | result count (uvarint, equal to the record count) | results
//
// where each result is a status byte, then for status 0 (ok) a uvarint event count and each event
// as a uvarint length and its sdk binary encoding (sdk.Event.AppendBinary; the host assigns ids,
// platform and missing times), and for status 1 (error) a uvarint length and a message. A record's
// error fails only that record; a trap, a deadline or malformed output fails the whole call.
package abi

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/wire"
)

// Version is the batch ABI version this package speaks.
const Version = 1

// Result statuses.
const (
	statusOK    = 0
	statusError = 1
)

// ErrMalformed means bytes are not a well-formed batch of this ABI version.
var ErrMalformed = errors.New("abi: malformed batch")

// AppendInput appends the input of a call carrying records.
func AppendInput(b []byte, records [][]byte) []byte {
	b = append(b, Version)
	b = binary.AppendUvarint(b, uint64(len(records)))
	for _, r := range records {
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	return b
}

// DecodeInput calls fn for each record of an input, in order. Records alias b.
func DecodeInput(b []byte, fn func(i int, record []byte) error) (int, error) {
	r := wire.NewDecoder(b, ErrMalformed)
	if v := r.Byte(); r.Err() == nil && v != Version {
		return 0, fmt.Errorf("%w: version %d, want %d", ErrMalformed, v, Version)
	}
	n := r.Count(1)
	for i := 0; i < n && r.Err() == nil; i++ {
		rec := r.Prefixed()
		if r.Err() == nil {
			if err := fn(i, rec); err != nil {
				return i, err
			}
		}
	}
	if err := r.End(); err != nil {
		return 0, err
	}
	return n, nil
}

// Result is what a plugin made of one record: events, or an error message.
type Result struct {
	Events []sdk.Event
	// Err, if not empty, says why the record failed; Events is then ignored.
	Err string
}

// AppendOutput appends the output of a call.
func AppendOutput(b []byte, results []Result) ([]byte, error) {
	b = append(b, Version)
	b = binary.AppendUvarint(b, uint64(len(results)))
	for i := range results {
		res := &results[i]
		if res.Err != "" {
			b = append(b, statusError)
			b = binary.AppendUvarint(b, uint64(len(res.Err)))
			b = append(b, res.Err...)
			continue
		}
		b = append(b, statusOK)
		b = binary.AppendUvarint(b, uint64(len(res.Events)))
		for j := range res.Events {
			start := len(b)
			b = append(b, make([]byte, binary.MaxVarintLen64)...) // room for the length
			enc, err := res.Events[j].AppendBinary(b)
			if err != nil {
				return nil, fmt.Errorf("encode result %d event %d: %w", i, j, err)
			}
			body := enc[start+binary.MaxVarintLen64:]
			n := binary.PutUvarint(enc[start:], uint64(len(body)))
			b = append(enc[:start+n], body...)
		}
	}
	return b, nil
}

// DecodeOutput decodes the output of a call that carried want records, calling fn for each
// result in order. Events are decoded strictly (sdk.Event.UnmarshalBinary); anything malformed,
// a count other than want, or trailing bytes is an error wrapping ErrMalformed.
func DecodeOutput(b []byte, want int, fn func(i int, events []sdk.Event, errMsg string) error) error {
	r := wire.NewDecoder(b, ErrMalformed)
	if v := r.Byte(); r.Err() == nil && v != Version {
		return fmt.Errorf("%w: version %d, want %d", ErrMalformed, v, Version)
	}
	n := r.Count(1)
	if r.Err() == nil && n != want {
		return fmt.Errorf("%w: %d results for %d records", ErrMalformed, n, want)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		switch status := r.Byte(); {
		case r.Err() != nil:
		case status == statusError:
			msg := r.Prefixed()
			if r.Err() == nil {
				if err := fn(i, nil, string(msg)); err != nil {
					return err
				}
			}
		case status == statusOK:
			m := r.Count(1)
			var evs []sdk.Event
			if m > 0 && r.Err() == nil {
				evs = make([]sdk.Event, m)
			}
			for j := 0; j < m && r.Err() == nil; j++ {
				enc := r.Prefixed()
				if r.Err() == nil {
					if err := evs[j].UnmarshalBinary(enc); err != nil {
						return fmt.Errorf("%w: result %d event %d: %v", ErrMalformed, i, j, err)
					}
				}
			}
			if r.Err() == nil {
				if err := fn(i, evs, ""); err != nil {
					return err
				}
			}
		default:
			r.Fail("result %d: status %d", i, status)
		}
	}
	return r.End()
}
