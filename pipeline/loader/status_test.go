package loader

import (
	"testing"

	"github.com/hangar-dev/hangar/host"
	"github.com/prometheus/client_golang/prometheus"
)

// statusOf returns the status of the plugin name, failing the test if there is none.
func statusOf(t *testing.T, l *Loader, name string) PluginStatus {
	t.Helper()
	for _, ps := range l.PluginStatus() {
		if ps.Name == name {
			return ps
		}
	}
	t.Fatalf("no status for plugin %s in %+v", name, l.PluginStatus())
	return PluginStatus{}
}

// metric returns the value of the /metrics sample name{plugin=plugin}, or -1 if there is none.
func metric(t *testing.T, l *Loader, name, plugin string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(l)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "plugin" && lp.GetValue() == plugin {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// TestReloadKeepsCounters: a plugin that a reload finds unchanged (same manifest, module, grants
// and install) stays loaded as it was, so its counters in status and /metrics carry on across
// a change to another plugin; they used to restart from zero at any reload, because every plugin
// was loaded again. A plugin whose grants changed is loaded again, from zero, and so is one that
// was unloaded (disabled) and enabled again.
func TestReloadKeepsCounters(t *testing.T) {
	e := newTestEnv(t)
	e.install(t, buildPluginFolder(t, "adversarial/trap", "trapper", host.KindCapture, "claude-code", trapCaps...))
	e.install(t, buildPluginFolder(t, "enrich-toolstats", "toolstats", host.KindEnrich, "", "read:events", "emit:derived:tool-stats", "kv"))
	st := e.openStore(t)
	l := e.loader(t, Config{})
	if _, err := l.Start(st); err != nil {
		t.Fatal(err)
	}
	const captured = 5
	capture := func(n int) {
		t.Helper()
		for range n {
			rec := newRecord(hookPayload)
			if _, err := e.swap.Capture(&rec); err != nil {
				t.Fatalf("capture: %v", err)
			}
		}
	}
	capture(captured)
	enrich := l.cur.Load().Plugin("toolstats")

	// Another plugin changes: the capture plugin keeps its counts.
	if err := e.reg.Revoke("toolstats", "kv"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := statusOf(t, l, "trapper"); got.Calls != captured || got.Records != captured || !got.Running {
		t.Errorf("after a reload that changed another plugin, trapper has calls %d, records %d, running %v; want %d, %d, true",
			got.Calls, got.Records, got.Running, captured, captured)
	}
	if got := metric(t, l, "hangar_plugin_calls_total", "trapper"); got != captured {
		t.Errorf("after a reload that changed another plugin, hangar_plugin_calls_total{plugin=trapper} = %v, want %d", got, captured)
	}
	if got := l.cur.Load().Plugin("toolstats"); got == enrich || got == nil {
		t.Errorf("toolstats, whose grants changed, was not loaded again (%p, before %p)", got, enrich)
	}
	capture(1)
	if got := statusOf(t, l, "trapper").Calls; got != captured+1 {
		t.Errorf("trapper counts %d calls after one more, want %d", got, captured+1)
	}

	// The plugin's own grants change: it is loaded again, from zero.
	if err := e.reg.Revoke("trapper", "read:payload.mode"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := statusOf(t, l, "trapper").Calls; got != 0 {
		t.Errorf("trapper, whose grants changed, counts %d calls after the reload, want 0 (loaded again)", got)
	}
	capture(2)

	// Disabled, then enabled again: unloaded in between, so it starts from zero.
	for _, change := range []func(string) error{e.reg.Disable, e.reg.Enable} {
		if err := change("trapper"); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	if got := statusOf(t, l, "trapper"); got.Calls != 0 || !got.Running {
		t.Errorf("trapper disabled and enabled again: calls %d, running %v; want 0, true", got.Calls, got.Running)
	}
}

// TestCaptureOnly: a loader for a command that captures and exits runs no enrich plugin (none of its runners starts, and it is not loaded); the same registry
// under a loader of the daemon runs it.
func TestCaptureOnly(t *testing.T) {
	e := newTestEnv(t)
	e.install(t, buildPluginFolder(t, "enrich-toolstats", "toolstats", host.KindEnrich, "", "read:events", "emit:derived:tool-stats", "kv"))
	st := e.openStore(t)
	cfg := e.config()
	cfg.CaptureOnly = true
	l := e.loader(t, cfg)
	if _, err := l.Start(st); err != nil {
		t.Fatal(err)
	}
	if n := waitRunners(0); n != 0 {
		t.Errorf("%d plugin runners with CaptureOnly, want none", n)
	}
	if l.cur.Load().Plugin("toolstats") != nil {
		t.Error("the enrich plugin was loaded with CaptureOnly")
	}
	l.Close()

	daemon := e.loader(t, e.config())
	if _, err := daemon.Start(st); err != nil {
		t.Fatal(err)
	}
	if n := waitRunners(1); n != 1 {
		t.Errorf("%d plugin runners without CaptureOnly, want the enrich plugin's", n)
	}
}
