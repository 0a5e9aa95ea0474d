package store

import (
	"bytes"
	"encoding/binary"
	"math"
	"time"

	"github.com/hangar-dev/hangar/sdk"
)

// Keyspace prefixes; docs/ARCHITECTURE.md ("Pebble key layout") describes the keys.
const (
	prefixEvent   = 'e'
	prefixID      = 'i'
	prefixSession = 's'
	prefixTime    = 't'
	prefixCursor  = 'c'
	prefixState   = 'x'
	prefixDLQ     = 'd'
	prefixCounter = 'n'
	prefixMeta    = 'm'
)

func seqKey(prefix byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefix}, seq)
}

func eventKey(seq uint64) []byte { return seqKey(prefixEvent, seq) }
func dlqKey(seq uint64) []byte   { return seqKey(prefixDLQ, seq) }

func idKey(id sdk.ID) []byte { return append([]byte{prefixID}, id[:]...) }

// sortableTime maps a time to a uint64 that sorts in time order, negative times included. The zero
// time sorts first, as math.MinInt64 (the sdk encodes it so too); other times outside what Unix
// nanoseconds in an int64 represent are clamped to that range.
func sortableTime(t time.Time) uint64 {
	var n int64
	switch {
	case t.IsZero():
		n = math.MinInt64
	case t.Before(minSortableTime):
		n = math.MinInt64 + 1
	case t.After(maxSortableTime):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	return uint64(n) ^ (1 << 63)
}

var (
	minSortableTime = time.Unix(0, math.MinInt64+1)
	maxSortableTime = time.Unix(0, math.MaxInt64)
)

func sessionKey(session string, t time.Time, seq uint64) []byte {
	k := make([]byte, 0, 2+len(session)+16)
	k = append(k, prefixSession)
	k = append(k, session...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, sortableTime(t))
	return binary.BigEndian.AppendUint64(k, seq)
}

func sessionPrefix(session string) []byte {
	k := append([]byte{prefixSession}, session...)
	return append(k, 0)
}

func timeKey(t time.Time, seq uint64) []byte {
	k := binary.BigEndian.AppendUint64([]byte{prefixTime}, sortableTime(t))
	return binary.BigEndian.AppendUint64(k, seq)
}

func nameKey(prefix byte, name string) []byte { return append([]byte{prefix}, name...) }

func stateKey(consumer string, key []byte) []byte {
	k := make([]byte, 0, 2+len(consumer)+len(key))
	k = append(k, prefixState)
	k = append(k, consumer...)
	k = append(k, 0)
	return append(k, key...)
}

// prefixEnd returns the smallest key greater than every key with the prefix p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

// seqOf returns the trailing 8-byte sequence number of an index key.
func seqOf(key []byte) uint64 {
	if len(key) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(key[len(key)-8:])
}
