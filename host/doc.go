// Package host will own the plugin runtime: loading platform, enrichment and insight plugins as
// sandboxed WASM modules (Extism on wazero), their manifests, and the capabilities a user grants
// them. A plugin will see only the data fields and host functions its manifest asks for and the
// user granted, and the host will check every emission against the event schema and the content the
// plugin was shown.
//
// Until it lands, the pipeline's capture stage (pipeline.Capture) is served by the built-in
// pipeline.ClaudeCode capture; the host will plug in behind the same interface.
package host
