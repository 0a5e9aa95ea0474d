package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/claudesettings"
	"github.com/hangar-dev/hangar/cmd/agent/internal/claudesettings/settingstest"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/cmd/agent/internal/loginservice"
	"github.com/hangar-dev/hangar/cmd/agent/internal/shellword"
	"github.com/hangar-dev/hangar/pipeline"
)

// testHookBin is the binary path the settings tests install.
const testHookBin = "/opt/hangar/bin/agent"

// TestInstallMalformed refuses every settings file that is not settings with hooks, naming the file
// and the problem, and touches nothing: not the file, no backup, no temp file.
func TestInstallMalformed(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
	}{
		{"invalid JSON", "{\n  \"model\": \"opus\",\n  \"hooks\": {\n}", "invalid JSON at line 4, column 1: unexpected end of JSON input"},
		{"trailing comma", `{"model": "opus",}`, "invalid JSON at line 1, column 18: invalid character '}'"},
		{"bad value deep inside", "{\n  \"env\": {\n    \"A\": tru\n  }\n}", "invalid JSON at line 3, column 13"},
		{"two values", `{} {}`, "invalid JSON"},
		{"top level an array", `[{"hooks": {}}]`, "the top level is an array, want an object"},
		{"hooks an array", `{"hooks": []}`, `"hooks" is an array, want an object`},
		{"hooks null", `{"hooks": null}`, `"hooks" is null, want an object`},
		{"hooks twice", `{"hooks": {}, "model": "x", "hooks": {}}`, `the top level has the key "hooks" twice`},
		{"event an object", `{"hooks": {"Stop": {"hooks": []}}}`, "hooks.Stop is an object, want an array"},
		{"event a string", `{"hooks": {"PreToolUse": "agent hook claude-code"}}`, "hooks.PreToolUse is a string, want an array"},
		{"event twice", `{"hooks": {"Stop": [], "Stop": []}}`, `"hooks" has the key "Stop" twice`},
		{"group not an object", `{"hooks": {"Stop": [["x"]]}}`, "hooks.Stop[0] is an array, want an object"},
		{"group hooks not an array", `{"hooks": {"Stop": [{"hooks": {"type": "command"}}]}}`, "hooks.Stop[0].hooks is an object, want an array"},
		{"entry not an object", `{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x"}, "say hi"]}]}}`, "hooks.Stop[0].hooks[1] is a string, want an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "settings.json")
			if err := os.WriteFile(path, []byte(tc.data), 0o640); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour).Truncate(time.Second)
			os.Chtimes(path, old, old)
			for name, edit := range settingstest.Edits(testHookBin) {
				_, err := planSettings(path, "user", edit)
				if err == nil {
					t.Fatalf("%s: no error, want one saying %q", name, tc.wantErr)
				}
				if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("%s: error %q, want one naming %s and saying %q", name, err, path, tc.wantErr)
				}
			}
			checkInstallUntouched(t, dir, path, []byte(tc.data), 0o640, old)
		})
	}
}

// checkInstallUntouched checks that dir holds only path, with data, mode and mtime as they were.
func checkInstallUntouched(t *testing.T, dir, path string, data []byte, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("%s changed: %q (%v), want %q", path, got, err, data)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != mode || !info.ModTime().Equal(mtime) {
		t.Errorf("%s: mode %v mtime %v, want %v %v", path, info.Mode().Perm(), info.ModTime(), mode, mtime)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %q, want only %s", dir, names, filepath.Base(path))
	}
}

