package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
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
	Dir               string `arg:"" type:"existingdir" help:"The plugin's folder."`
	Yes               bool   `short:"y" help:"Answer yes to the question: grant what the plugin asks for (needed without a terminal)."`
	TakeOver          bool   `name:"take-over" help:"With --yes: let a capture plugin take over its platform from the capture plugin that serves it now."`
	ReplaceFirstParty bool   `name:"replace-first-party" help:"Let a plugin named like a first-party plugin replace it (shows every grant again and asks)."`
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
		if plan.ReplacesFirstParty && !c.ReplaceFirstParty {
			return &exitError{code: 1, err: fmt.Errorf("not installing: %s is the name of the first-party plugin %s@%s built into the agent, "+
				"and this folder is not it: installed, its code would replace the first-party plugin, under the grants you give it. "+
				"If that is what you want, run again with --replace-first-party: it shows every capability the plugin asks for and asks",
				m.Name, m.Name, plan.From)}
		}
		before, err := capturesByPlatform(env.reg)
		if err != nil {
			return err
		}
		w := g.stdout
		switch {
		case plan.ReplacesFirstParty:
			fmt.Fprintf(w, "Replace the first-party plugin %s %s with %s %s from %s\n\n", m.Name, plan.From, m.Name, m.Version, c.Dir)
			fmt.Fprintf(w, "This plugin is NOT the first-party plugin: it is the code in %s, under the first-party plugin's name.\n", c.Dir)
			fmt.Fprintln(w, "It gets none of the first-party plugin's grants, and not its salt: its hashes (projects, prompts) are its own.")
			fmt.Fprintln(w, "Every capability it asks for is shown below, to grant again.")
			fmt.Fprintln(w)
		case plan.Upgrade:
			fmt.Fprintf(w, "Upgrade %s from %s to %s\n\n", m.Name, plan.From, m.Version)
		default:
			fmt.Fprintf(w, "Install %s %s\n\n", m.Name, m.Version)
		}
		describeManifest(w, &m)
		fmt.Fprintf(w, "Module:      %s, sha256 %s (verified)\n\n", m.Wasm, m.SHA256)
		var kept []string
		for _, k := range plan.Kept {
			if !slices.Contains(plan.Reconfirm, k) {
				kept = append(kept, k)
			}
		}
		if len(kept) > 0 {
			fmt.Fprintln(w, "Already granted, kept:")
			describeCaps(w, kept)
			fmt.Fprintln(w)
		}
		if len(plan.Reconfirm) > 0 {
			fmt.Fprintf(w, "The module changed since %s: new code would read what these grants show it.\nGranted before, and asked for again:\n", plan.From)
			describeCaps(w, plan.Reconfirm)
			warnSensitive(w, plan.Reconfirm)
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
		describeCapturePlan(w, &m, plan)
		if plan.NeedsConsent() {
			if err := c.confirm(g, c.question(&m, plan), plan); err != nil {
				return err
			}
		}
		grants := slices.Concat(plan.New, plan.Reconfirm)
		// Compile before copying: a module that does not compile is not installed, and the
		// compilation cache is warm for the daemon.
		if err := precompile(g.DataDir, m, wasm, plan.Kept, grants); err != nil {
			return fmt.Errorf("install %s: %w", m.ID(), err)
		}
		res, err := env.reg.Install(c.Dir, grants, host.InstallOptions{ReplaceFirstParty: c.ReplaceFirstParty})
		if err != nil {
			return err
		}
		state := "enabled"
		if !res.Plugin.Enabled {
			state = "disabled"
		}
		switch {
		case res.Plan.ReplacesFirstParty:
			fmt.Fprintf(w, "Replaced the first-party %s@%s with %s (%s) in %s\n", m.Name, res.Plan.From, m.ID(), state, res.Plugin.Dir)
		case res.Plan.Upgrade:
			fmt.Fprintf(w, "Upgraded %s (%s) in %s\n", m.ID(), state, res.Plugin.Dir)
		default:
			fmt.Fprintf(w, "Installed %s (%s) in %s\n", m.ID(), state, res.Plugin.Dir)
		}
		return g.reportCaptures(env.reg, before)
	})
}

