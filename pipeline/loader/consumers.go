package loader

// Enrich and insight plugins in the daemon: each enabled enrich plugin runs as a consumer of the
// event log (wasmstage.Enrich, named "plugin:<name>"), each enabled insight plugin over the derived
// records it was granted (wasmstage.Insight). A reload stops them all and starts the enabled ones
// again, holding the loader's lock throughout; their cursors are in the store, so they resume
// where they stopped.

import (
	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/wasmstage"
	"github.com/hangar-dev/hangar/store"
)

// pluginConsumers are the running enrich and insight plugins, over the store Start was given.
// Guarded by Loader.mu.
type pluginConsumers struct {
	st       *store.Store
	runner   *pipeline.Consumers
	insights []*wasmstage.Insight
}

// stopPluginConsumers stops the enrich and insight plugins and waits for them. l.mu is held: a
// call of theirs that ends in a quarantine does not take it (onQuarantine).
func (l *Loader) stopPluginConsumers() {
	l.running.Store(nil)
	if l.pc.runner != nil {
		l.pc.runner.Close()
	}
	for _, in := range l.pc.insights {
		in.Close()
	}
	l.pc.runner, l.pc.insights = nil, nil
}

// startPluginConsumers loads the enabled enrich and insight plugins of list, marks them in
// loaded (so that the reload keeps them) and starts them. l.mu is held, and the previous ones are
// stopped (stopPluginConsumers).
func (l *Loader) startPluginConsumers(list []host.PluginEntry, loaded map[string]bool) {
	if l.cfg.CaptureOnly {
		return
	}
	var enrich []pipeline.Consumer
	for i := range list {
		p := &list[i]
		m := p.Manifest
		if !p.Enabled || (m.Kind != host.KindEnrich && m.Kind != host.KindInsight) {
			continue
		}
		if l.pc.st == nil {
			l.log.Warn("plugin not run: no store", "plugin", m.ID())
			continue
		}
		hp, err := l.loadPlugin(p)
		if err != nil {
			l.log.Error("load plugin", "plugin", m.ID(), "err", err)
			continue
		}
		if m.Kind == host.KindEnrich {
			c, err := wasmstage.NewEnrich(hp, l.pc.st)
			if err != nil {
				l.log.Error("plugin not run", "plugin", m.ID(), "err", err)
				continue
			}
			enrich = append(enrich, c)
		} else {
			in, err := wasmstage.NewInsight(hp, l.pc.st, wasmstage.InsightConfig{Logger: l.log})
			if err != nil {
				l.log.Error("plugin not run", "plugin", m.ID(), "err", err)
				continue
			}
			l.pc.insights = append(l.pc.insights, in)
		}
		loaded[m.Name] = true
	}
	if len(enrich) > 0 {
		r, err := pipeline.NewConsumers(l.pc.st, enrich, pipeline.ConsumersConfig{Logger: l.log.With("component", "plugin-consumers")})
		if err != nil {
			l.log.Error("enrich plugins not run", "err", err)
		} else {
			l.pc.runner = r
			r.Start()
		}
	}
	for _, in := range l.pc.insights {
		in.Start()
	}
	l.running.Store(&runningConsumers{runner: l.pc.runner, insights: l.pc.insights})
}
