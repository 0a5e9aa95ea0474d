package claudesettings_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aymanbagabas/go-udiff"
	"github.com/hangar-dev/hangar/cmd/agent/internal/claudesettings"
	"github.com/hangar-dev/hangar/cmd/agent/internal/claudesettings/settingstest"
	"github.com/hangar-dev/hangar/cmd/agent/internal/shellword"
)

var update = flag.Bool("update", false, "rewrite testdata/*/installed.json and uninstalled.json")

// testHookBin is the binary path the settings tests install.
const testHookBin = "/opt/hangar/bin/agent"

// TestGolden installs into each testdata/<case>/settings.json (absent: no file yet) and compares
// with installed.json, and uninstalls from it and compares with uninstalled.json (absent when
// the file holds no Hangar entry: uninstall then returns it as it is); then checks, on the real
// files, what must hold for any settings: every event has exactly one Hangar entry, the right
// one; every other key and every other hook is still there, in order and equal in value;
// installing again changes nothing; uninstalling gives back the settings without Hangar's entries.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*")
	if err != nil || len(dirs) < 7 {
		t.Fatalf("testdata: %v, %d cases", err, len(dirs))
	}
	entry := claudesettings.NewEntry(testHookBin, "")
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			input, err := os.ReadFile(filepath.Join(dir, "settings.json"))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			got, sum, err := claudesettings.Install(input, entry, testHookBin)
			if err != nil {
				t.Fatalf("install: %v", err)
			}
			if sum == (claudesettings.Summary{}) {
				t.Errorf("install summary is empty: it changed nothing")
			}
			checkGolden(t, filepath.Join(dir, "installed.json"), got)
			settingstest.CheckEverywhere(t, got, entry, testHookBin)
			settingstest.CheckKept(t, input, got, testHookBin)
			if len(input) > 0 && bytes.HasSuffix(input, []byte("\n")) != bytes.HasSuffix(got, []byte("\n")) {
				t.Errorf("install changed whether the file ends with a newline")
			}

			again, sum, err := claudesettings.Install(got, entry, testHookBin)
			if err != nil || !bytes.Equal(again, got) || sum != (claudesettings.Summary{}) {
				t.Errorf("install twice: err %v, summary %+v, same bytes %v; want the same as once", err, sum, bytes.Equal(again, got))
			}

			removed, sum, err := claudesettings.Uninstall(got, testHookBin)
			if err != nil {
				t.Fatalf("uninstall: %v", err)
			}
			if sum.Removed < len(claudesettings.Events) {
				t.Errorf("uninstall removed %d entries, want at least %d", sum.Removed, len(claudesettings.Events))
			}
			// What was there before, without Hangar's entries: the input itself when it had none.
			before, beforeSum, err := claudesettings.Uninstall(input, testHookBin)
			if err != nil {
				t.Fatal(err)
			}
			uninstalled := filepath.Join(dir, "uninstalled.json")
			if beforeSum == (claudesettings.Summary{}) {
				if !bytes.Equal(before, input) {
					t.Errorf("uninstall with nothing to remove changed the file")
				}
				if _, err := os.Stat(uninstalled); err == nil {
					t.Errorf("%s exists, but the input holds no Hangar entry", uninstalled)
				}
			} else {
				checkGolden(t, uninstalled, before)
			}
			// Uninstall drops a "hooks" it empties: an input whose "hooks" was empty comes back without.
			emptyHooks := bytes.Contains(input, []byte(`"hooks": {}`))
			if len(input) > 0 && !emptyHooks && !bytes.Equal(removed, before) {
				t.Errorf("install then uninstall gave\n%s", udiff.Unified("want", "got", string(before), string(removed)))
			}
			if len(input) > 0 && !emptyHooks {
				if g, w := settingstest.Compact(t, removed), settingstest.Compact(t, before); g != w {
					t.Errorf("install then uninstall gave\n%s\nwant\n%s", g, w)
				}
			}
			if len(input) == 0 && settingstest.Compact(t, removed) != "{}" {
				t.Errorf("install then uninstall on a new file gave %s, want {}", removed)
			}
			for _, e := range settingstest.HookEntries(t, removed) {
				if claudesettings.IsHangarEntry([]byte(e.Entry), testHookBin) {
					t.Errorf("uninstall left a Hangar entry in %s: %s", e.Event, e.Entry)
				}
			}
		})
	}
}

// checkGolden compares got with the file golden, or with -update writes it.
func checkGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got (-want +got):\n%s", udiff.Unified(golden, "got", string(want), string(got)))
	}
}