// question is the install's question to the user.
func (c *PluginsInstallCmd) question(m *host.Manifest, plan host.InstallPlan) string {
	var q string
	switch {
	case plan.ReplacesFirstParty:
		q = fmt.Sprintf("Replace the first-party plugin %s with this one and grant it these capabilities", m.Name)
	case plan.Upgrade:
		q = fmt.Sprintf("Upgrade %s and grant the capabilities asked for above", m.Name)
	default:
		q = fmt.Sprintf("Install %s and grant these capabilities", m.ID())
	}
	if cp := plan.Capture; takesOverOther(plan) {
		q += fmt.Sprintf(", and let it capture %s in place of %s", cp.Platform, cp.Before.Manifest.ID())
	}
	return q + "?"
}

// takesOverOther reports whether an install takes a platform over from another plugin than the
// first-party one it replaces: replacing the first-party plugin that serves the platform takes it
// over by definition, and --replace-first-party says so; taking it from another plugin is asked
// about, or needs --take-over with --yes.
func takesOverOther(plan host.InstallPlan) bool {
	cp := plan.Capture
	if !cp.TakesOver() {
		return false
	}
	return !plan.ReplacesFirstParty || cp.Before.Source != host.SourceBuiltin || cp.Before.Manifest.Name != cp.After.Manifest.Name
}

// describeCapturePlan says, for a capture plugin, what it does to the capture of its platform:
// in plain words when it takes the platform over.
func describeCapturePlan(w io.Writer, m *host.Manifest, plan host.InstallPlan) {
	cp := plan.Capture
	if cp.Platform == "" {
		return
	}
	records := "record"
	if cp.Platform == pipeline.PlatformClaudeCode {
		records = "hook and transcript line"
	}
	switch {
	case cp.TakesOver():
		fmt.Fprintf(w, "CAPTURE: this plugin TAKES OVER %s.\n", cp.Platform)
		fmt.Fprintf(w, "  %s captures %s now. Once this is installed, %s will capture every %s %s in its place:\n",
			captureName(cp.Before), cp.Platform, m.ID(), cp.Platform, records)
		fmt.Fprintf(w, "  only its events are stored for %s, and a record it cannot read is not captured.\n", cp.Platform)
		if cp.Before.Manifest.Name == m.Name {
			fmt.Fprintf(w, "  %s is replaced; `agent plugins remove %s` brings it back.\n", captureName(cp.Before), m.Name)
		} else {
			fmt.Fprintf(w, "  %s stands by: `agent plugins disable %s` hands %s back to it.\n", captureName(cp.Before), m.Name, cp.Platform)
		}
	case cp.After != nil && cp.Before != nil && cp.After.Manifest.Name != m.Name:
		fmt.Fprintf(w, "Capture: %s captures %s; this plugin stands by, and captures it only if %s is disabled, removed or quarantined.\n",
			captureName(cp.Before), cp.Platform, cp.Before.Manifest.Name)
	case cp.Before == nil && cp.After != nil && cp.After.Manifest.Name == m.Name:
		fmt.Fprintf(w, "Capture: nothing captures %s now; this plugin will.\n", cp.Platform)
	default:
		return
	}
	fmt.Fprintln(w)
}

// captureName names a capture plugin, saying if it is the first-party one.
func captureName(p *host.PluginEntry) string {
	if p.Source == host.SourceBuiltin {
		return p.Manifest.ID() + " (first-party)"
	}
	return p.Manifest.ID()
}

