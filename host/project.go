package host

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/hangar-dev/hangar/sdk/abi"
	"github.com/tidwall/gjson"
)

// projector builds what a plugin receives of each record: a JSON object holding exactly the
// fields its grants name (read:payload.<path> and content:<path>), nested as in the record.
// Missing fields are omitted. It is immutable and safe for concurrent use.
//
// A content:<path> field is copied as it is. A read:payload.<path> field is typed (appendTyped):
// only its values that are metadata by type pass, every other value at any depth is replaced by
// abi.Withheld (the rule is sdk/abi's, typed.go), and a content value below it is copied as it is.
//
// A record is read in one pass (walk.object): the payload's top-level object is walked once,
// descending only into objects that granted paths continue into, and the value of every granted
// path is taken from that pass for the projection, the content views and the read values alike.
// Each value is the one gjson.Get would return for its path (the first match in document order);
// when a payload is not plain enough to be sure of that, the record falls back to gjson.Get.
type projector struct {
	// root is the tree of every granted path's names, in grant order (reads first, then content).
	root []*projNode
	// nodes is how many nodes the tree has: the slots of a record's walk.
	nodes int
	// reads are the read:payload paths, and readSlots their nodes' slots.
	reads     []string
	readSlots []int
	// content are the content: paths, in grant order, and contentSlots their nodes' slots.
	content      []string
	contentSlots []int
	// whole passes records unprojected; only benchmarks set it, to measure what projection saves.
	whole bool
}

// projNode is one name of a granted path. The projection copies the whole value of a leaf (a
// node where a granted path ends) and builds an object of the children of other nodes. Children
// below a leaf are not projected (the leaf carries them); they are walked for the content views
// and read values of their paths.
type projNode struct {
	name     string
	path     string // from the record's root
	slot     int    // index of the node's value among a walk's values
	leaf     bool
	content  bool  // a content: grant ends here: the value is copied as it is
	inner    []int // for a read leaf, the slots of the content nodes below it
	children []*projNode
}

// newProjector returns the projector of a plugin's grants.
func newProjector(g Grants) *projector {
	pr := &projector{}
	for _, c := range g.Of(ClassReadField) {
		pr.reads = append(pr.reads, c.Arg)
		pr.readSlots = append(pr.readSlots, pr.add(c.Arg))
	}
	for _, c := range g.Of(ClassContent) {
		pr.content = append(pr.content, c.Arg)
		pr.contentSlots = append(pr.contentSlots, pr.add(c.Arg))
		pr.node(c.Arg).content = true
	}
	for _, n := range pr.root {
		setInner(n)
	}
	// Enrich and insight plugins read stored events and derived records, which hold metadata
	// only (the capture kept no content): they get them whole (package pipeline/wasmstage).
	if g.Has(ClassReadEvents, "") || g.Has(ClassReadDerived, "") {
		pr.whole = true
	}
	return pr
}

// add adds a granted path to the tree, and returns the slot of its node.
func (pr *projector) add(path string) int {
	nodes := &pr.root
	var n *projNode
	for end := 0; end < len(path); {
		start := end
		if start > 0 {
			start++ // past the dot
		}
		end = start + strings.IndexByte(path[start:], '.')
		if end < start {
			end = len(path)
		}
		n = findNode(*nodes, path[start:end])
		if n == nil {
			n = &projNode{name: path[start:end], path: path[:end], slot: pr.nodes}
			pr.nodes++
			*nodes = append(*nodes, n)
		}
		nodes = &n.children
	}
	n.leaf = true
	return n.slot
}

// node returns the node of a granted path.
func (pr *projector) node(path string) *projNode {
	nodes := pr.root
	var n *projNode
	for name := range strings.SplitSeq(path, ".") {
		n = findNode(nodes, name)
		nodes = n.children
	}
	return n
}

// setInner sets the inner slots of the read leaves at and below n, and returns the slots of the
// content nodes at and below n.
func setInner(n *projNode) []int {
	var below []int
	for _, c := range n.children {
		below = append(below, setInner(c)...)
	}
	if n.leaf && !n.content {
		n.inner = below
	}
	if n.content {
		return append(below, n.slot)
	}
	return below
}

