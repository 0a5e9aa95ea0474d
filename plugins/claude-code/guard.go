package main

import (
	"errors"

	"github.com/hangar-dev/hangar/sdk"
)

// The host refuses a whole record when any string the plugin emits for it (an event's kind or
// session id, an attribute's key, an ident or hash value) holds 12 or more consecutive bytes of
// the content it was shown, verbatim or with whitespace removed, less the parts equal to a granted
// read field's value (host/enforce.go). Attribute keys and names the plugin derives are fixed
// words, but content can hold them: a prompt that says "prompt_bytes", a file that mentions a
// long tool name. guard asks the host which strings would fail (pdk.Leaks, answered natively with
// the host's own check) before emitting, and degrades gracefully: it withholds the attribute
// instead of losing the record, and counts what it withheld.

// leakWindow is the host's: the shortest run of content bytes that counts as a leak.
const leakWindow = 12

// attrWithheld counts the attributes guard withheld from an event.
const attrWithheld = "withheld"

// requiredAttrs are, by event kind, the attributes without which the event would mislead: if
// guard must withhold one, it fails the record instead (it goes to the dead-letter queue, where
// it can be replayed).
var requiredAttrs = map[string][]string{
	kindUsage: {"input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "cache_creation_5m_tokens", "cache_creation_1h_tokens"},
}

// Errors of guard; they never quote what they protect.
var (
	errKindLeak  = errors.New("an event kind would carry content the plugin was shown")
	errUsageLeak = errors.New("a usage count's attribute name is in the line's own text, so the host would refuse it")
)

// guardLabel names an emitted string: event index, attribute index (or attrKind, attrSession).
type guardLabel struct{ event, attr int }

const (
	attrKind    = -1
	attrSession = -2
)

// guardStrings and guardLabels are guard's buffers, reused from record to record.
var (
	guardStrings []string
	guardLabels  []guardLabel
)

// leakSource reports which of ss would fail the host's leak check for record r: pdk.Leaks in the
// module (leaks_wasip1.go), a scan of the record's content with the host's rule in native tests.
var leakSource func(r *record, ss []string) []bool

// guard withholds from evs every attribute whose key, ident or hash value would carry content of the
// record (the host's rule, see above), adding a withheld count to the events it changed. An event
// kind or session id that would, or a required attribute, fails the record. evs is changed in
// place.
func guard(r *record, evs []sdk.Event) ([]sdk.Event, error) {
	ss, labels := guardStrings[:0], guardLabels[:0]
	defer func() {
		clear(ss) // they alias the call's input
		guardStrings, guardLabels = ss[:0], labels[:0]
	}()
	add := func(s string, l guardLabel) {
		if len(s) >= leakWindow { // shorter strings hold no window
			ss = append(ss, s)
			labels = append(labels, l)
		}
	}
	for j := range evs {
		ev := &evs[j]
		add(ev.Kind, guardLabel{j, attrKind})
		add(ev.SessionID, guardLabel{j, attrSession})
		for k, a := range ev.Attrs {
			add(a.Key, guardLabel{j, k})
			switch a.Value.Kind() {
			case sdk.KindIdent:
				add(a.Value.Ident(), guardLabel{j, k})
			case sdk.KindHash:
				// A salted hash holds no content but by chance; the host checks it all the same,
				// and asking clears it for that check too, which can then skip its own scan.
				add(a.Value.HashString(), guardLabel{j, k})
			}
		}
	}
	if len(ss) == 0 {
		return evs, nil
	}
	var hits map[guardLabel]bool
	for k, hit := range leakSource(r, ss) {
		if hit {
			if hits == nil {
				hits = map[guardLabel]bool{}
			}
			hits[labels[k]] = true
		}
	}
	if len(hits) == 0 {
		return evs, nil
	}
	for j := range evs {
		ev := &evs[j]
		if hits[guardLabel{j, attrKind}] || hits[guardLabel{j, attrSession}] {
			return nil, errKindLeak
		}
		kept := ev.Attrs[:0]
		withheld := 0
		for k, a := range ev.Attrs {
			if !hits[guardLabel{j, k}] {
				kept = append(kept, a)
				continue
			}
			for _, req := range requiredAttrs[ev.Kind] {
				if a.Key == req {
					return nil, errUsageLeak
				}
			}
			withheld++
		}
		if withheld > 0 {
			ev.Attrs = append(kept, sdk.Int(attrWithheld, int64(withheld)))
		}
	}
	return evs, nil
}
