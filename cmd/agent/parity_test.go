package main

// Comparisons with ccusage on corpora generated from the real shared transcripts: the parity test
// (`just parity`), the first-import benchmark, and the head-to-head timing (`just
// bench-vs-ccusage`). The ccusage binary is given with -ccusage; the recipes install the pinned
// version from npm.

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	ccusageBin = flag.String("ccusage", "", "the ccusage 20.0.24 binary to compare with (`just parity`, `just bench-vs-ccusage`)")
	corpusMB   = flag.Int("transcripts-corpus-mb", envInt("HANGAR_BENCH_CORPUS_MB", 200),
		"size of the generated transcript corpus of the benchmarks, in MB (env HANGAR_BENCH_CORPUS_MB)")
	parityMB = flag.Int("parity-corpus-mb", 40, "size of the generated transcript corpus of TestParityWithCcusage, in MB")
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

var (
	uuidRe      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	msgIDRe     = regexp.MustCompile(`"(msg|req)_[0-9A-Za-z]+"`)
	timestampRe = regexp.MustCompile(`"timestamp":"([^"]+)"`)
	outputRe    = regexp.MustCompile(`"output_tokens":([0-9]+)`)
	sessionRe   = regexp.MustCompile(`"sessionId":"([^"]+)"`)
)

// corpus describes a transcript corpus generated from the shared transcripts.
type corpus struct {
	size     int64         // at least this many bytes
	shift    time.Duration // copy k's timestamps move by k*shift
	projects int           // copies are spread over this many project folders
}

// makeCorpus writes copies of the shared transcripts below dir/projects until they hold at least
// c.size bytes. Each copy has its own ids (uuids, msg_ and req_ ids: the same id within a copy
// stays the same, so ccusage's deduplication sees the same duplicates in every copy) and its
// timestamps shifted by k*c.shift, and k more output tokens in every usage, so that no two copies
// of a session cost the same: ccusage orders sessions of equal cost by their file's path, which
// Hangar never keeps. It returns the lines and bytes written.
func makeCorpus(b testing.TB, dir string, c corpus) (lines, written int64) {
	b.Helper()
	if c.shift == 0 {
		c.shift = time.Hour
	}
	if c.projects == 0 {
		c.projects = 16
	}
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
	for k := 0; written < c.size; k++ {
		fresh := func(s []byte) []byte {
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
				return fmt.Appendf(nil, `"timestamp":"%s"`, ts.Add(time.Duration(k)*c.shift).UTC().Format("2006-01-02T15:04:05.000Z"))
			})
			out = outputRe.ReplaceAllFunc(out, func(m []byte) []byte {
				n, err := strconv.ParseInt(string(m[16:]), 10, 64)
				if err != nil {
					return m
				}
				return fmt.Appendf(nil, `"output_tokens":%d`, n+int64(k))
			})
			// Claude Code names a transcript after its session, and ccusage's session is the name.
			var session []byte
			if m := sessionRe.FindSubmatch(out); m != nil {
				session = m[1]
			} else {
				session = fmt.Appendf(nil, "file-%d-%d", k, len(out))
			}
			p := filepath.Join(dir, "projects", fmt.Sprintf("-bench-project-%d", k%c.projects), string(session)+".jsonl")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(p, out, 0o644); err != nil {
				b.Fatal(err)
			}
			written += int64(len(out))
			lines += int64(bytes.Count(out, []byte("\n")))
		}
	}
	return lines, written
}

// installedCcusage is where `just ccusage` installs ccusage, from this package's directory.
const installedCcusage = "../../.cache/ccusage/node_modules/.bin/ccusage"

// needCcusage returns the -ccusage binary, or the one `just ccusage` installed, skipping the test
// without either: it is an external tool from npm, which the `just parity` and `just
// bench-vs-ccusage` recipes install (CI runs `just parity` before `go test ./...`, so both run it;
// in CI a missing ccusage is a failure, never a skip).
func needCcusage(t testing.TB) string {
	t.Helper()
	if *ccusageBin != "" {
		return *ccusageBin
	}
	if _, err := os.Stat(installedCcusage); err == nil {
		return installedCcusage
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must compare with ccusage: %s is missing (.ci/run installs it with `just parity`)", installedCcusage)
	}
	t.Skip("compares with ccusage: run `just parity` or `just bench-vs-ccusage`, or pass -ccusage=<ccusage 20.0.24 binary>")
	return ""
}

