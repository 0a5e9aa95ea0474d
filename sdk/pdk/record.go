package pdk

import (
	"unsafe"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/abi"
	"github.com/tidwall/gjson"
)

// Record is one input record: a JSON object with exactly the granted fields. A content:<path>
// field holds its value as it is; a read:payload.<path> field holds only the values in it that are
// metadata by type (numbers, true, false, null, identifiers: see package abi), and abi.Withheld
// in place of every other one (see Withheld).
type Record struct {
	// JSON is the record's bytes. It is valid only during the handler call.
	JSON []byte
}

// Get returns the value at a gjson path of the record. Each Get scans the record from its start:
// to read several fields, ForEach reads them all in one pass.
//
// The result's strings alias the call's input, which is never written again, so a handler may
// keep them (keeping one keeps the whole input alive).
func (r Record) Get(path string) gjson.Result { return gjson.Get(r.str(), path) }

// Root returns the record's JSON object, parsed lazily like Get's results (Result.Get,
// Result.ForEach).
func (r Record) Root() gjson.Result { return gjson.Parse(r.str()) }

// ForEach calls fn with each member of the record's object, in order, until fn returns false: one
// pass over the record, cheaper than a Get per field (a guest pays for every loop iteration, see
// the package documentation). Values alias the input, as Get's do, but a string with escapes is
// unescaped into a copy; Members skips values instead, which is cheaper still when the record
// carries long content.
func (r Record) ForEach(fn func(key, value gjson.Result) bool) { r.Root().ForEach(fn) }

// str is the record's bytes as a string, without a copy: they are never written.
func (r Record) str() string { return unsafe.String(unsafe.SliceData(r.JSON), len(r.JSON)) }

// String returns the record's JSON text without copying it (for Members). Like the strings of
// gjson results, it aliases the call's input.
func (r Record) String() string { return r.str() }

// Withheld reports whether v is abi.Withheld: the host's stand-in for a value of a read:payload
// field that is not metadata by type (text, a path, a command, a string longer than
// abi.MaxIdentifier). A value was there, but none of its text is: treat it as missing, or ask for
// content:<path> if the plugin needs the text (to measure or hash it).
func Withheld(v gjson.Result) bool { return v.Type == gjson.String && v.Str == abi.Withheld }

// Handler turns one record into events. An error fails that record only; the host sends it to
// the dead-letter queue with the message.
type Handler func(rec Record) ([]sdk.Event, error)

var handlers = map[string]Handler{}

// HandleCapture makes fn the plugin's capture function (kind "capture"): raw platform records in,
// events out. Call it from init.
func HandleCapture(fn Handler) { handlers["capture"] = fn }

// HandleEnrich makes fn the plugin's enrich function (kind "enrich"): events in, derived records out.
func HandleEnrich(fn Handler) { handlers["enrich"] = fn; delete(batchHandlers, "enrich") }

// HandleInsight makes fn the plugin's insight function (kind "insight"): derived records in,
// insights out.
func HandleInsight(fn Handler) { handlers["insight"] = fn; delete(batchHandlers, "insight") }

// Result is what a BatchHandler makes of one record: its events, or the error that fails it
// (the host dead-letters that record with the message; the others stand).
type Result struct {
	Events []sdk.Event
	Err    error
}

// BatchHandler turns a whole call's records into one Result each, in order (a missing result
// counts as no events). A plugin that keeps state in kv uses it to read its state once per call,
// handle every record in memory, write the state back and emit each record it changed once,
// attached to the last record that did not fail: the host commits a call's kv writes and
// emissions with the consumer's cursor, in one batch. A panic fails every record of the call.
// Leaks, from a batch handler, asks about the call's last record.
type BatchHandler func(recs []Record) []Result

var batchHandlers = map[string]BatchHandler{}

// HandleEnrichBatch makes fn the plugin's enrich function, called once per call with all its
// records. It replaces a Handler given to HandleEnrich.
func HandleEnrichBatch(fn BatchHandler) { batchHandlers["enrich"] = fn; delete(handlers, "enrich") }

// HandleInsightBatch makes fn the plugin's insight function, called once per call with all its
// records. It replaces a Handler given to HandleInsight.
func HandleInsightBatch(fn BatchHandler) { batchHandlers["insight"] = fn; delete(handlers, "insight") }
