package main

// `agent install claude-code` adds Hangar's hook to every Claude Code hook event in its
// settings.json and offers to start the daemon at login; `agent uninstall claude-code` takes the
// hook out again. Both keep everything else in the file (keys in their order, values as they
// were), write a timestamped backup, then replace the file atomically; --dry-run prints the change
// as a unified diff and touches nothing.
//
// Which hook entries are Hangar's, the one rule both commands share, is isHangarHookCommand's
// doc.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aymanbagabas/go-udiff"
	"github.com/hangar-dev/hangar/store/atomicfile"
)

// installPlatforms are the assistants install and uninstall know.
var installPlatforms = []string{"claude-code"}

// claudeHookEvents are the Claude Code hook events Hangar's hook is added to, in the order it adds
// them to a settings file that lacks them.
var claudeHookEvents = []string{
	"SessionStart", "SessionEnd", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure",
	"PermissionRequest", "Notification", "Stop", "StopFailure", "SubagentStart", "SubagentStop",
	"PreCompact", "PostCompact",
}

// claudeToolEvents are the events whose matcher is a tool name: Hangar's group there matches
// every tool ("*"). The other events get a group without a matcher, which matches everything.
var claudeToolEvents = []string{"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest"}

// claudeHookTimeout is the timeout, in seconds, of Hangar's hook entries. The hook gives up by
// itself after hookDeadline; this only bounds a hook that hangs for a reason of its own.
const claudeHookTimeout = 10

// settingsBackupLayout is the timestamp in a backup's name, as in
// settings.json.hangar-backup-20261123T181200Z.
const settingsBackupLayout = "20060102T150405Z"

// InstallCmd adds Hangar's hook to an assistant's settings and offers to start the daemon at login.
type InstallCmd struct {
	Platform  string `arg:"" help:"The assistant: claude-code."`
	Scope     string `default:"user" enum:"user,project" env:"-" help:"Which settings: user (~/.claude/settings.json, or in $$CLAUDE_CONFIG_DIR) or project (./.claude/settings.json)."`
	DryRun    bool   `name:"dry-run" env:"-" help:"Print the change as a diff and touch nothing."`
	Yes       bool   `short:"y" env:"-" help:"Change the settings without asking (needed without a terminal); the login service then needs --service."`
	Service   bool   `xor:"service" env:"-" help:"Also install the service that starts the daemon at login (systemd user unit or launchd agent), without asking."`
	NoService bool   `name:"no-service" xor:"service" env:"-" help:"Do not install or offer the login service."`
}

// UninstallCmd removes Hangar's hook from an assistant's settings.
type UninstallCmd struct {
	Platform string `arg:"" help:"The assistant: claude-code."`
	Scope    string `default:"user" enum:"user,project" env:"-" help:"Which settings: user (~/.claude/settings.json, or in $$CLAUDE_CONFIG_DIR) or project (./.claude/settings.json)."`
	DryRun   bool   `name:"dry-run" env:"-" help:"Print the change as a diff and touch nothing."`
	// Yes is accepted so that a script can pass --yes to install and uninstall alike: uninstall
	// only removes Hangar's own entries, after a backup, and never asks.
	Yes bool `short:"y" env:"-" help:"Accepted as install takes it; uninstall never asks."`
}

