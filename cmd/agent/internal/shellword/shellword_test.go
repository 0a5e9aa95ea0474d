package shellword

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestQuote checks that quoted paths read back unchanged, both by a real shell and by Split.
func TestQuote(t *testing.T) {
	paths := []string{
		"/opt/hangar/bin/agent", "/Users/Jane Doe/bin/agent", "/tmp/it's/agent", `/tmp/back\slash/agent`,
		"/tmp/$HOME/agent", "/tmp/`x`/agent", "/tmp/a;b/agent", "/tmp/ünï cödé/agent", `/tmp/"q"/agent`, "/tmp/*/agent", "",
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("the hook's command runs through sh: %v", err)
	}
	for _, p := range paths {
		q := Quote(p)
		if got, ok := Split(q + " x"); !ok || !slices.Equal(got, []string{p, "x"}) {
			t.Errorf("Split(%q) = %q, %v; want %q", q+" x", got, ok, []string{p, "x"})
		}
		out, err := exec.Command(sh, "-c", `printf '%s\n' `+q).Output()
		if err != nil || string(out) != p+"\n" {
			t.Errorf("sh read %q as %q (%v), want %q", q, out, err, p)
		}
	}
	if got := Quote("/opt/hangar/bin/agent"); got != "/opt/hangar/bin/agent" {
		t.Errorf("a plain path is quoted: %s", got)
	}
}

// TestSplit pins down what is one simple command and how its words are read.
func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string // nil: not one simple command
	}{
		{"agent hook claude-code", []string{"agent", "hook", "claude-code"}},
		{"  agent\thook  claude-code ", []string{"agent", "hook", "claude-code"}},
		{`'my tools/agent' "hook" claude\-code`, []string{"my tools/agent", "hook", "claude-code"}},
		{`"a \"b\" \$c \d"`, []string{`a "b" $c \d`}},
		{`a''b`, []string{"ab"}},
		{"", []string{}},
		{"a || b", nil},
		{"a; b", nil},
		{"a > f", nil},
		{"a &", nil},
		{"$(a) b", nil},
		{"a\nb", nil},
		{"'open", nil},
		{`"open`, nil},
		{`trailing\`, nil},
	}
	for _, tc := range tests {
		got, ok := Split(tc.in)
		if tc.want == nil {
			if ok {
				t.Errorf("Split(%q) = %q, true; want false", tc.in, got)
			}
			continue
		}
		if !ok || strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") || len(got) != len(tc.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}
