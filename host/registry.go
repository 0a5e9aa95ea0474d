package host

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hangar-dev/hangar/store/atomicfile"
)

// Names inside the registry's directory, <data-dir>/plugins.
const (
	// PluginsDir is the registry's directory name inside the data directory.
	PluginsDir = "plugins"
	// StateName is the registry's state file.
	StateName = "state.json"
	// stateVersion is the version of the state file's format. Version 2 added install ids;
	// a version 1 file is read, and its installed plugins get install ids (see migrate).
	stateVersion = 2
)

// Where a plugin comes from.
const (
	// SourceBuiltin is a first-party plugin embedded in the agent binary.
	SourceBuiltin = "builtin"
	// SourceInstalled is a plugin installed from a folder into the data directory.
	SourceInstalled = "installed"
)

// Registry errors.
var (
	ErrUnknownPlugin = errors.New("host: unknown plugin")
	ErrNotRequested  = errors.New("host: capability not requested by the plugin's manifest")
	ErrInstalled     = errors.New("host: plugin already installed")
	ErrChecksum      = errors.New("host: wasm checksum mismatch")
	ErrBuiltinOnly   = errors.New("host: plugin is built in")
	ErrNoEmitRight   = errors.New("host: plugin lacks its emit right")
	// ErrFirstParty means an install would replace a first-party plugin built into the agent,
	// which needs InstallOptions.ReplaceFirstParty.
	ErrFirstParty = errors.New("host: name of a first-party plugin")
)

// State is the registry's state file, <data-dir>/plugins/state.json, written atomically.
type State struct {
	Version int                     `json:"version"`
	Plugins map[string]*PluginState `json:"plugins"`
}

// PluginState is what the registry keeps about one plugin.
type PluginState struct {
	// Version is the active installed version; empty for a built-in plugin not overridden by an
	// installed one.
	Version string `json:"version,omitempty"`
	// InstallID identifies an installed plugin's install: 32 random hex digits, chosen when it
	// was first installed and kept by its upgrades. Its salt derives from it (salt.go). Empty for
	// a built-in plugin, whose salt derives from its name.
	InstallID string `json:"install_id,omitempty"`
	Enabled   bool   `json:"enabled"`
	// Grants are the capabilities the user granted, in manifest form.
	Grants []string `json:"grants"`
	// Quarantined is set when the host disabled the plugin after repeated failures.
	Quarantined *Quarantine `json:"quarantined,omitempty"`
}

