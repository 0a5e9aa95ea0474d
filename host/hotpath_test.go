package host

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
	"github.com/tidwall/gjson"
)

// benchEvents returns the events capture-bench (testdata/capture-bench) emits for a payload.
func benchEvents(payload []byte) []sdk.Event {
	r := gjson.ParseBytes(payload)
	name := r.Get("hook_event_name").Str
	if name == "" {
		return nil
	}
	ev := sdk.Event{Kind: "hook." + name, SessionID: r.Get("session_id").Str}
	if tool := r.Get("tool_name").Str; tool != "" {
		ev.Attrs = append(ev.Attrs, sdk.Ident("tool_name", tool))
	}
	if mode := r.Get("permission_mode").Str; mode != "" {
		ev.Attrs = append(ev.Attrs, sdk.Ident("permission_mode", mode))
	}
	if in := r.Get("tool_input"); in.Exists() {
		keys := 0
		in.ForEach(func(_, _ gjson.Result) bool { keys++; return true })
		ev.Attrs = append(ev.Attrs, sdk.Int("tool_input_bytes", int64(len(in.Raw))), sdk.Int("tool_input_keys", int64(keys)))
		if ext := path.Ext(in.Get("file_path").Str); len(ext) > 1 && len(ext) <= 10 {
			ev.Attrs = append(ev.Attrs, sdk.Ident("file_ext", ext[1:]))
		}
	}
	return []sdk.Event{ev}
}

// hostSideRig is the input of the host-side benchmarks: the hook payloads as records, the
// events capture-bench emits for each, and its grants.
type hostSideRig struct {
	recs []Record
	evs  [][]sdk.Event
	g    Grants
}

// newHostSideRig loads the hook payloads and capture-bench's events and grants.
func newHostSideRig(b *testing.B) hostSideRig {
	b.Helper()
	payloads := hookPayloads(b)
	g, err := NewGrants(benchCaps)
	if err != nil {
		b.Fatal(err)
	}
	rig := hostSideRig{recs: make([]Record, len(payloads)), evs: make([][]sdk.Event, len(payloads)), g: g}
	for i, p := range payloads {
		rig.recs[i] = Record{ID: sdk.ID{byte(i), byte(i >> 8)}, Payload: p}
		rig.evs[i] = benchEvents(p)
	}
	return rig
}

