//go:build !wasip1

package main

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time (user and system) the process used so far. The benchmarks report
// events per CPU second beside events per second: on a machine shared with other work the wall
// clock measures the neighbours too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countKV is a memKV that counts what crosses it, as the host's kv host functions would see it.
type countKV struct {
	*memKV
	gets, sets, getBytes, setBytes int
}

func (kv *countKV) Get(key []byte) ([]byte, bool) {
	v, ok := kv.memKV.Get(key)
	kv.gets++
	kv.getBytes += len(v)
	return v, ok
}

func (kv *countKV) Set(key, value []byte) {
	kv.sets++
	kv.setBytes += len(value)
	kv.memKV.Set(key, value)
}

// BenchmarkEngineNative runs the plugin's Go logic natively over the events of
// BenchmarkEnrichThroughHost, in batches of 256: its algorithmic cost apart from WASM and the host.
func BenchmarkEngineNative(b *testing.B) {
	const batch = 256
	evs := benchEvents(batch * 200)
	recs := make([][]byte, len(evs))
	for i := range evs {
		js, err := evs[i].MarshalJSON()
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = js
	}
	kv := &countKV{memKV: newMemKV()}
	b.ResetTimer()
	cpu0 := cpuTime()
	n := 0
	for i := 0; i < b.N; i++ {
		lo := (i * batch) % len(recs)
		if lo == 0 && i > 0 {
			kv = &countKV{memKV: newMemKV()}
		}
		evs := make([]event, 0, batch)
		for _, r := range recs[lo : lo+batch] {
			if ev, ok := parseEvent(r); ok {
				evs = append(evs, ev)
			}
		}
		newEngine(kv).run(evs)
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(n)/(cpuTime()-cpu0).Seconds(), "events/cpu-s")
	b.ReportMetric(float64(kv.getBytes)/float64(n), "kvget-B/event")
	b.ReportMetric(float64(kv.setBytes)/float64(n), "kvset-B/event")
	b.ReportMetric(float64(kv.gets+kv.sets)/float64(n), "kvops/event")
}
