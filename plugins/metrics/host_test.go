//go:build !wasip1

package main

// These tests run the committed modules through the real host (host.New, Load, CallRecords with
// a kv, as pipeline/wasmstage runs an enrich plugin): the claude-code capture plugin over the
// shared transcripts, then this plugin over its events.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/sdk"
)

const (
	projectsDir = "../../../shared/fixtures/claude-code/projects"
	expectedDir = "../../../shared/fixtures/claude-code/expected"
)

// load loads the plugin in dir, granted its manifest, into h.
func load(t testing.TB, h *host.Host, dir string) *host.Plugin {
	t.Helper()
	m, wasm, err := host.ReadPluginDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	g, err := host.NewGrants(m.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, wasm, g)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newHost(t testing.TB) *host.Host {
	t.Helper()
	h, err := host.New(host.Config{Secret: bytes.Repeat([]byte{0x5a}, 32), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// captured returns the events the capture plugin makes of the shared transcripts, with the
// ingest times the store would give them.
func captured(t testing.TB, h *host.Host) []sdk.Event {
	t.Helper()
	capture := load(t, h, "../claude-code")
	files, err := filepath.Glob(filepath.Join(projectsDir, "*", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	var evs []sdk.Event
	ingest := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var recs []host.Record
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 16<<20)
		for n := 0; sc.Scan(); n++ {
			line := append([]byte(nil), sc.Bytes()...)
			recs = append(recs, host.Record{ID: sdk.NewID("line", []byte(filepath.Base(f)), []byte(fmt.Sprint(n))), Received: ingest, Payload: line})
		}
		for lo := 0; lo < len(recs); lo += 64 {
			outs, err := capture.CallRecords(context.Background(), "capture", recs[lo:min(lo+64, len(recs))])
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range outs {
				for _, ev := range o.Events {
					ev.IngestTime = ingest
					evs = append(evs, ev)
				}
			}
		}
	}
	return evs
}

// enrich runs the metrics plugin over events in batches of size on kv and returns the latest
// record of each kind and key.
func enrich(t testing.TB, p *host.Plugin, kv host.KV, evs []sdk.Event, size int) map[string]sdk.Event {
	t.Helper()
	latest := map[string]sdk.Event{}
	for lo := 0; lo < len(evs); lo += size {
		batch := evs[lo:min(lo+size, len(evs))]
		recs := make([]host.Record, len(batch))
		for i := range batch {
			js, err := batch[i].MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			recs[i] = host.Record{ID: batch[i].ID, Received: batch[i].Time, Platform: batch[i].Platform, Payload: js}
		}
		outs, err := p.CallRecords(host.WithKV(context.Background(), kv), "enrich", recs)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range outs {
			if o.Err != nil {
				t.Fatalf("record %d: %v", lo+i, o.Err)
			}
			for _, ev := range o.Events {
				k, _ := ev.Attr("key")
				latest[ev.Kind+" "+k.Ident()] = ev
			}
		}
	}
	return latest
}

// TestTokensEqualCcusage: the plugin's daily token counts over the shared transcripts, captured by
// the real claude-code plugin, equal ccusage's daily report, which the usage rollup also equals
// (cmd/agent's parity tests).
func TestTokensEqualCcusage(t *testing.T) {
	h := newHost(t)
	evs := captured(t, h)
	p := load(t, h, ".")
	got := enrich(t, p, &host.MemKV{}, evs, 256)

	data, err := os.ReadFile(filepath.Join(expectedDir, "ccusage-daily.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Daily []struct {
			Date                                 string
			InputTokens, OutputTokens            int64
			CacheCreationTokens, CacheReadTokens int64
		}
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Daily) == 0 {
		t.Fatal("no days in the expected report")
	}
	for _, d := range want.Daily {
		day, err := time.Parse("2006-01-02", d.Date)
		if err != nil {
			t.Fatal(err)
		}
		key := "metrics.1d " + pad10(day.Unix()) + "/all/-"
		ev, ok := got[key]
		if !ok {
			t.Errorf("no record %s", key)
			continue
		}
		for attr, w := range map[string]int64{"input_tokens": d.InputTokens, "output_tokens": d.OutputTokens, "cache_creation_tokens": d.CacheCreationTokens, "cache_read_tokens": d.CacheReadTokens} {
			if v, _ := ev.Attr(attr); v.Int() != w {
				t.Errorf("%s: %s = %d, ccusage %d", d.Date, attr, v.Int(), w)
			}
		}
	}
	// The same through the 1h records summed over each day, and in batches of 7.
	again := enrich(t, load(t, newHost(t), "."), &host.MemKV{}, evs, 7)
	for _, d := range want.Daily {
		day, _ := time.Parse("2006-01-02", d.Date)
		var sum int64
		for hr := range 24 {
			if ev, ok := again["metrics.1h "+pad10(day.Unix()+int64(hr)*3600)+"/all/-"]; ok {
				v, _ := ev.Attr("output_tokens")
				sum += v.Int()
			}
		}
		if sum != d.OutputTokens {
			t.Errorf("%s: 1h output_tokens sum to %d, ccusage %d", d.Date, sum, d.OutputTokens)
		}
	}
	// Turns and active time are there: the transcripts have prompts.
	var turns, active int64
	for k, ev := range got {
		if bytes.HasSuffix([]byte(k), []byte("/all/-")) && ev.Kind == "metrics.1d" {
			v, _ := ev.Attr("turns")
			turns += v.Int()
			v, _ = ev.Attr("active_ms")
			active += v.Int()
		}
	}
	if turns == 0 || active == 0 {
		t.Errorf("turns %d, active_ms %d over the transcripts", turns, active)
	}
}

// benchEvents returns n hand-made events of a busy day: sessions of prompts, tool calls seen by
// hooks and transcripts, usage copies.
func benchEvents(n int) []sdk.Event {
	var evs []sdk.Event
	base := time.Date(2025, 6, 8, 0, 0, 0, 0, time.UTC)
	proj := sdk.Hash("project", []byte("0123456789abcdef"))
	tools := []string{"Bash", "Edit", "Read", "Grep", "Write"}
	for i := 0; len(evs) < n; i++ {
		sid := fmt.Sprintf("sess-%d", i/400)
		at := base.Add(time.Duration(i) * 3 * time.Second)
		id := fmt.Sprintf("toolu_%08d", i)
		name := tools[i%len(tools)]
		add := func(kind string, d time.Duration, attrs ...sdk.Attr) {
			evs = append(evs, sdk.Event{ID: sdk.NewID("bench", []byte(fmt.Sprint(len(evs)))), Platform: "claude-code", Kind: kind, SessionID: sid,
				Time: at.Add(d), IngestTime: at.Add(d + time.Second), Attrs: append(attrs, proj)})
		}
		if i%10 == 0 {
			add("hook.UserPromptSubmit", 0, sdk.Hash("prompt_hash", []byte(fmt.Sprintf("%016d", i))), sdk.Ident("model", "claude-sonnet-4"))
		}
		add("transcript.usage", 0, sdk.Ident("model", "claude-sonnet-4"), sdk.Ident("message_id", "msg_"+id), sdk.Ident("request_id", "req_"+id), sdk.Int("input_tokens", 4), sdk.Int("output_tokens", 120), sdk.Int("cache_read_tokens", 30000), sdk.Bool("sidechain", false))
		add("transcript.tool_use", 10*time.Millisecond, sdk.Ident("tool_name", name), sdk.Ident("tool_use_id", id), sdk.Ident("message_id", "msg_"+id))
		add("hook.PreToolUse", 20*time.Millisecond, sdk.Ident("tool_name", name), sdk.Ident("tool_use_id", id), sdk.Ident("permission_mode", "default"), sdk.Ident("command", "go"))
		add("hook.PostToolUse", 900*time.Millisecond, sdk.Ident("tool_name", name), sdk.Ident("tool_use_id", id), sdk.Int("duration_ms", 880), sdk.Bool("success", true))
		add("transcript.tool_result", time.Second, sdk.Ident("tool_use_id", id), sdk.Bool("is_error", i%9 == 0), sdk.Ident("error_kind", "exit_code"))
	}
	return evs[:n]
}

// BenchmarkEnrichThroughHost measures the plugin's throughput through the real host, in batches
// of 256 events as the consumer runner hands them, with the kv state in memory.
func BenchmarkEnrichThroughHost(b *testing.B) {
	const batch = 256
	h := newHost(b)
	p := load(b, h, ".")
	evs := benchEvents(batch * 200)
	recs := make([]host.Record, len(evs))
	for i := range evs {
		js, err := evs[i].MarshalJSON()
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = host.Record{ID: evs[i].ID, Received: evs[i].Time, Platform: "claude-code", Payload: js}
	}
	kv := &host.MemKV{}
	ctx := host.WithKV(context.Background(), kv)
	b.ResetTimer()
	cpu0 := cpuTime()
	n := 0
	for i := 0; i < b.N; i++ {
		lo := (i * batch) % len(recs)
		if lo == 0 && i > 0 {
			b.StopTimer()
			kv = &host.MemKV{}
			ctx = host.WithKV(context.Background(), kv)
			b.StartTimer()
		}
		outs, err := p.CallRecords(ctx, "enrich", recs[lo:lo+batch])
		if err != nil {
			b.Fatal(err)
		}
		if outs[batch-1].Err != nil {
			b.Fatal(outs[batch-1].Err)
		}
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(n)/(cpuTime()-cpu0).Seconds(), "events/cpu-s")
}