// run times call over batches of 100 records, and reports ns/record (wall) and cpu-ns/record
// (the process's CPU time: steadier on a machine shared with other work).
func (rig hostSideRig) run(b *testing.B, call func(recs []Record, evs [][]sdk.Event)) {
	const batch = 100
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	n := 0
	for i := 0; i < b.N; i++ {
		lo := (i * batch) % (len(rig.recs) - batch)
		call(rig.recs[lo:lo+batch], rig.evs[lo:lo+batch])
		n += batch
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/record")
}

// BenchmarkHostSide measures the host's share of a capture call over real Claude Code hook
// payloads, in batches of 100, with capture-bench's grants (benchCaps): projecting the input and
// building the leak-check views (appendInput), then checking each record's events, as
// capture-bench emits them, for leaks (leakCheck). The guest's share is not included.
// BenchmarkHostSideLegacy runs the same over the code this replaced (legacy* below).
func BenchmarkHostSide(b *testing.B) {
	rig := newHostSideRig(b)
	pr := newProjector(rig.g)
	reads := make([]atomic.Int64, len(pr.content))
	input := make([]byte, 0, 64*100+16)
	rig.run(b, func(recs []Record, evs [][]sdk.Event) {
		var views []recordView
		input, views = pr.appendInput(input[:0], recs, reads)
		for k := range views {
			if what, _, leaked := leakCheck(&views[k], evs[k]); leaked {
				b.Fatalf("%s leaks", what)
			}
		}
	})
}

// BenchmarkHostSideLegacy is BenchmarkHostSide over the legacy code, for comparison.
func BenchmarkHostSideLegacy(b *testing.B) {
	rig := newHostSideRig(b)
	lp := newLegacyProjector(rig.g)
	input := make([]byte, 0, 64*100+16)
	rig.run(b, func(recs []Record, evs [][]sdk.Event) {
		var views []legacyView
		input, views = lp.appendInput(input[:0], recs, false)
		for k := range views {
			if what, _, leaked := legacyLeakCheck(&views[k], evs[k]); leaked {
				b.Fatalf("%s leaks", what)
			}
		}
	})
}

// walkGrants are grant sets the walk is checked against gjson.Get with: flat, nested, nested
// below content, through arrays, absent, and objects read whole with content below them.
var walkGrants = [][]string{
	benchCaps,
	{"read:payload.tool_input.file_path", "read:payload.session_id", "content:prompt"},
	{"read:payload.tool_response.success", "read:payload.tool_input.description", "content:tool_response", "content:tool_input"},
	{"read:payload.tool_input.command", "content:tool_input.content", "content:tool_input", "content:last_assistant_message"},
	{"read:payload.tool_input.edits.0.old_string", "read:payload.tool_response.filePath", "content:tool_input.edits"},
	{"read:payload.a.b.c", "read:payload.a.b", "read:payload.a.0", "content:a.x", "content:x-y"},
	{"read:payload.nope", "read:payload.tool_input.nope", "content:nope.deeper"},
	// Whole objects read, typed, with content below them.
	{"read:payload.tool_input", "read:payload.tool_response", "content:tool_input.content", "content:tool_input.command", "read:payload.session_id"},
}

// TestWalkMatchesGJSON: over every fixture payload and grant set, the one-pass projection is
// byte for byte the legacy one (gjson.Get per path), and, over one payload in eight (the legacy
// check is slow), the leak check decides as the legacy one on emitted strings taken from the
// content, from the read values, and at random.
func TestWalkMatchesGJSON(t *testing.T) {
	skipShort(t)
	payloads := hookPayloads(t)
	for _, caps := range walkGrants {
		t.Run(strings.Join(caps, ","), func(t *testing.T) {
			for i, p := range payloads {
				checkAgainstLegacy(t, caps, p, uint64(i), i%8 == 0)
			}
		})
	}
}

// FuzzWalk checks the one-pass projection and the leak check against the legacy code on any
// payload: valid JSON or not, the projection must be identical and the leak check must decide
// the same.
func FuzzWalk(f *testing.F) {
	for i, p := range hookPayloads(f) {
		if i%50 == 0 {
			f.Add(p)
		}
	}
	for _, s := range walkSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, caps := range walkGrants {
			checkAgainstLegacy(t, caps, payload, uint64(len(payload)), true)
		}
	})
}

// TestWalkMutated runs FuzzWalk's check over fixture payloads mutated at random (bytes
// flipped, JSON punctuation inserted, cut short), without the fuzzing engine.
func TestWalkMutated(t *testing.T) {
	skipShort(t)
	payloads := hookPayloads(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		p := hosttest.Mutate(rng, payloads[rng.IntN(len(payloads))])
		for _, caps := range walkGrants {
			checkAgainstLegacy(t, caps, p, uint64(i), i%4 == 0)
		}
	}
}