// Run implements the command.
func (c *InstallCmd) Run(g *Globals) error {
	if err := checkInstallPlatform(c.Platform); err != nil {
		return err
	}
	bin, err := agentExecutable()
	if err != nil {
		return err
	}
	if strings.Contains(bin, "go-build") {
		fmt.Fprintf(g.stderr, "agent: warning: %s looks like a temporary build (go run): the hook will stop working when it is deleted; install a built binary instead\n", bin)
	}
	path, err := claudeSettingsPath(c.Scope, os.Getenv)
	if err != nil {
		return err
	}
	dataDirArgs := nonDefaultDataDir(g.DataDir)
	entry := newClaudeHookEntry(bin, dataDirArgs)
	plan, err := planSettings(path, c.Scope, func(data []byte) ([]byte, settingsSummary, error) {
		return installClaudeHooks(data, entry, bin)
	})
	if err != nil {
		return err
	}
	// Everything that can be refused is refused before anything is written.
	svc, svcErr := loginServiceFor(runtime.GOOS, os.Getenv, bin, dataDirArgs)
	if svcErr != nil && c.Service {
		return svcErr
	}
	ask := &installPrompter{in: g.stdin, out: g.stdout}
	w := g.stdout

	fmt.Fprintf(w, "Claude Code settings (%s scope): %s\n", c.Scope, plan.path)
	switch {
	case !plan.changed:
		fmt.Fprintln(w, "Hangar's hook is already on every Claude Code event there: nothing to change.")
	case c.DryRun:
		fmt.Fprint(w, plan.diff())
		fmt.Fprintf(w, "Dry run: %s was not changed.\n", plan.path)
	default:
		if !c.Yes {
			if !isTerminal(g.stdin) {
				return &exitError{code: 1, err: fmt.Errorf("not changing %s: there is no terminal to confirm on; see the change with --dry-run, and run again with --yes to make it", plan.path)}
			}
			fmt.Fprint(w, plan.diff())
			ok, err := ask.yesNo(fmt.Sprintf("Add Hangar's hook to %s?", plan.path))
			if err != nil {
				return err
			}
			if !ok {
				return &exitError{code: 1, err: errors.New("not installing: not confirmed")}
			}
		}
		backup, err := plan.apply(time.Now())
		if err != nil {
			return err
		}
		if backup != "" {
			fmt.Fprintf(w, "Backed up the old settings to %s\n", backup)
		}
		fmt.Fprintf(w, "Installed: Claude Code runs `%s` on %d events (%s).\n", entry.Command, len(claudeHookEvents), plan.summary)
		fmt.Fprintln(w, "Claude Code reads its hooks when a session starts: restart running sessions to capture them.")
	}

	if c.NoService {
		return nil
	}
	if svcErr != nil {
		fmt.Fprintf(w, "Login service: %v; start the daemon yourself with `agent run`.\n", svcErr)
		return nil
	}
	current, err := os.ReadFile(svc.path)
	exists := err == nil
	if exists && bytes.Equal(current, svc.content) {
		fmt.Fprintf(w, "Login service: already installed (%s).\n", svc.path)
		return nil
	}
	hint := c.serviceHint(dataDirArgs)
	state, question := "not installed", fmt.Sprintf("Start the Hangar daemon at login? This writes %s.", svc.path)
	if exists {
		state = fmt.Sprintf("%s runs another command than `%s`", svc.path, strings.Join(svc.args, " "))
		question = fmt.Sprintf("The login service %s runs another command. Update it?", svc.path)
	}
	switch {
	case c.DryRun && c.Service:
		from := svc.path
		if !exists {
			from = "/dev/null"
		}
		fmt.Fprint(w, installDiff(from, svc.path, current, svc.content))
		fmt.Fprintf(w, "Dry run: %s was not written.\n", svc.path)
		return nil
	case c.DryRun:
		fmt.Fprintf(w, "Login service: %s; `%s --dry-run` shows the change.\n", state, hint)
		return nil
	case c.Service:
	case c.Yes || !isTerminal(g.stdin):
		fmt.Fprintf(w, "Login service: %s. To start the daemon at login, run `%s`; until then, start it with `agent run`.\n", state, hint)
		return nil
	default:
		ok, err := ask.yesNo(question)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintf(w, "Login service: %s (`%s` installs it later); start the daemon with `agent run`.\n", state, hint)
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(svc.path), 0o755); err != nil {
		return fmt.Errorf("install login service: %w", err)
	}
	if err := atomicfile.WriteFile(svc.path, svc.content, 0o644); err != nil {
		return fmt.Errorf("install login service: %w", err)
	}
	fmt.Fprintf(w, "Wrote %s\nTo start the daemon now and at every login, run:\n  %s\n", svc.path, svc.enable)
	return nil
}

// serviceHint is the command that installs the login service with the same settings and data dir.
func (c *InstallCmd) serviceHint(dataDirArgs string) string {
	hint := "agent install " + c.Platform
	if c.Scope != "user" {
		hint += " --scope " + c.Scope
	}
	if dataDirArgs != "" {
		hint += " --data-dir " + hookShellQuote(dataDirArgs)
	}
	return hint + " --service"
}

