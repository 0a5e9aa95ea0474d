package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
)

// Errors of one record.
var (
	// ErrRecordFailed means the plugin reported the record bad (or panicked on it).
	ErrRecordFailed = errors.New("host: plugin failed the record")
	// ErrRefusedEmission means the host refused what the plugin emitted for the record.
	ErrRefusedEmission = errors.New("host: emission refused")
)

// leakWindow is the shortest run of content bytes that counts as a leak.
const leakWindow = 12

// maxRecordErr bounds a plugin's error message for a record (it is stored in the dead-letter queue).
const maxRecordErr = 256

// attrKeyRE is what an attribute key must be: a lowercase snake_case identifier of at most 64 bytes.
var attrKeyRE = lazyRegexp(`^[a-z][a-z0-9_]{0,63}$`)

// enforce checks and completes the events of each successful record, in place. Every emitted
// event must be allowed by the plugin's grants (emit:events for capture, emit:derived:<kind> for
// enrich, and no insight kind), have lowercase snake_case attribute keys, pass sdk.Event.Validate
// once the host has set its id (pipeline.EventID of the record for capture, DerivedID for enrich
// and insight), platform (the manifest's, or the record's for enrich and insight) and time (the
// record's received time, if zero), and carry no content the plugin was shown. A record with any refused
// event fails as a whole with ErrRefusedEmission; the refusals of one call are audited in one
// entry. Refusal messages never quote the emission.
func (p *Plugin) enforce(recs []Record, cs *callState, outcomes []Outcome) {
	var refused int64
	var first string
	for i := range outcomes {
		o := &outcomes[i]
		if o.Err != nil {
			p.recordErrors.Add(1)
			continue
		}
		if err := p.checkRecord(&recs[i], cs.view(i), o.Events); err != nil {
			o.Err, o.Events = fmt.Errorf("%w: %w", ErrRefusedEmission, err), nil
			if refused++; refused == 1 {
				first = fmt.Sprintf("record %s: %v", recs[i].ID, err)
			}
		}
	}
	if refused > 0 {
		p.refused.Add(refused)
		p.audit(AuditRefusedEmission, first, refused)
	}
}

// checkRecord checks and completes the events of one record.
func (p *Plugin) checkRecord(rec *Record, view *recordView, evs []sdk.Event) error {
	if len(evs) == 0 {
		return nil
	}
	switch p.m.Kind {
	case KindCapture:
		if !p.g.Has(ClassEmitEvents, "") {
			return errors.New("the plugin was not granted emit:events")
		}
	case KindEnrich:
		for j := range evs {
			if !p.g.Has(ClassEmitDerived, evs[j].Kind) || strings.HasPrefix(evs[j].Kind, InsightKindPrefix) {
				return fmt.Errorf("event %d: the plugin was not granted emit:derived:<its kind>", j)
			}
		}
	}
	raw := &pipeline.RawRecord{ID: rec.ID, Platform: p.m.Platform}
	for j := range evs {
		ev := &evs[j]
		if p.m.Kind == KindCapture {
			ev.ID = pipeline.EventID(raw, j)
		} else {
			// Derived records take their source's platform and an id derived from it.
			ev.ID = DerivedID(p.m.Name, rec.ID, j)
			ev.Platform = rec.Platform
		}
		if p.m.Platform != "" {
			ev.Platform = p.m.Platform
		}
		if ev.Time.IsZero() {
			ev.Time = rec.Received
		}
		ev.IngestTime = time.Time{} // the store sets it
		for k, a := range ev.Attrs {
			if !attrKeyRE().MatchString(a.Key) {
				return fmt.Errorf("event %d attribute %d: key must be a lowercase snake_case identifier of at most 64 bytes", j, k)
			}
		}
		if err := ev.Validate(); err != nil {
			return fmt.Errorf("event %d: %w", j, err)
		}
	}
	if view != nil {
		if what, path, ok := leakCheck(view, evs); ok {
			return fmt.Errorf("%s carries %d or more bytes of content %q the plugin was shown", what, leakWindow, path)
		}
	}
	return nil
}

