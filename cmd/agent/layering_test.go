package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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
	// sdk/sdktest is the SDKs' conformance tests' helper: it runs their modules under the real
	// host, so it may import it, and only tests may import it.
	{"sdk imports nothing of ours but sdk", "sdk", "sdk/sdktest", func(i string) bool {
		return strings.HasPrefix(i, mod) && !ours(i, "sdk")
	}},
	{"only tests import sdk/sdktest", "", "", func(i string) bool { return i == mod+"sdk/sdktest" }},
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

// listedPackage is a package as go list describes it (the fields asked for).
type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Export     string
}

// goList returns the packages go list describes, run with the arguments and the extra
// environment given.
func goList(t *testing.T, env []string, args ...string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = new(strings.Builder)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(out)
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, cmd.Stderr)
	}
	return pkgs
}

// goListImports returns the imports of the packages matching pattern, by package path relative
// to the module, as go list sees them with the extra environment given (GOOS=wasip1 for the
// plugins' own files).
func goListImports(t *testing.T, pattern string, env ...string) map[string][]string {
	t.Helper()
	imports := map[string][]string{}
	for _, p := range goList(t, env, "-json=ImportPath,Imports", pattern) {
		imports[strings.TrimPrefix(p.ImportPath, mod)] = p.Imports
	}
	return imports
}

// TestLayering enforces the house rules on imports over the whole module (and the plugins as
// built, for wasip1): the event schema depends on nothing of ours, only the store touches Pebble,
// libraries never import the CLI, the host is the sandbox only, and plugins import only the SDK.
// And, by type, that the read side cannot reach the raw event keyspace (readSideViolations).
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
	start := time.Now()
	for _, v := range readSideViolations(t) {
		t.Error(v)
	}
	t.Logf("read side checked in %v", time.Since(start))
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
		{"the SDKs' test helper may import the host", map[string][]string{
			"sdk/sdktest": {mod + "host", mod + "host/hosttest", mod + "sdk", mod + "sdk/abi"},
		}, 0},
		{"an SDK package importing the host, or the test helper", map[string][]string{
			"sdk/pdk":   {mod + "host", mod + "sdk/sdktest"},
			"pipeline":  {mod + "sdk/sdktest"},
			"sdk/other": {mod + "host/hosttest"},
		}, 4}, // sdk/pdk: host, and sdktest; pipeline: sdktest; sdk/other: hosttest
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := layeringViolations(tt.imports); len(got) != tt.want {
				t.Errorf("got %d violations %q, want %d", len(got), got, tt.want)
			}
		})
	}
}

// rawEventReads are the methods of *store.Store that read the raw event keyspace: the event log,
// its indexes (by id, session and time), every key at once, and the dead letters (their payloads
// are the raw input of a stage, events included). The read side answers from derived records,
// consumer state and counters instead: ScanDerived, State, ScanState, ScanStateRange, Counts,
// EventCount and the like.
var rawEventReads = []string{"Event", "EventByID", "Has", "ReadLog", "SessionEvents", "EventsBetween", "ScanAll", "DLQ", "ScanDLQ"}

// readSide is the code that answers users' questions from derived data, which must not reach the
// raw event keyspace: files of a package (every non-test file when file is empty), or in a file
// only the functions named. The usage rollup and the daily counts are consumers too: the
// consumers runner hands them their events, so they need no raw read of their own.
var readSide = []struct {
	pkg   string   // relative to the module
	file  string   // "" for every non-test file of pkg
	funcs []string // only these functions and methods of file; all of it when nil
}{
	{"pipeline/usage", "", nil},
	{"pipeline/usagestore", "", nil},
	{"pipeline", "daily.go", nil},
	{"cmd/agent", "report.go", nil},
	{"cmd/agent", "projects.go", nil},
	{"cmd/agent", "pricing.go", nil},
	{"cmd/agent", "status.go", nil},
	{"cmd/agent/internal/daemon", "usage.go", nil},
	{"cmd/agent/internal/daemon", "api.go", []string{"CurrentStatus", "getStatus", "getDaily"}},
	// The derived read commands and the endpoints that serve them; `agent events tail`
	// (events.go, both sides) is the one read command that reads events.
	{"cmd/agent/internal/daemon", "derived.go", nil},
	{"cmd/agent/internal/daemon", "usagesums.go", nil},
	{"cmd/agent", "readside.go", nil},
	{"cmd/agent", "sessions.go", nil},
	{"cmd/agent", "analyze.go", nil},
	{"cmd/agent", "metrics.go", nil},
	{"cmd/agent", "errors.go", nil},
	{"cmd/agent", "export.go", nil},
	{"cmd/agent", "derived.go", nil},
}

