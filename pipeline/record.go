package pipeline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store/seal"
)

// RawRecord is one payload as received from an assistant, before capture.
type RawRecord struct {
	// ID identifies the record at its source. The hook command mints a random one per invocation;
	// replays of the same record (from the spool, or a retried request) carry the same ID, so
	// their events are stored once.
	ID sdk.ID
	// Platform names the assistant whose format Payload is in, such as "claude-code".
	Platform string
	// Source says how the record arrived: "hook", "spool", "api".
	Source string
	// ReceivedAt is when the record was first received.
	ReceivedAt time.Time
	// Oversize is the payload's size in bytes when it was too large to keep; Payload is then empty.
	Oversize int64
	// Payload is the raw payload.
	Payload []byte
	// Unopened, when not nil, says why Payload is still sealed: a spooled record whose payload
	// could not be opened (it was sealed under a payload key the data directory no longer has;
	// see Spool.Drain). The intake dead-letters such a record as it is, its payload still sealed,
	// so that `agent dlq replay` captures it once the key is back. It never travels in a frame.
	Unopened error
}

// Record encoding and framing limits.
const (
	recordVersion = 1
	// sealedVersion is the encoding of a spooled record: version 1's, with the payload sealed
	// (see AppendSealedFrame). Only the spool reads it.
	sealedVersion = 2
	// MaxPayload is the largest payload kept; a larger one is recorded as oversized.
	MaxPayload = 16 << 20
	// maxFrame bounds a frame: a MaxPayload payload plus its header (and, in the spool, what
	// sealing adds).
	maxFrame = MaxPayload + 1024
	// zeroTimeNanos encodes the zero ReceivedAt.
	zeroTimeNanos = math.MinInt64
)

// frameMagic starts every frame, so a reader can find the next frame after a torn write.
var frameMagic = [4]byte{'H', 'G', 'R', 1}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Errors from decoding records and frames.
var (
	// ErrCorruptRecord means bytes are not a well-formed record or frame.
	ErrCorruptRecord = errors.New("pipeline: corrupt record")
)

// AppendBinary appends the record's encoding:
//
//	version (1) | id (16) | platform | source | received-at (varint Unix ns) | oversize (uvarint) | payload
//
// with strings and the payload as a uvarint length then bytes. A zero ReceivedAt, which UnixNano
// cannot represent, is written as math.MinInt64 (as sdk.Event's encoding does), so that it decodes
// as zero again.
func (r *RawRecord) AppendBinary(b []byte) []byte {
	return r.appendBinary(b, recordVersion, r.Payload)
}

