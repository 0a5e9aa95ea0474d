package jsonwalk

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/tidwall/gjson"
)

// testTrees are the path sets the walk is checked with: hook fields, nested fields, paths through
// arrays and numeric keys, dashes, and paths no payload has.
var testTrees = [][]string{
	{"hook_event_name", "session_id", "tool_name", "tool_input", "prompt", "permission_mode"},
	{"tool_input.file_path", "tool_input.command", "tool_input", "tool_response.filePath", "tool_input.edits.0.old_string"},
	{"a.b.c", "a.b", "a.0", "a.x", "x-y", "0"},
	{"nope", "tool_input.nope.deeper", "prompt.deeper"},
}

// offPath are documents off the beaten path: duplicate keys, escapes, arrays, malformed JSON.
var offPath = []string{
	`{"prompt":"first prompt text here","prompt":"second prompt text here"}`,
	`{"tool_input":"not an object","tool_input":{"file_path":"/second/one.go"}}`,
	`{"tool_input":{"file_path":"/a.go"},"tool_input":{"file_path":"/b.go","command":"ls -la /tmp/x"}}`,
	`{"tool_in\u0070ut":{"file_path":"/escaped/key.go"},"session_id":"s-1234567890abcdef"}`,
	`{"tool_input":{"edits":[{"old_string":"alpha beta gamma delta","new_string":"x"}]}}`,
	`{"a":{"b":{"c":"deep value here ok"},"b":{"c":"second deep value"}},"0":"zero key value"}`,
	`{"a":[1,2,{"x":"in an array"}],"x-y":"dash key content here"}`,
	`{"a":{"b":false,"0":null,"x":-1.5e3},"x-y":true}`,
	`{"0000000000":00000 "tool_input":{"000000000":0"}}`,
	`{"tool_input":{"description":"d","n":1]},"prompt":"p"}`,
	`{"tool_input":{"description":"d","n":tru"e"}},"prompt":"p"}`,
	`{"prompt":"tab\there and\nnewline \u00e9 \ud83d\ude00 \"quoted words\" end","tool_input":{"k\u0065y with escapes long":"v","w":["\\", "\/"]}}`,
	`{"prompt":"unterminated`,
	`{"prompt":"a" "tool_input":{}}`,
	`{"tool_input":{"content":"a(b"},"prompt":"after paren"}`,
	`[{"prompt":"root array"}]`,
	`  junk {"prompt":"after junk"}`,
	`{"prompt":nul,"tool_input":tru}`,
	`{"tool_input":{"content":"x\q invalid escape then more text"}}`,
	`{}`, ``, `{`, `"`, `{"`, `{"a"`, `{"a":`, `{"a":"`, `{"a":{`,
}

// referenceEscaped is Escaped written the slow way: every string inside r, at any depth, keys
// included, whose text is not its raw text less the quotes.
func referenceEscaped(r gjson.Result, out []string) []string {
	differs := func(s gjson.Result) bool {
		return s.Type == gjson.String && (len(s.Raw) < 2 || s.Str != s.Raw[1:len(s.Raw)-1])
	}
	r.ForEach(func(k, v gjson.Result) bool {
		if differs(k) {
			out = append(out, k.Str)
		}
		switch {
		case differs(v):
			out = append(out, v.Str)
		case v.IsObject() || v.IsArray():
			out = referenceEscaped(v, out)
		}
		return true
	})
	return out
}

// checkWalk runs a walk of each test tree over doc and compares each value with gjson.Get's for
// its path, and the escaped strings of each container with referenceEscaped's.
func checkWalk(t *testing.T, doc []byte) {
	t.Helper()
	var w Walk
	for _, paths := range testTrees {
		var tree Tree
		slots := make([]int, len(paths))
		for i, p := range paths {
			slots[i] = tree.Add(p)
		}
		w.Run(&tree, doc)
		if len(w.Vals) != tree.Slots {
			t.Fatalf("%d values, want %d", len(w.Vals), tree.Slots)
		}
		var check func(nodes []*Node)
		check = func(nodes []*Node) {
			for _, n := range nodes {
				got, want := w.Vals[n.Slot], gjson.GetBytes(doc, n.path)
				if got.Type != want.Type || got.Raw != want.Raw || got.Str != want.Str || got.Index != want.Index {
					t.Fatalf("document %q, path %q:\n got  %s %q %q at %d\n want %s %q %q at %d",
						doc, n.path, got.Type, got.Raw, got.Str, got.Index, want.Type, want.Raw, want.Str, want.Index)
				}
				if got.IsObject() || got.IsArray() {
					if e, want := w.Escaped(&got), referenceEscaped(want, nil); !slices.Equal(e, want) {
						t.Fatalf("document %q, path %q: escaped strings %q, want %q", doc, n.path, e, want)
					}
				}
				check(n.Children)
			}
		}
		check(tree.Roots)
		for i, p := range paths {
			if n := tree.node(p); n == nil || n.Slot != slots[i] || !n.Leaf {
				t.Fatalf("node(%q) = %+v, want the leaf of slot %d", p, n, slots[i])
			}
		}
	}
}

