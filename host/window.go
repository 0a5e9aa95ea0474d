package host

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"sync"
	"unsafe"
)

// An instance's window is every text it has been shown: the content values of every record of
// every call it served (content: grants) and every byte fs_read returned to it. A guest keeps
// what it likes between calls (instances are pooled, and their linear memory lasts), so the leak
// check of an emission, of a hangar.leaks answer and of every text the plugin controls is made
// against the whole window, not only the record's content. The window is bounded: an instance is
// recycled (closed, and a fresh one made) before a call would take its window past
// Config.WindowBytes, so that no instance ever holds content the host no longer checks against.
//
// Checking a string against megabytes of text per record would cost more than the plugin's own
// work, so the window answers in three steps, each exact in what it rules out:
//
//  1. pairs: a bitmap of every pair of consecutive bytes of the window's text with whitespace
//     removed. A leak window (leakWindow bytes of an emitted string, verbatim or with whitespace
//     removed) that holds a pair the text never has cannot occur in it. A salted hash, random
//     bytes, almost always holds one: most hashes are cleared here, in nanoseconds.
//  2. literals: a segment of an emitted string that occurs verbatim in the plugin's own module (an
//     attribute key, a kind, a fixed message) was fixed at install, before the plugin saw
//     anything: emitting it carries nothing of the content, however often the content names it.
//     Such segments are exempt from the window check (not from the record's own, enforce.go).
//  3. an exact scan of the retained text, for the strings the first two steps left, all of them
//     in one pass. Its answer for a segment is kept (known), and the clean ones are watched: each
//     text the window takes afterwards is scanned for them in the same pass that adds its pairs,
//     so a segment emitted on every record is looked up, not scanned for.
//
// A window is used by one call at a time (its instance's), and needs no lock.
type window struct {
	// vals are the texts shown, copied into chunks; size is their total length.
	vals  []string
	chunk []byte
	size  int64
	// pairs has bit b1<<8|b2 set when bytes b1 and b2 follow each other in a text of vals with
	// its whitespace removed.
	pairs [1 << 10]uint64
	// known holds the segments the exact scan decided: true when one occurs in the window.
	known      map[string]bool
	knownBytes int
	// watched are the known segments found clean, and watch their windows, by index in watched:
	// each new text is scanned for them (see absorb).
	watched []string
	watch   windowIndex
}

// DefaultWindowBytes is the default bound of an instance's window (Config.WindowBytes): the
// content it may have been shown before it is recycled.
const DefaultWindowBytes = 32 << 20

// Bounds of a window's memory of decided segments: past them it forgets them all, and decides
// them again as they come.
const (
	maxKnown      = 4096
	maxKnownBytes = 256 << 10
)

// windowChunk is the size of the chunks a window copies texts into.
const windowChunk = 1 << 20

// empty reports whether the window holds nothing (nil or no text): nothing can leak from it.
func (w *window) empty() bool { return w == nil || w.size == 0 }

// absorb adds a text shown to the instance: it copies it, adds its pairs, and scans it for the
// watched segments, marking those it holds as leaking.
func (w *window) absorb(text string) {
	if len(text) == 0 {
		return
	}
	if cap(w.chunk)-len(w.chunk) < len(text) {
		w.chunk = make([]byte, 0, max(windowChunk, len(text)))
	}
	start := len(w.chunk)
	w.chunk = append(w.chunk, text...)
	s := unsafe.String(&w.chunk[start], len(text))
	w.vals = append(w.vals, s)
	w.size += int64(len(s))

	var buf [leakWindow - 1 + stripChunk]byte
	n := 0
	watching := !w.watch.plain.empty()
	for i := 0; i < len(s); {
		for end := min(len(s), i+stripChunk); i < end; i++ {
			c := s[i]
			buf[n] = c
			n += int(notSpace[c])
		}
		b := buf[:n]
		for k := 1; k < len(b); k++ {
			x := uint16(b[k-1])<<8 | uint16(b[k])
			w.pairs[x>>6] |= 1 << (x & 63)
		}
		if watching {
			w.watch.plain.each(b, w.leaked)
		}
		if n >= leakWindow-1 {
			n = copy(buf[:], buf[n-(leakWindow-1):n])
		}
	}
	if !w.watch.spaced.empty() {
		w.watch.spaced.each(unsafe.Slice(unsafe.StringData(s), len(s)), w.leaked)
	}
}

