//go:build unix

package pipeline

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/store/canarytest"
	"github.com/hangar-dev/hangar/store/seal"
)

// spoolCanary is planted in the payloads of these tests.
const spoolCanary = "zqSPOOLCANARYqz"

// canaryRecord is spoolRecord j of writer w with the canary in a prompt and a cwd.
func canaryRecord(w, j int) RawRecord {
	rec := spoolRecord(w, j)
	rec.Payload = []byte(`{"hook_event_name":"UserPromptSubmit","prompt":"fix ` + spoolCanary + `","cwd":"/home/` + spoolCanary + `"}`)
	return rec
}

// TestSpoolSealed spools payloads holding a canary: the spool's files hold it in no form, and a
// drain hands the payloads back whole.
func TestSpoolSealed(t *testing.T) {
	s := newTestSpool(t, filepath.Join(t.TempDir(), "spool"))
	want := []RawRecord{canaryRecord(0, 0), canaryRecord(0, 1)}
	over := spoolRecord(0, 2)
	over.Payload, over.Oversize = nil, MaxPayload+1
	want = append(want, over)
	appendOK(t, s, want[:2]...)
	if err := s.AppendAll(want[2:]); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(s.Dir(), spoolActive))
	if err != nil {
		t.Fatal(err)
	}
	if at, form := canarytest.NewFinder(spoolCanary).Find(data); at >= 0 {
		t.Fatalf("the spool file holds the canary (%s) at byte %d", form, at)
	}
	got, st := drainAll(t, s)
	checkRecords(t, got, asSpooled(want))
	if st.Records != 3 || st.Unopened != 0 {
		t.Errorf("Drain stats %+v, want 3 records, all opened", st)
	}
}

// TestSpoolKeys: a spool never writes without a key; frames sealed under another key, or with no
// key to open them, are handed over still sealed, saying why; an earlier build's frames, in the
// clear, drain as they are.
func TestSpoolKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := newTestSpool(t, dir)
	rec := canaryRecord(1, 0)

	noKey := NewSpool(dir, nil)
	if err := noKey.Append(&rec); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Append without a key = %v, want ErrNoKey", err)
	}
	if s.Pending() {
		t.Fatal("a refused append left something in the spool")
	}

	// An earlier build's frame (payload in the clear) beside sealed ones.
	legacy := spoolRecord(1, 1)
	mkdir(t, dir)
	writeFile(t, filepath.Join(dir, spoolActive), AppendFrame(nil, &legacy))
	appendOK(t, s, rec)
	got, st := drainAll(t, s)
	checkRecords(t, got, asSpooled([]RawRecord{legacy, rec}))
	if st.Unopened != 0 {
		t.Errorf("stats %+v", st)
	}

	// Sealed under another key, and no key at all.
	appendOK(t, s, rec)
	otherKey, err := seal.NewKey(bytes.Repeat([]byte{3}, seal.KeyLen))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		s    *Spool
		want error
		msg  string
	}{
		{name: "another key", s: NewSpool(dir, otherKey), want: seal.ErrOtherKey, msg: "another payload key"},
		{name: "no key", s: noKey, want: ErrNoKey, msg: "no payload key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			appendOK(t, s, rec)
			got, st := drainAll(t, tt.s)
			if len(got) == 0 || st.Unopened != len(got) {
				t.Fatalf("got %d records, %d unopened; want all unopened", len(got), st.Unopened)
			}
			for _, g := range got {
				if !errors.Is(g.Unopened, tt.want) || !strings.Contains(g.Unopened.Error(), tt.msg) || !seal.IsSealed(g.Payload) || g.ID != rec.ID {
					t.Errorf("record %v: unopened %v, sealed %v; want %v with the payload still sealed", g.ID, g.Unopened, seal.IsSealed(g.Payload), tt.want)
				}
				// The right key still opens what was handed over.
				if p, err := s.key.Open(nil, g.Payload, g.ID[:]); err != nil || !bytes.Equal(p, rec.Payload) {
					t.Errorf("the handed-over payload does not open with its key: %v", err)
				}
			}
		})
	}
}

// TestDecodeFramesRefusesSealed: a sealed frame is for the spool only; the socket's decoder
// refuses it.
func TestDecodeFramesRefusesSealed(t *testing.T) {
	k, err := seal.NewKey(bytes.Repeat([]byte{5}, seal.KeyLen))
	if err != nil {
		t.Fatal(err)
	}
	rec := canaryRecord(2, 0)
	frame := AppendSealedFrame(nil, &rec, k)
	if _, err := DecodeFrames(frame, false, func(RawRecord) error { return nil }); !errors.Is(err, ErrCorruptRecord) {
		t.Errorf("DecodeFrames of a sealed frame = %v, want ErrCorruptRecord", err)
	}
}

// FuzzDecodeSpoolFrames feeds the spool's decoder (which takes sealed frames too) arbitrary bytes:
// it never fails in resync mode and accounts for every byte, and a sealed payload opens only if
// it is one testKey sealed for that record.
func FuzzDecodeSpoolFrames(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add(s)
	}
	rec := canaryRecord(5, 0)
	f.Add(AppendSealedFrame(nil, &rec, testKey))
	f.Add(append(AppendSealedFrame(nil, &rec, testKey), AppendFrame(nil, &rec)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		framed := 0
		skipped, err := decodeFrames(data, true, true, func(r RawRecord, sealed bool) error {
			if sealed {
				framed += len(r.appendBinary(nil, sealedVersion, r.Payload)) + 12
				if p, err := testKey.Open(nil, r.Payload, r.ID[:]); err == nil && !bytes.Equal(testKey.Seal(nil, p, r.ID[:])[:4], r.Payload[:4]) {
					t.Fatal("opened a payload that is not a sealed one")
				}
				return nil
			}
			framed += len(AppendFrame(nil, &r))
			return nil
		})
		if err != nil {
			t.Fatalf("resync mode: %v", err)
		}
		if framed+skipped != len(data) {
			t.Fatalf("%d bytes of frames and %d skipped, want %d in all", framed, skipped, len(data))
		}
	})
}
