package main

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/hangar-dev/hangar/sdk/pdk"
	"github.com/tidwall/gjson"
)

// Reductions of content to safe values: each returns a number, a flag, or an identifier checked
// against a narrow alphabet, never text.

// Operations, by tool: what a tool call does, as an enumeration.
const (
	opRead      = "read"
	opWrite     = "write"
	opEdit      = "edit"
	opMultiEdit = "multi_edit"
	opSearch    = "search"
	opList      = "list"
	opShell     = "shell"
	opWebFetch  = "web_fetch"
	opWebSearch = "web_search"
	opTask      = "task"
	opTodo      = "todo"
	opMCP       = "mcp"
	opOther     = "other"
)

// operations maps Claude Code's built-in tools to their operation; MCP tools are opMCP, others
// opOther.
var operations = map[string]string{
	"Read":         opRead,
	"NotebookRead": opRead,
	"Write":        opWrite,
	"Edit":         opEdit,
	"NotebookEdit": opEdit,
	"MultiEdit":    opMultiEdit,
	"Grep":         opSearch,
	"Glob":         opSearch,
	"ToolSearch":   opSearch,
	"LS":           opList,
	"Bash":         opShell,
	"BashOutput":   opShell,
	"KillBash":     opShell,
	"KillShell":    opShell,
	"PowerShell":   opShell,
	"WebFetch":     opWebFetch,
	"WebSearch":    opWebSearch,
	"web_search":   opWebSearch, // the API's server-side tool, in transcripts
	"web_fetch":    opWebFetch,
	"Task":         opTask,
	"Agent":        opTask,
	"TaskOutput":   opTask,
	"TaskStop":     opTask,
	"TodoWrite":    opTodo,
	"TodoRead":     opTodo,
	"TaskCreate":   opTodo,
	"TaskUpdate":   opTodo,
	"TaskGet":      opTodo,
	"TaskList":     opTodo,
}

// operation returns the operation of a tool.
func operation(tool string) string {
	if op, ok := operations[tool]; ok {
		return op
	}
	if strings.HasPrefix(tool, "mcp__") {
		return opMCP
	}
	return opOther
}

// mcpNames splits an MCP tool name, mcp__<server>__<tool>, at its first "__" after the prefix.
// Each part is returned only if it is a name (isName); ok is false for other tools.
func mcpNames(tool string) (server, name string, ok bool) {
	rest, ok := strings.CutPrefix(tool, "mcp__")
	if !ok {
		return "", "", false
	}
	server, name, _ = strings.Cut(rest, "__")
	if !isName(server) {
		server = ""
	}
	if !isName(name) {
		name = ""
	}
	return server, name, true
}

