package main

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"unicode"
	"unicode/utf8"
)

// The prompt sketch: a feature-hashed sparse vector of a text's words and word bigrams, so that
// similar prompts can be found without keeping them.
//
// Words are the maximal runs of Unicode letters, digits and marks, lowercased. Each word, and
// each pair of adjacent words joined by one space, is a token. A token's hash is SipHash-2-4 keyed
// with the first 16 bytes of HMAC-SHA256(salt, "claude-code/sketch"); its index is the hash modulo
// sketchDim and its sign is the hash's top bit (set: -1). The vector sums the signed tokens at
// their indices; the sketchKeep entries of largest magnitude are kept (ties to the lower index),
// in index order, and scaled to unit L2 norm.
const (
	sketchDim  = 4096
	sketchKeep = 64
)

// sketchKeyLabel is what the sketch's SipHash key is derived from, under the salt.
const sketchKeyLabel = "claude-code/sketch"

// sketcher computes sketches, reusing its buffers. It is not safe for concurrent use (an
// instance serves one call at a time).
type sketcher struct {
	counts  [sketchDim]int32
	touched []uint16
	prev    []byte // the previous word, lowercased
	word    []byte
	pair    []byte
	kept    []uint16
}

// sketch returns the sketch of text under the SipHash key k0, k1, and its number of words. A
// text without words, or whose tokens cancel out, has no sketch (nil slices).
func (s *sketcher) sketch(k0, k1 uint64, text string) (idx []uint16, val []float32, words int) {
	s.prev, s.word = s.prev[:0], s.word[:0]
	add := func(token []byte) {
		h := siphash(k0, k1, token)
		i := uint16(h % sketchDim)
		if s.counts[i] == 0 {
			s.touched = append(s.touched, i)
		}
		if h>>63 != 0 {
			s.counts[i]--
		} else {
			s.counts[i]++
		}
	}
	end := func() {
		if len(s.word) == 0 {
			return
		}
		words++
		add(s.word)
		if len(s.prev) > 0 {
			s.pair = append(append(append(s.pair[:0], s.prev...), ' '), s.word...)
			add(s.pair)
		}
		s.prev, s.word = append(s.prev[:0], s.word...), s.word[:0]
	}
	for _, r := range text {
		if r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)) {
			s.word = utf8.AppendRune(s.word, unicode.ToLower(r))
			continue
		}
		end()
	}
	end()

	// Keep the largest magnitudes. An index whose tokens cancelled out (count 0) may be listed
	// more than once in touched: skip it, and clear every count for the next text.
	s.kept = s.kept[:0]
	var seen [sketchDim / 64]uint64
	for _, i := range s.touched {
		if s.counts[i] != 0 && seen[i/64]&(1<<(i%64)) == 0 {
			seen[i/64] |= 1 << (i % 64)
			s.kept = append(s.kept, i)
		}
	}
	slices.SortFunc(s.kept, func(a, b uint16) int {
		ma, mb := abs32(s.counts[a]), abs32(s.counts[b])
		if ma != mb {
			return int(mb) - int(ma)
		}
		return int(a) - int(b)
	})
	kept := s.kept[:min(len(s.kept), sketchKeep)]
	slices.Sort(kept)
	var norm float64
	for _, i := range kept {
		c := float64(s.counts[i])
		norm += c * c
	}
	if norm > 0 {
		norm = math.Sqrt(norm)
		idx, val = make([]uint16, len(kept)), make([]float32, len(kept))
		for j, i := range kept {
			idx[j], val[j] = i, float32(float64(s.counts[i])/norm)
		}
	}
	for _, i := range s.touched {
		s.counts[i] = 0
	}
	s.touched = s.touched[:0]
	return idx, val, words
}

func abs32(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// siphash returns SipHash-2-4 of msg under the key k0, k1 (Aumasson and Bernstein, 2012).
func siphash(k0, k1 uint64, msg []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(msg)
	for ; len(msg) >= 8; msg = msg[8:] {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		round()
		round()
		v0 ^= m
	}
	var last [8]byte
	copy(last[:], msg)
	last[7] = byte(n)
	m := binary.LittleEndian.Uint64(last[:])
	v3 ^= m
	round()
	round()
	v0 ^= m
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
