//go:build !wasip1

package main

// The Rust port (rust/), shipped as the committed claude-code.wasm (`just plugins` builds it with
// Debian's rustc through sdk/rust/build.sh; TestPluginsReproducible in ./plugins checks the
// committed bytes against a rebuild), run under the real host beside the Go reference (this
// package, built from source by referenceWasm), and required to produce the same outcomes byte
// for byte on every real record and on damaged ones.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/host"
	"github.com/tidwall/gjson"
)

// shippedAndReference returns the committed module (the Rust port) and the Go reference, each
// in a host of its own with testSecret.
func shippedAndReference(t testing.TB) (rs, gp *host.Plugin) {
	t.Helper()
	return loadModule(t, testSecret), loadWasm(t, reference(t), testSecret)
}

// outcomeBytes is an outcome as bytes: each event's encoding v1 (sdk.Event.AppendBinary), and the
// error's message.
func outcomeBytes(t testing.TB, o host.Outcome) []byte {
	t.Helper()
	var b []byte
	for _, ev := range o.Events {
		var err error
		if b, err = ev.AppendBinary(b); err != nil {
			t.Fatal(err)
		}
	}
	if o.Err != nil {
		b = append(b, "\x00error: "+o.Err.Error()...)
	}
	return b
}

// callBoth runs records through both modules in batches of size and reports every record whose
// outcomes differ (a call error counts as every record's outcome). It returns the Rust outcomes.
func callBoth(t *testing.T, what string, rs, gp *host.Plugin, records [][]byte, size int) []host.Outcome {
	t.Helper()
	var all []host.Outcome
	diffs := 0
	for lo := 0; lo < len(records); lo += size {
		batch := records[lo:min(lo+size, len(records))]
		ro, rerr := rs.Call(context.Background(), "capture", batch)
		gout, gerr := gp.Call(context.Background(), "capture", batch)
		if (rerr == nil) != (gerr == nil) || rerr != nil && rerr.Error() != gerr.Error() {
			t.Errorf("%s: records %d to %d: call error %v, Go's %v", what, lo, lo+len(batch), rerr, gerr)
			continue
		}
		if len(ro) != len(gout) {
			t.Errorf("%s: records %d to %d: %d outcomes, Go %d", what, lo, lo+len(batch), len(ro), len(gout))
			continue
		}
		for i := range ro {
			if r, g := outcomeBytes(t, ro[i]), outcomeBytes(t, gout[i]); !bytes.Equal(r, g) {
				if diffs++; diffs <= 10 {
					rj, _ := json.Marshal(goldenRecord{Events: ro[i].Events, Error: errString(ro[i].Err)})
					gj, _ := json.Marshal(goldenRecord{Events: gout[i].Events, Error: errString(gout[i].Err)})
					t.Errorf("%s: record %d differs:\nrecord: %.300s\nrust: %.1500s\ngo:   %.1500s", what, lo+i, records[lo+i], rj, gj)
				}
			}
		}
		all = append(all, ro...)
	}
	if diffs > 10 {
		t.Errorf("%s: %d records differ in all", what, diffs)
	}
	return all
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// equivalenceRecords returns every real hook payload and every transcript line of ../shared,
// and the synthetic records of testdata.
func equivalenceRecords(t *testing.T) (hooks, transcript, synthetic [][]byte) {
	for _, rel := range hookFiles(t) {
		hooks = append(hooks, hookPayloads(t, rel)...)
	}
	for _, path := range transcriptFiles(t) {
		transcript = append(transcript, lines(t, path)...)
	}
	synthetic = lines(t, "testdata/synthetic.jsonl")
	for i, l := range synthetic {
		if s := gjson.ParseBytes(l); s.Type == gjson.String && bytes.HasPrefix(l, []byte(`"raw:`)) {
			synthetic[i] = []byte(strings.TrimPrefix(s.Str, "raw:"))
		}
	}
	if len(hooks) < 2000 || len(transcript) < 100 {
		t.Fatalf("%d hook payloads and %d transcript lines, want the 2,078 and the 4 transcripts of ../shared", len(hooks), len(transcript))
	}
	return hooks, transcript, synthetic
}

// TestCaptureRustEquivalence feeds every real hook payload, every transcript line and every
// synthetic record to the Rust port and to the Go reference, in the batches the agent makes
// (64 for hooks, 500 for an import), and requires the same outcomes byte for byte.
func TestCaptureRustEquivalence(t *testing.T) {
	rs, gp := shippedAndReference(t)
	hooks, transcript, synthetic := equivalenceRecords(t)
	for _, size := range []int{1, 64, 500} {
		callBoth(t, fmt.Sprintf("hooks, batches of %d", size), rs, gp, hooks, size)
		callBoth(t, fmt.Sprintf("transcripts, batches of %d", size), rs, gp, transcript, size)
	}
	callBoth(t, "synthetic", rs, gp, synthetic, 64)
	t.Logf("%d hook payloads, %d transcript lines, %d synthetic records: equal", len(hooks), len(transcript), len(synthetic))
}

// damage returns a damaged copy of rec: cut short, a byte changed, a span deleted or repeated,
// or a byte inserted, at random.
func damage(rng *rand.Rand, rec []byte) []byte {
	if len(rec) < 2 {
		return append(rec, '}')
	}
	i := rng.IntN(len(rec))
	j := min(len(rec), i+1+rng.IntN(64))
	switch rng.IntN(6) {
	case 0:
		return bytes.Clone(rec[:i])
	case 1:
		b := bytes.Clone(rec)
		b[i] = "{}[]\",:\\0123456789-.eEtrufalsn u\x00\xff\xc3"[rng.IntN(32)]
		return b
	case 2:
		return append(bytes.Clone(rec[:i]), rec[j:]...)
	case 3:
		return append(append(bytes.Clone(rec[:j]), rec[i:j]...), rec[j:]...)
	case 4:
		b := bytes.Clone(rec)
		b[i] ^= byte(1 << rng.IntN(8))
		return b
	}
	return append(append(bytes.Clone(rec[:i]), byte(rng.IntN(256))), rec[i:]...)
}

// TestCaptureRustDamaged feeds both modules real records damaged at random (a fixed seed, so
// a failure reproduces) and requires the same outcomes: the host refuses what is not JSON, and
// what is JSON reaches both plugins in odd shapes.
func TestCaptureRustDamaged(t *testing.T) {
	rs, gp := shippedAndReference(t)
	hooks, transcript, _ := equivalenceRecords(t)
	rng := rand.New(rand.NewPCG(18, 2026))
	var recs [][]byte
	for _, set := range [][][]byte{hooks, transcript} {
		for _, rec := range set {
			d := rec
			for range 1 + rng.IntN(3) {
				d = damage(rng, d)
			}
			recs = append(recs, d)
		}
	}
	out := callBoth(t, "damaged", rs, gp, recs, 64)
	ok := 0
	for _, o := range out {
		if o.Err == nil {
			ok++
		}
	}
	t.Logf("%d damaged records, %d captured", len(recs), ok)
}

// BenchmarkCaptureGoVsRust runs the Go reference and the Rust port under the real host on the
// real hook payloads (calls of 64, as the daemon's queue makes them) and on the transcript lines
// (calls of 500, as `agent import` makes them), one goroutine, and reports the time and CPU time
// per record of the whole call (projection, the guest, the leak checks, emission checks).
func BenchmarkCaptureGoVsRust(b *testing.B) {
	_, wasm, err := host.ReadPluginDir(".")
	if err != nil {
		b.Fatal(err)
	}
	goWasm := reference(b)
	var hooks [][]byte
	for _, rel := range hookFiles(b) {
		hooks = append(hooks, hookPayloads(b, rel)...)
	}
	transcript, _ := transcriptLines(b)
	for _, mod := range []struct {
		name string
		wasm []byte
	}{{"go", goWasm}, {"rust", wasm}} {
		for _, set := range []struct {
			name    string
			records [][]byte
			batch   int
		}{{"hooks", hooks, 64}, {"transcripts", transcript, 500}} {
			b.Run(mod.name+"/"+set.name, func(b *testing.B) {
				p := loadWasm(b, mod.wasm, testSecret)
				n := 0
				b.ResetTimer()
				cpu0 := cpuTime()
				for range b.N {
					for lo := 0; lo < len(set.records); lo += set.batch {
						if _, err := p.Call(context.Background(), "capture", set.records[lo:min(lo+set.batch, len(set.records))]); err != nil {
							b.Fatal(err)
						}
					}
					n += len(set.records)
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n), "µs/record")
				b.ReportMetric(float64(cpuTime()-cpu0)/1e3/float64(n), "cpu-µs/record")
			})
		}
	}
}
