package host

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

// testPlugin describes a plugin folder for the registry tests. The module bytes need not be valid
// WASM: the registry only checks their hash.
type testPlugin struct {
	name, version, kind, platform string
	caps                          []string
	wasm                          string
	extra                         string // appended to plugin.toml
	badSum                        bool
}

func (p testPlugin) manifest() string {
	if p.kind == "" {
		p.kind = "capture"
	}
	if p.platform == "" && p.kind == "capture" {
		p.platform = "claude-code"
	}
	sum := sha256.Sum256([]byte(p.module()))
	hexSum := hex.EncodeToString(sum[:])
	if p.badSum {
		hexSum = strings.Repeat("0", 64)
	}
	var caps []string
	for _, c := range p.caps {
		caps = append(caps, fmt.Sprintf("%q", c))
	}
	s := fmt.Sprintf("name = %q\nversion = %q\nkind = %q\nabi = 1\n", p.name, p.version, p.kind)
	if p.platform != "" && p.kind == "capture" {
		s += fmt.Sprintf("platform = %q\nemits = [\"hook.*\"]\n", p.platform)
	}
	s += fmt.Sprintf("description = \"test\"\nauthors = [\"Ada\"]\nwasm = \"plugin.wasm\"\nsha256 = %q\ncapabilities = [%s]\n", hexSum, strings.Join(caps, ", "))
	return s + p.extra
}

func (p testPlugin) module() string {
	if p.wasm != "" {
		return p.wasm
	}
	return "\x00asm fake module of " + p.name + "@" + p.version
}

// writePlugin writes the plugin folder under a fresh temp dir and returns it.
func writePlugin(t testing.TB, p testPlugin) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), p.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{ManifestName: p.manifest(), "plugin.wasm": p.module(), "README.md": "# " + p.name}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// memAudit is an Auditor that keeps entries in memory.
type memAudit struct {
	mu      sync.Mutex
	entries []AuditEntry
}

func (a *memAudit) Record(e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return nil
}

func (a *memAudit) actions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.entries {
		s := e.Plugin + " " + e.Action
		if e.Detail != "" {
			s += " " + e.Detail
		}
		out = append(out, s)
	}
	return out
}

func openTestRegistry(t testing.TB, builtin fs.FS) (*Registry, *memAudit) {
	t.Helper()
	a := &memAudit{}
	r, err := OpenRegistry(filepath.Join(t.TempDir(), "data", PluginsDir), RegistryOptions{Builtin: builtin, Auditor: a})
	if err != nil {
		t.Fatal(err)
	}
	return r, a
}

var counterCaps = []string{"read:payload.tool_name", "emit:events"}

