package wasmstage

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/host/hosttest"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/tidwall/gjson"
)

// loadClaudeCode loads the committed first-party Claude Code plugin, granted its manifest, as a
// capture stage.
func loadClaudeCode(t testing.TB, h *host.Host) *Capture {
	t.Helper()
	m, wasm, err := host.ReadPluginDir("../../plugins/claude-code")
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
	c, err := NewCapture(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventsDiff describes how got differs from want, or returns "".
func eventsDiff(got, want []sdk.Event) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d events, want %d", len(got), len(want))
	}
	for j := range got {
		g, w := &got[j], &want[j]
		if g.ID != w.ID || g.Platform != w.Platform || g.Kind != w.Kind || g.SessionID != w.SessionID ||
			!g.Time.Equal(w.Time) || !g.IngestTime.Equal(w.IngestTime) || len(g.Attrs) != len(w.Attrs) {
			return fmt.Sprintf("event %d:\n got  %+v\n want %+v", j, *g, *w)
		}
		for k := range g.Attrs {
			if g.Attrs[k] != w.Attrs[k] {
				return fmt.Sprintf("event %d attribute %d: got %s=%v, want %s=%v", j, k, g.Attrs[k].Key, g.Attrs[k].Value, w.Attrs[k].Key, w.Attrs[k].Value)
			}
		}
	}
	return ""
}

// testSecret is the install secret of tests that run the claude-code plugin (it salts hashes).
var testSecret = []byte("hangar host tests: install secret")

// TestCaptureRealPayloads runs the first-party Claude Code plugin through the capture stage over every
// real hook payload, in batches: each gives one event of kind hook.<hook_event_name>, with the
// record's event id, received time and session, and payload_bytes (which the stage adds) first.
// Bad payloads fail with permanent errors before any call, and the oversized record never
// reaches the plugin. (The plugin's own reductions have golden tests in plugins/claude-code.)
func TestCaptureRealPayloads(t *testing.T) {
	h := newTestHost(t, host.Config{Secret: testSecret})
	c := loadClaudeCode(t, h)
	received := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var recs []*pipeline.RawRecord
	for i, p := range hosttest.HookPayloads(t) {
		recs = append(recs, &pipeline.RawRecord{ID: sdk.NewID("rec", fmt.Appendf(nil, "%d", i)), Platform: pipeline.PlatformClaudeCode,
			Source: "hook", ReceivedAt: received.Add(time.Duration(i) * time.Millisecond), Payload: p})
	}
	n := len(recs)
	bad := map[string]string{``: "empty payload", ` `: "empty payload", `{`: "not valid JSON", `[]`: "a JSON array, not an object", `"x"`: "a JSON string, not an object"}
	for p := range bad {
		recs = append(recs, &pipeline.RawRecord{ID: sdk.NewID("bad", []byte(p)), Platform: pipeline.PlatformClaudeCode, ReceivedAt: received, Payload: []byte(p)})
	}
	recs = append(recs, &pipeline.RawRecord{ID: sdk.NewID("big"), Platform: pipeline.PlatformClaudeCode, ReceivedAt: received, Oversize: 20 << 20})
	calls := c.p.Status().Calls
	const batch = 100
	good := 0
	for lo := 0; lo < len(recs); lo += batch {
		chunk := recs[lo:min(lo+batch, len(recs))]
		evs, errs := c.CaptureBatch(chunk)
		for k, rec := range chunk {
			switch want, isBad := bad[string(rec.Payload)]; {
			case rec.Oversize > 0:
				if errs[k] != nil || len(evs[k]) != 1 || evs[k][0].Kind != pipeline.OversizedEvent(rec).Kind {
					t.Errorf("oversized record: %v, %v", evs[k], errs[k])
				}
			case isBad && lo+k >= n:
				if errs[k] == nil || !pipeline.IsPermanent(errs[k]) || !strings.Contains(errs[k].Error(), want) {
					t.Errorf("payload %q: error %v, want a permanent one saying %q", rec.Payload, errs[k], want)
				}
			default:
				name := gjson.GetBytes(rec.Payload, "hook_event_name").Str
				if errs[k] != nil || len(evs[k]) != 1 {
					t.Errorf("record %d (%.60q): %d events, error %v", lo+k, rec.Payload, len(evs[k]), errs[k])
					continue
				}
				ev := evs[k][0]
				if ev.ID != pipeline.EventID(rec, 0) || !ev.Time.Equal(rec.ReceivedAt) || ev.Platform != pipeline.PlatformClaudeCode ||
					ev.Kind != "hook."+name || ev.SessionID == "" || ev.Attrs[0].Key != pipeline.AttrPayloadBytes || ev.Attrs[0].Value.Int() != int64(len(rec.Payload)) {
					t.Errorf("record %d (%.60q): event %+v", lo+k, rec.Payload, ev)
				}
				good++
			}
		}
	}
	if good != n || n < 2000 {
		t.Errorf("%d of %d fixtures captured, want all of at least 2000", good, n)
	}
	// Neither the oversized record nor the bad ones reached the plugin: one call per batch that
	// had others.
	if got, want := c.p.Status().Calls-calls, int64((n+batch-1)/batch); got != want {
		t.Errorf("%d plugin calls, want %d", got, want)
	}
}