// TestInstallDiff checks the unified diffs --dry-run prints by applying them.
func TestInstallDiff(t *testing.T) {
	lines := func(n int, f func(i int) string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(f(i) + "\n")
		}
		return b.String()
	}
	long := lines(60, func(i int) string { return "line " + strconv.Itoa(i) })
	tests := []struct{ name, a, b string }{
		{"new file", "", "{\n  \"a\": 1\n}\n"},
		{"emptied", "x\ny\n", ""},
		{"one change in the middle", long, strings.Replace(long, "line 30\n", "line thirty\n", 1)},
		{"insertions far apart", long, strings.Replace(strings.Replace(long, "line 3\n", "line 3\nnew a\n", 1), "line 50\n", "new b\nline 50\n", 1)},
		{"changes close together", long, strings.Replace(strings.Replace(long, "line 10\n", "", 1), "line 15\n", "x\n", 1)},
		{"no newline at the end", "a\nb", "a\nb\n"},
		{"newline removed", "a\nb\n", "a\nc"},
		{"everything different", "a\nb\nc\n", "x\ny\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := installDiff("a/settings.json", "b/settings.json", []byte(tc.a), []byte(tc.b))
			if !strings.HasPrefix(d, "--- a/settings.json\n+++ b/settings.json\n@@ ") {
				t.Fatalf("diff does not start with the headers and a hunk:\n%s", d)
			}
			got, err := installApplyDiff(tc.a, d)
			if err != nil {
				t.Fatalf("apply: %v\n%s", err, d)
			}
			if got != tc.b {
				t.Errorf("applying\n%s\nto %q gave %q, want %q", d, tc.a, got, tc.b)
			}
		})
	}
	if d := installDiff("a", "b", []byte(long), []byte(long)); d != "" {
		t.Errorf("diff of equal texts = %q, want empty", d)
	}
	d := installDiff("a", "b", []byte(long), []byte(strings.Replace(long, "line 30\n", "line thirty\n", 1)))
	if !strings.Contains(d, "@@ -28,7 +28,7 @@\n line 27\n line 28\n line 29\n-line 30\n+line thirty\n line 31\n") {
		t.Errorf("diff with 3 lines of context:\n%s", d)
	}
}

// installHunkHeader is a hunk's header; a count left out is 1, as diff -u writes it.
var installHunkHeader = regexp.MustCompile(`^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$`)

// installDiffLines splits data into lines that keep their newline; a last line without one gets
// diff's "\\ No newline at end of file" mark, so that it differs from the same line with a newline.
func installDiffLines(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if last := lines[len(lines)-1]; !strings.HasSuffix(last, "\n") {
		lines[len(lines)-1] = last + "\n\\ No newline at end of file\n"
	}
	return lines
}

// installApplyDiff applies a unified diff to a, checking every context and deleted line and
// every hunk's counts and positions.
func installApplyDiff(a, diff string) (string, error) {
	old := installDiffLines([]byte(a))
	var out []string
	pos := 0 // lines of old consumed
	sc := bufio.NewScanner(strings.NewReader(diff))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	// Rejoin "\ No newline" marks to the line before, as installDiffLines keeps them.
	var ops []string
	for _, l := range lines[2:] {
		if strings.HasPrefix(l, `\ `) {
			ops[len(ops)-1] += "\n" + l
			continue
		}
		ops = append(ops, l)
	}
	for i := 0; i < len(ops); {
		m := installHunkHeader.FindStringSubmatch(ops[i])
		if m == nil {
			return "", fmt.Errorf("want a hunk header, got %q", ops[i])
		}
		count := func(s string) int {
			if s == "" {
				return 1
			}
			n, _ := strconv.Atoi(s)
			return n
		}
		aStart, _ := strconv.Atoi(m[1])
		aCount := count(m[2])
		bStart, _ := strconv.Atoi(m[3])
		bCount := count(m[4])
		if aCount > 0 {
			aStart--
		}
		if bCount > 0 {
			bStart--
		}
		if aStart < pos || aStart > len(old) {
			return "", fmt.Errorf("hunk %q starts at %d, after %d lines", ops[i], aStart, pos)
		}
		out = append(out, old[pos:aStart]...)
		pos = aStart
		if len(out) != bStart {
			return "", fmt.Errorf("hunk %q: new start %d, want %d", ops[i], bStart, len(out))
		}
		na, nb := 0, 0
		for i++; i < len(ops) && !strings.HasPrefix(ops[i], "@@"); i++ {
			kind, text := ops[i][0], ops[i][1:]+"\n"
			if kind != '+' {
				if pos >= len(old) || old[pos] != text {
					return "", fmt.Errorf("line %d is not %q", pos+1, text)
				}
				pos++
				na++
			}
			if kind != '-' {
				out = append(out, text)
				nb++
			}
		}
		if na != aCount || nb != bCount {
			return "", fmt.Errorf("hunk %s: counts %d,%d", m[0], na, nb)
		}
	}
	out = append(out, old[pos:]...)
	s := strings.Join(out, "")
	return strings.ReplaceAll(s, "\n\\ No newline at end of file\n", ""), nil
}

