package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/tidwall/gjson"
)

// hookPayloads returns n realistic Claude Code PostToolUse payloads (about 350 to 400 bytes) of
// sessions different sessions.
func hookPayloads(n, sessions int) [][]byte {
	tools := []struct{ name, input, response string }{
		{"Bash", `{"command":"go test ./pipeline","description":"Run tests"}`,
			`{"stdout":"ok  \tpipeline\t1.292s","stderr":"","interrupted":false}`},
		{"Read", `{"file_path":"/home/dev/hangar/intake.go","limit":80}`,
			`{"type":"text","file":{"numLines":80}}`},
		{"Edit", `{"file_path":"/home/dev/hangar/batch.go","old_string":"x++","new_string":"x+=1"}`,
			`{"success":true,"durationMs":12}`},
	}
	out := make([][]byte, n)
	for i := range out {
		t := tools[i%len(tools)]
		out[i] = fmt.Appendf(nil, `{"session_id":"%08x-3f1d-4e2a-9c6b-8d4f2a1e7b30","transcript_path":"/home/dev/.claude/projects/hangar/s.jsonl",`+
			`"cwd":"/home/dev/hangar","hook_event_name":"PostToolUse","tool_name":"%s",`+
			`"tool_input":%s,"tool_response":%s,"tool_use_id":"toolu_01%016x"}`, i%sessions, t.name, t.input, t.response, i)
	}
	return out
}

func TestHookPayloads(t *testing.T) {
	for i, p := range hookPayloads(6, 3) {
		if len(p) < 300 || len(p) > 450 {
			t.Errorf("payload %d is %d bytes, want a realistic 300 to 450", i, len(p))
		}
		rec := RawRecord{ID: testRec(fmt.Sprint(i), "").ID, Platform: PlatformClaudeCode, Payload: p}
		evs, err := hookCapture(&rec)
		if err != nil || len(evs) != 1 || evs[0].Kind != "hook.PostToolUse" || evs[0].SessionID == "" {
			t.Errorf("payload %d captures to %+v, %v; want one PostToolUse event with a session", i, evs, err)
		}
	}
}

// hookCapture is the benchmarks' capture: one event per hook payload with its name, session and
// tool, read natively. The WASM capture's own cost is host.BenchmarkPluginBatch's; this one
// measures the store path.
func hookCapture(rec *RawRecord) ([]sdk.Event, error) {
	f := gjson.GetManyBytes(rec.Payload, "hook_event_name", "session_id", "tool_name")
	if f[0].Str == "" {
		return nil, Permanent(errors.New("no hook_event_name"))
	}
	ev := sdk.Event{ID: EventID(rec, 0), Platform: rec.Platform, Time: rec.ReceivedAt, Kind: "hook." + f[0].Str, SessionID: f[1].Str}
	if f[2].Str != "" {
		ev.Attrs = []sdk.Attr{sdk.Ident("tool_name", f[2].Str)}
	}
	return []sdk.Event{ev}, nil
}

// BenchmarkIngestDurable measures the durable ingest path: intake, a native capture, group
// commit, synced Pebble batch. Many producers submit at once, each Submit carrying one record (as
// the hook does) or ten (as a batching API client does). b.N counts events. It reports events/s,
// the 95th percentile of the commit latency (build and synced write of one batch) and the mean
// batch size.
func BenchmarkIngestDurable(b *testing.B) {
	for _, bc := range []struct {
		perSubmit, producers int
	}{
		{1, 64},
		{10, 64},
	} {
		b.Run(fmt.Sprintf("records=%d/producers=%d", bc.perSubmit, bc.producers), func(b *testing.B) {
			benchIngest(b, bc.perSubmit, bc.producers)
		})
	}
}

func benchIngest(b *testing.B, perSubmit, producers int) {
	st := openPebble(b)
	var lat []time.Duration // written by the committer only, read after Close
	items := 0
	in, err := NewIntake(st, Captures{PlatformClaudeCode: capFunc(hookCapture)}, IntakeConfig{
		ObserveCommit: func(n int, d time.Duration) {
			lat = append(lat, d)
			items += n
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	payloads := hookPayloads(4096, 97)
	submits := (b.N + perSubmit - 1) / perSubmit
	var next, busy atomic.Int64
	var wg sync.WaitGroup
	var submitMu sync.Mutex
	var submitLat []time.Duration // each Submit, from call to durable answer
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs := make([]RawRecord, perSubmit)
			var mine []time.Duration
			defer func() {
				submitMu.Lock()
				submitLat = append(submitLat, mine...)
				submitMu.Unlock()
			}()
			for {
				s := next.Add(1) - 1
				if s >= int64(submits) {
					return
				}
				for j := range recs {
					k := int(s)*perSubmit + j
					recs[j] = RawRecord{Platform: PlatformClaudeCode, Source: "hook", Payload: payloads[k%len(payloads)]}
					binary.BigEndian.PutUint64(recs[j].ID[:], uint64(k)+1) // the hook mints a random id
				}
				for {
					t := time.Now()
					res, err := in.Submit(context.Background(), recs)
					mine = append(mine, time.Since(t))
					if errors.Is(err, ErrBusy) {
						busy.Add(1)
						time.Sleep(time.Millisecond)
						continue
					}
					if err != nil || res.Stored != perSubmit {
						b.Errorf("Submit = %+v, %v", res, err)
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := in.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	events := submits * perSubmit
	if n := st.EventCount(); n != int64(events) {
		b.Fatalf("EventCount = %d, want %d", n, events)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	// p95-ms is the synced commit of a batch; submit-p95-ms what a caller waits, queueing included.
	b.ReportMetric(float64(lat[(len(lat)-1)*95/100])/float64(time.Millisecond), "p95-ms")
	slices.Sort(submitLat)
	b.ReportMetric(float64(submitLat[(len(submitLat)-1)*95/100])/float64(time.Millisecond), "submit-p95-ms")
	b.ReportMetric(float64(items)/float64(len(lat)), "events/batch")
	b.ReportMetric(float64(busy.Load()), "busy")
}