func TestRegistryInstall(t *testing.T) {
	r, audit := openTestRegistry(t, nil)
	src := writePlugin(t, testPlugin{name: "counter", version: "1.0.0", caps: counterCaps})
	res, err := r.Install(src, slices.Clone(counterCaps), InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan.Upgrade {
		t.Errorf("fresh install planned as an upgrade: %+v", res.Plan)
	}
	p := res.Plugin
	if p.Source != SourceInstalled || !p.Enabled || p.Manifest.ID() != "counter@1.0.0" {
		t.Errorf("installed plugin = %s %s enabled=%v", p.Manifest.ID(), p.Source, p.Enabled)
	}
	if got, want := p.Granted, counterCaps; !slices.Equal(got, want) {
		t.Errorf("grants = %v, want %v", got, want)
	}
	dir := filepath.Join(r.Dir(), "counter", "1.0.0")
	if p.Dir != dir {
		t.Errorf("dir = %s, want %s", p.Dir, dir)
	}
	for name, want := range map[string]fs.FileMode{
		dir: 0o700, filepath.Join(dir, ManifestName): 0o600, filepath.Join(dir, "plugin.wasm"): 0o600,
		filepath.Join(dir, "README.md"): 0o600, filepath.Join(r.Dir(), StateName): 0o600,
	} {
		info, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("mode of %s = %v, want %v", name, got, want)
		}
	}
	if _, err := p.Wasm(); err != nil {
		t.Errorf("read installed module: %v", err)
	}
	want := []string{"counter install counter@1.0.0", "counter grant read:payload.tool_name", "counter grant emit:events"}
	if got := audit.actions(); !slices.Equal(got, want) {
		t.Errorf("audit = %q, want %q", got, want)
	}
	// The state file is what a fresh registry reads.
	r2, err := OpenRegistry(r.Dir(), RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list, err := r2.List()
	if err != nil || len(list) != 1 || list[0].Manifest.Name != "counter" || !list[0].Enabled {
		t.Fatalf("List after reopen = %+v, %v", list, err)
	}
	var st State
	data, _ := os.ReadFile(filepath.Join(r.Dir(), StateName))
	if err := json.Unmarshal(data, &st); err != nil || st.Version != 2 || st.Plugins["counter"].Version != "1.0.0" ||
		!validInstallID(st.Plugins["counter"].InstallID) || st.Plugins["counter"].InstallID != p.InstallID {
		t.Errorf("state file = %s (%v), want version 2 and the entry's install id %q", data, err, p.InstallID)
	}
	// A tampered module is caught when read.
	os.WriteFile(filepath.Join(dir, "plugin.wasm"), []byte("evil"), 0o600)
	if _, err := p.Wasm(); !errors.Is(err, ErrChecksum) {
		t.Errorf("read tampered module: %v, want ErrChecksum", err)
	}
}

func TestRegistryInstallRefuses(t *testing.T) {
	tests := []struct {
		name   string
		plugin testPlugin
		grants []string
		prep   func(t *testing.T, dir string)
		want   error
		msg    string
	}{
		{name: "bad sha256", plugin: testPlugin{name: "ab", version: "1.0.0", caps: counterCaps, badSum: true}, want: ErrChecksum},
		{name: "missing module", plugin: testPlugin{name: "ab", version: "1.0.0", caps: counterCaps},
			prep: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "plugin.wasm")) }, msg: "read module"},
		{name: "unknown key", plugin: testPlugin{name: "ab", version: "1.0.0", caps: counterCaps, extra: "homepage = \"x\"\n"}, want: ErrManifest, msg: "homepage"},
		{name: "network", plugin: testPlugin{name: "ab", version: "1.0.0", caps: []string{"emit:events", "net:example.com"}}, want: ErrCapability, msg: "no network"},
		{name: "invalid manifest", plugin: testPlugin{name: "A", version: "1.0.0", caps: counterCaps}, want: ErrManifest},
		{name: "grant not requested", plugin: testPlugin{name: "ab", version: "1.0.0", caps: counterCaps}, grants: []string{"content:prompt"}, want: ErrNotRequested},
		{name: "no manifest", plugin: testPlugin{name: "ab", version: "1.0.0"},
			prep: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, ManifestName)) }, want: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, audit := openTestRegistry(t, nil)
			src := writePlugin(t, tt.plugin)
			if tt.prep != nil {
				tt.prep(t, src)
			}
			_, err := r.Install(src, tt.grants, InstallOptions{})
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Install = %v, want %v containing %q", err, tt.want, tt.msg)
			}
			if list, _ := r.List(); len(list) != 0 {
				t.Errorf("a refused install left %d plugins", len(list))
			}
			if entries, _ := os.ReadDir(r.Dir()); len(entries) > 0 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("a refused install left files: %v", names)
			}
			if got := audit.actions(); len(got) != 0 {
				t.Errorf("audit = %q, want nothing", got)
			}
		})
	}
}

