package transcripts

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCandidates(t *testing.T) {
	home := "/home/jane"
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{name: "defaults", env: map[string]string{"HOME": home},
			want: []string{"/home/jane/.config/claude/projects", "/home/jane/.claude/projects"}},
		{name: "XDG_CONFIG_HOME", env: map[string]string{"HOME": home, "XDG_CONFIG_HOME": "/cfg"},
			want: []string{"/cfg/claude/projects", "/home/jane/.claude/projects"}},
		{name: "CLAUDE_CONFIG_DIR replaces the defaults", env: map[string]string{"HOME": home, "CLAUDE_CONFIG_DIR": "/a"},
			want: []string{"/a/projects"}},
		{name: "a list, spaces, blanks and repeats", env: map[string]string{"HOME": home, "CLAUDE_CONFIG_DIR": " /a , ,/b/,/a,~/c"},
			want: []string{"/a/projects", "/b/projects", "/home/jane/c/projects"}},
		{name: "blank CLAUDE_CONFIG_DIR", env: map[string]string{"HOME": home, "CLAUDE_CONFIG_DIR": "  "},
			want: []string{"/home/jane/.config/claude/projects", "/home/jane/.claude/projects"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Candidates(func(k string) string { return tt.env[k] })
			if !slices.Equal(got, tt.want) {
				t.Errorf("Candidates = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLocations(t *testing.T) {
	home := t.TempDir()
	mk := func(p string) string {
		t.Helper()
		p = filepath.Join(home, p)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := map[string]string{"HOME": home}
	getenv := func(k string) string { return env[k] }
	if got := Locations(getenv); len(got) != 0 {
		t.Errorf("without folders: %q", got)
	}
	legacy := mk(".claude/projects")
	if got := Locations(getenv); !slices.Equal(got, []string{legacy}) {
		t.Errorf("legacy only: %q", got)
	}
	xdg := mk(".config/claude/projects")
	if got := Locations(getenv); !slices.Equal(got, []string{xdg, legacy}) {
		t.Errorf("both: %q, want both, the XDG one first", got)
	}

	// CLAUDE_CONFIG_DIR: only its entries with a projects folder; a link to one already listed
	// counts once.
	mk("a/projects")
	mk("b") // no projects/
	if err := os.Symlink(filepath.Join(home, "a"), filepath.Join(home, "link")); err != nil {
		t.Fatal(err)
	}
	env["CLAUDE_CONFIG_DIR"] = strings.Join([]string{filepath.Join(home, "a"), filepath.Join(home, "b"), filepath.Join(home, "link"), filepath.Join(home, "none")}, ",")
	if got, want := Locations(getenv), []string{filepath.Join(home, "a", "projects")}; !slices.Equal(got, want) {
		t.Errorf("CLAUDE_CONFIG_DIR: %q, want %q", got, want)
	}

	if _, err := SourceRoot(filepath.Join(home, "b")); !errors.Is(err, ErrNoProjects) {
		t.Errorf("SourceRoot of a folder without projects/: %v", err)
	}
	if got, err := SourceRoot(filepath.Join(home, "a")); err != nil || got != filepath.Join(home, "a", "projects") {
		t.Errorf("SourceRoot = %q, %v", got, err)
	}
}

func TestWalk(t *testing.T) {
	root := filepath.Join(t.TempDir(), "projects")
	for _, name := range []string{
		"-Users-jane-app/0a.jsonl",
		"-Users-jane-app/0a/subagents/agent-1.jsonl", // subagent transcripts, nested
		"-Users-jane-app/notes.txt",                  // not a transcript
		"-Users-jane-app/.hidden.jsonl",              // dot names are skipped, as ccusage's glob does
		".cache/x.jsonl",
		"top.jsonl",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for _, f := range Walk([]string{root}, func(p string, err error) { t.Errorf("reported %s: %v", p, err) }) {
		if f.Root != root || f.Path != filepath.Join(root, filepath.FromSlash(f.Name)) {
			t.Errorf("file %+v", f)
		}
		names = append(names, f.Name)
	}
	want := []string{"-Users-jane-app/0a/subagents/agent-1.jsonl", "-Users-jane-app/0a.jsonl", "top.jsonl"}
	if !slices.Equal(names, want) {
		t.Errorf("Walk = %q, want %q", names, want)
	}

	var reported []string
	Walk([]string{filepath.Join(root, "missing")}, func(p string, err error) { reported = append(reported, p) })
	if len(reported) != 1 {
		t.Errorf("a missing root: reported %q", reported)
	}
}
