package host

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// InsightKindPrefix starts the derived kind under which an insight plugin's output is stored:
// "insight.<plugin>". No enrich plugin may emit a kind with this prefix.
const InsightKindPrefix = "insight."

// InsightKind returns the derived kind of an insight plugin's output.
func InsightKind(plugin string) string { return InsightKindPrefix + plugin }

// ConsumerName returns the name of an enrich or insight plugin's consumer, which names its cursor
// and its state in the store: "plugin:<name>".
func ConsumerName(plugin string) string { return "plugin:" + plugin }

// DerivedID returns the id of the i-th derived record a plugin emitted for a source event or
// derived record. It is deterministic, so a replay makes the same ids.
func DerivedID(plugin string, source sdk.ID, i int) sdk.ID {
	return sdk.NewID("derived", []byte(plugin), source[:], binary.BigEndian.AppendUint64(nil, uint64(i)))
}

// Keys of an enrich or insight consumer's state (store.Batch.PutState under ConsumerName).
const (
	stateKV     = 'k' // 'k' <key>: the plugin's kv keyspace
	stateCursor = 'c' // 'c' <kind>: an insight plugin's cursor in the derived records of a kind
)

// Enrich is a pipeline.Consumer served by an enrich plugin. It gives the plugin each stored event
// as its JSON (sdk.Event.MarshalJSON: metadata only), and adds what the plugin emits, once the
// host has checked it (only kinds granted by emit:derived:<kind>), as derived records in the
// consumer's batch, so that they commit with its cursor: each event is enriched exactly once,
// across crashes and restarts. The plugin's kv keyspace is kept in the same batch.
//
// It is safe for concurrent use, but the pipeline runs one Consume at a time.
type Enrich struct {
	p  *Plugin
	st *store.Store
}

var _ pipeline.Consumer = (*Enrich)(nil)

// NewEnrich returns the consumer of an enrich plugin granted read:events, over st.
func NewEnrich(p *Plugin, st *store.Store) (*Enrich, error) {
	if p.m.Kind != KindEnrich {
		return nil, fmt.Errorf("new enrich: plugin %s is a %s plugin", p.m.Name, p.m.Kind)
	}
	if !p.g.Has(ClassReadEvents, "") {
		return nil, fmt.Errorf("new enrich: plugin %s was not granted read:events", p.m.Name)
	}
	return &Enrich{p: p, st: st}, nil
}

// Name implements pipeline.Consumer: "plugin:<name>".
func (e *Enrich) Name() string { return ConsumerName(e.p.m.Name) }

// Plugin returns the plugin that serves the consumer.
func (e *Enrich) Plugin() *Plugin { return e.p }

// Consume implements pipeline.Consumer: the entries in one call. A failed record (the plugin
// failed it, or the host refused what it emitted, audited) or a failed call (trap, deadline,
// output) is pipeline.Permanent, so the runner dead-letters the failing event; a call refused
// because ctx ended, the plugin was closed or is quarantined is retryable, so a quarantined plugin
// holds its cursor rather than dead-lettering every later event.
func (e *Enrich) Consume(ctx context.Context, entries []pipeline.Entry, b *store.Batch) error {
	recs := make([]Record, len(entries))
	for i := range entries {
		ev := &entries[i].Event
		js, err := ev.MarshalJSON()
		if err != nil {
			return pipeline.Permanent(fmt.Errorf("enrich %s: event %s: %w", e.p.m.Name, ev.ID, err))
		}
		recs[i] = Record{ID: ev.ID, Received: ev.Time, Platform: ev.Platform, Payload: js}
	}
	outs, err := callConsumer(ctx, e.p, e.st, b, recs)
	if err != nil {
		return err
	}
	for _, o := range outs {
		for j := range o.Events {
			if err := b.AddDerived(o.Events[j].Kind, &o.Events[j]); err != nil {
				return pipeline.Permanent(fmt.Errorf("enrich %s: %w", e.p.m.Name, err))
			}
		}
	}
	return nil
}

// callConsumer calls a consumer's plugin over records with its kv keyspace in b, and classifies
// the errors: the first failed record's, or the call's, as pipeline.Permanent, except when ctx
// ended or the plugin was closed or quarantined.
func callConsumer(ctx context.Context, p *Plugin, st *store.Store, b *store.Batch, recs []Record) ([]Outcome, error) {
	kv := &batchKV{st: st, b: b, consumer: ConsumerName(p.m.Name), writes: map[string][]byte{}}
	outs, err := p.CallRecords(withKV(ctx, kv), string(p.m.Kind), recs)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrQuarantined) {
			return nil, err
		}
		return nil, pipeline.Permanent(err)
	}
	for i, o := range outs {
		if o.Err != nil {
			return nil, pipeline.Permanent(fmt.Errorf("%s %s: record %s: %w", p.m.Kind, p.m.Name, recs[i].ID, o.Err))
		}
	}
	return outs, nil
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

var _ KV = (*batchKV)(nil)

func kvStateKey(key []byte) []byte { return append([]byte{stateKV}, key...) }

// Get implements KV.
func (kv *batchKV) Get(_ string, key []byte) ([]byte, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if v, ok := kv.writes[string(key)]; ok {
		return append([]byte{}, v...), nil
	}
	v, err := kv.st.State(kv.consumer, kvStateKey(key))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// Set implements KV.
func (kv *batchKV) Set(_ string, key, value []byte) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.writes[string(key)] = append([]byte{}, value...)
	kv.b.PutState(kv.consumer, kvStateKey(key), value)
	return nil
}
