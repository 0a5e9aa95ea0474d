// Package store owns Hangar's Pebble database: the key layout, the encoding of what is stored, the
// counters, the dead-letter queue, consumer cursors and retention.
//
// One process owns a store at a time (Pebble locks its directory); in Hangar that is the daemon, or
// the CLI when no daemon runs. A [Store] is safe for concurrent use. Events are appended through a
// [Batch], committed with a synced write: when Commit returns, the batch is durable. Only one batch
// appends events at a time, from its first event until its commit begins, and event batches commit
// in that order; other batches (consumers writing their state and cursors, the dead-letter queue)
// may commit concurrently.
//
// # Key layout
//
// Every key starts with one byte naming its keyspace: the event log, its indexes, cursors,
// consumers' state, the dead-letter queue, derived records, counters, metadata and checkpoints.
// The layout is described once, in docs/ARCHITECTURE.md ("Pebble key layout"), with the state
// keys of the built-in consumers; keys.go and the file of each keyspace build the keys.
package store
