package host

import (
	"strings"

	"github.com/hangar-dev/hangar/sdk"
	"testing"
)

func TestProject(t *testing.T) {
	payload := []byte(`{"session_id":"s1","tool_name":"Read","tool_input":{"file_path":"/a/b.go","limit":10},"prompt":"hi there","n":3}`)
	tests := []struct {
		name string
		caps []string
		want string
	}{
		{"nothing granted", nil, `{}`},
		{"one field", []string{"read:payload.tool_name"}, `{"tool_name":"Read"}`},
		{"nested keeps nesting", []string{"read:payload.tool_input.limit", "read:payload.session_id"}, `{"tool_input":{"limit":10},"session_id":"s1"}`},
		{"a path read is withheld", []string{"read:payload.tool_input.file_path", "read:payload.session_id"}, `{"tool_input":{"file_path":"<withheld>"},"session_id":"s1"}`},
		{"an object read is typed", []string{"read:payload.tool_input", "read:payload.prompt"}, `{"tool_input":{"file_path":"<withheld>","limit":10},"prompt":"<withheld>"}`},
		{"missing omitted", []string{"read:payload.nope", "read:payload.tool_input.nope", "read:payload.n"}, `{"n":3}`},
		{"content and read", []string{"read:payload.tool_input.limit", "content:tool_input", "content:prompt"}, `{"tool_input":{"file_path":"/a/b.go","limit":10},"prompt":"hi there"}`},
		{"grant order, not payload order", []string{"read:payload.n", "read:payload.tool_input.limit", "read:payload.session_id"}, `{"n":3,"tool_input":{"limit":10},"session_id":"s1"}`},
		{"read below content", []string{"read:payload.tool_input.file_path", "content:tool_input"}, `{"tool_input":{"file_path":"/a/b.go","limit":10}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewGrants(tt.caps)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(newProjector(g).project(nil, payload)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLeakCheck(t *testing.T) {
	view := &recordView{
		content: []contentValue{{"prompt", "Please refactor the payment module"}},
		reads:   []string{"UserPromptSubmit-session"},
	}
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"verbatim", "ref:the payment module", true},
		{"spaces removed", "Pleaserefactorthepayment", true},
		{"short overlap", "payment_mod", false},
		{"unrelated", "Read", false},
		{"granted read value", "hook.UserPromptSubmit-session", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := leakIndex{reads: view.reads}
			idx.add(tt.s, leakLabel{part: partText})
			if _, _, got := idx.scan(view.content); got != tt.want {
				t.Errorf("leak(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

// TestLeakCheckEvents: content is refused wherever an event carries it, attribute keys included,
// and the refusal names the place by position, never by the (plugin-chosen) key.
func TestLeakCheckEvents(t *testing.T) {
	view := &recordView{content: []contentValue{{"prompt", "fix the login_handler_timeout please"}}}
	tests := []struct {
		name  string
		attrs []sdk.Attr
		want  string // "" for no leak
	}{
		{"clean", []sdk.Attr{sdk.Int("prompt_bytes", 36), sdk.Ident("tool_name", "Bash")}, ""},
		{"in a value", []sdk.Attr{sdk.Ident("word", "login_handler_timeout")}, "event 0 attribute 0"},
		{"in a key", []sdk.Attr{sdk.Int("prompt_bytes", 1), sdk.Int("login_handler_timeout", 1)}, "event 0 attribute 1 key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := []sdk.Event{{Kind: "hook.UserPromptSubmit", Attrs: tt.attrs}}
			what, path, leaked := leakCheck(view, evs)
			if got := map[bool]string{true: what, false: ""}[leaked]; got != tt.want {
				t.Fatalf("leakCheck = %q (leaked %v), want %q", what, leaked, tt.want)
			}
			if leaked && (path != "prompt" || strings.Contains(what, "login")) {
				t.Fatalf("leakCheck = %q in %q: must name the place, not quote content", what, path)
			}
		})
	}
}
