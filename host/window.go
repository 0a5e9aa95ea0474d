package host

import (
	"context"
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// An instance's window is every text it has been shown: the content values of every record of
// every call it served (content: grants) and every byte fs_read returned to it. A guest keeps
// what it likes between calls (instances are pooled, and their linear memory lasts), so the leak
// check of an emission, of a hangar.leaks answer and of every text the plugin controls is made
// against the whole window, not only against the record's content (enforce.go). The windows are
// bounded: an instance is recycled (closed, and a fresh one made) before a call would take its
// plugin's windows past Config.WindowBytes in all (windowLimit), so that no instance ever holds
// content the host no longer checks against, and a plugin's windows never hold much more than
// the bound (by at most the content of the calls in flight).
//
// The window check refuses a string that holds leakWindow or more bytes of the window's text,
// verbatim (not starting or ending with whitespace, see eachWindow) or with whitespace removed
// (the leak check's rule), less two kinds of parts that carry
// nothing of the content: parts equal to, or inside, a granted read value of the string's record
// (metadata the user granted, see segments), and leak windows that occur in the plugin's own
// module (an attribute key, a kind, a message's words: fixed at install, before the plugin saw
// anything, so emitting one says only that the plugin chose to, however often the content names
// it).
//
// Scanning megabytes of text per record would cost more than the plugin's own work, so the window
// answers in steps, each exact in what it rules out:
//
//  1. known: the answers of earlier exact scans (step 4), kept, and kept true: each text the
//     window takes afterwards is scanned for the clean ones' windows in the pass that adds its
//     pairs (absorb), so a string emitted on every record is looked up, not scanned for.
//  2. pairs: a bitmap of every pair of consecutive bytes of the window's text with whitespace
//     removed. A leak window with a pair the text never has cannot occur in it. A salted hash is
//     random bytes, which almost always hold one: most hashes are cleared here, in nanoseconds.
//  3. literals: the leak windows that occur in the plugin's module are dropped (literals.drop).
//  4. an exact scan of the retained text for the windows left, of every string of the batch at
//     once (a call's emissions, a leaks query, a call's texts).
//
// The text is kept outside Go's heap where the system allows (chunk_unix.go), so that it does
// not raise the garbage collector's goal: the daemon runs with a high GOGC, which multiplies
// whatever is live. A window is used by its instance's call only, and needs no lock.
type window struct {
	// vals are the texts shown, copied into chunks; size is their total length. chunks[cur] is
	// the chunk texts are copied into now; the chunks after it are empty (see reset).
	vals   []string
	chunks []chunk
	cur    int
	size   int64
	// pairs has bit b1<<8|b2 set when bytes b1 and b2 follow each other in a text of vals with
	// its whitespace removed.
	pairs [1 << 10]uint64
	// known holds the strings an exact scan decided: true when one holds a leak window of the
	// window's text (not in the module).
	known      map[string]bool
	knownBytes int
	// watched are the known strings found clean that have windows outside the module, and watch
	// those windows, by index in watched: each new text is scanned for them (see absorb).
	watched []string
	watch   windowIndex
	// owner, if set, counts the bytes of all its plugin's windows (Plugin.windowed).
	owner *atomic.Int64
}

// DefaultWindowBytes is the default bound of a plugin's windows, all its instances' together
// (Config.WindowBytes): the content they may have been shown before the one about to pass it is
// recycled.
const DefaultWindowBytes = 64 << 20

// Bounds of a window's memory of decided strings: past them it forgets them all, and decides
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
// watched strings' windows, marking those it holds as leaking.
func (w *window) absorb(text string) {
	if len(text) == 0 {
		return
	}
	dst := w.room(len(text))
	w.copyPairs(dst, text)
	s := unsafe.String(&dst[0], len(dst))
	w.vals = append(w.vals, s)
	w.size += int64(len(s))
	if w.owner != nil {
		w.owner.Add(int64(len(s)))
	}
	if !w.watch.spaced.empty() {
		w.watch.spaced.each(dst, w.leaked)
	}
}

// room returns n bytes at the end of the window's current chunk (or a next one) to copy a text
// into.
func (w *window) room(n int) []byte {
	for {
		if w.cur == len(w.chunks) {
			w.chunks = append(w.chunks, newChunk(max(windowChunk, n)))
		}
		c := &w.chunks[w.cur]
		if k := len(c.b); cap(c.b)-k >= n {
			c.b = c.b[:k+n]
			return c.b[k : k+n : k+n]
		}
		if len(c.b) == 0 { // an empty chunk too small for the text: replace it
			c.free()
			*c = newChunk(n)
			continue
		}
		w.cur++
	}
}

// reset empties the window for a fresh instance, keeping its chunks to copy texts into again.
func (w *window) reset() {
	clear(w.vals) // they point into the chunks, about to be written again
	if w.owner != nil {
		w.owner.Add(-w.size)
	}
	w.vals, w.size, w.cur = w.vals[:0], 0, 0
	for i := range w.chunks {
		w.chunks[i].b = w.chunks[i].b[:0]
	}
	w.pairs = [len(w.pairs)]uint64{}
	w.known, w.knownBytes, w.watched, w.watch = nil, 0, nil, windowIndex{}
}

// free gives the window's chunks back; the window must not be used again. It is safe on nil.
func (w *window) free() {
	if w == nil {
		return
	}
	if w.owner != nil {
		w.owner.Add(-w.size)
	}
	w.vals = nil
	for i := range w.chunks {
		w.chunks[i].free()
	}
	w.chunks, w.size = nil, 0
}

// copyPairs copies s into dst (of its length) and adds the pairs of s with whitespace removed,
// in one pass: it copies and strips s a chunk at a time, then reads each pair from the stripped
// buffer as 2 bytes, with no dependency between pairs. With watched strings, it also scans the
// stripped text for their plain windows.
func (w *window) copyPairs(dst []byte, s string) {
	dst = dst[:len(s)]
	watching := !w.watch.plain.empty()
	var buf [leakWindow - 1 + stripChunk]byte
	n := 0
	for i := 0; i < len(s); {
		end := min(len(s), i+stripChunk)
		for ; i < end; i++ {
			c := s[i]
			dst[i] = c
			buf[n] = c
			n += int(notSpace[c])
		}
		for k := 0; k+1 < n; k++ {
			x := binary.BigEndian.Uint16(buf[k:])
			w.pairs[x>>6] |= 1 << (x & 63)
		}
		if watching {
			w.watch.plain.each(buf[:n], w.leaked)
			if n >= leakWindow-1 {
				n = copy(buf[:], buf[n-(leakWindow-1):n])
			}
		} else if n > 0 {
			buf[0], n = buf[n-1], 1
		}
	}
}

// leaked marks watched strings found in a text as leaking.
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

// refuted reports whether no leak window of s can occur in the window's text, because each holds
// a pair of bytes the text never has. A plain window (leakWindow bytes of s with whitespace
// removed) would occur in a text with whitespace removed, with all its pairs; a spaced window
// (leakWindow bytes of s verbatim, holding whitespace) would occur in a text verbatim, and so its
// bytes less the whitespace in the text with whitespace removed, with all their pairs.
func (w *window) refuted(s string) bool {
	var stack [256]byte
	st := stack[:0]
	if len(s) > len(stack) {
		st = make([]byte, 0, len(s))
	}
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			st = append(st, s[i])
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
	// Spaced windows: s[i : i+leakWindow] holding whitespace, which is st[a:b] once removed.
	if len(st) == len(s) {
		return true
	}
	a := 0 // bytes of s[:i] that are not whitespace
	for i := 0; i+leakWindow <= len(s); i++ {
		if i > 0 && !isSpace(s[i-1]) {
			a++
		}
		spaces := 0
		for _, c := range []byte(s[i : i+leakWindow]) {
			spaces += 1 - int(notSpace[c])
		}
		if spaces == 0 || isSpace(s[i]) || isSpace(s[i+leakWindow-1]) {
			continue // a plain window, or no leak window (eachWindow)
		}
		b := a + leakWindow - spaces
		if b-a < 2 || absent[b-1] == absent[a] {
			return false
		}
	}
	return true
}

// scan reports, for each of n strings whose windows idx holds (by id), whether the window's text
// holds one of them: one pass over the retained text for all of them.
func (w *window) scan(idx *windowIndex, n int) []bool {
	hits := make([]bool, n)
	left := n
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

// remember keeps an exact scan's answer for s, and watches its windows idx holds (those not in
// the module) when it is clean.
func (w *window) remember(s string, leaks bool, idx *windowIndex) {
	if w.known == nil {
		w.known = map[string]bool{}
	}
	if len(w.known) >= maxKnown || w.knownBytes+len(s) > maxKnownBytes {
		w.known, w.knownBytes, w.watched, w.watch = map[string]bool{}, 0, nil, windowIndex{}
	}
	s = strings.Clone(s) // s may be guest memory
	w.known[s] = leaks
	w.knownBytes += len(s)
	if leaks {
		return
	}
	id := int32(len(w.watched))
	watched := false
	eachWindow(s, func(k windowKey, spaced bool) {
		set, watch := &idx.plain, &w.watch.plain
		if spaced {
			set, watch = &idx.spaced, &w.watch.spaced
		}
		if _, ok := set.m[k]; ok {
			watch.add(k, id)
			watched = true
		}
	})
	if watched {
		w.watched = append(w.watched, s)
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
	eachWindow(s, func(k windowKey, spaced bool) {
		if spaced {
			x.spaced.add(k, id)
		} else {
			x.plain.add(k, id)
		}
	})
}

// eachWindow calls fn with each leak window of s: its plain windows (of s with whitespace
// removed), then its spaced windows (of s verbatim, holding whitespace between its first and last
// bytes). A verbatim window that starts or ends with whitespace is not one: it holds a word of at
// most leakWindow-1 bytes and a separator (" input_token" of "usage input_tokens is negative"),
// less than the leakWindow bytes of text the check is about, and the record's own check
// (leakIndex) still counts it.
func eachWindow(s string, fn func(k windowKey, spaced bool)) {
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
			fn(windowKey{lo, hi}, false)
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
		if i >= leakWindow-1 && last > i-leakWindow && notSpace[c] == 1 && notSpace[s[i-leakWindow+1]] == 1 {
			fn(windowKey{lo, hi}, true)
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
func (s *multiSet) add(k windowKey, id int32) {
	if s.m == nil {
		s.m = map[windowKey][]int32{}
	}
	ids := s.m[k]
	if len(ids) > 0 && ids[len(ids)-1] == id {
		return
	}
	s.m[k] = append(ids, id)
	h := wideBit(k.lo)
	s.bits[h>>6] |= 1 << (h & 63)
}

// each calls fn with the ids of every window of b the set holds.
func (s *multiSet) each(b []byte, fn func(ids []int32)) {
	s.eachKey(b, func(_ windowKey, ids []int32) { fn(ids) })
}

// eachKey calls fn with every window of b the set holds, and its ids.
func (s *multiSet) eachKey(b []byte, fn func(k windowKey, ids []int32)) {
	for ; len(b) >= leakWindow; b = b[1:] {
		lo := binary.LittleEndian.Uint64(b)
		if h := wideBit(lo); s.bits[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		k := windowKey{lo, binary.LittleEndian.Uint32(b[8:])}
		if ids, ok := s.m[k]; ok {
			fn(k, ids)
		}
	}
}

// eachStripped calls fn with the ids of every window of text with whitespace removed that the
// set holds, stripping it a chunk at a time (as windowSet.scanStripped).
func (s *multiSet) eachStripped(text string, fn func(ids []int32)) {
	s.eachKeyStripped(text, func(_ windowKey, ids []int32) { fn(ids) })
}

// eachKeyStripped is eachKey over text with whitespace removed.
func (s *multiSet) eachKeyStripped(text string, fn func(k windowKey, ids []int32)) {
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
		s.eachKey(buf[:n], fn)
		if n >= leakWindow-1 {
			n = copy(buf[:], buf[n-(leakWindow-1):n])
		}
	}
}

// literals knows which leak windows occur in a plugin's module: plain windows in the module with
// whitespace removed, spaced windows in it verbatim. Its answers are kept (up to
// maxLiteralWindows of each), since the same keys, kinds and messages come back on every record.
// It is safe for concurrent use.
type literals struct {
	module        []byte
	mu            sync.Mutex
	plain, spaced map[windowKey]bool
}

// maxLiteralWindows bounds the answers literals keeps of each kind of window; past it, it forgets
// them all.
const maxLiteralWindows = 1 << 16

// drop removes from idx the windows that occur in the module. Windows it has not answered before
// are looked for together, in one pass over the module.
func (l *literals) drop(idx *windowIndex) {
	if len(l.module) == 0 {
		return
	}
	var todo windowIndex
	l.mu.Lock()
	for _, kind := range []struct {
		set   *multiSet
		known map[windowKey]bool
		todo  *multiSet
	}{{&idx.plain, l.plain, &todo.plain}, {&idx.spaced, l.spaced, &todo.spaced}} {
		for k := range kind.set.m {
			if in, ok := kind.known[k]; !ok {
				kind.todo.add(k, 0)
			} else if in {
				delete(kind.set.m, k)
			}
		}
	}
	l.mu.Unlock()
	if todo.plain.empty() && todo.spaced.empty() {
		return
	}
	module := unsafe.String(unsafe.SliceData(l.module), len(l.module))
	found := map[windowKey]bool{}
	todo.plain.eachKeyStripped(module, func(k windowKey, _ []int32) { found[k] = true })
	foundSpaced := map[windowKey]bool{}
	if !todo.spaced.empty() {
		todo.spaced.eachKey(l.module, func(k windowKey, _ []int32) { foundSpaced[k] = true })
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, kind := range []struct {
		set   *multiSet
		known *map[windowKey]bool
		todo  *multiSet
		found map[windowKey]bool
	}{{&idx.plain, &l.plain, &todo.plain, found}, {&idx.spaced, &l.spaced, &todo.spaced, foundSpaced}} {
		if *kind.known == nil || len(*kind.known)+len(kind.todo.m) > maxLiteralWindows {
			*kind.known = map[windowKey]bool{}
		}
		for k := range kind.todo.m {
			in := kind.found[k]
			(*kind.known)[k] = in
			if in {
				delete(kind.set.m, k)
			}
		}
	}
}

// windowLeaks reports, for each of segs (segments of strings the plugin controls: see segments),
// whether it holds a leak window of the window's text that does not occur in the plugin's
// module. With remember, the exact scan's answers are kept (emitted strings recur; a call's
// texts, less so).
func (p *Plugin) windowLeaks(w *window, segs []string, remember bool) []bool {
	out := make([]bool, len(segs))
	if w.empty() {
		return out
	}
	var rest []int
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
		rest = append(rest, k)
	}
	if len(rest) == 0 {
		return out
	}
	var idx windowIndex
	for i, k := range rest {
		idx.add(segs[k], int32(i))
	}
	p.lits.drop(&idx)
	var hits []bool
	if idx.plain.empty() && idx.spaced.empty() {
		hits = make([]bool, len(rest)) // every window is the module's
	} else {
		hits = w.scan(&idx, len(rest))
	}
	for i, k := range rest {
		out[k] = hits[i]
		if remember {
			w.remember(segs[k], hits[i], &idx)
		}
	}
	return out
}

// segments calls fn with each part of s the window check looks at: the parts between occurrences
// of the granted read values (splitReads), less those inside a read value. Both are metadata the
// user granted (a part of a tool's name, say).
func segments(reads []string, s string, fn func(seg string)) {
	splitReads(reads, s, func(seg string) {
		for _, r := range reads {
			if len(r) > len(seg) && strings.Contains(r, seg) {
				return
			}
		}
		fn(seg)
	})
}

// splitReads calls fn with each part of s between occurrences of reads, in turn (the parts
// between occurrences of reads[0], each split by reads[1], and so on), of leakWindow bytes or
// more, as the leak check of a record's content indexes them (leakIndex.addSegment).
func splitReads(reads []string, s string, fn func(seg string)) {
	for ; len(reads) > 0 && len(s) >= leakWindow; reads = reads[1:] {
		r := reads[0]
		for k := strings.Index(s, r); k >= 0; k = strings.Index(s, r) {
			splitReads(reads[1:], s[:k], fn)
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

// windowLimit returns how much an instance's window w may hold: what the plugin's bound
// (Config.WindowBytes, for all its windows) leaves once the other windows are counted, and at
// least its share of it (the bound over the pool size), so that one busy instance gets most of
// it, and several each get theirs.
func (p *Plugin) windowLimit(w *window) int64 {
	limit := p.h.cfg.WindowBytes
	others := p.windowed.Load()
	if w != nil {
		others -= w.size
	}
	return max(limit-others, limit/int64(cap(p.slots)))
}

// prepareWindow readies an instance's window for a call showing the views' content: when the
// content would take a window already holding some past its limit (windowLimit; for a plugin with
// fs:read grants, half of it, to leave the call room to read), the instance is recycled: closed,
// and replaced by a fresh one, which has seen nothing (its window is the old one emptied). The
// content then joins the window. On error the instance is closed and its slot released.
func (p *Plugin) prepareWindow(ctx context.Context, in *instance, views []recordView) (*instance, error) {
	var n int64
	for i := range views {
		for _, c := range views[i].content {
			n += int64(len(c.text))
		}
	}
	if w := in.win; !w.empty() {
		limit := p.windowLimit(w)
		if p.g.Has(ClassFSRead, "") {
			limit /= 2
		}
		if w.size+n > limit {
			p.recycles.Add(1)
			in.win = nil // kept for the fresh instance
			p.instances.Add(-1)
			in.close()
			fresh, err := p.newInstance(ctx)
			if err != nil {
				w.free()
				<-p.slots
				return nil, err
			}
			w.reset()
			fresh.win = w
			in = fresh
		}
	}
	if in.win == nil {
		in.win = &window{owner: &p.windowed}
	}
	for i := range views {
		for _, c := range views[i].content {
			in.win.absorb(c.text)
		}
	}
	return in, nil
}
