package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"text/template"

	"github.com/hangar-dev/hangar/host"
)

// templates holds the plugin scaffolds: shared definitions (the manifest, the README, the seal
// step) at the root and one folder per language. Files end in .tmpl so that Go tools and editors
// leave them alone.
//
//go:embed templates
var templates embed.FS

// sha256Placeholder stands in plugin.toml for the digest until the build writes it; it fails
// host.Manifest.Validate, so an unbuilt plugin cannot be installed.
const sha256Placeholder = "run ./build to fill this in"

// langNames are the languages a plugin can be scaffolded in, with their display names.
var langNames = map[string]string{"go": "Go", "assemblyscript": "AssemblyScript", "rust": "Rust"}

// PluginsNewCmd scaffolds a plugin folder of a kind (capture, enrich or insight) that builds with
// one command (./build).
type PluginsNewCmd struct {
	Lang     string `name:"lang" required:"" enum:"go,assemblyscript,rust" help:"The plugin's language: go, assemblyscript or rust."`
	Kind     string `name:"kind" default:"capture" enum:"capture,enrich,insight" help:"The plugin's kind: capture (a platform's records into events), enrich (events into derived records) or insight (derived records into insights)."`
	Name     string `arg:"" help:"The plugin's name: 2 to 64 lowercase letters, digits and dashes, starting with a letter."`
	Dir      string `name:"dir" type:"path" placeholder:"DIR" help:"The folder to create (default ./NAME); it must not exist or be empty."`
	SDK      string `name:"sdk" type:"path" placeholder:"DIR" help:"A checkout of Hangar to build against: a go.mod replace (Go), a file: dependency (AssemblyScript) or the SDK's path (Rust). Without it the plugin needs the published SDK."`
	Platform string `name:"platform" default:"claude-code" help:"The platform the capture plugin reads."`
}

// scaffoldData is what the templates see.
type scaffoldData struct {
	Name, Lang, LangName, Platform string
	// Kind is the plugin's kind; DerivedKind the derived kind an enrich scaffold emits.
	Kind, DerivedKind string
	// SDK is the absolute path of a Hangar checkout, or empty.
	SDK string
	// ASSDK is the AssemblyScript SDK's npm dependency spec.
	ASSDK string
	// CrateName is the Rust crate's name: the plugin's, dashes as underscores (cargo's file name).
	CrateName         string
	GoVersion         string
	SHA256Placeholder string
}

// Run implements the command.
func (c *PluginsNewCmd) Run(g *Globals) error {
	dir := c.Dir
	if dir == "" {
		dir = c.Name
	}
	files, err := c.render()
	if err != nil {
		return err
	}
	if err := writeScaffold(dir, files); err != nil {
		return err
	}
	// No --yes in the steps: installed, a capture plugin takes over capturing its platform, which
	// install explains and asks about.
	fmt.Fprintf(g.stdout, "Created the %s %s plugin %s in %s.\n\nNext:\n  cd %s\n  ./build\n  agent plugins install .\n",
		langNames[c.Lang], c.kind(), c.Name, dir, dir)
	switch c.kind() {
	case string(host.KindCapture):
		fmt.Fprintf(g.stdout, "\nInstalled, %s captures %s in place of the plugin that does now: install says which, and asks (see %s).\n",
			c.Name, c.Platform, filepath.Join(dir, "README.md"))
	case string(host.KindEnrich):
		fmt.Fprintf(g.stdout, "\nInstalled, %s runs over the stored events when the daemon runs; `agent derived list --kind %s` shows what it writes (see %s).\n",
			c.Name, derivedKind(c.Name), filepath.Join(dir, "README.md"))
	default:
		fmt.Fprintf(g.stdout, "\nInstalled, %s runs over the derived records it reads when the daemon runs; `agent insights` shows what it finds (see %s).\n",
			c.Name, filepath.Join(dir, "README.md"))
	}
	if c.SDK == "" {
		fmt.Fprintf(g.stdout, "\nNo --sdk was given: the plugin builds once the Hangar SDK can be found (see %s).\n", filepath.Join(dir, "README.md"))
	}
	return nil
}

// kind returns the kind to scaffold: capture unless --kind says otherwise.
func (c *PluginsNewCmd) kind() string {
	if c.Kind == "" {
		return string(host.KindCapture)
	}
	return c.Kind
}

// derivedKind is the derived kind an enrich scaffold named name emits: one record per session.
func derivedKind(name string) string { return name + ".session" }

