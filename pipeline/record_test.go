package pipeline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
)

// testRecord returns a record with an id derived from i, as a hook would send it.
func testRecord(i int) RawRecord {
	return RawRecord{
		ID:         sdk.NewID("test", []byte(fmt.Sprint(i))),
		Platform:   PlatformClaudeCode,
		Source:     "hook",
		ReceivedAt: time.Date(2026, 3, 4, 5, 6, 7, 8+i, time.UTC),
		Payload:    fmt.Appendf(nil, `{"hook_event_name":"Stop","session_id":"s-%d"}`, i),
	}
}

// sameRecord reports how got differs from want, or "" if it does not.
func sameRecord(got, want RawRecord) string {
	var diffs []string
	if got.ID != want.ID {
		diffs = append(diffs, fmt.Sprintf("ID %v, want %v", got.ID, want.ID))
	}
	if got.Platform != want.Platform {
		diffs = append(diffs, fmt.Sprintf("Platform %q, want %q", got.Platform, want.Platform))
	}
	if got.Source != want.Source {
		diffs = append(diffs, fmt.Sprintf("Source %q, want %q", got.Source, want.Source))
	}
	if !got.ReceivedAt.Equal(want.ReceivedAt) || got.ReceivedAt.IsZero() != want.ReceivedAt.IsZero() {
		diffs = append(diffs, fmt.Sprintf("ReceivedAt %v, want %v", got.ReceivedAt, want.ReceivedAt))
	}
	if got.Oversize != want.Oversize {
		diffs = append(diffs, fmt.Sprintf("Oversize %d, want %d", got.Oversize, want.Oversize))
	}
	if !bytes.Equal(got.Payload, want.Payload) {
		diffs = append(diffs, fmt.Sprintf("Payload %q, want %q", got.Payload, want.Payload))
	}
	return strings.Join(diffs, "; ")
}

func TestRawRecordRoundTrip(t *testing.T) {
	base := testRecord(1)
	tests := []struct {
		name string
		rec  RawRecord
		want *RawRecord // nil means rec itself
	}{
		{name: "hook payload", rec: base},
		{name: "empty payload", rec: RawRecord{ID: base.ID, Platform: "p", Source: "hook", ReceivedAt: base.ReceivedAt}},
		{name: "oversize", rec: RawRecord{ID: base.ID, Platform: PlatformClaudeCode, Source: "hook", ReceivedAt: base.ReceivedAt, Oversize: MaxPayload + 1}},
		{name: "largest oversize", rec: RawRecord{ID: base.ID, Platform: "p", Oversize: 1 << 62}},
		{
			name: "negative oversize is written as none",
			rec:  RawRecord{ID: base.ID, Platform: "p", ReceivedAt: base.ReceivedAt, Oversize: -5, Payload: []byte("x")},
			want: &RawRecord{ID: base.ID, Platform: "p", ReceivedAt: base.ReceivedAt, Payload: []byte("x")},
		},
		{name: "zero time stays zero", rec: RawRecord{ID: base.ID, Platform: "p", Payload: []byte("{}")}},
		{name: "zero id and no strings", rec: RawRecord{Payload: []byte("{}")}},
		{name: "the epoch", rec: RawRecord{ID: base.ID, ReceivedAt: time.Unix(0, 0).UTC()}},
		{name: "before the epoch", rec: RawRecord{ID: base.ID, ReceivedAt: time.Date(1969, 12, 31, 23, 59, 59, 999, time.UTC)}},
		{name: "latest time", rec: RawRecord{ID: base.ID, ReceivedAt: time.Unix(0, 1<<63-1).UTC()}},
		{name: "earliest non-zero time", rec: RawRecord{ID: base.ID, ReceivedAt: time.Unix(0, -1<<63+1).UTC()}},
		{name: "non-UTC time", rec: RawRecord{ID: base.ID, ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))}},
		{name: "binary payload", rec: RawRecord{ID: base.ID, Platform: "p", Source: "spool", Payload: []byte{0, 0xff, 'H', 'G', 'R', 1, '\n'}}},
		{name: "long strings", rec: RawRecord{ID: base.ID, Platform: strings.Repeat("p", 300), Source: strings.Repeat("s", 200), Payload: bytes.Repeat([]byte("ab"), 70000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.rec
			if tt.want != nil {
				want = *tt.want
			}
			data := tt.rec.AppendBinary([]byte("prefix"))
			if !bytes.HasPrefix(data, []byte("prefix")) {
				t.Fatalf("AppendBinary lost what it appended to: %q", data[:6])
			}
			var got RawRecord
			if err := got.UnmarshalBinary(data[len("prefix"):]); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if d := sameRecord(got, want); d != "" {
				t.Errorf("round trip: %s", d)
			}
			if loc := got.ReceivedAt.Location(); loc != time.UTC {
				t.Errorf("ReceivedAt location %v, want UTC", loc)
			}
		})
	}
}