// Run implements the command.
func (c *UninstallCmd) Run(g *Globals) error {
	if err := checkInstallPlatform(c.Platform); err != nil {
		return err
	}
	path, err := claudeSettingsPath(c.Scope, os.Getenv)
	if err != nil {
		return err
	}
	self := ""
	if bin, err := agentExecutable(); err == nil {
		self = bin
	}
	plan, err := planSettings(path, c.Scope, func(data []byte) ([]byte, settingsSummary, error) {
		return uninstallClaudeHooks(data, self)
	})
	if err != nil {
		return err
	}
	w := g.stdout
	fmt.Fprintf(w, "Claude Code settings (%s scope): %s\n", c.Scope, plan.path)
	switch {
	case !plan.changed:
		fmt.Fprintln(w, "No Hangar hook there: nothing to change.")
	case c.DryRun:
		fmt.Fprint(w, plan.diff())
		fmt.Fprintf(w, "Dry run: %s was not changed.\n", plan.path)
	default:
		backup, err := plan.apply(time.Now())
		if err != nil {
			return err
		}
		if backup != "" {
			fmt.Fprintf(w, "Backed up the old settings to %s\n", backup)
		}
		fmt.Fprintf(w, "Uninstalled: %s.\n", plan.summary)
	}
	if svc, err := loginServiceFor(runtime.GOOS, os.Getenv, self, ""); err == nil {
		if _, err := os.Stat(svc.path); err == nil {
			fmt.Fprintf(w, "The login service stays (it runs the daemon for every assistant). To remove it:\n  %s\n", svc.disable)
		}
	}
	return nil
}

func checkInstallPlatform(name string) error {
	if slices.Contains(installPlatforms, name) {
		return nil
	}
	return &exitError{code: 2, err: fmt.Errorf("unknown platform %q: the supported platforms are %s", name, strings.Join(installPlatforms, ", "))}
}

// agentExecutable is the absolute path of the running binary, symlinks resolved.
func agentExecutable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find this binary: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Abs(exe)
}

// nonDefaultDataDir is dataDir when it is not ~/.hangar, the directory the hook and the daemon
// find by themselves, and "" when it is.
func nonDefaultDataDir(dataDir string) string {
	if dataDir == "" || dataDir == expandHome("~/.hangar") {
		return ""
	}
	return dataDir
}

// claudeSettingsPath is the settings file of scope: user is settings.json in $CLAUDE_CONFIG_DIR
// (its first entry if it is a comma-separated list) or ~/.claude; project is ./.claude/settings.json.
func claudeSettingsPath(scope string, getenv func(string) string) (string, error) {
	switch scope {
	case "project":
		return filepath.Abs(filepath.Join(".claude", "settings.json"))
	case "user", "":
	default:
		return "", fmt.Errorf("unknown scope %q: want user or project", scope)
	}
	dir, _, _ := strings.Cut(getenv("CLAUDE_CONFIG_DIR"), ",")
	if dir = strings.TrimSpace(dir); dir != "" {
		return filepath.Join(expandHome(dir), "settings.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home directory: %w", err)
	}
	return filepath.Join(home, ".claude", "settings.json"), nil
}

// claudeHookEntry is one command hook of Claude Code's settings. Hangar's runs asynchronously:
// Claude Code starts it and never waits for it.
type claudeHookEntry struct {
	Type    string `json:"type"`
	Command string `json:"command"`
	Async   bool   `json:"async"`
	Timeout int    `json:"timeout"`
}

// newClaudeHookEntry is Hangar's hook entry. Its command is the binary, `hook claude-code`, and
// --data-dir when dataDir is not empty, each word shell-quoted.
func newClaudeHookEntry(bin, dataDir string) claudeHookEntry {
	cmd := hookShellQuote(bin) + " hook claude-code"
	if dataDir != "" {
		cmd += " --data-dir " + hookShellQuote(dataDir)
	}
	return claudeHookEntry{Type: "command", Command: cmd, Async: true, Timeout: claudeHookTimeout}
}

// hookShellQuote quotes s for a POSIX shell: as it is when it holds only characters no shell
// treats specially, else in single quotes.
func hookShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isHangarHookCommand reports whether a command hook's command is Hangar's Claude Code hook. The
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
func isHangarHookCommand(command, self string) bool {
	argv, ok := splitShellWords(command)
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

// splitShellWords splits a command into words as a POSIX shell would, without expanding anything.
// It reports false for a command that is not one simple command (see isHangarHookCommand) or whose
// quotes do not close.
func splitShellWords(s string) ([]string, bool) {
	var (
		words  []string
		word   strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case strings.IndexByte(";&|<>()`\n\r", c) >= 0:
			return nil, false
		case c == '\\':
			if i+1 >= len(s) {
				return nil, false
			}
			i++
			word.WriteByte(s[i])
			inWord = true
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, false
			}
			word.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
					i++
				}
				word.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, false
			}
			inWord = true
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, true
}

