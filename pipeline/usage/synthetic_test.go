package usage

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The synthetic transcripts exercise the rules the real ones do not: several projects whose path
// order differs from their name order, subagent files, entries exactly on slot, hour, block and
// day boundaries, gaps of exactly and just over five hours, streaming copies, sidechain replays,
// costUSD, ties in cost, zero-token and error entries, and lines ccusage skips. They are written
// by -update (and then fed to the real ccusage); the files under testdata are the result.

const (
	sonnet = "claude-sonnet-4-20250514"
	opus   = "claude-opus-4-20250514"
	haiku  = "claude-3-5-haiku-20241022"
)

type tline map[string]any

var lineSeq int

// usageLine is an assistant line with fresh message and request ids.
func usageLine(ts, session, model string, in, out, cw, cr int64) tline {
	lineSeq++
	msg := map[string]any{
		"id":    fmt.Sprintf("msg_%04d", lineSeq),
		"type":  "message",
		"role":  "assistant",
		"usage": map[string]any{"input_tokens": in, "output_tokens": out, "cache_creation_input_tokens": cw, "cache_read_input_tokens": cr},
	}
	if model != "" {
		msg["model"] = model
	}
	return tline{
		"type":      "assistant",
		"timestamp": ts,
		"sessionId": session,
		"version":   "1.0.17",
		"requestId": fmt.Sprintf("req_%04d", lineSeq),
		"message":   msg,
	}
}

func (l tline) with(k string, v any) tline { l[k] = v; return l }

func (l tline) ids(msg, req string) tline {
	l["message"].(map[string]any)["id"] = msg
	l["requestId"] = req
	return l
}

func (l tline) usage() map[string]any {
	return l["message"].(map[string]any)["usage"].(map[string]any)
}

