package host

import (
	"errors"
	"strings"
	"testing"
)

const insightManifest = `
name = "tool-errors"
version = "0.1.0"
kind = "insight"
abi = 1
wasm = "tool-errors.wasm"
sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
capabilities = ["read:derived:metrics.1d", "kv"]

[messages.tool_errors_rising]
title = "{tool} fails more often: {error_pct}% of its calls this week"
suggestion = "Look at why {tool} fails in session {session_1}."
`

func TestManifestMessages(t *testing.T) {
	m, err := DecodeManifest([]byte(insightManifest))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	msg, ok := m.Messages["tool_errors_rising"]
	if !ok || msg.Title == "" || msg.Suggestion == "" {
		t.Fatalf("messages = %+v", m.Messages)
	}
	got := ExpandMessage(msg.Suggestion, func(attr string) (string, bool) {
		if attr == "tool" {
			return "Bash", true
		}
		return "", false
	})
	if want := "Look at why Bash fails in session {session_1}."; got != want {
		t.Errorf("ExpandMessage = %q, want %q", got, want)
	}
}

func TestManifestMessagesInvalid(t *testing.T) {
	long := strings.Repeat("x", MaxMessageTitle+1)
	tests := []struct {
		name, edit, want string
	}{
		{"capture plugin", `kind = "capture"` + "\nplatform = \"p\"\nemits = [\"a\"]\n", "only for insight"},
		{"enrich plugin", `kind = "enrich"`, "only for insight"},
		{"bad code", `[messages.Bad_Code]`, "messages.Bad_Code"},
		{"no title", `title = ""`, "no title"},
		{"long title", `title = "` + long + `"`, "at most 120"},
		{"newline", `title = "one\ntwo"`, "one line"},
		{"unclosed placeholder", `title = "rate {error_pct"`, `"{" opens no placeholder`},
		{"stray brace", `title = "rate } here"`, `"}" closes no placeholder`},
		{"placeholder not a key", `title = "{Tool Name}"`, "placeholder {Tool Name}"},
		{"empty placeholder", `suggestion = "{}"`, "placeholder {}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := insightManifest
			switch {
			case strings.HasPrefix(tc.edit, "kind"):
				src = strings.Replace(src, `kind = "insight"`, tc.edit, 1)
				caps := `capabilities = ["emit:events"]`
				if strings.Contains(tc.edit, "enrich") {
					caps = `capabilities = ["read:events", "emit:derived:x"]`
				}
				src = strings.Replace(src, `capabilities = ["read:derived:metrics.1d", "kv"]`, caps, 1)
			case strings.HasPrefix(tc.edit, "[messages"):
				src = strings.Replace(src, "[messages.tool_errors_rising]", tc.edit, 1)
			case strings.HasPrefix(tc.edit, "title"):
				src = strings.Replace(src, `title = "{tool} fails more often: {error_pct}% of its calls this week"`, tc.edit, 1)
			default:
				src = strings.Replace(src, `suggestion = "Look at why {tool} fails in session {session_1}."`, tc.edit, 1)
			}
			m, err := DecodeManifest([]byte(src))
			if err == nil {
				err = m.Validate()
			}
			if !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an ErrManifest containing %q", err, tc.want)
			}
		})
	}
}

func TestExpandMessage(t *testing.T) {
	vals := map[string]string{"tool": "Bash", "n": "3"}
	value := func(a string) (string, bool) { v, ok := vals[a]; return v, ok }
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"{tool}", "Bash"},
		{"{tool} failed {n} times, {missing}", "Bash failed 3 times, {missing}"},
		{"not checked { here", "not checked { here"},
	}
	for _, tc := range tests {
		if got := ExpandMessage(tc.in, value); got != tc.want {
			t.Errorf("ExpandMessage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
