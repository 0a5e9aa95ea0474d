// Command slow-commands is Hangar's first-party insight plugin "slow shell commands that dominate
// session time". It reads the tool calls of the conversations plugin (conversation.tool records:
// for Bash, the program name in command and the call's duration_ms) and its sessions
// (conversation.session: active_ms, else duration_ms), and over the newest MaxSessions sessions
// sums each command's time against the sessions' time. A command that takes a large share gets an
// insight keyed by the command (code slow_command; plugin.toml holds its title and suggestion);
// once it no longer does, the same key is emitted again with resolved set.
//
// Records converge (the conversations plugin re-emits a tool call as it learns more), so the
// plugin remembers each session's calls by tool_use_id and replaces a call's earlier duration.
// State lives in kv, bounded: an index of the sessions (one value) and one value per session.
// It is read and written once per call (pdk.HandleInsightBatch); each changed insight is emitted
// once per call.
//
// Build it with `just plugins`, which rebuilds the committed slow-commands.wasm byte for byte.
package main

import "github.com/hangar-dev/hangar/sdk/pdk"

func init() { pdk.HandleInsightBatch(handle) }

func main() {}
