package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
	"github.com/jedib0t/go-pretty/v6/table"
)

// PluginsCmd installs and manages plugins. (The scaffolding command, `plugins new`, joins this
// group as a field of its own.)
type PluginsCmd struct {
	Install PluginsInstallCmd `cmd:"" help:"Install a plugin from a folder (plugin.toml, the .wasm, an optional README), or upgrade an installed one."`
	List    PluginsListCmd    `cmd:"" help:"List built-in and installed plugins."`
	Info    PluginsInfoCmd    `cmd:"" help:"Show a plugin's manifest, grants and state."`
	Remove  PluginsRemoveCmd  `cmd:"" help:"Remove an installed plugin."`
	Enable  PluginsEnableCmd  `cmd:"" help:"Enable a plugin (lifts a quarantine)."`
	Disable PluginsDisableCmd `cmd:"" help:"Disable a plugin."`
	Grant   PluginsGrantCmd   `cmd:"" help:"Grant a plugin a capability its manifest asks for."`
	Revoke  PluginsRevokeCmd  `cmd:"" help:"Revoke a capability from a plugin (revoking its emit right disables it)."`
	New     PluginsNewCmd     `cmd:"" help:"Create a plugin folder (Go or AssemblyScript) that builds with one command."`
}

// pluginEnv is what every plugins command works with: the registry and the audit log.
type pluginEnv struct {
	reg   *host.Registry
	audit *host.AuditLog
}

// openPlugins opens the registry of the data directory (creating the directory, private, if it
// does not exist yet) with the audit log.
func (g *Globals) openPlugins() (*pluginEnv, func(), error) {
	if err := os.MkdirAll(g.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	audit, err := host.OpenAuditLog(filepath.Join(g.DataDir, host.AuditName))
	if err != nil {
		return nil, nil, err
	}
	reg, err := openRegistry(g.DataDir, audit)
	if err != nil {
		audit.Close()
		return nil, nil, err
	}
	return &pluginEnv{reg: reg, audit: audit}, func() { audit.Close() }, nil
}

// withPlugins runs fn with the plugin registry, then, if fn changed something, asks a running
// daemon to reload its plugins.
func (g *Globals) withPlugins(changes bool, fn func(env *pluginEnv) error) error {
	env, closeEnv, err := g.openPlugins()
	if err != nil {
		return err
	}
	defer closeEnv()
	if err := fn(env); err != nil {
		return err
	}
	if changes {
		g.reloadDaemonPlugins()
	}
	return nil
}

// reloadDaemonPlugins tells a running daemon to reload its plugins. Without a daemon there is
// nothing to do: the next `agent run` reads the registry.
func (g *Globals) reloadDaemonPlugins() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := daemon.NewClient(g.DataDir).ReloadPlugins(ctx)
	if err != nil && !errors.Is(err, daemon.ErrNoDaemon) {
		fmt.Fprintf(g.stderr, "agent: warning: the running daemon did not reload its plugins (%v); restart it to apply the change\n", err)
	}
}

// PluginsInstallCmd installs a plugin from a folder.
type PluginsInstallCmd struct {
	Dir string `arg:"" type:"existingdir" help:"The plugin's folder."`
	Yes bool   `short:"y" env:"-" help:"Grant the capabilities the plugin asks for without asking (needed without a terminal)."`
}

