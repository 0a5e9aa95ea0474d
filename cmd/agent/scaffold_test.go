package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
)

// TestPluginsNewBuilds scaffolds a plugin in each language against this checkout, builds it with
// its one command, and checks that the folder is a valid plugin whose module captures real hook
// payloads.
func TestPluginsNewBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds WASM modules")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"go", "assemblyscript"} {
		t.Run(lang, func(t *testing.T) {
			if lang == "assemblyscript" {
				if _, err := exec.LookPath("npm"); err != nil {
					if os.Getenv("CI") != "" {
						t.Fatal("npm is not on PATH, and CI must build the AssemblyScript plugins")
					}
					t.Skip("npm is not on PATH")
				}
			}
			t.Parallel()
			name := "my-" + lang + "-plugin"
			dir := filepath.Join(t.TempDir(), name)
			var out bytes.Buffer
			g := &Globals{stdout: &out, stderr: &out}
			if err := (&PluginsNewCmd{Lang: lang, Name: name, Dir: dir, SDK: repo, Platform: "claude-code"}).Run(g); err != nil {
				t.Fatalf("plugins new: %v", err)
			}
			if !strings.Contains(out.String(), "./build") {
				t.Errorf("output does not say how to build:\n%s", out.String())
			}

			// Before the build the manifest decodes but is not valid: no digest yet.
			m := readManifest(t, dir)
			if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "sha256") {
				t.Errorf("unbuilt manifest: Validate() = %v, want a sha256 error", err)
			}

			if msg, err := runBuild(dir); err != nil {
				t.Fatalf("./build: %v\n%s", err, msg)
			}

			m = readManifest(t, dir)
			if err := m.Validate(); err != nil {
				t.Fatalf("built manifest: %v", err)
			}
			wasm, err := os.ReadFile(filepath.Join(dir, m.Wasm))
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(wasm); hex.EncodeToString(sum[:]) != m.SHA256 {
				t.Errorf("plugin.toml sha256 %s, module's %x", m.SHA256, sum)
			}
			checkCaptures(t, m, wasm)
			checkNextSteps(t, dir, out.String())
		})
	}
}

// checkNextSteps follows the "Next:" steps `plugins new` printed, as a new user would, without a
// terminal, then imports the shared transcripts. It reproduces a finding of issue 13: the steps
// said `agent plugins install . --yes`, which silently made the scaffold (which reads hooks only)
// the capture of claude-code, and the next import dead-lettered all of its transcript lines.
// Installing it must say in plain words that it takes over claude-code, and not do so unasked.
func checkNextSteps(t *testing.T, dir, printed string) {
	t.Helper()
	_, next, ok := strings.Cut(printed, "Next:\n")
	if !ok {
		t.Fatalf("plugins new printed no Next: steps:\n%s", printed)
	}
	next, _, _ = strings.Cut(next, "\n\n")
	dataDir := newDataDir(t)
	var install result
	for _, step := range strings.Split(strings.TrimSpace(next), "\n") {
		args := strings.Fields(step)
		switch {
		case len(args) == 2 && args[0] == "cd":
			if args[1] != dir {
				t.Fatalf("step %q: want cd %s", step, dir)
			}
		case len(args) == 1 && args[0] == "./build":
			// Built above.
		case len(args) > 1 && args[0] == "agent":
			cmd := exec.Command(agentBin, append(args[1:], "--data-dir", dataDir)...)
			cmd.Dir, cmd.Env = dir, childEnv()
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			install = result{stdout: stdout.String(), stderr: stderr.String()}
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				install.code = exit.ExitCode()
			} else if err != nil {
				t.Fatalf("step %q: %v", step, err)
			}
		default:
			t.Fatalf("unexpected step %q", step)
		}
	}
	if !strings.Contains(install.stdout, "TAKES OVER claude-code") {
		t.Errorf("installing the scaffold does not say it takes over claude-code:\n%s%s", install.stdout, install.stderr)
	}
	src := filepath.Join(t.TempDir(), "claude")
	lines, _ := copyTranscripts(t, sharedTranscripts, src)
	sum := runImport(t, nil, "--data-dir", dataDir, "--source", src)
	if sum.Lines != lines || sum.Stored == 0 || sum.DeadLettered != 0 {
		t.Errorf("import after following the Next: steps: %d of %d lines read, %d events, %d dead-lettered; want every line read, none dead-lettered",
			sum.Lines, lines, sum.Stored, sum.DeadLettered)
	}
	if dl := dlqList(t, dataDir); len(dl) != 0 {
		t.Errorf("after following the Next: steps, the import dead-lettered %d of %d transcript lines, the first: %s", len(dl), lines, dl[0].Reason)
	}
}

