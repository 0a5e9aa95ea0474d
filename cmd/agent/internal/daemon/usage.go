package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/usage"
)

// UsageBucketsType is the media type of GET /v1/usage/buckets: a sequence of buckets, each a
// uvarint length and its key (usage.BucketKey.AppendKey), then a uvarint length and its value
// (usage.Bucket.AppendBinary).
const UsageBucketsType = "application/x-hangar-usage-buckets"

// catchUpWait bounds how long a usage query waits for the rollup to reach the end of the log.
const catchUpWait = 30 * time.Second

// getUsageBuckets serves the usage rollup's buckets between the optional RFC 3339 query
// parameters from (inclusive) and to (exclusive), once the rollup has consumed every event
// stored when the request came, so that a report right after an import counts it all.
func (d *Daemon) getUsageBuckets(w http.ResponseWriter, r *http.Request) {
	var from, to time.Time
	for name, p := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := r.URL.Query().Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("bad %s %q: want an RFC 3339 time", name, v))
				return
			}
			*p = t
		}
	}
	if err := d.waitConsumed(r.Context(), pipeline.UsageRollupName, catchUpWait); err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	var scanErr error
	var out []byte
	for bu := range pipeline.UsageBuckets(d.st, from, to, &scanErr) {
		key := bu.Key.AppendKey(nil)
		val, err := bu.AppendBinary(nil)
		if err != nil {
			scanErr = err
			break
		}
		out = binary.AppendUvarint(out, uint64(len(key)))
		out = append(out, key...)
		out = binary.AppendUvarint(out, uint64(len(val)))
		out = append(out, val...)
	}
	if scanErr != nil {
		writeError(w, http.StatusInternalServerError, scanErr)
		return
	}
	w.Header().Set("Content-Type", UsageBucketsType)
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// waitConsumed waits until a consumer has consumed the events stored now, or wait passes.
func (d *Daemon) waitConsumed(ctx context.Context, name string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		lag, ok := d.consumers.Lag()[name]
		if !ok || lag == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the %s rollup is %d events behind; try again shortly", name, lag)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// errUsageBuckets means an answer of GET /v1/usage/buckets does not decode.
var errUsageBuckets = errors.New("malformed usage buckets")

// UsageBuckets returns the usage rollup's buckets between from (inclusive) and to (exclusive),
// in key order; zero times leave that end open.
func (c *Client) UsageBuckets(ctx context.Context, from, to time.Time) ([]usage.Bucket, error) {
	path := "/v1/usage/buckets?"
	if !from.IsZero() {
		path += "from=" + from.UTC().Format(time.RFC3339Nano) + "&"
	}
	if !to.IsZero() {
		path += "to=" + to.UTC().Format(time.RFC3339Nano)
	}
	var raw string
	if err := c.do(ctx, http.MethodGet, path, "", nil, &raw); err != nil {
		return nil, fmt.Errorf("usage buckets: %w", err)
	}
	b := []byte(raw)
	var out []usage.Bucket
	next := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errUsageBuckets
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, nil
	}
	for len(b) > 0 {
		kb, err := next()
		if err != nil {
			return nil, fmt.Errorf("usage buckets: %w", err)
		}
		vb, err := next()
		if err != nil {
			return nil, fmt.Errorf("usage buckets: %w", err)
		}
		key, err := usage.ParseBucketKey(kb)
		if err != nil {
			return nil, fmt.Errorf("usage buckets: %w", err)
		}
		bu := usage.Bucket{}
		if err := bu.UnmarshalBinary(vb); err != nil {
			return nil, fmt.Errorf("usage buckets: %w", err)
		}
		bu.Key = key
		out = append(out, bu)
	}
	return out, nil
}