// exportImporter returns an importer of the packages the patterns match and of their
// dependencies, from the export data go list -export writes (the build cache's, mostly made by the
// test's own build).
func exportImporter(t *testing.T, fset *token.FileSet, patterns ...string) types.Importer {
	t.Helper()
	exports := map[string]string{}
	for _, p := range goList(t, nil, append([]string{"-export", "-deps", "-json=ImportPath,Export"}, patterns...)...) {
		exports[p.ImportPath] = p.Export
	}
	return importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		if exports[path] == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(exports[path])
	})
}

// rawReadSignatures returns the signatures of rawEventReads, by name, as *store.Store has them.
func rawReadSignatures(t *testing.T, imp types.Importer) map[string]*types.Signature {
	t.Helper()
	st, err := imp.Import(mod + "store")
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := st.Scope().Lookup("Store").(*types.TypeName)
	if obj == nil {
		t.Fatal("package store has no type Store")
	}
	methods := types.NewMethodSet(types.NewPointer(obj.Type()))
	sigs := map[string]*types.Signature{}
	for _, name := range rawEventReads {
		sel := methods.Lookup(st, name)
		if sel == nil {
			t.Fatalf("*store.Store has no method %s: update rawEventReads", name)
		}
		sigs[name] = sel.Obj().(*types.Func).Signature()
	}
	return sigs
}

// rawReads returns where the files of a type-checked package use a method that reads the raw
// event keyspace: a method of *store.Store named in raw (called, taken as a value or as a method
// expression, however the receiver is named and through any embedding), or an interface's method
// of the same name and signature (a *store.Store passed as an interface). scope gives, by file
// base name, the files to check, each with the functions to check in it (all of it when nil); a
// function it names that its file lacks is a violation too, so the rule never silently shrinks.
func rawReads(pkg string, fset *token.FileSet, files []*ast.File, info *types.Info, raw map[string]*types.Signature, scope map[string][]string) []string {
	var out []string
	check := func(n ast.Node) {
		ast.Inspect(n, func(n ast.Node) bool {
			se, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			sel, ok := info.Selections[se] // none for a package-qualified name
			if !ok {
				return true
			}
			fn, ok := sel.Obj().(*types.Func)
			if !ok || raw[fn.Name()] == nil {
				return true
			}
			recv := fn.Signature().Recv().Type()
			if p, ok := recv.(*types.Pointer); ok {
				recv = p.Elem()
			}
			named, _ := recv.(*types.Named)
			isStore := named != nil && named.Obj().Pkg() != nil && named.Obj().Pkg().Path() == mod+"store" && named.Obj().Name() == "Store"
			_, isIface := recv.Underlying().(*types.Interface)
			var use string
			switch {
			case isStore:
				use = "(*store.Store)." + fn.Name()
			case isIface && types.Identical(fn.Signature(), raw[fn.Name()]):
				use = "an interface's " + fn.Name() + ", as *store.Store has it"
			default:
				return true
			}
			pos := fset.Position(se.Sel.Pos())
			out = append(out, fmt.Sprintf("the read side cannot reach the raw event keyspace: %s:%d uses %s", path.Join(pkg, filepath.Base(pos.Filename)), pos.Line, use))
			return true
		})
	}
	for _, f := range files {
		name := filepath.Base(fset.Position(f.Package).Filename)
		funcs, ok := scope[name]
		if !ok {
			continue
		}
		if funcs == nil {
			check(f)
			continue
		}
		for _, want := range funcs {
			found := false
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == want {
					check(fd)
					found = true
				}
			}
			if !found {
				out = append(out, fmt.Sprintf("read side: %s has no function %s: update readSide", path.Join(pkg, name), want))
			}
		}
	}
	return out
}

// parseFiles parses the files named.
func parseFiles(t *testing.T, fset *token.FileSet, filenames []string) []*ast.File {
	t.Helper()
	var files []*ast.File
	for _, name := range filenames {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// typeCheck type-checks the files of a package, importing with imp, and returns its selections.
func typeCheck(t *testing.T, fset *token.FileSet, imp types.Importer, path string, files []*ast.File) *types.Info {
	t.Helper()
	info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}}
	if _, err := (&types.Config{Importer: imp}).Check(path, fset, files, info); err != nil {
		t.Fatalf("type-check %s: %v", path, err)
	}
	return info
}