// settingsSummary counts what an edit of the settings did.
type settingsSummary struct {
	added   int // events that got Hangar's hook
	updated int // Hangar entries rewritten in place (another path of the binary, other options)
	removed int // Hangar entries taken out (uninstall, or duplicates and misplaced ones on install)
	events  int // events Hangar's entries were taken out of (uninstall)
}

func (s settingsSummary) String() string {
	var parts []string
	if s.added > 0 {
		parts = append(parts, fmt.Sprintf("added to %d", s.added))
	}
	if s.updated > 0 {
		parts = append(parts, fmt.Sprintf("updated in %d", s.updated))
	}
	if s.removed > 0 {
		what := fmt.Sprintf("removed %d Hangar hook entries", s.removed)
		if s.events > 0 {
			what += fmt.Sprintf(" from %d events", s.events)
		}
		parts = append(parts, what)
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}

// settingsMember is one key of a JSON object, both as written in the file.
type settingsMember struct {
	key   []byte // the key's JSON string, quotes included
	value json.RawMessage
}

// settingsObject is a JSON object that keeps its keys in the order of the file and its values
// as they were written.
type settingsObject []settingsMember

// decodeSettingsObject reads raw, which must be a valid JSON object, refusing a key written twice.
// where names the object in errors.
func decodeSettingsObject(raw []byte, where string) (settingsObject, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%s is %s, want an object", where, settingsKind(raw))
	}
	var obj settingsObject
	seen := map[string]bool{}
	for dec.More() {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		key, _ := tok.(string)
		rawKey := bytes.Trim(raw[start:dec.InputOffset()], " \t\r\n,:")
		if len(rawKey) < 2 || rawKey[0] != '"' || rawKey[len(rawKey)-1] != '"' {
			rawKey = settingsString(key)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", where, key, err)
		}
		if seen[key] {
			return nil, fmt.Errorf("%s has the key %q twice", where, key)
		}
		seen[key] = true
		obj = append(obj, settingsMember{key: rawKey, value: value})
	}
	return obj, nil
}

// index returns the position of key in o, -1 if absent.
func (o settingsObject) index(key string) int {
	for i, m := range o {
		var k string
		if json.Unmarshal(m.key, &k) == nil && k == key {
			return i
		}
	}
	return -1
}

// set replaces the value of key, or appends the key.
func (o *settingsObject) set(key string, value []byte) {
	if i := o.index(key); i >= 0 {
		(*o)[i].value = value
		return
	}
	*o = append(*o, settingsMember{key: settingsString(key), value: value})
}

// marshal writes o compactly (values as they are; Compact or Indent normalizes them).
func (o settingsObject) marshal() []byte {
	b := []byte{'{'}
	for i, m := range o {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.key...)
		b = append(b, ':')
		b = append(b, m.value...)
	}
	return append(b, '}')
}

func settingsString(s string) []byte {
	return settingsMarshal(s)
}

// settingsMarshal is json.Marshal without escaping <, > and &, which Claude Code does not escape.
func settingsMarshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only called with strings and claudeHookEntry
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func settingsArray(elems []json.RawMessage) []byte {
	b := []byte{'['}
	for i, e := range elems {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, ']')
}

// settingsKind names the kind of a JSON value, for errors.
func settingsKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// claudeSettings is a Claude Code settings file, decoded only as deep as the hooks need: the
// top-level keys, the events of "hooks", their matcher groups, and the groups' hook entries. Every
// other value is kept as written.
type claudeSettings struct {
	top    settingsObject
	events []*claudeEvent // the members of "hooks", in order; nil with hasHooks false if absent
	// hasHooks tells whether top has a "hooks" key.
	hasHooks bool
	// newline tells whether the file ends with a newline (a new file does).
	newline bool
}

type claudeEvent struct {
	name   string
	key    []byte
	groups []*claudeGroup
}

type claudeGroup struct {
	members settingsObject
	// entries are the elements of the group's "hooks" array (hasEntries false if it has none).
	entries    []json.RawMessage
	hasEntries bool
}