func TestRawRecordUnmarshalErrors(t *testing.T) {
	full := testRecord(7)
	full.Payload = []byte(`{"prompt":"hello"}`)
	tests := []struct {
		name string
		rec  RawRecord
	}{
		{name: "payload", rec: full},
		{name: "empty payload", rec: RawRecord{ID: full.ID, Platform: "p", Source: "s", ReceivedAt: full.ReceivedAt}},
		{name: "oversize", rec: RawRecord{ID: full.ID, Platform: "p", Oversize: 1 << 40}},
		{name: "zero record", rec: RawRecord{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.rec.AppendBinary(nil)
			for i := range len(data) {
				var got RawRecord
				err := got.UnmarshalBinary(data[:i])
				if !errors.Is(err, ErrCorruptRecord) {
					t.Errorf("UnmarshalBinary of the first %d of %d bytes: error %v, want ErrCorruptRecord", i, len(data), err)
				}
				if d := sameRecord(got, RawRecord{}); d != "" {
					t.Errorf("UnmarshalBinary of the first %d bytes changed the record on error: %s", i, d)
				}
			}
			var got RawRecord
			if err := got.UnmarshalBinary(append(data[:len(data):len(data)], 0)); !errors.Is(err, ErrCorruptRecord) {
				t.Errorf("UnmarshalBinary with a trailing byte: error %v, want ErrCorruptRecord", err)
			}
		})
	}
}

func TestRawRecordUnmarshalMalformed(t *testing.T) {
	id := bytes.Repeat([]byte{0xaa}, 16)
	head := append([]byte{recordVersion}, id...)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		data []byte
	}{
		{name: "version 0", data: cat([]byte{0}, id, []byte{0, 0, 0, 0, 0})},
		{name: "version 2", data: cat([]byte{2}, id, []byte{0, 0, 0, 0, 0})},
		{name: "platform longer than the input", data: cat(head, []byte{0x7f, 'a'})},
		{name: "platform length overflows", data: cat(head, bytes.Repeat([]byte{0xff}, 10), []byte{1})},
		{name: "platform length near max uint64", data: cat(head, binary.AppendUvarint(nil, 1<<64-1), []byte("abc"))},
		{name: "time varint overflows", data: cat(head, []byte{0, 0}, bytes.Repeat([]byte{0xff}, 11))},
		{name: "oversize above 2^62", data: cat(head, []byte{0, 0, 0}, binary.AppendUvarint(nil, 1<<62+1), []byte{0})},
		{name: "payload longer than the input", data: cat(head, []byte{0, 0, 0, 0, 5, 'a', 'b'})},
		{name: "overlong platform length", data: cat(head, []byte{0x80, 0, 0, 0, 0, 0})},
		{name: "overlong source length", data: cat(head, []byte{1, 'p', 0x81, 0, 's', 0, 0, 0})},
		{name: "overlong time", data: cat(head, []byte{0, 0, 0x82, 0x80, 0, 0, 0})},
		{name: "overlong oversize", data: cat(head, []byte{0, 0, 0, 0xff, 0x80, 0, 0})},
		{name: "overlong payload length", data: cat(head, []byte{0, 0, 0, 0, 0x81, 0x80, 0x80, 0, 'x'})},
		{name: "trailing bytes after the payload", data: cat(head, []byte{0, 0, 0, 0, 1, 'a', 'b'})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got RawRecord
			if err := got.UnmarshalBinary(tt.data); !errors.Is(err, ErrCorruptRecord) {
				t.Errorf("UnmarshalBinary(%x): error %v, want ErrCorruptRecord", tt.data, err)
			}
		})
	}
}

