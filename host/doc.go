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
// The host is the sandbox only: it imports no pipeline and no store package. Package
// pipeline/wasmstage makes its plugins into pipeline stages (a capture plugin into the capture
// stage of its platform, an enrich or insight plugin into a consumer); the first-party Claude Code
// plugin (plugins/claude-code) is the default capture plugin.
package host