// parseClaudeSettings decodes a settings file. An empty file is an empty object. Anything Claude
// Code would not read as settings with hooks is an error naming the problem.
func parseClaudeSettings(data []byte) (*claudeSettings, error) {
	s := &claudeSettings{newline: true}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return s, nil
	}
	s.newline = bytes.HasSuffix(data, []byte("\n"))
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off := int(se.Offset) + (len(data) - len(bytes.TrimLeft(data, " \t\r\n")))
			line, col := settingsLineColumn(data, off)
			return nil, fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, se)
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	top, err := decodeSettingsObject(trimmed, "the top level")
	if err != nil {
		return nil, err
	}
	s.top = top
	i := top.index("hooks")
	if i < 0 {
		return s, nil
	}
	s.hasHooks = true
	events, err := decodeSettingsObject(top[i].value, `"hooks"`)
	if err != nil {
		return nil, err
	}
	for _, m := range events {
		var name string
		json.Unmarshal(m.key, &name)
		where := "hooks." + name
		var groups []json.RawMessage
		if err := json.Unmarshal(m.value, &groups); err != nil || settingsKind(m.value) != "an array" {
			return nil, fmt.Errorf("%s is %s, want an array of matcher groups", where, settingsKind(m.value))
		}
		ev := &claudeEvent{name: name, key: m.key}
		for gi, raw := range groups {
			gwhere := fmt.Sprintf("%s[%d]", where, gi)
			members, err := decodeSettingsObject(raw, gwhere)
			if err != nil {
				return nil, err
			}
			g := &claudeGroup{members: members}
			if hi := members.index("hooks"); hi >= 0 {
				hraw := members[hi].value
				if err := json.Unmarshal(hraw, &g.entries); err != nil || settingsKind(hraw) != "an array" {
					return nil, fmt.Errorf("%s.hooks is %s, want an array of hooks", gwhere, settingsKind(hraw))
				}
				for ei, e := range g.entries {
					if settingsKind(e) != "an object" {
						return nil, fmt.Errorf("%s.hooks[%d] is %s, want an object", gwhere, ei, settingsKind(e))
					}
				}
				g.hasEntries = true
			}
			ev.groups = append(ev.groups, g)
		}
		s.events = append(s.events, ev)
	}
	return s, nil
}

// settingsLineColumn is the 1-based line and column of the byte before offset off in data, where a
// json.SyntaxError's Offset says the error is.
func settingsLineColumn(data []byte, off int) (int, int) {
	at := min(max(off-1, 0), len(data))
	before := data[:at]
	return bytes.Count(before, []byte("\n")) + 1, at - (bytes.LastIndexByte(before, '\n') + 1) + 1
}

