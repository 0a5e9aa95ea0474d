package main

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// mod is the module path, with a slash: the prefix of every package of ours.
const mod = "github.com/hangar-dev/hangar/"

// ours reports whether imp is pkg of this module or a package below it (pkg relative to the
// module).
func ours(imp, pkg string) bool {
	return imp == mod+pkg || strings.HasPrefix(imp, mod+pkg+"/")
}

// layeringRules are the house rules on imports (docs/ARCHITECTURE.md, "Package map").
var layeringRules = []struct {
	name    string
	pkg     string // the rule applies to packages with this path prefix (relative to the module)
	exempt  string // except those with this prefix
	forbids func(imp string) bool
}{
	{"sdk imports nothing of ours but sdk", "sdk", "", func(i string) bool {
		return strings.HasPrefix(i, mod) && !ours(i, "sdk")
	}},
	{"only store imports pebble", "", "store", func(i string) bool { return strings.Contains(i, "cockroachdb/pebble") }},
	{"libraries never import the CLI", "", "cmd/", func(i string) bool { return strings.HasPrefix(i, mod+"cmd/") }},
	{"store does not import pipeline", "store", "", func(i string) bool { return ours(i, "pipeline") }},
	{"plugins never import the host", "plugins", "", func(i string) bool { return ours(i, "host") }},
	// The host is the sandbox only: the stages that make its plugins part of the pipeline are
	// pipeline/wasmstage's. It may write files through store/atomicfile, a leaf.
	{"host imports no pipeline and no store package but store/atomicfile", "host", "", func(i string) bool {
		return ours(i, "pipeline") || ours(i, "store") && i != mod+"store/atomicfile"
	}},
	{"store/atomicfile is a leaf: it imports nothing of ours", "store/atomicfile", "", func(i string) bool { return strings.HasPrefix(i, mod) }},
	// A plugin is built against the SDK alone: it is what a plugin author outside has.
	{"plugins import nothing of ours but sdk, sdk/abi and sdk/pdk", "plugins", "", func(i string) bool {
		return strings.HasPrefix(i, mod) && !slices.Contains([]string{mod + "sdk", mod + "sdk/abi", mod + "sdk/pdk"}, i)
	}},
}

// layeringViolations returns the imports of imports (by package, relative to the module) that
// break a rule, one line each.
func layeringViolations(imports map[string][]string) []string {
	var out []string
	for _, r := range layeringRules {
		for pkg, imps := range imports {
			if !strings.HasPrefix(pkg, r.pkg) || (r.exempt != "" && strings.HasPrefix(pkg, r.exempt)) {
				continue
			}
			for _, imp := range imps {
				if r.forbids(imp) {
					out = append(out, r.name+": "+pkg+" imports "+imp)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// goListImports returns the imports of the packages matching pattern, by package path relative
// to the module, as go list sees them with the extra environment given (GOOS=wasip1 for the
// plugins' own files).
func goListImports(t *testing.T, pattern string, env ...string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", pattern)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	imports := map[string][]string{}
	dec := json.NewDecoder(out)
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		imports[strings.TrimPrefix(p.ImportPath, mod)] = p.Imports
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list %s: %v", pattern, err)
	}
	return imports
}

// TestLayering enforces the house rules on imports over the whole module (and the plugins as
// built, for wasip1): the event schema depends on nothing of ours, only the store touches Pebble,
// libraries never import the CLI, the host is the sandbox only, and plugins import only the SDK.
func TestLayering(t *testing.T) {
	imports := goListImports(t, "../../...")
	if len(imports) < 6 {
		t.Fatalf("go list found %d packages, want the whole module", len(imports))
	}
	for pkg, imps := range goListImports(t, "../../plugins/...", "GOOS=wasip1", "GOARCH=wasm") {
		imports[pkg] = append(imports[pkg], imps...)
	}
	for _, v := range layeringViolations(imports) {
		t.Error(v)
	}
}

// TestLayeringRulesBite shows that each rule of TestLayering fails on imports that break it (the
// host's and the plugins' as they were, and as they might become), and passes those it allows.
func TestLayeringRulesBite(t *testing.T) {
	tests := []struct {
		name    string
		imports map[string][]string
		want    int // violations
	}{
		{"the host of before issue 14", map[string][]string{
			"host": {mod + "pipeline", mod + "sdk", mod + "store", "github.com/tetratelabs/wazero"},
		}, 2},
		{"host's own internal packages", map[string][]string{"host/internal/x": {mod + "pipeline/wasmstage"}}, 1},
		{"host may write files through store/atomicfile", map[string][]string{
			"host": {mod + "store/atomicfile", mod + "sdk", mod + "sdk/abi", mod + "host/internal/wasmrewrite"},
		}, 0},
		{"host reaching into the store's other rooms", map[string][]string{"host": {mod + "store/seal"}}, 1},
		{"the stages beside the pipeline may import the host", map[string][]string{
			"pipeline/wasmstage": {mod + "host", mod + "pipeline", mod + "store"},
		}, 0},
		{"a plugin built on the SDK", map[string][]string{
			"plugins/x": {mod + "sdk", mod + "sdk/abi", mod + "sdk/pdk", "github.com/tidwall/gjson"},
		}, 0},
		{"a plugin importing the host, the pipeline, the store", map[string][]string{
			"plugins/x": {mod + "host", mod + "pipeline", mod + "store/atomicfile", mod + "sdk/internal/y"},
		}, 5}, // host twice (both plugin rules), pipeline, store/atomicfile, sdk/internal/y
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := layeringViolations(tt.imports); len(got) != tt.want {
				t.Errorf("got %d violations %q, want %d", len(got), got, tt.want)
			}
		})
	}
}