// appendFrames frames recs one after another.
func appendFrames(b []byte, recs []RawRecord) []byte {
	for i := range recs {
		b = AppendFrame(b, &recs[i])
	}
	return b
}

// decodeAll decodes every record framed in data.
func decodeAll(data []byte, resync bool) ([]RawRecord, int, error) {
	var got []RawRecord
	skipped, err := DecodeFrames(data, resync, func(rec RawRecord) error {
		got = append(got, rec)
		return nil
	})
	return got, skipped, err
}

// checkRecords reports where got differs from want.
func checkRecords(t *testing.T, got, want []RawRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d records, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if d := sameRecord(got[i], want[i]); d != "" {
			t.Errorf("record %d: %s", i, d)
		}
	}
}

func TestFramesRoundTrip(t *testing.T) {
	var many []RawRecord
	for i := range 1000 {
		rec := testRecord(i)
		switch i % 5 {
		case 1:
			rec.Payload = nil
		case 2:
			rec.Payload, rec.Oversize = nil, MaxPayload+int64(i)
		case 3:
			rec.Payload = AppendFrame(nil, &rec) // a payload that holds a frame, magic and all
		}
		many = append(many, rec)
	}
	tests := []struct {
		name string
		recs []RawRecord
	}{
		{name: "none"},
		{name: "one", recs: many[:1]},
		{name: "many", recs: many},
		{name: "largest payload", recs: []RawRecord{{ID: many[0].ID, Platform: PlatformClaudeCode, Source: "hook", ReceivedAt: many[0].ReceivedAt, Payload: bytes.Repeat([]byte{'x'}, MaxPayload)}}},
	}
	for _, tt := range tests {
		for _, resync := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/resync=%v", tt.name, resync), func(t *testing.T) {
				data := appendFrames(nil, tt.recs)
				got, skipped, err := decodeAll(data, resync)
				if err != nil {
					t.Fatalf("DecodeFrames: %v", err)
				}
				if skipped != 0 {
					t.Errorf("DecodeFrames skipped %d bytes, want 0", skipped)
				}
				checkRecords(t, got, tt.recs)
			})
		}
	}
}

func TestDecodeFramesCallbackError(t *testing.T) {
	data := appendFrames(nil, []RawRecord{testRecord(1), testRecord(2), testRecord(3)})
	stop := errors.New("stop")
	for _, resync := range []bool{false, true} {
		t.Run(fmt.Sprintf("resync=%v", resync), func(t *testing.T) {
			calls := 0
			_, err := DecodeFrames(data, resync, func(rec RawRecord) error {
				calls++
				if calls == 2 {
					return stop
				}
				return nil
			})
			if err != stop {
				t.Errorf("DecodeFrames: error %v, want the callback's error itself", err)
			}
			if calls != 2 {
				t.Errorf("callback called %d times, want 2", calls)
			}
		})
	}
}

