package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// Insight is one current insight: the latest record of a key that an insight plugin emitted
// (stored as derived records of kind host.InsightKind(Plugin)).
type Insight struct {
	Plugin string `json:"plugin"`
	// Key is the record's "key" attribute, or "" for a record without one (each stands alone).
	Key    string    `json:"key"`
	Record sdk.Event `json:"record"`
}

// maxInsightPlugins bounds the plugins one GET /v1/insights names.
const maxInsightPlugins = 256

// getInsights serves the current insights of the plugins named by the query parameter plugin
// (repeated), as JSON: []Insight, by plugin as asked, then key.
func (d *Daemon) getInsights(w http.ResponseWriter, r *http.Request) {
	names := r.URL.Query()["plugin"]
	if len(names) > maxInsightPlugins {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%d plugins, at most %d", len(names), maxInsightPlugins))
		return
	}
	for _, name := range names {
		if !sdk.IsIdent(name) || name == "" {
			writeError(w, http.StatusBadRequest, fmt.Errorf("plugin %q: not a plugin name", name))
			return
		}
	}
	out := []Insight{}
	for _, name := range names {
		if err := currentRecords(d.st, host.InsightKind(name), func(key string, ev *sdk.Event) error {
			rec := *ev
			rec.Attrs = slices.Clone(ev.Attrs) // ev is the scan's, valid during this call
			out = append(out, Insight{Plugin: name, Key: key, Record: rec})
			return nil
		}); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// currentRecords calls fn with the latest derived record of each key of a kind, in key order:
// the store's view of keyed records, one scan. An insight record without a key attribute is in
// the derived log only (for plugins that follow it) and is not an insight to show.
func currentRecords(st *store.Store, kind string, fn func(key string, ev *sdk.Event) error) error {
	if err := st.ScanView(kind, nil, func(key []byte, ev *sdk.Event) error {
		return fn(string(key), ev)
	}); err != nil {
		return fmt.Errorf("current records of %s: %w", kind, err)
	}
	return nil
}

// Insights returns the current insights of the insight plugins named.
func (c *Client) Insights(ctx context.Context, plugins []string) ([]Insight, error) {
	q := url.Values{"plugin": plugins}
	var out []Insight
	err := c.do(ctx, http.MethodGet, "/v1/insights?"+q.Encode(), "", nil, &out)
	return out, err
}
