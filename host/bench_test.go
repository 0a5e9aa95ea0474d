package host

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// benchCaps are the capture-bench plugin's grants: metadata fields, and the tool input as
// content (to measure its size and keys), so the leak check runs too.
var benchCaps = []string{
	"read:payload.hook_event_name", "read:payload.session_id", "read:payload.tool_name",
	"read:payload.permission_mode", "content:tool_input",
}

// runParallel calls p over batches of records from payloads on GOMAXPROCS goroutines, b.N
// batches in all, and reports records/s.
func runParallel(b *testing.B, p *Plugin, payloads [][]byte, batch int) {
	b.Helper()
	batches := make([][]Record, 0, len(payloads)/batch+1)
	for i := 0; i+batch <= len(payloads)*((batch/len(payloads))+1); i += batch {
		bt := make([]Record, batch)
		for k := range bt {
			bt[k] = Record{ID: [16]byte{byte(i), byte(k)}, Received: time.Unix(1, 0), Payload: payloads[(i+k)%len(payloads)]}
		}
		batches = append(batches, bt)
		if len(batches) >= 64 {
			break
		}
	}
	workers := runtime.GOMAXPROCS(0)
	var next sync.Mutex
	n := 0
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				i := n
				n++
				next.Unlock()
				if i >= b.N {
					return
				}
				outs, err := p.CallRecords(context.Background(), "capture", batches[i%len(batches)])
				if err != nil {
					b.Error(err)
					return
				}
				for _, o := range outs {
					if o.Err != nil {
						b.Error(o.Err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "records/s")
	// CPU time per record: steadier than records/s on a machine shared with other work.
	b.ReportMetric(float64(cpuTime()-cpu0)/1e3/float64(b.N*batch), "cpu-µs/record")
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPluginBatch runs the capture-bench plugin over real Claude Code hook payloads, in
// batches, on GOMAXPROCS goroutines.
func BenchmarkPluginBatch(b *testing.B) {
	payloads := hookPayloads(b)
	h := newTestHost(b, Config{})
	p := loadTest(b, h, "capture-bench", benchCaps, Limits{})
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) { runParallel(b, p, payloads, n) })
	}
	b.Logf("plugin status: %+v", p.Status())
}

// BenchmarkProjection compares a batch of 100 with projection against whole payloads.
func BenchmarkProjection(b *testing.B) {
	payloads := hookPayloads(b)
	for _, whole := range []bool{false, true} {
		b.Run(fmt.Sprintf("whole=%v", whole), func(b *testing.B) {
			h := newTestHost(b, Config{})
			p := loadTest(b, h, "capture-bench", benchCaps, Limits{MemoryPages: 4096})
			p.proj.whole = whole
			runParallel(b, p, payloads, 100)
		})
	}
}

// BenchmarkColdCompile measures Load (compilation) without and with a warm on-disk cache, and
// the memory of one instance.
func BenchmarkColdCompile(b *testing.B) {
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cache=%v", cached), func(b *testing.B) {
			dir := b.TempDir()
			if cached {
				h, _ := New(Config{CacheDir: dir})
				loadTest(b, h, "capture-bench", benchCaps, Limits{})
				h.Close()
			}
			var total time.Duration
			for i := 0; i < b.N; i++ {
				if !cached {
					os.RemoveAll(dir)
				}
				h, err := New(Config{CacheDir: dir})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				loadTest(b, h, "capture-bench", benchCaps, Limits{})
				total += time.Since(start)
				h.Close()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/compile")
		})
	}
}

// BenchmarkInstanceMemory reports the linear memory and Go heap one warm instance holds.
func BenchmarkInstanceMemory(b *testing.B) {
	payloads := hookPayloads(b)
	h := newTestHost(b, Config{PoolSize: 8, PluginMemory: 8 * DefaultMemoryPages * 64 << 10})
	p := loadTest(b, h, "capture-bench", benchCaps, Limits{})
	recs := []Record{{ID: [16]byte{1}, Payload: payloads[0]}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var ins []*instance
	for range 8 {
		in, err := p.acquire(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		ins = append(ins, in)
	}
	for _, in := range ins {
		p.release(in, true)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); p.CallRecords(context.Background(), "capture", recs) }()
	}
	wg.Wait()
	runtime.GC()
	runtime.ReadMemStats(&after)
	for i := 0; i < b.N; i++ {
		p.CallRecords(context.Background(), "capture", recs)
	}
	b.ReportMetric(float64(p.Status().MaxMemoryBytes)/(1<<20), "MiB-linear/instance")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/8/(1<<20), "MiB-heap/instance")
}

// BenchmarkInterruptModes measures a loop-heavy guest (capture-bench over batches of 100 and
// 1000) under each way of stopping calls past their deadline: the host's instrumentation (fuel
// checks and yields, the default), wazero's WithCloseOnContextDone, and nothing (the floor).
func BenchmarkInterruptModes(b *testing.B) {
	payloads := hookPayloads(b)
	modes := []struct {
		name string
		mode InterruptMode
	}{{"instrument", InterruptInstrument}, {"close", InterruptClose}, {"none", InterruptNone}}
	for _, m := range modes {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("mode=%s/batch=%d", m.name, n), func(b *testing.B) {
				h := newTestHost(b, Config{Interrupt: m.mode, CacheDir: testCacheDir})
				p := loadTest(b, h, "capture-bench", benchCaps, Limits{MemoryPages: 4096})
				runParallel(b, p, payloads, n)
			})
		}
	}
}
