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
			out = append(out, Insight{Plugin: name, Key: key, Record: *ev})
			return nil
		}); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// currentRecords calls fn with the latest derived record of each key of a kind, in key order
// (records without a key attribute, each on its own, after them, in the order stored).
//
// It reads the append-only log of derived records (ScanDerived) and keeps the last record per
// key: the store's view of keyed records (store.ScanView, contract C2 of issue 15) answers the
// same in one seek per key, and replaces this scan once it lands; nothing else here changes.
func currentRecords(st *store.Store, kind string, fn func(key string, ev *sdk.Event) error) error {
	latest := map[string]sdk.Event{}
	var unkeyed []sdk.Event
	if _, err := st.ScanDerived(kind, 0, 0, func(_ uint64, ev *sdk.Event) error {
		e := *ev
		e.Attrs = slices.Clone(ev.Attrs)
		if k, ok := e.Attr("key"); ok && k.Kind() == sdk.KindIdent {
			latest[k.Ident()] = e
		} else {
			unkeyed = append(unkeyed, e)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("current records of %s: %w", kind, err)
	}
	keys := make([]string, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ev := latest[k]
		if err := fn(k, &ev); err != nil {
			return err
		}
	}
	for i := range unkeyed {
		if err := fn("", &unkeyed[i]); err != nil {
			return err
		}
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