// findNode returns the node of nodes with the name, or nil.
func findNode(nodes []*projNode, name string) *projNode {
	for _, n := range nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// project appends the projection of a record's JSON payload to b.
func (pr *projector) project(b, payload []byte) []byte {
	if pr.whole {
		return append(b, payload...)
	}
	w := walk{vals: make([]gjson.Result, pr.nodes)}
	w.run(pr, payload)
	return appendProjection(b, pr.root, w.vals)
}

// appendProjection appends the projection of a record from the values of its walk.
func appendProjection(b []byte, root []*projNode, vals []gjson.Result) []byte {
	b = append(b, '{')
	b, _ = appendNodes(b, root, vals)
	return append(b, '}')
}

// appendNodes appends the members of nodes found in the record, comma separated, and reports
// whether it appended any.
func appendNodes(b []byte, nodes []*projNode, vals []gjson.Result) ([]byte, bool) {
	any := false
	for _, n := range nodes {
		mark := len(b)
		if any {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, n.name...)
		b = append(b, '"', ':')
		if n.leaf {
			v := &vals[n.slot]
			if !v.Exists() {
				b = b[:mark]
				continue
			}
			if n.content {
				b = append(b, v.Raw...)
			} else {
				b = appendTyped(b, v, n.inner, vals)
			}
			any = true
			continue
		}
		b = append(b, '{')
		var some bool
		b, some = appendNodes(b, n.children, vals)
		if !some {
			b = b[:mark]
			continue
		}
		b = append(b, '}')
		any = true
	}
	return b, any
}

// recordView is what the leak check needs of one record: the content the plugin was shown, and
// the granted metadata it may emit verbatim. Its strings alias the record's payload, which must
// not change while the view is in use (the call).
type recordView struct {
	// content holds each shown content value: a string's text, or an object's or array's raw JSON
	// text and the text of each string inside it that is not in the raw text verbatim (see
	// appendContent).
	content []contentValue
	// reads holds the string values of granted read fields of at least leakWindow bytes that
	// passed the read grant: identifiers (abi.IsIdentifier).
	reads []string
	// cleared holds strings the plugin asked about (hangar.leaks) that the leak check cleared
	// against this content: the emission check does not scan for them again.
	cleared []string
	// clearedBytes is the size of cleared, bounded by maxClearedBytes.
	clearedBytes int
}

// maxClearedBytes bounds the strings a record view keeps as cleared.
const maxClearedBytes = 16 << 10

// clear notes that s holds no leak of the view's content (a copy: s may be guest memory).
func (v *recordView) clear(s string) {
	if len(s) >= leakWindow && v.clearedBytes+len(s) <= maxClearedBytes && !v.isCleared(s) {
		v.cleared = append(v.cleared, strings.Clone(s))
		v.clearedBytes += len(s)
	}
}

// isCleared reports whether s was cleared against the view's content.
func (v *recordView) isCleared(s string) bool {
	for _, c := range v.cleared {
		if c == s {
			return true
		}
	}
	return false
}

// contentValue is one piece of content a plugin was shown, under the grant that showed it.
type contentValue struct {
	path string
	text string
}

// appendInput appends the batch input (package abi) of the records, projected, and returns the
// leak-check views of the records when the plugin holds content grants (else nil). It counts
// content accesses into reads, indexed as pr.content. The views alias the records' payloads.
func (pr *projector) appendInput(b []byte, recs []Record, reads []atomic.Int64) ([]byte, []recordView) {
	if pr.whole && len(pr.content) == 0 {
		return abi.AppendInput(b, payloadsOf(recs, nil)), nil
	}
	w := walk{vals: make([]gjson.Result, pr.nodes)}
	var vb viewBuilder
	if len(pr.content) > 0 {
		vb.init(pr, len(recs))
	}
	pb := projBufs.Get().(*projBuf)
	defer pb.release()
	pb.reset()
	for i := range recs {
		w.run(pr, recs[i].Payload)
		if !pr.whole {
			pb.buf = appendProjection(pb.buf, pr.root, w.vals)
			pb.ends = append(pb.ends, len(pb.buf))
		}
		if vb.views != nil {
			vb.add(pr, i, &w)
		}
	}
	if pr.whole {
		pb.inputs = payloadsOf(recs, pb.inputs)
	} else {
		pb.frame()
	}
	b = abi.AppendInput(b, pb.inputs)
	if vb.views == nil {
		return b, nil
	}
	return b, vb.finish(reads)
}

// payloadsOf appends the payloads of recs to out.
func payloadsOf(recs []Record, out [][]byte) [][]byte {
	for i := range recs {
		out = append(out, recs[i].Payload)
	}
	return out
}

// projBuf holds the projections of a batch's records until they are framed into its input.
type projBuf struct {
	buf    []byte   // the projections, one after another
	ends   []int    // the end of each in buf
	inputs [][]byte // the projections, sliced from buf
}

// projBufs recycles projBufs: a batch's projections are copied into its input (abi.AppendInput)
// and then no longer referenced.
var projBufs = sync.Pool{New: func() any { return new(projBuf) }}

// maxPooledProj is the largest projection buffer kept for reuse.
const maxPooledProj = 1 << 20

// reset empties the buffer for a batch.
func (pb *projBuf) reset() {
	pb.buf, pb.ends, pb.inputs = pb.buf[:0], pb.ends[:0], pb.inputs[:0]
}

// frame slices the projections from the buffer into pb.inputs.
func (pb *projBuf) frame() {
	start := 0
	for _, end := range pb.ends {
		pb.inputs = append(pb.inputs, pb.buf[start:end])
		start = end
	}
}

// release returns the buffer to projBufs, unless it grew too large to keep.
func (pb *projBuf) release() {
	if cap(pb.buf) > maxPooledProj {
		return
	}
	clear(pb.inputs) // drop references to the records' payloads
	projBufs.Put(pb)
}

// viewBuilder builds the views of a batch's records into shared backing slices.
type viewBuilder struct {
	views   []recordView
	content []contentValue
	reads   []string
	// ends holds, per record, the ends of its content and reads in the shared slices.
	ends   [][2]int
	counts []int64 // records showing each content path, as pr.content
}

// init prepares the builder for n records.
func (vb *viewBuilder) init(pr *projector, n int) {
	vb.views = make([]recordView, n)
	vb.content = make([]contentValue, 0, n*len(pr.content))
	vb.ends = make([][2]int, n)
	vb.counts = make([]int64, len(pr.content))
}

// add adds the view of record i from the values of its walk.
func (vb *viewBuilder) add(pr *projector, i int, w *walk) {
	for j, slot := range pr.contentSlots {
		if r := &w.vals[slot]; r.Exists() {
			vb.counts[j]++
			vb.content = appendContent(vb.content, pr.content[j], r, w)
		}
	}
	for _, slot := range pr.readSlots {
		// Only identifiers pass a read grant (appendTyped): other values were withheld, not granted.
		if r := &w.vals[slot]; r.Type == gjson.String && len(r.Str) >= leakWindow && isIdentRaw(r.Raw) {
			vb.reads = append(vb.reads, r.Str)
		}
	}
	vb.ends[i] = [2]int{len(vb.content), len(vb.reads)}
}

// finish slices the views from the shared slices, adds the content accesses to reads, and
// returns the views.
func (vb *viewBuilder) finish(reads []atomic.Int64) []recordView {
	var c, r int
	for i, e := range vb.ends {
		vb.views[i] = recordView{content: vb.content[c:e[0]:e[0]], reads: vb.reads[r:e[1]:e[1]]}
		c, r = e[0], e[1]
	}
	for j, n := range vb.counts {
		if n > 0 {
			reads[j].Add(n)
		}
	}
	return vb.views
}

// appendContent adds a content value: a string's text, or a container's raw JSON text and the
// text of the strings inside it that hold escape sequences, or another value's raw JSON.
//
// A string inside a container that holds no backslash has no escape sequence: its text is its raw
// text less the quotes, a part of the container's raw text. Every run of bytes of it, verbatim or
// with whitespace removed (removing whitespace from a concatenation removes it from each part), is
// then a run of the container's raw text, verbatim or with whitespace removed: the leak check
// finds it there, and the string needs no pass of its own.
func appendContent(out []contentValue, path string, r *gjson.Result, w *walk) []contentValue {
	switch {
	case r.Type == gjson.String:
		return append(out, contentValue{path, r.Str})
	case r.IsObject() || r.IsArray():
		out = append(out, contentValue{path, r.Raw})
		if strings.IndexByte(r.Raw, '\\') < 0 {
			return out // no string inside has an escape sequence
		}
		mark := len(out)
		if end, ok := w.escapedStrings(&out, path, r.Raw, 0); ok && end == len(r.Raw) {
			return out
		}
		return appendEscaped(out[:mark], path, *r)
	default:
		return append(out, contentValue{path, r.Raw})
	}
}

// escapedStrings adds the text, as gjson decodes it, of every string that holds a backslash in
// the JSON value at raw[i] (object keys included), and returns the index past the value. It
// returns false for any value that is not strict JSON (less the checks of strings' contents and
// of literals' spelling): on strict JSON it finds the strings gjson's ForEach finds, nested, as
// appendEscaped does, and gjson would find them alike; past that, appendEscaped must.
func (w *walk) escapedStrings(out *[]contentValue, path, raw string, i int) (int, bool) {
	if i = skipSpace(raw, i); i >= len(raw) {
		return i, false
	}
	switch c := raw[i]; c {
	case '"':
		start := i
		end, esc, ok := skipString(raw, i)
		if ok && esc {
			*out = append(*out, contentValue{path, w.unescape(raw[start+1 : end-1])})
		}
		return end, ok
	case '{', '[':
		return w.escapedMembers(out, path, raw, i)
	}
	end, _, ok := skipValue(raw, i)
	return end, ok
}

// escapedMembers is escapedStrings for an object or array at raw[i].
func (w *walk) escapedMembers(out *[]contentValue, path, raw string, i int) (int, bool) {
	obj := raw[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	if i = skipSpace(raw, i+1); i < len(raw) && raw[i] == closer {
		return i + 1, true
	}
	for {
		var ok bool
		if obj {
			// A key, as a string value, then a colon.
			if i >= len(raw) || raw[i] != '"' {
				return i, false
			}
			if i, ok = w.escapedStrings(out, path, raw, i); !ok {
				return i, false
			}
			if i = skipSpace(raw, i); i >= len(raw) || raw[i] != ':' {
				return i, false
			}
			i++
		}
		if i, ok = w.escapedStrings(out, path, raw, i); !ok {
			return i, false
		}
		if i = skipSpace(raw, i); i >= len(raw) {
			return i, false
		}
		switch raw[i] {
		case closer:
			return i + 1, true
		case ',':
			i = skipSpace(raw, i+1)
		default:
			return i, false
		}
	}
}

// appendEscaped adds the text of every string inside a container, at any depth, that differs
// from its raw JSON text (less the quotes): strings with escape sequences, object keys included.
// gjson's results slice the container's raw text, so a nested container with no backslash holds
// no such string and is not entered. It is the way for containers escapedStrings refuses.
func appendEscaped(out []contentValue, path string, r gjson.Result) []contentValue {
	r.ForEach(func(k, v gjson.Result) bool {
		if k.Type == gjson.String && escaped(k) {
			out = append(out, contentValue{path, k.Str})
		}
		switch {
		case v.Type == gjson.String:
			if escaped(v) {
				out = append(out, contentValue{path, v.Str})
			}
		case v.IsObject() || v.IsArray():
			if strings.IndexByte(v.Raw, '\\') >= 0 {
				out = appendEscaped(out, path, v)
			}
		}
		return true
	})
	return out
}

// escaped reports whether a string result's text is not its raw text less the quotes.
func escaped(s gjson.Result) bool {
	return len(s.Raw) < 2 || s.Str != s.Raw[1:len(s.Raw)-1]
}

// unescape returns the text of a JSON string's raw content (between its quotes) as gjson decodes
// it, in w's arena.
func (w *walk) unescape(s string) string {
	// The text is at most as long as s (an escape sequence is never shorter than what it
	// decodes to): when it may not fit, start a new chunk. Bytes once appended to a chunk are
	// never written again, so the strings made of them stay as they are.
	if cap(w.arena)-len(w.arena) < len(s) {
		w.arena = make([]byte, 0, max(arenaChunk, len(s)))
	}
	start := len(w.arena)
	w.arena = appendUnescaped(w.arena, s)
	if len(w.arena) == start {
		return ""
	}
	return unsafe.String(&w.arena[start], len(w.arena)-start)
}

// arenaChunk is the size of the chunks of a walk's arena.
const arenaChunk = 8 << 10

// appendUnescaped appends the text of a JSON string's raw content (between its quotes) as gjson
// decodes it (its unexported unescape, which this mirrors): escape sequences decoded, \u escapes
// as UTF-8 (a surrogate pair joined, a lone surrogate as U+FFFD, bad hex as U+0000), and the
// text cut short at a control byte or a malformed escape.
func appendUnescaped(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		j := i + plainRun(s[i:])
		b = append(b, s[i:j]...)
		if j == len(s) || s[j] < ' ' {
			return b
		}
		if j++; j == len(s) {
			return b
		}
		switch c := s[j]; c {
		case '\\', '/', '"':
			b = append(b, c)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			if j+5 > len(s) {
				return b
			}
			r := hexRune(s[j+1 : j+5])
			j += 5
			if r >= 0xD800 && r < 0xDC00 && len(s)-j >= 6 && s[j] == '\\' && s[j+1] == 'u' {
				if r2 := hexRune(s[j+2 : j+6]); r2 >= 0xDC00 && r2 < 0xE000 {
					r = utf16.DecodeRune(r, r2)
					j += 6
				}
			}
			b = utf8.AppendRune(b, r)
			i = j
			continue
		default:
			return b
		}
		i = j + 1
	}
	return b
}

// plainRun returns the length of the run at the start of s that holds no backslash and no control
// byte (below ' '), testing 8 bytes at a time.
func plainRun(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A byte below ' ', or equal to '\\' (its xor with '\\' zero, so below 1), sets its high bit.
		y := x ^ ones*'\\'
		if ((x-ones*' ')&^x|(y-ones)&^y)&highs != 0 {
			break
		}
	}
	for i < len(s) && s[i] >= ' ' && s[i] != '\\' {
		i++
	}
	return i
}

