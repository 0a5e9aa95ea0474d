package pdk

import (
	"encoding/binary"
	"fmt"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
)

// Result statuses of the batch output, as package abi writes them.
const (
	statusOK    = 0
	statusError = 1
)

// outBuf is the output buffer, reused from call to call: the output is copied to the host before
// the next call starts.
var outBuf []byte

// maxKeptOutput is the largest output buffer kept for the next call.
const maxKeptOutput = 1 << 20

// current is the index in its call's batch of the record being handled (for Leaks).
var current int

// process runs the handler of an export over one batch and returns the output bytes, which are
// valid until the next call. It writes the output as package abi's AppendOutput does, encoding
// each record's events as soon as its handler returns.
func process(export string, input []byte) ([]byte, error) {
	if bh := batchHandlers[export]; bh != nil {
		return processBatch(bh, input)
	}
	h := handlers[export]
	if h == nil {
		return nil, fmt.Errorf("plugin has no %s handler", export)
	}
	b := append(outBuf[:0], abi.Version)
	if len(input) > 1 {
		// The record count; if it is malformed, DecodeInput says so below.
		n, _ := binary.Uvarint(input[1:])
		b = binary.AppendUvarint(b, n)
	}
	var encErr error
	if _, err := abi.DecodeInput(input, func(i int, rec []byte) error {
		current = i
		evs, err := safeCall(h, Record{JSON: rec})
		if err != nil {
			if msg := err.Error(); msg != "" {
				b = append(b, statusError)
				b = binary.AppendUvarint(b, uint64(len(msg)))
				b = append(b, msg...)
				return nil
			}
			evs = nil
		}
		b = append(b, statusOK)
		b = binary.AppendUvarint(b, uint64(len(evs)))
		for j := range evs {
			if b, encErr = appendEvent(b, &evs[j]); encErr != nil {
				encErr = fmt.Errorf("encode result %d event %d: %w", i, j, encErr)
				return encErr
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if cap(b) <= maxKeptOutput {
		outBuf = b
	}
	return b, nil
}

// processBatch runs a batch handler over one call's records and returns the output bytes, as
// process does.
func processBatch(bh BatchHandler, input []byte) ([]byte, error) {
	var recs []Record
	if _, err := abi.DecodeInput(input, func(_ int, rec []byte) error {
		recs = append(recs, Record{JSON: rec})
		return nil
	}); err != nil {
		return nil, err
	}
	current = len(recs) - 1
	results := safeBatchCall(bh, recs)
	b := append(outBuf[:0], abi.Version)
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for i := range recs {
		var r Result
		if i < len(results) {
			r = results[i]
		}
		if r.Err != nil {
			msg := r.Err.Error()
			if msg == "" {
				msg = "failed"
			}
			b = append(b, statusError)
			b = binary.AppendUvarint(b, uint64(len(msg)))
			b = append(b, msg...)
			continue
		}
		b = append(b, statusOK)
		b = binary.AppendUvarint(b, uint64(len(r.Events)))
		for j := range r.Events {
			var err error
			if b, err = appendEvent(b, &r.Events[j]); err != nil {
				return nil, fmt.Errorf("encode result %d event %d: %w", i, j, err)
			}
		}
	}
	if cap(b) <= maxKeptOutput {
		outBuf = b
	}
	return b, nil
}

// safeBatchCall turns a batch handler's panic into every record's error.
func safeBatchCall(bh BatchHandler, recs []Record) (results []Result) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("panic: %v", r)
			results = make([]Result, len(recs))
			for i := range results {
				results[i].Err = err
			}
		}
	}()
	return bh(recs)
}

// appendEvent appends an event's encoding, preceded by its length as a uvarint.
func appendEvent(b []byte, ev *sdk.Event) ([]byte, error) {
	const room = 2 // the length of an encoding under 16 KiB, the usual case
	start := len(b)
	b = append(b, 0, 0)
	b, err := ev.AppendBinary(b)
	if err != nil {
		return nil, err
	}
	n := uint64(len(b) - start - room)
	var lb [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(lb[:], n)
	switch {
	case k < room:
		copy(b[start+k:], b[start+room:])
		b = b[:len(b)-(room-k)]
	case k > room:
		b = append(b, lb[:k-room]...)
		copy(b[start+k:], b[start+room:len(b)-(k-room)])
	}
	copy(b[start:], lb[:k])
	return b, nil
}

// safeCall turns a handler's panic into that record's error.
func safeCall(h Handler, rec Record) (evs []sdk.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			evs, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return h(rec)
}
