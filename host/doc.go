// Package host owns the plugin runtime: plugin manifests ([Manifest], plugin.toml), the
// capabilities a plugin asks for and a user grants ([Capability], [Grants]), and running plugins as
// sandboxed WASM modules (Extism on wazero) under those grants.
//
// Everything is denied unless granted. A plugin sees only the record fields it was granted
// (projected before each call), calls only the host functions it was granted, and gets no network,
// no files but those granted (never Hangar's data directory), no environment and no arguments. The
// host checks every emission against the event schema and the kinds the manifest declares, and
// refuses any that carries content the plugin's instance was shown, in its record or before
// (window.go); the text a plugin controls that the host keeps (errors, log lines, kv) goes through
// the same check.
//
// A capture plugin serves the pipeline's capture stage of its platform through [Capture], which
// implements pipeline.Capture; the first-party Claude Code plugin (plugins/claude-code) is the
// default one.
package host