// hexRune returns the rune of 4 hex digits, as gjson reads them: 0 if they are not hex.
func hexRune(s string) rune {
	n, _ := strconv.ParseUint(s, 16, 64)
	return rune(n)
}

// walk finds the values of a projector's nodes in one record, as gjson.Get would for their paths.
type walk struct {
	json string
	vals []gjson.Result // by node slot; only Type, Raw, Str and Index are set
	// arena holds decoded strings (unescape), in chunks.
	arena []byte
}

// run sets w.vals to the values of pr's nodes in payload. The values alias payload.
func (w *walk) run(pr *projector, payload []byte) {
	clear(w.vals)
	w.json = unsafe.String(unsafe.SliceData(payload), len(payload))
	i := skipSpace(w.json, 0)
	if i < len(w.json) && w.json[i] == '{' {
		if _, ok := w.object(i, pr.root); ok {
			return
		}
	}
	// Not an object walk could read as gjson does (another root, an array on a granted path,
	// malformed JSON): look each path up with gjson, as a projection always did before the walk.
	clear(w.vals)
	w.lookup(pr.root)
}

// lookup sets the values of nodes and their descendants with gjson.Get.
func (w *walk) lookup(nodes []*projNode) {
	for _, n := range nodes {
		w.vals[n.slot] = gjson.Get(w.json, n.path)
		w.lookup(n.children)
	}
}

