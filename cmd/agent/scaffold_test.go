package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/sdktest"
)

// TestPluginsNewBuilds scaffolds a plugin of each kind in each language against this checkout,
// builds it with its one command, and checks that the folder is a valid plugin whose module does
// its kind's work through the real host: a capture plugin captures real hook payloads, an enrich
// plugin counts stored events into keyed derived records, an insight plugin turns derived records
// into insights its manifest has the words for.
func TestPluginsNewBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds WASM modules")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ lang, kind string }{
		{"go", "capture"}, {"assemblyscript", "capture"},
		{"go", "enrich"}, {"assemblyscript", "enrich"},
		{"go", "insight"}, {"assemblyscript", "insight"},
		{"rust", "capture"}, {"rust", "enrich"}, {"rust", "insight"},
	} {
		lang, kind := tc.lang, tc.kind
		t.Run(lang+"/"+kind, func(t *testing.T) {
			if lang == "assemblyscript" {
				if _, err := exec.LookPath("npm"); err != nil {
					sdktest.Require(t, "npm is not on PATH", "AssemblyScript")
				}
			}
			if lang == "rust" {
				sdktest.Require(t, sdktest.RustMissing(), "Rust")
			}
			t.Parallel()
			name := "my-" + lang + "-" + kind
			dir := filepath.Join(t.TempDir(), name)
			var out bytes.Buffer
			g := &Globals{stdout: &out, stderr: &out}
			if err := (&PluginsNewCmd{Lang: lang, Kind: kind, Name: name, Dir: dir, SDK: repo, Platform: "claude-code"}).Run(g); err != nil {
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
			if string(m.Kind) != kind {
				t.Fatalf("scaffolded a %s plugin, want %s", m.Kind, kind)
			}
			switch kind {
			case "capture":
				checkCaptures(t, m, wasm)
				checkNextSteps(t, dir, out.String())
			case "enrich":
				checkEnriches(t, m, wasm)
			case "insight":
				checkInsights(t, m, wasm)
			}
		})
	}
}

// loadScaffold loads a scaffolded module into a new host with a kv in memory, granted what its
// manifest asks.
func loadScaffold(t *testing.T, m host.Manifest, wasm []byte) *host.Plugin {
	t.Helper()
	h, err := host.New(host.Config{KV: &host.MemKV{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	g, err := host.NewGrants(m.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, wasm, g)
	if err != nil {
		t.Fatalf("load plugin: %v", err)
	}
	return p
}

// callJSON calls a plugin's export over events given as their JSON, as the enrich and insight
// stages do, and returns its outcomes.
func callJSON(t *testing.T, p *host.Plugin, evs []sdk.Event) []host.Outcome {
	t.Helper()
	recs := make([]host.Record, len(evs))
	for i := range evs {
		js, err := evs[i].MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = host.Record{ID: evs[i].ID, Received: evs[i].Time, Platform: evs[i].Platform, Payload: js}
	}
	outs, err := p.CallRecords(context.Background(), string(p.Manifest().Kind), recs)
	if err != nil {
		t.Fatalf("call %s: %v", p.Manifest().Kind, err)
	}
	return outs
}

// checkEnriches runs a scaffolded enrich plugin over stored events: each tool use of a session
// yields its session's record with the running count, keyed by the session, of the kind the
// manifest grants.
func checkEnriches(t *testing.T, m host.Manifest, wasm []byte) {
	t.Helper()
	p := loadScaffold(t, m, wasm)
	var evs []sdk.Event
	for i, s := range []string{"s-1", "s-2", "s-1", "s-1", ""} {
		evs = append(evs, sdk.Event{ID: sdk.NewID("scaffold", []byte{byte(i)}), Platform: "claude-code", Kind: "hook.PostToolUse",
			SessionID: s, Time: time.Unix(1700000000, 0), Attrs: []sdk.Attr{sdk.Int("payload_bytes", 100), sdk.Ident("tool_name", "Bash")}})
	}
	evs = append(evs, sdk.Event{ID: sdk.NewID("scaffold", []byte("stop")), Platform: "claude-code", Kind: "hook.Stop", SessionID: "s-1", Time: time.Unix(1700000000, 0)})
	var got []string
	for i, o := range callJSON(t, p, evs) {
		if o.Err != nil {
			t.Fatalf("event %d failed: %v", i, o.Err)
		}
		for _, ev := range o.Events {
			key, _ := ev.Attr("key")
			n, _ := ev.Attr("tool_calls")
			got = append(got, fmt.Sprintf("%s %s=%d", ev.Kind, key.Ident(), n.Int()))
		}
	}
	dk := derivedKind(m.Name)
	want := []string{dk + " s-1=1", dk + " s-2=1", dk + " s-1=2", dk + " s-1=3"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("derived records %q, want %q", got, want)
	}
}

// checkInsights runs a scaffolded insight plugin over conversation.session records: a session of
// an hour or more yields an insight with a code its manifest has a message for, which renders
// with every placeholder filled.
func checkInsights(t *testing.T, m host.Manifest, wasm []byte) {
	t.Helper()
	p := loadScaffold(t, m, wasm)
	var evs []sdk.Event
	for i, min := range []int64{30, 75, 200} {
		id := fmt.Sprintf("sess-%d", i)
		evs = append(evs, sdk.Event{ID: sdk.NewID("scaffold", []byte(id)), Platform: "claude-code", Kind: "conversation.session", SessionID: id,
			Time: time.Unix(1700000000, 0), Attrs: []sdk.Attr{sdk.Ident("key", id), sdk.Int("active_ms", min*60_000), sdk.Int("turns", 12)}})
	}
	var got []string
	for i, o := range callJSON(t, p, evs) {
		if o.Err != nil {
			t.Fatalf("record %d failed: %v", i, o.Err)
		}
		for _, ev := range o.Events {
			s := renderInsight(&daemon.Insight{Plugin: m.Name, Record: ev}, &m)
			got = append(got, s.Severity+": "+s.Title)
			if strings.ContainsAny(s.Title+s.Suggestion, "{}") || s.Suggestion == "" {
				t.Errorf("insight %s: title %q, suggestion %q", s.Code, s.Title, s.Suggestion)
			}
		}
	}
	want := []string{"info: Session sess-1 ran 75 active minutes over 12 turns", "warning: Session sess-2 ran 200 active minutes over 12 turns"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("insights %q, want %q", got, want)
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
		{"bad lang", PluginsNewCmd{Lang: "cobol", Name: "ok-name", Platform: "claude-code"}, "language"},
		{"bad kind", PluginsNewCmd{Lang: "go", Kind: "exporter", Name: "ok-name", Platform: "claude-code"}, "kind"},
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
	for _, lang := range []string{"go", "assemblyscript", "rust"} {
		files, err := (&PluginsNewCmd{Lang: lang, Name: "x-plugin", Platform: "claude-code"}).render()
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		for _, f := range files {
			if f.path != "README.md" && (strings.Contains(string(f.data), "replace ") || strings.Contains(string(f.data), "file:") ||
				strings.Contains(string(f.data), "\nhangar_pdk =") || strings.Contains(string(f.data), "HANGAR_SDK:-/")) {
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