// walkSeeds are payloads off the beaten path: duplicates, escapes, arrays, malformed JSON.
var walkSeeds = []string{
	`{"prompt":"first prompt text here","prompt":"second prompt text here"}`,
	`{"tool_input":"not an object","tool_input":{"file_path":"/second/one.go"}}`,
	`{"tool_input":{"file_path":"/a.go"},"tool_input":{"file_path":"/b.go","command":"ls -la /tmp/x"}}`,
	`{"tool_in\u0070ut":{"file_path":"/escaped/key.go"},"session_id":"s-1234567890abcdef"}`,
	`{"tool_input":{"edits":[{"old_string":"alpha beta gamma delta","new_string":"x"}]}}`,
	`{"a":{"b":{"c":"deep value here ok"},"b":{"c":"second deep value"}},"0":"zero key value"}`,
	`{"a":[1,2,{"x":"in an array"}],"x-y":"dash key content here"}`,
	`{"a":{"b":false,"0":null,"x":-1.5e3},"x-y":true}`,
	`{"0000000000":00000 "tool_input":{"000000000":0"}}`, // found by FuzzWalk: a quote in a number
	`{"tool_input":{"description":"d","n":1]},"prompt":"p"}`,
	`{"tool_input":{"description":"d","n":tru"e"}},"prompt":"p"}`,
	`{"prompt":"tab\there and\nnewline \u00e9 \ud83d\ude00 \"quoted words\" end","tool_input":{"k\u0065y with escapes long":"v"}}`,
	`{"prompt":"unterminated`,
	`{"prompt":"a" "tool_input":{}}`,
	`{"prompt":1"x","tool_input":{"content":"(((("}}`,
	`{"tool_input":{"content":"a(b"},"prompt":"after paren"}`,
	`[{"prompt":"root array"}]`,
	`  junk {"prompt":"after junk"}`,
	`{"prompt":nul,"tool_input":tru}`,
	`{"prompt":-,"n":+1,"m":NaN}`,
	`{"tool_input":{"content":"x\q invalid escape then more text"}}`,
	`{"tool_input":{"content":"ctl ` + "\x01" + ` byte in a string here"}}`,
	`{}`, ``, `{`, `"`, `{"`, `{"a"`, `{"a":`, `{"a":"`, `{"a":{`,
}

// checkAgainstLegacy compares the projection, content views and read counts of one payload under
// caps with the legacy code's, and, if probe is set, the leak check's decisions.
func checkAgainstLegacy(t *testing.T, caps []string, payload []byte, seed uint64, probe bool) {
	t.Helper()
	g, err := NewGrants(caps)
	if err != nil {
		t.Fatal(err)
	}
	pr, lp := newProjector(g), newLegacyProjector(g)
	if got, want := pr.project(nil, payload), lp.project(nil, payload); !bytes.Equal(got, want) {
		t.Fatalf("payload %q\nprojection %s\nlegacy     %s", payload, got, want)
	}
	recs := []Record{{Payload: payload}}
	reads := make([]atomic.Int64, len(pr.content))
	in, views := pr.appendInput(nil, recs, reads)
	lin, lviews := lp.appendInput(nil, recs, true)
	if !bytes.Equal(in, lin) {
		t.Fatalf("payload %q: input %q, legacy %q", payload, in, lin)
	}
	if len(pr.content) == 0 {
		return
	}
	for j, path := range pr.content {
		want := int64(0)
		if gjson.GetBytes(payload, path).Exists() {
			want = 1
		}
		if got := reads[j].Load(); got != want {
			t.Fatalf("payload %q: %d reads of content %q, legacy %d", payload, got, path, want)
		}
	}
	if !probe {
		return
	}
	// The window's check (its pairs, then an exact scan) decides as the legacy check of the
	// record's content does, once the window holds just that content.
	win := &window{}
	defer win.free()
	for _, c := range views[0].content {
		win.absorb(c.text)
	}
	for _, probe := range leakProbes(&lviews[0], seed) {
		got, want := windowLeaksText(win, views[0].reads, probe), legacyLeaksText(lviews, probe, true)
		if got != want {
			t.Fatalf("payload %q: window check of %q = %v, legacy %v", payload, probe, got, want)
		}
		evs := []sdk.Event{{Kind: "k", Attrs: []sdk.Attr{sdk.Hash("h", []byte(probe))}}}
		_, gotPath, got := leakCheck(&views[0], evs)
		_, wantPath, want := legacyLeakCheck(&lviews[0], evs)
		if got != want || got && gotPath == "" {
			t.Fatalf("payload %q: leakCheck(%q) = %v in %q, legacy %v in %q", payload, probe, got, gotPath, want, wantPath)
		}
	}
}

