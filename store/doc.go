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
// Every key starts with one byte naming its keyspace. Integers are 8-byte big-endian so that keys
// sort numerically; times are Unix nanoseconds with the sign bit flipped, so they sort in time order.
//
//	e <seq>                          -> event (sdk binary encoding)     the event log, in ingest order
//	i <id:16>                        -> <seq>                           dedup index by event id
//	s <session> 0x00 <time> <seq>    -> (empty)                         index by session and event time
//	t <time> <seq>                   -> (empty)                         index by event time
//	c <consumer>                     -> <seq>                           consumer cursors
//	x <consumer> 0x00 <key>          -> value                           consumers' own state
//	d <dlq-seq>                      -> DLQ record (JSON, payload sealed) the dead-letter queue
//	r <kind> 0x00 <seq>              -> event (sdk binary encoding)     derived records by kind (enrich, insight plugins)
//	n <name>                         -> int64 delta (merge operator)    counters: events by platform/kind, DLQ size
//	m <name>                         -> value                           metadata (format version, last sequence numbers)
//	k <source> 0x00 <file>           -> checkpoint (binary)             tailers' positions in files (checkpoints.go)
package store
