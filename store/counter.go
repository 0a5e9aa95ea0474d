package store

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// counterMerger sums 8-byte little-endian int64 deltas, so that counters are updated by blind
// writes from any batch without a read-modify-write.
var counterMerger = &pebble.Merger{
	Name: "hangar.counter.v1",
	Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		c := &counterValue{}
		return c, c.add(value)
	},
}

type counterValue struct{ sum int64 }

func (c *counterValue) add(v []byte) error {
	if len(v) != 8 {
		return fmt.Errorf("store: counter operand of %d bytes", len(v))
	}
	c.sum += int64(binary.LittleEndian.Uint64(v))
	return nil
}

func (c *counterValue) MergeNewer(v []byte) error { return c.add(v) }
func (c *counterValue) MergeOlder(v []byte) error { return c.add(v) }
func (c *counterValue) Finish(bool) ([]byte, io.Closer, error) {
	return encodeDelta(c.sum), nil, nil
}

func encodeDelta(d int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(d)) }

func decodeCounter(v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("store: counter value of %d bytes", len(v))
	}
	return int64(binary.LittleEndian.Uint64(v)), nil
}