// leaked marks watched segments found in a text as leaking.
func (w *window) leaked(ids []int32) {
	for _, id := range ids {
		w.known[w.watched[id]] = true
	}
}

// hasPair reports whether bytes a and b follow each other in the window's text (whitespace
// removed).
func (w *window) hasPair(a, b byte) bool {
	x := uint16(a)<<8 | uint16(b)
	return w.pairs[x>>6]&(1<<(x&63)) != 0
}

// refuted reports whether no window of seg can occur in the window's text, because each holds a
// pair of bytes the text never has. A plain window (leakWindow bytes of seg with whitespace
// removed) would occur in a text with whitespace removed, with all its pairs; a spaced window
// (leakWindow bytes of seg verbatim, holding whitespace) would occur in a text verbatim, and so
// its bytes less the whitespace in the text with whitespace removed, with all their pairs.
func (w *window) refuted(seg string) bool {
	var stack [256]byte
	st := stack[:0]
	if len(seg) > len(stack) {
		st = make([]byte, 0, len(seg))
	}
	for i := 0; i < len(seg); i++ {
		if !isSpace(seg[i]) {
			st = append(st, seg[i])
		}
	}
	// absent[k] counts the pairs st[j], st[j+1] the window lacks, for j < k.
	var absentStack [257]int32
	absent := absentStack[:0]
	if len(st)+1 > len(absentStack) {
		absent = make([]int32, 0, len(st)+1)
	}
	absent = append(absent, 0)
	for k := 0; k+1 < len(st); k++ {
		a := absent[k]
		if !w.hasPair(st[k], st[k+1]) {
			a++
		}
		absent = append(absent, a)
	}
	// Plain windows: st[j : j+leakWindow], pairs j to j+leakWindow-2.
	for j := 0; j+leakWindow <= len(st); j++ {
		if absent[j+leakWindow-1] == absent[j] {
			return false
		}
	}
	// Spaced windows: seg[i : i+leakWindow] holding whitespace, which is st[a:b] once removed.
	if len(st) == len(seg) {
		return true
	}
	a := 0 // bytes of seg[:i] that are not whitespace
	for i := 0; i+leakWindow <= len(seg); i++ {
		win := seg[i : i+leakWindow]
		if i > 0 && !isSpace(seg[i-1]) {
			a++
		}
		spaces := 0
		for k := 0; k < len(win); k++ {
			if isSpace(win[k]) {
				spaces++
			}
		}
		if spaces == 0 {
			continue
		}
		b := a + leakWindow - spaces
		if b-a < 2 || absent[b-1] == absent[a] {
			return false
		}
	}
	return true
}

// scan reports, for each of segs, whether the window's text holds one of its windows: one pass
// over the retained text for all of them.
func (w *window) scan(segs []string) []bool {
	hits := make([]bool, len(segs))
	var idx windowIndex
	for k, s := range segs {
		idx.add(s, int32(k))
	}
	left := len(segs)
	mark := func(ids []int32) {
		for _, id := range ids {
			if !hits[id] {
				hits[id] = true
				left--
			}
		}
	}
	for _, v := range w.vals {
		if left == 0 {
			break
		}
		idx.plain.eachStripped(v, mark)
		if !idx.spaced.empty() {
			idx.spaced.each(unsafe.Slice(unsafe.StringData(v), len(v)), mark)
		}
	}
	return hits
}

// remember keeps the exact scan's answer for seg, and watches it when it is clean.
func (w *window) remember(seg string, leaks bool) {
	if w.known == nil {
		w.known = map[string]bool{}
	}
	if len(w.known) >= maxKnown || w.knownBytes+len(seg) > maxKnownBytes {
		w.known, w.knownBytes, w.watched, w.watch = map[string]bool{}, 0, nil, windowIndex{}
	}
	seg = strings.Clone(seg) // seg may be guest memory
	w.known[seg] = leaks
	w.knownBytes += len(seg)
	if !leaks {
		w.watch.add(seg, int32(len(w.watched)))
		w.watched = append(w.watched, seg)
	}
}

// windowIndex holds the leak windows of strings, each with the ids of the strings that hold it:
// plain windows (of a string with whitespace removed), to find in texts with whitespace removed,
// and spaced windows (of a string verbatim, holding whitespace), to find in texts verbatim.
type windowIndex struct {
	plain, spaced multiSet
}