// ccusage runs `ccusage claude <args> --offline --json` over a ~/.claude-like dir and returns its
// output.
func ccusage(t testing.TB, bin, configDir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, append(append([]string{"claude"}, args...), "--offline", "--json")...)
	cmd.Env = append(os.Environ(), "CLAUDE_CONFIG_DIR="+configDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ccusage %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// TestParityWithCcusage generates a corpus of -parity-corpus-mb MB from the real transcripts
// (fresh ids per copy, timestamps 37 hours apart so days, weeks and months are crossed at every
// hour, 7 projects), imports it with the real binary and compares `agent report` with ccusage's
// report of the same corpus, in several time zones: tokens exact, costs within 1e-6.
func TestParityWithCcusage(t *testing.T) {
	bin := needCcusage(t)
	src := filepath.Join(t.TempDir(), "claude")
	lines, size := makeCorpus(t, src, corpus{size: int64(*parityMB) << 20, shift: 37 * time.Hour, projects: 7})
	t.Logf("corpus: %d lines, %.1f MB", lines, float64(size)/(1<<20))
	dataDir := newDataDir(t)
	if sum := runImport(t, nil, "--data-dir", dataDir, "--source", src); sum.Lines != lines || sum.DeadLettered != 0 {
		t.Fatalf("import: %+v, want %d lines and no dead letters", sum, lines)
	}
	cases := [][]string{
		{"daily", "-z", "UTC"},
		{"daily", "-z", "Asia/Tokyo"},
		{"daily", "-z", "America/Los_Angeles", "--breakdown"},
		{"weekly", "-z", "UTC"},
		{"weekly", "-z", "Europe/Berlin", "--start-of-week", "monday"},
		{"monthly", "-z", "UTC"},
		{"monthly", "-z", "Pacific/Auckland", "--breakdown"},
		{"session", "-z", "UTC"},
		{"daily", "-z", "UTC", "--since", "20250801", "--until", "20250815", "--order", "desc"},
		{"daily", "-z", "UTC", "--mode", "calculate"},
		{"blocks", "-z", "UTC"},
	}
	want := make([]any, len(cases))
	for i, c := range cases {
		out := ccusage(t, bin, src, c...)
		if err := json.Unmarshal(out, &want[i]); err != nil {
			t.Fatalf("ccusage %s: %v\n%s", strings.Join(c, " "), err, out)
		}
		if n := groups(want[i]); n < 2 {
			t.Fatalf("ccusage %s has %d groups: the corpus does not exercise the report", strings.Join(c, " "), n)
		}
	}
	compare := func(how string) {
		for i, c := range cases {
			name := how + ": " + strings.Join(c, " ")
			res := runAgent(t, nil, nil, 60*time.Second, append([]string{"report"}, append(c, "--json", "--data-dir", dataDir)...)...)
			if res.code != 0 {
				t.Fatalf("agent report %s: exit %d\n%s", name, res.code, res.stderr)
			}
			var got any
			if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
				t.Fatalf("agent report %s: %v\n%s", name, err, res.stdout)
			}
			jsonNear(t, name, got, want[i])
		}
	}
	compare("no daemon")
	d := startDaemon(t, dataDir, nil)
	compare("daemon")
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
}

// groups returns how many rows a ccusage JSON report has (its first list).
func groups(report any) int {
	m, _ := report.(map[string]any)
	for _, v := range m {
		if l, ok := v.([]any); ok {
			return len(l)
		}
	}
	return 0
}

// warmCache returns a plugin compilation cache holding the first-party plugins, as `agent run`,
// `agent install` or any earlier command leaves it: it runs one small import.
func warmCache(b testing.TB) string {
	b.Helper()
	b.Setenv(cacheDirEnv, "") // the data directory's own cache, cold or warm as the caller copies it
	src := filepath.Join(b.TempDir(), "claude")
	copyTranscripts(b, sharedTranscripts, src)
	dataDir := filepath.Join(b.TempDir(), "hangar")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"import", "--json", "--data-dir", dataDir, "--source", src}, nil, &stdout, &stderr); code != 0 {
		b.Fatalf("agent import: exit %d, %s%s", code, stdout.String(), stderr.String())
	}
	return pluginCacheDir(dataDir)
}

// freshDataDir returns a new data directory holding a copy of the compilation cache, if any.
func freshDataDir(b testing.TB, cache string) string {
	b.Helper()
	dataDir := filepath.Join(b.TempDir(), "hangar")
	if cache != "" {
		if err := os.CopyFS(pluginCacheDir(dataDir), os.DirFS(cache)); err != nil {
			b.Fatal(err)
		}
	}
	return dataDir
}

