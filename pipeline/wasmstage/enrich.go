package wasmstage

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/store"
)

// ConsumerName returns the name of an enrich or insight plugin's consumer, which names its cursor
// and its state in the store: "plugin:<name>".
func ConsumerName(plugin string) string { return "plugin:" + plugin }

// stateKV starts the keys of an enrich or insight consumer's state (store.Batch.PutState under
// ConsumerName) that hold the plugin's kv keyspace: 'k' <key>. (An insight consumer's cursors are
// the runner's, under 'c': pipeline.NewDerivedConsumer.)
const stateKV = 'k'

// Enrich is a pipeline.Consumer served by an enrich plugin. It gives the plugin each stored event
// as its JSON (sdk.Event.MarshalJSON: metadata only), and adds what the plugin emits, once the
// host has checked it (only kinds granted by emit:derived:<kind>), as derived records in the
// consumer's batch, so that they commit with its cursor: each event is enriched exactly once,
// across crashes and restarts. The plugin's kv keyspace is kept in the same batch.
//
// It is safe for concurrent use, but the pipeline runs one Consume at a time.
type Enrich struct {
	p    *host.Plugin
	st   *store.Store
	name string
}

var _ pipeline.Consumer = (*Enrich)(nil)

// NewEnrich returns the consumer of an enrich plugin granted read:events, over st.
func NewEnrich(p *host.Plugin, st *store.Store) (*Enrich, error) {
	m := p.Manifest()
	if m.Kind != host.KindEnrich {
		return nil, fmt.Errorf("new enrich: plugin %s is a %s plugin", m.Name, m.Kind)
	}
	if !p.Grants().Has(host.ClassReadEvents, "") {
		return nil, fmt.Errorf("new enrich: plugin %s was not granted read:events", m.Name)
	}
	return &Enrich{p: p, st: st, name: ConsumerName(m.Name)}, nil
}

// Name implements pipeline.Consumer: "plugin:<name>".
func (e *Enrich) Name() string { return e.name }

// Plugin returns the plugin that serves the consumer.
func (e *Enrich) Plugin() *host.Plugin { return e.p }

// Consume implements pipeline.Consumer: the entries in one call. A failed record (the plugin
// failed it, or the host refused what it emitted, audited) or a failed call (trap, deadline,
// output) is pipeline.Permanent, so the runner dead-letters the failing event; a call refused
// because ctx ended, the plugin was closed or is quarantined is retryable, so a quarantined plugin
// holds its cursor rather than dead-lettering every later event.
func (e *Enrich) Consume(ctx context.Context, entries []pipeline.Entry, b *store.Batch) error {
	return consume(ctx, e.p, e.st, entries, b, "")
}

// consume runs a consumer's plugin over entries, given as the JSON of their events, with its kv
// keyspace in b, and adds what it emits to b as derived records: of kind, or of the kind of each
// event the plugin emitted if kind is "". The errors are classified as Enrich.Consume says.
func consume(ctx context.Context, p *host.Plugin, st *store.Store, entries []pipeline.Entry, b *store.Batch, kind string) error {
	m := p.Manifest()
	recs := make([]host.Record, len(entries))
	for i := range entries {
		ev := &entries[i].Event
		js, err := ev.MarshalJSON()
		if err != nil {
			if m.Kind == host.KindInsight {
				return pipeline.Permanent(fmt.Errorf("insight %s: derived record %d: %w", m.Name, entries[i].Seq, err))
			}
			return pipeline.Permanent(fmt.Errorf("%s %s: event %s: %w", m.Kind, m.Name, ev.ID, err))
		}
		recs[i] = host.Record{ID: ev.ID, Received: ev.Time, Platform: ev.Platform, Payload: js}
	}
	kv := &batchKV{st: st, b: b, consumer: ConsumerName(m.Name), writes: map[string][]byte{}}
	outs, err := p.CallRecords(host.WithKV(ctx, kv), string(m.Kind), recs)
	if err != nil {
		return consumerErr(ctx, err)
	}
	for i, o := range outs {
		if o.Err != nil {
			return pipeline.Permanent(fmt.Errorf("%s %s: record %s: %w", m.Kind, m.Name, recs[i].ID, o.Err))
		}
	}
	for _, o := range outs {
		for j := range o.Events {
			k := kind
			if k == "" {
				k = o.Events[j].Kind
			}
			if err := b.AddDerived(k, &o.Events[j]); err != nil {
				return pipeline.Permanent(fmt.Errorf("%s %s: %w", m.Kind, m.Name, err))
			}
		}
	}
	return nil
}

// consumerErr classifies the error of a failed consumer call: retryable when ctx ended or the
// plugin was closed or is quarantined (the consumer holds its cursor until it runs again), else
// permanent (the runner dead-letters the failing entry).
func consumerErr(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, host.ErrClosed) || errors.Is(err, host.ErrQuarantined) {
		return err
	}
	return pipeline.Permanent(err)
}

// batchKV is a plugin's kv keyspace during one consumer call: reads see the store and the call's
// own writes, and writes go into the consumer's batch, so they commit with its cursor or not at
// all.
type batchKV struct {
	st       *store.Store
	b        *store.Batch
	consumer string

	mu     sync.Mutex
	writes map[string][]byte // guarded by mu
}

var _ host.KV = (*batchKV)(nil)

func kvStateKey(key []byte) []byte { return append([]byte{stateKV}, key...) }

// Get implements host.KV.
func (kv *batchKV) Get(_ string, key []byte) ([]byte, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if v, ok := kv.writes[string(key)]; ok {
		if len(v) == 0 {
			return nil, nil
		}
		return append([]byte{}, v...), nil
	}
	v, err := kv.st.State(kv.consumer, kvStateKey(key))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// Set implements host.KV. An empty value deletes the key, so that a plugin can keep its
// keyspace bounded.
func (kv *batchKV) Set(_ string, key, value []byte) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.writes[string(key)] = append([]byte{}, value...)
	if len(value) == 0 {
		kv.b.DeleteState(kv.consumer, kvStateKey(key))
		return nil
	}
	kv.b.PutState(kv.consumer, kvStateKey(key), value)
	return nil
}