// leakCheck reports the first emitted string of evs (kind, session id, ident or hash attribute)
// that holds leakWindow or more bytes of the record's content, verbatim or with whitespace
// removed (identifiers cannot hold spaces). Parts of a string equal to a granted read field's
// value (of at least leakWindow bytes) are metadata the user granted, not leaks, and are skipped.
func leakCheck(view *recordView, evs []sdk.Event) (what, path string, leaked bool) {
	if len(view.content) == 0 {
		return "", "", false
	}
	var idx leakIndex
	for j := range evs {
		ev := &evs[j]
		idx.add(view, ev.Kind, func() string { return fmt.Sprintf("event %d kind", j) })
		idx.add(view, ev.SessionID, func() string { return fmt.Sprintf("event %d session id", j) })
		// Attributes are named by position, never by key: a key is plugin-chosen text too, and the
		// refusal's message goes to the audit log and the dead-letter queue.
		for k, a := range ev.Attrs {
			idx.add(view, a.Key, func() string { return fmt.Sprintf("event %d attribute %d key", j, k) })
			switch a.Value.Kind() {
			case sdk.KindIdent:
				idx.add(view, a.Value.Ident(), func() string { return fmt.Sprintf("event %d attribute %d", j, k) })
			case sdk.KindHash:
				idx.add(view, string(a.Value.Hash()), func() string { return fmt.Sprintf("event %d attribute %d", j, k) })
			}
		}
	}
	return idx.scan(view.content)
}

// leaksText reports whether s holds leakWindow or more bytes of any of the views' content.
func leaksText(views []recordView, s string) bool {
	for i := range views {
		var idx leakIndex
		idx.add(&views[i], s, func() string { return "" })
		if _, _, ok := idx.scan(views[i].content); ok {
			return true
		}
	}
	return false
}

// leakIndex holds the leakWindow-byte windows of emitted strings, with a bitmap to skip most
// content positions without a map lookup.
type leakIndex struct {
	bits    [64]uint64
	windows map[[leakWindow]byte]int // window → index in labels
	labels  []func() string
}

func windowHash(w []byte) uint32 {
	a := binary.LittleEndian.Uint64(w)
	b := binary.LittleEndian.Uint32(w[8:])
	return uint32(((a ^ uint64(b)*0x9e3779b97f4a7c15) * 0xff51afd7ed558ccd) >> 52) // 12 bits
}

// add indexes the windows of s, and of s without whitespace, minus the granted read values.
func (x *leakIndex) add(view *recordView, s string, label func() string) {
	if len(s) < leakWindow {
		return
	}
	segs := []string{s}
	for _, r := range view.reads {
		var next []string
		for _, seg := range segs {
			for {
				k := strings.Index(seg, r)
				if k < 0 {
					break
				}
				next = append(next, seg[:k])
				seg = seg[k+len(r):]
			}
			next = append(next, seg)
		}
		segs = next
	}
	id := -1
	for _, seg := range segs {
		for _, t := range [2][]byte{[]byte(seg), stripSpace([]byte(seg))} {
			for k := 0; k+leakWindow <= len(t); k++ {
				if id < 0 {
					id = len(x.labels)
					x.labels = append(x.labels, label)
				}
				if x.windows == nil {
					x.windows = map[[leakWindow]byte]int{}
				}
				w := [leakWindow]byte(t[k : k+leakWindow])
				x.windows[w] = id
				h := windowHash(t[k:])
				x.bits[h>>6] |= 1 << (h & 63)
			}
		}
	}
}

// scan looks for an indexed window in the content, verbatim and without whitespace.
func (x *leakIndex) scan(content []contentValue) (what, path string, leaked bool) {
	if len(x.windows) == 0 {
		return "", "", false
	}
	for _, c := range content {
		for _, t := range [2][]byte{c.text, stripSpace(c.text)} {
			for k := 0; k+leakWindow <= len(t); k++ {
				h := windowHash(t[k:])
				if x.bits[h>>6]&(1<<(h&63)) == 0 {
					continue
				}
				if id, ok := x.windows[[leakWindow]byte(t[k:k+leakWindow])]; ok {
					return x.labels[id](), c.path, true
				}
			}
		}
	}
	return "", "", false
}

// stripSpace returns b without ASCII whitespace (b itself when it has none).
func stripSpace(b []byte) []byte {
	n := 0
	for _, c := range b {
		if isSpace(c) {
			n++
		}
	}
	if n == 0 {
		return b
	}
	out := make([]byte, 0, len(b)-n)
	for _, c := range b {
		if !isSpace(c) {
			out = append(out, c)
		}
	}
	return out
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// sanitize bounds a plugin's error message for record i and withholds it if it carries content
// the plugin was shown: it goes to the dead-letter queue, at rest.
func (cs *callState) sanitize(i int, msg string) string {
	if len(msg) > maxRecordErr {
		msg = msg[:maxRecordErr] + "..."
	}
	if v := cs.view(i); v != nil && leaksText([]recordView{*v}, msg) {
		return "message withheld: it carried content the plugin was shown"
	}
	return strconv.Quote(msg)
}