// setFrameCRC recomputes the checksum of the single frame at the start of b.
func setFrameCRC(b []byte) []byte {
	body := b[12 : 12+binary.LittleEndian.Uint32(b[4:])]
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func TestDecodeFramesStrictErrors(t *testing.T) {
	recs := []RawRecord{testRecord(1), testRecord(2), testRecord(3)}
	good := appendFrames(nil, recs)
	first := len(AppendFrame(nil, &recs[0]))
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name     string
		data     []byte
		wantRecs int // records handed over before the error
	}{
		{name: "bad magic", data: edit(func(b []byte) []byte { b[0] = 'X'; return b }), wantRecs: 0},
		{name: "bad magic version", data: edit(func(b []byte) []byte { b[3] = 2; return b }), wantRecs: 0},
		{name: "bad magic in the second frame", data: edit(func(b []byte) []byte { b[first+1] = 'X'; return b }), wantRecs: 1},
		{name: "flipped bit in the body", data: edit(func(b []byte) []byte { b[first+30] ^= 0x10; return b }), wantRecs: 1},
		{name: "flipped bit in the checksum", data: edit(func(b []byte) []byte { b[8] ^= 1; return b }), wantRecs: 0},
		{name: "length one short", data: edit(func(b []byte) []byte { b[4]--; return b }), wantRecs: 0},
		{name: "length one long", data: edit(func(b []byte) []byte { b[4]++; return b }), wantRecs: 0},
		{name: "huge length", data: edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], 1<<32-1); return b }), wantRecs: 0},
		{name: "length just above the limit", data: edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], maxFrame+1); return b }), wantRecs: 0},
		{name: "truncated tail", data: good[:len(good)-1], wantRecs: 2},
		{name: "torn header at the end", data: good[:first+5], wantRecs: 1},
		{name: "trailing zero", data: append(bytes.Clone(good), 0), wantRecs: 3},
		{name: "garbage before the first frame", data: append([]byte("garbage"), good...), wantRecs: 0},
		{
			name: "valid checksum over a bad record",
			data: edit(func(b []byte) []byte {
				b[12] = 9 // record version
				return setFrameCRC(b)
			}),
			wantRecs: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skipped, err := decodeAll(tt.data, false)
			if !errors.Is(err, ErrCorruptRecord) {
				t.Errorf("DecodeFrames: error %v, want ErrCorruptRecord", err)
			}
			if skipped != 0 {
				t.Errorf("strict DecodeFrames skipped %d bytes, want 0", skipped)
			}
			checkRecords(t, got, recs[:tt.wantRecs])
		})
	}
}

// Every single-bit error in a frame is caught: in the magic, the length, the checksum or the body.
func TestDecodeFramesEveryBitFlip(t *testing.T) {
	rec := testRecord(1)
	good := AppendFrame(nil, &rec)
	for i := range len(good) * 8 {
		data := bytes.Clone(good)
		data[i/8] ^= 1 << (i % 8)
		got, _, err := decodeAll(data, false)
		if !errors.Is(err, ErrCorruptRecord) || len(got) != 0 {
			t.Errorf("bit %d flipped: %d records, error %v; want none and ErrCorruptRecord", i, len(got), err)
		}
	}
}

// Every prefix of a stream of frames decodes, in strict mode, to the frames it holds in full, and
// fails unless it ends on a frame boundary.
func TestDecodeFramesEveryTruncation(t *testing.T) {
	recs := []RawRecord{testRecord(1), {ID: testRecord(2).ID}, testRecord(3)}
	var ends []int
	var data []byte
	for i := range recs {
		data = AppendFrame(data, &recs[i])
		ends = append(ends, len(data))
	}
	for n := range len(data) + 1 {
		whole := 0
		for _, end := range ends {
			if end <= n {
				whole++
			}
		}
		boundary := n == 0 || ends[max(whole-1, 0)] == n
		got, skipped, err := decodeAll(data[:n], false)
		if boundary && err != nil {
			t.Errorf("first %d bytes (a frame boundary): error %v", n, err)
		}
		if !boundary && !errors.Is(err, ErrCorruptRecord) {
			t.Errorf("first %d bytes (inside frame %d): error %v, want ErrCorruptRecord", n, whole, err)
		}
		if len(got) != whole || skipped != 0 {
			t.Errorf("first %d bytes: %d records and %d skipped, want %d and 0", n, len(got), skipped, whole)
		}
		got, skipped, err = decodeAll(data[:n], true)
		if err != nil || len(got) != whole {
			t.Errorf("first %d bytes with resync: %d records, error %v; want %d, nil", n, len(got), err, whole)
		}
		if want := n - ends[max(whole-1, 0)]*min(whole, 1); skipped != want {
			t.Errorf("first %d bytes with resync: skipped %d, want %d", n, skipped, want)
		}
	}
}