// add adds the windows of s under id.
func (x *windowIndex) add(s string, id int32) {
	var lo uint64
	var hi uint32
	n, spaced := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSpace(c) {
			spaced = true
			continue
		}
		lo, hi = push(lo, hi, c)
		if n++; n >= leakWindow {
			x.plain.add(lo, hi, id)
		}
	}
	if !spaced {
		return
	}
	lo, hi = 0, 0
	last := -leakWindow // index of the last whitespace byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSpace(c) {
			last = i
		}
		lo, hi = push(lo, hi, c)
		if i >= leakWindow-1 && last > i-leakWindow {
			x.spaced.add(lo, hi, id)
		}
	}
}

// multiSet is a set of windows, each with the ids of every string that holds it, behind a bitmap
// of 65,536 bits (a set may hold thousands of windows, and most positions of a text must be
// skipped without a lookup).
type multiSet struct {
	bits [1 << 10]uint64
	m    map[windowKey][]int32
}

// wideBit returns the bit of a window in a multiSet's bitmap, from its first 8 bytes.
func wideBit(lo uint64) uint32 {
	return uint32((lo * 0x9e3779b97f4a7c15) >> 48) // 16 bits
}

// empty reports whether the set holds no window.
func (s *multiSet) empty() bool { return len(s.m) == 0 }

// add adds a window held by string id.
func (s *multiSet) add(lo uint64, hi uint32, id int32) {
	if s.m == nil {
		s.m = map[windowKey][]int32{}
	}
	k := windowKey{lo, hi}
	ids := s.m[k]
	if len(ids) > 0 && ids[len(ids)-1] == id {
		return
	}
	s.m[k] = append(ids, id)
	h := wideBit(lo)
	s.bits[h>>6] |= 1 << (h & 63)
}

