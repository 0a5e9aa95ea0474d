package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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

var corpusMB = flag.Int("transcripts-corpus-mb", envInt("HANGAR_BENCH_CORPUS_MB", 200),
	"size of the transcript corpus of BenchmarkImportTranscripts, in MB (env HANGAR_BENCH_CORPUS_MB)")

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkImportTranscripts runs `agent import` (in this process, no daemon: the store opened
// by the command, the capture it runs) on a corpus of -transcripts-corpus-mb MB made of the real
// transcripts, copied with fresh session, message, request and entry ids and shifted timestamps,
// into a fresh data directory each time: a first import.
func BenchmarkImportTranscripts(b *testing.B) {
	src := filepath.Join(b.TempDir(), "claude")
	lines, size := makeCorpus(b, src, int64(*corpusMB)<<20)
	b.Logf("corpus: %d lines, %.1f MB", lines, float64(size)/(1<<20))
	b.SetBytes(size)
	b.ResetTimer()
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		dataDir := filepath.Join(b.TempDir(), "hangar")
		var stdout, stderr bytes.Buffer
		b.StartTimer()
		start := time.Now()
		code := run([]string{"import", "--json", "--data-dir", dataDir, "--source", src}, nil, &stdout, &stderr)
		elapsed += time.Since(start)
		b.StopTimer()
		var sum ImportSummary
		if code != 0 || json.Unmarshal(stdout.Bytes(), &sum) != nil || sum.Lines != lines {
			b.Fatalf("agent import: exit %d, %s%s", code, stdout.String(), stderr.String())
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(lines)*float64(b.N)/elapsed.Seconds(), "lines/s")
}

var (
	uuidRe      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	msgIDRe     = regexp.MustCompile(`"(msg|req)_[0-9A-Za-z]+"`)
	timestampRe = regexp.MustCompile(`"timestamp":"([^"]+)"`)
)

// makeCorpus writes copies of the shared transcripts below dir/projects until they hold at least
// size bytes; each copy has its own ids (uuids, msg_ and req_ ids) and timestamps shifted by an
// hour per copy. It returns the lines and bytes written.
func makeCorpus(b testing.TB, dir string, size int64) (lines, written int64) {
	b.Helper()
	from := filepath.Join(sharedTranscripts, "projects")
	var files [][]byte
	filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".jsonl") {
			data, rerr := os.ReadFile(p)
			if rerr != nil {
				b.Fatal(rerr)
			}
			files = append(files, data)
		}
		return err
	})
	if len(files) == 0 {
		b.Fatalf("no transcripts in %s", from)
	}
	for k := 0; written < size; k++ {
		fresh := func(s []byte) []byte { // the same fresh id for the same id within a copy
			sum := sha256.Sum256(append([]byte(strconv.Itoa(k)+"/"), s...))
			return sum[:]
		}
		for _, data := range files {
			out := uuidRe.ReplaceAllFunc(data, func(u []byte) []byte {
				h := fresh(u)
				return fmt.Appendf(nil, "%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
			})
			out = msgIDRe.ReplaceAllFunc(out, func(m []byte) []byte {
				return fmt.Appendf(nil, `"%s_%x"`, m[1:4], fresh(m)[:12])
			})
			out = timestampRe.ReplaceAllFunc(out, func(m []byte) []byte {
				ts, err := time.Parse(time.RFC3339Nano, string(m[13:len(m)-1]))
				if err != nil {
					return m
				}
				return fmt.Appendf(nil, `"timestamp":"%s"`, ts.Add(time.Duration(k)*time.Hour).UTC().Format("2006-01-02T15:04:05.000Z"))
			})
			session := uuidRe.Find(out)
			if session == nil {
				session = fmt.Appendf(nil, "file-%d-%d", k, len(out))
			}
			p := filepath.Join(dir, "projects", fmt.Sprintf("-bench-project-%d", k%16), string(session)+".jsonl")
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, out, 0o644); err != nil {
				b.Fatal(err)
			}
			written += int64(len(out))
			lines += int64(bytes.Count(out, []byte("\n")))
		}
	}
	return lines, written
}
