package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Start-up targets of issue 18: each command's median whole-process time as a multiple of a
// trivial Go program's that reads its stdin, measured in the same run. The benchmark logs when a
// figure misses one.
const (
	targetVersionRatio = 1.3
	targetHookRatio    = 1.5
	targetReportRatio  = 2.0
)

// startupCorpusMB is the size of the corpus of BenchmarkStartup's report: a small one by default,
// so that the benchmark runs in a minute; -transcripts-corpus-mb (or HANGAR_BENCH_CORPUS_MB) gives
// the 200 MB store of the target.
func startupCorpusMB() int {
	set := os.Getenv("HANGAR_BENCH_CORPUS_MB") != ""
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "transcripts-corpus-mb" })
	if set {
		return *corpusMB
	}
	return 8
}

// BenchmarkStartup times whole processes in alternation, one of each per round: a trivial Go
// program that reads its stdin, `agent --version`, `agent hook claude-code` with a real payload on
// stdin and the daemon up, and `agent report daily` on the store of a generated corpus (no daemon:
// the report opens the store read-only). It reports each one's median wall and CPU (user +
// system) time in ms and its ratios to the trivial program's; the CPU ratios are the steadier on a
// busy machine. Run it with -benchtime 30x (the targets are medians of 30), and with
// -transcripts-corpus-mb 200 for the report's target.
func BenchmarkStartup(b *testing.B) {
	dir := b.TempDir()
	trivial := buildTrivial(b, dir)
	payload := fixtureOfAbout(b, 1000)
	stdinPath := filepath.Join(dir, "payload.json")
	if err := os.WriteFile(stdinPath, payload, 0o600); err != nil {
		b.Fatal(err)
	}

	hookDir := newDataDir(b)
	startDaemon(b, hookDir, nil)

	mb := startupCorpusMB()
	src := filepath.Join(dir, "claude")
	lines, size := makeCorpus(b, src, corpus{size: int64(mb) << 20})
	reportDir := freshDataDir(b, "")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"import", "--json", "--data-dir", reportDir, "--source", src}, nil, &stdout, &stderr); code != 0 {
		b.Fatalf("agent import: exit %d, %s%s", code, stdout.String(), stderr.String())
	}
	b.Logf("report store: corpus of %d lines, %.1f MB", lines, float64(size)/(1<<20))

	procs := []struct {
		name string
		path string
		args []string
	}{
		{"trivial", trivial, nil},
		{"version", agentBin, []string{"--version"}},
		{"hook", agentBin, []string{"hook", "claude-code", "--data-dir", hookDir}},
		{"report", agentBin, []string{"report", "daily", "--data-dir", reportDir}},
	}
	stdin, err := os.Open(stdinPath) // a file: the child reads it directly, no copying goroutine
	if err != nil {
		b.Fatal(err)
	}
	defer stdin.Close()
	env := childEnv()
	wall := make([][]time.Duration, len(procs))
	cpu := make([][]time.Duration, len(procs))
	b.ResetTimer()
	for range b.N {
		for i, p := range procs {
			if _, err := stdin.Seek(0, 0); err != nil {
				b.Fatal(err)
			}
			cmd := exec.Command(p.path, p.args...)
			cmd.Stdin, cmd.Env = stdin, env
			var errOut bytes.Buffer
			cmd.Stderr = &errOut
			start := time.Now()
			err := cmd.Run()
			wall[i] = append(wall[i], time.Since(start))
			if err != nil {
				b.Fatalf("%s: %v: %s", p.name, err, errOut.Bytes())
			}
			cpu[i] = append(cpu[i], cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
		}
	}
	b.StopTimer()

	// Every hook posted its event to the daemon; none fell back to the spool.
	waitEvents(b, hookDir, int64(b.N), 30*time.Second)
	if log, err := os.ReadFile(filepath.Join(hookDir, "logs", "hook.log")); err == nil {
		b.Errorf("hooks logged errors (spooled?):\n%s", clipString(string(log), 2000))
	}

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	base, baseCPU := median(wall[0]), median(cpu[0])
	b.ReportMetric(float64(size)/(1<<20), "corpus-MB")
	for i, p := range procs {
		b.ReportMetric(ms(median(wall[i])), p.name+"-ms")
		b.ReportMetric(ms(median(cpu[i])), p.name+"-cpu-ms")
		if i > 0 {
			b.ReportMetric(float64(median(wall[i]))/float64(base), p.name+"/trivial")
			b.ReportMetric(float64(median(cpu[i]))/float64(baseCPU), p.name+"-cpu/trivial")
		}
	}
	b.ReportMetric(0, "ns/op")
	if b.N >= 30 {
		for i, target := range []float64{0, targetVersionRatio, targetHookRatio, targetReportRatio} {
			if r := float64(median(wall[i])) / float64(base); i > 0 && r > target {
				b.Logf("over target: %s %.2fx the trivial program (target %.1fx)", procs[i].name, r, target)
			}
		}
	}
}

// buildTrivial builds, in dir, the baseline of BenchmarkStartup: a Go program that reads its stdin
// to the end and exits, built as the agent is (CGO_ENABLED=0).
func buildTrivial(b *testing.B, dir string) string {
	b.Helper()
	src := filepath.Join(dir, "trivial")
	if err := os.MkdirAll(src, 0o755); err != nil {
		b.Fatal(err)
	}
	files := map[string]string{
		"go.mod":  "module trivial\n\ngo 1.24\n",
		"main.go": "package main\n\nimport (\n\t\"io\"\n\t\"os\"\n)\n\nfunc main() { io.Copy(io.Discard, os.Stdin) }\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "trivial-bin")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build the trivial program: %v\n%s", err, out)
	}
	return bin
}