// Run implements the command.
func (c *PluginsInstallCmd) Run(g *Globals) error {
	m, wasm, err := host.ReadPluginDir(c.Dir)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return g.withPlugins(true, func(env *pluginEnv) error {
		plan, err := env.reg.Plan(&m)
		if err != nil {
			return fmt.Errorf("install: %w", err)
		}
		w := g.stdout
		if plan.Upgrade {
			fmt.Fprintf(w, "Upgrade %s from %s to %s\n\n", m.Name, plan.From, m.Version)
		} else {
			fmt.Fprintf(w, "Install %s %s\n\n", m.Name, m.Version)
		}
		describeManifest(w, &m)
		fmt.Fprintf(w, "Module:      %s, sha256 %s (verified)\n\n", m.Wasm, m.SHA256)
		if plan.Upgrade && len(plan.Kept) > 0 {
			fmt.Fprintln(w, "Already granted, kept:")
			describeCaps(w, plan.Kept)
			fmt.Fprintln(w)
		}
		if len(plan.New) > 0 {
			if plan.Upgrade {
				fmt.Fprintln(w, "This version ALSO asks to:")
			} else {
				fmt.Fprintln(w, "It asks to:")
			}
			describeCaps(w, plan.New)
			warnSensitive(w, plan.New)
			fmt.Fprintln(w)
		} else if !plan.Upgrade {
			fmt.Fprintln(w, "It asks for no capabilities.")
			fmt.Fprintln(w)
		}
		if !plan.Upgrade || len(plan.New) > 0 {
			question := fmt.Sprintf("Install %s and grant these capabilities?", m.ID())
			if plan.Upgrade {
				question = fmt.Sprintf("Upgrade %s and grant the new capabilities?", m.Name)
			}
			if err := c.confirm(g, question); err != nil {
				return err
			}
		}
		// Compile before copying: a module that does not compile is not installed, and the
		// compilation cache is warm for the daemon.
		if err := precompile(g.DataDir, m, wasm, plan.Kept, plan.New); err != nil {
			return fmt.Errorf("install %s: %w", m.ID(), err)
		}
		res, err := env.reg.Install(c.Dir, slices.Clone(plan.New))
		if err != nil {
			return err
		}
		state := "enabled"
		if !res.Plugin.Enabled {
			state = "disabled"
		}
		verb := "Installed"
		if plan.Upgrade {
			verb = "Upgraded"
		}
		fmt.Fprintf(w, "%s %s (%s) in %s\n", verb, m.ID(), state, res.Plugin.Dir)
		return nil
	})
}