func TestDecodeFramesResync(t *testing.T) {
	recs := make([]RawRecord, 6)
	frames := make([][]byte, len(recs))
	for i := range recs {
		recs[i] = testRecord(i)
		frames[i] = AppendFrame(nil, &recs[i])
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	torn := func(i, n int) []byte { return frames[i][:n] }
	hugeLen := bytes.Clone(frames[1])
	binary.LittleEndian.PutUint32(hugeLen[4:], 1<<32-1)
	bigLen := bytes.Clone(frames[1])
	binary.LittleEndian.PutUint32(bigLen[4:], maxFrame) // allowed, but longer than what follows
	flipped := bytes.Clone(frames[1])
	flipped[40] ^= 4
	tests := []struct {
		name        string
		data        []byte
		want        []int // indexes of the records recovered
		wantSkipped int
	}{
		{
			name: "torn frame in the middle",
			data: cat(frames[0], torn(1, 30), frames[2], frames[3]),
			want: []int{0, 2, 3}, wantSkipped: 30,
		},
		{
			name: "torn frame first",
			data: cat(torn(1, len(frames[1])-1), frames[2], frames[3], frames[4]),
			want: []int{2, 3, 4}, wantSkipped: len(frames[1]) - 1,
		},
		{
			name: "torn inside the magic",
			data: cat(frames[0], torn(1, 3), frames[2]),
			want: []int{0, 2}, wantSkipped: 3,
		},
		{
			name: "torn inside the length",
			data: cat(frames[0], torn(1, 6), frames[2]),
			want: []int{0, 2}, wantSkipped: 6,
		},
		{
			name: "torn right after the header",
			data: cat(frames[0], torn(1, 12), frames[2]),
			want: []int{0, 2}, wantSkipped: 12,
		},
		{
			name: "several torn frames in a row",
			data: cat(frames[0], torn(1, 20), torn(2, 13), torn(3, 1), frames[4], frames[5]),
			want: []int{0, 4, 5}, wantSkipped: 20 + 13 + 1,
		},
		{
			name: "torn tail",
			data: cat(frames[0], frames[1], torn(2, 25)),
			want: []int{0, 1}, wantSkipped: 25,
		},
		{
			name: "garbage between frames",
			data: cat(frames[0], []byte("not a frame at all\x00\xff"), frames[1]),
			want: []int{0, 1}, wantSkipped: len("not a frame at all\x00\xff"),
		},
		{
			name: "garbage that starts like a magic",
			data: cat(frames[0], []byte("HGRHG\x01HGR"), frames[1]),
			want: []int{0, 1}, wantSkipped: len("HGRHG\x01HGR"),
		},
		{
			name: "garbage first",
			data: cat([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, frames[0]),
			want: []int{0}, wantSkipped: 14,
		},
		{
			name: "only garbage",
			data: []byte("garbage"),
			want: nil, wantSkipped: 7,
		},
		{
			name: "huge length field",
			data: cat(frames[0], hugeLen, frames[2]),
			want: []int{0, 2}, wantSkipped: len(hugeLen),
		},
		{
			name: "length field longer than the rest",
			data: cat(frames[0], bigLen, frames[2]),
			want: []int{0, 2}, wantSkipped: len(bigLen),
		},
		{
			name: "flipped bit",
			data: cat(frames[0], flipped, frames[2]),
			want: []int{0, 2}, wantSkipped: len(flipped),
		},
		{
			name: "torn frame whose payload holds a magic",
			data: cat(frames[0], []byte("HGR\x01"), []byte("HGR\x01\x05\x00\x00\x00"), frames[3]),
			want: []int{0, 3}, wantSkipped: 12,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skipped, err := decodeAll(tt.data, true)
			if err != nil {
				t.Fatalf("DecodeFrames with resync: %v", err)
			}
			var want []RawRecord
			for _, i := range tt.want {
				want = append(want, recs[i])
			}
			checkRecords(t, got, want)
			if skipped != tt.wantSkipped {
				t.Errorf("skipped %d bytes, want %d", skipped, tt.wantSkipped)
			}
			if _, _, err := decodeAll(tt.data, false); !errors.Is(err, ErrCorruptRecord) {
				t.Errorf("strict DecodeFrames: error %v, want ErrCorruptRecord", err)
			}
		})
	}
}

// frameSeeds are inputs for the fuzz tests of frames.
func frameSeeds() [][]byte {
	r1, r2 := testRecord(1), testRecord(2)
	over := RawRecord{ID: r1.ID, Platform: "p", Oversize: 1 << 30}
	two := appendFrames(nil, []RawRecord{r1, r2})
	one := AppendFrame(nil, &r1)
	return [][]byte{
		nil,
		one,
		two,
		AppendFrame(nil, &over),
		AppendFrame(nil, &RawRecord{}),
		append(bytes.Clone(one[:20]), two...),
		append([]byte("HGR\x01\xff\xff\xff\xff"), one...),
		[]byte("HGR\x01HGR\x01HGR\x01"),
	}
}

func FuzzDecodeFrames(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		strict, strictSkipped, strictErr := decodeAll(data, false)
		if strictSkipped != 0 {
			t.Fatalf("strict mode skipped %d bytes", strictSkipped)
		}
		if strictErr == nil {
			// Success means the input is exactly the frames of what was decoded.
			if again := appendFrames(nil, strict); !bytes.Equal(again, data) {
				t.Fatalf("re-encoding the %d records decoded gives\n%x\nwant\n%x", len(strict), again, data)
			}
		} else if !errors.Is(strictErr, ErrCorruptRecord) {
			t.Fatalf("strict error %v does not wrap ErrCorruptRecord", strictErr)
		}
		resync, skipped, err := decodeAll(data, true)
		if err != nil {
			t.Fatalf("resync mode: %v", err)
		}
		if skipped < 0 || skipped > len(data) {
			t.Fatalf("resync skipped %d of %d bytes", skipped, len(data))
		}
		if (skipped == 0) != (strictErr == nil) {
			t.Fatalf("resync skipped %d bytes, but strict mode's error is %v", skipped, strictErr)
		}
		if len(resync) < len(strict) {
			t.Fatalf("resync found %d records, strict mode %d before failing", len(resync), len(strict))
		}
		checkRecords(t, resync[:len(strict)], strict)
		framed := 0
		for i := range resync {
			framed += len(AppendFrame(nil, &resync[i]))
		}
		if framed+skipped != len(data) {
			t.Fatalf("%d bytes of frames and %d skipped, want %d in all", framed, skipped, len(data))
		}
	})
}

