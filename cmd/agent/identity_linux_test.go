package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/host"
	"golang.org/x/sys/unix"
)

// openTerminal returns both ends of a new pseudo-terminal: what the test writes to main, the
// command reads from sub as from a terminal.
func openTerminal(t *testing.T) (main, sub *os.File) {
	t.Helper()
	main, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		// Linux always has devpts where these tests run (CI included): a missing one is a broken
		// machine, not a reason to pass without checking the prompt.
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { main.Close() })
	if err := unix.IoctlSetPointerInt(int(main.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(main.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	sub, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { sub.Close() })
	return main, sub
}

// installAtTerminal runs `agent plugins install` in this process with a terminal on stdin that
// answers answer, and returns what it printed and its error.
func installAtTerminal(t *testing.T, dataDir, answer string, cmd PluginsInstallCmd) (string, error) {
	t.Helper()
	main, sub := openTerminal(t)
	if _, err := main.WriteString(answer + "\n"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := cmd.Run(&Globals{DataDir: dataDir, stdin: sub, stdout: &out, stderr: &out})
	return out.String(), err
}

// TestInstallAtTerminal: at a terminal, replacing a first-party plugin (with the flag) and taking
// a platform over are asked in so many words; only yes does it.
func TestInstallAtTerminal(t *testing.T) {
	dataDir := newDataDir(t)
	caps := firstPartyCaps(t)
	impostor := writePluginFolder(t, testPluginSpec{name: "claude-code", version: "2.0.1", platform: "claude-code", caps: caps, variant: "impostor"})
	counter := writeTestPlugin(t, "counter", "1.0.0", testCaps...)

	// Without the flag, a terminal changes nothing: refused before any question.
	out, err := installAtTerminal(t, dataDir, "y", PluginsInstallCmd{Dir: impostor})
	if err == nil || !strings.Contains(err.Error(), "--replace-first-party") || strings.Contains(out, "[y/N]") {
		t.Fatalf("install of a folder claude-code at a terminal without the flag: %v\n%s", err, out)
	}
	const replace = "Replace the first-party plugin claude-code with this one and grant it these capabilities? [y/N]"
	out, err = installAtTerminal(t, dataDir, "n", PluginsInstallCmd{Dir: impostor, ReplaceFirstParty: true})
	if err == nil || !strings.Contains(out, replace) || !strings.Contains(out, "CAN READ YOUR PROMPTS") {
		t.Fatalf("answered no: %v\n%s", err, out)
	}
	if p := listPlugins(t, dataDir)["claude-code"]; p.Source != host.SourceBuiltin {
		t.Fatalf("answered no, and claude-code is %s %s", p.Source, p.Version)
	}
	const takeOver = "Install counter@1.0.0 and grant these capabilities, and let it capture claude-code in place of claude-code@2.0.0? [y/N]"
	out, err = installAtTerminal(t, dataDir, "yes", PluginsInstallCmd{Dir: counter})
	if err != nil || !strings.Contains(out, takeOver) || !strings.Contains(out, "claude-code is captured by counter@1.0.0 now.") {
		t.Fatalf("take-over answered yes: %v\n%s", err, out)
	}
	agentOK(t, dataDir, "plugins", "remove", "counter")
	out, err = installAtTerminal(t, dataDir, "y", PluginsInstallCmd{Dir: impostor, ReplaceFirstParty: true})
	if err != nil || !strings.Contains(out, replace) || !strings.Contains(out, "Replaced the first-party claude-code@2.0.0 with claude-code@2.0.1 (enabled)") {
		t.Fatalf("replacement answered yes: %v\n%s", err, out)
	}
	if p := listPlugins(t, dataDir)["claude-code"]; p.Source != host.SourceInstalled || len(p.Granted) != len(caps) {
		t.Errorf("after the replacement: %+v", p)
	}
}
