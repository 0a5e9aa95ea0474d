//go:build !wasip1

package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/wasmstage"
	"github.com/hangar-dev/hangar/plugins"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// TestDaemonPath checks that the agent runs the plugin as it is embedded: the registry over the
// embedded plugins has it built in, enabled, granted its manifest; and its consumer
// (wasmstage.Enrich, as pipeline/loader starts it) over a real store, committing each call's
// batch, stores the records runHost gets.
func TestDaemonPath(t *testing.T) {
	reg, err := host.OpenRegistry(t.TempDir(), host.RegistryOptions{Builtin: plugins.FS()})
	if err != nil {
		t.Fatal(err)
	}
	e, err := reg.Get("conversations")
	if err != nil {
		t.Fatal(err)
	}
	if !e.Enabled || e.Source != host.SourceBuiltin || e.Manifest.Kind != host.KindEnrich || !slices.Equal(e.Granted, e.Manifest.Capabilities) {
		t.Fatalf("conversations: enabled %v, source %s, kind %s, granted %v of %v", e.Enabled, e.Source, e.Manifest.Kind, e.Granted, e.Manifest.Capabilities)
	}

	hooks, transcripts, synth := fixtures(t)
	events := slices.Concat(transcripts, synth, hooks[:300])
	want := runHost(t, load(t, "."), events, 256)

	h, err := host.New(host.Config{Secret: testSecret, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	m, wasm, err := host.ReadPluginDir(".")
	if err != nil {
		t.Fatal(err)
	}
	g, err := host.NewGrants(e.Granted)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(m, wasm, g)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := wasmstage.NewEnrich(p, st)
	if err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < len(events); lo += 256 {
		var entries []pipeline.Entry
		for i, ev := range events[lo:min(lo+256, len(events))] {
			entries = append(entries, pipeline.Entry{Seq: uint64(lo + i + 1), Event: ev})
		}
		b := st.NewBatch()
		if err := c.Consume(context.Background(), entries, b); err != nil {
			t.Fatalf("consume events %d on: %v", lo, err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	got := finalView{}
	for _, kind := range []string{kindSession, kindTurn, kindTool} {
		if _, err := st.ScanDerived(kind, 0, 0, func(_ uint64, ev *sdk.Event) error {
			k, _ := ev.Attr("key")
			r := *ev
			// The id names the call's record it was attached to, the ingest time when the store
			// committed it: neither is part of the value.
			r.ID, r.IngestTime, r.Attrs = sdk.ID{}, time.Time{}, slices.Clone(ev.Attrs)
			got[r.Kind+" "+k.Ident()] = r
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if d := diffViews(want, got); d != "" {
		t.Fatal(d)
	}
	t.Logf("%d events, %d records in the store's view", len(events), len(got))
}
