package main

import (
	"encoding/binary"
	"strings"
	"time"
)

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decoder reads what the append functions write; a malformed input sets err and reads zeros.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) more() bool { return !d.err && len(d.b) > 0 }

func (d *decoder) byte1() byte {
	if len(d.b) == 0 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) sketch() map[uint16]int64 {
	n := d.uvarint()
	if n == 0 || d.err {
		return nil
	}
	m := make(map[uint16]int64, n)
	for range n {
		k := d.uvarint()
		v := d.varint()
		if d.err {
			return nil
		}
		m[uint16(k)] = v
	}
	return m
}

// appendTimes writes a sorted list of times as deltas.
func appendTimes(b []byte, ts []int64) []byte {
	b = binary.AppendUvarint(b, uint64(len(ts)))
	prev := int64(0)
	for _, t := range ts {
		b = binary.AppendVarint(b, t-prev)
		prev = t
	}
	return b
}

func (d *decoder) times() []int64 {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		return nil
	}
	ts := make([]int64, n)
	prev := int64(0)
	for i := range ts {
		prev += d.varint()
		ts[i] = prev
	}
	return ts
}

func cmpStr(a, b string) int { return strings.Compare(a, b) }

// pick merges two observations of a string: the non-empty one, or the greater of two (so the
// merge is commutative).
func pick(a, b string) string {
	if a == "" || (b != "" && b > a) {
		return b
	}
	return a
}

// minTime merges two observed times, 0 meaning none.
func minTime(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

func unixTime(s int64) time.Time { return time.Unix(s, 0).UTC() }
