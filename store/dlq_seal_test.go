package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/store"
	"github.com/hangar-dev/hangar/store/canarytest"
	"github.com/hangar-dev/hangar/store/seal"
)

// sealCanary is planted in the payloads of these tests; no byte at rest may hold it.
const sealCanary = "zqSEALCANARYqz"

// holdsCanary reports whether b holds mark in any form a leak takes (see package canary).
func holdsCanary(b []byte, mark string) bool {
	at, _ := canarytest.NewFinder(mark).Find(b)
	return at >= 0
}

// checkNoCanaryAtRest fails if any file under dir, or any key or value of s, holds the canary.
func checkNoCanaryAtRest(t *testing.T, s *store.Store, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if holdsCanary(data, sealCanary) {
			t.Errorf("%s holds the canary", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ScanAll(func(k, v []byte) error {
		if holdsCanary(k, sealCanary) || holdsCanary(v, sealCanary) {
			t.Errorf("store entry %q holds the canary", k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestDLQSealedAtRest adds dead letters whose payloads hold a canary: the payload is in no file
// of the store (its log included) and in no stored value, in any encoding, and reads back whole.
func TestDLQSealedAtRest(t *testing.T) {
	s, dir := newStore(t)
	payload := []byte(`{"prompt":"refactor ` + sealCanary + ` please","cwd":"/home/` + sealCanary + `"}`)
	seqs := addDLQ(t, s,
		&store.DLQRecord{Stage: "capture", Reason: "bad", RecordID: id("r1"), Payload: payload},
		&store.DLQRecord{Stage: "capture", Reason: "oversized", RecordID: id("r2")},
	)
	got, err := s.DLQ(seqs[0])
	if err != nil || !bytes.Equal(got.Payload, payload) || got.PayloadBytes != len(payload) || got.PayloadError != "" || got.Sealed != nil {
		t.Fatalf("DLQ = %+v, %v; want the payload opened", got, err)
	}
	if got, err := s.DLQ(seqs[1]); err != nil || got.Payload != nil || got.PayloadBytes != 0 || got.PayloadError != "" {
		t.Errorf("a dead letter without payload: %+v, %v", got, err)
	}
	checkNoCanaryAtRest(t, s, dir)
	// The payload's size is listed without opening anything.
	n := 0
	if err := s.ScanDLQ(func(r store.DLQRecord) bool {
		if r.Seq == seqs[0] && r.PayloadBytes != len(payload) {
			t.Errorf("ScanDLQ: payload_bytes %d, want %d", r.PayloadBytes, len(payload))
		}
		n++
		return true
	}); err != nil || n != 2 {
		t.Fatalf("ScanDLQ: %d records, %v", n, err)
	}
	// Still so after the memtable is flushed to tables (compressed: the store's own decoding above
	// is what sees inside them).
	s = reopen(t, s)
	checkNoCanaryAtRest(t, s, dir)
}

// TestDLQPayloadKeys covers a store without a key and one whose key was replaced: nothing is
// written in the clear, what cannot be opened says why and is kept sealed as it was, and the
// right key opens it again.
func TestDLQPayloadKeys(t *testing.T) {
	dir := t.TempDir()
	payload := []byte(`{"prompt":"` + sealCanary + `"}`)
	s := openStore(t, dir)
	seq := addDLQ(t, s, &store.DLQRecord{Stage: "capture", RecordID: id("r1"), Payload: payload})[0]
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// No key: adding a payload fails (one without payload is fine); reading leaves it sealed.
	nokey, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := nokey.NewBatch()
	if _, err := b.AddDLQ(&store.DLQRecord{Stage: "capture", Payload: []byte("x")}); !errors.Is(err, store.ErrNoPayloadKey) {
		t.Errorf("AddDLQ with a payload and no key = %v, want ErrNoPayloadKey", err)
	}
	b.Close()
	r, err := nokey.DLQ(seq)
	if err != nil || r.Payload != nil || !strings.Contains(r.PayloadError, "no payload key") || r.PayloadBytes != len(payload) {
		t.Errorf("DLQ without a key = %+v, %v; want the payload sealed, saying why", r, err)
	}
	if err := nokey.Close(); err != nil {
		t.Fatal(err)
	}

	// Another key: reading says the payload was sealed under another key; a failed replay's
	// update keeps it sealed as it was.
	other, err := seal.NewKey(bytes.Repeat([]byte{9}, seal.KeyLen))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := store.Open(dir, store.Options{PayloadKey: other})
	if err != nil {
		t.Fatal(err)
	}
	r, err = s2.DLQ(seq)
	if err != nil || r.Payload != nil || !strings.Contains(r.PayloadError, "another payload key") || !strings.Contains(r.PayloadError, testKey.ID()) {
		t.Fatalf("DLQ under another key = %+v, %v; want an error naming the key it was sealed under", r, err)
	}
	if err := s2.UpdateDLQ(r, "the payload cannot be opened"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	// The right key opens it again.
	s = openStore(t, dir)
	r, err = s.DLQ(seq)
	if err != nil || !bytes.Equal(r.Payload, payload) || r.Attempts != 1 || r.Reason != "the payload cannot be opened" {
		t.Errorf("DLQ with the key back = %+v, %v; want the payload, the update kept", r, err)
	}
}

// TestSealDeadLetters reads, then seals, dead letters an earlier build wrote with their payloads
// in the clear.
func TestSealDeadLetters(t *testing.T) {
	s, dir := newStore(t)
	payload := []byte(`{"prompt":"` + sealCanary + `"}`)
	legacy, err := json.Marshal(map[string]any{
		"seq": 7, "time": t0, "stage": "capture", "reason": "boom", "source": "hook", "platform": "claude-code",
		"record_id": id("legacy"), "attempts": 1, "payload": payload,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SetRawDLQ(s, 7, legacy); err != nil {
		t.Fatal(err)
	}
	seq := addDLQ(t, s, &store.DLQRecord{Stage: "capture", RecordID: id("new"), Payload: []byte(`{"a":1}`)})[0]

	// Readable and replayable as it is.
	r, err := s.DLQ(7)
	if err != nil || !bytes.Equal(r.Payload, payload) || r.PayloadBytes != len(payload) || r.RecordID != id("legacy") {
		t.Fatalf("legacy DLQ = %+v, %v", r, err)
	}
	n, err := s.SealDeadLetters(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("SealDeadLetters = %d, %v; want 1 sealed", n, err)
	}
	if n, err := s.SealDeadLetters(context.Background()); err != nil || n != 0 {
		t.Errorf("SealDeadLetters again = %d, %v; want none left", n, err)
	}
	r, err = s.DLQ(7)
	if err != nil || !bytes.Equal(r.Payload, payload) || r.Reason != "boom" || r.Attempts != 1 {
		t.Errorf("after sealing: %+v, %v; want the same record", r, err)
	}
	if r, err := s.DLQ(seq); err != nil || string(r.Payload) != `{"a":1}` {
		t.Errorf("a sealed record after SealDeadLetters: %+v, %v", r, err)
	}
	if err := s.ScanAll(func(k, v []byte) error {
		if holdsCanary(v, sealCanary) {
			t.Errorf("store entry %q still holds the payload", k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	_ = dir
	if r, err := s.DLQ(7); err != nil || !bytes.Equal(r.Payload, payload) {
		t.Errorf("after reopen: %+v, %v", r, err)
	}
}