// TestInstallApply writes plans to real files: the backup (old bytes, old mode, timestamped), the
// new file with the old mode and no temp file left, a symlinked settings file edited through its
// link, and new files with their folders.
func TestInstallApply(t *testing.T) {
	install := func(d []byte) ([]byte, claudesettings.Summary, error) {
		return claudesettings.Install(d, claudesettings.NewEntry(testHookBin, ""), testHookBin)
	}
	now := time.Date(2026, 11, 23, 18, 12, 0, 0, time.UTC)

	t.Run("existing file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "settings.json")
		old := []byte("{\n  \"model\": \"opus\"\n}\n")
		os.WriteFile(path, old, 0o640)
		os.Chmod(path, 0o640)
		plan, err := planSettings(path, "user", install)
		if err != nil {
			t.Fatal(err)
		}
		backup, err := plan.apply(now)
		if err != nil {
			t.Fatal(err)
		}
		if want := path + ".hangar-backup-20261123T181200Z"; backup != want {
			t.Errorf("backup %s, want %s", backup, want)
		}
		if got, _ := os.ReadFile(backup); !bytes.Equal(got, old) {
			t.Errorf("backup holds %q, want %q", got, old)
		}
		if m := fileMode(t, backup); m != 0o640 {
			t.Errorf("backup mode %v, want 0640", m)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, plan.new) {
			t.Errorf("settings not written")
		}
		if m := fileMode(t, path); m != 0o640 {
			t.Errorf("settings mode %v, want 0640 as before", m)
		}
		// Same second again: a second backup, not over the first.
		plan2, _ := planSettings(path, "user", func(d []byte) ([]byte, claudesettings.Summary, error) {
			return claudesettings.Uninstall(d, testHookBin)
		})
		backup2, err := plan2.apply(now)
		if err != nil || backup2 != path+".hangar-backup-20261123T181200Z-2" {
			t.Errorf("second backup %s (%v)", backup2, err)
		}
		if got, _ := os.ReadFile(path); settingstest.Compact(t, got) != settingstest.Compact(t, old) {
			t.Errorf("after uninstall: %s, want %s", got, old)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 3 {
			t.Errorf("%d files in the folder, want settings and two backups (no temp file)", len(entries))
		}
	})

	t.Run("changed while editing", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "settings.json")
		os.WriteFile(path, []byte(`{"model": "opus"}`), 0o600)
		plan, err := planSettings(path, "user", install)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path, []byte(`{"model": "sonnet"}`), 0o600) // Claude Code writes meanwhile
		if _, err := plan.apply(now); err == nil || !strings.Contains(err.Error(), "changed while") {
			t.Errorf("apply over a file changed meanwhile: %v, want a refusal", err)
		}
		if got, _ := os.ReadFile(path); string(got) != `{"model": "sonnet"}` {
			t.Errorf("the file changed meanwhile was overwritten: %s", got)
		}
	})

	t.Run("symlink", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "dotfiles", "claude-settings.json")
		os.MkdirAll(filepath.Dir(target), 0o755)
		os.WriteFile(target, []byte(`{"model": "opus"}`), 0o644)
		link := filepath.Join(dir, ".claude", "settings.json")
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		plan, err := planSettings(link, "user", install)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := plan.apply(now); err != nil {
			t.Fatal(err)
		}
		if info, err := os.Lstat(link); err != nil || info.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("the symlink was replaced by a file")
		}
		if got, _ := os.ReadFile(target); !bytes.Contains(got, []byte("hook claude-code")) {
			t.Errorf("the link's target was not edited")
		}
	})

	for _, scope := range []struct {
		name             string
		mode, folderMode fs.FileMode
	}{{"user", 0o600, 0o700}, {"project", 0o644, 0o755}} {
		t.Run("new "+scope.name+" file", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a", ".claude", "settings.json")
			plan, err := planSettings(path, scope.name, install)
			if err != nil {
				t.Fatal(err)
			}
			if backup, err := plan.apply(now); err != nil || backup != "" {
				t.Fatalf("apply: backup %q, %v", backup, err)
			}
			if m := fileMode(t, path); m != scope.mode {
				t.Errorf("mode %v, want %v", m, scope.mode)
			}
			if m := fileMode(t, filepath.Dir(path)); m != scope.folderMode {
				t.Errorf("folder mode %v, want %v", m, scope.folderMode)
			}
		})
	}

	t.Run("uninstall without a file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "settings.json")
		plan, err := planSettings(path, "user", func(d []byte) ([]byte, claudesettings.Summary, error) { return claudesettings.Uninstall(d, "") })
		if err != nil || plan.changed {
			t.Errorf("plan: changed %v, %v; want nothing to change", plan != nil && plan.changed, err)
		}
	})
}

