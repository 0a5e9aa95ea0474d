// Package loginservice makes the file that has the operating system start Hangar's daemon
// (`agent run`) at login: a systemd user unit on Linux, a launchd agent on macOS. It only makes
// the file's content, path and the commands that enable and remove it; writing the file is the
// caller's (agent install writes it atomically), and it never runs systemctl or launchctl.
package loginservice

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hangar-dev/hangar/cmd/agent/internal/shellword"
)

// Service is the file that makes the OS start `agent run` at login.
type Service struct {
	Path    string   // where the file goes
	Args    []string // the command it runs
	Content []byte   // the file
	Enable  string   // the shell command that starts it now and at every login
	Disable string   // the shell command that stops and removes it
}

// For is the login service of goos: a systemd user unit on Linux
// ($XDG_CONFIG_HOME/systemd/user/hangar-agent.service, ~/.config by default), a launchd agent on
// macOS (~/Library/LaunchAgents/dev.hangar.agent.plist). It runs bin with `run` and --data-dir
// when dataDir is not empty, and restarts it when it fails. getenv reads HOME and
// XDG_CONFIG_HOME. Other systems get an error saying they are not supported.
func For(goos string, getenv func(string) string, bin, dataDir string) (Service, error) {
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return Service{}, fmt.Errorf("find the home directory: %w", err)
		}
	}
	args := []string{bin, "run"}
	if dataDir != "" {
		args = append(args, "--data-dir", dataDir)
	}
	switch goos {
	case "linux":
		return systemdUnit(getenv, home, args), nil
	case "darwin":
		return launchdAgent(home, args), nil
	}
	return Service{}, fmt.Errorf("starting the daemon at login is not supported on %s", goos)
}

func systemdUnit(getenv func(string) string, home string, args []string) Service {
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
	return Service{
		Path:    path,
		Args:    args,
		Content: []byte(unit),
		Enable:  "systemctl --user daemon-reload && systemctl --user enable --now hangar-agent",
		Disable: "systemctl --user disable --now hangar-agent && rm " + shellword.Quote(path),
	}
}

func launchdAgent(home string, args []string) Service {
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
	return Service{
		Path:    path,
		Args:    args,
		Content: []byte(b.String()),
		Enable:  fmt.Sprintf("launchctl bootout %s/dev.hangar.agent 2>/dev/null; launchctl bootstrap %s %s", domain, domain, shellword.Quote(path)),
		Disable: fmt.Sprintf("launchctl bootout %s/dev.hangar.agent; rm %s", domain, shellword.Quote(path)),
	}
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