// render writes the settings back: 2-space indented, like Claude Code writes them, ending with a
// newline if the file did.
func (s *claudeSettings) render() []byte {
	top := slices.Clone(s.top)
	if s.hasHooks {
		var events settingsObject
		for _, ev := range s.events {
			groups := make([]json.RawMessage, 0, len(ev.groups))
			for _, g := range ev.groups {
				groups = append(groups, g.render())
			}
			events = append(events, settingsMember{key: ev.key, value: settingsArray(groups)})
		}
		top.set("hooks", events.marshal())
	} else if i := top.index("hooks"); i >= 0 {
		top = slices.Delete(top, i, i+1)
	}
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, top.marshal()); err != nil {
		panic(fmt.Sprintf("render settings: %v", err)) // every piece was valid JSON
	}
	json.Indent(&out, compact.Bytes(), "", "  ")
	if s.newline {
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func (g *claudeGroup) render() []byte {
	if !g.hasEntries {
		return g.members.marshal()
	}
	members := slices.Clone(g.members)
	members.set("hooks", settingsArray(g.entries))
	return members.marshal()
}

// event returns the event named name, nil if absent.
func (s *claudeSettings) event(name string) *claudeEvent {
	for _, ev := range s.events {
		if ev.name == name {
			return ev
		}
	}
	return nil
}

// isHangarEntry reports whether a hook entry is Hangar's: a command hook whose command
// isHangarHookCommand recognizes.
func isHangarEntry(raw json.RawMessage, self string) bool {
	var e struct {
		Type    string `json:"type"`
		Command string `json:"command"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return false
	}
	return e.Type == "command" && isHangarHookCommand(e.Command, self)
}

// matchesAll reports whether a group's matcher matches everything: absent, "" or "*".
func (g *claudeGroup) matchesAll() bool {
	i := g.members.index("matcher")
	if i < 0 {
		return true
	}
	var m string
	return json.Unmarshal(g.members[i].value, &m) == nil && (m == "" || m == "*")
}

// removeHangar takes Hangar's entries out of every group of ev, except keep (if not nil, the
// entry at keepGroup/keepEntry), and drops the groups it empties. It returns how many it took out.
func (ev *claudeEvent) removeHangar(self string, keep *claudeGroup, keepEntry int) int {
	removed := 0
	groups := ev.groups[:0]
	for _, g := range ev.groups {
		had := len(g.entries)
		entries := g.entries[:0]
		for i, e := range g.entries {
			if isHangarEntry(e, self) && !(g == keep && i == keepEntry) {
				removed++
				continue
			}
			entries = append(entries, e)
		}
		g.entries = entries
		if had > 0 && len(g.entries) == 0 {
			continue // emptied by us
		}
		groups = append(groups, g)
	}
	ev.groups = groups
	return removed
}

// newClaudeGroup is Hangar's matcher group for event.
func newClaudeGroup(event string, entry []byte) *claudeGroup {
	g := &claudeGroup{entries: []json.RawMessage{entry}, hasEntries: true}
	if slices.Contains(claudeToolEvents, event) {
		g.members = append(g.members, settingsMember{key: settingsString("matcher"), value: settingsString("*")})
	}
	g.members = append(g.members, settingsMember{key: settingsString("hooks"), value: []byte("[]")})
	return g
}

// installClaudeHooks puts Hangar's hook entry on every event of claudeHookEvents. Per event: the
// first Hangar entry that sits alone in a group matching everything is kept, rewritten to entry if
// it differs (another path, other options); every other Hangar entry is taken out (a group it
// empties is dropped); without such an entry, a group of Hangar's own is appended. A Hangar entry
// on another event is rewritten to entry, never removed. Everything else is kept as it was. self
// is the running binary (see isHangarHookCommand).
func installClaudeHooks(data []byte, entry claudeHookEntry, self string) ([]byte, settingsSummary, error) {
	var sum settingsSummary
	s, err := parseClaudeSettings(data)
	if err != nil {
		return nil, sum, err
	}
	want := settingsMarshal(entry)
	var wantValue any
	json.Unmarshal(want, &wantValue)
	s.hasHooks = true
	// A Hangar entry on an event install does not hook was added by hand: it stays, brought up
	// to date like the others.
	for _, ev := range s.events {
		if slices.Contains(claudeHookEvents, ev.name) {
			continue
		}
		for _, g := range ev.groups {
			for i, e := range g.entries {
				if isHangarEntry(e, self) && !settingsSame(e, wantValue) {
					g.entries[i] = want
					sum.updated++
				}
			}
		}
	}
	for _, name := range claudeHookEvents {
		ev := s.event(name)
		if ev == nil {
			ev = &claudeEvent{name: name, key: settingsString(name)}
			s.events = append(s.events, ev)
		}
		var keep *claudeGroup
		keepEntry := -1
		for _, g := range ev.groups {
			if keep != nil || len(g.entries) == 0 || !g.matchesAll() {
				continue
			}
			if !slices.ContainsFunc(g.entries, func(e json.RawMessage) bool { return !isHangarEntry(e, self) }) {
				keep, keepEntry = g, 0
			}
		}
		sum.removed += ev.removeHangar(self, keep, keepEntry)
		if keep == nil {
			ev.groups = append(ev.groups, newClaudeGroup(name, want))
			sum.added++
			continue
		}
		if !settingsSame(keep.entries[keepEntry], wantValue) {
			keep.entries[keepEntry] = want
			sum.updated++
		}
	}
	return s.render(), sum, nil
}

// settingsSame reports whether raw decodes to want.
func settingsSame(raw json.RawMessage, want any) bool {
	var have any
	return json.Unmarshal(raw, &have) == nil && reflect.DeepEqual(have, want)
}

// uninstallClaudeHooks takes every Hangar entry out of every event (not only those install
// writes). A matcher group it empties is dropped, then an event whose array it empties, then
// "hooks" if that leaves it empty. Everything else is kept as it was.
func uninstallClaudeHooks(data []byte, self string) ([]byte, settingsSummary, error) {
	var sum settingsSummary
	s, err := parseClaudeSettings(data)
	if err != nil {
		return nil, sum, err
	}
	if !s.hasHooks {
		return s.render(), sum, nil
	}
	events := s.events[:0]
	for _, ev := range s.events {
		had := len(ev.groups)
		n := ev.removeHangar(self, nil, -1)
		if n > 0 {
			sum.removed += n
			sum.events++
		}
		if n > 0 && had > 0 && len(ev.groups) == 0 {
			continue
		}
		events = append(events, ev)
	}
	if sum.removed > 0 && len(events) == 0 {
		s.hasHooks = false
	}
	s.events = events
	return s.render(), sum, nil
}

// settingsPlan is an edit of a settings file, worked out but not yet written.
type settingsPlan struct {
	path    string // the file (a symlink's target)
	existed bool
	old     []byte
	mode    fs.FileMode // of the file, or for a new one
	dirMode fs.FileMode // for a new directory
	new     []byte
	changed bool
	summary settingsSummary
}

// planSettings reads the settings file at path (following a symlink to the file it points to)
// and applies edit to it in memory. A file that does not exist is empty. The new file's mode is
// the old one's; a new user settings file is private (0600, in a 0700 folder), a new project one
// 0644, as it is meant to be committed.
func planSettings(path, scope string, edit func([]byte) ([]byte, settingsSummary, error)) (*settingsPlan, error) {
	p := &settingsPlan{path: path, mode: 0o600, dirMode: 0o700}
	if scope == "project" {
		p.mode, p.dirMode = 0o644, 0o755
	}
	if info, err := os.Lstat(path); err == nil && info.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		p.path = target
	}
	data, err := os.ReadFile(p.path)
	switch {
	case err == nil:
		p.existed, p.old = true, data
		info, err := os.Stat(p.path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p.path, err)
		}
		p.mode = info.Mode().Perm()
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, fmt.Errorf("read %s: %w", p.path, err)
	}
	p.new, p.summary, err = edit(p.old)
	if err != nil {
		return nil, fmt.Errorf("%s is not Claude Code settings Hangar can edit: %w; nothing was changed", p.path, err)
	}
	// An edit that did nothing leaves the file alone, however it is formatted (and does not
	// create a missing one).
	p.changed = p.summary != (settingsSummary{})
	if !p.changed {
		p.new = p.old
	}
	return p, nil
}

// diff is the change as a unified diff.
func (p *settingsPlan) diff() string {
	from := p.path
	if !p.existed {
		from = "/dev/null"
	}
	return installDiff(from, p.path, p.old, p.new)
}

// apply writes the plan: a backup of the old file first (settings.json.hangar-backup-<UTC time>,
// same mode), then the new file atomically. It refuses if the file changed since it was read.
// It returns the backup's path, "" for a new file.
func (p *settingsPlan) apply(now time.Time) (string, error) {
	if err := os.MkdirAll(filepath.Dir(p.path), p.dirMode); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(p.path), err)
	}
	backup := ""
	if p.existed {
		var err error
		if backup, err = installBackup(p.path, p.old, p.mode, now); err != nil {
			return "", err
		}
	}
	unchanged := func() error {
		data, err := os.ReadFile(p.path)
		if errors.Is(err, fs.ErrNotExist) && !p.existed {
			return nil
		}
		if err != nil {
			return err
		}
		if !p.existed || !bytes.Equal(data, p.old) {
			return errors.New("it changed while Hangar was editing it; run the command again")
		}
		return nil
	}
	if err := atomicfile.WriteFile(p.path, p.new, p.mode, atomicfile.BeforeReplace(unchanged)); err != nil {
		return backup, fmt.Errorf("write %s: %w", p.path, err)
	}
	return backup, nil
}

// installBackup copies data to path.hangar-backup-<now in UTC>, never over an existing file.
func installBackup(path string, data []byte, mode fs.FileMode, now time.Time) (string, error) {
	base := path + ".hangar-backup-" + now.UTC().Format(settingsBackupLayout)
	for n := 1; ; n++ {
		name := base
		if n > 1 {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if errors.Is(err, fs.ErrExist) && n < 100 {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("back up %s: %w", path, err)
		}
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
			return "", fmt.Errorf("back up %s: %w", path, err)
		}
		return name, nil
	}
}

// loginService is the file that makes the OS start `agent run` at login.
type loginService struct {
	path    string
	args    []string // the command it runs
	content []byte
	enable  string // the command that starts it now and at every login
	disable string // the command that stops and removes it
}

// loginServiceFor is the login service of goos: a systemd user unit on Linux
// ($XDG_CONFIG_HOME/systemd/user/hangar-agent.service, ~/.config by default), a launchd agent on
// macOS (~/Library/LaunchAgents/dev.hangar.agent.plist). It runs bin with `run` and --data-dir
// when dataDir is not empty, and restarts it when it fails. Hangar writes the file and prints the
// command that enables it; it never runs systemctl or launchctl itself.
func loginServiceFor(goos string, getenv func(string) string, bin, dataDir string) (loginService, error) {
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return loginService{}, fmt.Errorf("find the home directory: %w", err)
		}
	}
	args := []string{bin, "run"}
	if dataDir != "" {
		args = append(args, "--data-dir", dataDir)
	}
	switch goos {
	case "linux":
		config := getenv("XDG_CONFIG_HOME")
		if !filepath.IsAbs(config) {
			config = filepath.Join(home, ".config")
		}
		path := filepath.Join(config, "systemd", "user", "hangar-agent.service")
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = systemdQuote(a)
		}
		unit := fmt.Sprintf(`[Unit]
Description=Hangar agent: local telemetry for AI coding assistants
Documentation=https://github.com/hangar-dev/hangar

[Service]
ExecStart=%s
Restart=on-failure

[Install]
WantedBy=default.target
`, strings.Join(quoted, " "))
		return loginService{
			path:    path,
			args:    args,
			content: []byte(unit),
			enable:  "systemctl --user daemon-reload && systemctl --user enable --now hangar-agent",
			disable: "systemctl --user disable --now hangar-agent && rm " + hookShellQuote(path),
		}, nil
	case "darwin":
		path := filepath.Join(home, "Library", "LaunchAgents", "dev.hangar.agent.plist")
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>dev.hangar.agent</string>
	<key>ProgramArguments</key>
	<array>
`)
		for _, a := range args {
			b.WriteString("\t\t<string>")
			xml.EscapeText(&b, []byte(a))
			b.WriteString("</string>\n")
		}
		b.WriteString(`	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>ProcessType</key>
	<string>Background</string>
</dict>
</plist>
`)
		domain := fmt.Sprintf("gui/%d", os.Getuid())
		return loginService{
			path:    path,
			args:    args,
			content: []byte(b.String()),
			enable:  fmt.Sprintf("launchctl bootout %s/dev.hangar.agent 2>/dev/null; launchctl bootstrap %s %s", domain, domain, hookShellQuote(path)),
			disable: fmt.Sprintf("launchctl bootout %s/dev.hangar.agent; rm %s", domain, hookShellQuote(path)),
		}, nil
	}
	return loginService{}, fmt.Errorf("starting the daemon at login is not supported on %s", goos)
}