// leakProbes returns strings to check for leaks in a view: runs of its content texts (verbatim,
// with whitespace removed, with a byte changed, and straddling whitespace), its read values with
// content around them, and random strings.
func leakProbes(v *legacyView, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []string
	for _, c := range v.content {
		texts := []string{string(c.text), string(legacyStripSpace(c.text))}
		for _, s := range texts {
			if len(s) < leakWindow {
				out = append(out, s)
				continue
			}
			for range 4 {
				n := leakWindow + rng.IntN(8)
				k := rng.IntN(len(s) - leakWindow + 1)
				run := s[k:min(k+n, len(s))]
				out = append(out, run, "x"+run+"y")
				b := []byte(run)
				b[rng.IntN(len(b))] ^= 0x20
				out = append(out, string(b))
			}
			if k := strings.IndexAny(s, " \t\n\r\v\f"); k >= 0 {
				out = append(out, s[max(0, k-6):min(len(s), k+7)], s[max(0, k-10):min(len(s), k+3)])
			}
		}
	}
	for _, r := range v.reads {
		out = append(out, r, "pre_"+r+"_post_more_bytes", r[:len(r)-1])
	}
	for range 4 {
		b := make([]byte, leakWindow+rng.IntN(20))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		out = append(out, string(b))
	}
	return out
}

// TestLeakShortcuts covers each shortcut the leak check takes, on views built by appendInput
// from payloads: every case must decide as the legacy code (with escaped keys) and as wanted.
func TestLeakShortcuts(t *testing.T) {
	tests := []struct {
		name    string
		caps    []string
		payload string
		emit    sdk.Attr
		want    bool
	}{
		// Strings with escapes get a pass of their own, unescaped: the raw JSON does not hold it.
		{"in an escaped string", []string{"content:tool_input"},
			`{"tool_input":{"command":"echo \"s3cret_token_abc\" > out"}}`, sdk.Ident("v", `echo"s3cret_t`), true},
		{"in a unicode escape", []string{"content:tool_input"},
			`{"tool_input":{"command":"\u0073ecret_project_name"}}`, sdk.Ident("v", "secret_project"), true},
		{"in an escaped key", []string{"content:tool_input"},
			`{"tool_input":{"\u0073ecret_project_name":1}}`, sdk.Ident("v", "secret_project"), true},
		{"in an unescaped string of an escaped container", []string{"content:tool_input"},
			`{"tool_input":{"a":"x\ny","b":"plain_secret_value"}}`, sdk.Ident("v", "plain_secret"), true},
		{"raw escape text itself", []string{"content:tool_input"},
			`{"tool_input":{"a":"line_one_abc\nline_two"}}`, sdk.Ident("v", `abc\nline_tw`), true},
		// Whitespace is removed from content (identifiers cannot hold it).
		{"across an escaped newline", []string{"content:tool_input"},
			`{"tool_input":{"content":"line_one_abc\nline_two_def"}}`, sdk.Ident("v", "line_one_abcline_two"), true},
		{"across spaces", []string{"content:prompt"},
			`{"prompt":"please refactor the payment module"}`, sdk.Ident("v", "refactorthepayment"), true},
		{"across spaces of a container", []string{"content:tool_input"},
			`{"tool_input":{"command":"git commit -m fixes"}}`, sdk.Ident("v", "gitcommit-mfix"), true},
		// Hash values may hold whitespace: windows holding it are matched verbatim.
		{"hash with spaces", []string{"content:prompt"},
			`{"prompt":"pay the bill now please"}`, sdk.Hash("h", []byte("the bill now")), true},
		{"hash with a tab", []string{"content:tool_input"},
			`{"tool_input":{"c":"a\tbcdefghijklm"}}`, sdk.Hash("h", []byte("a\tbcdefghijk")), true},
		{"hash with other spacing", []string{"content:prompt"},
			`{"prompt":"pay the bill now please"}`, sdk.Hash("h", []byte("the  bill now")), false},
		{"hash without spaces", []string{"content:prompt"},
			`{"prompt":"pay the bill now please"}`, sdk.Hash("h", []byte("thebillnowpl")), true},
		// Granted read values may be emitted, even when the content holds them.
		{"granted read value", []string{"read:payload.session_id", "content:prompt"},
			`{"session_id":"abcdef-0123456789","prompt":"my session is abcdef-0123456789"}`, sdk.Ident("v", "abcdef-0123456789"), false},
		{"granted read value and more", []string{"read:payload.session_id", "content:prompt"},
			`{"session_id":"abcdef-0123456789","prompt":"tell me about my session abcdef-0123456789"}`, sdk.Ident("v", "aboutmysessionabcdef-0123456789"), true},
		{"nested read inside content, and more", []string{"read:payload.tool_input.description", "content:tool_input"},
			`{"tool_input":{"description":"list_the_files_ok","command":"ls_-la_secret_dir"}}`, sdk.Ident("v", "list_the_files_okls_-la_secret"), true},
		{"nested read inside content, granted", []string{"read:payload.tool_input.description", "content:tool_input"},
			`{"tool_input":{"description":"list_the_files_ok","command":"ls -la"}}`, sdk.Ident("v", "list_the_files_ok"), false},
		// Duplicate keys: the plugin is shown the first, as gjson.Get finds it.
		{"duplicate key, first", []string{"content:prompt"},
			`{"prompt":"first_prompt_text","prompt":"second_prompt_text"}`, sdk.Ident("v", "first_prompt_t"), true},
		{"duplicate key, second", []string{"content:prompt"},
			`{"prompt":"first_prompt_text","prompt":"second_prompt_text"}`, sdk.Ident("v", "second_prompt_t"), false},
		{"missing field", []string{"content:prompt"},
			`{"other":"some_other_long_text"}`, sdk.Ident("v", "some_other_long_text"), false},
		{"short overlap", []string{"content:prompt"},
			`{"prompt":"payment_module"}`, sdk.Ident("v", "payment_mod"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewGrants(tt.caps)
			if err != nil {
				t.Fatal(err)
			}
			recs := []Record{{Payload: []byte(tt.payload)}}
			_, views := newProjector(g).appendInput(nil, recs, make([]atomic.Int64, len(tt.caps)))
			_, lviews := newLegacyProjector(g).appendInput(nil, recs, true)
			evs := []sdk.Event{{Kind: "hook.Test", Attrs: []sdk.Attr{tt.emit}}}
			what, _, got := leakCheck(&views[0], evs)
			_, _, legacy := legacyLeakCheck(&lviews[0], evs)
			if got != tt.want || legacy != tt.want {
				t.Fatalf("leakCheck = %v (%s), legacy %v, want %v", got, what, legacy, tt.want)
			}
			if got && what != "event 0 attribute 0" {
				t.Fatalf("leakCheck names %q, want event 0 attribute 0", what)
			}
		})
	}
}

