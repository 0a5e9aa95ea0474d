package daemon

// GET /v1/events/tail: the stored events as an enrich plugin with read:events is handed them,
// for `agent events tail`. It is the one read command that reads the raw event keyspace (the
// event log): TestLayering keeps it out of the read side.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/hangar-dev/hangar/sdk"
)

// tailWindow is how many events one step back through the log reads, looking for the last ones
// of a kind.
const tailWindow = 4096

// getEventsTail serves GET /v1/events/tail?n=N&kind=K: the last N stored events (of kind K, if
// given), oldest first.
func (d *Daemon) getEventsTail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := queryInt(q, "n")
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if n == 0 {
		n = 20
	}
	kind := q.Get("kind")
	var found [][]byte // newest first
	for hi := d.st.LastSeq(); hi > 0 && len(found) < n; {
		lo := uint64(0)
		if hi > tailWindow {
			lo = hi - tailWindow
		}
		var window [][]byte
		if _, err := d.st.ReadLog(lo, int(hi-lo), func(_ uint64, ev *sdk.Event) error {
			if kind != "" && ev.Kind != kind {
				return nil
			}
			enc, err := appendEvent(nil, ev)
			window = append(window, enc)
			return err
		}); err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Errorf("read event log: %w", err))
			return
		}
		slices.Reverse(window)
		found = append(found, window[:min(len(window), n-len(found))]...)
		hi = lo
	}
	slices.Reverse(found)
	writeEvents(w, slices.Concat(found...), 0)
}

// EventsTail returns the last n stored events (of a kind, if not ""), oldest first.
func (c *Client) EventsTail(ctx context.Context, kind string, n int) ([]sdk.Event, error) {
	v := url.Values{"n": {strconv.Itoa(n)}}
	if kind != "" {
		v.Set("kind", kind)
	}
	res, err := c.getEvents(ctx, "/v1/events/tail?"+v.Encode())
	if err != nil {
		return nil, fmt.Errorf("events tail: %w", err)
	}
	return res.Records, nil
}
