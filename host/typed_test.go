package host

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
	"github.com/tidwall/gjson"
)

// exfilFields are the transcript fields that hold text beside metadata: a tool's result (file
// contents, command output, paths), a session's summary, an error message.
var exfilFields = []string{"toolUseResult", "summary", "error"}

// syntheticLines returns the JSON object lines of the claude-code plugin's synthetic records
// (hook payloads with an error message among them).
func syntheticLines(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open("../plugins/claude-code/testdata/synthetic.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 && l[0] == '{' && gjson.ValidBytes(l) {
			out = append(out, bytes.Clone(l))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// referenceIdent is the type rule's identifier, written independently of the projector: the
// raw JSON of a string of at most 64 ASCII letters, digits and ". _ - : +", without escapes.
var referenceIdent = regexp.MustCompile(`^"[A-Za-z0-9._:+-]{0,64}"$`)

// textOf collects the text of every string at or below r (keys included) that is not metadata by
// type, by its first 32 bytes (what exfil emits of a string).
func textOf(r gjson.Result, into map[string]bool) {
	add := func(s gjson.Result) {
		if s.Type == gjson.String && !referenceIdent.MatchString(s.Raw) && len(s.Str) >= 12 {
			into[s.Str[:min(32, len(s.Str))]] = true
		}
	}
	add(r)
	if r.IsObject() || r.IsArray() {
		r.ForEach(func(k, v gjson.Result) bool {
			add(k)
			textOf(v, into)
			return true
		})
	}
}

// TestReadPayloadWithholdsText: a plugin granted read:payload.toolUseResult, .summary and .error
// (no content: grant, so no leak check applies to it), run on the real transcript lines of the
// shared fixtures through the intake into a real store, for Claude Code and for a platform Hangar
// has never heard of, never sees their text: it stores every string it is shown, and none of the
// stored strings is text of those fields; it still sees their metadata (keys, numbers, flags,
// identifiers). Nothing is refused or dead-lettered: the projection, not a check of the output,
// keeps the text out.
func TestReadPayloadWithholdsText(t *testing.T) {
	lines := append(sharedTranscriptLines(t), syntheticLines(t)...)
	text := map[string]bool{}
	for _, l := range lines {
		for _, f := range exfilFields {
			textOf(gjson.GetBytes(l, f), text)
		}
	}
	if len(text) < 50 {
		t.Fatalf("%d texts in the fixtures' %v, want at least 50", len(text), exfilFields)
	}
	for _, platform := range []string{pipeline.PlatformClaudeCode, "never-heard-of"} {
		t.Run(platform, func(t *testing.T) {
			h := newTestHost(t, Config{})
			caps := []string{"read:payload.type"}
			for _, f := range exfilFields {
				caps = append(caps, "read:payload."+f)
			}
			m := testManifest("exfil", caps, Limits{})
			m.Platform = platform
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			g, err := NewGrants(m.Capabilities)
			if err != nil {
				t.Fatal(err)
			}
			p, err := h.Load(m, testWasm["exfil"], g)
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewCapture(p)
			if err != nil {
				t.Fatal(err)
			}
			st, err := store.Open(t.TempDir(), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			in, err := pipeline.NewIntake(st, pipeline.Captures{platform: c}, pipeline.IntakeConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close(context.Background())
			for lo := 0; lo < len(lines); lo += 100 {
				recs := make([]pipeline.RawRecord, 0, 100)
				for i, l := range lines[lo:min(lo+100, len(lines))] {
					recs = append(recs, pipeline.RawRecord{ID: sdk.NewID("exfil", fmt.Append(nil, lo+i)), Platform: platform,
						Source: "import", ReceivedAt: time.Now(), Payload: l})
				}
				res, err := in.Submit(context.Background(), recs)
				if err != nil {
					t.Fatal(err)
				}
				if res.DeadLettered != 0 {
					t.Fatalf("%d records dead-lettered, want 0", res.DeadLettered)
				}
			}
			var leaked, seen int64
			for seq := uint64(1); seq <= st.LastSeq(); seq++ {
				ev, err := st.Event(seq)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range ev.Attrs {
					switch {
					case a.Value.Kind() == sdk.KindHash && text[string(a.Value.Hash())]:
						leaked++
					case ev.Kind == "exfil.seen" && a.Key == "strings":
						seen += a.Value.Int()
					}
				}
			}
			if s := p.Status(); s.Refused != 0 || s.RecordErrors != 0 {
				t.Errorf("refused %d, record errors %d; want 0 and 0", s.Refused, s.RecordErrors)
			}
			if leaked != 0 {
				t.Errorf("the store holds %d strings of the text of %v, which the plugin was granted by read:payload only", leaked, exfilFields)
			}
			if seen < int64(len(lines)) {
				t.Errorf("the plugin saw %d strings in %d records: it should still see their metadata", seen, len(lines))
			}
		})
	}
}