// TestInstallSettingsPath follows Claude Code: $CLAUDE_CONFIG_DIR (its first entry), else ~/.claude.
func TestInstallSettingsPath(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	tests := []struct{ scope, configDir, want string }{
		{"user", "", filepath.Join(home, ".claude", "settings.json")},
		{"user", "/etc/claude-a", "/etc/claude-a/settings.json"},
		{"user", " /etc/claude-a , /etc/claude-b", "/etc/claude-a/settings.json"},
		{"user", "~/work-claude", filepath.Join(home, "work-claude", "settings.json")},
		{"project", "/etc/claude-a", filepath.Join(installGetwd(t), ".claude", "settings.json")},
	}
	for _, tc := range tests {
		got, err := claudeSettingsPath(tc.scope, func(k string) string {
			if k == "CLAUDE_CONFIG_DIR" {
				return tc.configDir
			}
			return ""
		})
		if err != nil || got != tc.want {
			t.Errorf("claudeSettingsPath(%s, CLAUDE_CONFIG_DIR=%q) = %q, %v; want %q", tc.scope, tc.configDir, got, err, tc.want)
		}
	}
}

func installGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// TestInstallPrompt: only y or yes is yes; several questions read one line each.
func TestInstallPrompt(t *testing.T) {
	var out bytes.Buffer
	p := &installPrompter{in: strings.NewReader("y\n\nYES\nnope\n"), out: &out}
	var got []bool
	for range 5 {
		ok, err := p.yesNo("Go?")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ok)
	}
	if want := []bool{true, false, true, false, false}; !slices.Equal(got, want) {
		t.Errorf("answers %v, want %v", got, want)
	}
	if !strings.HasPrefix(out.String(), "Go? [y/N] ") {
		t.Errorf("prompt %q", out.String())
	}
}

// installEnv is the environment of the binary in these tests: HOME set to home, and nothing of
// the developer's Claude Code or XDG settings.
func installEnv(home string, extra ...string) []string {
	var env []string
	for _, kv := range childEnv() {
		k, _, _ := strings.Cut(kv, "=")
		if k != "HOME" && k != "CLAUDE_CONFIG_DIR" && k != "XDG_CONFIG_HOME" {
			env = append(env, kv)
		}
	}
	return append(env, append([]string{"HOME=" + home}, extra...)...)
}

