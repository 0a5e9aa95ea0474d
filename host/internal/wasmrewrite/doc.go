// Package wasmrewrite rewrites WASM binary modules so that the host can stop them: Instrument
// adds fuel checks and a yield import to every function and loop (see Instrument), so that a
// guest running in compiled code, which the Go scheduler cannot preempt, yields often enough for
// a stop-the-world and ends its call soon after the deadline, measured in its own goroutine.
// Imports reads a module's imports, which the host checks before it compiles one.
//
// It reads untrusted bytes: every decoder in it fails with an error on bad input, never panics,
// and sizes nothing from a count the input has not backed with bytes (FuzzInstrumentInterrupts).
// docs/RATIONALE.md ("Plugin runtime: interrupting guests") says why it is done this way.
package wasmrewrite
