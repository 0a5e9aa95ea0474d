package pdk

import (
	"github.com/hangar-dev/hangar/sdk"
	"github.com/tidwall/gjson"
)

// Record is one input record: a JSON object with exactly the granted fields.
type Record struct {
	// JSON is the record's bytes. It is valid only during the handler call.
	JSON []byte
}

// Get returns the value at a gjson path of the record.
func (r Record) Get(path string) gjson.Result { return gjson.GetBytes(r.JSON, path) }

// Handler turns one record into events. An error fails that record only; the host sends it to
// the dead-letter queue with the message.
type Handler func(rec Record) ([]sdk.Event, error)

var handlers = map[string]Handler{}

// HandleCapture makes fn the plugin's capture function (kind "capture"): raw platform records in,
// events out. Call it from init.
func HandleCapture(fn Handler) { handlers["capture"] = fn }

// HandleEnrich makes fn the plugin's enrich function (kind "enrich"): events in, derived records out.
func HandleEnrich(fn Handler) { handlers["enrich"] = fn }

// HandleInsight makes fn the plugin's insight function (kind "insight"): derived records in,
// insights out.
func HandleInsight(fn Handler) { handlers["insight"] = fn }