// object walks the members of the object at w.json[i] ('{'): it records the value of each of
// nodes its key names (the first such member only, as gjson.Get), and walks the objects of nodes
// with children, whose deeper paths gjson.Get would also look for in every such member, in order.
// It returns the index past the object, or false when the object is not one the walk reads as
// gjson.Get does: then nothing it recorded may be used.
//
// It accepts only what gjson.Get parses the same way (whitespace, commas, keys, colons, and
// values that start as gjson's parser starts them); values it does not descend into are skipped
// as gjson skips them (skipValue).
func (w *walk) object(i int, nodes []*projNode) (int, bool) {
	json := w.json
	for i++; ; {
		i = skipSpace(json, i)
		if i >= len(json) {
			return i, false
		}
		switch json[i] {
		case '}':
			return i + 1, true
		case ',':
			i++
			continue
		case '"':
		default:
			return i, false
		}
		ks := i
		var esc, ok bool
		if i, esc, ok = skipString(json, i); !ok {
			return i, false
		}
		key := json[ks+1 : i-1]
		if esc {
			key = gjson.Parse(json[ks:i]).Str
		}
		if i = skipSpace(json, i); i >= len(json) || json[i] != ':' {
			return i, false
		}
		vs := skipSpace(json, i+1)
		if vs >= len(json) {
			return vs, false
		}
		n := findNode(nodes, key)
		switch {
		case n == nil || len(n.children) == 0:
			i, esc, ok = skipValue(json, vs)
		case json[vs] == '{':
			i, ok = w.object(vs, n.children)
		case json[vs] == '[':
			return vs, false // gjson indexes arrays by number: leave them to gjson.Get
		default:
			i, esc, ok = skipValue(json, vs)
		}
		if !ok {
			return i, false
		}
		if n != nil && !w.vals[n.slot].Exists() {
			w.vals[n.slot] = w.valueOf(json[vs:i], esc)
			w.vals[n.slot].Index = vs // as gjson.Get sets it: appendTyped finds content by it
		}
	}
}

