//go:build unix

package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// badNeighbours is the real transcript, below projects/, whose lines surround each case's bad
// input: a summary, 10 user lines and 10 assistant lines with usage.
const badNeighbours = "-Users-chip-dev-ai-music/fed8ce56-bc79-401f-a83e-af084253362f.jsonl"

// badModel is a model no price table knows.
const badModel = "wibble-model-9"

// badUsage is the usage of every assistant line the cases make.
var badUsage = badTokens{Input: 7, Output: 11, CacheCreation: 13, CacheRead: 17, Total: 48}

// badTokens is the part of `agent report daily --json`'s totals the cases compare.
type badTokens struct {
	Input         int64   `json:"inputTokens"`
	Output        int64   `json:"outputTokens"`
	CacheCreation int64   `json:"cacheCreationTokens"`
	CacheRead     int64   `json:"cacheReadTokens"`
	Total         int64   `json:"totalTokens"`
	Cost          float64 `json:"totalCost"`
}

// badLetter is a dead letter a case expects: its reason contains reason, and it keeps the bytes
// of payload.
type badLetter struct {
	reason  string
	payload []byte
}

// badWant is what the store holds after an import of a case's folder, beyond what it holds after
// an import of the neighbours alone, and what that import says.
type badWant struct {
	// how is what became of the bad input, in words: the table's summary of the fields below.
	how string
	// lines counts the records this import reads, beyond the neighbours' (which only a case's
	// first import reads).
	lines int64
	// kinds counts the events stored beyond the neighbours', by kind.
	kinds map[string]int64
	// dlq are the dead letters, oldest first.
	dlq []badLetter
	// warn are the lines this import writes on stderr: each holds one of these, and each of these
	// is in one line.
	warn []string
	// tokens is the usage the daily report counts beyond the neighbours' (Cost unused).
	tokens badTokens
	// unpriced is a model `agent report` must warn has no price; its usage costs 0.
	unpriced string
	// The counts of this import's summary.
	failed, unfinished, oversized, removed int64
}

// badStep is a change to a case's folder, and what the import after it finds.
type badStep struct {
	do   func(k *badCorpus)
	want badWant
}

// badCorpus is one case's Claude Code folder and data directory, and how the agent runs on them.
type badCorpus struct {
	t       *testing.T
	dir     string
	src     string // laid out like ~/.claude
	dataDir string
	env     []string
	bin     string
	cred    *syscall.Credential // run the agent as this user (nil: as the test)
}