// TestLeakIndexWindows: the index's small list and map agree, and each window is found with the
// label of the last string that holds it.
func TestLeakIndexWindows(t *testing.T) {
	content := []contentValue{{"p", strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", 8)}}
	for _, n := range []int{1, maxSmallWindows, maxSmallWindows + 1, 5 * maxSmallWindows} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var idx leakIndex
			for i := range n {
				s := fmt.Sprintf("zz%010d", i) // one window each, none in the content
				idx.add(s, leakLabel{event: int32(i), part: partKind})
			}
			idx.add("mnopqrstuvwx", leakLabel{event: 7, attr: 1, part: partValue})
			idx.add("mnopqrstuvwx", leakLabel{event: 8, attr: 2, part: partValue})
			l, path, ok := idx.scan(content)
			if !ok || path != "p" || l.String() != "event 8 attribute 2" {
				t.Fatalf("scan = %v %q %q, want event 8 attribute 2 in p", ok, path, l)
			}
			for i := range n {
				var k [leakWindow]byte
				copy(k[:], fmt.Sprintf("zz%010d", i))
				if l, ok := idx.plain.find(binary.LittleEndian.Uint64(k[:]), binary.LittleEndian.Uint32(k[8:])); !ok || l.event != int32(i) {
					t.Fatalf("window %d: find = %v %v", i, l, ok)
				}
			}
		})
	}
}

