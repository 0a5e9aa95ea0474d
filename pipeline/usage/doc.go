// Package usage keeps token-usage rollups of AI coding assistants up to date as entries arrive, and
// builds reports from them whose JSON is byte-for-byte the shape of ccusage 20.0.24's `--json`
// output (daily, weekly, monthly, session and blocks), without rescanning transcripts.
//
// The unit of storage is the [Bucket]: the sums of every [Entry] that shares a [BucketKey], that
// is a 15-minute UTC slot, a session, a project key and a model. Fifteen minutes divides every
// real time-zone offset, so the day, week or month of a bucket is the same for all of its entries
// in any zone, and a report for any zone is an exact sum of buckets. Billing blocks (ccusage's
// 5-hour windows) start on whole hours and split entries only on gaps longer than the block
// length, so they too are exact sums of buckets once an entry that falls exactly on a slot
// boundary is kept in its own bucket (see [BucketKey.AtStart]).
//
// The package does not read transcripts, deduplicate them or price tokens: the caller turns each
// deduplicated usage record into an [Entry] with its three costs already computed (one per cost
// mode) and calls [Bucket.Add] or [Rollup.Add]. Package pipeline/usagestore is that caller for the
// agent: it keeps a rollup in the store, and reads a time span's buckets with one seek
// ([AppendTimeBound]). Buckets have an order-preserving key encoding
// ([BucketKey.AppendKey]) and a compact value encoding ([Bucket.AppendBinary]) with a merge
// ([Bucket.Merge], [MergeBinary]) so that a store can keep them in Pebble with a merge operator
// or read-modify-write.
//
// Reports ([Daily], [Weekly], [Monthly], [Session], [Blocks]) are pure functions of a set of
// buckets and [Options]; their results write ccusage's exact JSON with WriteJSON.
//
// Fidelity: tokens, entry counts, dates, block boundaries, gaps, activity times and the JSON
// layout are exact (checked against the real ccusage in testdata/ccusage and, for every report,
// against an entry-by-entry reference on random entries). Costs are float sums that ccusage adds
// entry by entry and buckets add per slot first, so their last bits can differ (about 1e-16
// relative; most reports in testdata are byte-identical anyway). Model lists follow ccusage's
// file order, rebuilt as (project name, session, time, [Entry.Seq]); they match when project
// names sort like ccusage's transcript paths and a transcript's lines are in time order.
//
// None of the types here are safe for concurrent mutation; reports only read their input.
package usage