func FuzzRawRecord(f *testing.F) {
	r := testRecord(1)
	f.Add(r.AppendBinary(nil))
	f.Add((&RawRecord{}).AppendBinary(nil))
	f.Add((&RawRecord{ID: r.ID, Platform: "p", Oversize: 1 << 62}).AppendBinary(nil))
	f.Add((&RawRecord{ID: r.ID, ReceivedAt: time.Unix(0, -1<<63+1)}).AppendBinary(nil))
	f.Add([]byte{recordVersion})
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec RawRecord
		if err := rec.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("error %v does not wrap ErrCorruptRecord", err)
			}
			if d := sameRecord(rec, RawRecord{}); d != "" {
				t.Fatalf("failed UnmarshalBinary changed the record: %s", d)
			}
			return
		}
		again := rec.AppendBinary(nil)
		var rec2 RawRecord
		if err := rec2.UnmarshalBinary(again); err != nil {
			t.Fatalf("decoding the re-encoding %x: %v", again, err)
		}
		if d := sameRecord(rec2, rec); d != "" {
			t.Fatalf("decode, encode, decode: %s", d)
		}
		// A record has one encoding: what decodes is what the encoder writes.
		if !bytes.Equal(again, data) {
			t.Fatalf("re-encoding gives\n%x\nwant\n%x", again, data)
		}
		// Framed, the record decodes in strict mode to itself.
		got, _, err := decodeAll(AppendFrame(nil, &rec), false)
		if err != nil || len(got) != 1 {
			t.Fatalf("framed record: %d records, error %v", len(got), err)
		}
		if d := sameRecord(got[0], rec); d != "" {
			t.Fatalf("framed record: %s", d)
		}
	})
}
