package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestLayering enforces the house rules on imports: the event schema depends on nothing of ours,
// only the store touches Pebble, libraries never import the CLI, and plugins never import the host.
func TestLayering(t *testing.T) {
	const mod = "github.com/hangar-dev/hangar/"
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "../../...")
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
		t.Fatalf("go list: %v", err)
	}
	if len(imports) < 6 {
		t.Fatalf("go list found %d packages, want the whole module", len(imports))
	}
	rules := []struct {
		name    string
		pkg     string // the rule applies to packages with this path prefix (relative to the module)
		exempt  string // except those with this prefix
		forbids func(imp string) bool
	}{
		{"sdk imports nothing of ours but sdk", "sdk", "", func(i string) bool {
			return strings.HasPrefix(i, mod) && i != mod+"sdk" && !strings.HasPrefix(i, mod+"sdk/")
		}},
		{"only store imports pebble", "", "store", func(i string) bool { return strings.Contains(i, "cockroachdb/pebble") }},
		{"libraries never import the CLI", "", "cmd/", func(i string) bool { return strings.HasPrefix(i, mod+"cmd/") }},
		{"store does not import pipeline", "store", "", func(i string) bool { return strings.HasPrefix(i, mod+"pipeline") }},
		{"plugins never import the host", "plugins", "", func(i string) bool { return strings.HasPrefix(i, mod+"host") }},
		{"store/atomicfile is a leaf: it imports nothing of ours", "store/atomicfile", "", func(i string) bool { return strings.HasPrefix(i, mod) }},
	}
	for _, r := range rules {
		for pkg, imps := range imports {
			if !strings.HasPrefix(pkg, r.pkg) || (r.exempt != "" && strings.HasPrefix(pkg, r.exempt)) {
				continue
			}
			for _, imp := range imps {
				if r.forbids(imp) {
					t.Errorf("%s: %s imports %s", r.name, pkg, imp)
				}
			}
		}
	}
}