// valueOf returns the result of a value skipValue or object delimited; esc tells whether a
// string holds a backslash.
func (w *walk) valueOf(raw string, esc bool) gjson.Result {
	switch raw[0] {
	case '"':
		if esc {
			return gjson.Result{Type: gjson.String, Raw: raw, Str: w.unescape(raw[1 : len(raw)-1])}
		}
		return gjson.Result{Type: gjson.String, Raw: raw, Str: raw[1 : len(raw)-1]}
	case '{', '[':
		return gjson.Result{Type: gjson.JSON, Raw: raw}
	case 't':
		return gjson.Result{Type: gjson.True, Raw: raw}
	case 'f':
		return gjson.Result{Type: gjson.False, Raw: raw}
	case 'n':
		return gjson.Result{Type: gjson.Null, Raw: raw}
	default:
		return gjson.Result{Type: gjson.Number, Raw: raw}
	}
}

// skipValue returns the index past the value at json[i], whether it is a string holding a
// backslash, and false if gjson might read it otherwise. Its ends are gjson's: a string ends at
// its first quote not escaped by a backslash; an object or array at its closing bracket, counting
// '{', '[', '(' against '}', ']', ')' outside strings; a number at whitespace, a control byte,
// ',', ']' or '}'; true, false and null after their run of lowercase letters. Numbers hold only
// number bytes, and literals only letters: no quote or bracket, so that an object walked
// (walk.object) ends where gjson's skipping of it (counting brackets outside strings) ends.
func skipValue(json string, i int) (int, bool, bool) {
	switch c := json[i]; {
	case c == '"':
		return skipString(json, i)
	case c == '{' || c == '[':
		end, ok := skipContainer(json, i)
		return end, false, ok
	case c == '-' || c >= '0' && c <= '9':
		for i++; i < len(json); i++ {
			if c := json[i]; c <= ' ' || c == ',' || c == ']' || c == '}' {
				return i, false, true
			} else if !isNumberByte(c) {
				// gjson would take it into the number, but its skipping of an object or array
				// that holds the number would not: a quote or bracket would end them apart.
				return i, false, false
			}
		}
		return i, false, false
	case c == 't' || c == 'f' || c == 'n' && i+1 < len(json) && json[i+1] == 'u':
		for i++; i < len(json) && json[i] >= 'a' && json[i] <= 'z'; i++ {
		}
		return i, false, i < len(json)
	}
	return i, false, false
}