// TestTranscriptBadInput runs the real `agent import --json` over real Claude Code projects
// folders holding bad input among real transcript lines, and checks with `agent status`, `agent
// dlq list` and `agent report daily` (JSON) what each case became: the command exits 0; each bad
// line is stored (as what), dead-lettered with a reason naming the problem, or reported on stderr
// as skipped, as the case's want says; the events and usage of every neighbouring line are there,
// as an import of the neighbours alone stores them; and an import again adds nothing. A file that
// vanishes during an import is covered by pipeline/transcripts TestVanishing: no import can be
// made to hit that moment from outside.
func TestTranscriptBadInput(t *testing.T) {
	nb := badReadLines(t, filepath.Join(sharedTranscripts, "projects", filepath.FromSlash(badNeighbours)))
	if len(nb) != 21 {
		t.Fatalf("%s has %d lines, want 21", badNeighbours, len(nb))
	}
	mk := &badLines{t: t}
	for _, l := range nb {
		switch {
		case mk.assistant == nil && bytes.Contains(l, []byte(`"type":"assistant"`)) && bytes.Contains(l, []byte(`"usage"`)):
			mk.assistant = l
		case mk.user == nil && bytes.Contains(l, []byte(`"type":"user"`)):
			mk.user = l
		}
	}
	if mk.assistant == nil || mk.user == nil {
		t.Fatal("no assistant or user line among the neighbours")
	}

	// The baseline: the neighbours alone. Its import also fills the plugins' compilation cache
	// that every case starts with.
	baseDir := t.TempDir()
	base := &badCorpus{t: t, dir: baseDir, src: filepath.Join(baseDir, "claude"), dataDir: filepath.Join(baseDir, "hangar"),
		env: childEnv("HOME="+baseDir, cacheDirEnv+"="), bin: agentBin}
	base.around()
	sum, stderr := base.importJSON()
	if sum.Lines != int64(len(nb)) || sum.DeadLettered != 0 || sum.Failed != 0 || stderr != "" {
		t.Fatalf("import of the neighbours: %+v, stderr %q; want %d lines, nothing dead-lettered", sum, stderr, len(nb))
	}
	baseline := base.observe()
	if len(baseline.dlq) != 0 || baseline.kinds["transcript.usage"] != 10 || baseline.totals.Total == 0 || baseline.reportStderr != "" {
		t.Fatalf("the neighbours: %+v, want 10 usage events, usage in the report, no dead letter", baseline)
	}
	cache := ownCacheDir(base.dataDir)

	truncated := mk.assistantLine(nil)
	half := len(truncated) / 2
	stale := mk.assistantLine(nil)
	followed := mk.assistantLine(nil)
	afterStale := mk.userLine(nil)
	notJSON := []byte("Claude Code was here: this is not JSON")
	garbage := []byte("\x00\x00\xff\xfe\x01garbage\x00")
	array := []byte(`[{"type":"user","message":{"role":"user","content":"hi"}}]`)
	noType := []byte(`{"sessionId":"fed8ce56-bc79-401f-a83e-af084253362f","message":{"role":"user","content":"hi"}}`)
	typeNumber := mk.userLine(func(m map[string]any) { m["type"] = 42 })
	negative := mk.assistantLine(func(m map[string]any) { badUsageOf(m)["output_tokens"] = -5 })
	overMax := mk.assistantLine(func(m map[string]any) { badUsageOf(m)["output_tokens"] = int64(2_000_000_000_000) })
	overInt64 := mk.assistantLine(func(m map[string]any) { badUsageOf(m)["input_tokens"] = json.Number("18446744073709551616") })
	surrogates := mk.assistantLine(func(m map[string]any) { badText(m, "@SURROGATES@") })
	surrogates = bytes.Replace(surrogates, []byte("@SURROGATES@"), []byte(`a \ud800 lone \udfff pair \udc00\ud800`), 1)
	userSurrogate := mk.userLine(func(m map[string]any) { badMessage(m)["content"] = "@SURROGATES@" })
	userSurrogate = bytes.Replace(userSurrogate, []byte("@SURROGATES@"), []byte(`push \ud83d to github`), 1)
	badUTF8 := mk.assistantLine(func(m map[string]any) { badText(m, "@BYTES@") })
	badUTF8 = bytes.Replace(badUTF8, []byte("@BYTES@"), []byte("caf\xc3\x28 \xed\xa0\x80"), 1)
	userUTF8 := mk.userLine(func(m map[string]any) { badMessage(m)["content"] = "@BYTES@" })
	userUTF8 = bytes.Replace(userUTF8, []byte("@BYTES@"), []byte("push \xff\xfe to github"), 1)
	windowsA := mk.assistantLine(func(m map[string]any) {
		m["cwd"], m["sessionId"] = `C:\Users\x\proj`, "a1a1a1a1-0000-4000-8000-00000000000a"
		badMessage(m)["content"] = []any{map[string]any{"type": "tool_use", "id": "toolu_win1", "name": "Read",
			"input": map[string]any{"file_path": `C:\Users\x\proj\src\main.go`}}}
	})
	windowsB := mk.assistantLine(func(m map[string]any) {
		m["cwd"], m["sessionId"] = `c:\Users\x\proj`, "b2b2b2b2-0000-4000-8000-00000000000b"
	})
	windowsUser := mk.userLine(func(m map[string]any) {
		m["cwd"], m["sessionId"] = `C:\Users\x\proj`, "a1a1a1a1-0000-4000-8000-00000000000a"
		badMessage(m)["content"] = []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_win1",
			"content": `C:\Users\x\proj\src\main.go: package main`}}
	})
	big := mk.assistantLine(func(m map[string]any) { badText(m, "@BIG@") })
	big = bytes.Replace(big, []byte("@BIG@"), bytes.Repeat([]byte("x"), 20<<20), 1)
	wibble := mk.userLine(func(m map[string]any) { m["type"] = "wibble" })
	noUsage := mk.assistantLine(func(m map[string]any) { delete(badMessage(m), "usage") })
	unknownModel := mk.assistantLine(func(m map[string]any) { badMessage(m)["model"] = badModel })
	unreadable := [][]byte{mk.userLine(nil), mk.userLine(nil)}
	unreadableDir := mk.userLine(nil)
	deleted := mk.userLine(nil)

	assistant := map[string]int64{"transcript.assistant": 1, "transcript.usage": 1}
	tests := []struct {
		name  string
		build func(k *badCorpus)
		want  badWant
		// then are later changes to the folder, each followed by an import.
		then []badStep
		// unprivileged runs the agent as an unprivileged user when the test runs as root (who
		// reads a file of mode 000 anyway).
		unprivileged bool
		// daemon runs a daemon that follows the folder: it reads each step's lines, and the
		// imports through it find nothing new.
		daemon bool
		// check checks more after the last step.
		check func(t *testing.T, k *badCorpus)
	}{
		{
			name:  "truncated last line completed later",
			build: func(k *badCorpus) { k.write(badNeighbours, badJoin(nb, "\n"), truncated[:half]) },
			want:  badWant{how: "held back (summary: unfinished 1)", unfinished: 1},
			then: []badStep{{
				do:   func(k *badCorpus) { k.appendTo(badNeighbours, truncated[half:], []byte("\n")) },
				want: badWant{how: "stored once completed", lines: 1, kinds: assistant, tokens: badUsage},
			}},
		},
		{
			name:   "truncated last line completed while the daemon follows",
			daemon: true,
			build:  func(k *badCorpus) { k.write(badNeighbours, badJoin(nb, "\n"), followed[:half]) },
			want:   badWant{how: "held back by the daemon (import summary: unfinished 1)", unfinished: 1},
			then: []badStep{{
				do:   func(k *badCorpus) { k.appendTo(badNeighbours, followed[half:], []byte("\n")) },
				want: badWant{how: "stored by the daemon once completed", kinds: assistant, tokens: badUsage},
			}},
		},
		{
			// The writer died mid-line: once the file has not changed for a minute, the line is
			// taken as it is. Had it only paused, the rest comes as a line of its own.
			name: "truncated last line of a file unchanged for 2 minutes",
			build: func(k *badCorpus) {
				k.write(badNeighbours, badJoin(nb, "\n"), stale[:half])
				old := time.Now().Add(-2 * time.Minute)
				if err := os.Chtimes(k.path(badNeighbours), old, old); err != nil {
					k.t.Fatal(err)
				}
			},
			want: badWant{how: "dead-lettered", lines: 1, dlq: []badLetter{{"payload is not valid JSON", stale[:half]}}},
			then: []badStep{{
				do: func(k *badCorpus) { k.appendTo(badNeighbours, stale[half:], []byte("\n"), afterStale, []byte("\n")) },
				want: badWant{how: "its rest dead-lettered too; the line after it stored", lines: 2,
					kinds: map[string]int64{"transcript.user": 1},
					dlq:   []badLetter{{"payload is not valid JSON", stale[:half]}, {"payload is not valid JSON", stale[half:]}}},
			}},
		},
		{
			name:  "non-JSON line",
			build: func(k *badCorpus) { k.around(notJSON) },
			want:  badWant{how: "dead-lettered", lines: 1, dlq: []badLetter{{"payload is not valid JSON", notJSON}}},
		},
		{
			name:  "binary garbage line",
			build: func(k *badCorpus) { k.around(garbage) },
			want:  badWant{how: "dead-lettered", lines: 1, dlq: []badLetter{{"payload is not valid JSON", garbage}}},
		},
		{
			name:  "JSON array line",
			build: func(k *badCorpus) { k.around(array) },
			want:  badWant{how: "dead-lettered", lines: 1, dlq: []badLetter{{"payload is a JSON array, not an object", array}}},
		},
		{
			name:  "object without a type",
			build: func(k *badCorpus) { k.around(noType) },
			want:  badWant{how: "dead-lettered", lines: 1, dlq: []badLetter{{"record has no hook_event_name and no type", noType}}},
		},
		{
			name:  "type not a string",
			build: func(k *badCorpus) { k.around(typeNumber) },
			want:  badWant{how: "dead-lettered", lines: 1, dlq: []badLetter{{"type is not a non-empty string", typeNumber}}},
		},
		{
			name:  "unknown entry type",
			build: func(k *badCorpus) { k.around(wibble) },
			want:  badWant{how: "stored as transcript.wibble", lines: 1, kinds: map[string]int64{"transcript.wibble": 1}},
		},
		{
			name:  "blank and whitespace-only lines",
			build: func(k *badCorpus) { k.around([]byte(""), []byte("   "), []byte("\t \t"), []byte(" \r")) },
			want:  badWant{how: "ignored: a blank line makes no record"},
		},
		{
			name:  "CRLF line endings",
			build: func(k *badCorpus) { k.write(badNeighbours, badJoin(nb, "\r\n")) },
			want:  badWant{how: "stored as with LF: the carriage returns dropped"},
		},
		{
			name:  "assistant line without usage",
			build: func(k *badCorpus) { k.around(noUsage) },
			want:  badWant{how: "stored as transcript.assistant, no usage", lines: 1, kinds: map[string]int64{"transcript.assistant": 1}},
		},
		{
			name:  "negative token count",
			build: func(k *badCorpus) { k.around(negative) },
			want: badWant{how: "dead-lettered", lines: 1,
				dlq: []badLetter{{"usage output_tokens is not a non-negative integer", negative}}},
		},
		{
			name:  "token count over 1e12",
			build: func(k *badCorpus) { k.around(overMax) },
			want:  badWant{how: "dead-lettered", lines: 1, dlq: []badLetter{{"usage output_tokens is over 1000000000000", overMax}}},
		},
		{
			name:  "token count over int64",
			build: func(k *badCorpus) { k.around(overInt64) },
			want: badWant{how: "dead-lettered", lines: 1,
				dlq: []badLetter{{"usage input_tokens is over 1000000000000", overInt64}}},
		},
		{
			name:  "unknown model",
			build: func(k *badCorpus) { k.around(unknownModel) },
			want: badWant{how: "stored; its tokens counted at 0 USD, and the report warns", lines: 1, kinds: assistant,
				tokens: badUsage, unpriced: badModel},
		},
		{
			name:  "lone surrogates",
			build: func(k *badCorpus) { k.around(surrogates, userSurrogate) },
			want: badWant{how: "stored", lines: 2, tokens: badUsage,
				kinds: map[string]int64{"transcript.assistant": 1, "transcript.usage": 1, "transcript.user": 1}},
		},
		{
			name:  "invalid UTF-8 bytes",
			build: func(k *badCorpus) { k.around(badUTF8, userUTF8) },
			want: badWant{how: "stored", lines: 2, tokens: badUsage,
				kinds: map[string]int64{"transcript.assistant": 1, "transcript.usage": 1, "transcript.user": 1}},
		},
		{
			name:  "Windows paths",
			build: func(k *badCorpus) { k.around(windowsA, windowsUser, windowsB) },
			want: badWant{how: "stored, one project for both drive cases", lines: 3,
				tokens: badTokens{Input: 14, Output: 22, CacheCreation: 26, CacheRead: 34, Total: 96},
				kinds: map[string]int64{"transcript.assistant": 2, "transcript.usage": 2, "transcript.user": 1,
					"transcript.tool_use": 1, "transcript.tool_result": 1}},
			check: func(t *testing.T, k *badCorpus) {
				projects := map[string]string{}
				for _, s := range k.sessions() {
					projects[s.SessionID] = s.ProjectPath
				}
				a, b, own := projects["a1a1a1a1-0000-4000-8000-00000000000a"], projects["b2b2b2b2-0000-4000-8000-00000000000b"],
					projects["fed8ce56-bc79-401f-a83e-af084253362f"]
				if len(a) != 12 || a != b || a == own {
					t.Errorf("projects of the sessions in C:\\Users\\x\\proj, c:\\Users\\x\\proj and /Users/chip/dev/ai-music: %q, %q, %q; "+
						"want the first two one 12-character key, not the third's", a, b, own)
				}
			},
		},
		{
			name:  "20 MB line",
			build: func(k *badCorpus) { k.around(big) },
			want: badWant{how: "stored as hook.oversized (its size, not its content)", lines: 1, oversized: 1,
				kinds: map[string]int64{"hook.oversized": 1}},
		},
		{
			name: "symbolic link loops",
			build: func(k *badCorpus) {
				k.around()
				k.symlink("..", "-Users-chip-dev-ai-music/loop")                                // its own parent
				k.symlink("self.jsonl", "-Users-chip-dev-ai-music/self.jsonl")                  // itself
				k.symlink(filepath.Base(badNeighbours), "-Users-chip-dev-ai-music/again.jsonl") // the transcript again: read once
				os.MkdirAll(k.path("a"), 0o755)
				os.MkdirAll(k.path("b"), 0o755)
				k.symlink("../b", "a/to-b") // a → b → a
				k.symlink("../a", "b/to-a")
			},
			want: badWant{how: "warned, walk ends, nothing read twice",
				warn: []string{"loop: transcripts: symbolic link loop", "to-a: transcripts: symbolic link loop", "self.jsonl: stat"}},
		},
		{
			name:         "unreadable file and folder",
			unprivileged: true,
			build: func(k *badCorpus) {
				k.around()
				k.write("-Users-chip-dev-ai-music/0e0e0e0e-0000-4000-8000-000000000000.jsonl", badJoin(unreadable, "\n"))
				k.write("-Users-jane-app/0f0f0f0f-0000-4000-8000-000000000000.jsonl", unreadableDir, []byte("\n"))
				k.chmod("-Users-chip-dev-ai-music/0e0e0e0e-0000-4000-8000-000000000000.jsonl", 0)
				k.chmod("-Users-jane-app", 0)
			},
			want: badWant{how: "warned and skipped", failed: 1,
				warn: []string{"0e0e0e0e-0000-4000-8000-000000000000.jsonl: open", "-Users-jane-app: open"}},
			then: []badStep{{
				do: func(k *badCorpus) {
					k.chmod("-Users-chip-dev-ai-music/0e0e0e0e-0000-4000-8000-000000000000.jsonl", 0o644)
					k.chmod("-Users-jane-app", 0o755)
				},
				want: badWant{how: "read once readable", lines: 3, kinds: map[string]int64{"transcript.user": 3}},
			}},
		},
		{
			name: "named pipe called .jsonl",
			build: func(k *badCorpus) {
				k.around()
				if err := syscall.Mkfifo(k.path("-Users-chip-dev-ai-music/pipe.jsonl"), 0o644); err != nil {
					k.t.Fatal(err)
				}
			},
			want: badWant{how: "warned and skipped (never opened)", warn: []string{"pipe.jsonl: not a regular file"}},
		},
		{
			// Deleted during an import: see pipeline/transcripts TestVanishing.
			name: "transcript deleted after an import",
			build: func(k *badCorpus) {
				k.around()
				k.write("-Users-chip-dev-ai-music/0d0d0d0d-0000-4000-8000-000000000000.jsonl", deleted, []byte("\n"))
			},
			want: badWant{how: "read", lines: 1, kinds: map[string]int64{"transcript.user": 1}},
			then: []badStep{{
				do: func(k *badCorpus) {
					if err := os.Remove(k.path("-Users-chip-dev-ai-music/0d0d0d0d-0000-4000-8000-000000000000.jsonl")); err != nil {
						k.t.Fatal(err)
					}
				},
				want: badWant{how: "its checkpoint removed, its events kept", removed: 1, kinds: map[string]int64{"transcript.user": 1}},
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each case has its own folders and agent; they wait on processes more than on the CPU
			k := newBadCorpus(t, cache)
			tc.build(k)
			if tc.unprivileged {
				k.unprivileged()
			}
			var d *daemonProc
			if tc.daemon {
				if strings.Contains(k.src, ",") { // CLAUDE_CONFIG_DIR is a comma-separated list
					t.Fatalf("the case's name makes a folder name with a comma: %s", k.src)
				}
				d = startDaemon(t, k.dataDir, append(slices.Clone(k.env), "CLAUDE_CONFIG_DIR="+k.src,
					"HANGAR_TRANSCRIPTS=on", "HANGAR_TRANSCRIPTS_RESCAN=300ms"))
			}
			steps := append([]badStep{{want: tc.want}}, tc.then...)
			var prev badWant
			for i, step := range steps {
				if step.do != nil {
					step.do(k)
				}
				what := fmt.Sprintf("step %d (%s)", i+1, step.want.how)
				var neighbours [2]int64 // lines and events the neighbours make, read by the first import
				if i == 0 {
					neighbours = [2]int64{int64(len(nb)), baseline.events()}
				}
				if d != nil {
					k.followed(what, baseline, step.want)
				}
				sum, stderr := k.importJSON()
				k.checkImport(what, sum, stderr, step.want, prev, neighbours, d != nil)
				got := k.observe()
				for _, p := range got.diff(baseline, step.want) {
					t.Errorf("%s: %s", what, p)
				}
				t.Logf("%s: read %d lines (%d unfinished, %d failed, %d oversized, %d removed); +events %v; dead letters %q; warnings %q",
					what, sum.Lines, sum.Unfinished, sum.Failed, sum.Oversized, sum.Removed, got.kindsBeyond(baseline), got.reasons(),
					strings.FieldsFunc(stderr, func(r rune) bool { return r == '\n' }))

				// Again: nothing new.
				again, _ := k.importJSON()
				if again.Lines != 0 || again.Stored != 0 || again.DeadLettered != 0 || again.Duplicates != 0 {
					t.Errorf("%s: a second import read %d lines (%d new events, %d dead letters, %d duplicates), want none",
						what, again.Lines, again.Stored, again.DeadLettered, again.Duplicates)
				}
				for _, p := range k.observe().diff(baseline, step.want) {
					t.Errorf("%s: after a second import: %s", what, p)
				}
				prev = step.want
			}
			if tc.check != nil {
				tc.check(t, k)
			}
			if d != nil {
				if code := d.stop(syscall.SIGTERM); code != 0 {
					t.Errorf("daemon exit %d\n%s", code, d.stderr.String())
				}
			}
		})
	}
}

