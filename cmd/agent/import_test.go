package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sharedTranscripts holds real Claude Code transcripts, laid out like ~/.claude.
const sharedTranscripts = "../../../shared/fixtures/claude-code"

// copyTranscripts copies the projects folder of src into dir/projects, writable, and returns how
// many non-blank lines and bytes its transcripts hold.
func copyTranscripts(t testing.TB, src, dir string) (lines, size int64) {
	t.Helper()
	from := filepath.Join(src, "projects")
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		out := filepath.Join(dir, "projects", rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".jsonl") {
			size += int64(len(data))
			for _, l := range bytes.Split(data, []byte("\n")) {
				if len(bytes.TrimSpace(l)) > 0 {
					lines++
				}
			}
		}
		return os.WriteFile(out, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy transcripts: %v", err)
	}
	return lines, size
}

// runImport runs `agent import --json` with args and returns its summary.
func runImport(t testing.TB, env []string, args ...string) ImportSummary {
	t.Helper()
	res := runAgent(t, env, nil, 60*time.Second, append([]string{"import", "--json"}, args...)...)
	if res.code != 0 {
		t.Fatalf("agent import %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	var sum ImportSummary
	if err := json.Unmarshal([]byte(res.stdout), &sum); err != nil {
		t.Fatalf("agent import --json: %v\n%s", err, res.stdout)
	}
	return sum
}

// importShared imports a copy of the shared transcripts, with no daemon, into a new data
// directory, and returns it.
func importShared(t testing.TB) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "claude")
	copyTranscripts(t, sharedTranscripts, src)
	dataDir := newDataDir(t)
	runImport(t, nil, "--data-dir", dataDir, "--source", src)
	return dataDir
}

