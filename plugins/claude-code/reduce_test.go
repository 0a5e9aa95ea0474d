package main

import (
	"testing"

	"github.com/tidwall/gjson"
)

func TestCommandName(t *testing.T) {
	tests := []struct {
		name, cmd, want string
	}{
		{"plain", "ls -la", "ls"},
		{"path", "/usr/bin/git status", "git"},
		{"relative path", "./scripts/build.sh --fast", "build.sh"},
		{"windows path", `C:\Python311\python.exe -m pip list`, "python.exe"},
		{"env assignments", "FOO=1 BAR=two go test ./...", "go"},
		{"sudo", "sudo apt-get install -y jq", "apt-get"},
		{"sudo with user", "sudo -u postgres psql -c 'select 1'", "psql"},
		{"time", "time make -j8", "make"},
		{"env then sudo", "env -i PATH=/bin sudo -E npm ci", "npm"},
		{"nice with niceness", "nice -n 10 cargo build", "cargo"},
		{"and", "cd /tmp && rm -rf build", "cd"},
		{"pipe", "cat secrets.txt | grep token", "cat"},
		{"semicolon", "echo hi; curl https://example.com", "echo"},
		{"background", "npm run dev & sleep 2", "npm"},
		{"subshell", "(cd web && npm test)", "cd"},
		{"negation", "! grep -q x f", "grep"},
		{"comment and blank lines", "\n# set up\n\n  pytest -q tests/", "pytest"},
		{"quoted", `"git" log`, "git"},
		{"plus and dot", "g++ -O2 main.cc", "g++"},
		{"leading whitespace", "   \t npx tsc", "npx"},
		{"max length", "abcdefghijabcdefghijabcdefghij12 --x", "abcdefghijabcdefghijabcdefghij12"},
		{"too long", "abcdefghijabcdefghijabcdefghij123 --x", ""},
		{"variable in the folder", "$HOME/bin/tool --x", "tool"},
		{"variable", "$CMD --x", ""},
		{"command substitution", "$(which python) x.py", ""},
		{"non-ASCII", "présentation.sh", ""},
		{"only assignments", "FOO=1 BAR=2", ""},
		{"only sudo", "sudo", ""},
		{"empty", "", ""},
		{"only comments", "# nothing\n# here", ""},
		{"trailing slash", "/usr/bin/ x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := commandName(tt.cmd); got != tt.want {
				t.Errorf("commandName(%q) = %q, want %q", tt.cmd, got, tt.want)
			}
		})
	}
}