// isName reports whether s is 1 to 64 ASCII letters, digits, '_', '.' and '-', starting with a
// letter or digit: an MCP server or tool name.
func isName(s string) bool {
	if s == "" || len(s) > 64 || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// maxExt is the longest file extension kept.
const maxExt = 10

// fileExt returns the lowercased extension of the file a path names (Unix or Windows), without the
// dot: 1 to maxExt ASCII letters and digits, or "" (no extension, a dotfile, or anything else).
func fileExt(path string) string {
	base := path[strings.LastIndexAny(path, `/\`)+1:]
	i := strings.LastIndexByte(base, '.')
	if i <= 0 || len(base)-i-1 > maxExt || i == len(base)-1 {
		return ""
	}
	ext := []byte(base[i+1:])
	for j, c := range ext {
		switch {
		case c >= 'A' && c <= 'Z':
			ext[j] = c + 'a' - 'A'
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
		default:
			return ""
		}
	}
	return string(ext)
}

// lineCount returns the lines of a text: its newlines, plus one for a last line without one.
func lineCount(s string) int64 {
	if s == "" {
		return 0
	}
	n := int64(strings.Count(s, "\n"))
	if s[len(s)-1] != '\n' {
		n++
	}
	return n
}

// editLines returns the lines a Write, Edit or MultiEdit tool input adds and removes: a Write's
// content as added; an Edit's new_string as added and old_string as removed; a MultiEdit's edits
// summed. ok is false for other tools, or inputs without those fields.
func editLines(tool string, get func(string) gjson.Result) (added, removed int64, ok bool) {
	switch tool {
	case "Write":
		if c := get("content"); c.Type == gjson.String {
			return lineCount(c.Str), 0, true
		}
	case "Edit":
		o, n := get("old_string"), get("new_string")
		if o.Type == gjson.String || n.Type == gjson.String {
			return lineCount(n.Str), lineCount(o.Str), true
		}
	case "MultiEdit":
		edits := get("edits")
		if !edits.IsArray() {
			return 0, 0, false
		}
		edits.ForEach(func(_, e gjson.Result) bool {
			added += lineCount(e.Get("new_string").Str)
			removed += lineCount(e.Get("old_string").Str)
			return true
		})
		return added, removed, true
	}
	return 0, 0, false
}

// maxCommand is the longest command name kept.
const maxCommand = 32

// commandName returns the name of the program a shell command line runs first: the first word of
// its first command (the text before the first ';', '&', '|' or newline, past blank and comment
// lines), skipping environment assignments (FOO=1) and the wrappers in wrappers with their
// options, as a basename (after the last '/' or '\'). It returns "" unless the name is 1 to
// maxCommand of [a-zA-Z0-9._+-].
func commandName(cmd string) string {
	line := firstCommand(cmd)
	words := strings.Fields(line)
	wrapped := false
	for i := 0; i < len(words); i++ {
		w := strings.TrimLeft(words[i], "({!")
		switch {
		case w == "":
			continue
		case isAssignment(w):
			continue
		case wrapped && strings.HasPrefix(w, "-"):
			if optionArgs[w] {
				i++ // the option's argument
			}
			continue
		case wrappers[w]:
			wrapped = true
			continue
		}
		w = strings.Trim(w, `"'`)
		w = w[strings.LastIndexAny(w, `/\`)+1:]
		if !isCommand(w) {
			return ""
		}
		return w
	}
	return ""
}

// wrappers are the words that run the command after them.
var wrappers = map[string]bool{
	"sudo": true, "time": true, "env": true, "nohup": true, "exec": true, "command": true,
	"builtin": true, "nice": true, "doas": true,
}

// optionArgs are the wrappers' options that take an argument (sudo -u root, nice -n 10).
var optionArgs = map[string]bool{"-u": true, "-g": true, "-n": true, "-C": true, "-D": true, "-h": true, "-p": true, "-r": true, "-t": true, "-U": true}

// firstCommand returns the first command of a command line: the first line that is neither blank
// nor a comment, up to its first ';', '&' or '|'.
func firstCommand(cmd string) string {
	for cmd != "" {
		line, rest, _ := strings.Cut(cmd, "\n")
		cmd = rest
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, ";&|"); i >= 0 {
			line = line[:i]
		}
		return line
	}
	return ""
}

// isAssignment reports whether w is a shell variable assignment, NAME=value.
func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && c != '_' {
			return false
		}
	}
	return true
}

// isCommand reports whether s matches ^[a-zA-Z0-9._+-]{1,32}$.
func isCommand(s string) bool {
	if s == "" || len(s) > maxCommand {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '+' && c != '-' {
			return false
		}
	}
	return true
}

// rawSize is the size of a raw JSON value as the plugin measures text fields, without decoding
// it: a string's bytes once unescaped (UTF-8, as gjson decodes it: see decodeString), or the raw
// JSON of anything else. The host gives plugins valid JSON only, so a string holds no control byte
// (gjson would cut it short there) and no malformed escape.
func rawSize(raw string) int64 {
	if len(raw) < 2 || raw[0] != '"' {
		return int64(len(raw))
	}
	s := raw[1 : len(raw)-1]
	var n int64
	for {
		k := pdk.IndexByte(s, '\\')
		if k < 0 {
			return n + int64(len(s))
		}
		if k+1 == len(s) {
			return n + int64(k)
		}
		n += int64(k)
		if s = s[k:]; s[1] != 'u' {
			n++
			s = s[2:]
			continue
		}
		if len(s) < 6 {
			return n
		}
		ru := hexRune(s[2:6])
		s = s[6:]
		if ru >= 0xd800 && ru < 0xdc00 && len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
			if r2 := hexRune(s[2:6]); r2 >= 0xdc00 && r2 < 0xe000 {
				ru = utf16.DecodeRune(ru, r2)
				s = s[6:]
			}
		}
		if l := utf8.RuneLen(ru); l > 0 {
			n += int64(l)
		} else {
			n += int64(len(string(utf8.RuneError))) // a lone surrogate decodes to U+FFFD
		}
	}
}

// intValue returns a JSON number that is an integer, written without a fraction or exponent.
func intValue(v gjson.Result) (int64, bool) {
	if v.Type != gjson.Number || v.Raw == "" {
		return 0, false
	}
	s := v.Raw
	if s[0] == '-' {
		s = s[1:]
	}
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if v.Raw[0] == '-' {
		n = -n
	}
	return n, true
}

// isDigits reports whether s is one or more ASCII digits: a JSON number that is a whole,
// non-negative integer, whatever its size.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// projectName returns the name Claude Code gives a project's folder under ~/.claude/projects: the
// path with every character but ASCII letters and digits replaced by '-' (one per UTF-16 code
// unit, as Claude Code does it in JavaScript). A Windows drive letter is upper-cased, since
// Claude Code reports it in either case.
func projectName(path string) string {
	b := make([]byte, 0, len(path))
	for _, r := range path {
		switch {
		case r < utf8.RuneSelf && isAlnum(byte(r)):
			b = append(b, byte(r))
		case r > 0xffff:
			b = append(b, '-', '-')
		default:
			b = append(b, '-')
		}
	}
	return normalizeDrive(string(b))
}

// transcriptProject returns the project folder's name from a transcript's path: the name of the
// folder holding the file.
func transcriptProject(path string) string {
	i := strings.LastIndexAny(path, `/\`)
	if i <= 0 {
		return ""
	}
	dir := path[:i]
	return normalizeDrive(dir[strings.LastIndexAny(dir, `/\`)+1:])
}

// normalizeDrive upper-cases the drive letter of an encoded Windows path ("c--Users-…").
func normalizeDrive(name string) string {
	if len(name) >= 3 && name[1] == '-' && name[2] == '-' && name[0] >= 'a' && name[0] <= 'z' {
		return string(name[0]-'a'+'A') + name[1:]
	}
	return name
}

// hexRune returns the rune of 4 hex digits, as gjson reads them: 0 if they are not hex. (Unlike
// strconv, it allocates nothing on bad digits.)
func hexRune(s string) rune {
	var r rune
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0
		}
		r = r<<4 | rune(c)
	}
	return r
}

// Error kinds: what went wrong with a tool call, as an enumeration (attribute error_kind).
const (
	errNotFound     = "not_found"
	errPermission   = "permission"
	errTimeout      = "timeout"
	errExitCode     = "exit_code"
	errRejected     = "rejected"
	errInterrupted  = "interrupted"
	errInvalidInput = "invalid_input"
	errOther        = "other"
)

// errorMarks are the phrases that name an error kind, lowercase, in the order they are tried: a
// rejection or an interruption says so whatever else the text holds, and an input error such as
// "String to replace not found" is not a missing file.
var errorMarks = []struct{ mark, kind string }{
	{"doesn't want to proceed", errRejected},
	{"doesn't want to take this action", errRejected},
	{"tool use was rejected", errRejected},
	{"user rejected", errRejected},
	{"interrupted by user", errInterrupted},
	{"[request interrupted", errInterrupted},
	{"inputvalidationerror", errInvalidInput},
	{"string to replace not found", errInvalidInput},
	{"has not been read yet", errInvalidInput},
	{"invalid input", errInvalidInput},
	{"invalid parameter", errInvalidInput},
	{"timed out", errTimeout},
	{"timeout", errTimeout},
	{"permission denied", errPermission},
	{"operation not permitted", errPermission},
	{"eacces", errPermission},
	{"eperm", errPermission},
	{"haven't granted", errPermission},
	{"requires approval", errPermission},
	{"no such file", errNotFound},
	{"does not exist", errNotFound},
	{"enoent", errNotFound},
	{"not found", errNotFound},
	{"cannot find", errNotFound},
	{"exit code", errExitCode},
	{"exited with", errExitCode},
}

// maxErrorText is how much of an error text errorKind reads: what names the kind comes first.
const maxErrorText = 2048

// errorKind classifies an error text (in memory only: the kind is one of the constants above).
func errorKind(text string) string {
	if len(text) > maxErrorText {
		text = text[:maxErrorText]
	}
	var buf [maxErrorText]byte
	low := buf[:len(text)]
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	for _, m := range errorMarks {
		if strings.Contains(unsafe.String(unsafe.SliceData(low), len(low)), m.mark) {
			return m.kind
		}
	}
	return errOther
}
