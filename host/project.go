package host

import (
	"strings"
	"sync/atomic"

	"github.com/hangar-dev/hangar/sdk/abi"
	"github.com/tidwall/gjson"
)

// projector builds what a plugin receives of each record: a JSON object holding exactly the
// fields its grants name (read:payload.<path> and content:<path>), nested as in the record.
// Missing fields are omitted. It is immutable and safe for concurrent use.
type projector struct {
	root    []*projNode
	reads   []string // read:payload paths
	content []string // content: paths, in grant order
	// whole passes records unprojected; only benchmarks set it, to measure what projection saves.
	whole bool
}

// projNode is one name of a granted path. A node is either a leaf (the whole value at path is
// copied) or an object of its children.
type projNode struct {
	name     string
	path     string // from the record's root
	leaf     bool
	children []*projNode
}

func newProjector(g Grants) *projector {
	pr := &projector{}
	add := func(path string) {
		nodes := &pr.root
		parts := strings.Split(path, ".")
		for i, name := range parts {
			var n *projNode
			for _, c := range *nodes {
				if c.name == name {
					n = c
				}
			}
			if n == nil {
				n = &projNode{name: name, path: strings.Join(parts[:i+1], ".")}
				*nodes = append(*nodes, n)
			}
			if n.leaf {
				return // a granted ancestor already carries the whole value
			}
			if i == len(parts)-1 {
				n.leaf, n.children = true, nil
				return
			}
			nodes = &n.children
		}
	}
	for _, c := range g.Of(ClassReadField) {
		pr.reads = append(pr.reads, c.Arg)
		add(c.Arg)
	}
	for _, c := range g.Of(ClassContent) {
		pr.content = append(pr.content, c.Arg)
		add(c.Arg)
	}
	// Enrich and insight plugins read stored events and derived records, which hold metadata
	// only (the capture kept no content): they get them whole (enrich.go).
	if g.Has(ClassReadEvents, "") || g.Has(ClassReadDerived, "") {
		pr.whole = true
	}
	return pr
}

// project appends the projection of a record's JSON payload to b.
func (pr *projector) project(b, payload []byte) []byte {
	if pr.whole {
		return append(b, payload...)
	}
	b = append(b, '{')
	b, _ = appendNodes(b, payload, pr.root)
	return append(b, '}')
}

// appendNodes appends the members of nodes found in payload, comma separated, and reports
// whether it appended any.
func appendNodes(b, payload []byte, nodes []*projNode) ([]byte, bool) {
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
			v := gjson.GetBytes(payload, n.path)
			if !v.Exists() {
				b = b[:mark]
				continue
			}
			b = append(b, v.Raw...)
			any = true
			continue
		}
		b = append(b, '{')
		var some bool
		b, some = appendNodes(b, payload, n.children)
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
// the granted metadata it may emit verbatim.
type recordView struct {
	// content holds each shown content value: a string's text, or an object's or array's raw JSON
	// text and each string inside it.
	content []contentValue
	// reads holds the string values of granted read fields of at least leakWindow bytes.
	reads []string
}

// contentValue is one piece of content a plugin was shown, under the grant that showed it.
type contentValue struct {
	path string
	text []byte
}

// appendInput appends the batch input (package abi) of the records, projected, and returns the
// leak-check views of the records when the plugin holds content grants (else nil). It counts
// content accesses into reads, indexed as pr.content.
func (pr *projector) appendInput(b []byte, recs []Record, reads []atomic.Int64) ([]byte, []recordView) {
	payloads := make([][]byte, len(recs))
	var start []int
	if !pr.whole {
		// Project into one buffer, then frame: one allocation for the whole batch.
		buf := make([]byte, 0, 256*len(recs))
		start = make([]int, len(recs)+1)
		for i := range recs {
			start[i] = len(buf)
			buf = pr.project(buf, recs[i].Payload)
		}
		start[len(recs)] = len(buf)
		for i := range recs {
			payloads[i] = buf[start[i]:start[i+1]]
		}
	} else {
		for i := range recs {
			payloads[i] = recs[i].Payload
		}
	}
	b = abi.AppendInput(b, payloads)
	if len(pr.content) == 0 {
		return b, nil
	}
	views := make([]recordView, len(recs))
	for i := range recs {
		v := &views[i]
		for j, path := range pr.content {
			r := gjson.GetBytes(recs[i].Payload, path)
			if !r.Exists() {
				continue
			}
			reads[j].Add(1)
			v.content = appendContent(v.content, path, r)
		}
		for _, path := range pr.reads {
			if r := gjson.GetBytes(recs[i].Payload, path); r.Type == gjson.String && len(r.Str) >= leakWindow {
				v.reads = append(v.reads, r.Str)
			}
		}
	}
	return b, views
}

// appendContent adds a content value: a string's text, or a container's raw JSON and its strings.
func appendContent(out []contentValue, path string, r gjson.Result) []contentValue {
	switch {
	case r.Type == gjson.String:
		return append(out, contentValue{path, []byte(r.Str)})
	case r.IsObject() || r.IsArray():
		out = append(out, contentValue{path, []byte(r.Raw)})
		return appendStrings(out, path, r)
	default:
		return append(out, contentValue{path, []byte(r.Raw)})
	}
}

// appendStrings adds every string inside a container, at any depth.
func appendStrings(out []contentValue, path string, r gjson.Result) []contentValue {
	r.ForEach(func(_, v gjson.Result) bool {
		switch {
		case v.Type == gjson.String:
			out = append(out, contentValue{path, []byte(v.Str)})
		case v.IsObject() || v.IsArray():
			out = appendStrings(out, path, v)
		}
		return true
	})
	return out
}