func writeTranscripts(t testing.TB, root string, files map[string][]any) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(root, "projects")); err != nil {
		t.Fatal(err)
	}
	for name, lines := range files {
		p := filepath.Join(root, "projects", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, l := range lines {
			if s, ok := l.(string); ok {
				b.WriteString(s)
			} else {
				j, err := json.Marshal(l)
				if err != nil {
					t.Fatal(err)
				}
				b.Write(j)
			}
			b.WriteByte('\n')
		}
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeSynthetic(t testing.TB, root string) {
	t.Helper()
	lineSeq = 0
	const (
		app  = "-Users-dev-app"     // sorts after appW in path order ('-' < '/')
		appW = "-Users-dev-app-web" // and before it by name
		zeta = "-Users-dev-zeta"
	)
	stream1 := usageLine("2025-06-02T10:05:00.000Z", "s-alpha", opus, 3, 1, 0, 4000)
	stream2 := usageLine("2025-06-02T10:05:03.500Z", "s-alpha", opus, 3, 350, 0, 4000).ids(stream1["message"].(map[string]any)["id"].(string), stream1["requestId"].(string))
	shared := usageLine("2025-06-02T11:30:00.000Z", "s-alpha", sonnet, 10, 20, 30, 40)
	sharedMsg, sharedReq := shared["message"].(map[string]any)["id"].(string), shared["requestId"].(string)
	split := usageLine("2025-06-15T09:00:00.000Z", "s-delta", sonnet, 5, 6, 0, 0)
	split.usage()["cache_creation"] = map[string]any{"ephemeral_5m_input_tokens": 700, "ephemeral_1h_input_tokens": 300}
	split.usage()["cache_creation_input_tokens"] = 1000
	noModel := usageLine("2025-06-15T09:30:00.000Z", "s-delta", "", 7, 8, 0, 0)
	errLine := usageLine("2025-06-02T12:00:00.000Z", "s-gamma", "<synthetic>", 0, 0, 0, 0).with("isApiErrorMessage", true)
	errLine["message"].(map[string]any)["content"] = []any{map[string]any{"type": "text", "text": "Claude AI usage limit reached|1748880000"}}
	userLine := usageLine("2025-06-15T08:00:00.000Z", "s-delta", sonnet, 100, 0, 0, 0).with("type", "user")

	files := map[string][]any{
		app + "/s-alpha.jsonl": {
			usageLine("2025-06-02T09:59:59.999Z", "s-alpha", sonnet, 1000, 200, 5000, 20000),
			usageLine("2025-06-02T10:00:00.000Z", "s-alpha", opus, 10, 100, 0, 3000), // slot boundary
			stream1, stream2, // streaming copies: the later, larger one wins
			shared,
			usageLine("2025-06-02T13:30:00.000Z", "s-alpha", haiku, 50, 60, 70, 80),
			usageLine("2025-06-02T14:00:00.000Z", "s-alpha", sonnet, 1, 2, 3, 4),    // block start + 5h: same block
			usageLine("2025-06-02T14:00:00.001Z", "s-alpha", haiku, 5, 6, 7, 8),     // next block, 14:00
			usageLine("2025-06-02T19:00:00.001Z", "s-alpha", sonnet, 9, 10, 11, 12), // 5h after previous: no gap
			usageLine("2025-06-03T00:00:00.002Z", "s-alpha", opus, 13, 14, 15, 16),  // 5h + 1ms after: gap
			usageLine("2025-06-03T00:10:00.000Z", "s-alpha", haiku, 1, 1, 1, 1).with("costUSD", 0.25),
			usageLine("2025-06-03T00:11:00.000Z", "s-alpha", sonnet, 1, 1, 1, 1).with("costUSD", 0.25), // cost tie
			`{"type":"assistant","timestamp":"2025-06-03T00:12:00.000Z","message":{"id":"spaced","model":"` + sonnet + `","usage": {"input_tokens":999,"output_tokens":999}}}`,
		},
		app + "/s-alpha/subagents/agent-1.jsonl": {
			usageLine("2025-06-02T10:02:00.000Z", "s-alpha", haiku, 40, 41, 42, 43).with("isSidechain", true),
			// A sidechain replay of a parent message with more tokens loses to the parent.
			usageLine("2025-06-02T11:30:01.000Z", "s-alpha", sonnet, 1000, 2000, 3000, 4000).ids(sharedMsg, sharedReq).with("isSidechain", true),
		},
		app + "/s-gamma.jsonl": {
			errLine, // no tokens: the session is left out, the block shows the reset time
		},
		appW + "/s-beta.jsonl": {
			usageLine("2025-06-02T11:00:00.000Z", "s-beta", haiku, 20, 30, 0, 500).with("costUSD", 0.5),
			// The same message and request in another session is another entry.
			usageLine("2025-06-02T11:31:00.000Z", "s-beta", sonnet, 10, 20, 30, 40).ids(sharedMsg, sharedReq),
			usageLine("2025-06-02T18:30:00.000Z", "s-beta", sonnet, 11, 12, 13, 14),                  // midnight in Kolkata
			usageLine("2025-06-07T23:59:59.999Z", "s-beta", opus, 15, 16, 17, 18),                    // Saturday
			usageLine("2025-06-08T00:00:00.000Z", "s-beta", sonnet, 19, 20, 21, 22),                  // Sunday, midnight UTC
			usageLine("2025-06-30T23:45:00.000Z", "s-beta", haiku, 23, 24, 25, 26),                   // June in Los Angeles
			usageLine("2025-07-01T00:00:00.000Z", "s-beta", sonnet, 27, 28, 29, 30),                  // July in UTC
			usageLine("2025-07-01T00:00:00.000Z", "s-beta", haiku, 31, 32, 33, 34),                   // same instant, other model
			usageLine("2025-07-01T03:00:00.000Z", "s-beta", opus, 1, 1, 1, 1).with("version", "abc"), // skipped
			usageLine("2025-07-01T03:30:00.000Z", "s-beta", opus, 2, 2, 2, 2).with("costUSD", 1.5),
		},
		appW + "/s-eta.jsonl": {
			usageLine("2025-06-20T10:00:00.000Z", "s-eta", haiku, 100, 100, 100, 100),
		},
		zeta + "/s-delta.jsonl": {
			userLine, // a usage line of type "user" counts
			usageLine("2025-06-15T08:15:00.000Z", "s-delta", opus, 1, 2, 3, 4), // slot boundary
			usageLine("2025-06-15T08:15:00.001Z", "s-delta", opus, 5, 6, 7, 8), // just after
			split,   // 5m + 1h cache writes
			noModel, // no model: tokens only
			usageLine("2025-06-15T11:15:00.000Z", "s-delta", haiku, 1, 1, 1, 1),  // midnight in Chatham
			usageLine("2025-06-15T18:14:59.999Z", "s-delta", sonnet, 2, 2, 2, 2), // Kathmandu 23:59:59.999
			usageLine("2025-06-15T18:15:00.000Z", "s-delta", opus, 3, 3, 3, 3),   // Kathmandu midnight
			usageLine("2025-06-20T09:00:00.000Z", "s-delta", sonnet, 0, 0, 0, 0), // zero tokens
		},
		zeta + "/s-epsilon.jsonl": {
			usageLine("2025-06-20T11:00:00.000Z", "s-epsilon", haiku, 100, 100, 100, 100), // ties s-eta
		},
	}
	writeTranscripts(t, root, files)
}

// writeActive writes transcripts with an active block relative to now, and now itself. It waits
// until now is 5 to 20 seconds into a minute, so that the minutes left in the active block round
// the same way for a while after.
func writeActive(t testing.TB, root string) {
	t.Helper()
	lineSeq = 1000
	for s := time.Now().Second(); s < 5 || s >= 20; s = time.Now().Second() {
		time.Sleep(200 * time.Millisecond)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	ts := func(d time.Duration) string { return now.Add(d).Format("2006-01-02T15:04:05.000Z") }
	hour := now.Truncate(time.Hour)
	files := map[string][]any{
		"-Users-dev-live/s-live.jsonl": {
			usageLine(ts(-100*time.Hour), "s-live", sonnet, 100, 200, 300, 400),
			usageLine(ts(-99*time.Hour), "s-live", opus, 10, 20, 30, 40),
			usageLine(hour.Add(-time.Hour+7*time.Minute).Format("2006-01-02T15:04:05.000Z"), "s-live", sonnet, 1200, 3400, 5600, 7800),
			usageLine(ts(-2*time.Minute), "s-live", opus, 120, 340, 560, 780).with("costUSD", 0.75),
		},
	}
	writeTranscripts(t, root, files)
	if err := os.WriteFile(filepath.Join(root, "now"), []byte(now.Format(time.RFC3339Nano)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
