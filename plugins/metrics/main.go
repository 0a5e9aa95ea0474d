// Command metrics is Hangar's first-party metrics plugin (kind enrich). It reads the events the
// capture plugins store and keeps time-bucketed metrics of them: records of kinds metrics.1m,
// metrics.5m, metrics.1h and metrics.1d, one per bucket, dimension and value, keyed
// "<bucket start, Unix seconds, 10 digits>/<dim>/<value>" (docs/METRICS.md and README.md define
// every attribute).
//
// It runs as a batch handler (pdk.HandleEnrichBatch): each call loads the kv state its records
// touch once, aggregates in memory, writes the state back and emits each bucket record it changed
// once, attached to the call's last record. Every number is a sum of contributions that are pure
// functions of merged, order-independent facts (a tool call's, a session's, a response's), and a
// change of facts subtracts the old contribution and adds the new one, so the final record of a
// key is the same whatever the order and the batching of the events.
//
// Build it with `just plugins`, which rebuilds the committed metrics.wasm byte for byte.
package main

import (
	"github.com/hangar-dev/hangar/sdk/pdk"
)

func init() {
	pdk.HandleEnrichBatch(handle)
}

// handle is the batch handler: every record of the call in one engine run, the emissions
// attached to the last record.
func handle(recs []pdk.Record) []pdk.Result {
	results := make([]pdk.Result, len(recs))
	if len(recs) == 0 {
		return results
	}
	evs := make([]event, 0, len(recs))
	for _, r := range recs {
		if ev, ok := parseEvent(r.JSON); ok {
			evs = append(evs, ev)
		}
	}
	e := newEngine(hostKV)
	results[len(recs)-1].Events = e.run(evs)
	return results
}

func main() {}
