package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dustin/go-humanize"
	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store/atomicfile"
	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
)

// ProjectsCmd lists the projects with usage and names them. Hangar keeps a project only as the
// salted hash of its folder (its key, which reports show the start of); a display name exists
// only when the user gives one, and is kept in <data-dir>/projects.json.
type ProjectsCmd struct {
	List   ProjectsListCmd   `cmd:"" default:"withargs" help:"List the projects with usage: name, key, sessions, tokens, cost, last use."`
	Name   ProjectsNameCmd   `cmd:"" help:"Give a project a display name, which reports show instead of its key (and --project accepts)."`
	Unname ProjectsUnnameCmd `cmd:"" help:"Remove a project's display name."`
}

// projectsFile is the file, in the data directory, that holds the display names.
const projectsFile = "projects.json"

// maxProjectName bounds a display name, in bytes.
const maxProjectName = 64

// projectNames maps project keys (hex, as the usage rollup keeps them) to display names.
type projectNames map[string]string

// projectsJSON is the format of projects.json.
type projectsJSON struct {
	Names projectNames `json:"names"`
}

// loadProjectNames reads the display names of dataDir; none when the file does not exist.
func loadProjectNames(dataDir string) (projectNames, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, projectsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return projectNames{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read project names: %w", err)
	}
	var f projectsJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("read project names %s: %w", filepath.Join(dataDir, projectsFile), err)
	}
	if f.Names == nil {
		f.Names = projectNames{}
	}
	return f.Names, nil
}

// save writes the names to dataDir's projects.json, atomically, readable by the user only.
func (n projectNames) save(dataDir string) error {
	data, err := json.MarshalIndent(projectsJSON{Names: n}, "", "  ")
	if err != nil {
		return fmt.Errorf("save project names: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("save project names: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dataDir, projectsFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save project names: %w", err)
	}
	return nil
}

// show is how reports show a project: its display name, else the start of its key.
func (n projectNames) show(key string) string {
	if name, ok := n[key]; ok {
		return name
	}
	return projectName(key)
}

// checkDisplayName refuses a display name that is empty, too long, not UTF-8, holds a control
// character, or could be taken for a key (12 hex digits, as reports show keys).
func checkDisplayName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("a display name cannot be empty")
	case len(name) > maxProjectName:
		return fmt.Errorf("a display name is at most %d bytes", maxProjectName)
	case !utf8.ValidString(name):
		return errors.New("a display name must be UTF-8")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return errors.New("a display name cannot hold control characters")
	case len(name) == 12 && isHex(name):
		return errors.New("a display name cannot look like a project key (12 hex digits)")
	}
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// projectTarget is how name and unname commands pick a project: by folder (the directory Claude
// Code runs in) or by key.
type projectTarget struct {
	Dir string `type:"path" placeholder:"DIR" help:"The project's folder, where Claude Code runs in it (default: the current directory)." xor:"target"`
	Key string `placeholder:"KEY" help:"The project's key, or its start, as 'agent projects' lists it." xor:"target"`
}

// resolve returns the key of the project the target picks. A key must name one project with
// usage; a folder gives its key whether or not it has usage yet.
func (t projectTarget) resolve(g *Globals) (string, error) {
	if t.Key != "" {
		return g.findProjectKey(strings.ToLower(t.Key))
	}
	dir := t.Dir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("find the current directory: %w", err)
		}
		dir = wd
	}
	return projectKeyOf(g.DataDir, dir, slog.New(slog.DiscardHandler))
}

// findProjectKey returns the one project key with usage that starts with prefix.
func (g *Globals) findProjectKey(prefix string) (string, error) {
	projects, err := g.projectUsage()
	if err != nil {
		return "", err
	}
	var found []string
	for _, p := range projects {
		if p.Key != "" && strings.HasPrefix(p.Key, prefix) {
			found = append(found, p.Key)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no project with usage has a key starting with %q (see `agent projects`)", prefix)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%d projects have a key starting with %q: give more of it", len(found), prefix)
}

// projectKeyOf returns the key under which Hangar keeps the usage of the project whose folder is
// dir. Only the capture plugin knows how it keys projects (with its own salt), so the plugin
// serving Claude Code is asked, in this process: it captures a SessionStart hook payload whose
// cwd is dir, and the project attribute of its event is the key. Nothing is stored.
func projectKeyOf(dataDir, dir string, log *slog.Logger) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("project folder %s: %w", dir, err)
	}
	caps, err := captures()
	if err != nil {
		return "", err
	}
	l, err := newPluginLoader(dataDir, caps, log, 0, false)
	if err != nil {
		return "", err
	}
	defer l.Close()
	if _, err := l.Start(nil); err != nil { // captures only: no store
		return "", fmt.Errorf("load the capture plugin: %w", err)
	}
	payload, err := json.Marshal(map[string]string{"hook_event_name": "SessionStart", "session_id": "hangar-project-key", "cwd": abs})
	if err != nil {
		return "", err
	}
	rec := pipeline.RawRecord{Platform: pipeline.PlatformClaudeCode, Source: "cli", ReceivedAt: time.Now().UTC(), Payload: payload}
	evs, err := caps[pipeline.PlatformClaudeCode].Capture(&rec)
	if err != nil {
		return "", fmt.Errorf("ask the capture plugin for the project's key: %w", err)
	}
	for _, ev := range evs {
		for _, a := range ev.Attrs {
			if a.Key == "project" && a.Value.Kind() == sdk.KindHash {
				return hex.EncodeToString(a.Value.Hash()), nil
			}
		}
	}
	return "", fmt.Errorf("the capture plugin gives %s no project key", abs)
}

