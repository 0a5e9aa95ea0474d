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
	res, err := r.Install(src, slices.Clone(counterCaps))
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
	if err := json.Unmarshal(data, &st); err != nil || st.Version != 1 || st.Plugins["counter"].Version != "1.0.0" {
		t.Errorf("state file = %s (%v)", data, err)
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
			_, err := r.Install(src, tt.grants)
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
	if _, err := r.Install(writePlugin(t, v1), []string{"read:payload.tool_name", "emit:events"}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "0.9.0"} {
		old := testPlugin{name: "counter", version: v, caps: counterCaps}
		if _, err := r.Install(writePlugin(t, old), nil); !errors.Is(err, ErrInstalled) {
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
	// The user declined the new capabilities: only the old grants stay.
	res, err := r.Install(writePlugin(t, v2), nil)
	if err != nil {
		t.Fatal(err)
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
	res, err = r.Install(writePlugin(t, v3), []string{"content:prompt"})
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
	if _, err := r.Install(writePlugin(t, testPlugin{name: "counter", version: "1.0.0", caps: caps}), []string{"emit:events"}); err != nil {
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
	// An installed newer version replaces it, keeping its grants; removing it brings it back.
	up := bp
	up.version = "1.1.0"
	res, err := r.Install(writePlugin(t, up), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Plugin.Source != SourceInstalled || !res.Plan.Upgrade || !slices.Equal(res.Plan.New, []string{"content:prompt"}) || !res.Plugin.Enabled {
		t.Errorf("install over built-in: %+v", res)
	}
	if err := r.Remove("claude-code"); err != nil {
		t.Fatal(err)
	}
	p, _ = r.Get("claude-code")
	// The first-party plugin is back as it ships: enabled.
	if p.Source != SourceBuiltin || p.Manifest.Version != "1.0.0" || !p.Enabled {
		t.Errorf("after removing the installed copy: %s %s enabled=%v", p.Manifest.ID(), p.Source, p.Enabled)
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
	if _, err := r1.Install(writePlugin(t, testPlugin{name: "counter", version: "1.0.0", caps: caps}), []string{"emit:events"}); err != nil {
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