// storedRecords returns what the store holds of the records it was given: events and dead
// letters, per `agent status --json`.
func storedRecords(t testing.TB, env []string, dataDir string) int64 {
	t.Helper()
	res := runAgent(t, env, nil, 30*time.Second, "status", "--json", "--data-dir", dataDir)
	var st struct {
		Events int64 `json:"events_stored"`
		DLQ    int64 `json:"dlq_size"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatalf("agent status --json: %v\n%s%s", err, res.stdout, res.stderr)
	}
	return st.Events + st.DLQ
}

// TestImportNoDaemon imports the real transcripts with no daemon running (the CLI opens the
// store), twice: the second import reads nothing. A copy of the folder elsewhere (no checkpoints)
// is read again, and its lines' ids make the store keep no second event of any.
func TestImportNoDaemon(t *testing.T) {
	src := filepath.Join(t.TempDir(), "claude")
	lines, size := copyTranscripts(t, sharedTranscripts, src)
	os.MkdirAll(filepath.Join(src, "todos"), 0o755) // another folder of ~/.claude: ignored
	os.WriteFile(filepath.Join(src, "todos", "x.jsonl"), []byte("{}\n"), 0o644)
	dataDir := newDataDir(t)

	sum := runImport(t, nil, "--data-dir", dataDir, "--source", src)
	if sum.Daemon || sum.FilesFound != 4 || sum.Files != 4 || sum.Lines != lines || sum.Bytes != size || sum.Failed != 0 {
		t.Errorf("first import: %+v, want 4 files, %d lines, %d bytes, without a daemon", sum, lines, size)
	}
	stored := storedRecords(t, nil, dataDir)
	if stored == 0 || stored != int64(sum.Stored+sum.DeadLettered) || sum.Duplicates != 0 {
		t.Errorf("status holds %d events and dead letters; the import reported %d stored, %d dead-lettered, %d duplicates",
			stored, sum.Stored, sum.DeadLettered, sum.Duplicates)
	}
	t.Logf("%d lines: %d events, %d dead letters (the capture in use decides)", sum.Lines, sum.Stored, sum.DeadLettered)

	again := runImport(t, nil, "--data-dir", dataDir, "--source", src)
	if again.Lines != 0 || again.Bytes != 0 || again.Files != 4 {
		t.Errorf("second import: %+v, want nothing read", again)
	}
	if got := storedRecords(t, nil, dataDir); got != stored {
		t.Errorf("after the second import the store holds %d, want %d", got, stored)
	}
	res := runAgent(t, nil, nil, 30*time.Second, "import", "--data-dir", dataDir, "--source", src)
	if res.code != 0 || !strings.Contains(res.stdout, "nothing new") || strings.Count(res.stdout, "\n") != 1 {
		t.Errorf("summary: exit %d, %q, want one line saying nothing new", res.code, res.stdout)
	}

	copy2 := filepath.Join(t.TempDir(), "copy")
	copyTranscripts(t, sharedTranscripts, copy2)
	before := cliStatus(t, dataDir).EventsStored
	other := runImport(t, nil, "--data-dir", dataDir, "--source", copy2)
	if other.Lines != lines || other.Stored != 0 {
		t.Errorf("a copy without checkpoints: %+v, want %d lines read and no new event", other, lines)
	}
	if got := cliStatus(t, dataDir).EventsStored; got != before {
		t.Errorf("events after importing a copy: %d, want %d", got, before)
	}

	if res := runAgent(t, nil, nil, 30*time.Second, "import", "--data-dir", dataDir, "--source", t.TempDir()); res.code == 0 || !strings.Contains(res.stderr, "no projects folder") {
		t.Errorf("a folder without projects/: exit %d, stderr %q", res.code, res.stderr)
	}
}

// TestImportThroughDaemon imports from the standard location (CLAUDE_CONFIG_DIR, in a temp HOME)
// without a daemon, then starts one: its tailer resends nothing the import sent, picks up a line
// appended to a transcript and a new session, and `agent import` through it shares its
// checkpoints.
func TestImportThroughDaemon(t *testing.T) {
	home := t.TempDir()
	claude := filepath.Join(home, "claude-config")
	lines, _ := copyTranscripts(t, sharedTranscripts, claude)
	dataDir := newDataDir(t)
	env := childEnv("HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "CLAUDE_CONFIG_DIR="+claude,
		"HANGAR_TRANSCRIPTS=on", "HANGAR_TRANSCRIPTS_RESCAN=300ms")

	sum := runImport(t, env, "--data-dir", dataDir)
	if sum.Daemon || sum.Lines != lines {
		t.Fatalf("import from CLAUDE_CONFIG_DIR: %+v, want %d lines without a daemon", sum, lines)
	}
	stored := storedRecords(t, env, dataDir)

	d := startDaemon(t, dataDir, env)
	records := func() float64 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		text, err := d.client().Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return parseMetrics(t, text)["hangar_intake_records_total"]
	}
	waitRecords := func(want float64) {
		t.Helper()
		waitFor(t, 15*time.Second, func() string {
			if got := records(); got != want {
				return fmt.Sprintf("the intake took %v records, want %v", got, want)
			}
			return ""
		})
		time.Sleep(700 * time.Millisecond) // two rescans: nothing more comes
		if got := records(); got != want {
			t.Fatalf("the intake took %v records, want %v", got, want)
		}
	}

	// A line appended to a transcript: the tailer sends it, and nothing else.
	transcript := filepath.Join(claude, "projects", "-Users-chip-dev-ai-music", "fed8ce56-bc79-401f-a83e-af084253362f.jsonl")
	appendLine(t, transcript, freshLine(t, transcript))
	waitRecords(1)
	if got := storedRecords(t, env, dataDir); got > stored+1 {
		t.Errorf("the store holds %d, want at most %d", got, stored+1)
	}

	// A new session in a new project folder.
	session := filepath.Join(claude, "projects", "-Users-jane-app", uuid()+".jsonl")
	os.MkdirAll(filepath.Dir(session), 0o755)
	appendLine(t, session, freshLine(t, transcript))
	waitRecords(2)

	// `agent import` of the same location, through the daemon: the tailer's checkpoints are its own.
	sum = runImport(t, env, "--data-dir", dataDir)
	if !sum.Daemon || sum.Lines != 0 || sum.FilesFound != 5 {
		t.Errorf("import through the daemon of what it follows: %+v, want 5 files, nothing read", sum)
	}
	// And of another folder: its lines go through the daemon, once.
	other := filepath.Join(t.TempDir(), "other")
	os.MkdirAll(filepath.Join(other, "projects", "p"), 0o755)
	for range 3 {
		appendLine(t, filepath.Join(other, "projects", "p", "s.jsonl"), freshLine(t, transcript))
	}
	sum = runImport(t, env, "--data-dir", dataDir, "--source", other)
	if !sum.Daemon || sum.Lines != 3 || sum.Files != 1 {
		t.Errorf("import of another folder through the daemon: %+v, want 3 lines", sum)
	}
	waitRecords(5)
	if sum = runImport(t, env, "--data-dir", dataDir, "--source", other); sum.Lines != 0 {
		t.Errorf("second import of another folder: %+v, want nothing read", sum)
	}
	if got := records(); got != 5 {
		t.Errorf("the intake took %v records, want 5", got)
	}
}

// freshLine returns the first line of a transcript with fresh ids: a line no transcript has yet.
func freshLine(t testing.TB, transcript string) []byte {
	t.Helper()
	data, err := os.ReadFile(transcript)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := bytes.Cut(data, []byte("\n"))
	var m map[string]any
	if err := json.Unmarshal(first, &m); err != nil {
		t.Fatal(err)
	}
	m["uuid"], m["timestamp"] = uuid(), time.Now().UTC().Format(time.RFC3339Nano)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func appendLine(t testing.TB, path string, line []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(line); err != nil {
		t.Fatal(err)
	}
}

// TestImportThroughDaemonCutShort cuts an import through the daemon short: the CLI interrupted
// (SIGINT: exit 130, and the daemon, which reads the files itself, stops the import and stays
// up), or the daemon stopped (SIGTERM: it ends the import, says why, and exits). Either way the
// batches in flight are seen through and put under checkpoints, so a second import reads exactly
// the rest: the store ends up with what one whole import stores, each record once.
func TestImportThroughDaemonCutShort(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a 60 MB corpus")
	}
	src := filepath.Join(t.TempDir(), "claude")
	lines, _ := makeCorpus(t, src, corpus{size: 60 << 20})
	cache := warmCache(t)
	whole := freshDataDir(t, cache)
	runImport(t, nil, "--data-dir", whole, "--source", src)
	want := storedRecords(t, nil, whole)

	for _, tc := range []struct {
		name       string
		stopDaemon bool
	}{{"CLI interrupted", false}, {"daemon stopped", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := freshDataDir(t, cache)
			d := startDaemon(t, dataDir, nil)
			cmd := exec.Command(agentBin, "import", "--json", "--data-dir", dataDir, "--source", src)
			cmd.Env = childEnv()
			var stdout, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			records := func() float64 {
				t.Helper()
				text, err := d.client().Metrics(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				return parseMetrics(t, text)["hangar_intake_records_total"]
			}
			waitFor(t, 30*time.Second, func() string {
				if records() == 0 {
					return "the import has sent nothing yet"
				}
				return ""
			})
			if tc.stopDaemon {
				if code := d.stop(syscall.SIGTERM); code != 0 {
					t.Errorf("agent run exit %d on SIGTERM during an import\n%s", code, d.stderr.String())
				}
			} else if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			code := cmd.ProcessState.ExitCode()
			var sum ImportSummary
			json.Unmarshal([]byte(stdout.String()), &sum)
			if sum.Lines >= lines {
				t.Fatalf("the import read all %d lines before it was cut short: make the corpus larger", lines)
			}
			if tc.stopDaemon {
				if code != 1 || !strings.Contains(stderr.String(), "the daemon is stopping") {
					t.Errorf("import when the daemon stops: exit %d, stderr %q, want 1 and why", code, stderr.String())
				}
				d = startDaemon(t, dataDir, nil)
			} else {
				if code != 130 || !strings.Contains(stderr.String(), "import interrupted") {
					t.Errorf("interrupted import: exit %d, stderr %q, want 130", code, stderr.String())
				}
				// The daemon stops reading: the batches in flight commit, and then nothing more
				// comes, well short of the whole corpus.
				var got float64
				waitFor(t, 20*time.Second, func() string {
					before := records()
					time.Sleep(300 * time.Millisecond)
					if got = records(); got != before {
						return fmt.Sprintf("the intake still takes records: %v, then %v", before, got)
					}
					return ""
				})
				if got >= float64(lines) || d.exited() {
					t.Errorf("after the CLI went away the intake took %v records of %d (daemon exited: %v)", got, lines, d.exited())
				}
			}
			// The batches in flight at the stop were seen through and put under checkpoints:
			// nothing is read twice.
			sum = runImport(t, nil, "--data-dir", dataDir, "--source", src)
			if !sum.Daemon || sum.Lines == 0 || sum.Failed != 0 || sum.Duplicates != 0 {
				t.Errorf("the second import: %+v, want the rest of %d lines through the daemon, none read twice", sum, lines)
			}
			d.stop(syscall.SIGTERM)
			if got := storedRecords(t, nil, dataDir); got != want {
				t.Errorf("the store holds %d records, want %d (one whole import's)", got, want)
			}
		})
	}
}
