// Package usagestore keeps the usage rollup in the store: the built-in consumer that keeps usage
// buckets up to date as transcript.usage events arrive, and the read side that reports sum them
// from.
//
// "Rollup" means one thing in this package and in package usage: the set of usage buckets, one
// per [usage.BucketKey]. A [usage.Rollup] holds one in memory; a [Rollup] here holds one in the
// store, built from the event log: it deduplicates the usage copies of one response as ccusage
// does, prices each entry under the three cost modes (package pricing) and adds it to its bucket,
// committing with its cursor so that each event counts exactly once across crashes. Reports are
// then sums of buckets ([Buckets]), never a rescan.
//
// The package has four layers, a file each:
//
//   - rollup.go, dedup and buckets: [Rollup] and its Consume, which reads usage events into
//     deduplicated entries and keeps each bucket the sum of its entries;
//   - reprice.go, prices: how an entry is priced from what it keeps, and [Rollup.Reprice], which
//     prices every stored entry again with another table;
//   - codec.go: the keys of the rollup's state and the binary encoding of a stored entry;
//   - read.go, the read API: [Buckets] over a time span (a seek, not a scan from the first
//     bucket) and [UnpricedModels]; they need only the store, opened read-only or not.
//
// The rollup keeps its state under consumer [Name] ("usage"); its keys are listed with the
// store's, in docs/ARCHITECTURE.md ("Pebble key layout"). The value encodings are in codec.go
// (entries) and package usage (buckets).
package usagestore
