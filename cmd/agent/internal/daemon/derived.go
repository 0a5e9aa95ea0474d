package daemon

// The read side's endpoints over derived records (GET /v1/derived/...): the view of keyed records
// (store.ScanView), one record of it (store.GetView), the append-only log of a kind
// (store.ScanDerived) and the kinds there are. They read derived records only, never the raw
// event keyspace (TestLayering checks it), and answer once the enrich plugins have read the events
// stored when the request came, or a wait has passed: then with what there is, and how many
// events the plugins have left (DerivedBehindHeader).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hangar-dev/hangar/pipeline/wasmstage"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// EventsType is the media type of an answer that is a sequence of events (derived records or
// stored events): each a uvarint length and the event's sdk binary encoding.
const EventsType = "application/x-hangar-events"

// DerivedBehindHeader is the header of a derived answer that counts the events the enrich plugins
// had still to read when it was made: 0, or absent, when the answer is up to date.
const DerivedBehindHeader = "Hangar-Derived-Behind"

// defaultDerivedWait bounds how long a derived read waits for the enrich plugins to catch up,
// when Config.DerivedWait is 0.
const defaultDerivedWait = 10 * time.Second

// ViewQuery selects records of a kind's view (GET /v1/derived/view): those whose key starts with
// Prefix, from key From (inclusive) to To (exclusive), whose Time is in [Since, Until) (zero:
// open), at most Limit (0: all).
type ViewQuery struct {
	Kind         string
	Prefix       string
	From, To     string
	Since, Until time.Time
	Limit        int
}

// Derived is an answer of the derived endpoints: records, and how many events the enrich plugins
// had still to read (0 when it is up to date).
type Derived struct {
	Records []sdk.Event
	Behind  uint64
}

// derivedRoutes adds the read side's derived endpoints, and the events tail, to mux.
func (d *Daemon) derivedRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/derived/view", d.getDerivedView)
	mux.HandleFunc("GET /v1/derived/record", d.getDerivedRecord)
	mux.HandleFunc("GET /v1/derived/log", d.getDerivedLog)
	mux.HandleFunc("GET /v1/derived/kinds", d.getDerivedKinds)
	mux.HandleFunc("GET /v1/events/tail", d.getEventsTail)
}

// enrichLag returns how many events the enabled enrich plugins have still to read, summed.
func (d *Daemon) enrichLag() (uint64, error) {
	names, err := d.enrichPlugins()
	if err != nil {
		return 0, err
	}
	return d.lagOf(names)
}

// enrichPlugins returns the names of the enabled enrich plugins.
func (d *Daemon) enrichPlugins() ([]string, error) {
	if d.cfg.EnrichPlugins == nil {
		return nil, nil
	}
	names, err := d.cfg.EnrichPlugins()
	if err != nil {
		return nil, fmt.Errorf("list enrich plugins: %w", err)
	}
	return names, nil
}

// lagOf returns how many events the enrich plugins named have still to read, summed.
func (d *Daemon) lagOf(names []string) (uint64, error) {
	last := d.st.LastSeq()
	var lag uint64
	for _, name := range names {
		c, err := d.st.Cursor(wasmstage.ConsumerName(name))
		if err != nil {
			return 0, err
		}
		if c < last {
			lag += last - c
		}
	}
	return lag, nil
}

// stalledWait is how long waitDerived waits for the enrich plugins without any progress before it
// answers: a plugin that cannot load, or is failing, need not hold a read for all of
// Config.DerivedWait.
const stalledWait = 15 * time.Second