// ownCacheDir is the compilation cache in dataDir. The cases keep theirs there, not in the tests'
// shared one, because when the tests run as root the agent of a case runs as nobody, who must
// own it.
func ownCacheDir(dataDir string) string {
	return filepath.Join(dataDir, "cache", "wasm")
}

// newBadCorpus makes a case's folders: an empty projects folder, and a data directory holding the
// compilation cache.
func newBadCorpus(t *testing.T, cache string) *badCorpus {
	t.Helper()
	dir := t.TempDir()
	k := &badCorpus{t: t, dir: dir, src: filepath.Join(dir, "claude"), dataDir: filepath.Join(dir, "hangar"),
		env: childEnv("HOME="+filepath.Join(dir, "home"), cacheDirEnv+"="), bin: agentBin}
	for _, p := range []string{k.path(""), filepath.Join(dir, "home")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := badLinkTree(cache, ownCacheDir(k.dataDir)); err != nil {
		t.Fatalf("copy the compilation cache: %v", err)
	}
	return k
}

// unprivileged makes the agent run as nobody when the test runs as root, who reads a file of mode
// 000 anyway: the case's folders become nobody's, and the binary is copied where nobody can run it.
func (k *badCorpus) unprivileged() {
	t := k.t
	if os.Geteuid() != 0 {
		return
	}
	const nobody = 65534
	if err := filepath.WalkDir(k.dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	}); err != nil {
		t.Fatalf("give the case's folders to nobody: %v", err)
	}
	// The binary, root's, in a folder nobody may enter.
	bin := filepath.Join(k.dir, "bin", "agent")
	if err := badLinkTree(filepath.Dir(agentBin), filepath.Dir(bin)); err != nil {
		t.Fatalf("copy the agent binary: %v", err)
	}
	// The temp folders above the case's are root's, of mode 0700: nobody must pass through.
	for p := filepath.Dir(k.dir); strings.HasPrefix(p, os.TempDir()+string(filepath.Separator)); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	k.bin, k.cred = bin, &syscall.Credential{Uid: nobody, Gid: nobody}
	cmd := exec.Command(k.bin, "--version")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: k.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the test runs as root, who reads a file of mode 000 anyway, so this case runs the agent as nobody "+
			"(uid %d); it cannot: %v\n%s", nobody, err, out)
	}
}