func TestFileExt(t *testing.T) {
	tests := []struct {
		path, want string
	}{
		{"/Users/a/src/main.go", "go"},
		{`C:\x\y.go`, "go"},
		{`c:\Users\Tom\Documents\README.MD`, "md"},
		{"/a/b/archive.tar.gz", "gz"},
		{"relative/file.tsx", "tsx"},
		{"/a/b/Makefile", ""},
		{"/a/b/.bashrc", ""},
		{"/a/b/.env.local", "local"},
		{"/a/b/file.", ""},
		{"/a/b.d/file", ""},
		{`C:\dir.v2\file`, ""},
		{"/a/b/x.abcdefghij", "abcdefghij"},
		{"/a/b/x.abcdefghijk", ""},
		{"/a/b/x.c-d", ""},
		{"/a/b/x.ç", ""},
		{"", ""},
		{".", ""},
	}
	for _, tt := range tests {
		if got := fileExt(tt.path); got != tt.want {
			t.Errorf("fileExt(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestEditLines(t *testing.T) {
	tests := []struct {
		name           string
		tool, input    string
		added, removed int64
		ok             bool
	}{
		{"edit one line for two", "Edit", `{"old_string":"a","new_string":"b\nc"}`, 2, 1, true},
		{"edit trailing newline", "Edit", `{"old_string":"a\nb\n","new_string":"a\n"}`, 1, 2, true},
		{"edit deletion", "Edit", `{"old_string":"x\ny","new_string":""}`, 0, 2, true},
		{"edit insertion", "Edit", `{"old_string":"","new_string":"x"}`, 1, 0, true},
		{"edit escaped newlines", "Edit", `{"old_string":"a\r\nb","new_string":"a\u000ab\u000ac"}`, 3, 2, true},
		{"edit without strings", "Edit", `{"file_path":"/x"}`, 0, 0, false},
		{"write", "Write", `{"file_path":"/x","content":"package main\n\nfunc main() {}\n"}`, 3, 0, true},
		{"write empty", "Write", `{"content":""}`, 0, 0, true},
		{"write without content", "Write", `{}`, 0, 0, false},
		{"multi edit summed", "MultiEdit", `{"edits":[{"old_string":"a","new_string":"b\nc"},{"old_string":"d\ne\nf","new_string":"g"}]}`, 3, 4, true},
		{"multi edit none", "MultiEdit", `{"edits":[]}`, 0, 0, true},
		{"multi edit not an array", "MultiEdit", `{"edits":"x"}`, 0, 0, false},
		{"other tool", "Read", `{"old_string":"a","new_string":"b"}`, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			added, removed, ok := editLines(tt.tool, gjson.Parse(tt.input).Get)
			if added != tt.added || removed != tt.removed || ok != tt.ok {
				t.Errorf("editLines = %d, %d, %t; want %d, %d, %t", added, removed, ok, tt.added, tt.removed, tt.ok)
			}
		})
	}
}

func TestLineCount(t *testing.T) {
	tests := []struct {
		s    string
		want int64
	}{
		{"", 0}, {"a", 1}, {"a\n", 1}, {"\n", 1}, {"a\nb", 2}, {"a\n\n", 2}, {"\n\n\n", 3},
	}
	for _, tt := range tests {
		if got := lineCount(tt.s); got != tt.want {
			t.Errorf("lineCount(%q) = %d, want %d", tt.s, got, tt.want)
		}
	}
}

func TestMCPNames(t *testing.T) {
	tests := []struct {
		tool, server, name string
		ok                 bool
	}{
		{"mcp__github__create_pull_request", "github", "create_pull_request", true},
		{"mcp__web-reader__webReader", "web-reader", "webReader", true},
		{"mcp__claude_ai_Notion__search", "claude_ai_Notion", "search", true},
		{"mcp__server__tool__with__parts", "server", "tool__with__parts", true},
		{"mcp__only", "only", "", true},
		{"mcp____tool", "", "tool", true},
		{"mcp__bad server__tool", "", "tool", true},
		{"mcp__srv__t\u00e9l", "srv", "", true},
		{"Bash", "", "", false},
		{"mcp_single__x", "", "", false},
	}
	for _, tt := range tests {
		server, name, ok := mcpNames(tt.tool)
		if server != tt.server || name != tt.name || ok != tt.ok {
			t.Errorf("mcpNames(%q) = %q, %q, %t; want %q, %q, %t", tt.tool, server, name, ok, tt.server, tt.name, tt.ok)
		}
	}
}

func TestOperation(t *testing.T) {
	tests := []struct{ tool, want string }{
		{"Read", opRead}, {"Write", opWrite}, {"Edit", opEdit}, {"MultiEdit", opMultiEdit},
		{"Grep", opSearch}, {"Glob", opSearch}, {"LS", opList}, {"Bash", opShell},
		{"WebFetch", opWebFetch}, {"WebSearch", opWebSearch}, {"Task", opTask}, {"Agent", opTask},
		{"TodoWrite", opTodo}, {"TaskUpdate", opTodo}, {"mcp__github__get_issue", opMCP},
		{"NotebookEdit", opEdit}, {"ExitPlanMode", opOther}, {"", opOther},
	}
	for _, tt := range tests {
		if got := operation(tt.tool); got != tt.want {
			t.Errorf("operation(%q) = %q, want %q", tt.tool, got, tt.want)
		}
	}
}

func TestProjectNames(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"cwd", projectName("/Users/chip/dev/ai-music"), "-Users-chip-dev-ai-music"},
		{"cwd with dots and spaces", projectName("/home/a.b/My Project"), "-home-a-b-My-Project"},
		{"cwd non-ASCII", projectName("/home/josé/日本"), "-home-jos----"},
		{"cwd astral", projectName("/x/😀"), "-x---"},
		{"windows cwd, lower-case drive", projectName(`c:\Users\Tom\repo`), "C--Users-Tom-repo"},
		{"windows cwd", projectName(`C:\Users\Tom\repo`), "C--Users-Tom-repo"},
		{"transcript", transcriptProject("/Users/chip/.claude/projects/-Users-chip-dev-ai-music/fed8.jsonl"), "-Users-chip-dev-ai-music"},
		{"windows transcript", transcriptProject(`C:\Users\Tom\.claude\projects\c--Users-Tom-repo\x.jsonl`), "C--Users-Tom-repo"},
		{"transcript without folder", transcriptProject("x.jsonl"), ""},
		{"transcript at root", transcriptProject("/x.jsonl"), ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestIntValue(t *testing.T) {
	tests := []struct {
		raw  string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"123", 123, true}, {"-5", -5, true}, {"1000000000000", 1e12, true},
		{"1.5", 0, false}, {"1e3", 0, false}, {"1.0", 0, false}, {`"1"`, 0, false}, {"null", 0, false},
		{"true", 0, false}, {"9999999999999999999", 0, false}, {"-", 0, false},
	}
	for _, tt := range tests {
		got, ok := intValue(gjson.Parse(tt.raw))
		if got != tt.want || ok != tt.ok {
			t.Errorf("intValue(%s) = %d, %t; want %d, %t", tt.raw, got, ok, tt.want, tt.ok)
		}
	}
}

// TestRawSize checks that rawSize measures a string as gjson decodes it, without decoding it.
func TestRawSize(t *testing.T) {
	tests := []struct{ name, raw string }{
		{"plain", `"hello"`},
		{"empty", `""`},
		{"escapes", `"a\nb\tc\\d\"e\/f\bg\fh\ri"`},
		{"unicode escape", `"caf\u00e9 \u20ac"`},
		{"surrogate pair", `"\ud83d\ude00!"`},
		{"lone high surrogate", `"x\ud800y"`},
		{"lone low surrogate", `"x\udc00y"`},
		{"high then non-low", `"\ud800\u0041"`},
		{"multibyte", `"日本語 ✓"`},
		{"number", `12345`},
		{"object", `{"a":"b\n"}`},
		{"array", `[1,2,"x"]`},
		{"null", `null`},
		{"missing", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := int64(len(tt.raw))
			if v := gjson.Parse(tt.raw); v.Type == gjson.String {
				want = int64(len(v.Str))
			}
			if got := rawSize(tt.raw); got != want {
				t.Errorf("rawSize(%s) = %d, want %d", tt.raw, got, want)
			}
		})
	}
}