// readSideViolations type-checks the read side's packages and returns its uses of the raw event
// keyspace (see rawReads).
func readSideViolations(t *testing.T) []string {
	t.Helper()
	scopes := map[string]map[string][]string{} // package, file, functions
	var patterns []string
	for _, r := range readSide {
		if scopes[mod+r.pkg] == nil {
			scopes[mod+r.pkg] = map[string][]string{}
			patterns = append(patterns, "../../"+r.pkg)
		}
		scopes[mod+r.pkg][r.file] = r.funcs
	}
	pkgs := goList(t, nil, append([]string{"-json=ImportPath,Dir,GoFiles,Imports"}, patterns...)...)
	var imports []string
	for _, p := range pkgs {
		imports = append(imports, p.Imports...)
	}
	slices.Sort(imports)
	fset := token.NewFileSet()
	imp := exportImporter(t, fset, slices.Compact(imports)...)
	raw := rawReadSignatures(t, imp)
	var out []string
	for _, p := range pkgs {
		scope := map[string][]string{}
		for file, funcs := range scopes[p.ImportPath] {
			if file != "" && !slices.Contains(p.GoFiles, file) {
				out = append(out, fmt.Sprintf("read side: %s has no file %s: update readSide", p.ImportPath, file))
			}
			scope[file] = funcs
		}
		var names []string
		for _, f := range p.GoFiles {
			if _, ok := scope[""]; ok {
				scope[f] = nil
			}
			names = append(names, filepath.Join(p.Dir, f))
		}
		files := parseFiles(t, fset, names)
		out = append(out, rawReads(strings.TrimPrefix(p.ImportPath, mod), fset, files, typeCheck(t, fset, imp, p.ImportPath, files), raw, scope)...)
	}
	return out
}

// TestLayeringReadSideBites shows that the read side's rule fails on code that reads the raw
// event keyspace, however it names or wraps the store, and passes code that reads derived data.
func TestLayeringReadSideBites(t *testing.T) {
	fset := token.NewFileSet()
	imp := exportImporter(t, fset, mod+"store", mod+"sdk")
	raw := rawReadSignatures(t, imp)
	const head = "package x\n\nimport (\n\t\"time\"\n\n\t\"github.com/hangar-dev/hangar/sdk\"\n\t\"github.com/hangar-dev/hangar/store\"\n)\n\nvar (\n\t_ sdk.ID\n\t_ *store.Store\n\t_ time.Time\n)\n\n"
	tests := []struct {
		name  string
		src   string
		funcs []string // the functions of the file on the read side; all when nil
		want  int      // violations
	}{
		{"reads the log", `func f(st *store.Store) { st.ReadLog(0, 1, nil) }`, nil, 1},
		{"reads consumer state", `func f(st *store.Store) { st.ScanStateRange("usage", nil, nil, nil) }`, nil, 0},
		{"derived records and counters", `func f(st *store.Store) { st.ScanDerived("k", 0, 1, nil); st.Counts(); st.EventCount(); st.State("c", nil) }`, nil, 0},
		{"a store by any other name", `type d struct{ db *store.Store }
func (x *d) f() { rawLog := x.db; rawLog.EventsBetween(time.Time{}, time.Time{}, nil) }`, nil, 1},
		{"through an embedding", `type d struct{ *store.Store }
func (x d) f() { x.ScanAll(nil); x.Has(sdk.ID{}) }`, nil, 2},
		{"a method value and a method expression", `func f(st *store.Store) { g := st.SessionEvents; _ = g; _ = (*store.Store).Event }`, nil, 2},
		{"a store as an interface", `type events interface{ ReadLog(uint64, int, func(uint64, *sdk.Event) error) (uint64, error) }
func f(e events) { e.ReadLog(0, 1, nil) }`, nil, 1},
		{"another type's method of a raw read's name", `type set struct{}
func (set) Has(string) bool { return false }
func f(s set) { s.Has("x") }`, nil, 0},
		{"only the functions named", `func getStatus(st *store.Store) { st.DLQ(1) }
func replay(st *store.Store) { st.ScanDLQ(nil) }`, []string{"getStatus"}, 1},
		{"a function named that is gone", `func f() {}`, []string{"getDaily"}, 1},
		{"the view and the derived log", `func f(st *store.Store) { st.ScanView("k", nil, nil); st.GetView("k", nil); st.ScanViewPrefix("k", nil, nil); st.DerivedKinds() }`, nil, 0},
		{"the events tail's read, outside its file", `func tail(st *store.Store) { st.ReadLog(st.LastSeq()-20, 20, nil) }`, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parser.ParseFile(fset, "read.go", head+tt.src+"\n", parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			info := typeCheck(t, fset, imp, "x", []*ast.File{f})
			got := rawReads("x", fset, []*ast.File{f}, info, raw, map[string][]string{"read.go": tt.funcs})
			if len(got) != tt.want {
				t.Errorf("got %d violations %q, want %d", len(got), got, tt.want)
			}
		})
	}
}