func TestRegistryUpgrade(t *testing.T) {
	r, audit := openTestRegistry(t, nil)
	v1 := testPlugin{name: "counter", version: "1.0.0", caps: []string{"read:payload.tool_name", "read:payload.model", "emit:events"}}
	if _, err := r.Install(writePlugin(t, v1), []string{"read:payload.tool_name", "emit:events"}, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "0.9.0"} {
		old := testPlugin{name: "counter", version: v, caps: counterCaps}
		if _, err := r.Install(writePlugin(t, old), nil, InstallOptions{}); !errors.Is(err, ErrInstalled) {
			t.Errorf("install %s over 1.0.0: %v, want ErrInstalled", v, err)
		}
	}
	v2 := testPlugin{name: "counter", version: "1.1.0", caps: []string{"read:payload.tool_name", "emit:events", "content:prompt", "read:payload.model"}}
	m, _, err := ReadPluginDir(writePlugin(t, v2))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := r.Plan(&m)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Upgrade || plan.From != "1.0.0" || !slices.Equal(plan.Kept, []string{"read:payload.tool_name", "emit:events"}) ||
		!slices.Equal(plan.New, []string{"content:prompt", "read:payload.model"}) {
		t.Errorf("plan = %+v", plan)
	}
	before, err := r.Get("counter")
	if err != nil {
		t.Fatal(err)
	}
	// The user declined the new capabilities: only the old grants stay.
	res, err := r.Install(writePlugin(t, v2), nil, InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Plugin.InstallID != before.InstallID || !validInstallID(before.InstallID) {
		t.Errorf("install id %q after the upgrade, %q before: an upgrade keeps its install's id", res.Plugin.InstallID, before.InstallID)
	}
	if got, want := res.Plugin.Granted, []string{"read:payload.tool_name", "emit:events"}; !slices.Equal(got, want) {
		t.Errorf("grants after upgrade = %v, want %v", got, want)
	}
	if got, want := res.Plugin.Ungranted(), []string{"content:prompt", "read:payload.model"}; !slices.Equal(got, want) {
		t.Errorf("ungranted = %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(r.Dir(), "counter", "1.0.0")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the old version's folder is still there: %v", err)
	}
	// Upgrading again, granting one of the new ones.
	v3 := v2
	v3.version = "2.0.0"
	res, err = r.Install(writePlugin(t, v3), []string{"content:prompt"}, InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Plugin.Granted, []string{"read:payload.tool_name", "emit:events", "content:prompt"}; !slices.Equal(got, want) {
		t.Errorf("grants after second upgrade = %v, want %v", got, want)
	}
	if got := audit.actions(); !slices.Contains(got, "counter upgrade 1.0.0 -> 1.1.0") || !slices.Contains(got, "counter grant content:prompt") {
		t.Errorf("audit = %q", got)
	}
}

func TestRegistryManage(t *testing.T) {
	r, audit := openTestRegistry(t, nil)
	caps := []string{"read:payload.tool_name", "content:prompt", "emit:events"}
	if _, err := r.Install(writePlugin(t, testPlugin{name: "counter", version: "1.0.0", caps: caps}), []string{"emit:events"}, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	get := func() PluginEntry {
		t.Helper()
		p, err := r.Get("counter")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	steps := []struct {
		name    string
		do      func() error
		want    error
		msg     string
		enabled bool
		grants  []string
	}{
		{"grant", func() error { return r.Grant("counter", "content:prompt") }, nil, "", true, []string{"emit:events", "content:prompt"}},
		{"grant again", func() error { return r.Grant("counter", "content:prompt") }, nil, "", true, []string{"emit:events", "content:prompt"}},
		{"grant not requested", func() error { return r.Grant("counter", "kv") }, ErrNotRequested, "does not ask for", true, []string{"emit:events", "content:prompt"}},
		{"grant network", func() error { return r.Grant("counter", "net:example.com") }, ErrCapability, "plugins get no network", true, []string{"emit:events", "content:prompt"}},
		{"grant unknown plugin", func() error { return r.Grant("nope", "kv") }, ErrUnknownPlugin, "nope", true, []string{"emit:events", "content:prompt"}},
		{"revoke content", func() error { return r.Revoke("counter", "content:prompt") }, nil, "", true, []string{"emit:events"}},
		{"disable", func() error { return r.Disable("counter") }, nil, "", false, []string{"emit:events"}},
		{"enable", func() error { return r.Enable("counter") }, nil, "", true, []string{"emit:events"}},
		{"revoke emit disables", func() error { return r.Revoke("counter", "emit:events") }, nil, "", false, []string{}},
		{"enable without emit", func() error { return r.Enable("counter") }, ErrNoEmitRight, "agent plugins grant counter emit:events", false, []string{}},
		{"grant emit", func() error { return r.Grant("counter", "emit:events") }, nil, "", false, []string{"emit:events"}},
		{"quarantine", func() error { return r.Quarantine("counter", "3 calls in a row trapped") }, nil, "", false, []string{"emit:events"}},
		{"enable lifts quarantine", func() error { return r.Enable("counter") }, nil, "", true, []string{"emit:events"}},
	}
	for _, s := range steps {
		err := s.do()
		if (s.want == nil) != (err == nil) || (s.want != nil && !errors.Is(err, s.want)) || !strings.Contains(fmt.Sprint(err), s.msg) {
			t.Fatalf("%s: err = %v, want %v containing %q", s.name, err, s.want, s.msg)
		}
		p := get()
		if p.Enabled != s.enabled || !slices.Equal(p.Granted, s.grants) {
			t.Fatalf("%s: enabled=%v grants=%q, want %v %q", s.name, p.Enabled, p.Granted, s.enabled, s.grants)
		}
		if s.name == "quarantine" && (p.Quarantined == nil || p.Quarantined.Reason != "3 calls in a row trapped") {
			t.Fatalf("quarantine not recorded: %+v", p.Quarantined)
		}
		if s.name == "enable lifts quarantine" && p.Quarantined != nil {
			t.Fatalf("enable kept the quarantine")
		}
	}
	want := []string{
		"counter install counter@1.0.0", "counter grant emit:events", "counter grant content:prompt",
		"counter revoke content:prompt", "counter disable", "counter enable", "counter revoke emit:events",
		"counter disable its emit right was revoked", "counter grant emit:events",
		"counter quarantine 3 calls in a row trapped", "counter enable lifts quarantine: 3 calls in a row trapped",
	}
	if got := audit.actions(); !slices.Equal(got, want) {
		t.Errorf("audit =\n%q\nwant\n%q", got, want)
	}
	if err := r.Remove("counter"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get("counter"); !errors.Is(err, ErrUnknownPlugin) {
		t.Errorf("Get after remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.Dir(), "counter")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remove left the folder: %v", err)
	}
	if err := r.Remove("counter"); !errors.Is(err, ErrUnknownPlugin) {
		t.Errorf("remove twice: %v", err)
	}
}

func TestRegistryBuiltin(t *testing.T) {
	bp := testPlugin{name: "claude-code", version: "1.0.0", caps: []string{"read:payload.hook_event_name", "content:prompt", "emit:events"}}
	builtin := fstest.MapFS{
		"claude-code/plugin.toml": {Data: []byte(bp.manifest())},
		"claude-code/plugin.wasm": {Data: []byte(bp.module())},
	}
	r, _ := openTestRegistry(t, builtin)
	list, err := r.List()
	if err != nil {
		t.Fatal(err)
	}
	// A first-party capture plugin starts enabled, granted what it asks.
	if len(list) != 1 || list[0].Source != SourceBuiltin || !list[0].Enabled || !slices.Equal(list[0].Granted, bp.caps) {
		t.Fatalf("fresh list = %+v", list)
	}
	if _, err := list[0].Wasm(); err != nil {
		t.Errorf("read built-in module: %v", err)
	}
	if err := r.Remove("claude-code"); !errors.Is(err, ErrBuiltinOnly) {
		t.Errorf("remove built-in: %v, want ErrBuiltinOnly", err)
	}
	if err := r.Revoke("claude-code", "content:prompt"); err != nil {
		t.Fatal(err)
	}
	if err := r.Enable("claude-code"); err != nil {
		t.Fatal(err)
	}
	p, _ := r.Get("claude-code")
	if !p.Enabled || slices.Contains(p.Granted, "content:prompt") || p.Source != SourceBuiltin {
		t.Errorf("built-in after revoke and enable = %+v", p)
	}
	// A folder plugin under its name, whatever its version, is a replacement, refused unless the
	// caller says so: not an upgrade, keeping no grant of the first-party plugin.
	for _, v := range []string{"1.1.0", "0.9.0"} {
		up := bp
		up.version = v
		up.wasm = "\x00asm impostor " + v
		m, _, err := ReadPluginDir(writePlugin(t, up))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := r.Plan(&m)
		if err != nil {
			t.Fatal(err)
		}
		if !plan.ReplacesFirstParty || plan.Upgrade || plan.From != "1.0.0" || len(plan.Kept) != 0 || !slices.Equal(plan.New, bp.caps) ||
			!plan.NeedsConsent() || !plan.Capture.TakesOver() {
			t.Errorf("plan of a folder claude-code %s = %+v", v, plan)
		}
		if _, err := r.Install(writePlugin(t, up), bp.caps, InstallOptions{}); !errors.Is(err, ErrFirstParty) {
			t.Errorf("install of a folder claude-code %s: %v, want ErrFirstParty", v, err)
		}
	}
	if p, _ := r.Get("claude-code"); p.Source != SourceBuiltin {
		t.Fatalf("a refused replacement replaced the first-party plugin: %+v", p)
	}
	up := bp
	up.version = "1.1.0"
	res, err := r.Install(writePlugin(t, up), []string{"emit:events"}, InstallOptions{ReplaceFirstParty: true})
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Plugin; p.Source != SourceInstalled || !res.Plan.ReplacesFirstParty || !slices.Equal(p.Granted, []string{"emit:events"}) ||
		!p.Enabled || !validInstallID(p.InstallID) {
		t.Errorf("replacement of the built-in: %+v", res)
	}
	if err := r.Remove("claude-code"); err != nil {
		t.Fatal(err)
	}
	p, _ = r.Get("claude-code")
	// The first-party plugin is back as it ships: enabled.
	if p.Source != SourceBuiltin || p.Manifest.Version != "1.0.0" || !p.Enabled || p.InstallID != "" {
		t.Errorf("after removing the installed copy: %s %s enabled=%v install id %q", p.Manifest.ID(), p.Source, p.Enabled, p.InstallID)
	}
	// A built-in module that does not match its manifest is refused when it is loaded (opening a
	// registry reads only manifests; plugins/ tests the committed modules' checksums).
	builtin["claude-code/plugin.wasm"] = &fstest.MapFile{Data: []byte("other")}
	r2, err := OpenRegistry(t.TempDir(), RegistryOptions{Builtin: builtin})
	if err != nil {
		t.Fatalf("open with a bad built-in module: %v", err)
	}
	bad, err := r2.Get("claude-code")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Wasm(); !errors.Is(err, ErrChecksum) {
		t.Errorf("load a bad built-in module: %v, want ErrChecksum", err)
	}
	// A malformed built-in manifest is a programming error, caught at open.
	builtin["claude-code/plugin.toml"] = &fstest.MapFile{Data: []byte("name = 1")}
	if _, err := OpenRegistry(t.TempDir(), RegistryOptions{Builtin: builtin}); !errors.Is(err, ErrManifest) {
		t.Errorf("open with a bad built-in manifest: %v, want ErrManifest", err)
	}
}

// TestRegistryHammer changes one plugin from many goroutines through two registries on the same
// directory (as the daemon and the CLI do): every change lands, none is lost.
func TestRegistryHammer(t *testing.T) {
	var caps []string
	for i := range 16 {
		caps = append(caps, fmt.Sprintf("read:payload.f%d", i))
	}
	caps = append(caps, "emit:events")
	r1, _ := openTestRegistry(t, nil)
	if _, err := r1.Install(writePlugin(t, testPlugin{name: "counter", version: "1.0.0", caps: caps}), []string{"emit:events"}, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	r2, err := OpenRegistry(r1.Dir(), RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := r1
			if i%2 == 1 {
				r = r2
			}
			if err := r.Grant("counter", fmt.Sprintf("read:payload.f%d", i)); err != nil {
				t.Error(err)
			}
			if _, err := r.List(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	p, err := r2.Get("counter")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Granted) != 17 {
		t.Errorf("%d grants after 16 concurrent grants and emit:events, want 17: %v", len(p.Granted), p.Granted)
	}
}

// TestRegistryChangedModule: an upgrade whose module changed keeps its sensitive grants only if
// they are granted again; one whose module is the same keeps them.
func TestRegistryChangedModule(t *testing.T) {
	caps := []string{"read:payload.tool_name", "content:prompt", "fs:read:~/.cursor/**", "emit:events"}
	tests := []struct {
		name          string
		sameModule    bool
		grants        []string
		wantReconfirm []string
		wantGrants    []string
	}{
		{"same module", true, nil, nil, caps},
		{"changed, not granted again", false, nil, []string{"content:prompt", "fs:read:~/.cursor/**"},
			[]string{"read:payload.tool_name", "emit:events"}},
		{"changed, one granted again", false, []string{"content:prompt"}, []string{"content:prompt", "fs:read:~/.cursor/**"},
			[]string{"read:payload.tool_name", "content:prompt", "emit:events"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, audit := openTestRegistry(t, nil)
			v1 := testPlugin{name: "sizer", version: "1.0.0", caps: caps, wasm: "\x00asm one"}
			if _, err := r.Install(writePlugin(t, v1), caps, InstallOptions{}); err != nil {
				t.Fatal(err)
			}
			v2 := v1
			v2.version = "1.1.0"
			if !tt.sameModule {
				v2.wasm = "\x00asm two"
			}
			m, _, err := ReadPluginDir(writePlugin(t, v2))
			if err != nil {
				t.Fatal(err)
			}
			plan, err := r.Plan(&m)
			if err != nil {
				t.Fatal(err)
			}
			if plan.ModuleChanged == tt.sameModule || !slices.Equal(plan.Reconfirm, tt.wantReconfirm) || len(plan.New) != 0 ||
				plan.NeedsConsent() == tt.sameModule {
				t.Errorf("plan = %+v, want reconfirm %q", plan, tt.wantReconfirm)
			}
			res, err := r.Install(writePlugin(t, v2), tt.grants, InstallOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Plugin.Granted, tt.wantGrants) {
				t.Errorf("grants after the upgrade = %q, want %q", res.Plugin.Granted, tt.wantGrants)
			}
			for _, g := range tt.grants {
				if n := slices.Index(audit.actions(), "sizer grant "+g); n < 0 {
					t.Errorf("audit lacks the grant of %s again: %q", g, audit.actions())
				}
			}
		})
	}
}

// writeState writes a state file as an earlier build would have.
func writeState(t *testing.T, r *Registry, state string) {
	t.Helper()
	if err := os.MkdirAll(r.Dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir(), StateName), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
}

// copyPlugin installs a plugin folder's files as an earlier build did, without state.
func copyPlugin(t *testing.T, r *Registry, p testPlugin) {
	t.Helper()
	dir := filepath.Join(r.Dir(), p.name, p.version)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, ManifestName), []byte(p.manifest()), 0o600)
	os.WriteFile(filepath.Join(dir, "plugin.wasm"), []byte(p.module()), 0o600)
}

// TestRegistryMigrate reads a version 1 state file, written before install ids: each installed
// plugin gets an install id, once, audited (one installed under a first-party name says so), and
// stays enabled; built-in plugins get none.
func TestRegistryMigrate(t *testing.T) {
	bp := testPlugin{name: "claude-code", version: "1.0.0", caps: []string{"content:prompt", "emit:events"}}
	builtin := fstest.MapFS{
		"claude-code/plugin.toml": {Data: []byte(bp.manifest())},
		"claude-code/plugin.wasm": {Data: []byte(bp.module())},
	}
	r, audit := openTestRegistry(t, builtin)
	impostor := bp
	impostor.version = "2.0.1"
	copyPlugin(t, r, impostor)
	copyPlugin(t, r, testPlugin{name: "counter", version: "1.0.0", caps: counterCaps})
	writeState(t, r, `{"version": 1, "plugins": {
  "claude-code": {"version": "2.0.1", "enabled": true, "grants": ["content:prompt", "emit:events"]},
  "counter": {"version": "1.0.0", "enabled": true, "grants": ["read:payload.tool_name", "emit:events"]}
}}`)
	// Reading changes nothing.
	list, err := r.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list {
		if p.InstallID != "" {
			t.Errorf("%s has install id %q before the migration", p.Manifest.Name, p.InstallID)
		}
	}
	if err := r.Migrate(); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, name := range []string{"claude-code", "counter"} {
		p, err := r.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if !validInstallID(p.InstallID) {
			t.Errorf("%s: install id %q after the migration", name, p.InstallID)
		}
		ids[name] = p.InstallID
		if !p.Enabled || p.Source != SourceInstalled {
			t.Errorf("%s: %s, enabled %v after the migration, want installed and enabled", name, p.Source, p.Enabled)
		}
	}
	if ids["claude-code"] == ids["counter"] {
		t.Error("two installs share an install id")
	}
	want := []string{
		"claude-code migrate installed by an earlier build in place of the first-party plugin claude-code, without --replace-first-party: " +
			"given an install id, and a salt of its own instead of the first-party one; agent plugins remove claude-code brings the first-party plugin back",
		"counter migrate installed by an earlier build: given an install id, and a salt of its own (its earlier hashes do not join its later ones)",
	}
	if got := audit.actions(); !slices.Equal(got, want) {
		t.Errorf("audit = %q, want %q", got, want)
	}
	var st State
	data, _ := os.ReadFile(filepath.Join(r.Dir(), StateName))
	if err := json.Unmarshal(data, &st); err != nil || st.Version != 2 {
		t.Errorf("state after the migration: %s (%v)", data, err)
	}
	// Again: nothing changes.
	if err := r.Migrate(); err != nil {
		t.Fatal(err)
	}
	if err := r.Disable("counter"); err != nil { // any change
		t.Fatal(err)
	}
	if err := r.Enable("counter"); err != nil {
		t.Fatal(err)
	}
	if got := audit.actions(); len(got) != len(want)+2 {
		t.Errorf("audit after more changes = %q: a second migration?", got)
	}
	for name, id := range ids {
		if p, _ := r.Get(name); p.InstallID != id || !p.Enabled {
			t.Errorf("%s: install id %q enabled %v, want %q, enabled", name, p.InstallID, p.Enabled, id)
		}
	}
	// A state file from a later build is refused, not misread.
	writeState(t, r, `{"version": 3, "plugins": {}}`)
	if _, err := r.List(); err == nil || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("List of a version 3 state: %v", err)
	}
}

// TestRegistryCapturePlan: the plan of a capture plugin says what serves its platform before and
// after, in the order the daemon tries them.
func TestRegistryCapturePlan(t *testing.T) {
	bp := testPlugin{name: "claude-code", version: "1.0.0", caps: []string{"emit:events"}}
	builtin := fstest.MapFS{
		"claude-code/plugin.toml": {Data: []byte(bp.manifest())},
		"claude-code/plugin.wasm": {Data: []byte(bp.module())},
	}
	r, _ := openTestRegistry(t, builtin)
	plan := func(p testPlugin) InstallPlan {
		t.Helper()
		m, _, err := ReadPluginDir(writePlugin(t, p))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := r.Plan(&m)
		if err != nil {
			t.Fatal(err)
		}
		return plan
	}
	id := func(p *PluginEntry) string {
		if p == nil {
			return "none"
		}
		return p.Manifest.ID() + " " + p.Source
	}
	install := func(p testPlugin) {
		t.Helper()
		if _, err := r.Install(writePlugin(t, p), p.caps, InstallOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name          string
		do            func()
		plugin        testPlugin
		before, after string
		takesOver     bool
	}{
		{"first capture plugin", nil, testPlugin{name: "mid", version: "1.0.0", caps: counterCaps},
			"claude-code@1.0.0 builtin", "mid@1.0.0 installed", true},
		{"other platform", nil, testPlugin{name: "mid", version: "1.0.0", platform: "cursor", caps: counterCaps},
			"none", "mid@1.0.0 installed", false},
		{"stands by behind an installed one", func() { install(testPlugin{name: "mid", version: "1.0.0", caps: counterCaps}) },
			testPlugin{name: "zeta", version: "1.0.0", caps: counterCaps}, "mid@1.0.0 installed", "mid@1.0.0 installed", false},
		{"goes before it by name", nil, testPlugin{name: "alpha", version: "1.0.0", caps: counterCaps},
			"mid@1.0.0 installed", "alpha@1.0.0 installed", true},
		{"an upgrade of the serving one", nil, testPlugin{name: "mid", version: "1.1.0", caps: counterCaps},
			"mid@1.0.0 installed", "mid@1.1.0 installed", false},
		{"an upgrade of a disabled one stays disabled", func() {
			if err := r.Disable("mid"); err != nil {
				t.Fatal(err)
			}
		}, testPlugin{name: "mid", version: "1.1.0", caps: counterCaps}, "claude-code@1.0.0 builtin", "claude-code@1.0.0 builtin", false},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		p := plan(s.plugin)
		if got := id(p.Capture.Before); got != s.before {
			t.Errorf("%s: before %s, want %s", s.name, got, s.before)
		}
		if got := id(p.Capture.After); got != s.after {
			t.Errorf("%s: after %s, want %s", s.name, got, s.after)
		}
		if p.Capture.TakesOver() != s.takesOver {
			t.Errorf("%s: takes over %v, want %v", s.name, p.Capture.TakesOver(), s.takesOver)
		}
	}
	// An enrich plugin has no capture plan.
	if p := plan(testPlugin{name: "toolstats", version: "1.0.0", kind: "enrich", caps: []string{"read:events", "emit:derived:x"}}); p.Capture.Platform != "" {
		t.Errorf("enrich plan: %+v", p.Capture)
	}
}