// TestKeepsLayout: install and uninstall edit only what changes and keep the user's layout. For
// every testdata case: outside "hooks" install leaves the file the same byte for byte (no compact
// array expanded, no key re-indented, no escape rewritten), and so is each of the user's hooks;
// what it adds is indented as the file is (tabs with tabs, 4 spaces with 4 spaces); a file on one
// line stays on one line. claudesettings.Uninstall likewise; and where the file held no Hangar entry, uninstall
// after install gives back the input byte for byte (unless the input's "hooks" was empty, which
// uninstall drops).
func TestKeepsLayout(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/*")
	entry := claudesettings.NewEntry(testHookBin, "")
	for _, dir := range dirs {
		input, err := os.ReadFile(filepath.Join(dir, "settings.json"))
		if err != nil {
			continue // a new file: no layout to keep
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got, _, err := claudesettings.Install(input, entry, testHookBin)
			if err != nil {
				t.Fatal(err)
			}
			checkLayoutKept(t, "install", input, got)
			_, hadHangar, err := claudesettings.Uninstall(input, testHookBin)
			if err != nil {
				t.Fatal(err)
			}
			back, _, err := claudesettings.Uninstall(got, testHookBin)
			if err != nil {
				t.Fatal(err)
			}
			checkLayoutKept(t, "uninstall", got, back)
			if hadHangar == (claudesettings.Summary{}) && !bytes.Contains(input, []byte(`"hooks": {}`)) && !bytes.Equal(back, input) {
				t.Errorf("install then uninstall did not give back the input:\n%s", udiff.Unified("settings.json", "uninstalled", string(input), string(back)))
			}
		})
	}
}

// checkLayoutKept checks that the edit what from before to after kept the layout (see
// TestKeepsLayout).
func checkLayoutKept(t *testing.T, what string, before, after []byte) {
	t.Helper()
	if a, b := withoutHooks(t, before), withoutHooks(t, after); !bytes.Equal(a, b) {
		t.Errorf("%s changed the file outside \"hooks\":\n%s", what, udiff.Unified("before", "after", string(a), string(b)))
	}
	kept := map[string]bool{}
	for _, e := range rawHookEntries(t, after) {
		kept[e] = true
	}
	for _, e := range rawHookEntries(t, before) {
		if !kept[e] && !claudesettings.IsHangarEntry([]byte(e), testHookBin) {
			t.Errorf("%s rewrote the user's hook %s", what, e)
		}
	}
	if bytes.Count(bytes.TrimSpace(before), []byte("\n")) == 0 && bytes.Count(bytes.TrimSpace(after), []byte("\n")) != 0 {
		t.Errorf("%s spread a settings file on one line over %d lines", what, bytes.Count(after, []byte("\n")))
	}
	unit, bad := indentUnit(before), 0
	for _, line := range strings.Split(string(after), "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if unit != "" && (strings.Trim(indent, unit[:1]) != "" || len(indent)%len(unit) != 0) {
			if bad++; bad <= 3 {
				t.Errorf("%s: line %q is not indented in steps of the file's %q", what, line, unit)
			}
		}
	}
}

// withoutHooks is data without its top-level "hooks" member (and the comma and blanks before it,
// or after it when it is the first member).
func withoutHooks(t *testing.T, data []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %v", err)
	}
	prevEnd := int(dec.InputOffset()) // after '{' or the previous value
	for first := true; dec.More(); first = false {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		end := int(dec.InputOffset())
		if tok != "hooks" {
			prevEnd = end
			continue
		}
		if !first || !dec.More() {
			return append(slices.Clone(data[:prevEnd]), data[end:]...)
		}
		// The first member: drop up to the next key instead.
		rest := data[end:]
		return append(slices.Clone(data[:prevEnd]), rest[bytes.IndexByte(rest, '"'):]...)
	}
	return data
}

// rawHookEntries returns every hook entry of data as written, blanks and all.
func rawHookEntries(t *testing.T, data []byte) []string {
	t.Helper()
	var s struct {
		Hooks map[string][]struct {
			Hooks []json.RawMessage `json:"hooks"`
		} `json:"hooks"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, groups := range s.Hooks {
		for _, g := range groups {
			for _, e := range g.Hooks {
				out = append(out, string(e))
			}
		}
	}
	return out
}

// indentUnit is the indentation of a file's second line (its first key), "" on one line.
func indentUnit(data []byte) string {
	lines := strings.Split(string(data), "\n")
	if len(lines) < 2 {
		return ""
	}
	return lines[1][:len(lines[1])-len(strings.TrimLeft(lines[1], " \t"))]
}

// TestInstallOlderEntries checks, on testdata/older-path, what install does with entries of an
// older install: replaced in place, duplicates and misplaced ones removed, groups they leave
// empty dropped, the user's hooks in the same group kept.
func TestInstallOlderEntries(t *testing.T) {
	input, err := os.ReadFile("testdata/older-path/settings.json")
	if err != nil {
		t.Fatal(err)
	}
	got, sum, err := claudesettings.Install(input, claudesettings.NewEntry(testHookBin, ""), testHookBin)
	if err != nil {
		t.Fatal(err)
	}
	// SessionStart and PreToolUse[0] updated in place, ConfigChange (not an event install hooks)
	// updated; PreToolUse[0]'s second entry, PreToolUse[1]'s and Stop's (matcher Bash) removed.
	want := claudesettings.Summary{Added: len(claudesettings.Events) - 2, Updated: 3, Removed: 3}
	if sum != want {
		t.Errorf("summary %+v, want %+v", sum, want)
	}
	var s struct {
		Hooks map[string][]map[string]any `json:"hooks"`
	}
	json.Unmarshal(got, &s)
	if g := s.Hooks["PreToolUse"]; len(g) != 2 || g[0]["matcher"] != "*" || g[1]["matcher"] != "Edit|Write" || len(g[1]["hooks"].([]any)) != 1 {
		t.Errorf("PreToolUse = %v, want Hangar's group in place and the Edit|Write group with prettier only", g)
	}
	if g := s.Hooks["Stop"]; len(g) != 1 || g[0]["matcher"] != nil {
		t.Errorf("Stop = %v, want only Hangar's new group (the Bash-only one dropped)", g)
	}
	if !strings.Contains(string(got), `"ConfigChange"`) {
		t.Errorf("the ConfigChange event was dropped")
	}
}

// TestMalformed refuses every settings file that is not settings with hooks, naming the problem,
// with install and uninstall alike.
func TestMalformed(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
	}{
		{"invalid JSON", "{\n  \"model\": \"opus\",\n  \"hooks\": {\n}", "invalid JSON at line 4, column 1: unexpected end of JSON input"},
		{"invalid JSON, blanks around", "\n\n{\n  \"model\": \"opus\",\n  \"hooks\": {\n}\n\n", "invalid JSON at line 6, column 1: unexpected end of JSON input"},
		{"trailing comma", `{"model": "opus",}`, "invalid JSON at line 1, column 18: invalid character '}'"},
		{"bad value deep inside", "{\n  \"env\": {\n    \"A\": tru\n  }\n}", "invalid JSON at line 3, column 13"},
		{"two values", `{} {}`, "invalid JSON"},
		{"top level an array", `[{"hooks": {}}]`, "the top level is an array, want an object"},
		{"top level a string", `"hooks"`, "the top level is a string, want an object"},
		{"hooks an array", `{"hooks": []}`, `"hooks" is an array, want an object`},
		{"hooks null", `{"hooks": null}`, `"hooks" is null, want an object`},
		{"hooks twice", `{"hooks": {}, "model": "x", "hooks": {}}`, `the top level has the key "hooks" twice`},
		{"event an object", `{"hooks": {"Stop": {"hooks": []}}}`, "hooks.Stop is an object, want an array"},
		{"event a string", `{"hooks": {"PreToolUse": "agent hook claude-code"}}`, "hooks.PreToolUse is a string, want an array"},
		{"event twice", `{"hooks": {"Stop": [], "Stop": []}}`, `"hooks" has the key "Stop" twice`},
		{"group not an object", `{"hooks": {"Stop": [["x"]]}}`, "hooks.Stop[0] is an array, want an object"},
		{"group key twice", `{"hooks": {"Stop": [{"hooks": [], "hooks": []}]}}`, `hooks.Stop[0] has the key "hooks" twice`},
		{"group hooks not an array", `{"hooks": {"Stop": [{"hooks": {"type": "command"}}]}}`, "hooks.Stop[0].hooks is an object, want an array"},
		{"entry not an object", `{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x"}, "say hi"]}]}}`, "hooks.Stop[0].hooks[1] is a string, want an object"},
		{"entry a number", `{"hooks": {"Stop": [{"hooks": [1.5e3]}]}}`, "hooks.Stop[0].hooks[0] is a number, want an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for name, edit := range settingstest.Edits(testHookBin) {
				_, _, err := edit([]byte(tc.data))
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("%s: error %v, want one saying %q", name, err, tc.wantErr)
				}
			}
		})
	}
}

// TestHookCommandRule pins down which commands are Hangar's hook.
func TestHookCommandRule(t *testing.T) {
	tests := []struct {
		command string
		self    string
		want    bool
	}{
		{"/opt/hangar/bin/agent hook claude-code", "", true},
		{"agent hook claude-code", "", true},
		{"~/bin/agent hook claude-code", "", true},
		{"$HOME/go/bin/agent hook claude-code", "", true},
		{`'C:\Users\me\bin\agent.exe' hook claude-code`, "", true},
		{`"C:\Users\me\bin\agent.exe" hook claude-code`, "", true},
		{`C:\Users\me\bin\agent.exe hook claude-code`, "", false}, // a shell reads C:Usersmebinagent.exe
		{"'/Users/me/my tools/agent' hook claude-code", "", true},
		{`"/Users/me/my tools/agent" hook  claude-code`, "", true},
		{`/Users/me/my\ tools/agent hook claude-code`, "", true},
		{"/opt/hangar/bin/agent hook claude-code --data-dir /var/lib/hangar", "", true},
		{"/opt/hangar/bin/agent hook claude-code --data-dir='/data dir'", "", true},
		{"/opt/hangar/bin/agent --data-dir /x hook claude-code", "", true},
		{"/opt/hangar/bin/agent 'hook' \"claude-code\"", "", true},
		{"/usr/local/bin/hangar-agent hook claude-code", "", false},
		{"/usr/local/bin/hangar-agent hook claude-code", "/usr/local/bin/hangar-agent", true},
		{"/opt/agent/bin/run hook claude-code", "", false},
		{"agent hook cursor", "", false},
		{"agent hook claude-code extra", "", false},
		{"agent hook claude-code --log-level debug", "", false},
		{"agent hook claude-code --data-dir", "", false},
		{"agent hook claude-code --data-dir /a --data-dir /b", "", false},
		{"agent hook", "", false},
		{"agent run", "", false},
		{"agent hook claude-code || true", "", false},
		{"agent hook claude-code; echo done", "", false},
		{"agent hook claude-code 2>/dev/null", "", false},
		{"agent hook claude-code &", "", false},
		{"$(which agent) hook claude-code", "", false},
		{"HANGAR_DATA_DIR=/x agent hook claude-code", "", false},
		{"agent hook 'claude-code", "", false},
		{"echo agent hook claude-code", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		if got := claudesettings.IsHangarCommand(tc.command, tc.self); got != tc.want {
			t.Errorf("IsHangarCommand(%q, %q) = %v, want %v", tc.command, tc.self, got, tc.want)
		}
	}
	// And entries: only command hooks.
	entries := []struct {
		raw  string
		want bool
	}{
		{`{"type":"command","command":"agent hook claude-code"}`, true},
		{`{"type":"prompt","command":"agent hook claude-code"}`, false},
		{`{"command":"agent hook claude-code"}`, false},
		{`{"type":"command","command":42}`, false},
	}
	for _, e := range entries {
		if got := claudesettings.IsHangarEntry([]byte(e.raw), ""); got != e.want {
			t.Errorf("IsHangarEntry(%s) = %v, want %v", e.raw, got, e.want)
		}
	}
}

// TestNewEntryQuotes checks that the hook's command quotes the binary's and the data dir's paths
// so that the shell and the identification rule both read them back unchanged (shellword's tests
// run a real shell on the quoting).
func TestNewEntryQuotes(t *testing.T) {
	paths := []string{
		"/opt/hangar/bin/agent", "/Users/Jane Doe/bin/agent", "/tmp/it's/agent", `/tmp/back\slash/agent`,
		"/tmp/$HOME/agent", "/tmp/`x`/agent", "/tmp/a;b/agent", "/tmp/ünï cödé/agent", `/tmp/"q"/agent`, "/tmp/*/agent",
	}
	for _, p := range paths {
		entry := claudesettings.NewEntry(p, p+" data")
		argv, ok := shellword.Split(entry.Command)
		want := []string{p, "hook", "claude-code", "--data-dir", p + " data"}
		if !ok || !slices.Equal(argv, want) {
			t.Errorf("shellword.Split(%q) = %q, %v; want %q", entry.Command, argv, ok, want)
		}
		if !claudesettings.IsHangarCommand(entry.Command, "") {
			t.Errorf("%q is not recognized as Hangar's hook", entry.Command)
		}
		if entry != (claudesettings.Entry{Type: "command", Command: entry.Command, Async: true, Timeout: claudesettings.HookTimeout}) {
			t.Errorf("entry %+v", entry)
		}
	}
}
