package host

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hangar-dev/hangar/host/internal/jsonwalk"
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
// A record is read in one pass (jsonwalk.Walk): the payload's top-level object is walked once,
// descending only into objects that granted paths continue into, and the value of every granted
// path is taken from that pass for the projection, the content views and the read values alike.
// Each value is the one gjson.Get would return for its path (the first match in document order);
// when a payload is not plain enough to be sure of that, the record falls back to gjson.Get.
type projector struct {
	// tree holds every granted path's names, in grant order (reads first, then content). The
	// projection copies the whole value of a leaf (a node where a granted path ends) and builds
	// an object of the children of other nodes. Children below a leaf are not projected (the
	// leaf carries them); they are walked for the content views and read values of their paths.
	tree jsonwalk.Tree
	// isContent says, by slot, whether a content: grant ends at the node: its value is copied as
	// it is. inner holds, by slot, for a read leaf, the slots of the content nodes below it.
	isContent []bool
	inner     [][]int
	// reads are the read:payload paths, and readSlots their nodes' slots.
	reads     []string
	readSlots []int
	// content are the content: paths, in grant order, and contentSlots their nodes' slots.
	content      []string
	contentSlots []int
	// whole passes records unprojected; only benchmarks set it, to measure what projection saves.
	whole bool
}

// newProjector returns the projector of a plugin's grants.
func newProjector(g Grants) *projector {
	pr := &projector{}
	for _, c := range g.Of(ClassReadField) {
		pr.reads = append(pr.reads, c.Arg)
		pr.readSlots = append(pr.readSlots, pr.tree.Add(c.Arg))
	}
	for _, c := range g.Of(ClassContent) {
		pr.content = append(pr.content, c.Arg)
		pr.contentSlots = append(pr.contentSlots, pr.tree.Add(c.Arg))
	}
	pr.isContent = make([]bool, pr.tree.Slots)
	pr.inner = make([][]int, pr.tree.Slots)
	for _, slot := range pr.contentSlots {
		pr.isContent[slot] = true
	}
	for _, n := range pr.tree.Roots {
		pr.setInner(n)
	}
	// Enrich and insight plugins read stored events and derived records, which hold metadata
	// only (the capture kept no content): they get them whole (package pipeline/wasmstage).
	if g.Has(ClassReadEvents, "") || g.Has(ClassReadDerived, "") {
		pr.whole = true
	}
	return pr
}

// setInner sets the inner slots of the read leaves at and below n, and returns the slots of the
// content nodes at and below n.
func (pr *projector) setInner(n *jsonwalk.Node) []int {
	var below []int
	for _, c := range n.Children {
		below = append(below, pr.setInner(c)...)
	}
	if n.Leaf && !pr.isContent[n.Slot] {
		pr.inner[n.Slot] = below
	}
	if pr.isContent[n.Slot] {
		return append(below, n.Slot)
	}
	return below
}

// project appends the projection of a record's JSON payload to b.
func (pr *projector) project(b, payload []byte) []byte {
	if pr.whole {
		return append(b, payload...)
	}
	var w jsonwalk.Walk
	w.Run(&pr.tree, payload)
	return pr.appendProjection(b, w.Vals)
}

// appendProjection appends the projection of a record from the values of its walk.
func (pr *projector) appendProjection(b []byte, vals []gjson.Result) []byte {
	b = append(b, '{')
	b, _ = pr.appendNodes(b, pr.tree.Roots, vals)
	return append(b, '}')
}

// appendNodes appends the members of nodes found in the record, comma separated, and reports
// whether it appended any.
func (pr *projector) appendNodes(b []byte, nodes []*jsonwalk.Node, vals []gjson.Result) ([]byte, bool) {
	any := false
	for _, n := range nodes {
		mark := len(b)
		if any {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, n.Name...)
		b = append(b, '"', ':')
		if n.Leaf {
			v := &vals[n.Slot]
			if !v.Exists() {
				b = b[:mark]
				continue
			}
			if pr.isContent[n.Slot] {
				b = append(b, v.Raw...)
			} else {
				b = appendTyped(b, v, pr.inner[n.Slot], vals)
			}
			any = true
			continue
		}
		b = append(b, '{')
		var some bool
		b, some = pr.appendNodes(b, n.Children, vals)
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
	var w jsonwalk.Walk
	var vb viewBuilder
	if len(pr.content) > 0 {
		vb.init(pr, len(recs))
	}
	pb := projBufs.Get().(*projBuf)
	defer pb.release()
	pb.reset()
	for i := range recs {
		w.Run(&pr.tree, recs[i].Payload)
		if !pr.whole {
			pb.buf = pr.appendProjection(pb.buf, w.Vals)
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
func (vb *viewBuilder) add(pr *projector, i int, w *jsonwalk.Walk) {
	for j, slot := range pr.contentSlots {
		if r := &w.Vals[slot]; r.Exists() {
			vb.counts[j]++
			vb.content = appendContent(vb.content, pr.content[j], r, w)
		}
	}
	for _, slot := range pr.readSlots {
		// Only identifiers pass a read grant (appendTyped): other values were withheld, not granted.
		if r := &w.Vals[slot]; r.Type == gjson.String && len(r.Str) >= leakWindow && isIdentRaw(r.Raw) {
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
// text of the strings inside it that hold escape sequences (jsonwalk.Walk.Escaped), or another
// value's raw JSON.
//
// A string inside a container that holds no escape sequence has as its text its raw text less the
// quotes, a part of the container's raw text. Every run of bytes of it, verbatim or with
// whitespace removed (removing whitespace from a concatenation removes it from each part), is
// then a run of the container's raw text, verbatim or with whitespace removed: the leak check
// finds it there, and the string needs no pass of its own.
func appendContent(out []contentValue, path string, r *gjson.Result, w *jsonwalk.Walk) []contentValue {
	switch {
	case r.Type == gjson.String:
		return append(out, contentValue{path, r.Str})
	case r.IsObject() || r.IsArray():
		out = append(out, contentValue{path, r.Raw})
		for _, s := range w.Escaped(r) {
			out = append(out, contentValue{path, s})
		}
		return out
	default:
		return append(out, contentValue{path, r.Raw})
	}
}