// run runs the agent with args, as the case's user, and fails the test unless it exits 0.
func (k *badCorpus) run(args ...string) result {
	t := k.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env = k.env
	if k.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: k.cred}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	if cmd.ProcessState != nil {
		res.code = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil || res.code != 0 {
		t.Fatalf("agent %s: %v (exit %d)\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, res.code,
			clipString(res.stdout, 2000), clipString(res.stderr, 2000))
	}
	return res
}

// importJSON runs `agent import --json` of the case's folder and returns its summary and stderr.
func (k *badCorpus) importJSON() (ImportSummary, string) {
	k.t.Helper()
	res := k.run("import", "--json", "--data-dir", k.dataDir, "--source", k.src)
	var sum ImportSummary
	if err := json.Unmarshal([]byte(res.stdout), &sum); err != nil {
		k.t.Fatalf("agent import --json: %v\n%s", err, res.stdout)
	}
	return sum, res.stderr
}

// checkImport checks an import's summary and stderr against want; prev is the previous step's,
// and neighbours the lines and events of the neighbours if this import is the first to read them.
// Through a daemon that follows the folder, the daemon has read the lines: the import must find
// nothing new (it may read again what the daemon has read but not yet checkpointed).
func (k *badCorpus) checkImport(what string, sum ImportSummary, stderr string, want, prev badWant, neighbours [2]int64, viaDaemon bool) {
	t := k.t
	t.Helper()
	if sum.Daemon != viaDaemon {
		t.Errorf("%s: import through a daemon: %v, want %v", what, sum.Daemon, viaDaemon)
	}
	lines, newEvents, newLetters := sum.Lines, int64(0), int64(0)
	if !viaDaemon {
		lines, newEvents, newLetters = neighbours[0]+want.lines, neighbours[1], int64(len(want.dlq)-len(prev.dlq))
		for _, n := range want.kinds {
			newEvents += n
		}
		for _, n := range prev.kinds {
			newEvents -= n
		}
	}
	got := [...]int64{sum.Lines, sum.Stored, sum.DeadLettered, sum.Failed, sum.Unfinished, sum.Oversized, sum.Removed}
	exp := [...]int64{lines, newEvents, newLetters, want.failed, want.unfinished, want.oversized, want.removed}
	if got != exp {
		t.Errorf("%s: import summary: lines, stored, dead-lettered, failed, unfinished, oversized, removed = %v, want %v", what, got, exp)
	}
	var lines2 []string
	if s := strings.TrimSpace(stderr); s != "" {
		lines2 = strings.Split(s, "\n")
	}
	left := slices.Clone(want.warn)
	for _, l := range lines2 {
		i := slices.IndexFunc(left, func(w string) bool { return strings.Contains(l, w) })
		if !strings.HasPrefix(l, "agent: import: skipped ") || i < 0 {
			t.Errorf("%s: import stderr line %q: want only lines \"agent: import: skipped ...\" holding one of %q", what, l, want.warn)
			continue
		}
		left = slices.Delete(left, i, i+1)
	}
	if len(left) > 0 {
		t.Errorf("%s: import stderr %q, want lines holding %q", what, stderr, left)
	}
}

