// Package canarytest finds a planted marker (a canary) in bytes, in the forms content takes when it
// leaks to disk: verbatim, hex-encoded, or base64-encoded (a []byte in JSON is base64) at any of
// the three byte alignments. The privacy tests plant canaries in every content field and look for
// them in every file and stored value with Find.
package canarytest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
)

// Forms returns the byte strings whose presence means mark is there: mark itself, its hex in
// lower and upper case, and, for standard and URL-safe base64 at each of the three alignments
// mark can have in an encoded run, the characters that mark's bytes alone determine. mark should
// be at least 8 bytes, so that no form is short enough to occur by chance.
func Forms(mark string) [][]byte {
	h := hex.EncodeToString([]byte(mark))
	forms := [][]byte{[]byte(mark), []byte(h), bytes.ToUpper([]byte(h))}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for pad := range 3 {
			s := enc.EncodeToString(append(make([]byte, pad), mark...))
			first := (pad*8 + 5) / 6          // the first character with no bit of the padding
			last := (pad + len(mark)) * 8 / 6 // past the last character with only mark's bits
			forms = append(forms, []byte(s[first:last]))
		}
	}
	return forms
}

// Finder looks for one mark in its forms.
type Finder struct{ forms [][]byte }

// NewFinder returns a Finder of mark.
func NewFinder(mark string) *Finder { return &Finder{forms: Forms(mark)} }

// Find returns the offset in b of the first form of the mark found, and the form's name ("plain",
// "hex", "base64"), or -1.
func (f *Finder) Find(b []byte) (int, string) {
	for i, form := range f.forms {
		if at := bytes.Index(b, form); at >= 0 {
			switch {
			case i == 0:
				return at, "plain"
			case i < 3:
				return at, "hex"
			default:
				return at, "base64"
			}
		}
	}
	return -1, ""
}