// each calls fn with the ids of every window of b the set holds.
func (s *multiSet) each(b []byte, fn func(ids []int32)) {
	for ; len(b) >= leakWindow; b = b[1:] {
		lo := binary.LittleEndian.Uint64(b)
		if h := wideBit(lo); s.bits[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		if ids, ok := s.m[windowKey{lo, binary.LittleEndian.Uint32(b[8:])}]; ok {
			fn(ids)
		}
	}
}

// eachStripped calls fn with the ids of every window of text with whitespace removed that the
// set holds, stripping it a chunk at a time (as windowSet.scanStripped).
func (s *multiSet) eachStripped(text string, fn func(ids []int32)) {
	if s.empty() {
		return
	}
	var buf [leakWindow - 1 + stripChunk]byte
	n := 0
	for i := 0; i < len(text); {
		for end := min(len(text), i+stripChunk); i < end; i++ {
			c := text[i]
			buf[n] = c
			n += int(notSpace[c])
		}
		s.each(buf[:n], fn)
		if n >= leakWindow-1 {
			n = copy(buf[:], buf[n-(leakWindow-1):n])
		}
	}
}

// literals answers, for a plugin, which strings occur verbatim in its module: they were fixed
// at install. Answers are kept (up to maxLiterals), since the same keys and kinds come back on
// every record. It is safe for concurrent use.
type literals struct {
	module []byte
	mu     sync.Mutex
	known  map[string]bool
}

// maxLiterals bounds the answers literals keeps; past it, it forgets them all.
const maxLiterals = 4096

// check reports, for each of ss, whether it occurs in the module. Strings it has not answered
// before are looked for together: one pass over the module finds which of their windows it
// holds, and only a string all of whose windows it holds is looked for verbatim. With keep, the
// answers are kept.
func (l *literals) check(ss []string, keep bool) []bool {
	out := make([]bool, len(ss))
	if len(l.module) == 0 {
		return out
	}
	var todo []int
	l.mu.Lock()
	for k, s := range ss {
		if v, ok := l.known[s]; ok {
			out[k] = v
		} else {
			todo = append(todo, k)
		}
	}
	l.mu.Unlock()
	if len(todo) == 0 {
		return out
	}
	var set multiSet
	for _, k := range todo {
		s := ss[k]
		var lo uint64
		var hi uint32
		for i := 0; i < len(s); i++ {
			lo, hi = push(lo, hi, s[i])
			if i >= leakWindow-1 {
				set.add(lo, hi, int32(k))
			}
		}
	}
	found := map[windowKey]bool{}
	for b := l.module; len(b) >= leakWindow; b = b[1:] {
		lo := binary.LittleEndian.Uint64(b)
		if h := wideBit(lo); set.bits[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		k := windowKey{lo, binary.LittleEndian.Uint32(b[8:])}
		if _, ok := set.m[k]; ok {
			found[k] = true
		}
	}
	for _, k := range todo {
		s := ss[k]
		all := true
		var lo uint64
		var hi uint32
		for i := 0; i < len(s) && all; i++ {
			lo, hi = push(lo, hi, s[i])
			if i >= leakWindow-1 && !found[windowKey{lo, hi}] {
				all = false
			}
		}
		out[k] = all && bytes.Contains(l.module, unsafe.Slice(unsafe.StringData(s), len(s)))
	}
	if !keep {
		return out
	}
	l.mu.Lock()
	if l.known == nil || len(l.known)+len(todo) > maxLiterals {
		l.known = map[string]bool{}
	}
	for _, k := range todo {
		l.known[strings.Clone(ss[k])] = out[k]
	}
	l.mu.Unlock()
	return out
}

// windowLeaks reports, for each of segs (segments of strings the plugin controls, less granted
// read values: see segments), whether it holds leakWindow or more bytes of the window's text,
// verbatim or with whitespace removed, less those occurring in the plugin's module. With
// remember, the exact scan's answers are kept (emitted strings recur; texts do not).
func (p *Plugin) windowLeaks(w *window, segs []string, remember bool) []bool {
	out := make([]bool, len(segs))
	if w.empty() {
		return out
	}
	var todo []int
	for k, s := range segs {
		if len(s) < leakWindow {
			continue
		}
		if v, ok := w.known[s]; ok {
			out[k] = v
			continue
		}
		if w.refuted(s) {
			continue
		}
		todo = append(todo, k)
	}
	if len(todo) == 0 {
		return out
	}
	cand := make([]string, len(todo))
	for i, k := range todo {
		cand[i] = segs[k]
	}
	lit := p.lits.check(cand, remember)
	rest, restK := cand[:0:0], todo[:0:0]
	for i, k := range todo {
		if !lit[i] {
			rest, restK = append(rest, segs[k]), append(restK, k)
		}
	}
	if len(rest) == 0 {
		return out
	}
	hits := w.scan(rest)
	for i, k := range restK {
		out[k] = hits[i]
		if remember {
			w.remember(segs[k], hits[i])
		}
	}
	return out
}

// segments calls fn with each part of s between occurrences of the granted read values, in turn
// (the parts between occurrences of reads[0], each split by reads[1], and so on), as the leak
// check indexes them: parts equal to a granted value are metadata the user granted.
func segments(reads []string, s string, fn func(seg string)) {
	for ; len(reads) > 0 && len(s) >= leakWindow; reads = reads[1:] {
		r := reads[0]
		for k := strings.Index(s, r); k >= 0; k = strings.Index(s, r) {
			segments(reads[1:], s[:k], fn)
			s = s[k+len(r):]
		}
	}
	if len(s) >= leakWindow {
		fn(s)
	}
}

// watched reports whether the plugin's instances keep a window: it holds content or fs:read
// grants, so it can be shown text.
func (p *Plugin) watched() bool {
	return len(p.proj.content) > 0 || p.g.Has(ClassFSRead, "")
}

// windowBytes returns the bound of an instance's window.
func (p *Plugin) windowBytes() int64 { return p.h.cfg.WindowBytes }

// prepareWindow readies an instance's window for a call showing the views' content: when the
// content would take a window already holding some past its bound (for a plugin with fs:read
// grants, past half of it, to leave the call room to read), the instance is recycled, closed and
// replaced by a fresh one, which has seen nothing. The content then joins the window. On error the
// instance is closed and its slot released.
func (p *Plugin) prepareWindow(ctx context.Context, in *instance, views []recordView) (*instance, error) {
	var n int64
	for i := range views {
		for _, c := range views[i].content {
			n += int64(len(c.text))
		}
	}
	if w := in.win; !w.empty() {
		limit := p.windowBytes()
		if p.g.Has(ClassFSRead, "") {
			limit /= 2
		}
		if w.size+n > limit {
			p.recycles.Add(1)
			p.instances.Add(-1)
			in.close()
			fresh, err := p.newInstance(ctx)
			if err != nil {
				<-p.slots
				return nil, err
			}
			in = fresh
		}
	}
	if in.win == nil {
		in.win = &window{}
	}
	for i := range views {
		for _, c := range views[i].content {
			in.win.absorb(c.text)
		}
	}
	return in, nil
}