// followed waits until the daemon following the case's folder has stored what want says.
func (k *badCorpus) followed(what string, baseline badState, want badWant) {
	k.t.Helper()
	waitFor(k.t, 20*time.Second, func() string {
		if p := k.observe().diff(baseline, want); len(p) > 0 {
			return what + ": the daemon has not read the folder: " + strings.Join(p, "; ")
		}
		return ""
	})
}

// badState is what the store holds, per the CLI.
type badState struct {
	kinds        map[string]int64 // events by kind
	dlq          []badDLQEntry
	totals       badTokens // the daily report's
	reportStderr string
}

// badDLQEntry is the part of a dead letter the cases read.
type badDLQEntry struct {
	Seq          uint64 `json:"seq"`
	Stage        string `json:"stage"`
	Reason       string `json:"reason"`
	Source       string `json:"source"`
	Platform     string `json:"platform"`
	PayloadBytes int    `json:"payload_bytes"`
}

// observe reads the store: `agent status --json`, `agent dlq list --json` and `agent report
// daily --json`.
func (k *badCorpus) observe() badState {
	t := k.t
	t.Helper()
	var st struct {
		Events int64 `json:"events_stored"`
		ByKind []struct {
			Platform string `json:"platform"`
			Kind     string `json:"kind"`
			Count    int64  `json:"count"`
		} `json:"by_kind"`
	}
	res := k.run("status", "--json", "--data-dir", k.dataDir)
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatalf("agent status --json: %v\n%s", err, res.stdout)
	}
	s := badState{kinds: map[string]int64{}}
	var sum int64
	for _, c := range st.ByKind {
		if c.Platform != "claude-code" {
			t.Errorf("events of platform %q, kind %q", c.Platform, c.Kind)
		}
		s.kinds[c.Kind] += c.Count
		sum += c.Count
	}
	if sum != st.Events {
		t.Errorf("status: %d events by kind, %d stored", sum, st.Events)
	}
	res = k.run("dlq", "list", "--json", "--limit", "0", "--data-dir", k.dataDir)
	if err := json.Unmarshal([]byte(res.stdout), &s.dlq); err != nil {
		t.Fatalf("agent dlq list --json: %v\n%s", err, res.stdout)
	}
	slices.SortFunc(s.dlq, func(a, b badDLQEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	res = k.run("report", "daily", "--json", "-z", "UTC", "--data-dir", k.dataDir)
	var rep struct {
		Totals badTokens `json:"totals"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("agent report daily --json: %v\n%s", err, res.stdout)
	}
	s.totals, s.reportStderr = rep.Totals, res.stderr
	return s
}

// diff returns how s differs from baseline plus want.
func (s badState) diff(baseline badState, want badWant) []string {
	var out []string
	kinds := map[string]bool{}
	for _, m := range []map[string]int64{s.kinds, baseline.kinds, want.kinds} {
		for k := range m {
			kinds[k] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		if got, exp := s.kinds[k], baseline.kinds[k]+want.kinds[k]; got != exp {
			out = append(out, fmt.Sprintf("%d %s events, want %d (the neighbours' %d and %d)", got, k, exp, baseline.kinds[k], want.kinds[k]))
		}
	}
	if len(s.dlq) != len(want.dlq) {
		out = append(out, fmt.Sprintf("dead letters %q, want reasons %q", s.reasons(), wantReasons(want.dlq)))
	} else {
		for i, d := range s.dlq {
			w := want.dlq[i]
			if !strings.Contains(d.Reason, w.reason) || d.Stage != "capture" || d.Source != "transcript" || d.Platform != "claude-code" ||
				d.PayloadBytes != len(w.payload) {
				out = append(out, fmt.Sprintf("dead letter %d: %+v, want stage capture, source transcript, platform claude-code, "+
					"a reason holding %q, %d payload bytes", i+1, d, w.reason, len(w.payload)))
			}
		}
	}
	g, b, w := s.totals, baseline.totals, want.tokens
	if got, exp := [...]int64{g.Input, g.Output, g.CacheCreation, g.CacheRead, g.Total},
		[...]int64{b.Input + w.Input, b.Output + w.Output, b.CacheCreation + w.CacheCreation, b.CacheRead + w.CacheRead, b.Total + w.Total}; got != exp {
		out = append(out, fmt.Sprintf("report tokens (input, output, cache creation, cache read, total) %v, want %v", got, exp))
	}
	switch extra := g.Cost - b.Cost; {
	case (want.unpriced != "" || w.Total == 0) && math.Abs(extra) > 1e-9:
		out = append(out, fmt.Sprintf("report cost %v, want the neighbours' %v", g.Cost, b.Cost))
	case want.unpriced == "" && w.Total > 0 && extra <= 0:
		out = append(out, fmt.Sprintf("report cost %v, want more than the neighbours' %v", g.Cost, b.Cost))
	}
	switch {
	case want.unpriced == "" && s.reportStderr != "":
		out = append(out, fmt.Sprintf("report stderr %q, want nothing", s.reportStderr))
	case want.unpriced != "" && !strings.Contains(s.reportStderr, "no price for model "+want.unpriced):
		out = append(out, fmt.Sprintf("report stderr %q, want a warning that %s has no price", s.reportStderr, want.unpriced))
	}
	return out
}

// events returns how many events s counts.
func (s badState) events() int64 {
	var n int64
	for _, c := range s.kinds {
		n += c
	}
	return n
}

// kindsBeyond returns the event counts of s that differ from baseline's.
func (s badState) kindsBeyond(baseline badState) map[string]int64 {
	out := map[string]int64{}
	for k, n := range s.kinds {
		if d := n - baseline.kinds[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func (s badState) reasons() []string {
	var out []string
	for _, d := range s.dlq {
		out = append(out, d.Reason)
	}
	return out
}

func wantReasons(ls []badLetter) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.reason)
	}
	return out
}

// badSessionRow is the part of a row of `agent report session --json` the cases read.
type badSessionRow struct {
	SessionID   string `json:"sessionId"`
	ProjectPath string `json:"projectPath"`
}

// sessions returns the rows of `agent report session --json`.
func (k *badCorpus) sessions() []badSessionRow {
	k.t.Helper()
	res := k.run("report", "session", "--json", "-z", "UTC", "--data-dir", k.dataDir)
	var rep struct {
		Sessions []badSessionRow `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		k.t.Fatalf("agent report session --json: %v\n%s", err, res.stdout)
	}
	return rep.Sessions
}

// path returns the path of a file below the case's projects folder.
func (k *badCorpus) path(name string) string {
	return filepath.Join(k.src, "projects", filepath.FromSlash(name))
}

// write creates a file below the projects folder, holding parts.
func (k *badCorpus) write(name string, parts ...[]byte) {
	k.t.Helper()
	p := k.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		k.t.Fatal(err)
	}
	if err := os.WriteFile(p, bytes.Join(parts, nil), 0o644); err != nil {
		k.t.Fatal(err)
	}
}

