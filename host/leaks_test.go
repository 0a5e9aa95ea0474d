package host

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestLeakHits checks the leaks host function's answer against the leak check itself: a string
// is reported exactly when an emission carrying it would be refused.
func TestLeakHits(t *testing.T) {
	view := &recordView{
		content: []contentValue{
			{path: "prompt", text: "please count the prompt_bytes of this secret-project-name text"},
			{path: "tool_input", text: `{"command":"rm -rf /home/someone/very-private-dir"}`},
		},
		reads: []string{"claude-sonnet-4-5-20250929"},
	}
	tests := []struct {
		name string
		ss   []string
		want []bool
	}{
		{"nothing", nil, []bool{}},
		{"fixed words", []string{"transcript.usage", "tool_response_bytes"}, []bool{false, false}},
		{"a key the prompt says", []string{"prompt_bytes", "prompt_words"}, []bool{true, false}},
		{"content with its spaces removed", []string{"counttheprompt"}, []bool{true}},
		{"a piece of a path", []string{"xx/very-private-dir"}, []bool{true}},
		{"a granted read value", []string{"claude-sonnet-4-5-20250929"}, []bool{false}},
		{"shorter than a window", []string{"secret-proj"}, []bool{false}},
		{"several hits among misses", []string{"ok_key_number_one", "secret-project-name", "another_fine_key", "someone/very"}, []bool{false, true, false, true}},
		{"the same leak twice", []string{"prompt_bytes", "prompt_bytes"}, []bool{true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := leakHits(view, tt.ss)
			if !slices.Equal(got, tt.want) {
				t.Errorf("leakHits(%q) = %v, want %v", tt.ss, got, tt.want)
			}
			for k, s := range tt.ss { // the same answer as the check of an emission
				idx := leakIndex{reads: view.reads}
				idx.add(s, leakLabel{part: partText})
				if _, _, leaked := idx.scan(view.content); leaked != got[k] {
					t.Errorf("string %d: leakHits says %v, the leak check %v", k, got[k], leaked)
				}
			}
		})
	}
	if got := leakHits(nil, []string{"prompt_bytes"}); !slices.Equal(got, []bool{false}) {
		t.Errorf("without content grants: %v, want nothing leaking", got)
	}
}

// TestLeakHitsRounds checks that a query with more leaking strings than maxLeakRounds scans is
// answered safely: every string reported as leaking.
func TestLeakHitsRounds(t *testing.T) {
	var text strings.Builder
	var ss []string
	for k := range maxLeakRounds + 4 {
		s := fmt.Sprintf("leaking_string_%03d", k)
		text.WriteString(s + " ")
		ss = append(ss, s)
	}
	ss = append(ss, "not_in_the_content")
	got := leakHits(&recordView{content: []contentValue{{path: "prompt", text: text.String()}}}, ss)
	for k, hit := range got {
		if !hit {
			t.Errorf("string %d reported clear after the rounds were spent", k)
		}
	}
}

func TestDecodeLeakQuery(t *testing.T) {
	var q []byte
	for _, s := range []string{"a", "", "prompt_bytes"} {
		q = binary.AppendUvarint(q, uint64(len(s)))
		q = append(q, s...)
	}
	got, err := decodeLeakQuery(q)
	if err != nil || !slices.Equal(got, []string{"a", "", "prompt_bytes"}) {
		t.Errorf("decodeLeakQuery = %q, %v", got, err)
	}
	for name, bad := range map[string][]byte{
		"length past the end": {5, 'a', 'b'},
		"truncated length":    {0x80},
		"huge length":         binary.AppendUvarint(nil, 1<<62),
	} {
		if _, err := decodeLeakQuery(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
