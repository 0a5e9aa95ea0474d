package wasmstage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/tidwall/gjson"
)

// Capture is the pipeline's capture stage served by a capture plugin. It is safe for concurrent
// use.
type Capture struct {
	p              *host.Plugin
	name, platform string
	// Timeout bounds the wait for an instance and the call, beyond the plugin's own deadline;
	// zero waits as long as the plugin's limits allow.
	Timeout time.Duration
}

var (
	_ pipeline.Capture      = (*Capture)(nil)
	_ pipeline.BatchCapture = (*Capture)(nil)
)

// NewCapture returns the capture stage of a capture plugin.
func NewCapture(p *host.Plugin) (*Capture, error) {
	m := p.Manifest()
	if m.Kind != host.KindCapture {
		return nil, fmt.Errorf("new capture: plugin %s is a %s plugin", m.Name, m.Kind)
	}
	return &Capture{p: p, name: m.Name, platform: m.Platform}, nil
}

// Capture implements pipeline.Capture: one record in one call.
func (c *Capture) Capture(rec *pipeline.RawRecord) ([]sdk.Event, error) {
	evs, errs := c.CaptureBatch([]*pipeline.RawRecord{rec})
	return evs[0], errs[0]
}

// CaptureBatch implements pipeline.BatchCapture: all records in one call.
//
// The stage gives what the plugin, seeing only its projection, cannot: an oversized record (its
// payload too large to keep) becomes pipeline.OversizedEvent without calling the plugin, and every
// event the plugin emits gets the pipeline.AttrPayloadBytes attribute, first, unless the plugin set
// it (or the event has no room left for it). A capture plugin thus yields what a built-in capture
// does. The host gives each event its id, as pipeline.EventID would.
//
// Each record's error is pipeline.Permanent (so the record goes to the dead-letter queue with the
// reason) when the plugin failed the record, the host refused its emissions, the call failed
// (trap, deadline, output) or the plugin is quarantined; it is retryable only when the host or
// plugin was closed.
func (c *Capture) CaptureBatch(recs []*pipeline.RawRecord) ([][]sdk.Event, []error) {
	evs := make([][]sdk.Event, len(recs))
	errs := make([]error, len(recs))
	in := make([]host.Record, 0, len(recs))
	idx := make([]int, 0, len(recs))
	for i, r := range recs {
		switch {
		case r.Platform != c.platform:
			errs[i] = pipeline.Permanent(fmt.Errorf("plugin %s captures %q, not %q", c.name, c.platform, r.Platform))
		case r.Oversize > 0:
			evs[i] = []sdk.Event{pipeline.OversizedEvent(r)}
		default:
			if err := checkPayload(r.Payload); err != nil {
				errs[i] = pipeline.Permanent(err)
				continue
			}
			in = append(in, host.Record{ID: r.ID, Received: r.ReceivedAt, Payload: r.Payload})
			idx = append(idx, i)
		}
	}
	if len(in) == 0 {
		return evs, errs
	}
	ctx := context.Background()
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	outs, err := c.p.CallRecords(ctx, string(host.KindCapture), in)
	if err != nil {
		err = captureErr(err)
		for _, i := range idx {
			errs[i] = err
		}
		return evs, errs
	}
	for k, o := range outs {
		i := idx[k]
		if o.Err != nil {
			errs[i] = pipeline.Permanent(o.Err)
			continue
		}
		evs[i] = withPayloadBytes(o.Events, recs[i])
	}
	return evs, errs
}

// captureErr classifies the error of a failed capture call: retryable when the host or the plugin
// was closed (a reload: another instance of the stage serves the record), else permanent.
func captureErr(err error) error {
	if errors.Is(err, host.ErrClosed) {
		return err
	}
	return pipeline.Permanent(err)
}

// checkPayload refuses what no plugin can read: an empty payload, one that is not JSON, or JSON
// that is not an object. The plugin would see all three as an empty projection, "{}", and could
// not say which.
func checkPayload(p []byte) error {
	trimmed := bytes.TrimSpace(p)
	switch {
	case len(trimmed) == 0:
		return errors.New("empty payload")
	case !gjson.ValidBytes(trimmed):
		return errors.New("payload is not valid JSON")
	case trimmed[0] != '{':
		return fmt.Errorf("payload is a JSON %s, not an object", jsonKind(gjson.ParseBytes(trimmed)))
	}
	return nil
}

// jsonKind names the type of a JSON value.
func jsonKind(r gjson.Result) string {
	switch {
	case r.IsArray():
		return "array"
	case r.Type == gjson.String:
		return "string"
	case r.Type == gjson.Number:
		return "number"
	case r.Type == gjson.True || r.Type == gjson.False:
		return "boolean"
	default:
		return "null"
	}
}

// withPayloadBytes puts the record's payload size first in each event that lacks it.
func withPayloadBytes(evs []sdk.Event, rec *pipeline.RawRecord) []sdk.Event {
	size := pipeline.PayloadBytes(rec)
next:
	for j := range evs {
		ev := &evs[j]
		if len(ev.Attrs) >= sdk.MaxAttrs {
			continue
		}
		for _, a := range ev.Attrs {
			if a.Key == pipeline.AttrPayloadBytes {
				continue next
			}
		}
		attrs := make([]sdk.Attr, 0, len(ev.Attrs)+1)
		ev.Attrs = append(append(attrs, size), ev.Attrs...)
	}
	return evs
}