// BenchmarkLeakScan measures the leak check's scan of content per byte, with no window found.
func BenchmarkLeakScan(b *testing.B) {
	text := strings.Repeat(`{"command":"git log --oneline -n 20 | head","description":"Show recent commits"}`, 50)
	var idx leakIndex
	idx.add("hook.PreToolUse", leakLabel{part: partKind})
	idx.add("tool_input_bytes", leakLabel{part: partKey})
	idx.add("permission_mode", leakLabel{part: partKey})
	content := []contentValue{{"tool_input", text}}
	b.SetBytes(int64(len(text)))
	cpu0 := cpuTime()
	for range b.N {
		if _, _, ok := idx.scan(content); ok {
			b.Fatal("leak")
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*len(text)), "cpu-ns/byte")
}

// The legacy code below is the projection and leak check as they were before the one-pass walk
// (gjson.Get per granted path, and every window compared verbatim and with whitespace removed),
// kept as the reference the tests above compare with. legacyView's appendStrings also keeps the
// text of escaped object keys, which the new code adds (a stricter check), so that the two decide
// alike.

// legacyProjector is the projector before the one-pass walk.
type legacyProjector struct {
	root    []*legacyNode
	reads   []string
	content []string
}

// legacyNode is a legacy projector's node.
type legacyNode struct {
	name     string
	path     string
	leaf     bool
	content  bool     // a content path ends here
	inner    []string // for a read leaf, the content paths below it
	children []*legacyNode
}