// projectUsage is a project's usage, over all time.
type projectUsage struct {
	Key      string    `json:"key"`
	Name     string    `json:"name,omitempty"` // the display name, if the user gave one
	Sessions int       `json:"sessions"`
	Tokens   int64     `json:"total_tokens"`
	Cost     float64   `json:"total_cost"`
	Last     time.Time `json:"last_activity"`
}

// projectUsage sums the usage buckets by project, most recently used first. Usage without a
// project (no working directory in its lines) has the key "".
func (g *Globals) projectUsage() ([]projectUsage, error) {
	var out []projectUsage
	err := g.withUsageReader(func(ctx context.Context, c *daemon.Client) error {
		buckets, err := c.UsageBuckets(ctx, time.Time{}, time.Time{})
		if err != nil {
			return fmt.Errorf("projects: %w", err)
		}
		byKey := map[string]*projectUsage{}
		sessions := map[[2]string]bool{}
		for i := range buckets {
			b := &buckets[i]
			p := byKey[b.Key.Project]
			if p == nil {
				p = &projectUsage{Key: b.Key.Project}
				byKey[b.Key.Project] = p
			}
			if s := [2]string{b.Key.Project, b.Key.Session}; !sessions[s] {
				sessions[s] = true
				p.Sessions++
			}
			p.Tokens += b.Tokens()
			p.Cost += b.Cost(usage.ModeAuto)
			if b.Last.After(p.Last) {
				p.Last = b.Last
			}
		}
		for _, p := range byKey {
			out = append(out, *p)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b projectUsage) int {
		if c := b.Last.Compare(a.Last); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, err
}

// ProjectsListCmd lists the projects with usage.
type ProjectsListCmd struct {
	JSON bool `name:"json" help:"Print JSON: key, name, sessions, total_tokens, total_cost, last_activity."`
}

// Run implements the command.
func (c *ProjectsListCmd) Run(g *Globals) error {
	names, err := loadProjectNames(g.DataDir)
	if err != nil {
		return err
	}
	projects, err := g.projectUsage()
	if err != nil {
		return err
	}
	for i := range projects {
		projects[i].Name = names[projects[i].Key]
	}
	if c.JSON {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string][]projectUsage{"projects": append([]projectUsage{}, projects...)})
	}
	if len(projects) == 0 {
		fmt.Fprintln(g.stdout, "No usage yet.")
		return nil
	}
	t := table.NewWriter()
	t.SetOutputMirror(g.stdout)
	t.SetStyle(table.StyleLight)
	t.AppendHeader(table.Row{"Project", "Key", "Sessions", "Total tokens", "Cost (USD)", "Last activity"})
	t.SetColumnConfigs([]table.ColumnConfig{{Number: 3, Align: text.AlignRight}, {Number: 4, Align: text.AlignRight}, {Number: 5, Align: text.AlignRight}})
	for _, p := range projects {
		name, key := p.Name, projectName(p.Key)
		switch {
		case p.Key == "":
			name, key = "(no folder)", ""
		case name == "":
			name = "-"
		}
		t.AppendRow(table.Row{name, key, p.Sessions, humanize.Comma(p.Tokens), fmt.Sprintf("$%.2f", p.Cost), p.Last.Local().Format("2006-01-02 15:04")})
	}
	t.Render()
	fmt.Fprintln(g.stdout, "Name one with `agent projects name NAME` in its folder, or with --key.")
	return nil
}

// ProjectsNameCmd gives a project a display name.
type ProjectsNameCmd struct {
	Name string `arg:"" help:"The display name (at most 64 bytes)."`
	projectTarget
}

// Run implements the command.
func (c *ProjectsNameCmd) Run(g *Globals) error {
	if err := checkDisplayName(c.Name); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("projects name: %w", err)}
	}
	key, err := c.resolve(g)
	if err != nil {
		return fmt.Errorf("projects name: %w", err)
	}
	names, err := loadProjectNames(g.DataDir)
	if err != nil {
		return err
	}
	for k, n := range names {
		if n == c.Name && k != key {
			return &exitError{code: 2, err: fmt.Errorf("projects name: %q already names project %s", c.Name, projectName(k))}
		}
	}
	names[key] = c.Name
	if err := names.save(g.DataDir); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "Project %s is now shown as %q.\n", projectName(key), c.Name)
	if c.Key == "" && !g.hasUsage(key) {
		fmt.Fprintf(g.stderr, "agent: no usage of this folder yet: name the folder Claude Code runs in (see `agent projects`)\n")
	}
	return nil
}

// hasUsage reports whether the project key has usage; true when that cannot be told.
func (g *Globals) hasUsage(key string) bool {
	projects, err := g.projectUsage()
	if err != nil {
		return true
	}
	return slices.ContainsFunc(projects, func(p projectUsage) bool { return p.Key == key })
}

// ProjectsUnnameCmd removes a project's display name.
type ProjectsUnnameCmd struct {
	projectTarget
}

// Run implements the command.
func (c *ProjectsUnnameCmd) Run(g *Globals) error {
	key, err := c.resolve(g)
	if err != nil {
		return fmt.Errorf("projects unname: %w", err)
	}
	names, err := loadProjectNames(g.DataDir)
	if err != nil {
		return err
	}
	if _, ok := names[key]; !ok {
		fmt.Fprintf(g.stdout, "Project %s has no display name.\n", projectName(key))
		return nil
	}
	delete(names, key)
	if err := names.save(g.DataDir); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "Project %s is shown by its key again.\n", projectName(key))
	return nil
}
