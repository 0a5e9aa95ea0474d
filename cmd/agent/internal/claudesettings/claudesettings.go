// Package claudesettings edits Claude Code's settings.json: Install puts Hangar's hook on every
// Claude Code hook event, Uninstall takes it out again. Both are pure, bytes in and bytes out: the
// file I/O, backups and prompts are agent install's.
//
// An edit changes only what it must and keeps the user's layout: every byte outside the hook
// entries it adds, rewrites or removes stays as it was (keys in their order, compact arrays
// compact, escapes as written, the final newline or its absence). What it adds is laid out as
// the file is: on one line in a file written on one line, else on lines of their own, indented
// with the file's indentation (two spaces, four, tabs), and a matcher group written on one line
// among groups written so gets one line too. An edit that changes nothing returns the input
// itself. (tidwall/sjson was weighed for this and set aside: it replaces a value in place, but
// appends a new key compactly after the last one's line, as in "\n,"hooks":{...}}", and leaves a
// blank line where it deletes the first element of an indented array.)
//
// Which hook entries are Hangar's, the one rule install and uninstall share, is IsHangarCommand's
// doc.
package claudesettings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hangar-dev/hangar/cmd/agent/internal/shellword"
)

// Events are the Claude Code hook events Hangar's hook is added to, in the order it adds them to
// a settings file that lacks them.
var Events = []string{
	"SessionStart", "SessionEnd", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure",
	"PermissionRequest", "Notification", "Stop", "StopFailure", "SubagentStart", "SubagentStop",
	"PreCompact", "PostCompact",
}

// ToolEvents are the events whose matcher is a tool name: Hangar's group there matches every tool
// ("*"). The other events get a group without a matcher, which matches everything.
var ToolEvents = []string{"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest"}

// HookTimeout is the timeout, in seconds, of Hangar's hook entries. The hook gives up by itself
// long before; this only bounds a hook that hangs for a reason of its own.
const HookTimeout = 10

// Entry is one command hook of Claude Code's settings. Hangar's runs asynchronously: Claude Code
// starts it and never waits for it.
type Entry struct {
	Type    string `json:"type"`
	Command string `json:"command"`
	Async   bool   `json:"async"`
	Timeout int    `json:"timeout"`
}

// NewEntry is Hangar's hook entry. Its command is the binary bin, `hook claude-code`, and
// --data-dir when dataDir is not empty, each word shell-quoted.
func NewEntry(bin, dataDir string) Entry {
	cmd := shellword.Quote(bin) + " hook claude-code"
	if dataDir != "" {
		cmd += " --data-dir " + shellword.Quote(dataDir)
	}
	return Entry{Type: "command", Command: cmd, Async: true, Timeout: HookTimeout}
}

// IsHangarCommand reports whether a command hook's command is Hangar's Claude Code hook. The
// rule, shared by install and uninstall:
//
//  1. The command is one simple command: split into words as a POSIX shell does (blanks separate
//     words; single quotes, double quotes and backslashes quote), and holding no unquoted control
//     operator or redirection (; & | < > ( ) ` or a newline). A wrapped command such as
//     `agent hook claude-code || true` is the user's, not Hangar's.
//  2. Its first word's base name (after / or \) is "agent" or "agent.exe", or the base name of
//     the running binary (self, if not empty); the directory does not matter, so an entry left
//     by an older path of the binary is Hangar's too.
//  3. The other words, once one `--data-dir DIR` or `--data-dir=DIR` is taken out, are exactly
//     `hook claude-code`.
func IsHangarCommand(command, self string) bool {
	argv, ok := shellword.Split(command)
	if !ok || len(argv) < 3 {
		return false
	}
	base := argv[0][strings.LastIndexAny(argv[0], `/\`)+1:]
	names := []string{"agent", "agent.exe"}
	if self != "" {
		names = append(names, filepath.Base(self))
	}
	if !slices.Contains(names, base) {
		return false
	}
	rest := argv[1:]
	for i, a := range rest {
		if strings.HasPrefix(a, "--data-dir=") {
			rest = slices.Delete(slices.Clone(rest), i, i+1)
			break
		}
		if a == "--data-dir" && i+1 < len(rest) {
			rest = slices.Delete(slices.Clone(rest), i, i+2)
			break
		}
	}
	return slices.Equal(rest, []string{"hook", "claude-code"})
}

// IsHangarEntry reports whether a hook entry (a JSON object) is Hangar's: a command hook whose
// command IsHangarCommand recognizes.
func IsHangarEntry(raw []byte, self string) bool {
	var e struct {
		Type    string `json:"type"`
		Command string `json:"command"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return false
	}
	return e.Type == "command" && IsHangarCommand(e.Command, self)
}

// Summary counts what an edit of the settings did. The zero Summary is no change.
type Summary struct {
	Added   int // events that got Hangar's hook
	Updated int // Hangar entries rewritten in place (another path of the binary, other options)
	Removed int // Hangar entries taken out (uninstall, or duplicates and misplaced ones on install)
	Events  int // events Hangar's entries were taken out of (uninstall)
}

// String says what changed, as install and uninstall print it.
func (s Summary) String() string {
	var parts []string
	if s.Added > 0 {
		parts = append(parts, fmt.Sprintf("added to %d", s.Added))
	}
	if s.Updated > 0 {
		parts = append(parts, fmt.Sprintf("updated in %d", s.Updated))
	}
	if s.Removed > 0 {
		what := fmt.Sprintf("removed %d Hangar hook entries", s.Removed)
		if s.Events > 0 {
			what += fmt.Sprintf(" from %d events", s.Events)
		}
		parts = append(parts, what)
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}

// marshal is json.Marshal without escaping <, > and &, which Claude Code does not escape.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only called with strings and Entry
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