// systemdQuote quotes one word of a systemd ExecStart line: % and $ doubled (no specifier or
// variable expansion), in double quotes if it holds blanks, quotes or backslashes.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\;") {
		return s
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	s = strings.ReplaceAll(s, "\n", `\n`)
	return `"` + s + `"`
}

// installPrompter asks yes/no questions on a terminal, reading answers from one buffered reader.
type installPrompter struct {
	in  io.Reader
	out io.Writer
	r   *bufio.Reader
}

// yesNo asks question with [y/N]; only y or yes is yes.
func (p *installPrompter) yesNo(question string) (bool, error) {
	if p.r == nil {
		p.r = bufio.NewReader(p.in)
	}
	fmt.Fprintf(p.out, "%s [y/N] ", question)
	line, err := p.r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// installDiff is a unified diff (3 lines of context) from a to b, named fromName and toName, or
// "" if they are equal. A last line without a newline is marked as diff(1) marks it.
func installDiff(fromName, toName string, a, b []byte) string {
	d, err := udiff.ToUnified(fromName, toName, string(a), udiff.Lines(string(a), string(b)), udiff.DefaultContextLines)
	if err != nil {
		// The edits are computed from a itself: they always apply.
		return fmt.Sprintf("--- %s\n+++ %s\n(no diff: %v)\n", fromName, toName, err)
	}
	return d
}