// runInstallAgent runs the built binary in dir with env, stdin not a terminal.
func runInstallAgent(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(agentBin, args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	if cmd.ProcessState == nil {
		t.Fatalf("agent %s: %v", strings.Join(args, " "), err)
	}
	res.code = cmd.ProcessState.ExitCode()
	return res
}

func installOK(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	res := runInstallAgent(t, dir, env, args...)
	if res.code != 0 {
		t.Fatalf("agent %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res
}

// TestInstallUninstallBinary runs the built binary against a home in a temp dir: install adds
// Hangar's hook to every event of settings Claude Code wrote, installing again changes no byte,
// uninstall gives back the original bytes; the backups hold what was replaced.
func TestInstallUninstallBinary(t *testing.T) {
	home := t.TempDir()
	env := installEnv(home)
	settings := filepath.Join(home, ".claude", "settings.json")
	original, err := os.ReadFile("internal/claudesettings/testdata/unrelated/settings.json")
	if err != nil {
		t.Fatal(err)
	}
	// Claude Code writes its settings 2-space indented, as install does: uninstall then gives back
	// the same bytes, not only the same values.
	var indented bytes.Buffer
	json.Indent(&indented, []byte(settingstest.Compact(t, original)), "", "  ")
	indented.WriteByte('\n')
	original = indented.Bytes()
	os.MkdirAll(filepath.Dir(settings), 0o755)
	if err := os.WriteFile(settings, original, 0o644); err != nil {
		t.Fatal(err)
	}

	bin, err := filepath.EvalSymlinks(agentBin)
	if err != nil {
		t.Fatal(err)
	}
	res := installOK(t, home, env, "install", "claude-code", "--yes")
	if !strings.Contains(res.stdout, "Backed up") || !strings.Contains(res.stdout, "agent install claude-code --service") {
		t.Errorf("install output:\n%s", res.stdout)
	}
	installed, _ := os.ReadFile(settings)
	entry := claudesettings.NewEntry(bin, "")
	if entry.Command != shellword.Quote(bin)+" hook claude-code" {
		t.Fatalf("command %q", entry.Command)
	}
	settingstest.CheckEverywhere(t, installed, entry, testHookBin)
	settingstest.CheckKept(t, original, installed, testHookBin)
	if m := fileMode(t, settings); m != 0o644 {
		t.Errorf("settings mode %v, want 0644 as before", m)
	}
	backups, _ := filepath.Glob(settings + ".hangar-backup-*")
	if len(backups) != 1 {
		t.Fatalf("backups %q, want one", backups)
	}
	if !regexp.MustCompile(`\.hangar-backup-\d{8}T\d{6}Z$`).MatchString(backups[0]) {
		t.Errorf("backup name %s", backups[0])
	}
	if got, _ := os.ReadFile(backups[0]); !bytes.Equal(got, original) {
		t.Errorf("backup holds other bytes than the original")
	}

	res = installOK(t, home, env, "install", "claude-code", "--yes")
	if again, _ := os.ReadFile(settings); !bytes.Equal(again, installed) {
		t.Errorf("install twice changed the file:\n%s", installDiff("once", "twice", installed, again))
	}
	if !strings.Contains(res.stdout, "nothing to change") {
		t.Errorf("second install output:\n%s", res.stdout)
	}
	if b, _ := filepath.Glob(settings + ".hangar-backup-*"); len(b) != 1 {
		t.Errorf("a second install with nothing to change wrote a backup: %q", b)
	}

	installOK(t, home, env, "uninstall", "claude-code")
	if got, _ := os.ReadFile(settings); !bytes.Equal(got, original) {
		t.Errorf("uninstall did not give back the original:\n%s", installDiff("original", "after", original, got))
	}
	backups, _ = filepath.Glob(settings + ".hangar-backup-*")
	if len(backups) != 2 {
		t.Fatalf("backups %q, want two", backups)
	}
	slices.Sort(backups) // ...Z before ...Z-2 within a second, and later seconds after
	if got, _ := os.ReadFile(backups[1]); !bytes.Equal(got, installed) {
		t.Errorf("uninstall's backup holds other bytes than the installed settings")
	}
	res = installOK(t, home, env, "uninstall", "claude-code", "--yes") // as a script passing --yes to both
	if !strings.Contains(res.stdout, "nothing to change") {
		t.Errorf("second uninstall output:\n%s", res.stdout)
	}
}

// TestInstallBinaryOptions runs the binary with its options: dry run, data dir (and the command it
// installs works in a real shell), $CLAUDE_CONFIG_DIR, project scope, no terminal, a malformed
// file, an unknown platform, the login service.
func TestInstallBinaryOptions(t *testing.T) {
	t.Run("dry run", func(t *testing.T) {
		home := t.TempDir()
		res := installOK(t, home, installEnv(home), "install", "claude-code", "--dry-run")
		settings := filepath.Join(home, ".claude", "settings.json")
		if !strings.Contains(res.stdout, "--- /dev/null\n+++ "+settings+"\n@@ -0,0 +1,") || !strings.Contains(res.stdout, `+            "async": true,`) {
			t.Errorf("dry run output:\n%s", res.stdout)
		}
		if entries, _ := os.ReadDir(home); len(entries) != 0 {
			t.Errorf("dry run created %v", entries)
		}
	})

	t.Run("the user's layout kept", func(t *testing.T) {
		// A settings file with compact arrays, as people write them: the dry run's diff shows only
		// what install adds (a line that changes only gains its comma), install writes that, and
		// uninstall gives back the user's bytes.
		home := t.TempDir()
		env := installEnv(home)
		settings := filepath.Join(home, ".claude", "settings.json")
		original, err := os.ReadFile("internal/claudesettings/testdata/claude-style/settings.json")
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(settings), 0o700)
		if err := os.WriteFile(settings, original, 0o600); err != nil {
			t.Fatal(err)
		}
		res := installOK(t, home, env, "install", "claude-code", "--dry-run", "--no-service")
		var removed, added []string
		for _, line := range strings.Split(res.stdout, "\n") {
			switch {
			case strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "+++ "):
			case strings.HasPrefix(line, "-"):
				removed = append(removed, line[1:])
			case strings.HasPrefix(line, "+"):
				added = append(added, line[1:])
			}
		}
		if len(added) == 0 {
			t.Fatalf("dry run shows no change:\n%s", res.stdout)
		}
		for _, line := range removed {
			if !slices.Contains(added, line+",") {
				t.Errorf("the diff changes the user's line %q (not only adding a comma):\n%s", line, res.stdout)
			}
		}
		if len(removed) > 3 {
			t.Errorf("the diff changes %d of the user's lines, want at most 3 (each gaining a comma):\n%s", len(removed), res.stdout)
		}
		installOK(t, home, env, "install", "claude-code", "--yes", "--no-service")
		installed, _ := os.ReadFile(settings)
		if want := installDiff(settings, settings, original, installed); !strings.Contains(res.stdout, want) {
			t.Errorf("install wrote another change than the dry run showed:\n%s", want)
		}
		installOK(t, home, env, "uninstall", "claude-code")
		if got, _ := os.ReadFile(settings); !bytes.Equal(got, original) {
			t.Errorf("uninstall did not give back the user's bytes:\n%s", installDiff("original", "after", original, got))
		}
	})

	t.Run("data dir, run by a shell", func(t *testing.T) {
		home := t.TempDir()
		dataDir := filepath.Join(t.TempDir(), "hangar data", "it's here")
		env := installEnv(home)
		installOK(t, home, env, "install", "claude-code", "--yes", "--no-service", "--data-dir", dataDir)
		data, _ := os.ReadFile(filepath.Join(home, ".claude", "settings.json"))
		bin, _ := filepath.EvalSymlinks(agentBin)
		entry := claudesettings.NewEntry(bin, dataDir)
		if !strings.HasSuffix(entry.Command, ` --data-dir '`+filepath.Dir(dataDir)+`/it'\''s here'`) {
			t.Errorf("command %s", entry.Command)
		}
		settingstest.CheckEverywhere(t, data, entry, bin)
		// Run the command as Claude Code does, through a shell: with no daemon, the hook spools.
		sh, err := exec.LookPath("sh")
		if err != nil {
			t.Fatalf("Claude Code runs hook commands through sh: %v", err)
		}
		cmd := exec.Command(sh, "-c", entry.Command)
		cmd.Env = env
		cmd.Stdin = bytes.NewReader(fixtures[0].payload)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
			t.Fatalf("sh -c %s: %v, output %q", entry.Command, err, out)
		}
		if !pipeline.NewSpool(filepath.Join(dataDir, daemon.SpoolName), nil).Pending() {
			t.Errorf("the hook run by the shell did not spool its payload into %s", dataDir)
		}
		// Installing with the default data dir replaces the entry, not adds one.
		installOK(t, home, env, "install", "claude-code", "--yes", "--no-service")
		data, _ = os.ReadFile(filepath.Join(home, ".claude", "settings.json"))
		settingstest.CheckEverywhere(t, data, claudesettings.NewEntry(bin, ""), bin)
	})

	t.Run("CLAUDE_CONFIG_DIR", func(t *testing.T) {
		home, config := t.TempDir(), filepath.Join(t.TempDir(), "claude-work")
		env := installEnv(home, "CLAUDE_CONFIG_DIR="+config+",/elsewhere")
		installOK(t, home, env, "install", "claude-code", "--yes", "--no-service")
		if _, err := os.Stat(filepath.Join(config, "settings.json")); err != nil {
			t.Errorf("settings not in CLAUDE_CONFIG_DIR: %v", err)
		}
		if _, err := os.Stat(filepath.Join(home, ".claude")); err == nil {
			t.Errorf("~/.claude was written despite CLAUDE_CONFIG_DIR")
		}
	})

	t.Run("project scope", func(t *testing.T) {
		home, project := t.TempDir(), t.TempDir()
		env := installEnv(home)
		installOK(t, project, env, "install", "claude-code", "--scope", "project", "--yes", "--no-service")
		path := filepath.Join(project, ".claude", "settings.json")
		if m := fileMode(t, path); m != 0o644 {
			t.Errorf("project settings mode %v, want 0644", m)
		}
		installOK(t, project, env, "uninstall", "claude-code", "--scope", "project")
		if got, _ := os.ReadFile(path); settingstest.Compact(t, got) != "{}" {
			t.Errorf("after uninstall: %s", got)
		}
		if _, err := os.Stat(filepath.Join(home, ".claude")); err == nil {
			t.Errorf("project scope wrote ~/.claude")
		}
	})

	t.Run("no terminal", func(t *testing.T) {
		home := t.TempDir()
		res := runInstallAgent(t, home, installEnv(home), "install", "claude-code")
		if res.code != 1 || !strings.Contains(res.stderr, "no terminal to confirm on") || !strings.Contains(res.stderr, "--yes") {
			t.Errorf("exit %d, stderr %q; want a refusal pointing at --yes", res.code, res.stderr)
		}
		if entries, _ := os.ReadDir(home); len(entries) != 0 {
			t.Errorf("created %v", entries)
		}
	})

	t.Run("malformed", func(t *testing.T) {
		home := t.TempDir()
		dir := filepath.Join(home, ".claude")
		path := filepath.Join(dir, "settings.json")
		os.MkdirAll(dir, 0o755)
		bad := []byte(`{"hooks": {"Stop": "say done"}}`)
		os.WriteFile(path, bad, 0o600)
		old := time.Now().Add(-time.Hour).Truncate(time.Second)
		os.Chtimes(path, old, old)
		for _, args := range [][]string{{"install", "claude-code", "--yes"}, {"uninstall", "claude-code"}} {
			res := runInstallAgent(t, home, installEnv(home), args...)
			if res.code != 1 || !strings.Contains(res.stderr, path) || !strings.Contains(res.stderr, "hooks.Stop is a string, want an array") {
				t.Errorf("%s: exit %d, stderr %q", args[0], res.code, res.stderr)
			}
		}
		checkInstallUntouched(t, dir, path, bad, 0o600, old)
	})

	t.Run("unknown platform", func(t *testing.T) {
		home := t.TempDir()
		for _, cmd := range []string{"install", "uninstall"} {
			res := runInstallAgent(t, home, installEnv(home), cmd, "cursor")
			if res.code != 2 || !strings.Contains(res.stderr, `unknown platform "cursor": the supported platforms are claude-code`) {
				t.Errorf("%s cursor: exit %d, stderr %q", cmd, res.code, res.stderr)
			}
		}
	})

	t.Run("login service", func(t *testing.T) {
		if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
			t.Skip("no login service on " + runtime.GOOS)
		}
		home, xdg := t.TempDir(), t.TempDir()
		env := installEnv(home, "XDG_CONFIG_HOME="+xdg)
		res := installOK(t, home, env, "install", "claude-code", "--yes", "--service")
		bin, _ := filepath.EvalSymlinks(agentBin)
		svc, err := loginservice.For(runtime.GOOS, func(k string) string {
			return map[string]string{"HOME": home, "XDG_CONFIG_HOME": xdg}[k]
		}, bin, "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(svc.Path)
		if err != nil || !bytes.Equal(got, svc.Content) {
			t.Errorf("service file %s: %v\n%s", svc.Path, err, got)
		}
		if !strings.Contains(res.stdout, svc.Enable) {
			t.Errorf("install did not print how to enable the service:\n%s", res.stdout)
		}
		res = installOK(t, home, env, "install", "claude-code", "--yes", "--service")
		if !strings.Contains(res.stdout, "already installed") {
			t.Errorf("second install:\n%s", res.stdout)
		}
		// Another data dir: the unit runs another command; without --service it is left alone.
		other := filepath.Join(t.TempDir(), "other")
		res = installOK(t, home, env, "install", "claude-code", "--yes", "--data-dir", other)
		if !strings.Contains(res.stdout, "runs another command") || !strings.Contains(res.stdout, "--data-dir "+other+" --service") {
			t.Errorf("install with another data dir:\n%s", res.stdout)
		}
		if again, _ := os.ReadFile(svc.Path); !bytes.Equal(again, got) {
			t.Errorf("the service file changed without --service")
		}
		res = installOK(t, home, env, "uninstall", "claude-code")
		if !strings.Contains(res.stdout, svc.Disable) {
			t.Errorf("uninstall did not say how to remove the service:\n%s", res.stdout)
		}
	})
}