func readManifest(t *testing.T, dir string) host.Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, host.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	m, err := host.DecodeManifest(data)
	if err != nil {
		t.Fatalf("decode %s: %v", host.ManifestName, err)
	}
	return m
}

// checkCaptures runs the module's capture export over real payloads through the plugin host,
// granted what its manifest asks.
func checkCaptures(t *testing.T, m host.Manifest, wasm []byte) {
	t.Helper()
	h, err := host.New(host.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	g, err := host.NewGrants(m.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, wasm, g)
	if err != nil {
		t.Fatalf("load plugin: %v", err)
	}
	n := min(len(fixtures), 100)
	records := make([][]byte, n)
	for i := range records {
		records[i] = fixtures[i].payload
	}
	outs, err := p.Call(context.Background(), "capture", records)
	if err != nil {
		t.Fatalf("call capture: %v", err)
	}
	for i, o := range outs {
		if o.Err != nil || len(o.Events) != 1 || o.Events[0].Kind != "hook."+fixtures[i].event {
			t.Errorf("record %d (%s): events %v, error %v; want one hook.%s", i, fixtures[i].file, o.Events, o.Err, fixtures[i].event)
		}
	}
}

func TestPluginsNewRefuses(t *testing.T) {
	tmp := t.TempDir()
	full := filepath.Join(tmp, "full")
	if err := os.MkdirAll(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cmd  PluginsNewCmd
		want string
	}{
		{"bad name", PluginsNewCmd{Lang: "go", Name: "My_Plugin", Platform: "claude-code"}, "name"},
		{"bad platform", PluginsNewCmd{Lang: "go", Name: "ok-name", Platform: "Claude Code"}, "platform"},
		{"bad lang", PluginsNewCmd{Lang: "rust", Name: "ok-name", Platform: "claude-code"}, "language"},
		{"not a checkout", PluginsNewCmd{Lang: "go", Name: "ok-name", Platform: "claude-code", SDK: tmp}, "not a checkout"},
		{"folder not empty", PluginsNewCmd{Lang: "go", Name: "ok-name", Platform: "claude-code", Dir: full}, "not empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cmd.Dir == "" {
				tt.cmd.Dir = filepath.Join(tmp, tt.name)
			}
			var out bytes.Buffer
			err := tt.cmd.Run(&Globals{stdout: &out, stderr: &out})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error about %s", err, tt.want)
			}
			if tt.cmd.Dir != full {
				if _, err := os.Stat(tt.cmd.Dir); err == nil {
					t.Errorf("%s was created", tt.cmd.Dir)
				}
			}
		})
	}
}

func TestPluginsNewWithoutSDK(t *testing.T) {
	for _, lang := range []string{"go", "assemblyscript"} {
		files, err := (&PluginsNewCmd{Lang: lang, Name: "x-plugin", Platform: "claude-code"}).render()
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		for _, f := range files {
			if f.path != "README.md" && strings.Contains(string(f.data), "replace ") || f.path != "README.md" && strings.Contains(string(f.data), "file:") {
				t.Errorf("%s %s names a local SDK without --sdk:\n%s", lang, f.path, f.data)
			}
			if f.path == "README.md" && !strings.Contains(string(f.data), "--sdk") {
				t.Errorf("%s README does not explain how to find the SDK", lang)
			}
		}
	}
}

// runBuild runs a scaffolded plugin's ./build. The script was written moments ago by this process,
// so a fork by a parallel test can briefly hold it open for writing and exec fails with ETXTBSY
// (golang.org/issue/22315): try again a few times.
func runBuild(dir string) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		build := exec.Command("./build")
		build.Dir = dir
		msg, err := build.CombinedOutput()
		if !errors.Is(err, syscall.ETXTBSY) || attempt == 20 {
			return msg, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
