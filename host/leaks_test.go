package host

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/sdk"
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

// TestLeakCheckCleared checks that the emission check skips exactly the strings a leaks query
// cleared for the same record: a string the query found leaking, or one it was never asked
// about, is still refused.
func TestLeakCheckCleared(t *testing.T) {
	view := &recordView{content: []contentValue{
		{path: "prompt", text: "please count the prompt_bytes of this secret-project-name text"},
	}}
	hits := queryLeaks(view, []string{"tool_response_bytes", "prompt_bytes", "secret-project-name", "short"})
	if want := []bool{false, true, true, false}; !slices.Equal(hits, want) {
		t.Fatalf("queryLeaks = %v, want %v", hits, want)
	}
	if want := []string{"tool_response_bytes"}; !slices.Equal(view.cleared, want) {
		t.Fatalf("cleared %q, want %q (leaking and short strings are not)", view.cleared, want)
	}
	emit := func(keys ...string) []sdk.Event {
		ev := sdk.Event{Kind: "transcript.user"}
		for _, k := range keys {
			ev.Attrs = append(ev.Attrs, sdk.Int(k, 1))
		}
		return []sdk.Event{ev}
	}
	if what, _, leaked := leakCheck(view, emit("tool_response_bytes")); leaked {
		t.Errorf("a cleared key refused: %s", what)
	}
	for _, keys := range [][]string{{"tool_response_bytes", "prompt_bytes"}, {"tool_response_bytes", "counttheprompt"}} {
		if _, _, leaked := leakCheck(view, emit(keys...)); !leaked {
			t.Errorf("emitting %q: not refused", keys)
		}
	}

	// The check really skips what was cleared: a leaking string planted among the cleared ones
	// (which only the check itself can put there) passes.
	view.cleared = append(view.cleared, "prompt_bytes")
	if _, _, leaked := leakCheck(view, emit("prompt_bytes")); leaked {
		t.Error("a cleared string was scanned for again")
	}

	// The strings kept are bounded.
	big := &recordView{content: view.content}
	for i := range 2 * maxClearedBytes / 20 {
		big.clear(fmt.Sprintf("harmless_key_%07d", i))
	}
	if big.clearedBytes > maxClearedBytes || len(big.cleared) != maxClearedBytes/20 {
		t.Errorf("kept %d strings, %d bytes, bound %d bytes", len(big.cleared), big.clearedBytes, maxClearedBytes)
	}
}

// TestIsAttrKey checks the hand-written attribute key check against the pattern it stands for.
func TestIsAttrKey(t *testing.T) {
	re := regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	keys := []string{"", "a", "z", "input_tokens", "cache_creation_5m_tokens", "_x", "9x", "Ab", "aB",
		"a-b", "a.b", "a b", "a\x00", "é", "a\n", strings.Repeat("a", 64), strings.Repeat("a", 65)}
	for c := range 256 {
		keys = append(keys, string([]byte{byte(c)}), "a"+string([]byte{byte(c)}))
	}
	for _, k := range keys {
		if got, want := isAttrKey(k), re.MatchString(k); got != want {
			t.Errorf("isAttrKey(%q) = %v, the pattern says %v", k, got, want)
		}
	}
}
