package host

import (
	"encoding/binary"

	"github.com/hangar-dev/hangar/sdk"
)

// InsightKindPrefix starts the derived kind under which an insight plugin's output is stored:
// "insight.<plugin>". No enrich plugin may emit a kind with this prefix.
const InsightKindPrefix = "insight."

// InsightKind returns the derived kind of an insight plugin's output.
func InsightKind(plugin string) string { return InsightKindPrefix + plugin }

// capturedID returns the id of the i-th event a capture plugin emitted for a record of a platform:
// the id the pipeline gives the i-th event it captures from that record (pipeline.EventID), so that
// a record captured again, by a plugin or a built-in capture, yields the same ids, which the store
// deduplicates. The two must never differ: TestCapturedID pins this rule as pipeline's TestEventID
// pins that one, and package wasmstage checks stored ids against pipeline.EventID.
func capturedID(platform string, record sdk.ID, i int) sdk.ID {
	idx := []byte{byte(i >> 8), byte(i)}
	if i >= 1<<16 {
		// Beyond two bytes, eight: NewID length-prefixes its parts, so these ids differ from the
		// two-byte ones, which stay as they were.
		idx = binary.BigEndian.AppendUint64(nil, uint64(i))
	}
	return sdk.NewID("record", []byte(platform), record[:], idx)
}

// DerivedID returns the id of the i-th derived record a plugin emitted for a source event or
// derived record. It is deterministic, so a replay makes the same ids.
func DerivedID(plugin string, source sdk.ID, i int) sdk.ID {
	return sdk.NewID("derived", []byte(plugin), source[:], binary.BigEndian.AppendUint64(nil, uint64(i)))
}
