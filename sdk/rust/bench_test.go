package rust_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/sdk/sdktest"
)

// BenchmarkRustVsGo runs the Rust example and the Go reference plugin it matches byte for byte
// (host/testdata/echo), under the real host granted the same fields, over the real hook payloads
// in batches of 100 as the capture stage sends them, and reports each one's CPU time and wall
// time per record, and the time inside the export alone (the host's projection of the records and its checks of the emissions
// included: that is what a plugin costs the agent). HANGAR_RUST_WASM, if set, names a module to
// measure in place of the example built from source (to compare compiler flags).
func BenchmarkRustVsGo(b *testing.B) {
	rustWasm := build(b, "example/lib.rs")
	if path := os.Getenv("HANGAR_RUST_WASM"); path != "" {
		var err error
		if rustWasm, err = os.ReadFile(path); err != nil {
			b.Fatal(err)
		}
	}
	payloads := hookPayloads(b)
	const batch = 100
	var batches [][]host.Record
	for start := 0; start+batch <= len(payloads); start += batch {
		recs := make([]host.Record, batch)
		for k := range recs {
			p := payloads[start+k]
			recs[k] = host.Record{ID: [16]byte{byte(start >> 8), byte(start), byte(k)}, Received: time.Unix(1, 0), Payload: p}
		}
		batches = append(batches, recs)
	}
	h := newHost(b, nil)
	for _, lang := range []struct {
		name string
		wasm []byte
	}{{"rust", rustWasm}, {"go", sdktest.EchoWasm(b)}} {
		p := load(b, h, "bench-"+lang.name, lang.wasm, exampleCaps)
		b.Run(lang.name, func(b *testing.B) {
			ctx := context.Background()
			// One call first: the instance is made and its code compiled outside the timing.
			if _, err := p.CallRecords(ctx, "capture", batches[0]); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start, cpu0, guest0 := time.Now(), sdktest.CPUTime(), p.Status().GuestTime
			for i := 0; i < b.N; i++ {
				outs, err := p.CallRecords(ctx, "capture", batches[i%len(batches)])
				if err != nil {
					b.Fatal(err)
				}
				if len(outs) != batch {
					b.Fatalf("%d outcomes", len(outs))
				}
			}
			b.StopTimer()
			n := float64(b.N * batch)
			b.ReportMetric(float64(sdktest.CPUTime()-cpu0)/1e3/n, "cpu-µs/record")
			b.ReportMetric(float64(time.Since(start))/1e3/n, "µs/record")
			// The time inside the module's export alone: the plugin's own cost.
			b.ReportMetric(float64(p.Status().GuestTime-guest0)/1e3/n, "guest-µs/record")
		})
	}
}
