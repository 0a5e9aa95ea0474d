package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

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

// isAttrKey reports whether key is what an attribute key must be: a lowercase snake_case
// identifier of at most 64 bytes (^[a-z][a-z0-9_]{0,63}$; checked by hand, as it is for every
// attribute of every event).
func isAttrKey(key string) bool {
	if key == "" || len(key) > 64 || key[0] < 'a' || key[0] > 'z' {
		return false
	}
	for i := 1; i < len(key); i++ {
		if c := key[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// enforce checks and completes the events of each successful record, in place. Every emitted
// event must be allowed by the plugin's grants (emit:events and a kind its manifest declares for
// capture, emit:derived:<kind> for enrich, and no insight kind), have lowercase snake_case
// attribute keys, pass sdk.Event.Validate once the host has set its id (capturedID of the
// record for capture, DerivedID for enrich and insight), platform (the manifest's, or the
// record's for enrich and insight) and time (the record's received time, if zero), and carry no
// content the plugin was shown: none of its record's (leakCheck), and none of any other the
// instance was shown, in this call or an earlier one, or read from a file (the window: see
// window.go). A record with any refused event fails as a whole with ErrRefusedEmission; the
// refusals of one call are audited in one entry. Refusal messages never quote the emission.
func (p *Plugin) enforce(recs []Record, cs *callState, outcomes []Outcome) {
	var refused int64
	var first string
	refuse := func(i int, err error) {
		o := &outcomes[i]
		o.Err, o.Events = fmt.Errorf("%w: %w", ErrRefusedEmission, err), nil
		if refused++; refused == 1 {
			first = fmt.Sprintf("record %s: %v", recs[i].ID, err)
		}
	}
	for i := range outcomes {
		o := &outcomes[i]
		if o.Err != nil {
			p.recordErrors.Add(1)
			continue
		}
		if err := p.checkRecord(&recs[i], cs.view(i), o.Events); err != nil {
			refuse(i, err)
		}
	}
	if !cs.win.empty() {
		// Every string of every record left, in one batch: the window's exact scan, when a
		// string needs one, is one pass for the whole call.
		var segs []string
		var owners []segOwner
		for i := range outcomes {
			o := &outcomes[i]
			if o.Err != nil || len(o.Events) == 0 {
				continue
			}
			reads := cs.readsOf(i)
			eachEmitted(o.Events, func(s string, l leakLabel) {
				segments(reads, s, func(seg string) {
					segs = append(segs, seg)
					owners = append(owners, segOwner{int32(i), l})
				})
			})
		}
		for k, hit := range p.windowLeaks(cs.win, segs, true) {
			if o := owners[k]; hit && outcomes[o.record].Err == nil {
				refuse(int(o.record), fmt.Errorf("%s carries %d or more bytes of content the plugin's instance was shown (of another record, an earlier call or a file it read)", o.label, leakWindow))
			}
		}
	}
	if refused > 0 {
		p.refused.Add(refused)
		p.audit(AuditRefusedEmission, first, refused)
	}
}

// segOwner is the record and the place of a segment of an emitted string.
type segOwner struct {
	record int32
	label  leakLabel
}

// eachEmitted calls fn with each string of evs the leak check applies to (kind, session id,
// attribute keys, ident and hash values), labelled by its place. Attributes are named by position,
// never by key: a key is plugin-chosen text too, and a refusal's message goes to the audit log
// and the dead-letter queue.
func eachEmitted(evs []sdk.Event, fn func(s string, l leakLabel)) {
	for j := range evs {
		ev := &evs[j]
		e := int32(j)
		fn(ev.Kind, leakLabel{event: e, part: partKind})
		fn(ev.SessionID, leakLabel{event: e, part: partSession})
		for k, a := range ev.Attrs {
			fn(a.Key, leakLabel{event: e, attr: int32(k), part: partKey})
			switch a.Value.Kind() {
			case sdk.KindIdent:
				fn(a.Value.Ident(), leakLabel{event: e, attr: int32(k), part: partValue})
			case sdk.KindHash:
				fn(a.Value.HashString(), leakLabel{event: e, attr: int32(k), part: partValue})
			}
		}
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
		for j := range evs {
			if !p.m.Declares(evs[j].Kind) {
				return fmt.Errorf("event %d: its kind is not one the manifest declares (emits)", j)
			}
		}
	case KindEnrich:
		for j := range evs {
			if !p.g.Has(ClassEmitDerived, evs[j].Kind) || strings.HasPrefix(evs[j].Kind, InsightKindPrefix) {
				return fmt.Errorf("event %d: the plugin was not granted emit:derived:<its kind>", j)
			}
		}
	}
	for j := range evs {
		ev := &evs[j]
		if p.m.Kind == KindCapture {
			ev.ID = capturedID(p.m.Platform, rec.ID, j)
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
			if !isAttrKey(a.Key) {
				return fmt.Errorf("event %d attribute %d: key must be a lowercase snake_case identifier of at most 64 bytes", j, k)
			}
		}
		if err := ev.Validate(); err != nil {
			return fmt.Errorf("event %d: %w", j, err) // its messages name attributes by index
		}
	}
	if view != nil {
		if what, path, ok := leakCheck(view, evs); ok {
			return fmt.Errorf("%s carries %d or more bytes of content %q the plugin was shown for the record", what, leakWindow, path)
		}
	}
	return nil
}

// leakCheck reports the first emitted string of evs (kind, session id, attribute key, ident or
// hash value) found to hold leakWindow or more bytes of the record's content, verbatim or with
// whitespace removed (identifiers cannot hold spaces). Parts of a string equal to a granted read
// field's value (of at least leakWindow bytes) are metadata the user granted, not leaks, and are
// skipped.
func leakCheck(view *recordView, evs []sdk.Event) (what, path string, leaked bool) {
	if len(view.content) == 0 {
		return "", "", false
	}
	idx := leakIndex{reads: view.reads}
	// A string the plugin already asked about (hangar.leaks) was cleared by this same check
	// against this same content: it is not scanned for again. If every string was, nothing is.
	add := func(s string, l leakLabel) {
		if len(s) >= leakWindow && !view.isCleared(s) {
			idx.add(s, l)
		}
	}
	eachEmitted(evs, add)
	l, path, ok := idx.scan(view.content)
	if !ok {
		return "", "", false
	}
	return l.String(), path, true
}

// leakPart is the place of an emitted string in an event.
type leakPart uint8

// The places of emitted strings.
const (
	partText    leakPart = iota // a text outside events (a log line, a kv key or value)
	partKind                    // an event's kind
	partSession                 // an event's session id
	partKey                     // an attribute's key
	partValue                   // an attribute's ident or hash value
)

// leakLabel names an emitted string by its position, never by its content.
type leakLabel struct {
	event, attr int32
	part        leakPart
}

// String returns the label as a refusal names it ("" for a text outside events).
func (l leakLabel) String() string {
	switch l.part {
	case partKind:
		return fmt.Sprintf("event %d kind", l.event)
	case partSession:
		return fmt.Sprintf("event %d session id", l.event)
	case partKey:
		return fmt.Sprintf("event %d attribute %d key", l.event, l.attr)
	case partValue:
		return fmt.Sprintf("event %d attribute %d", l.event, l.attr)
	}
	return ""
}

// leakIndex holds the leakWindow-byte windows of emitted strings, and scans content for them.
//
// The windows are the ones the leak check has always compared: those of each emitted string
// (less granted read values), verbatim and with whitespace removed, against those of each
// content text, verbatim and with whitespace removed. They are split by whether they hold a
// whitespace byte, which decides the one pass of the content each needs:
//
//   - A window without whitespace that occurs in a content text verbatim also occurs in the text
//     with whitespace removed: removing whitespace removes none of its bytes and none between
//     them. So plain windows (those of the string with whitespace removed, which include its
//     verbatim windows without whitespace) are matched against the content with whitespace
//     removed only. Identifiers (kinds, session ids, attribute keys, ident values) hold printable
//     ASCII without spaces (sdk.Event.Validate, checked before the leak check), so all of
//     their windows are plain.
//   - A window holding whitespace cannot occur in content with whitespace removed: spaced windows
//     (only in hash values and texts outside events) are matched against the content verbatim,
//     in a pass made only when there are some.
type leakIndex struct {
	// reads are the granted read values: parts of emitted strings equal to one are skipped.
	reads []string
	// plain holds the windows without whitespace.
	plain windowSet
	// spaced holds the windows holding whitespace; nil when there are none.
	spaced *windowSet
}

// add indexes the windows of s, and of s without whitespace, minus the granted read values.
func (x *leakIndex) add(s string, l leakLabel) {
	x.addSegment(x.reads, s, l)
}

// addSegment indexes the windows of the parts of seg between occurrences of each of reads, in
// turn: the parts of seg between occurrences of reads[0], each split by reads[1], and so on.
func (x *leakIndex) addSegment(reads []string, seg string, l leakLabel) {
	for ; len(reads) > 0 && len(seg) >= leakWindow; reads = reads[1:] {
		r := reads[0]
		for k := strings.Index(seg, r); k >= 0; k = strings.Index(seg, r) {
			x.addSegment(reads[1:], seg[:k], l)
			seg = seg[k+len(r):]
		}
	}
	if len(seg) >= leakWindow {
		x.addWindows(seg, l)
	}
}

// addWindows indexes the windows of seg with whitespace removed as plain, and the windows of
// seg holding whitespace as spaced.
func (x *leakIndex) addWindows(seg string, l leakLabel) {
	var lo uint64
	var hi uint32
	n, spaced := 0, false
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if isSpace(c) {
			spaced = true
			continue
		}
		lo, hi = push(lo, hi, c)
		if n++; n >= leakWindow {
			x.plain.add(lo, hi, l)
		}
	}
	if !spaced {
		return
	}
	if x.spaced == nil {
		x.spaced = &windowSet{}
	}
	lo, hi = 0, 0
	last := -leakWindow // index of the last whitespace byte
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if isSpace(c) {
			last = i
		}
		lo, hi = push(lo, hi, c)
		if i >= leakWindow-1 && last > i-leakWindow {
			x.spaced.add(lo, hi, l)
		}
	}
}

// scan looks for an indexed window in the content: plain windows in each text with whitespace
// removed, spaced windows in each text verbatim. It returns the label of the string that holds
// the first window found, and the content's path.
func (x *leakIndex) scan(content []contentValue) (l leakLabel, path string, leaked bool) {
	if x.plain.empty() && x.spaced == nil {
		return leakLabel{}, "", false
	}
	for _, c := range content {
		if l, ok := x.plain.scanStripped(c.text); ok {
			return l, c.path, true
		}
		if x.spaced != nil {
			if l, ok := x.spaced.scanVerbatim(c.text); ok {
				return l, c.path, true
			}
		}
	}
	return leakLabel{}, "", false
}

// maxSmallWindows is how many windows a windowSet compares one by one, in place, before it uses
// a map. An emitted event's identifiers hold a few dozen at most.
const maxSmallWindows = 48

// windowSet is a set of windows, each with the label of the string it was taken from (the last
// such string added, when several hold it). A bitmap of window hashes skips most content
// positions without a lookup.
type windowSet struct {
	bits  [64]uint64
	small [maxSmallWindows]windowEntry // the first n windows, in the order added
	n     int
	big   map[windowKey]leakLabel // all windows, once there are more than maxSmallWindows
}

// windowEntry is a window of a windowSet's small list.
type windowEntry struct {
	lo    uint64
	hi    uint32
	label leakLabel
}

// windowKey is a window: its first 8 bytes and last 4, little endian.
type windowKey struct {
	lo uint64
	hi uint32
}

// push shifts byte c into the window lo, hi: lo holds its first 8 bytes, hi its last 4, little
// endian; the first byte drops out.
func push(lo uint64, hi uint32, c byte) (uint64, uint32) {
	return lo>>8 | uint64(hi)<<56, hi>>8 | uint32(c)<<24
}

// windowBit returns the bit of a window in a windowSet's bitmap, from its first 8 bytes.
func windowBit(lo uint64) uint32 {
	return uint32((lo * 0x9e3779b97f4a7c15) >> 52) // 12 bits
}

// empty reports whether the set holds no window.
func (s *windowSet) empty() bool {
	return s.n == 0 && s.big == nil
}

// add adds a window.
func (s *windowSet) add(lo uint64, hi uint32, l leakLabel) {
	h := windowBit(lo)
	s.bits[h>>6] |= 1 << (h & 63)
	if s.big == nil && s.n < maxSmallWindows {
		s.small[s.n] = windowEntry{lo, hi, l}
		s.n++
		return
	}
	if s.big == nil {
		s.big = make(map[windowKey]leakLabel, 2*maxSmallWindows)
		for _, e := range s.small[:s.n] {
			s.big[windowKey{e.lo, e.hi}] = e.label
		}
	}
	s.big[windowKey{lo, hi}] = l
}

// find returns the label of a window, if the set holds it.
func (s *windowSet) find(lo uint64, hi uint32) (leakLabel, bool) {
	if s.big != nil {
		l, ok := s.big[windowKey{lo, hi}]
		return l, ok
	}
	for i := s.n - 1; i >= 0; i-- { // the last added wins
		if e := &s.small[i]; e.lo == lo && e.hi == hi {
			return e.label, true
		}
	}
	return leakLabel{}, false
}

// stripChunk is how many bytes of content scanStripped strips at a time, on the stack.
const stripChunk = 1024

// scanStripped returns the label of the first window of text with whitespace removed that the
// set holds. It strips text a chunk at a time into a buffer, carrying the last leakWindow-1
// bytes of a chunk over to the next, so that the windows are read from memory rather than
// shifted in a byte at a time (a chain of dependent instructions per byte).
func (s *windowSet) scanStripped(text string) (leakLabel, bool) {
	var buf [leakWindow - 1 + stripChunk]byte
	n := 0 // bytes in buf
	for i := 0; i < len(text); {
		for end := min(len(text), i+stripChunk); i < end; i++ {
			c := text[i]
			buf[n] = c
			n += int(notSpace[c])
		}
		if l, ok := s.scanWindows(buf[:n]); ok {
			return l, true
		}
		if n >= leakWindow-1 {
			n = copy(buf[:], buf[n-(leakWindow-1):n])
		}
	}
	return leakLabel{}, false
}

// scanWindows returns the label of the first window of b that the set holds.
func (s *windowSet) scanWindows(b []byte) (leakLabel, bool) {
	for ; len(b) >= leakWindow; b = b[1:] {
		if lo := binary.LittleEndian.Uint64(b); s.maybe(lo) {
			if l, ok := s.find(lo, binary.LittleEndian.Uint32(b[8:])); ok {
				return l, true
			}
		}
	}
	return leakLabel{}, false
}

// scanVerbatim returns the label of the first window of text that the set holds. It reads the
// windows from the text in place, as scanWindows does (the text is not written).
func (s *windowSet) scanVerbatim(text string) (leakLabel, bool) {
	return s.scanWindows(unsafe.Slice(unsafe.StringData(text), len(text)))
}

// maybe reports whether the set may hold a window that starts with the 8 bytes lo: false when
// its bit in the bitmap is clear.
func (s *windowSet) maybe(lo uint64) bool {
	h := windowBit(lo)
	return s.bits[h>>6&63]&(1<<(h&63)) != 0
}

// notSpace is 1 for the bytes isSpace rejects, 0 for whitespace.
var notSpace = func() (t [256]uint8) {
	for c := range t {
		if !isSpace(byte(c)) {
			t[c] = 1
		}
	}
	return t
}()

// spaceBits has the bits of the ASCII whitespace bytes the leak check removes.
const spaceBits = 1<<' ' | 1<<'\t' | 1<<'\n' | 1<<'\v' | 1<<'\f' | 1<<'\r'

// isSpace reports whether c is ASCII whitespace (space, tab, newline, vertical tab, form feed,
// carriage return).
func isSpace(c byte) bool {
	return c <= ' ' && spaceBits>>c&1 != 0
}

// withheld is what the host writes instead of a text a plugin controls that carried content its
// instance was shown.
const withheld = "(withheld: it carried content the plugin was shown)"

// maxTrapText bounds the message of a failed call (a trap, or the guest's own error).
const maxTrapText = 200

// gateTexts is the one gate of every text a plugin controls that outlives its call (a record's
// error message, which goes to the dead-letter queue; a log line; the message of a failed call,
// which goes to the dead-letter queue, the agent's log, the audit log and the quarantine reason):
// each is checked against the instance's window as an emission is (less the granted read values
// of its record, or of every record of the call for record < 0), and returned as it may be
// written: cut to max bytes, or withheld. Record error messages are quoted.
func (p *Plugin) gateTexts(cs *callState, texts []gateText) []string {
	out := make([]string, len(texts))
	var segs []string
	var owners []int
	for k := range texts {
		t := &texts[k]
		if len(t.msg) > t.max {
			t.msg = t.msg[:t.max] + "..."
		}
		segments(cs.readsOf(t.record), t.msg, func(seg string) {
			segs = append(segs, seg)
			owners = append(owners, k)
		})
	}
	leaks := make([]bool, len(texts))
	for k, hit := range p.windowLeaks(cs.win, segs, false) {
		if hit {
			leaks[owners[k]] = true
		}
	}
	for k, t := range texts {
		switch {
		case leaks[k]:
			out[k] = withheld
		case t.quote:
			out[k] = strconv.Quote(t.msg)
		default:
			out[k] = t.msg
		}
	}
	return out
}

// gateText is a text for gateTexts.
type gateText struct {
	msg    string
	record int // its record's index, or -1
	max    int
	quote  bool
}
