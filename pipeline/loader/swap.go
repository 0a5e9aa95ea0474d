package loader

import (
	"fmt"
	"sync/atomic"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
)

// NoCapture is what Reloaded.Captures and Loader.Captures say of a platform no capture plugin
// serves: its records are parked, sealed, until one does.
const NoCapture = "none"

// Swap is a platform's capture stage: the enabled capture plugin of the platform, or, while there
// is none (disabled, quarantined, not loaded yet), a stage whose error wraps
// pipeline.ErrNoCapture, so that the intake parks the records (sealed) until a reload brings a
// capture and the daemon captures them. A Loader swaps what serves atomically; calls in flight
// finish on the stage they started with. It is safe for concurrent use.
type Swap struct {
	none pipeline.Capture
	cur  atomic.Pointer[servingCapture]
}

// servingCapture is what serves a Swap.
type servingCapture struct {
	c  pipeline.Capture
	by string // NoCapture or the plugin's name@version
}

var (
	_ pipeline.Capture      = (*Swap)(nil)
	_ pipeline.BatchCapture = (*Swap)(nil)
)

// NewSwap returns the capture stage of platform, served by nothing until a Loader whose
// Config.Captures holds it loads a capture plugin of the platform.
func NewSwap(platform string) *Swap {
	s := &Swap{none: missingCapture{platform}}
	s.set(nil, "")
	return s
}

// set makes c (nil: none, see missingCapture) serve the platform, as by.
func (s *Swap) set(c pipeline.Capture, by string) {
	if c == nil {
		c, by = s.none, NoCapture
	}
	s.cur.Store(&servingCapture{c: c, by: by})
}

// Serving returns what serves the platform now: a capture plugin's name@version, or NoCapture.
func (s *Swap) Serving() string { return s.cur.Load().by }

// Capture implements pipeline.Capture.
func (s *Swap) Capture(rec *pipeline.RawRecord) ([]sdk.Event, error) {
	return s.cur.Load().c.Capture(rec)
}

// CaptureBatch implements pipeline.BatchCapture, record by record when the serving capture
// cannot batch.
func (s *Swap) CaptureBatch(recs []*pipeline.RawRecord) ([][]sdk.Event, []error) {
	c := s.cur.Load().c
	if b, ok := c.(pipeline.BatchCapture); ok {
		return b.CaptureBatch(recs)
	}
	evs, errs := make([][]sdk.Event, len(recs)), make([]error, len(recs))
	for i, rec := range recs {
		evs[i], errs[i] = c.Capture(rec)
	}
	return evs, errs
}

// missingCapture is a platform's capture stage while no capture plugin serves it. Its error wraps
// pipeline.ErrNoCapture: the intake parks the record (sealed) rather than dead-letter it, and the
// daemon captures it once a plugin serves the platform again.
type missingCapture struct{ platform string }

// Capture implements pipeline.Capture.
func (m missingCapture) Capture(*pipeline.RawRecord) ([]sdk.Event, error) {
	return nil, pipeline.Permanent(fmt.Errorf("no capture plugin serves %s (agent plugins enable one): %w", m.platform, pipeline.ErrNoCapture))
}
