package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
	"github.com/pelletier/go-toml/v2"
	"github.com/tidwall/gjson"
)

const fixturesDir = "../../../shared/fixtures/claude-code/hooks"

// project keeps only the top-level fields the manifest asks for (read:payload.<f>, content:<f>),
// copying their raw JSON as the host's projection does.
func project(payload []byte, fields []string) []byte {
	b := []byte{'{'}
	for _, f := range fields {
		if v := gjson.GetBytes(payload, f); v.Exists() {
			if len(b) > 1 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, f...)
			b = append(b, '"', ':')
			b = append(b, v.Raw...)
		}
	}
	return append(b, '}')
}

// TestMirrorsBuiltinCapture runs the plugin's capture over every real hook payload, projected to
// the fields its manifest asks for, and checks that it yields what the built-in capture does
// (less payload_bytes, which is the host's to add). The committed module, run by the host's
// capture stage, must yield exactly what the built-in capture does, payload_bytes and oversized
// records included: host.TestCaptureMirrorsBuiltin checks that (this package cannot import the
// host).
func TestMirrorsBuiltinCapture(t *testing.T) {
	data, err := os.ReadFile("plugin.toml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Capabilities []string `toml:"capabilities"`
	}
	if err := toml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, c := range m.Capabilities {
		if f, ok := strings.CutPrefix(c, "read:payload."); ok {
			fields = append(fields, f)
		} else if f, ok := strings.CutPrefix(c, "content:"); ok {
			fields = append(fields, f)
		}
	}
	n := 0
	err = filepath.WalkDir(fixturesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var payloads []json.RawMessage
		if err := json.Unmarshal(raw, &payloads); err != nil {
			return err
		}
		for i, p := range payloads {
			rec := pipeline.RawRecord{Platform: pipeline.PlatformClaudeCode, ReceivedAt: time.Unix(0, 0).UTC(), Payload: p}
			want, werr := pipeline.ClaudeCode{}.Capture(&rec)
			got, gerr := capture(pdk.Record{JSON: project(p, fields)})
			if (werr != nil) != (gerr != nil) {
				t.Errorf("%s[%d]: built-in error %v, plugin error %v", path, i, werr, gerr)
				continue
			}
			if werr != nil {
				continue
			}
			if len(got) != 1 || len(want) != 1 {
				t.Fatalf("%s[%d]: %d events, built-in %d", path, i, len(got), len(want))
			}
			w := want[0]
			var wattrs []sdk.Attr
			for _, a := range w.Attrs {
				if a.Key != "payload_bytes" {
					wattrs = append(wattrs, a)
				}
			}
			g := got[0]
			if g.Kind != w.Kind || g.SessionID != w.SessionID || !attrsEqual(g.Attrs, wattrs) {
				t.Errorf("%s[%d]:\n plugin   %s %s %v\n built-in %s %s %v", path, i, g.Kind, g.SessionID, g.Attrs, w.Kind, w.SessionID, wattrs)
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 1000 {
		t.Errorf("compared %d payloads, want at least 1000", n)
	}
}

func attrsEqual(a, b []sdk.Attr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

func TestRefusesBadRecords(t *testing.T) {
	for _, in := range []string{``, `[]`, `{}`, `{"hook_event_name":""}`, `{"hook_event_name":"a b"}`, `{`} {
		if evs, err := capture(pdk.Record{JSON: []byte(in)}); err == nil {
			t.Errorf("capture(%q) = %v, want an error", in, evs)
		}
	}
}