// Quarantine says why and when a plugin was quarantined.
type Quarantine struct {
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// PluginEntry is a plugin known to the registry, as of the call that returned it.
type PluginEntry struct {
	Manifest Manifest
	// Source is SourceBuiltin or SourceInstalled.
	Source string
	// Dir is an installed plugin's folder, <data-dir>/plugins/<name>/<version>; empty if built in.
	Dir string
	// InstallID is an installed plugin's install id (PluginState.InstallID); empty if built in.
	InstallID string
	Enabled   bool
	// Granted are the granted capabilities, in manifest form.
	Granted     []string
	Quarantined *Quarantine

	fsys fs.FS // a built-in plugin's folder
}

// Grants returns the granted capabilities, parsed.
func (p *PluginEntry) Grants() (Grants, error) { return NewGrants(p.Granted) }

// Wasm reads the plugin's module and verifies it against the manifest's sha256.
func (p *PluginEntry) Wasm() ([]byte, error) {
	var data []byte
	var err error
	if p.fsys != nil {
		data, err = fs.ReadFile(p.fsys, p.Manifest.Wasm)
	} else {
		data, err = os.ReadFile(filepath.Join(p.Dir, p.Manifest.Wasm))
	}
	if err != nil {
		return nil, fmt.Errorf("read plugin %s: %w", p.Manifest.Name, err)
	}
	if err := checkSum(&p.Manifest, data); err != nil {
		return nil, err
	}
	return data, nil
}

// Ungranted returns the capabilities the manifest asks for that are not granted.
func (p *PluginEntry) Ungranted() []string {
	var out []string
	for _, c := range p.Manifest.Capabilities {
		if !slices.Contains(p.Granted, canonical(c)) {
			out = append(out, canonical(c))
		}
	}
	return out
}

// Registry manages the plugins of a data directory: the built-in ones, and those installed into
// <data-dir>/plugins/<name>/<version>/, with their state (enabled, grants, quarantine) in
// <data-dir>/plugins/state.json. Changes take a file lock, so that several processes (the daemon
// and the CLI) may use the registry at once; each change is recorded by the Auditor. A Registry is
// safe for concurrent use.
//
// Grants: installing grants what the user confirmed; an upgrade keeps the earlier grants that the
// new manifest still asks for. Built-in plugins are first-party code shipped in the binary and are
// granted what their manifest asks for until the user revokes it; they start disabled. A capture or
// enrich plugin cannot be enabled without its emit right, and revoking that right disables it.
type Registry struct {
	dir     string
	builtin map[string]builtinPlugin
	audit   Auditor
}

type builtinPlugin struct {
	manifest Manifest
	fsys     fs.FS
}

// RegistryOptions configures a Registry.
type RegistryOptions struct {
	// Builtin holds the built-in plugins, one folder each (plugin.toml and the module).
	Builtin fs.FS
	// Auditor records every change. Nil records nothing.
	Auditor Auditor
}

// OpenRegistry opens the registry in dir (normally <data-dir>/plugins), which is created, with
// mode 0700, on the first change. It fails if a built-in plugin is malformed.
func OpenRegistry(dir string, opts RegistryOptions) (*Registry, error) {
	r := &Registry{dir: dir, builtin: map[string]builtinPlugin{}, audit: opts.Auditor}
	if opts.Builtin != nil {
		entries, err := fs.ReadDir(opts.Builtin, ".")
		if err != nil {
			return nil, fmt.Errorf("open plugin registry: built-in plugins: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			sub, err := fs.Sub(opts.Builtin, e.Name())
			if err != nil {
				return nil, err
			}
			// The module is read and its checksum verified when it is loaded (PluginEntry.Wasm):
			// reading every built-in module here would cost each process that opens the registry
			// megabytes for nothing.
			m, err := readManifest(sub)
			if err != nil {
				return nil, fmt.Errorf("open plugin registry: built-in plugin %s: %w", e.Name(), err)
			}
			if _, dup := r.builtin[m.Name]; dup {
				return nil, fmt.Errorf("open plugin registry: built-in plugin %q twice", m.Name)
			}
			r.builtin[m.Name] = builtinPlugin{manifest: m, fsys: sub}
		}
	}
	return r, nil
}

// Dir returns the registry's directory.
func (r *Registry) Dir() string { return r.dir }

// ReadPluginDir reads a plugin folder: it decodes plugin.toml strictly, validates it, reads the
// module and checks its sha256 against the manifest's.
func ReadPluginDir(dir string) (Manifest, []byte, error) {
	m, wasm, err := readPlugin(os.DirFS(dir))
	if err != nil {
		return m, nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, wasm, nil
}

// readManifest reads, decodes and validates a plugin folder's manifest.
func readManifest(fsys fs.FS) (Manifest, error) {
	data, err := fs.ReadFile(fsys, ManifestName)
	if err != nil {
		return Manifest{}, fmt.Errorf("read manifest: %w", err)
	}
	m, err := DecodeManifest(data)
	if err != nil {
		return m, err
	}
	return m, m.Validate()
}

func readPlugin(fsys fs.FS) (Manifest, []byte, error) {
	m, err := readManifest(fsys)
	if err != nil {
		return m, nil, err
	}
	wasm, err := fs.ReadFile(fsys, m.Wasm)
	if err != nil {
		return m, nil, fmt.Errorf("read module: %w", err)
	}
	if err := checkSum(&m, wasm); err != nil {
		return m, nil, err
	}
	return m, wasm, nil
}

func checkSum(m *Manifest, wasm []byte) error {
	sum := sha256.Sum256(wasm)
	if got := hex.EncodeToString(sum[:]); got != m.SHA256 {
		return fmt.Errorf("%w: %s has sha256 %s, the manifest says %s", ErrChecksum, m.Wasm, got, m.SHA256)
	}
	return nil
}

// canonical returns a capability string in its canonical form (it must be valid).
func canonical(s string) string {
	if c, err := ParseCapability(s); err == nil {
		return c.String()
	}
	return s
}

// List returns every plugin, built-in and installed, sorted by name. An installed plugin of the
// same name as a built-in one replaces it.
func (r *Registry) List() ([]PluginEntry, error) {
	st, err := r.readState()
	if err != nil {
		return nil, err
	}
	return r.list(st)
}

// list is List on st.
func (r *Registry) list(st *State) ([]PluginEntry, error) {
	names := map[string]bool{}
	for n := range r.builtin {
		names[n] = true
	}
	for n := range st.Plugins {
		names[n] = true
	}
	var out []PluginEntry
	for _, n := range slices.Sorted(maps.Keys(names)) {
		p, err := r.plugin(st, n)
		if errors.Is(err, ErrUnknownPlugin) {
			continue // a state entry of a plugin that is gone
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Get returns the plugin called name, or an error wrapping ErrUnknownPlugin.
func (r *Registry) Get(name string) (PluginEntry, error) {
	st, err := r.readState()
	if err != nil {
		return PluginEntry{}, err
	}
	return r.plugin(st, name)
}

// plugin builds the view of one plugin from the state.
func (r *Registry) plugin(st *State, name string) (PluginEntry, error) {
	ps := st.Plugins[name]
	if ps != nil && ps.Version != "" {
		dir := filepath.Join(r.dir, name, ps.Version)
		data, err := os.ReadFile(filepath.Join(dir, ManifestName))
		if err != nil {
			return PluginEntry{}, fmt.Errorf("plugin %s: %w", name, err)
		}
		m, err := DecodeManifest(data)
		if err == nil {
			err = m.Validate()
		}
		if err != nil {
			return PluginEntry{}, fmt.Errorf("plugin %s: %w", name, err)
		}
		return PluginEntry{Manifest: m, Source: SourceInstalled, Dir: dir, InstallID: ps.InstallID, Enabled: ps.Enabled,
			Granted: slices.Clone(ps.Grants), Quarantined: ps.Quarantined}, nil
	}
	b, ok := r.builtin[name]
	if !ok {
		return PluginEntry{}, fmt.Errorf("%w: %q (see `agent plugins list`)", ErrUnknownPlugin, name)
	}
	p := PluginEntry{Manifest: b.manifest, Source: SourceBuiltin, fsys: b.fsys}
	if ps == nil {
		// A first-party plugin ships in the binary and is its platform's capture: it starts
		// enabled, granted what its manifest asks, until the user says otherwise.
		for _, c := range b.manifest.Capabilities {
			p.Granted = append(p.Granted, canonical(c))
		}
		p.Enabled = hasEmitRight(&b.manifest, p.Granted)
	} else {
		p.Enabled, p.Granted, p.Quarantined = ps.Enabled, slices.Clone(ps.Grants), ps.Quarantined
	}
	return p, nil
}

// IsFirstParty reports whether name is the name of a first-party plugin built into the agent.
func (r *Registry) IsFirstParty(name string) bool {
	_, ok := r.builtin[name]
	return ok
}

// InstallPlan is what installing a manifest would change, for the user to confirm.
type InstallPlan struct {
	// Upgrade is true when a lower version (From) of the plugin is installed.
	Upgrade bool
	From    string
	// ReplacesFirstParty is true when the plugin has the name of a first-party plugin built into
	// the agent, which it would replace (From is then the built-in version). That is not an
	// upgrade: the folder's code is not the first-party code, so it keeps none of the first-party
	// plugin's grants (every capability it asks for is New) and gets a salt of its own. Install
	// refuses it unless InstallOptions.ReplaceFirstParty.
	ReplacesFirstParty bool
	// Kept are earlier grants the new version keeps, Reconfirm among them included.
	Kept []string
	// ModuleChanged is true for an upgrade whose module differs from the installed one's.
	ModuleChanged bool
	// Reconfirm are the sensitive grants (content:, fs:read:) in Kept of an upgrade whose module
	// changed: new code would read that text, so the user must grant them again. Install keeps
	// them only if they are among its grants.
	Reconfirm []string
	// New are capabilities the manifest asks for that are not granted yet: the user must be asked.
	New []string
	// Capture, for a capture plugin, says what captures its platform before and after the install.
	Capture CapturePlan
}

// CapturePlan says which capture plugin serves a platform before and after an install, as the
// registry ranks them (CaptureOrder); nil when none does.
type CapturePlan struct {
	Platform      string
	Before, After *PluginEntry
}

// TakesOver reports whether the install makes the plugin serve a platform that another plugin
// (or the built-in plugin of the same name) serves now: every record of the platform then goes
// to the new plugin instead.
func (c CapturePlan) TakesOver() bool {
	return c.Before != nil && c.After != nil && c.After.Source == SourceInstalled &&
		(c.Before.Manifest.Name != c.After.Manifest.Name || c.Before.Source != c.After.Source)
}

// NeedsConsent reports whether the user must confirm the install: a new plugin, a replacement of
// a first-party plugin, new capabilities, sensitive grants of a changed module, or a platform
// taken over. An upgrade that changes none of these proceeds without a question.
func (p InstallPlan) NeedsConsent() bool {
	return !p.Upgrade || p.ReplacesFirstParty || len(p.New) > 0 || len(p.Reconfirm) > 0 || p.Capture.TakesOver()
}

// Plan says what installing m would do, or why it cannot be installed (the same or a newer
// version is there already).
func (r *Registry) Plan(m *Manifest) (InstallPlan, error) {
	st, err := r.readState()
	if err != nil {
		return InstallPlan{}, err
	}
	return r.plan(st, m, nil)
}

// plan is Plan on st. grants, if not nil, are the grants the install will add (Install's); nil
// plans for the user granting every capability asked for, as a confirmed install does.
func (r *Registry) plan(st *State, m *Manifest, grants []string) (InstallPlan, error) {
	var plan InstallPlan
	cur, err := r.plugin(st, m.Name)
	switch {
	case errors.Is(err, ErrUnknownPlugin):
	case err != nil:
		return plan, err
	case cur.Source == SourceBuiltin:
		// A folder plugin under a first-party name: a replacement, whatever the versions.
		plan.ReplacesFirstParty, plan.From = true, cur.Manifest.Version
	default:
		switch c := CompareVersions(m.Version, cur.Manifest.Version); {
		case c == 0:
			return plan, fmt.Errorf("%w: %s (%s); remove it first to reinstall", ErrInstalled, m.ID(), cur.Source)
		case c < 0:
			return plan, fmt.Errorf("%w: %s is newer than %s; remove it first to downgrade", ErrInstalled, cur.Manifest.ID(), m.Version)
		}
		plan.Upgrade, plan.From = true, cur.Manifest.Version
		plan.ModuleChanged = m.SHA256 != cur.Manifest.SHA256
	}
	for _, c := range m.Capabilities {
		c = canonical(c)
		switch {
		case plan.Upgrade && slices.Contains(cur.Granted, c):
			plan.Kept = append(plan.Kept, c)
			if plan.ModuleChanged && sensitive(c) {
				plan.Reconfirm = append(plan.Reconfirm, c)
			}
		default:
			plan.New = append(plan.New, c)
		}
	}
	if m.Kind != KindCapture {
		return plan, nil
	}
	plan.Capture, err = r.capturePlan(st, m, &plan, grants)
	return plan, err
}

// sensitive reports whether a capability (valid, canonical) is sensitive: it shows the plugin
// the user's text or files.
func sensitive(c string) bool {
	cp, err := ParseCapability(c)
	return err == nil && cp.Sensitive()
}

// capturePlan says which plugin serves m's platform now, and which will once m is installed with
// the grants plan keeps and the grants given (nil: every capability m asks for).
func (r *Registry) capturePlan(st *State, m *Manifest, plan *InstallPlan, grants []string) (CapturePlan, error) {
	cp := CapturePlan{Platform: m.Platform}
	list, err := r.list(st)
	if err != nil {
		return cp, err
	}
	cp.Before = Captures(list)[m.Platform]
	if grants == nil {
		grants = plan.New
	}
	final := r.finalGrants(plan, grants)
	next := PluginEntry{Manifest: *m, Source: SourceInstalled, Granted: final, Enabled: hasEmitRight(m, final)}
	if plan.Upgrade {
		// An upgrade keeps the enabled state (and a quarantine lifted keeps it disabled).
		if ps := st.Plugins[m.Name]; ps != nil {
			next.Enabled = ps.Enabled && next.Enabled
		}
	}
	after := slices.DeleteFunc(list, func(p PluginEntry) bool { return p.Manifest.Name == m.Name })
	after = append(after, next)
	if c := Captures(after)[m.Platform]; c != nil {
		cp.After = c
	}
	return cp, nil
}

// finalGrants returns the grants a plugin holds after an install that grants grants: those plan
// keeps (the sensitive ones of a changed module only if granted again), then the others.
func (r *Registry) finalGrants(plan *InstallPlan, grants []string) []string {
	var final []string
	for _, c := range plan.Kept {
		if !slices.Contains(plan.Reconfirm, c) || slices.Contains(grants, c) {
			final = append(final, c)
		}
	}
	for _, g := range grants {
		if !slices.Contains(final, g) {
			final = append(final, g)
		}
	}
	return final
}

// CaptureOrder orders capture plugins as they are tried for their platform: installed ones before
// built-in ones (installing a capture plugin for a platform replaces the first-party one), then by
// name. The first enabled one that loads serves; the others stand by.
func CaptureOrder(a, b PluginEntry) int {
	if ab, bb := a.Source == SourceBuiltin, b.Source == SourceBuiltin; ab != bb {
		if ab {
			return 1
		}
		return -1
	}
	return strings.Compare(a.Manifest.Name, b.Manifest.Name)
}

// Captures returns, by platform, the enabled capture plugin of list that serves it: the first in
// CaptureOrder. (The daemon serves the next one if that one fails to load.) The entries point
// into a copy of list.
func Captures(list []PluginEntry) map[string]*PluginEntry {
	sorted := slices.Clone(list)
	slices.SortStableFunc(sorted, CaptureOrder)
	out := map[string]*PluginEntry{}
	for i := range sorted {
		p := &sorted[i]
		if p.Manifest.Kind != KindCapture || !p.Enabled {
			continue
		}
		if _, ok := out[p.Manifest.Platform]; !ok {
			out[p.Manifest.Platform] = p
		}
	}
	return out
}

// InstallOptions are the acts an install needs the user's explicit word for, beyond the grants.
type InstallOptions struct {
	// ReplaceFirstParty lets a plugin with the name of a first-party plugin built into the agent
	// replace it (InstallPlan.ReplacesFirstParty).
	ReplaceFirstParty bool
}

// InstallResult says what Install did.
type InstallResult struct {
	Plugin PluginEntry
	Plan   InstallPlan
}

// Install installs (or upgrades to) the plugin in the folder src, granting grants, each of which
// must be asked for by its manifest. An upgrade also keeps the earlier grants that the new manifest
// still asks for (but the sensitive ones only if the module is the same, or they are in grants
// again), keeps the enabled state, the install id and lifts a quarantine. A new plugin gets a new
// install id, and starts enabled if it holds its emit right. A plugin with the name of a
// first-party plugin is refused (ErrFirstParty) unless opts.ReplaceFirstParty; it then replaces
// the first-party plugin as a new install, with a new install id and only grants. The folder is
// verified (ReadPluginDir) and copied with private modes; the previous version's folder is
// removed once the new one is active.
func (r *Registry) Install(src string, grants []string, opts InstallOptions) (InstallResult, error) {
	m, wasm, err := ReadPluginDir(src)
	if err != nil {
		return InstallResult{}, fmt.Errorf("install: %w", err)
	}
	manifestBytes, err := os.ReadFile(filepath.Join(src, ManifestName))
	if err != nil {
		return InstallResult{}, fmt.Errorf("install: %w", err)
	}
	grants = slices.Clone(grants)
	for i, g := range grants {
		if err := requested(&m, g); err != nil {
			return InstallResult{}, fmt.Errorf("install: %w", err)
		}
		grants[i] = canonical(g)
	}
	var res InstallResult
	err = r.update(func(st *State) ([]AuditEntry, error) {
		plan, err := r.plan(st, &m, grants)
		if err != nil {
			return nil, err
		}
		if plan.ReplacesFirstParty && !opts.ReplaceFirstParty {
			return nil, fmt.Errorf("%w: %s would replace the first-party plugin %s@%s built into the agent", ErrFirstParty, m.ID(), m.Name, plan.From)
		}
		res.Plan = plan
		final := r.finalGrants(&plan, grants)
		if err := r.copyIn(src, &m, manifestBytes, wasm); err != nil {
			return nil, err
		}
		ps := st.Plugins[m.Name]
		prevVersion := ""
		if ps == nil || ps.Version == "" {
			// New, or in place of a first-party plugin (whose state, if any, was about it).
			id, err := newInstallID()
			if err != nil {
				return nil, err
			}
			ps = &PluginState{InstallID: id, Enabled: hasEmitRight(&m, final)}
			st.Plugins[m.Name] = ps
		} else {
			prevVersion = ps.Version
		}
		ps.Version, ps.Grants, ps.Quarantined = m.Version, final, nil
		if !hasEmitRight(&m, final) {
			ps.Enabled = false
		}
		action, detail := AuditInstall, m.ID()
		switch {
		case plan.Upgrade:
			action, detail = AuditUpgrade, fmt.Sprintf("%s -> %s", plan.From, m.Version)
		case plan.ReplacesFirstParty:
			detail = fmt.Sprintf("%s in place of the first-party %s@%s", m.ID(), m.Name, plan.From)
		}
		entries := []AuditEntry{{Plugin: m.Name, Action: action, Detail: detail}}
		for _, g := range final {
			if !slices.Contains(plan.Kept, g) || slices.Contains(plan.Reconfirm, g) {
				entries = append(entries, AuditEntry{Plugin: m.Name, Action: AuditGrant, Detail: g})
			}
		}
		if prevVersion != "" && prevVersion != m.Version {
			defer os.RemoveAll(filepath.Join(r.dir, m.Name, prevVersion))
		}
		return entries, nil
	})
	if err != nil {
		return res, fmt.Errorf("install %s: %w", m.ID(), err)
	}
	res.Plugin, err = r.Get(m.Name)
	return res, err
}

// newInstallID returns a new install id: 16 random bytes, in hex.
func newInstallID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make install id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// copyIn writes the verified plugin into <dir>/<name>/<version>, through a temporary folder that
// is renamed into place.
func (r *Registry) copyIn(src string, m *Manifest, manifestBytes, wasm []byte) error {
	parent := filepath.Join(r.dir, m.Name)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return err
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(parent, ".tmp-"+hex.EncodeToString(rnd[:]))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	files := map[string][]byte{ManifestName: manifestBytes, m.Wasm: wasm}
	for _, readme := range []string{"README.md", "README", "README.txt"} {
		if data, err := os.ReadFile(filepath.Join(src, readme)); err == nil {
			files[readme] = data
		}
	}
	for name, data := range files {
		if err := writeFileSync(filepath.Join(tmp, name), data); err != nil {
			return err
		}
	}
	dst := filepath.Join(parent, m.Version)
	if err := os.RemoveAll(dst); err != nil { // left by an install that crashed before its state
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return atomicfile.SyncDir(parent)
}

// requested checks that a capability is valid and asked for by the manifest.
func requested(m *Manifest, capability string) error {
	c, err := ParseCapability(capability)
	if err != nil {
		return err
	}
	for _, want := range m.Capabilities {
		if canonical(want) == c.String() {
			return nil
		}
	}
	return fmt.Errorf("%w: %s does not ask for %q (it asks for: %s)", ErrNotRequested, m.Name, c.String(), strings.Join(m.Capabilities, ", "))
}

// hasEmitRight reports whether grants hold the emit right a plugin of m's kind needs to be useful:
// emit:events for capture, an emit:derived:<kind> for enrich. Insight plugins need none.
func hasEmitRight(m *Manifest, grants []string) bool {
	switch m.Kind {
	case KindCapture:
		return slices.Contains(grants, "emit:events")
	case KindEnrich:
		for _, g := range grants {
			if strings.HasPrefix(g, "emit:derived:") {
				return true
			}
		}
		return false
	}
	return true
}

func isEmitRight(c string) bool { return c == "emit:events" || strings.HasPrefix(c, "emit:derived:") }

// Remove removes an installed plugin: its folder and its state. A built-in plugin cannot be
// removed (disable it instead); removing an installed plugin that replaced a built-in one brings
// the built-in one back, with its default state.
func (r *Registry) Remove(name string) error {
	var version string
	err := r.update(func(st *State) ([]AuditEntry, error) {
		p, err := r.plugin(st, name)
		if err != nil {
			return nil, err
		}
		if p.Source == SourceBuiltin {
			return nil, fmt.Errorf("%w: %s cannot be removed; disable it instead", ErrBuiltinOnly, name)
		}
		version = p.Manifest.Version
		delete(st.Plugins, name)
		return []AuditEntry{{Plugin: name, Action: AuditRemove, Detail: p.Manifest.ID()}}, nil
	})
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := os.RemoveAll(filepath.Join(r.dir, name)); err != nil {
		return fmt.Errorf("remove %s %s: %w", name, version, err)
	}
	return nil
}

// Enable enables a plugin, lifting a quarantine. It refuses a plugin without its emit right.
func (r *Registry) Enable(name string) error {
	return r.change(name, "enable", func(p *PluginEntry, ps *PluginState) ([]AuditEntry, error) {
		if !hasEmitRight(&p.Manifest, ps.Grants) {
			return nil, fmt.Errorf("%w: grant it first (`agent plugins grant %s %s`)", ErrNoEmitRight, name, emitRightOf(&p.Manifest))
		}
		if ps.Enabled && ps.Quarantined == nil {
			return nil, nil
		}
		detail := ""
		if q := ps.Quarantined; q != nil {
			detail = "lifts quarantine: " + q.Reason
		}
		ps.Enabled, ps.Quarantined = true, nil
		return []AuditEntry{{Plugin: name, Action: AuditEnable, Detail: detail}}, nil
	})
}

func emitRightOf(m *Manifest) string {
	for _, c := range m.Capabilities {
		if isEmitRight(canonical(c)) {
			return canonical(c)
		}
	}
	return "emit:events"
}

// Disable disables a plugin.
func (r *Registry) Disable(name string) error {
	return r.change(name, "disable", func(_ *PluginEntry, ps *PluginState) ([]AuditEntry, error) {
		if !ps.Enabled {
			return nil, nil
		}
		ps.Enabled = false
		return []AuditEntry{{Plugin: name, Action: AuditDisable}}, nil
	})
}

// Grant grants a capability the plugin's manifest asks for. Granting it again does nothing.
func (r *Registry) Grant(name, capability string) error {
	return r.change(name, "grant", func(p *PluginEntry, ps *PluginState) ([]AuditEntry, error) {
		if err := requested(&p.Manifest, capability); err != nil {
			return nil, err
		}
		c := canonical(capability)
		if slices.Contains(ps.Grants, c) {
			return nil, nil
		}
		ps.Grants = append(ps.Grants, c)
		return []AuditEntry{{Plugin: name, Action: AuditGrant, Detail: c}}, nil
	})
}

// Revoke revokes a granted capability. Revoking the plugin's emit right also disables it.
// Revoking a capability that is not granted does nothing.
func (r *Registry) Revoke(name, capability string) error {
	return r.change(name, "revoke", func(p *PluginEntry, ps *PluginState) ([]AuditEntry, error) {
		if _, err := ParseCapability(capability); err != nil {
			return nil, err
		}
		c := canonical(capability)
		i := slices.Index(ps.Grants, c)
		if i < 0 {
			return nil, nil
		}
		ps.Grants = slices.Delete(ps.Grants, i, i+1)
		entries := []AuditEntry{{Plugin: name, Action: AuditRevoke, Detail: c}}
		if ps.Enabled && !hasEmitRight(&p.Manifest, ps.Grants) {
			ps.Enabled = false
			entries = append(entries, AuditEntry{Plugin: name, Action: AuditDisable, Detail: "its emit right was revoked"})
		}
		return entries, nil
	})
}

// Quarantine disables a plugin after repeated failures and records why.
func (r *Registry) Quarantine(name, reason string) error {
	return r.change(name, "quarantine", func(_ *PluginEntry, ps *PluginState) ([]AuditEntry, error) {
		ps.Enabled = false
		ps.Quarantined = &Quarantine{Reason: reason, Time: time.Now().UTC()}
		return []AuditEntry{{Plugin: name, Action: AuditQuarantine, Detail: reason}}, nil
	})
}

// change runs fn on the state of one plugin (created from its defaults for a built-in plugin that
// has none yet) under the lock, then saves and audits.
func (r *Registry) change(name, op string, fn func(p *PluginEntry, ps *PluginState) ([]AuditEntry, error)) error {
	err := r.update(func(st *State) ([]AuditEntry, error) {
		p, err := r.plugin(st, name)
		if err != nil {
			return nil, err
		}
		ps := st.Plugins[name]
		if ps == nil {
			ps = &PluginState{Enabled: p.Enabled, Grants: slices.Clone(p.Granted), Quarantined: p.Quarantined}
		}
		entries, err := fn(&p, ps)
		if err != nil || len(entries) == 0 {
			return nil, err
		}
		st.Plugins[name] = ps
		return entries, nil
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, name, err)
	}
	return nil
}

// update runs fn on the state under the registry's file lock; if fn returns entries, or the
// state needed migrating (see migrate), it saves the state and records the entries.
func (r *Registry) update(fn func(st *State) ([]AuditEntry, error)) error {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return fmt.Errorf("create plugin registry: %w", err)
	}
	unlock, err := lockRegistry(filepath.Join(r.dir, "state.lock"))
	if err != nil {
		return fmt.Errorf("lock plugin registry: %w", err)
	}
	defer unlock()
	st, err := r.readState()
	if err != nil {
		return err
	}
	migrated, entries, err := r.migrate(st)
	if err != nil {
		return err
	}
	more, err := fn(st)
	if err != nil {
		return err
	}
	entries = append(entries, more...)
	if len(entries) == 0 && !migrated {
		return nil
	}
	if err := r.writeState(st); err != nil {
		return err
	}
	if r.audit != nil {
		for _, e := range entries {
			if err := r.audit.Record(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// Migrate brings a state file written by an earlier build up to date (see migrate). Every change
// does it too; the daemon calls it before it loads plugins, so that every installed plugin it
// loads has an install id.
func (r *Registry) Migrate() error {
	st, err := r.readState()
	if err != nil {
		return err
	}
	if !needsMigrating(st) {
		return nil
	}
	if err := r.update(func(*State) ([]AuditEntry, error) { return nil, nil }); err != nil {
		return fmt.Errorf("migrate plugin state: %w", err)
	}
	return nil
}

// needsMigrating reports whether an installed plugin of st has no install id.
func needsMigrating(st *State) bool {
	for _, ps := range st.Plugins {
		if ps.Version != "" && ps.InstallID == "" {
			return true
		}
	}
	return false
}

// migrate gives every installed plugin of st without an install id (installed by a build before
// install ids, state version 1) a new one, audited: its salt changes once, from one derived from
// its name to one derived from its install, so the hashes it stored before do not join those it
// makes after. Keeping the name salt instead would keep the flaw install ids close: a folder
// plugin named like a first-party plugin had the first-party salt, and a plugin named like a
// first-party plugin of a later build would get it. A plugin an earlier build installed in place
// of a first-party plugin (without the --replace-first-party a replacement now needs) stays
// installed and enabled, since disabling it would leave its platform uncaptured (it hides the
// first-party plugin of its name): the user ran its install and was shown its grants; its salt is
// its own now, and the audit log says what it replaced. It reports whether st changed.
func (r *Registry) migrate(st *State) (bool, []AuditEntry, error) {
	changed := st.Version != stateVersion
	st.Version = stateVersion
	var entries []AuditEntry
	for _, name := range slices.Sorted(maps.Keys(st.Plugins)) {
		ps := st.Plugins[name]
		if ps.Version == "" || ps.InstallID != "" {
			continue
		}
		id, err := newInstallID()
		if err != nil {
			return false, nil, err
		}
		ps.InstallID, changed = id, true
		detail := "installed by an earlier build: given an install id, and a salt of its own (its earlier hashes do not join its later ones)"
		if r.IsFirstParty(name) {
			detail = "installed by an earlier build in place of the first-party plugin " + name +
				", without --replace-first-party: given an install id, and a salt of its own instead of the first-party one; agent plugins remove " + name + " brings the first-party plugin back"
		}
		entries = append(entries, AuditEntry{Plugin: name, Action: AuditMigrate, Detail: detail})
	}
	return changed, entries, nil
}

func (r *Registry) statePath() string { return filepath.Join(r.dir, StateName) }

// readState reads the state file; a missing one is an empty state.
func (r *Registry) readState() (*State, error) {
	st := &State{Version: stateVersion, Plugins: map[string]*PluginState{}}
	data, err := os.ReadFile(r.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read plugin state: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(st); err != nil {
		return nil, fmt.Errorf("read plugin state %s: %w", r.statePath(), err)
	}
	if st.Version < 1 || st.Version > stateVersion {
		return nil, fmt.Errorf("read plugin state %s: version %d, this agent reads 1 to %d", r.statePath(), st.Version, stateVersion)
	}
	if st.Plugins == nil {
		st.Plugins = map[string]*PluginState{}
	}
	for name, ps := range st.Plugins {
		if ps == nil {
			delete(st.Plugins, name)
			continue
		}
		if ps.Grants == nil {
			ps.Grants = []string{}
		}
	}
	return st, nil
}

// writeState writes the state atomically (atomicfile.WriteFile): a reader sees the old state or the
// new one whole.
func (r *Registry) writeState(st *State) error {
	for _, ps := range st.Plugins {
		if ps.Grants == nil {
			ps.Grants = []string{}
		}
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if err := atomicfile.WriteFile(r.statePath(), data, 0o600); err != nil {
		return fmt.Errorf("write plugin state: %w", err)
	}
	return nil
}

// writeFileSync creates path with mode 0600, writes data and syncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
