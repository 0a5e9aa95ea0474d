package daemon

// GET /v1/usage/sums: the usage rollup's buckets summed by session, model, project and UTC period
// in the daemon, so that a read command that wants a session's cost receives one sum per session
// rather than every bucket (agent sessions over 2,000 sessions: 2,000 sums, not 6,593 buckets).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/pipeline/usagestore"
)

// UsageSumQuery selects and groups the buckets GET /v1/usage/sums sums: those whose slot starts in
// [From, To) (zero: open), of Project if not "", grouped by the fields Group names ("session",
// "model", "project") and by Period ("day", "week" or "month", UTC; "" for none), their cost in
// Mode.
type UsageSumQuery struct {
	From, To time.Time
	Project  string
	Group    []string
	Period   string
	Mode     usage.CostMode
}

// UsageSum is one group of GET /v1/usage/sums: the fields it is grouped by ("" for the others),
// its token sums and cost. Each group's sums add its buckets in key order, as a client summing
// GET /v1/usage/buckets itself would, so the two agree to the last bit.
type UsageSum struct {
	Period        string  `json:"period,omitempty"`
	Session       string  `json:"session,omitempty"`
	Model         string  `json:"model,omitempty"`
	Project       string  `json:"project,omitempty"`
	Input         int64   `json:"input"`
	Output        int64   `json:"output"`
	CacheCreation int64   `json:"cache_creation"`
	CacheRead     int64   `json:"cache_read"`
	Cost          float64 `json:"cost_usd"`
}

// UsagePeriod returns the UTC period (day, week from Monday, or month; "" for none) t falls in,
// as GET /v1/usage/sums and the read commands name it: 2006-01-02 (a week by its Monday) or
// 2006-01.
func UsagePeriod(t time.Time, period string) string {
	t = t.UTC()
	switch period {
	case "":
		return ""
	case "week":
		return t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7)).Format("2006-01-02")
	case "month":
		return t.Format("2006-01")
	}
	return t.Format("2006-01-02")
}

// values encodes q as query parameters.
func (q UsageSumQuery) values() url.Values {
	v := url.Values{}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339Nano))
	}
	if q.Project != "" {
		v.Set("project", q.Project)
	}
	if len(q.Group) > 0 {
		v.Set("group", strings.Join(q.Group, ","))
	}
	if q.Period != "" {
		v.Set("period", q.Period)
	}
	v.Set("mode", q.Mode.String())
	return v
}

// parseUsageSumQuery decodes the query parameters of GET /v1/usage/sums.
func parseUsageSumQuery(v url.Values) (UsageSumQuery, error) {
	var q UsageSumQuery
	var err error
	if q.From, err = queryTime(v, "from"); err != nil {
		return q, err
	}
	if q.To, err = queryTime(v, "to"); err != nil {
		return q, err
	}
	q.Project = v.Get("project")
	if g := v.Get("group"); g != "" {
		q.Group = strings.Split(g, ",")
		for _, f := range q.Group {
			if f != "session" && f != "model" && f != "project" {
				return q, fmt.Errorf("bad group %q: want session, model or project", f)
			}
		}
	}
	switch q.Period = v.Get("period"); q.Period {
	case "", "day", "week", "month":
	default:
		return q, fmt.Errorf("bad period %q: want day, week or month", q.Period)
	}
	if m := v.Get("mode"); m != "" {
		if q.Mode, err = usage.ParseCostMode(m); err != nil {
			return q, err
		}
	}
	return q, nil
}

// usageSums sums the buckets q selects, once the rollup has consumed every event stored now; the
// groups in the order their first bucket comes in key order.
func (d *Daemon) usageSums(ctx context.Context, q UsageSumQuery) ([]UsageSum, error) {
	d.pauseMu.RLock() // never a bucket of a reprice half done
	defer d.pauseMu.RUnlock()
	if err := d.waitConsumed(ctx, usagestore.Name, catchUpWait); err != nil {
		return nil, err
	}
	var bySession, byModel, byProject bool
	for _, f := range q.Group {
		switch f {
		case "session":
			bySession = true
		case "model":
			byModel = true
		case "project":
			byProject = true
		}
	}
	var out []UsageSum
	index := map[UsageSum]int{} // a group's key fields -> its index in out
	for bu, err := range usagestore.Buckets(d.st, q.From, q.To) {
		if err != nil {
			return nil, err
		}
		if q.Project != "" && bu.Key.Project != q.Project {
			continue
		}
		var k UsageSum
		k.Period = UsagePeriod(bu.Key.Start, q.Period)
		if bySession {
			k.Session = bu.Key.Session
		}
		if byModel {
			k.Model = bu.Key.Model
		}
		if byProject {
			k.Project = bu.Key.Project
		}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, k)
		}
		s := &out[i]
		s.Input += bu.Input
		s.Output += bu.Output
		s.CacheCreation += bu.CacheCreation
		s.CacheRead += bu.CacheRead
		s.Cost += bu.Cost(q.Mode)
	}
	return out, nil
}

// getUsageSums serves GET /v1/usage/sums (see UsageSumQuery for its parameters) as JSON.
func (d *Daemon) getUsageSums(w http.ResponseWriter, r *http.Request) {
	q, err := parseUsageSumQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	out, err := d.usageSums(r.Context(), q)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// UsageSums returns the usage rollup's buckets that q selects, summed by its groups. A client of
// a daemon opened in this process sums them there, with no encoding in between.
func (c *Client) UsageSums(ctx context.Context, q UsageSumQuery) ([]UsageSum, error) {
	if c.local != nil {
		out, err := c.local.usageSums(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("usage sums: %w", err)
		}
		return out, nil
	}
	var out []UsageSum
	if err := c.do(ctx, http.MethodGet, "/v1/usage/sums?"+q.values().Encode(), "", nil, &out); err != nil {
		return nil, fmt.Errorf("usage sums: %w", err)
	}
	return out, nil
}