// TestWalk checks the walk against gjson.Get over every fixture payload and the documents off the
// beaten path.
func TestWalk(t *testing.T) {
	for _, p := range hosttest.HookPayloads(t) {
		checkWalk(t, p)
	}
	for _, d := range offPath {
		checkWalk(t, []byte(d))
	}
}

// TestWalkMutated runs FuzzWalk's check over fixture payloads mutated at random (bytes flipped,
// JSON punctuation inserted, cut short), without the fuzzing engine.
func TestWalkMutated(t *testing.T) {
	payloads := hosttest.HookPayloads(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		p := hosttest.Mutate(rng, payloads[rng.IntN(len(payloads))])
		checkWalk(t, p)
	}
}

// FuzzWalk checks the walk against gjson.Get on any document, valid JSON or not: the same value
// for every path, the same escaped strings in every container, and no panic. It is seeded with
// hook payloads of the shared fixtures and the documents off the beaten path.
func FuzzWalk(f *testing.F) {
	for i, p := range hosttest.HookPayloads(f) {
		if i%25 == 0 {
			f.Add(p)
		}
	}
	for _, d := range offPath {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkWalk(t, doc)
	})
}

func TestTree(t *testing.T) {
	var tree Tree
	a, ab, abc, x := tree.Add("a.b.c"), tree.Add("a.b"), tree.Add("a.b.c"), tree.Add("x")
	if a != abc || ab == a || x == a || tree.Slots != 4 {
		t.Fatalf("slots a.b.c %d (again %d), a.b %d, x %d, %d in all; want a.b.c stable and 4 nodes (a, a.b, a.b.c, x)", a, abc, ab, x, tree.Slots)
	}
	if n := tree.node("a"); n == nil || n.Leaf || n.path != "a" || len(n.Children) != 1 {
		t.Errorf("node(a) = %+v, want an inner node with one child", n)
	}
	if n := tree.node("a.b"); n == nil || !n.Leaf || n.path != "a.b" || n.Name != "b" {
		t.Errorf("node(a.b) = %+v, want the leaf a.b", n)
	}
	if n := tree.node("a.c"); n != nil {
		t.Errorf("node(a.c) = %+v, want nil", n)
	}
}

// TestUnescapeMatchesGJSON: appendUnescaped decodes a string's content as gjson does, on random
// strings of escapes (good, bad, surrogate pairs and halves, cut short) and control bytes.
func TestUnescapeMatchesGJSON(t *testing.T) {
	parts := []string{`\`, `\\`, `\"`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\q`, `\u`, `\u00e9`, `\u00E9`,
		`\ud83d`, `\ude00`, `\ud83d\ude00`, `\uD83D\uDE00`, `\ud83d\u0041`, `\u12g4`, `\u+123`, `\u12`,
		"a", "bc", " ", "\x01", "\x1f", "\x7f", "é", "\xff"}
	rng := rand.New(rand.NewPCG(3, 4))
	compared := 0
	for range 20000 {
		var b strings.Builder
		for range 1 + rng.IntN(8) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		s := b.String()
		lit := `"` + s + `"`
		r := gjson.Parse(lit)
		if end, _, ok := skipString(lit, 0); !ok || end != len(lit) || !strings.Contains(s, `\`) {
			continue // not one string, or not decoded by gjson
		}
		if got := string(appendUnescaped(nil, s)); got != r.Str {
			t.Fatalf("appendUnescaped(%q) = %q, gjson %q", s, got, r.Str)
		}
		compared++
	}
	if compared < 5000 {
		t.Fatalf("%d strings compared, want at least 5000", compared)
	}
}

// TestPlainRun: plainRun, 8 bytes at a time, stops where a byte-by-byte scan stops.
func TestPlainRun(t *testing.T) {
	alphabet := []byte{0x00, 0x1f, ' ', '!', '[', '\\', ']', 'a', 0x7f, 0x80, 0xdc, 0xff}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = 'a'
			if rng.IntN(12) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		want := 0
		for want < len(b) && b[want] >= ' ' && b[want] != '\\' {
			want++
		}
		if got := plainRun(string(b)); got != want {
			t.Fatalf("plainRun(%q) = %d, want %d", b, got, want)
		}
	}
}