// BenchmarkImportTranscripts runs `agent import` (in this process, no daemon: the store opened by
// the command, the capture plugin it runs) on a corpus of -transcripts-corpus-mb MB generated
// from the real transcripts, into a fresh data directory each time: a first import. "warm" starts
// with the plugins' compilation cache filled, as any earlier command (agent install, agent run)
// leaves it; "cold" compiles them too.
func BenchmarkImportTranscripts(b *testing.B) {
	src := filepath.Join(b.TempDir(), "claude")
	lines, size := makeCorpus(b, src, corpus{size: int64(*corpusMB) << 20})
	b.Logf("corpus: %d lines, %.1f MB", lines, float64(size)/(1<<20))
	cache := warmCache(b)
	for _, name := range []string{"warm", "cold"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			var elapsed time.Duration
			for range b.N {
				b.StopTimer()
				dataDir := freshDataDir(b, map[string]string{"warm": cache}[name])
				var stdout, stderr bytes.Buffer
				b.StartTimer()
				start := time.Now()
				code := run([]string{"import", "--json", "--data-dir", dataDir, "--source", src}, nil, &stdout, &stderr)
				elapsed += time.Since(start)
				b.StopTimer()
				var sum ImportSummary
				if code != 0 || json.Unmarshal(stdout.Bytes(), &sum) != nil || sum.Lines != lines || sum.DeadLettered != 0 {
					b.Fatalf("agent import: exit %d, %s%s", code, stdout.String(), stderr.String())
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(lines)*float64(b.N)/elapsed.Seconds(), "lines/s")
		})
	}
}

// BenchmarkVsCcusage times, on a corpus of -transcripts-corpus-mb MB, the real binaries head to
// head, each run a whole process: a first `agent import` (into a fresh data directory, with the
// compilation cache warm and cold, and through a running daemon with the cache warm) against
// `ccusage claude daily --offline --json`, and `agent report daily --json` after the import, which
// reads rollups instead of rescanning, without a daemon and through one. It reports medians in ms
// and the ratios to ccusage.
func BenchmarkVsCcusage(b *testing.B) {
	bin := needCcusage(b)
	src := filepath.Join(b.TempDir(), "claude")
	_, size := makeCorpus(b, src, corpus{size: int64(*corpusMB) << 20})
	cache := warmCache(b)
	timeIt := func(name string, cmd *exec.Cmd) time.Duration {
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = nil, &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("%s: %v: %s", name, err, stderr.Bytes())
		}
		return time.Since(start)
	}
	agent := func(args ...string) *exec.Cmd {
		cmd := exec.Command(agentBin, args...)
		cmd.Env = childEnv()
		return cmd
	}
	var cc, warm, cold, throughDaemon, report, viaDaemon []time.Duration
	var dataDir string
	for range b.N {
		cmd := exec.Command(bin, "claude", "daily", "--offline", "--json")
		cmd.Env = append(os.Environ(), "CLAUDE_CONFIG_DIR="+src)
		cc = append(cc, timeIt("ccusage", cmd))
		dataDir = freshDataDir(b, cache)
		warm = append(warm, timeIt("agent import", agent("import", "--json", "--data-dir", dataDir, "--source", src)))
		report = append(report, timeIt("agent report", agent("report", "daily", "--json", "--data-dir", dataDir)))
		cold = append(cold, timeIt("agent import", agent("import", "--json", "--data-dir", freshDataDir(b, ""), "--source", src)))
		// A first import after `agent install`, which starts the daemon: the daemon reads the files.
		dd := freshDataDir(b, cache)
		d := startDaemon(b, dd, nil)
		throughDaemon = append(throughDaemon, timeIt("agent import", agent("import", "--json", "--data-dir", dd, "--source", src)))
		d.stop(syscall.SIGTERM)
	}
	// The same report with the daemon up, as `agent install` sets it: the CLI asks it over the
	// socket instead of opening the store.
	d := startDaemon(b, dataDir, nil)
	for range max(b.N, 5) {
		viaDaemon = append(viaDaemon, timeIt("agent report", agent("report", "daily", "--json", "--data-dir", dataDir)))
	}
	d.stop(syscall.SIGTERM)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(float64(size)/(1<<20), "corpus-MB")
	b.ReportMetric(ms(median(cc)), "ccusage-ms")
	b.ReportMetric(ms(median(warm)), "import-warm-ms")
	b.ReportMetric(ms(median(cold)), "import-cold-ms")
	b.ReportMetric(ms(median(throughDaemon)), "import-daemon-ms")
	b.ReportMetric(ms(median(report)), "report-ms")
	b.ReportMetric(ms(median(viaDaemon)), "report-daemon-ms")
	b.ReportMetric(ms(median(warm))/ms(median(cc)), "import-warm/ccusage")
	b.ReportMetric(ms(median(cold))/ms(median(cc)), "import-cold/ccusage")
	b.ReportMetric(ms(median(report))/ms(median(cc)), "report/ccusage")
	b.ReportMetric(0, "ns/op")
}

// median returns the median of ds (the mean of the middle two for an even count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return time.Duration(math.Round(float64(s[n/2-1]+s[n/2]) / 2))
}