// confirm asks the user on a terminal; without one it refuses unless --yes.
func (c *PluginsInstallCmd) confirm(g *Globals, question string) error {
	if c.Yes {
		return nil
	}
	if !isTerminal(g.stdin) {
		return &exitError{code: 1, err: errors.New("not installing: there is no terminal to confirm on; read what the plugin asks for above, and run again with --yes to grant it")}
	}
	fmt.Fprintf(g.stdout, "%s [y/N] ", question)
	line, err := bufio.NewReader(g.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return &exitError{code: 1, err: errors.New("not installing: not confirmed")}
}

func describeManifest(w io.Writer, m *host.Manifest) {
	kind := string(m.Kind) + " plugin"
	if m.Platform != "" {
		kind += " for " + m.Platform
	}
	fmt.Fprintf(w, "Name:        %s\n", m.Name)
	fmt.Fprintf(w, "Version:     %s\n", m.Version)
	fmt.Fprintf(w, "Kind:        %s\n", kind)
	if m.Description != "" {
		fmt.Fprintf(w, "Description: %s\n", m.Description)
	}
	if len(m.Authors) > 0 {
		fmt.Fprintf(w, "Authors:     %s\n", strings.Join(m.Authors, ", "))
	}
	if len(m.Emits) > 0 {
		fmt.Fprintf(w, "Emits:       %s\n", strings.Join(m.Emits, ", "))
	}
}

// describeCaps lists capabilities in plain words, sensitive ones marked with "!".
func describeCaps(w io.Writer, caps []string) {
	width := 0
	for _, c := range caps {
		width = max(width, len(c))
	}
	for _, s := range caps {
		c, err := host.ParseCapability(s)
		if err != nil {
			fmt.Fprintf(w, "  ? %-*s  %v\n", width, s, err)
			continue
		}
		mark := " "
		if c.Sensitive() {
			mark = "!"
		}
		fmt.Fprintf(w, "  %s %-*s  %s\n", mark, width, s, c.Describe())
	}
}

// warnSensitive says plainly what the sensitive capabilities among caps mean.
func warnSensitive(w io.Writer, caps []string) {
	var reads []string
	for _, s := range caps {
		c, err := host.ParseCapability(s)
		if err != nil || !c.Sensitive() {
			continue
		}
		reads = append(reads, plainWords(c))
	}
	if len(reads) == 0 {
		return
	}
	fmt.Fprintf(w, "\n  WARNING: this plugin CAN READ %s.\n", strings.Join(reads, ", "))
	fmt.Fprintln(w, "  The host refuses any emission that copies that text, but a plugin could still encode it:")
	fmt.Fprintln(w, "  grant this only to a plugin you trust. What you grant is the real boundary.")
}

// plainWords says what a sensitive capability reaches, for the install warning.
func plainWords(c host.Capability) string {
	if c.Class == host.ClassFSRead {
		return "FILES matching " + c.Arg
	}
	switch c.Arg {
	case "prompt":
		return "YOUR PROMPTS"
	case "tool_input":
		return "WHAT YOUR ASSISTANT'S TOOLS ARE GIVEN (commands, file paths, code)"
	case "tool_response":
		return "WHAT YOUR ASSISTANT'S TOOLS RETURN (file contents, command output)"
	case "message", "last_assistant_message":
		return "YOUR ASSISTANT'S MESSAGES"
	case "custom_instructions":
		return "YOUR CUSTOM INSTRUCTIONS"
	}
	return fmt.Sprintf("THE TEXT OF YOUR %q FIELDS", c.Arg)
}

// pluginJSON is a plugin as `plugins list --json` and `plugins info --json` print it.
type pluginJSON struct {
	Name             string   `json:"name"`
	Version          string   `json:"version"`
	Kind             string   `json:"kind"`
	Platform         string   `json:"platform,omitempty"`
	Description      string   `json:"description,omitempty"`
	Authors          []string `json:"authors,omitempty"`
	Source           string   `json:"source"`
	Dir              string   `json:"dir,omitempty"`
	Enabled          bool     `json:"enabled"`
	Quarantined      bool     `json:"quarantined"`
	QuarantineReason string   `json:"quarantine_reason,omitempty"`
	QuarantinedAt    string   `json:"quarantined_at,omitempty"`
	Capabilities     []string `json:"capabilities"`
	Granted          []string `json:"granted"`
}

func toJSON(p *host.PluginEntry) pluginJSON {
	out := pluginJSON{
		Name: p.Manifest.Name, Version: p.Manifest.Version, Kind: string(p.Manifest.Kind), Platform: p.Manifest.Platform,
		Description: p.Manifest.Description, Authors: p.Manifest.Authors, Source: p.Source, Dir: p.Dir, Enabled: p.Enabled,
		Capabilities: p.Manifest.Capabilities, Granted: p.Granted,
	}
	if out.Capabilities == nil {
		out.Capabilities = []string{}
	}
	if out.Granted == nil {
		out.Granted = []string{}
	}
	if q := p.Quarantined; q != nil {
		out.Quarantined, out.QuarantineReason, out.QuarantinedAt = true, q.Reason, q.Time.Format(time.RFC3339)
	}
	return out
}

// PluginsListCmd lists plugins.
type PluginsListCmd struct {
	JSON bool `name:"json" help:"Print JSON."`
}

// Run implements the command.
func (c *PluginsListCmd) Run(g *Globals) error {
	return g.withPlugins(false, func(env *pluginEnv) error {
		list, err := env.reg.List()
		if err != nil {
			return err
		}
		if c.JSON {
			out := make([]pluginJSON, 0, len(list))
			for i := range list {
				out = append(out, toJSON(&list[i]))
			}
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		if len(list) == 0 {
			fmt.Fprintln(g.stdout, "No plugins.")
			return nil
		}
		t := table.NewWriter()
		t.SetOutputMirror(g.stdout)
		t.SetStyle(table.StyleLight)
		t.AppendHeader(table.Row{"Name", "Version", "Kind", "Platform", "Enabled", "Quarantined", "Source"})
		for _, p := range list {
			q := "no"
			if p.Quarantined != nil {
				q = "yes: " + clip(p.Quarantined.Reason, 40)
			}
			t.AppendRow(table.Row{p.Manifest.Name, p.Manifest.Version, p.Manifest.Kind, p.Manifest.Platform, yesNo(p.Enabled), q, p.Source})
		}
		t.Render()
		return nil
	})
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// PluginsInfoCmd shows one plugin.
type PluginsInfoCmd struct {
	Name string `arg:"" help:"The plugin's name."`
	JSON bool   `name:"json" help:"Print JSON."`
}

// Run implements the command.
func (c *PluginsInfoCmd) Run(g *Globals) error {
	return g.withPlugins(false, func(env *pluginEnv) error {
		p, err := env.reg.Get(c.Name)
		if err != nil {
			return err
		}
		if c.JSON {
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(toJSON(&p))
		}
		w := g.stdout
		describeManifest(w, &p.Manifest)
		fmt.Fprintf(w, "Module:      %s, sha256 %s\n", p.Manifest.Wasm, p.Manifest.SHA256)
		src := p.Source
		if p.Dir != "" {
			src += ", " + p.Dir
		}
		fmt.Fprintf(w, "Source:      %s\n", src)
		fmt.Fprintf(w, "Enabled:     %s\n", yesNo(p.Enabled))
		if q := p.Quarantined; q != nil {
			fmt.Fprintf(w, "Quarantined: since %s: %s\n", q.Time.Local().Format(time.DateTime), q.Reason)
		}
		l := p.Manifest.Limits.WithDefaults()
		fmt.Fprintf(w, "Limits:      %d memory pages, %v per call, %d output bytes\n", l.MemoryPages, time.Duration(l.CallTimeout), l.OutputBytes)
		if len(p.Granted) > 0 {
			fmt.Fprintln(w, "\nGranted:")
			describeCaps(w, p.Granted)
		}
		if un := p.Ungranted(); len(un) > 0 {
			fmt.Fprintln(w, "\nAsked for, not granted:")
			describeCaps(w, un)
		}
		return nil
	})
}

// PluginsRemoveCmd removes an installed plugin.
type PluginsRemoveCmd struct {
	Name string `arg:"" help:"The plugin's name."`
}

// Run implements the command.
func (c *PluginsRemoveCmd) Run(g *Globals) error {
	return g.withPlugins(true, func(env *pluginEnv) error {
		if err := env.reg.Remove(c.Name); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "Removed %s.\n", c.Name)
		return nil
	})
}

// PluginsEnableCmd enables a plugin.
type PluginsEnableCmd struct {
	Name string `arg:"" help:"The plugin's name."`
}

// Run implements the command.
func (c *PluginsEnableCmd) Run(g *Globals) error {
	return g.withPlugins(true, func(env *pluginEnv) error {
		if err := env.reg.Enable(c.Name); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "Enabled %s.\n", c.Name)
		return nil
	})
}

// PluginsDisableCmd disables a plugin.
type PluginsDisableCmd struct {
	Name string `arg:"" help:"The plugin's name."`
}

// Run implements the command.
func (c *PluginsDisableCmd) Run(g *Globals) error {
	return g.withPlugins(true, func(env *pluginEnv) error {
		if err := env.reg.Disable(c.Name); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "Disabled %s.\n", c.Name)
		return nil
	})
}

