// Command claude-code is Hangar's first-party capture plugin for Claude Code. It reads two kinds
// of record: hook payloads (the JSON Claude Code writes on a hook's stdin; they have
// hook_event_name) and transcript lines (the lines of ~/.claude/projects/<project>/<session>.jsonl;
// they have type), and reduces each to typed events: identifiers from narrow alphabets and
// enumerations, sizes and counts, salted hashes, and a salted feature-hashed sketch of prompts,
// never text, code, paths or command arguments. README.md lists every event and attribute.
//
// It reads the content fields (prompts, tool inputs and responses, working directories, message
// text) in memory only, to reduce them, which is why its manifest asks for content: grants; the
// host refuses any emission carrying 12 bytes of them, and guard (guard.go) withholds an attribute
// that would be refused rather than lose the record. Hashes are keyed with the plugin's salt, which
// the host derives from the install's secret (pdk.Salt); the plugin asks for it only when a record
// needs a hash.
//
// The host fills in each event's id, platform and, when the record has no time of its own (hook
// payloads), its time; it adds payload_bytes, and turns an oversized payload into hook.oversized
// without calling the plugin.
//
// This Go source is the reference: the shipped module, claude-code.wasm, is its port to Rust
// (rust/, built by `just plugins`), which the tests require to produce the same outcomes byte for
// byte on every real record (rust_test.go). The tests build this package for GOOS=wasip1 from
// source to compare with.
package main

import (
	"runtime/debug"

	"github.com/hangar-dev/hangar/sdk/pdk"
)

// memoryLimit is the Go heap's soft limit: the garbage collector works harder as the heap nears
// it, so that a large record's garbage is collected before the next one's input is allocated,
// within the host's limit on the module's memory (memory_pages in plugin.toml).
const memoryLimit = 48 << 20

func init() {
	debug.SetMemoryLimit(memoryLimit)
	pdk.HandleCapture(capture)
}

func main() {}
