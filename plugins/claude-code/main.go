// Command claude-code is Hangar's first-party capture plugin for Claude Code hook payloads. It
// keeps the same allowlist of metadata as the built-in capture (package pipeline, ClaudeCode):
// event name, session id, tool name, tool use id, permission mode, model, a few enumerations,
// success flags, durations, and the sizes of text fields, never the text itself.
//
// It reads the text fields (prompt, tool input and response, messages) only to measure their size,
// which is why its manifest asks for content: grants; the host refuses any emission that carries
// them. The host fills in each event's id, platform and time. Two attributes of the built-in
// capture are the host's to give: payload_bytes (the plugin sees only its projection of the
// payload) and the hook.oversized event (an oversized payload never reaches a plugin).
//
// Build it with `just plugins`, which rebuilds the committed claude-code.wasm byte for byte.
package main

import "github.com/hangar-dev/hangar/sdk/pdk"

func init() { pdk.HandleCapture(capture) }

func main() {}
