package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// The two projects of TestProjects: the shared transcripts' folder, and a copy of them moved to
// another one.
const (
	musicDir = "/Users/chip/dev/ai-music"
	otherDir = "/home/dev/other-app"
)

var cwdRe = regexp.MustCompile(`"cwd":"([^"]*)"`)

// TestProjects names the projects of a corpus of two (two copies of the shared transcripts, the
// second moved to another folder) by folder and by key, and checks that reports show and filter
// by the names, that names are checked, and that naming works beside a running daemon, which
// holds the store.
func TestProjects(t *testing.T) {
	_, one := copyTranscripts(t, sharedTranscripts, t.TempDir())
	src := filepath.Join(t.TempDir(), "claude")
	makeCorpus(t, src, corpus{size: one + 1, projects: 2}) // copy 0 in folder 0, copy 1 in folder 1
	cwdOf := map[string]string{}                           // session id -> the folder of its lines
	files, _ := filepath.Glob(filepath.Join(src, "projects", "*", "*.jsonl"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(f, "-bench-project-1") {
			data = bytes.ReplaceAll(data, []byte(`"cwd":"`+musicDir+`"`), []byte(`"cwd":"`+otherDir+`"`))
			if err := os.WriteFile(f, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if m, s := cwdRe.FindSubmatch(data), sessionRe.FindSubmatch(data); m != nil && s != nil {
			cwdOf[string(s[1])] = string(m[1])
		}
	}
	dataDir := newDataDir(t)
	runImport(t, nil, "--data-dir", dataDir, "--source", src)

	type project struct {
		Key      string  `json:"key"`
		Name     string  `json:"name"`
		Sessions int     `json:"sessions"`
		Tokens   int64   `json:"total_tokens"`
		Cost     float64 `json:"total_cost"`
	}
	list := func() []project {
		t.Helper()
		var out struct{ Projects []project }
		if err := json.Unmarshal([]byte(agentOK(t, dataDir, "projects", "--json").stdout), &out); err != nil {
			t.Fatal(err)
		}
		return out.Projects
	}
	ps := list()
	if len(ps) != 2 || ps[0].Name != "" || ps[1].Name != "" || len(ps[0].Key) != 32 || ps[0].Sessions == 0 || ps[0].Sessions != ps[1].Sessions {
		t.Fatalf("projects before naming = %+v, want two unnamed ones with as many sessions", ps)
	}
	type session struct {
		SessionID   string `json:"sessionId"`
		ProjectPath string `json:"projectPath"`
		TotalTokens int64  `json:"totalTokens"`
	}
	sessions := func() []session {
		t.Helper()
		var out struct{ Sessions []session }
		if err := json.Unmarshal([]byte(agentOK(t, dataDir, "report", "session", "--json").stdout), &out); err != nil {
			t.Fatal(err)
		}
		return out.Sessions
	}

	agentOK(t, dataDir, "projects", "name", "AI Music", "--dir", musicDir)
	if res := agentOK(t, dataDir, "projects", "name", "Other App", "--dir", otherDir); res.stderr != "" {
		t.Errorf("naming a folder with usage warns: %s", res.stderr)
	}
	if res := agentOK(t, dataDir, "projects", "name", "Sub", "--dir", otherDir+"/src"); !strings.Contains(res.stderr, "no usage of this folder yet") {
		t.Errorf("naming a folder without usage (a project's subfolder) does not warn: %q", res.stderr)
	}
	want := map[string]string{musicDir: "AI Music", otherDir: "Other App"}
	otherTokens := int64(0)
	for _, s := range sessions() {
		if got := want[cwdOf[s.SessionID]]; s.ProjectPath != got {
			t.Errorf("session %s of %s: shown as project %q, want %q", s.SessionID, cwdOf[s.SessionID], s.ProjectPath, got)
		}
		if cwdOf[s.SessionID] == otherDir {
			otherTokens += s.TotalTokens
		}
	}
	var daily struct {
		Totals struct {
			TotalTokens int64 `json:"totalTokens"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(agentOK(t, dataDir, "report", "daily", "--json", "--project", "Other App").stdout), &daily); err != nil {
		t.Fatal(err)
	}
	if daily.Totals.TotalTokens != otherTokens || otherTokens == 0 {
		t.Errorf("daily --project \"Other App\": %d tokens, want the %d of its sessions", daily.Totals.TotalTokens, otherTokens)
	}
	if mode := fileMode(t, filepath.Join(dataDir, projectsFile)); mode != 0o600 {
		t.Errorf("%s has mode %v, want 0600", projectsFile, mode)
	}

	// Refused: a name another project has, an empty one, one that looks like a key, a key that
	// names no project. Nothing changes.
	agentFails(t, dataDir, `"AI Music" already names project`, "projects", "name", "AI Music", "--dir", otherDir)
	agentFails(t, dataDir, "cannot be empty", "projects", "name", " ", "--dir", otherDir)
	agentFails(t, dataDir, "look like a project key", "projects", "name", "0123456789ab", "--dir", otherDir)
	agentFails(t, dataDir, "no project with usage", "projects", "name", "X", "--key", "zz")

	// By key, as `agent projects` lists it: the start of it is enough when only one has it.
	var otherKey string
	for _, p := range list() {
		if p.Name == "Other App" {
			otherKey = p.Key
		}
	}
	if otherKey == "" {
		t.Fatalf("projects lists no \"Other App\": %+v", list())
	}
	agentOK(t, dataDir, "projects", "unname", "--key", otherKey[:8])
	for _, s := range sessions() {
		if cwdOf[s.SessionID] == otherDir && s.ProjectPath != otherKey[:12] {
			t.Errorf("session %s after unname: project %q, want its key's start %q", s.SessionID, s.ProjectPath, otherKey[:12])
		}
	}

	// With the daemon up (it holds the store), listing goes through it and naming by folder asks
	// the capture plugin in the CLI's own process.
	d := startDaemon(t, dataDir, nil)
	agentOK(t, dataDir, "projects", "name", "Other App", "--dir", otherDir)
	named := 0
	for _, p := range list() {
		if p.Key == otherKey && p.Name == "Other App" {
			named++
		}
	}
	if named != 1 {
		t.Errorf("with the daemon up, projects = %+v, want %s named Other App", list(), otherKey)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
}
