package main

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func BenchmarkZZBaseline(b *testing.B) {
	for _, args := range [][]string{{"--version"}, {"hook", "claude-code", "--data-dir", "/tmp/zz-nodaemon"}} {
		b.Run(args[0], func(b *testing.B) {
			var times []time.Duration
			for range b.N {
				f, _ := os.Open("/tmp/hx/p.json")
				cmd := exec.Command(agentBin, args...)
				cmd.Stdin = f
				s := time.Now()
				cmd.Run()
				times = append(times, time.Since(s))
				f.Close()
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2])/1e6, "median-ms")
			b.ReportMetric(float64(times[len(times)*99/100])/1e6, "p99-ms")
		})
	}
}
