package wasmstage

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/store"
)

// InsightConfig configures an Insight runner. Zero fields take their defaults.
type InsightConfig struct {
	// BatchSize is the most derived records given to one call. Default 256.
	BatchSize int
	// MaxBackoff bounds the wait between retries of a retryable error. Default 30s.
	MaxBackoff time.Duration
	// Logger receives the runner's logs. Nil discards them.
	Logger *slog.Logger
}

// Insight runs an insight plugin over the derived records of each kind it was granted
// (read:derived:<kind>), in sequence order, from a cursor per kind kept in its consumer state
// (ConsumerName), on the pipeline's consumers runner (pipeline.NewDerivedConsumer). What the
// plugin emits is stored as derived records of kind host.InsightKind(name), in the batch that
// advances the cursor: each derived record is seen exactly once, across crashes and restarts. A
// failed record is dead-lettered (stage "insight:<name>") and the cursor moves past it; a
// quarantined or closed plugin holds its cursor until it runs again.
//
// Lifecycle: NewInsight, Start, Close. It is safe for concurrent use.
type Insight struct {
	p    *host.Plugin
	name string
	r    *pipeline.Consumers
}

// NewInsight returns the runner of an insight plugin over st. Start starts it.
func NewInsight(p *host.Plugin, st *store.Store, cfg InsightConfig) (*Insight, error) {
	m := p.Manifest()
	if m.Kind != host.KindInsight {
		return nil, fmt.Errorf("new insight: plugin %s is a %s plugin", m.Name, m.Kind)
	}
	var kinds []string
	for _, c := range p.Grants().Of(host.ClassReadDerived) {
		kinds = append(kinds, c.Arg)
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("new insight: plugin %s was not granted any read:derived:<kind>", m.Name)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &insightConsumer{p: p, st: st, name: ConsumerName(m.Name), kind: host.InsightKind(m.Name)}
	r, err := pipeline.NewDerivedConsumer(st, c, kinds, "insight:"+m.Name, pipeline.ConsumersConfig{
		BatchSize: cfg.BatchSize, MaxBackoff: cfg.MaxBackoff, Logger: cfg.Logger.With("insight", m.Name),
	})
	if err != nil {
		return nil, fmt.Errorf("new insight: %w", err)
	}
	return &Insight{p: p, name: m.Name, r: r}, nil
}

// Name returns the runner's consumer name, "plugin:<name>".
func (in *Insight) Name() string { return ConsumerName(in.name) }

// Kind returns the derived kind the runner stores the plugin's insights under.
func (in *Insight) Kind() string { return host.InsightKind(in.name) }

// Plugin returns the plugin that serves the runner.
func (in *Insight) Plugin() *host.Plugin { return in.p }

// Start runs the plugin, woken by each commit of derived records.
func (in *Insight) Start() { in.r.Start() }

// Close stops the runner and waits for it. It is safe to call more than once, and without Start.
func (in *Insight) Close() { in.r.Close() }

// Lag returns how many derived records of the granted kinds the runner has not consumed yet.
func (in *Insight) Lag() uint64 { return in.r.Lag()[in.Name()] }

// insightConsumer is the pipeline.Consumer of an insight plugin: a call of the plugin over the
// derived records given, whose insights it adds to the batch.
type insightConsumer struct {
	p          *host.Plugin
	st         *store.Store
	name, kind string
}

var _ pipeline.Consumer = (*insightConsumer)(nil)

// Name implements pipeline.Consumer.
func (c *insightConsumer) Name() string { return c.name }

// Consume implements pipeline.Consumer, classifying errors as Enrich.Consume does.
func (c *insightConsumer) Consume(ctx context.Context, entries []pipeline.Entry, b *store.Batch) error {
	return consume(ctx, c.p, c.st, entries, b, c.kind)
}
