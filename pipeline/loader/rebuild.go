package loader

// What a rebuild of derived data (agent reindex, agent purge) needs of the loader: the enrich and
// insight plugins stopped while the daemon resets their cursors and state, then started again
// from the start of the log; and how far each has come, to wait until they caught up.

import (
	"maps"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/wasmstage"
)

// WhileStopped stops the enrich and insight plugins, runs fn while none of them runs, and then
// loads the registry's enabled plugins again (as Reload does), so that they start over from the
// cursors fn left: the start of the log, after a reset. Before Start nothing runs: fn runs alone
// and nothing is loaded. It fails with ErrClosed after Close; an error of fn is returned after
// the plugins are started again.
func (l *Loader) WhileStopped(fn func() error) (Reloaded, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return emptyReloaded(), ErrClosed
	}
	l.stopPluginConsumers()
	err := fn()
	if !l.started {
		return emptyReloaded(), err
	}
	res, rerr := l.reload()
	if err != nil {
		return res, err
	}
	return res, rerr
}

// ConsumerLag returns, for each running enrich and insight plugin ("plugin:<name>"), how many
// entries of its feed it has not consumed yet: events of the log, or derived records of the
// kinds it reads. It does not wait for a load.
func (l *Loader) ConsumerLag() map[string]uint64 {
	out := map[string]uint64{}
	if rc := l.running.Load(); rc != nil {
		if rc.runner != nil {
			maps.Copy(out, rc.runner.Lag())
		}
		for _, in := range rc.insights {
			out[in.Name()] = in.Lag()
		}
	}
	return out
}

// runningConsumers are the runners of the enrich and insight plugins that run now, for
// ConsumerLag.
type runningConsumers struct {
	runner   *pipeline.Consumers
	insights []*wasmstage.Insight
}
