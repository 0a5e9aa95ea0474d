// Command conversations is Hangar's first-party enrich plugin that rebuilds conversations from
// the events of the claude-code capture plugin: each session, its turns (a user prompt and what
// answered it), and its tool calls with their duration, status, error kind and permission
// decision. It works from hook events alone, transcript events alone, or both, joining a tool
// call's events by tool_use_id, a prompt's by session, prompt hash and time, and an assistant
// message's usage by message id and request id, so nothing is counted twice.
//
// It keeps each session's facts in its kv keyspace and recomputes the session's records from all
// of them on every call that touches the session, emitting a keyed record (attribute key) only
// when its value changed: the last record of every key is a function of the set of events seen,
// whatever order they arrived in (README.md).
//
// Build it with `just plugins`, which rebuilds the committed conversations.wasm byte for byte.
package main

func main() {}