// appendTo appends parts to a file below the projects folder, in one write.
func (k *badCorpus) appendTo(name string, parts ...[]byte) {
	k.t.Helper()
	f, err := os.OpenFile(k.path(name), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		k.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(bytes.Join(parts, nil)); err != nil {
		k.t.Fatal(err)
	}
}

// around writes the neighbours' transcript with bad lines after its tenth line.
func (k *badCorpus) around(bad ...[]byte) {
	k.t.Helper()
	nb := badReadLines(k.t, filepath.Join(sharedTranscripts, "projects", filepath.FromSlash(badNeighbours)))
	all := slices.Concat(nb[:10], bad, nb[10:])
	k.write(badNeighbours, badJoin(all, "\n"))
}

func (k *badCorpus) symlink(target, name string) {
	k.t.Helper()
	if err := os.Symlink(target, k.path(name)); err != nil {
		k.t.Fatal(err)
	}
}

// chmod changes the mode of a file or folder below the projects folder; the test's end gives
// the owner access again, so that the folder can be deleted.
func (k *badCorpus) chmod(name string, mode fs.FileMode) {
	k.t.Helper()
	p := k.path(name)
	if err := os.Chmod(p, mode); err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(func() { os.Chmod(p, mode|0o700) })
}

// badReadLines returns the lines of a file, without their newlines.
func badReadLines(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

// badJoin joins lines, each followed by eol.
func badJoin(lines [][]byte, eol string) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteString(eol)
	}
	return b.Bytes()
}

