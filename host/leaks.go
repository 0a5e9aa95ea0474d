package host

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	extism "github.com/extism/go-sdk"
)

// The leaks host function, in the "hangar" module: a plugin shown content asks, before it emits,
// which of the strings it would emit for a record the host would refuse (the leak checks of
// enforce.go: against the record's content, and against the instance's window), so that it can
// withhold those instead of losing the record. The host answers natively, with the checks it
// applies to every emission anyway; a WASM guest repeating them itself scans all the content
// again, several times slower. It needs no capability: the answer tells the plugin nothing about
// content its instance was not shown.

// Bounds of one leaks call.
const (
	// maxLeakQuery bounds the bytes of the strings of one call.
	maxLeakQuery = 1 << 20
	// maxLeakRounds bounds the content scans of one call: each finds one more leaking string, and
	// once they are spent every string not yet cleared is reported as leaking (the safe answer).
	maxLeakRounds = 16
)

// hostLeaks is leaks(record, src, len, dst) -> count: src holds a query, strings each preceded by
// its length as a uvarint, for the call's record at index record; the host writes at dst a bitmap
// of count bits, bit k (byte k/8, bit k%8) set when string k would be refused in an emission for
// that record, and returns count. A plugin shown no content (no content grants, no file read) can
// leak none: the bitmap is all clear.
func (p *Plugin) hostLeaks(ctx context.Context, _ *extism.CurrentPlugin, stack []uint64) {
	cs := state(ctx)
	rec, src, n, dst := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	if n > maxLeakQuery {
		cs.fail(fmt.Errorf("leaks query of %d bytes, limit %d", n, maxLeakQuery))
	}
	q, ok := cs.mem.Read(src, n)
	if !ok {
		cs.fail(errors.New("leaks query out of bounds"))
	}
	ss, err := decodeLeakQuery(q)
	if err != nil {
		cs.fail(err)
	}
	var view *recordView
	if cs.views != nil {
		if int(rec) >= len(cs.views) {
			cs.fail(fmt.Errorf("leaks for record %d of a call of %d", rec, len(cs.views)))
		}
		view = &cs.views[rec]
	}
	hits := queryLeaks(view, ss)
	if !cs.win.empty() {
		// The rest of what the instance was shown: the call's other records, earlier calls, files.
		var segs []string
		var owners []int
		for k, s := range ss {
			segments(cs.readsOf(int(rec)), s, func(seg string) {
				segs = append(segs, seg)
				owners = append(owners, k)
			})
		}
		for k, hit := range p.windowLeaks(cs.win, segs, true) {
			if hit {
				hits[owners[k]] = true
			}
		}
	}
	bitmap := make([]byte, (len(ss)+7)/8)
	for k, hit := range hits {
		if hit {
			bitmap[k/8] |= 1 << (k % 8)
		}
	}
	if !cs.mem.Write(dst, bitmap) {
		cs.fail(errors.New("leaks bitmap out of bounds"))
	}
	stack[0] = uint64(len(ss))
}

// decodeLeakQuery splits a leaks query into its strings. They alias the query, which is guest
// memory: valid only while the host function runs (the guest is paused, and its memory cannot
// move), so nothing may keep them (recordView.clear copies).
func decodeLeakQuery(q []byte) ([]string, error) {
	var ss []string
	for len(q) > 0 {
		l, k := binary.Uvarint(q)
		if k <= 0 || l > uint64(len(q)-k) {
			return nil, fmt.Errorf("leaks query: string %d is malformed", len(ss))
		}
		ss = append(ss, unsafe.String(unsafe.SliceData(q[k:]), int(l)))
		q = q[k+int(l):]
	}
	return ss, nil
}

// queryLeaks answers a plugin's leaks query for a record: leakHits, noting in the view the
// strings it cleared, which the check of the record's emission then need not scan for again.
func queryLeaks(view *recordView, ss []string) []bool {
	hits := leakHits(view, ss)
	if view != nil {
		for k, hit := range hits {
			if !hit {
				view.clear(ss[k])
			}
		}
	}
	return hits
}

// leakHits reports, for each of ss, whether it holds leakWindow or more bytes of the view's
// content, as the leak check decides for an emitted string (less granted read values). Each
// content scan finds one leaking string; after maxLeakRounds scans, the strings not yet cleared
// are reported as leaking.
func leakHits(view *recordView, ss []string) []bool {
	hits := make([]bool, len(ss))
	if view == nil || len(view.content) == 0 {
		return hits
	}
	for range maxLeakRounds {
		idx := leakIndex{reads: view.reads}
		for k, s := range ss {
			if !hits[k] {
				idx.add(s, leakLabel{attr: int32(k), part: partText})
			}
		}
		l, _, leaked := idx.scan(view.content)
		if !leaked {
			return hits
		}
		hits[l.attr] = true
	}
	for k := range hits {
		hits[k] = true // rounds spent: the safe answer
	}
	return hits
}
