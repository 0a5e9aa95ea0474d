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

// DerivedID returns the id of the i-th derived record a plugin emitted for a source event or
// derived record. It is deterministic, so a replay makes the same ids.
func DerivedID(plugin string, source sdk.ID, i int) sdk.ID {
	return sdk.NewID("derived", []byte(plugin), source[:], binary.BigEndian.AppendUint64(nil, uint64(i)))
}