// isNumberByte reports whether c may be part of a JSON number.
func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// skipString returns the index past the string whose opening quote is json[i], whether it holds
// a backslash, and false if it does not end.
func skipString(json string, i int) (int, bool, bool) {
	esc := false
	for i++; ; i++ {
		k := strings.IndexByte(json[i:], '"')
		if k < 0 {
			return len(json), esc, false
		}
		if !esc && strings.IndexByte(json[i:i+k], '\\') >= 0 {
			esc = true
		}
		i += k
		n := 0 // backslashes before the quote
		for json[i-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return i + 1, esc, true
		}
	}
}

// bracket is +1 for an opening bracket (gjson counts parentheses too), -1 for a closing one.
var bracket = [256]int8{'{': 1, '[': 1, '(': 1, '}': -1, ']': -1, ')': -1}

// skipContainer returns the index past the object or array that opens at json[i], and false if
// it does not close.
func skipContainer(json string, i int) (int, bool) {
	depth := 0
	for ; i < len(json); i++ {
		c := json[i]
		if c == '"' {
			end, _, ok := skipString(json, i)
			if !ok {
				return end, false
			}
			i = end - 1
			continue
		}
		if d := bracket[c]; d != 0 {
			if depth += int(d); depth == 0 {
				return i + 1, true
			}
		}
	}
	return i, false
}

// skipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func skipSpace(json string, i int) int {
	for i < len(json) && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r') {
		i++
	}
	return i
}