// newLegacyProjector returns the legacy projector of a plugin's grants.
func newLegacyProjector(g Grants) *legacyProjector {
	pr := &legacyProjector{}
	add := func(path string) {
		nodes := &pr.root
		parts := strings.Split(path, ".")
		for i, name := range parts {
			var n *legacyNode
			for _, c := range *nodes {
				if c.name == name {
					n = c
				}
			}
			if n == nil {
				n = &legacyNode{name: name, path: strings.Join(parts[:i+1], ".")}
				*nodes = append(*nodes, n)
			}
			if n.leaf {
				return
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
	var mark func(nodes []*legacyNode)
	mark = func(nodes []*legacyNode) {
		for _, n := range nodes {
			for _, c := range pr.content {
				if c == n.path {
					n.content = true
				} else if strings.HasPrefix(c, n.path+".") {
					n.inner = append(n.inner, c)
				}
			}
			mark(n.children)
		}
	}
	mark(pr.root)
	return pr
}

// project appends the legacy projection of a record's payload to b.
func (pr *legacyProjector) project(b, payload []byte) []byte {
	b = append(b, '{')
	b, _ = legacyAppendNodes(b, payload, pr.root)
	return append(b, '}')
}

// legacyAppendNodes appends the members of nodes found in payload, each by gjson.GetBytes.
func legacyAppendNodes(b, payload []byte, nodes []*legacyNode) ([]byte, bool) {
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
			if n.content {
				b = append(b, v.Raw...)
			} else {
				var inner []gjson.Result
				for _, c := range n.inner {
					if r := gjson.GetBytes(payload, c); r.Exists() {
						inner = append(inner, r)
					}
				}
				b = append(b, referenceTyped(v, inner)...)
			}
			any = true
			continue
		}
		b = append(b, '{')
		var some bool
		b, some = legacyAppendNodes(b, payload, n.children)
		if !some {
			b = b[:mark]
			continue
		}
		b = append(b, '}')
		any = true
	}
	return b, any
}

// legacyView is a legacy record view.
type legacyView struct {
	content []legacyContent
	reads   []string
}

// legacyContent is a legacy content value.
type legacyContent struct {
	path string
	text []byte
}

// appendInput is the legacy appendInput; keys adds the text of escaped object keys to views.
func (pr *legacyProjector) appendInput(b []byte, recs []Record, keys bool) ([]byte, []legacyView) {
	payloads := make([][]byte, len(recs))
	buf := make([]byte, 0, 256*len(recs))
	start := make([]int, len(recs)+1)
	for i := range recs {
		start[i] = len(buf)
		buf = pr.project(buf, recs[i].Payload)
	}
	start[len(recs)] = len(buf)
	for i := range recs {
		payloads[i] = buf[start[i]:start[i+1]]
	}
	b = abi.AppendInput(b, payloads)
	if len(pr.content) == 0 {
		return b, nil
	}
	views := make([]legacyView, len(recs))
	for i := range recs {
		v := &views[i]
		for _, path := range pr.content {
			r := gjson.GetBytes(recs[i].Payload, path)
			if !r.Exists() {
				continue
			}
			v.content = legacyAppendContent(v.content, path, r, keys)
		}
		for _, path := range pr.reads {
			if r := gjson.GetBytes(recs[i].Payload, path); r.Type == gjson.String && len(r.Str) >= leakWindow && referenceIdent.MatchString(r.Raw) {
				v.reads = append(v.reads, r.Str)
			}
		}
	}
	return b, views
}

// legacyAppendContent adds a content value: a string's text, or a container's raw JSON and
// every string inside it.
func legacyAppendContent(out []legacyContent, path string, r gjson.Result, keys bool) []legacyContent {
	switch {
	case r.Type == gjson.String:
		return append(out, legacyContent{path, []byte(r.Str)})
	case r.IsObject() || r.IsArray():
		out = append(out, legacyContent{path, []byte(r.Raw)})
		return legacyAppendStrings(out, path, r, keys)
	default:
		return append(out, legacyContent{path, []byte(r.Raw)})
	}
}

// legacyAppendStrings adds every string inside a container, at any depth (and, with keys, the
// text of escaped keys).
func legacyAppendStrings(out []legacyContent, path string, r gjson.Result, keys bool) []legacyContent {
	r.ForEach(func(k, v gjson.Result) bool {
		if keys && k.Type == gjson.String && k.Str != k.Raw[1:len(k.Raw)-1] {
			out = append(out, legacyContent{path, []byte(k.Str)})
		}
		switch {
		case v.Type == gjson.String:
			out = append(out, legacyContent{path, []byte(v.Str)})
		case v.IsObject() || v.IsArray():
			out = legacyAppendStrings(out, path, v, keys)
		}
		return true
	})
	return out
}

// legacyLeakCheck is the legacy leakCheck.
func legacyLeakCheck(view *legacyView, evs []sdk.Event) (what, path string, leaked bool) {
	if len(view.content) == 0 {
		return "", "", false
	}
	var idx legacyLeakIndex
	for j := range evs {
		ev := &evs[j]
		idx.add(view, ev.Kind, func() string { return fmt.Sprintf("event %d kind", j) })
		idx.add(view, ev.SessionID, func() string { return fmt.Sprintf("event %d session id", j) })
		for k, a := range ev.Attrs {
			idx.add(view, a.Key, func() string { return fmt.Sprintf("event %d attribute %d key", j, k) })
			switch a.Value.Kind() {
			case sdk.KindIdent:
				idx.add(view, a.Value.Ident(), func() string { return fmt.Sprintf("event %d attribute %d", j, k) })
			case sdk.KindHash:
				idx.add(view, string(a.Value.Hash()), func() string { return fmt.Sprintf("event %d attribute %d", j, k) })
			}
		}
	}
	return idx.scan(view.content)
}

// windowLeaksText reports whether any part of s between the granted read values leaks from the
// window (the gate also exempts parts inside a read value, which the legacy check did not).
func windowLeaksText(w *window, reads []string, s string) bool {
	var segs []string
	splitReads(reads, s, func(seg string) { segs = append(segs, seg) })
	for _, hit := range (&Plugin{}).windowLeaks(w, segs, false) {
		if hit {
			return true
		}
	}
	return false
}

// legacyLeaksText is the legacy leak check of a text (a log line, a kv value) against the
// content of the call's records.
func legacyLeaksText(views []legacyView, s string, inner bool) bool {
	for i := range views {
		idx := legacyLeakIndex{inner: inner}
		idx.add(&views[i], s, func() string { return "" })
		if _, _, ok := idx.scan(views[i].content); ok {
			return true
		}
	}
	return false
}

// legacyLeakIndex is the legacy leak index: a map of every window, and a bitmap of their hashes.
type legacyLeakIndex struct {
	bits    [64]uint64
	windows map[[leakWindow]byte]int
	labels  []func() string
	// inner leaves out the verbatim windows that start or end with whitespace, as the window
	// check does (eachWindow).
	inner bool
}

// legacyWindowHash is the legacy hash of the window at the start of w.
func legacyWindowHash(w []byte) uint32 {
	a := binary.LittleEndian.Uint64(w)
	b := binary.LittleEndian.Uint32(w[8:])
	return uint32(((a ^ uint64(b)*0x9e3779b97f4a7c15) * 0xff51afd7ed558ccd) >> 52)
}

// add indexes the windows of s, and of s without whitespace, minus the granted read values.
func (x *legacyLeakIndex) add(view *legacyView, s string, label func() string) {
	if len(s) < leakWindow {
		return
	}
	segs := []string{s}
	for _, r := range view.reads {
		var next []string
		for _, seg := range segs {
			for {
				k := strings.Index(seg, r)
				if k < 0 {
					break
				}
				next = append(next, seg[:k])
				seg = seg[k+len(r):]
			}
			next = append(next, seg)
		}
		segs = next
	}
	id := -1
	for _, seg := range segs {
		for v, t := range [2][]byte{[]byte(seg), legacyStripSpace([]byte(seg))} {
			for k := 0; k+leakWindow <= len(t); k++ {
				if x.inner && v == 0 && (isSpace(t[k]) || isSpace(t[k+leakWindow-1])) {
					continue
				}
				if id < 0 {
					id = len(x.labels)
					x.labels = append(x.labels, label)
				}
				if x.windows == nil {
					x.windows = map[[leakWindow]byte]int{}
				}
				x.windows[[leakWindow]byte(t[k:k+leakWindow])] = id
				h := legacyWindowHash(t[k:])
				x.bits[h>>6] |= 1 << (h & 63)
			}
		}
	}
}

// scan looks for an indexed window in the content, verbatim and without whitespace.
func (x *legacyLeakIndex) scan(content []legacyContent) (what, path string, leaked bool) {
	if len(x.windows) == 0 {
		return "", "", false
	}
	for _, c := range content {
		for _, t := range [2][]byte{c.text, legacyStripSpace(c.text)} {
			for k := 0; k+leakWindow <= len(t); k++ {
				h := legacyWindowHash(t[k:])
				if x.bits[h>>6]&(1<<(h&63)) == 0 {
					continue
				}
				if id, ok := x.windows[[leakWindow]byte(t[k:k+leakWindow])]; ok {
					return x.labels[id](), c.path, true
				}
			}
		}
	}
	return "", "", false
}

// legacyStripSpace returns b without ASCII whitespace.
func legacyStripSpace(b []byte) []byte {
	n := 0
	for _, c := range b {
		if isSpace(c) {
			n++
		}
	}
	if n == 0 {
		return b
	}
	out := make([]byte, 0, len(b)-n)
	for _, c := range b {
		if !isSpace(c) {
			out = append(out, c)
		}
	}
	return out
}

// TestScanVerbatim checks the verbatim scan against strings.Contains over random texts and
// windows of a small alphabet (with whitespace, so that matches are frequent), at every
// position, the first and last included.
func TestScanVerbatim(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	const alphabet = "ab \t"
	random := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		w := random(leakWindow)
		var s windowSet
		var lo uint64
		var hi uint32
		for i := range len(w) {
			lo, hi = push(lo, hi, w[i])
		}
		s.add(lo, hi, leakLabel{event: 3, part: partValue})
		text := random(rng.IntN(40))
		if rng.IntN(4) == 0 && len(text) >= leakWindow { // plant it, at any position
			at := rng.IntN(len(text) - leakWindow + 1)
			text = text[:at] + w + text[at+leakWindow:]
		}
		l, got := s.scanVerbatim(text)
		if want := strings.Contains(text, w); got != want || got && l.event != 3 {
			t.Fatalf("scanVerbatim(%q) for %q = %v %v, want %v", text, w, l, got, want)
		}
	}
}
