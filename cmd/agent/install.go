package main

// `agent install claude-code` adds Hangar's hook to every Claude Code hook event in its
// settings.json and offers to start the daemon at login; `agent uninstall claude-code` takes the
// hook out again. Both change only Hangar's entries and keep everything else byte for byte
// (package claudesettings edits the file's bytes), write a timestamped backup, then replace the
// file atomically (installsettings.go); --dry-run prints the change as a unified diff and touches
// nothing. The login service's unit is package loginservice's.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aymanbagabas/go-udiff"
	"github.com/hangar-dev/hangar/cmd/agent/internal/claudesettings"
	"github.com/hangar-dev/hangar/cmd/agent/internal/loginservice"
	"github.com/hangar-dev/hangar/cmd/agent/internal/shellword"
	"github.com/hangar-dev/hangar/store/atomicfile"
)

// installPlatforms are the assistants install and uninstall know.
var installPlatforms = []string{"claude-code"}

// InstallCmd adds Hangar's hook to an assistant's settings and offers to start the daemon at login.
type InstallCmd struct {
	Platform  string `arg:"" help:"The assistant: claude-code."`
	Scope     string `default:"user" enum:"user,project" help:"Which settings: user (~/.claude/settings.json, or in $$CLAUDE_CONFIG_DIR) or project (./.claude/settings.json)."`
	DryRun    bool   `name:"dry-run" help:"Print the change as a diff and touch nothing."`
	Yes       bool   `short:"y" help:"Change the settings without asking (needed without a terminal); the login service then needs --service."`
	Service   bool   `xor:"service" help:"Also install the service that starts the daemon at login (systemd user unit or launchd agent), without asking."`
	NoService bool   `name:"no-service" xor:"service" help:"Do not install or offer the login service."`
}

// UninstallCmd removes Hangar's hook from an assistant's settings.
type UninstallCmd struct {
	Platform string `arg:"" help:"The assistant: claude-code."`
	Scope    string `default:"user" enum:"user,project" help:"Which settings: user (~/.claude/settings.json, or in $$CLAUDE_CONFIG_DIR) or project (./.claude/settings.json)."`
	DryRun   bool   `name:"dry-run" help:"Print the change as a diff and touch nothing."`
	// Yes is accepted so that a script can pass --yes to install and uninstall alike: uninstall
	// only removes Hangar's own entries, after a backup, and never asks.
	Yes bool `short:"y" help:"Accepted as install takes it; uninstall never asks."`
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
	entry := claudesettings.NewEntry(bin, dataDirArgs)
	plan, err := planSettings(path, c.Scope, func(data []byte) ([]byte, claudesettings.Summary, error) {
		return claudesettings.Install(data, entry, bin)
	})
	if err != nil {
		return err
	}
	// Everything that can be refused is refused before anything is written.
	svc, svcErr := loginservice.For(runtime.GOOS, os.Getenv, bin, dataDirArgs)
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
		fmt.Fprintf(w, "Installed: Claude Code runs `%s` on %d events (%s).\n", entry.Command, len(claudesettings.Events), plan.summary)
		fmt.Fprintln(w, "Claude Code reads its hooks when a session starts: restart running sessions to capture them.")
	}

	if c.NoService {
		return nil
	}
	if svcErr != nil {
		fmt.Fprintf(w, "Login service: %v; start the daemon yourself with `agent run`.\n", svcErr)
		return nil
	}
	current, err := os.ReadFile(svc.Path)
	exists := err == nil
	if exists && bytes.Equal(current, svc.Content) {
		fmt.Fprintf(w, "Login service: already installed (%s).\n", svc.Path)
		return nil
	}
	hint := c.serviceHint(dataDirArgs)
	state, question := "not installed", fmt.Sprintf("Start the Hangar daemon at login? This writes %s.", svc.Path)
	if exists {
		state = fmt.Sprintf("%s runs another command than `%s`", svc.Path, strings.Join(svc.Args, " "))
		question = fmt.Sprintf("The login service %s runs another command. Update it?", svc.Path)
	}
	switch {
	case c.DryRun && c.Service:
		from := svc.Path
		if !exists {
			from = "/dev/null"
		}
		fmt.Fprint(w, installDiff(from, svc.Path, current, svc.Content))
		fmt.Fprintf(w, "Dry run: %s was not written.\n", svc.Path)
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
	if err := os.MkdirAll(filepath.Dir(svc.Path), 0o755); err != nil {
		return fmt.Errorf("install login service: %w", err)
	}
	if err := atomicfile.WriteFile(svc.Path, svc.Content, 0o644); err != nil {
		return fmt.Errorf("install login service: %w", err)
	}
	fmt.Fprintf(w, "Wrote %s\nTo start the daemon now and at every login, run:\n  %s\n", svc.Path, svc.Enable)
	return nil
}

// serviceHint is the command that installs the login service with the same settings and data dir.
func (c *InstallCmd) serviceHint(dataDirArgs string) string {
	hint := "agent install " + c.Platform
	if c.Scope != "user" {
		hint += " --scope " + c.Scope
	}
	if dataDirArgs != "" {
		hint += " --data-dir " + shellword.Quote(dataDirArgs)
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
	plan, err := planSettings(path, c.Scope, func(data []byte) ([]byte, claudesettings.Summary, error) {
		return claudesettings.Uninstall(data, self)
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
	if svc, err := loginservice.For(runtime.GOOS, os.Getenv, self, ""); err == nil {
		if _, err := os.Stat(svc.Path); err == nil {
			fmt.Fprintf(w, "The login service stays (it runs the daemon for every assistant). To remove it:\n  %s\n", svc.Disable)
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