// confirm asks the user on a terminal; without one it refuses unless --yes, and for a plugin that
// takes a platform over, --take-over too: --yes answers the question about grants, it does not
// hand a platform over.
func (c *PluginsInstallCmd) confirm(g *Globals, question string, plan host.InstallPlan) error {
	cp := plan.Capture
	takesOther := takesOverOther(plan)
	if c.Yes {
		if takesOther && !c.TakeOver {
			return &exitError{code: 1, err: fmt.Errorf("not installing: it would take over %s from %s (see above), and --yes does not hand a platform over; "+
				"add --take-over for that", cp.Platform, cp.Before.Manifest.ID())}
		}
		return nil
	}
	if !isTerminal(g.stdin) {
		flags := "--yes"
		if takesOther {
			flags += " --take-over"
		}
		return &exitError{code: 1, err: fmt.Errorf("not installing: there is no terminal to confirm on; read what the plugin asks for above, and run again with %s to grant it", flags)}
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

// capturesByPlatform returns what captures each platform according to the registry, as
// name@version, for the platforms that have a capture plugin enabled.
func capturesByPlatform(reg *host.Registry) (map[string]*host.PluginEntry, error) {
	list, err := reg.List()
	if err != nil {
		return nil, err
	}
	return host.Captures(list), nil
}

// reportCaptures tells the user what a change did to the capture of each platform, against what
// captured them before: which plugin captures a platform now, or a warning when nothing does.
func (g *Globals) reportCaptures(reg *host.Registry, before map[string]*host.PluginEntry) error {
	list, err := reg.List()
	if err != nil {
		return err
	}
	after := host.Captures(list)
	slices.SortStableFunc(list, host.CaptureOrder)
	for _, platform := range slices.Sorted(maps.Keys(before)) {
		if after[platform] != nil {
			continue
		}
		hint := "install a capture plugin for it"
		for _, p := range list {
			if p.Manifest.Kind == host.KindCapture && p.Manifest.Platform == platform {
				hint = fmt.Sprintf("`agent plugins enable %s` captures it again", p.Manifest.Name)
				break
			}
		}
		fmt.Fprintf(g.stderr, "agent: warning: nothing captures %s now: no enabled capture plugin serves it, so its records are not captured (%s)\n",
			platform, hint)
	}
	for _, platform := range slices.Sorted(maps.Keys(after)) {
		a, b := after[platform], before[platform]
		if b == nil || a.Manifest.ID() != b.Manifest.ID() || a.Source != b.Source {
			fmt.Fprintf(g.stdout, "%s is captured by %s now.\n", platform, captureName(a))
		}
	}
	return nil
}

// changeCaptures runs fn, a change to the registry, and reports what it did to the capture of
// each platform (reportCaptures).
func (g *Globals) changeCaptures(env *pluginEnv, fn func() error) error {
	before, err := capturesByPlatform(env.reg)
	if err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	return g.reportCaptures(env.reg, before)
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
	// An insight plugin's every sentence is in its manifest: show them before it is granted.
	for i, code := range slices.Sorted(maps.Keys(m.Messages)) {
		label := ""
		if i == 0 {
			label = "Insights:"
		}
		fmt.Fprintf(w, "%-12s %s: %s\n", label, code, m.Messages[code].Title)
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
	case "tool_response", "toolUseResult":
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
	// Emits are the event kinds a capture plugin's manifest declares (the host stores no other).
	Emits        []string `json:"emits,omitempty"`
	Capabilities []string `json:"capabilities"`
	Granted      []string `json:"granted"`
}

func toJSON(p *host.PluginEntry) pluginJSON {
	out := pluginJSON{
		Name: p.Manifest.Name, Version: p.Manifest.Version, Kind: string(p.Manifest.Kind), Platform: p.Manifest.Platform,
		Description: p.Manifest.Description, Authors: p.Manifest.Authors, Source: p.Source, Dir: p.Dir, Enabled: p.Enabled,
		Emits: p.Manifest.Emits, Capabilities: p.Manifest.Capabilities, Granted: p.Granted,
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
		return g.changeCaptures(env, func() error {
			if err := env.reg.Remove(c.Name); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Removed %s.\n", c.Name)
			return nil
		})
	})
}

// PluginsEnableCmd enables a plugin.
type PluginsEnableCmd struct {
	Name string `arg:"" help:"The plugin's name."`
}

// Run implements the command.
func (c *PluginsEnableCmd) Run(g *Globals) error {
	return g.withPlugins(true, func(env *pluginEnv) error {
		return g.changeCaptures(env, func() error {
			if err := env.reg.Enable(c.Name); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Enabled %s.\n", c.Name)
			return nil
		})
	})
}

// PluginsDisableCmd disables a plugin.
type PluginsDisableCmd struct {
	Name string `arg:"" help:"The plugin's name."`
}

// Run implements the command.
func (c *PluginsDisableCmd) Run(g *Globals) error {
	return g.withPlugins(true, func(env *pluginEnv) error {
		return g.changeCaptures(env, func() error {
			if err := env.reg.Disable(c.Name); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Disabled %s.\n", c.Name)
			return nil
		})
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
		return g.changeCaptures(env, func() error {
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
	})
}
