// Package wasmstage makes sandboxed WASM plugins (package host) into pipeline stages: a capture
// plugin into the capture stage of its platform ([Capture], a pipeline.Capture and
// pipeline.BatchCapture), an enrich plugin into a consumer of the event log ([Enrich], a
// pipeline.Consumer), and an insight plugin into a consumer of the derived records it was granted
// ([Insight], run by the pipeline's consumers runner).
//
// The host runs the plugin and enforces its grants; this package gives each stage what the
// pipeline expects of it: the records it is shown, what its events and derived records are
// (payload_bytes, oversized records, derived kinds), where its kv keyspace is kept (in the batch
// that advances its cursor) and which of its errors are permanent (dead-lettered) or retried.
package wasmstage