// scaffoldFile is one file to write.
type scaffoldFile struct {
	path string // slash-separated, relative to the plugin folder
	data []byte
	mode fs.FileMode
}

// render executes the templates of c.Lang, checking that the manifest they make is valid but for
// its digest.
func (c *PluginsNewCmd) render() ([]scaffoldFile, error) {
	name, ok := langNames[c.Lang]
	if !ok {
		return nil, fmt.Errorf("scaffold plugin: language %q: want go, assemblyscript or rust", c.Lang)
	}
	switch host.Kind(c.kind()) {
	case host.KindCapture, host.KindEnrich, host.KindInsight:
	default:
		return nil, fmt.Errorf("scaffold plugin: kind %q: want capture, enrich or insight", c.Kind)
	}
	d := scaffoldData{
		Name: c.Name, Lang: c.Lang, LangName: name, Platform: c.Platform, Kind: c.kind(), DerivedKind: derivedKind(c.Name),
		ASSDK: "^0.1.0", CrateName: strings.ReplaceAll(c.Name, "-", "_"), GoVersion: goVersion(), SHA256Placeholder: sha256Placeholder,
	}
	if c.SDK != "" {
		sdk, err := filepath.Abs(c.SDK)
		if err != nil {
			return nil, fmt.Errorf("scaffold plugin: sdk: %w", err)
		}
		if _, err := os.Stat(filepath.Join(sdk, "sdk", "pdk", "doc.go")); err != nil {
			return nil, fmt.Errorf("scaffold plugin: --sdk %s is not a checkout of Hangar (no sdk/pdk)", sdk)
		}
		if _, err := os.Stat(filepath.Join(sdk, "sdk", "rust", "build.sh")); err != nil && c.Lang == "rust" {
			return nil, fmt.Errorf("scaffold plugin: --sdk %s has no Rust SDK (sdk/rust): a checkout of Hangar too old", sdk)
		}
		d.SDK = filepath.ToSlash(sdk)
		d.ASSDK = "file:" + path.Join(d.SDK, "sdk/assemblyscript")
	}
	base, err := template.New("").ParseFS(templates, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("scaffold plugin: parse templates: %w", err)
	}
	var files []scaffoldFile
	emit := func(out string, mode fs.FileMode, t *template.Template, name string) error {
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, d); err != nil {
			return fmt.Errorf("scaffold plugin: render %s: %w", out, err)
		}
		b := bytes.TrimSpace(buf.Bytes())
		files = append(files, scaffoldFile{path: out, data: append(b, '\n'), mode: mode})
		return nil
	}
	if err := emit(host.ManifestName, 0o644, base, "manifest"); err != nil {
		return nil, err
	}
	if err := emit("README.md", 0o644, base, "readme"); err != nil {
		return nil, err
	}
	root := "templates/" + c.Lang
	err = fs.WalkDir(templates, root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		src, err := fs.ReadFile(templates, p)
		if err != nil {
			return err
		}
		t, err := template.Must(base.Clone()).New(p).Parse(string(src))
		if err != nil {
			return fmt.Errorf("scaffold plugin: parse %s: %w", p, err)
		}
		out := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
		mode := fs.FileMode(0o644)
		switch out {
		case "build":
			mode = 0o755
		case "gitignore":
			out = ".gitignore"
		}
		return emit(out, mode, t, p)
	})
	if err != nil {
		return nil, err
	}

	// The manifest must be valid once the build fills in the digest: this catches a bad name or
	// platform before anything is written.
	m, err := host.DecodeManifest(files[0].data)
	if err != nil {
		return nil, fmt.Errorf("scaffold plugin: %w", err)
	}
	m.SHA256 = strings.Repeat("0", 64)
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("scaffold plugin: %w", err)
	}
	return files, nil
}

// writeScaffold writes files into dir, which must not exist or be empty.
func writeScaffold(dir string, files []scaffoldFile) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("scaffold plugin: %s exists and is not empty", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("scaffold plugin: %w", err)
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("scaffold plugin: %w", err)
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return fmt.Errorf("scaffold plugin: %w", err)
		}
	}
	return nil
}

// goVersion is the go directive of a scaffolded go.mod: this binary's Go release (go mod tidy
// raises it if the SDK needs more), at least 1.24 for //go:wasmexport.
func goVersion() string {
	v, ok := strings.CutPrefix(runtime.Version(), "go")
	if !ok || !strings.Contains(v, ".") || strings.ContainsAny(v, " -+") {
		return "1.24"
	}
	return v
}