// badLinkTree makes dst a copy of the files below src: hard links where it can.
func badLinkTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		if os.Link(p, out) == nil {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		fi, err := in.Stat()
		if err != nil {
			return err
		}
		w, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, in); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	})
}

// badLines makes transcript lines from real ones: each with fresh uuid, message and request
// ids, and an assistant line with badUsage.
type badLines struct {
	t               *testing.T
	assistant, user []byte // real lines
	n               int
}

// assistantLine returns a new assistant line, changed by edit (if not nil).
func (b *badLines) assistantLine(edit func(m map[string]any)) []byte {
	return b.line(b.assistant, func(m map[string]any) {
		badMessage(m)["id"] = fmt.Sprintf("msg_bad%04d", b.n)
		m["requestId"] = fmt.Sprintf("req_bad%04d", b.n)
		badMessage(m)["usage"] = map[string]any{"input_tokens": badUsage.Input, "output_tokens": badUsage.Output,
			"cache_creation_input_tokens": badUsage.CacheCreation, "cache_read_input_tokens": badUsage.CacheRead}
		if edit != nil {
			edit(m)
		}
	})
}

// userLine returns a new user line, changed by edit (if not nil).
func (b *badLines) userLine(edit func(m map[string]any)) []byte {
	return b.line(b.user, func(m map[string]any) {
		if edit != nil {
			edit(m)
		}
	})
}

func (b *badLines) line(real []byte, edit func(m map[string]any)) []byte {
	b.t.Helper()
	dec := json.NewDecoder(bytes.NewReader(real))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		b.t.Fatal(err)
	}
	b.n++
	m["uuid"] = fmt.Sprintf("0badbad0-0000-4000-8000-%012d", b.n)
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

func badMessage(m map[string]any) map[string]any { return m["message"].(map[string]any) }

func badUsageOf(m map[string]any) map[string]any {
	return badMessage(m)["usage"].(map[string]any)
}

// badText sets an assistant line's content to one text block.
func badText(m map[string]any, text string) {
	badMessage(m)["content"] = []any{map[string]any{"type": "text", "text": text}}
}