// appendBinary appends the record's encoding of version v, with payload as its payload.
func (r *RawRecord) appendBinary(b []byte, v byte, payload []byte) []byte {
	b = append(b, v)
	b = append(b, r.ID[:]...)
	b = appendBytes(b, []byte(r.Platform))
	b = appendBytes(b, []byte(r.Source))
	ns := int64(zeroTimeNanos)
	if !r.ReceivedAt.IsZero() {
		ns = r.ReceivedAt.UnixNano()
	}
	b = binary.AppendVarint(b, ns)
	b = binary.AppendUvarint(b, uint64(max(r.Oversize, 0)))
	return appendBytes(b, payload)
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// UnmarshalBinary decodes what AppendBinary wrote. Payload aliases data.
func (r *RawRecord) UnmarshalBinary(data []byte) error {
	if len(data) == 0 || data[0] != recordVersion {
		return fmt.Errorf("decode record: %w: unknown version", ErrCorruptRecord)
	}
	return r.unmarshalBody(data)
}

// unmarshalBody decodes a record of either version; for sealedVersion, Payload is the sealed
// payload.
func (r *RawRecord) unmarshalBody(data []byte) error {
	if len(data) == 0 || (data[0] != recordVersion && data[0] != sealedVersion) {
		return fmt.Errorf("decode record: %w: unknown version", ErrCorruptRecord)
	}
	rest := data[1:]
	if len(rest) < len(r.ID) {
		return fmt.Errorf("decode record: %w: short id", ErrCorruptRecord)
	}
	var out RawRecord
	copy(out.ID[:], rest)
	rest = rest[len(out.ID):]
	var platform, source []byte
	var ok bool
	if platform, rest, ok = cutBytes(rest); !ok {
		return fmt.Errorf("decode record: %w: platform", ErrCorruptRecord)
	}
	if source, rest, ok = cutBytes(rest); !ok {
		return fmt.Errorf("decode record: %w: source", ErrCorruptRecord)
	}
	ns, n := readVarint(rest)
	if n <= 0 {
		return fmt.Errorf("decode record: %w: time", ErrCorruptRecord)
	}
	rest = rest[n:]
	over, n := readUvarint(rest)
	if n <= 0 || over > 1<<62 {
		return fmt.Errorf("decode record: %w: size", ErrCorruptRecord)
	}
	rest = rest[n:]
	if out.Payload, rest, ok = cutBytes(rest); !ok || len(rest) != 0 {
		return fmt.Errorf("decode record: %w: payload", ErrCorruptRecord)
	}
	out.Platform, out.Source = string(platform), string(source)
	if ns != zeroTimeNanos {
		out.ReceivedAt = time.Unix(0, ns).UTC()
	}
	out.Oversize = int64(over)
	*r = out
	return nil
}

// readUvarint is binary.Uvarint, but it also refuses (n == 0) an overlong encoding, which
// AppendUvarint never writes: a record has one encoding, so that re-encoding what a frame held
// gives back the frame.
func readUvarint(b []byte) (v uint64, n int) {
	var buf [binary.MaxVarintLen64]byte
	if v, n = binary.Uvarint(b); n > 0 && binary.PutUvarint(buf[:], v) != n {
		return 0, 0
	}
	return v, n
}

// readVarint is binary.Varint refusing overlong encodings, as readUvarint.
func readVarint(b []byte) (v int64, n int) {
	var buf [binary.MaxVarintLen64]byte
	if v, n = binary.Varint(b); n > 0 && binary.PutVarint(buf[:], v) != n {
		return 0, 0
	}
	return v, n
}

func cutBytes(b []byte) (field, rest []byte, ok bool) {
	n, k := readUvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// AppendFrame appends rec as one frame: magic (4) | length (uint32 LE) | CRC-32C of the record
// (uint32 LE) | record. Frames are how records travel to the daemon and rest in the spool.
func AppendFrame(b []byte, rec *RawRecord) []byte {
	start := len(b)
	b = append(b, frameMagic[:]...)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = rec.AppendBinary(b)
	body := b[start+12:]
	binary.LittleEndian.PutUint32(b[start+4:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+8:], crc32.Checksum(body, crcTable))
	return b
}

// AppendSealedFrame appends rec as AppendFrame does, its payload sealed under key with the
// record's id as additional data (record encoding version 2): how records rest in the spool.
// DecodeFrames refuses such a frame; the spool's drain opens it.
func AppendSealedFrame(b []byte, rec *RawRecord, key *seal.Key) []byte {
	start := len(b)
	b = append(b, frameMagic[:]...)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = rec.appendBinary(b, sealedVersion, key.Seal(nil, rec.Payload, rec.ID[:]))
	body := b[start+12:]
	binary.LittleEndian.PutUint32(b[start+4:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+8:], crc32.Checksum(body, crcTable))
	return b
}

// DecodeFrames calls fn for each record framed in data, in order. A corrupt frame is an error
// wrapping ErrCorruptRecord, unless resync is set: then it is skipped, the next frame magic is
// searched for, and the bytes passed over are counted in skipped. A sealed frame
// (AppendSealedFrame) is corrupt here: only the spool holds those. Payloads alias data.
func DecodeFrames(data []byte, resync bool, fn func(rec RawRecord) error) (skipped int, err error) {
	return decodeFrames(data, resync, false, func(rec RawRecord, _ bool) error { return fn(rec) })
}

// decodeFrames is DecodeFrames, taking sealed frames too if sealed is set; fn is told which
// records' payloads are sealed. The spool reads with resync, because a hook killed mid-append
// leaves a torn frame that later appends follow.
func decodeFrames(data []byte, resync, sealed bool, fn func(rec RawRecord, sealed bool) error) (skipped int, err error) {
	for off := 0; off < len(data); {
		rec, isSealed, n, ferr := decodeFrame(data[off:], sealed)
		if ferr == nil {
			if err := fn(rec, isSealed); err != nil {
				return skipped, err
			}
			off += n
			continue
		}
		if !resync {
			return skipped, fmt.Errorf("decode frame at byte %d: %w", off, ferr)
		}
		next := bytes.Index(data[off+1:], frameMagic[:])
		if next < 0 {
			return skipped + len(data) - off, nil
		}
		skipped += next + 1
		off += next + 1
	}
	return skipped, nil
}

// decodeFrame decodes the frame at the start of b and returns its length, and whether its payload
// is sealed (only if sealed frames are taken).
func decodeFrame(b []byte, sealed bool) (RawRecord, bool, int, error) {
	var rec RawRecord
	if len(b) < 12 {
		return rec, false, 0, fmt.Errorf("%w: torn header", ErrCorruptRecord)
	}
	if !bytes.Equal(b[:4], frameMagic[:]) {
		return rec, false, 0, fmt.Errorf("%w: bad magic", ErrCorruptRecord)
	}
	size := binary.LittleEndian.Uint32(b[4:])
	if size > maxFrame || int(size) > len(b)-12 {
		return rec, false, 0, fmt.Errorf("%w: frame of %d bytes, %d left", ErrCorruptRecord, size, len(b)-12)
	}
	body := b[12 : 12+int(size)]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(b[8:]) {
		return rec, false, 0, fmt.Errorf("%w: checksum mismatch", ErrCorruptRecord)
	}
	var err error
	if sealed {
		err = rec.unmarshalBody(body)
	} else {
		err = rec.UnmarshalBinary(body)
	}
	if err != nil {
		return rec, false, 0, err
	}
	return rec, body[0] == sealedVersion, 12 + int(size), nil
}
