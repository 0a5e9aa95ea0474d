// Command tool-errors is Hangar's first-party insight plugin "a tool whose error rate is rising".
// It reads the daily metrics of the first-party metrics plugin (metrics.1d records of dimension
// tool: calls and errors per tool and day) and the tool calls of the conversations plugin
// (conversation.tool: which sessions a tool failed in), and for each tool compares the error rate
// of the last 7 days of data with the 7 days before. A tool with enough calls whose rate rose
// clearly gets an insight, keyed by the tool (code tool_errors_rising; plugin.toml holds its
// title and suggestion); once it no longer holds, the same key is emitted again with resolved set.
//
// "The last 7 days" end at the newest day the metrics hold, never at the wall clock, so the same
// records always give the same insights. State lives in kv (one key, bounded: MaxTools tools,
// 14 days each, MaxSessions sessions each) and is read and written once per call
// (pdk.HandleInsightBatch); each changed insight is emitted once per call.
//
// Build it with `just plugins`, which rebuilds the committed tool-errors.wasm byte for byte.
package main

import "github.com/hangar-dev/hangar/sdk/pdk"

func init() { pdk.HandleInsightBatch(handle) }

func main() {}
