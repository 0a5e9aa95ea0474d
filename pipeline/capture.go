package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hangar-dev/hangar/sdk"
)

// Capture turns one raw record of a platform into events. It is the seam where platform plugins
// plug in: the built-in ClaudeCode capture now, WASM plugins run by the host later.
//
// Capture may be called from many goroutines at once. It must not keep rec or its payload. The
// events it returns must have deterministic ids derived from rec.ID (see EventID), so that a
// replayed record yields the same ids. A capture error is retried with backoff unless it is
// Permanent, in which case the record goes to the dead-letter queue.
type Capture interface {
	Capture(rec *RawRecord) ([]sdk.Event, error)
}

// BatchCapture is an optional ability of a Capture: capturing many records of its platform in one
// go (a WASM plugin does it in one call). It returns one event slice and one error per record, in
// order, with the same meaning as Capture's. The intake uses it when a Submit carries several
// records of the platform, and retries a record with a retryable error through Capture.
type BatchCapture interface {
	CaptureBatch(recs []*RawRecord) ([][]sdk.Event, []error)
}

// EventID returns the id of the i-th event captured from rec.
func EventID(rec *RawRecord, i int) sdk.ID {
	idx := []byte{byte(i >> 8), byte(i)}
	if i >= 1<<16 {
		// Beyond two bytes, eight: NewID length-prefixes its parts, so these ids differ from the
		// two-byte ones, which stay as they were.
		idx = binary.BigEndian.AppendUint64(nil, uint64(i))
	}
	return sdk.NewID("record", []byte(rec.Platform), rec.ID[:], idx)
}

// Errors of the intake.
var (
	// ErrBusy means the intake queue is full; the caller should spool and retry later.
	ErrBusy = errors.New("pipeline: busy")
	// ErrClosed means the intake or the consumers runner has shut down.
	ErrClosed = errors.New("pipeline: closed")
	// ErrNoCapture means no capture serves a record's platform for now (its capture plugin is
	// disabled or quarantined, and no other serves it). A capture returns it (wrapped, and
	// Permanent so that it is not retried); the intake then parks the record, sealed, until a
	// capture serves again (IntakeConfig.Parked), instead of dead-lettering it.
	ErrNoCapture = errors.New("pipeline: no capture serves the platform")
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as permanent: the record that caused it goes to the dead-letter queue
// instead of being retried. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Captures maps platforms to their capture stage.
type Captures map[string]Capture

// Register adds the capture of a platform; registering a platform twice is an error.
func (c Captures) Register(platform string, capture Capture) error {
	if _, dup := c[platform]; dup {
		return fmt.Errorf("register capture: platform %q registered twice", platform)
	}
	c[platform] = capture
	return nil
}

// AttrPayloadBytes is the attribute every captured event carries: the size in bytes of the raw
// payload it was captured from (of the payload as received, when it was too large to keep).
const AttrPayloadBytes = "payload_bytes"

// KindOversized is the kind of the one event an oversized record becomes.
const KindOversized = "hook.oversized"

// PayloadBytes returns the AttrPayloadBytes attribute of rec: its payload's size, or its
// Oversize when the payload was too large to keep.
func PayloadBytes(rec *RawRecord) sdk.Attr {
	if rec.Oversize > 0 {
		return sdk.Int(AttrPayloadBytes, rec.Oversize)
	}
	return sdk.Int(AttrPayloadBytes, int64(len(rec.Payload)))
}

// OversizedEvent returns the event that a record whose payload was too large to keep
// (rec.Oversize > 0) becomes, whatever captures its platform: the first event of the record, of
// kind KindOversized, at the record's received time, with its size and nothing else.
func OversizedEvent(rec *RawRecord) sdk.Event {
	return sdk.Event{
		ID: EventID(rec, 0), Platform: rec.Platform, Time: rec.ReceivedAt,
		Kind: KindOversized, Attrs: []sdk.Attr{PayloadBytes(rec)},
	}
}