// PluginsGrantCmd grants a capability.
type PluginsGrantCmd struct {
	Name       string `arg:"" help:"The plugin's name."`
	Capability string `arg:"" help:"A capability its manifest asks for, like read:payload.tool_name."`
}

// Run implements the command.
func (c *PluginsGrantCmd) Run(g *Globals) error {
	return g.withPlugins(true, func(env *pluginEnv) error {
		if err := env.reg.Grant(c.Name, c.Capability); err != nil {
			return err
		}
		capability, _ := host.ParseCapability(c.Capability)
		fmt.Fprintf(g.stdout, "Granted %s to %s: it may %s.\n", capability, c.Name, capability.Describe())
		if capability.Sensitive() {
			warnSensitive(g.stdout, []string{capability.String()})
		}
		return nil
	})
}

// PluginsRevokeCmd revokes a capability.
type PluginsRevokeCmd struct {
	Name       string `arg:"" help:"The plugin's name."`
	Capability string `arg:"" help:"A granted capability."`
}

// Run implements the command.
func (c *PluginsRevokeCmd) Run(g *Globals) error {
	return g.withPlugins(true, func(env *pluginEnv) error {
		before, err := env.reg.Get(c.Name)
		if err != nil {
			return err
		}
		if err := env.reg.Revoke(c.Name, c.Capability); err != nil {
			return err
		}
		after, err := env.reg.Get(c.Name)
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "Revoked %s from %s.\n", c.Capability, c.Name)
		if before.Enabled && !after.Enabled {
			fmt.Fprintf(g.stdout, "%s is now disabled: it cannot emit without that right.\n", c.Name)
		}
		return nil
	})
}