// waitDerived waits until the enrich plugins have read the events stored now, or the wait
// passes (or they make no progress for stalledWait), and returns what they have still to read.
func (d *Daemon) waitDerived(ctx context.Context) (uint64, error) {
	wait := d.cfg.DerivedWait
	if wait == 0 {
		wait = defaultDerivedWait
	}
	names, err := d.enrichPlugins()
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(wait)
	best, progressed := uint64(math.MaxUint64), time.Now()
	for {
		lag, err := d.lagOf(names)
		if lag < best {
			best, progressed = lag, time.Now()
		}
		if err != nil || lag == 0 || d.cfg.ReadOnly || time.Now().After(deadline) || time.Since(progressed) > stalledWait {
			return lag, err
		}
		select {
		case <-ctx.Done():
			return lag, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// writeEvents answers with events as EventsType.
func writeEvents(w http.ResponseWriter, out []byte, behind uint64) {
	w.Header().Set("Content-Type", EventsType)
	if behind > 0 {
		w.Header().Set(DerivedBehindHeader, strconv.FormatUint(behind, 10))
	}
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// appendEvent appends ev, framed, to out.
func appendEvent(out []byte, ev *sdk.Event) ([]byte, error) {
	enc, err := ev.MarshalBinary()
	if err != nil {
		return out, err
	}
	out = binary.AppendUvarint(out, uint64(len(enc)))
	return append(out, enc...), nil
}

// queryTime parses an optional RFC 3339 query parameter.
func queryTime(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, fmt.Errorf("bad %s %q: want an RFC 3339 time", name, v)
	}
	return t, nil
}

// queryInt parses an optional non-negative integer query parameter.
func queryInt(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad %s %q", name, v)
	}
	return n, nil
}

// getDerivedView serves GET /v1/derived/view (see ViewQuery for its parameters).
func (d *Daemon) getDerivedView(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := ViewQuery{Kind: v.Get("kind"), Prefix: v.Get("prefix"), From: v.Get("from"), To: v.Get("to")}
	var err1, err2, err3 error
	q.Since, err1 = queryTime(v, "since")
	q.Until, err2 = queryTime(v, "until")
	q.Limit, err3 = queryInt(v, "limit")
	if err := errors.Join(err1, err2, err3); err != nil || q.Kind == "" {
		if err == nil {
			err = errors.New("kind is required")
		}
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var out []byte
	behind, err := d.eachView(r.Context(), q, func(ev *sdk.Event) error {
		var err error
		out, err = appendEvent(out, ev)
		return err
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeEvents(w, out, behind)
}

// eachView waits for the enrich plugins as a derived read does, then calls fn for each record of
// the view that q selects, in key order (ev is valid during the call only), and returns how many
// events the plugins had still to read.
func (d *Daemon) eachView(ctx context.Context, q ViewQuery, fn func(ev *sdk.Event) error) (uint64, error) {
	behind, err := d.waitDerived(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	errLimit := errors.New("limit")
	scan := func(_ []byte, ev *sdk.Event) error {
		if (!q.Since.IsZero() && ev.Time.Before(q.Since)) || (!q.Until.IsZero() && !ev.Time.Before(q.Until)) {
			return nil
		}
		if err := fn(ev); err != nil {
			return err
		}
		if n++; q.Limit > 0 && n >= q.Limit {
			return errLimit
		}
		return nil
	}
	if q.Prefix != "" {
		err = d.st.ScanViewPrefix(q.Kind, []byte(q.Prefix), scan)
	} else {
		err = d.st.ScanViewRange(q.Kind, []byte(q.From), []byte(q.To), scan)
	}
	if err != nil && !errors.Is(err, errLimit) {
		return behind, err
	}
	return behind, nil
}

// getDerivedRecord serves GET /v1/derived/record?kind=K&key=X: the view's record of a kind and
// key, or 404.
func (d *Daemon) getDerivedRecord(w http.ResponseWriter, r *http.Request) {
	kind, key := r.URL.Query().Get("kind"), r.URL.Query().Get("key")
	if kind == "" || key == "" {
		writeError(w, http.StatusBadRequest, errors.New("kind and key are required"))
		return
	}
	behind, err := d.waitDerived(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	ev, err := d.st.GetView(kind, []byte(key))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no %s record %q", kind, key))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out, err := appendEvent(nil, &ev)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeEvents(w, out, behind)
}

// getDerivedLog serves GET /v1/derived/log?kind=K&last=N: the last N (all if 0) records of a
// kind's append-only log, in sequence order.
func (d *Daemon) getDerivedLog(w http.ResponseWriter, r *http.Request) {
	kind := r.URL.Query().Get("kind")
	last, err := queryInt(r.URL.Query(), "last")
	if err != nil || kind == "" {
		if err == nil {
			err = errors.New("kind is required")
		}
		writeError(w, http.StatusBadRequest, err)
		return
	}
	behind, err := d.waitDerived(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	// The last N of a kind: a ring of N encodings over one scan of the kind.
	var ring [][]byte
	next := 0
	if _, err := d.st.ScanDerived(kind, 0, 0, func(_ uint64, ev *sdk.Event) error {
		enc, err := appendEvent(nil, ev)
		if err != nil {
			return err
		}
		if last == 0 || len(ring) < last {
			ring = append(ring, enc)
			return nil
		}
		ring[next] = enc
		next = (next + 1) % last
		return nil
	}); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	var out []byte
	for i := range ring {
		out = append(out, ring[(next+i)%len(ring)]...)
	}
	writeEvents(w, out, behind)
}

// getDerivedKinds serves GET /v1/derived/kinds: the kinds with derived records, sorted.
func (d *Daemon) getDerivedKinds(w http.ResponseWriter, _ *http.Request) {
	kinds, err := d.st.DerivedKinds()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if kinds == nil {
		kinds = []string{}
	}
	writeJSON(w, http.StatusOK, kinds)
}

// errEvents means an EventsType answer does not decode.
var errEvents = errors.New("malformed events answer")

// decodeEvents decodes an EventsType body.
func decodeEvents(b []byte) ([]sdk.Event, error) {
	var out []sdk.Event
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errEvents
		}
		var ev sdk.Event
		if err := ev.UnmarshalBinary(b[k : k+int(n)]); err != nil {
			return nil, fmt.Errorf("%w: %w", errEvents, err)
		}
		out = append(out, ev)
		b = b[k+int(n):]
	}
	return out, nil
}

// getEvents sends a GET whose answer is EventsType and decodes it.
func (c *Client) getEvents(ctx context.Context, path string) (Derived, error) {
	var res Derived
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent"+path, nil)
	if err != nil {
		return res, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return res, statusError(resp)
	}
	if v := resp.Header.Get(DerivedBehindHeader); v != "" {
		res.Behind, _ = strconv.ParseUint(v, 10, 64)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return res, fmt.Errorf("read answer: %w", err)
	}
	res.Records, err = decodeEvents(body)
	return res, err
}

// View returns the records of a kind's view that q selects, in key order.
func (c *Client) View(ctx context.Context, q ViewQuery) (Derived, error) {
	v := url.Values{"kind": {q.Kind}}
	for name, s := range map[string]string{"prefix": q.Prefix, "from": q.From, "to": q.To} {
		if s != "" {
			v.Set(name, s)
		}
	}
	for name, t := range map[string]time.Time{"since": q.Since, "until": q.Until} {
		if !t.IsZero() {
			v.Set(name, t.UTC().Format(time.RFC3339Nano))
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	res, err := c.getEvents(ctx, "/v1/derived/view?"+v.Encode())
	if err != nil {
		return res, fmt.Errorf("read %s records: %w", q.Kind, err)
	}
	return res, nil
}

// EachView calls fn for each record of a kind's view that q selects, in key order, and returns how
// many events the enrich plugins had still to read. ev is valid during the call only: a command
// that keeps a few fields of many records keeps no record. A client of a daemon opened in this
// process reads the store there, with no encoding in between.
func (c *Client) EachView(ctx context.Context, q ViewQuery, fn func(ev *sdk.Event) error) (uint64, error) {
	if c.local != nil {
		behind, err := c.local.eachView(ctx, q, fn)
		if err != nil {
			return behind, fmt.Errorf("read %s records: %w", q.Kind, err)
		}
		return behind, nil
	}
	res, err := c.View(ctx, q)
	if err != nil {
		return 0, err
	}
	for i := range res.Records {
		if err := fn(&res.Records[i]); err != nil {
			return res.Behind, err
		}
	}
	return res.Behind, nil
}

// Record returns the view's record of a kind and key; a *StatusError of code 404 if there is
// none.
func (c *Client) Record(ctx context.Context, kind, key string) (sdk.Event, uint64, error) {
	res, err := c.getEvents(ctx, "/v1/derived/record?"+url.Values{"kind": {kind}, "key": {key}}.Encode())
	if err != nil {
		return sdk.Event{}, 0, fmt.Errorf("read %s record: %w", kind, err)
	}
	if len(res.Records) != 1 {
		return sdk.Event{}, 0, fmt.Errorf("read %s record: %w", kind, errEvents)
	}
	return res.Records[0], res.Behind, nil
}

// DerivedLog returns the last n records (all if 0) of a kind's log, in the order they were stored.
func (c *Client) DerivedLog(ctx context.Context, kind string, n int) (Derived, error) {
	res, err := c.getEvents(ctx, "/v1/derived/log?"+url.Values{"kind": {kind}, "last": {strconv.Itoa(n)}}.Encode())
	if err != nil {
		return res, fmt.Errorf("read %s log: %w", kind, err)
	}
	return res, nil
}

// DerivedKinds returns the kinds with derived records, sorted.
func (c *Client) DerivedKinds(ctx context.Context) ([]string, error) {
	var kinds []string
	if err := c.do(ctx, http.MethodGet, "/v1/derived/kinds", "", nil, &kinds); err != nil {
		return nil, fmt.Errorf("derived kinds: %w", err)
	}
	return kinds, nil
}
