// Package pipeline turns raw payloads from AI assistants into stored events and feeds them to
// consumers.
//
// The fast path is the [Intake]: it takes [RawRecord]s (a hook payload with its platform), runs
// each through the [Capture] stage of its platform, and hands the events to a single committer that
// groups them into synced Pebble batches (group commit). A caller is answered only after its events
// are durable. The queue in front of the committer is bounded: when it is full, Submit returns
// [ErrBusy] at once.
//
// The slow path is the [Consumers] runner: each [Consumer] reads the event log (or, run by
// [NewDerivedConsumer], the derived records of some kinds) from its own cursor, and its writes
// commit in the same batch as the cursor advance, so that it sees every entry exactly once across
// crashes. Package pipeline/wasmstage makes plugins into these stages.
//
// A record that fails with a permanent error goes to the dead-letter queue with the reason; a
// retryable error is retried with backoff; a record of a platform no capture serves for now
// ([ErrNoCapture]) is parked in a [Spool] until one does. The [Spool] keeps hook payloads on disk
// while the daemon is down, until the daemon drains them. A raw payload never rests in the clear:
// the spool seals it, and the store seals a dead letter's (package store/seal).
package pipeline
