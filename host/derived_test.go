package host

import (
	"encoding/binary"
	"testing"

	"github.com/hangar-dev/hangar/sdk"
)

func TestEnrichRefusesInsightKinds(t *testing.T) {
	h := newTestHost(t, Config{})
	// Granted emit:derived:insight.x, an enrich plugin still may not forge an insight plugin's
	// output. (The check reads the manifest and grants only: echo's module stands in.)
	m := testManifest("echo", []string{"read:events", "emit:derived:" + InsightKind("x"), "emit:derived:ok"}, Limits{})
	m.Kind, m.Platform, m.Emits = KindEnrich, "", nil
	m.Capabilities = m.Capabilities[1:] // no emit:events
	g, err := NewGrants(m.Capabilities)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, testWasm["echo"], g)
	if err != nil {
		t.Fatal(err)
	}
	evs := []sdk.Event{{Kind: InsightKind("x")}}
	if err := p.checkRecord(&Record{ID: sdk.NewID("t"), Platform: "claude-code"}, nil, evs); err == nil {
		t.Error("an enrich plugin emitted an insight kind")
	}
	evs = []sdk.Event{{Kind: "x"}}
	if err := p.checkRecord(&Record{ID: sdk.NewID("t"), Platform: "claude-code"}, nil, evs); err == nil {
		t.Error("an enrich plugin emitted a kind it was not granted")
	}
	evs = []sdk.Event{{Kind: "ok"}}
	if err := p.checkRecord(&Record{ID: sdk.NewID("t"), Platform: "claude-code"}, nil, evs); err != nil {
		t.Errorf("a granted kind: %v", err)
	}
}

func TestDerivedID(t *testing.T) {
	src := sdk.NewID("t", []byte("event"))
	a, b := DerivedID("p", src, 0), DerivedID("p", src, 1)
	if a == b || a != DerivedID("p", src, 0) || a == DerivedID("q", src, 0) {
		t.Error("DerivedID is not deterministic per plugin, source and index")
	}
}

// TestCapturedID pins the ids of captured events, as pipeline's TestEventID pins pipeline.EventID:
// stored events keep them, so a record captured again must yield them unchanged.
func TestCapturedID(t *testing.T) {
	rec := sdk.NewID("hook", []byte("a record"))
	tests := []struct {
		name string
		i    int
		want sdk.ID
	}{
		{"first", 0, sdk.NewID("record", []byte("claude-code"), rec[:], []byte{0, 0})},
		{"two bytes", 0x1234, sdk.NewID("record", []byte("claude-code"), rec[:], []byte{0x12, 0x34})},
		{"past two bytes", 1 << 16, sdk.NewID("record", []byte("claude-code"), rec[:], binary.BigEndian.AppendUint64(nil, 1<<16))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := capturedID("claude-code", rec, tt.i); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	if capturedID("claude-code", rec, 0) == capturedID("other", rec, 0) {
		t.Error("two platforms give a record's event the same id")
	}
}
