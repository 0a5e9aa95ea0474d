package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestSipHash checks the reference implementation's test vectors (Aumasson and Bernstein,
// "SipHash: a fast short-input PRF", appendix A): key 00 01 … 0f, messages 00 01 … of every
// length up to 15.
func TestSipHash(t *testing.T) {
	want := []uint64{
		0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
		0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
		0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
		0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
	}
	var key [16]byte
	for i := range key {
		key[i] = byte(i)
	}
	k0, k1 := binary.LittleEndian.Uint64(key[:8]), binary.LittleEndian.Uint64(key[8:])
	msg := make([]byte, 0, 16)
	for n, w := range want {
		if got := siphash(k0, k1, msg); got != w {
			t.Errorf("siphash of %d bytes = %#x, want %#x", n, got, w)
		}
		msg = append(msg, byte(n))
	}
}

// sketchOf returns the sketch of text under a salt.
func sketchOf(t *testing.T, salt []byte, text string) ([]uint16, []float32, int) {
	t.Helper()
	k := &keys{salt: salt}
	sk := k.mac([]byte(sketchKeyLabel))
	var s sketcher
	return s.sketch(binary.LittleEndian.Uint64(sk[:8]), binary.LittleEndian.Uint64(sk[8:]), text)
}

func TestSketchProperties(t *testing.T) {
	saltA, saltB := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	long := strings.Repeat("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega ", 40)
	var many strings.Builder
	for i := range 500 {
		many.WriteString("word")
		many.WriteString(strings.Repeat("x", i%37))
		many.WriteString(string(rune('a' + i%26)))
		many.WriteByte(' ')
	}
	texts := map[string]string{
		"short":      "Refactor the parser",
		"repeated":   "fix fix fix the bug",
		"long":       long,
		"many words": many.String(),
		"unicode":    "Olá, 世界! Ünïcödé tëxt — résumé naïve café",
		"surrogate":  "before \ufffd after \ufffd end",
		"control":    "a\x03b c\td",
	}
	for name, text := range texts {
		t.Run(name, func(t *testing.T) {
			idx, val, words := sketchOf(t, saltA, text)
			if words != countWords(text) {
				t.Errorf("%d words, countWords says %d", words, countWords(text))
			}
			if len(idx) == 0 || len(idx) > sketchKeep || len(idx) != len(val) {
				t.Fatalf("%d indices, %d values; want 1 to %d of each", len(idx), len(val), sketchKeep)
			}
			var norm float64
			for i := range idx {
				if i > 0 && idx[i] <= idx[i-1] {
					t.Errorf("indices not strictly increasing: %v", idx)
				}
				if idx[i] >= sketchDim {
					t.Errorf("index %d out of range", idx[i])
				}
				if v := float64(val[i]); math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
					t.Errorf("value %g", v)
				}
				norm += float64(val[i]) * float64(val[i])
			}
			if math.Abs(norm-1) > 1e-5 {
				t.Errorf("squared norm %g, want 1", norm)
			}
			// Deterministic per salt, including with a sketcher that ran before.
			idx2, val2, _ := sketchOf(t, saltA, text)
			if !slices.Equal(idx, idx2) || !slices.Equal(val, val2) {
				t.Error("two sketches of the same text under the same salt differ")
			}
			// Different under another salt.
			idxB, valB, _ := sketchOf(t, saltB, text)
			if slices.Equal(idx, idxB) && slices.Equal(val, valB) {
				t.Error("two salts give the same sketch")
			}
		})
	}
	// A sketcher reused across texts gives what a fresh one gives.
	var s sketcher
	k0, k1 := uint64(1), uint64(2)
	for _, text := range []string{long, "Refactor the parser", many.String(), "Refactor the parser"} {
		idx, val, _ := s.sketch(k0, k1, text)
		var fresh sketcher
		fi, fv, _ := fresh.sketch(k0, k1, text)
		if !slices.Equal(idx, fi) || !slices.Equal(val, fv) {
			t.Fatalf("a reused sketcher differs from a fresh one on %.20q", text)
		}
	}
}

func TestSketchTokens(t *testing.T) {
	salt := bytes.Repeat([]byte{9}, 32)
	// Case and punctuation do not matter; word order does (bigrams).
	a, av, _ := sketchOf(t, salt, "Hello, World!")
	b, bv, _ := sketchOf(t, salt, "hello world")
	if !slices.Equal(a, b) || !slices.Equal(av, bv) {
		t.Error("case or punctuation changed the sketch")
	}
	c, cv, _ := sketchOf(t, salt, "world hello")
	if slices.Equal(a, c) && slices.Equal(av, cv) {
		t.Error("word order did not change the sketch")
	}
	// One word: one token, one entry of magnitude 1.
	idx, val, words := sketchOf(t, salt, "  Word ")
	if words != 1 || len(idx) != 1 || math.Abs(float64(val[0])) != 1 {
		t.Errorf("sketch of one word = %v, %v (%d words)", idx, val, words)
	}
	// No words, no sketch.
	for _, text := range []string{"", "  ", "!?., --- ***", "\ufffd\ufffd"} {
		if idx, val, words := sketchOf(t, salt, text); idx != nil || val != nil || words != 0 {
			t.Errorf("sketch of %q = %v, %v, %d words; want none", text, idx, val, words)
		}
	}
	if got := countWords("it's a well-known fact: 42 is 4²"); got != 9 {
		t.Errorf("countWords = %d, want 9", got)
	}
}

// countWords returns the number of words of text, as sketch counts them: a second reading of
// the definition, to check sketch's count.
func countWords(text string) int {
	n, in := 0, false
	for _, r := range text {
		w := r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
		if w && !in {
			n++
		}
		in = w
	}
	return n
}
