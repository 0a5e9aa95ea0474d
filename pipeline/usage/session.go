package usage

import (
	"cmp"
	"fmt"
	"io"
	"iter"
	"slices"
	"time"
)

// SessionRow is one session of a [SessionReport].
type SessionRow struct {
	// SessionID is the bucket key's session.
	SessionID string
	// ProjectPath is the session's project as [Options.ProjectName] shows its key. ccusage shows
	// the transcript's folder name, a path; Hangar shows a salted key or a chosen display name.
	ProjectPath string
	// FirstActivity and LastActivity are the times of the session's first and last entries in
	// the date range.
	FirstActivity, LastActivity time.Time
	Usage
}

// SessionReport is ccusage's `session --json`.
type SessionReport struct {
	Sessions []SessionRow
	Totals   Totals
}

// Session builds ccusage's session report: usage per (project, session), sessions without
// tokens left out, sorted by cost with the highest first (ties in transcript path order),
// whatever opts.Order says. The date range filters entries, so a session may be partial.
func Session(buckets iter.Seq[Bucket], opts Options) (SessionReport, error) {
	if err := opts.Validate(); err != nil {
		return SessionReport{}, fmt.Errorf("session report: %w", err)
	}
	items := collect(buckets, &opts, true)
	sortFileOrder(items)
	type key struct{ project, session string }
	type group struct {
		key         key
		acc         usageAcc
		first, last time.Time
	}
	var groups []*group
	byKey := map[key]*group{}
	for i := range items {
		it := &items[i]
		k := key{it.b.Key.Project, it.b.Key.Session}
		g, ok := byKey[k]
		if !ok {
			g = &group{key: k, first: it.b.First, last: it.b.Last}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.acc.add(it)
		if it.b.First.Before(g.first) {
			g.first = it.b.First
		}
		if it.b.Last.After(g.last) {
			g.last = it.b.Last
		}
	}
	r := SessionReport{Sessions: make([]SessionRow, 0, len(groups))}
	for _, g := range groups {
		u := g.acc.usage()
		if u.TotalTokens == 0 {
			continue
		}
		r.Sessions = append(r.Sessions, SessionRow{
			SessionID:     g.key.session,
			ProjectPath:   opts.projectName(g.key.project),
			FirstActivity: g.first,
			LastActivity:  g.last,
			Usage:         u,
		})
	}
	slices.SortStableFunc(r.Sessions, func(a, b SessionRow) int {
		return cmp.Compare(0, totalCmp(a.TotalCost, b.TotalCost))
	})
	us := make([]*Usage, len(r.Sessions))
	for i := range r.Sessions {
		us[i] = &r.Sessions[i].Usage
	}
	r.Totals = totalsOf(us)
	return r, nil
}

func (r *SessionReport) node() node {
	rows := make(jsonArray, len(r.Sessions))
	for i := range r.Sessions {
		s := &r.Sessions[i]
		rows[i] = append(s.members(),
			member{"firstActivity", timeNode(s.FirstActivity)},
			member{"lastActivity", timeNode(s.LastActivity)},
			member{"projectPath", jsonString(s.ProjectPath)},
			member{"sessionId", jsonString(s.SessionID)},
		)
	}
	return jsonObject{{"sessions", rows}, {"totals", r.Totals.node()}}
}

// WriteJSON writes the report exactly as `ccusage session --json` prints it.
func (r *SessionReport) WriteJSON(w io.Writer) error { return writeNode(w, r.node()) }

// MarshalJSON returns the report's ccusage JSON.
func (r SessionReport) MarshalJSON() ([]byte, error) { return marshalNode(r.node()), nil }