// TestCaptureOversizedAlone checks that a batch of oversized records calls no plugin, and that a
// record of another platform is refused.
func TestCaptureOversizedAlone(t *testing.T) {
	h := newTestHost(t, host.Config{})
	c := loadClaudeCode(t, h)
	recs := []*pipeline.RawRecord{
		{ID: sdk.NewID("a"), Platform: pipeline.PlatformClaudeCode, ReceivedAt: time.Unix(10, 0), Oversize: 17 << 20},
		{ID: sdk.NewID("b"), Platform: "other", Payload: []byte(`{"hook_event_name":"Stop"}`)},
	}
	evs, errs := c.CaptureBatch(recs)
	if errs[0] != nil || len(evs[0]) != 1 || evs[0][0].Kind != pipeline.KindOversized {
		t.Fatalf("oversized record: %v, %v", evs[0], errs[0])
	}
	if v, ok := evs[0][0].Attr(pipeline.AttrPayloadBytes); !ok || v.Int() != 17<<20 {
		t.Errorf("oversized payload_bytes = %v (%v), want %d", v, ok, 17<<20)
	}
	if errs[1] == nil || !pipeline.IsPermanent(errs[1]) {
		t.Errorf("record of another platform: %v, want a permanent error", errs[1])
	}
	if s := c.p.Status(); s.Calls != 0 {
		t.Errorf("%d plugin calls, want none", s.Calls)
	}
}

// TestCapturePayloadBytes checks that the host adds payload_bytes to every event of a record,
// first, and keeps the plugin's own when it set one.
func TestCapturePayloadBytes(t *testing.T) {
	tests := []struct {
		name string
		in   []sdk.Attr
		want []sdk.Attr
	}{
		{"none", nil, []sdk.Attr{sdk.Int("payload_bytes", 5)}},
		{"prepended", []sdk.Attr{sdk.Ident("tool_name", "Bash")}, []sdk.Attr{sdk.Int("payload_bytes", 5), sdk.Ident("tool_name", "Bash")}},
		{"plugin's own", []sdk.Attr{sdk.Ident("a", "b"), sdk.Int("payload_bytes", 9)}, []sdk.Attr{sdk.Ident("a", "b"), sdk.Int("payload_bytes", 9)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []sdk.Event{{Kind: "x", Attrs: tt.in}, {Kind: "y", Attrs: tt.in}}
			got := withPayloadBytes(in, &pipeline.RawRecord{Payload: []byte("12345")})
			for j := range got {
				if d := eventsDiff([]sdk.Event{{Kind: "k", Attrs: got[j].Attrs}}, []sdk.Event{{Kind: "k", Attrs: tt.want}}); d != "" {
					t.Errorf("event %d: %s", j, d)
				}
			}
		})
	}
	full := make([]sdk.Attr, sdk.MaxAttrs)
	for i := range full {
		full[i] = sdk.Int(fmt.Sprintf("a%d", i), 1)
	}
	if got := withPayloadBytes([]sdk.Event{{Attrs: full}}, &pipeline.RawRecord{Payload: []byte("1")}); len(got[0].Attrs) != sdk.MaxAttrs {
		t.Errorf("an event with %d attributes got %d, want no more", sdk.MaxAttrs, len(got[0].Attrs))
	}
}

// TestCapturePromptNamesThePlugin shows that a prompt may say what the plugin's events are made
// of (its kinds, attribute keys: words its module holds) without losing its record. People who
// run Hangar write hooks and telemetry code; "rename prompt_words" or "the UserPromptSubmit hook"
// is a prompt like any other. Found by FuzzCapture: the record's own leak check counted an
// attribute key the prompt happened to contain as content the plugin carried out.
func TestCapturePromptNamesThePlugin(t *testing.T) {
	h := newTestHost(t, host.Config{Secret: testSecret})
	c := loadClaudeCode(t, h)
	received := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	prompts := []string{
		"caf\\ prompt_words",
		"rename prompt_words and prompt_sketch in the UserPromptSubmit hook",
		"why does hook.UserPromptSubmit carry payload_bytes and prompt_hash?",
		"the SessionStart and PostToolUse hooks, session_id, tool_name, tool_use_id",
	}
	var recs []*pipeline.RawRecord
	for i, p := range prompts {
		payload := fmt.Appendf(nil, `{"hook_event_name":"UserPromptSubmit","session_id":"s%d","prompt":%q}`, i, p)
		recs = append(recs, &pipeline.RawRecord{ID: sdk.NewID("prompt", payload), Platform: pipeline.PlatformClaudeCode,
			Source: "hook", ReceivedAt: received, Payload: payload})
	}
	// Twice: the second round is checked against the window, which now holds every prompt.
	for round := range 2 {
		evs, errs := c.CaptureBatch(recs)
		for k, p := range prompts {
			if errs[k] != nil || len(evs[k]) != 1 || evs[k][0].Kind != "hook.UserPromptSubmit" {
				t.Errorf("round %d, prompt %q: events %v, error %v; want its hook.UserPromptSubmit event", round, p, evs[k], errs[k])
			}
		}
	}
}
