//go:build unix

package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
	"github.com/hangar-dev/hangar/store/canarytest"
	"github.com/hangar-dev/hangar/store/seal"
)

// servingCapture is a capture that serves (payloadEvents, of the payload's first word) only while
// on is set, and otherwise says no capture serves the platform, as the agent's stage does while
// no plugin serves it.
type servingCapture struct{ on atomic.Bool }

func (c *servingCapture) Capture(rec *RawRecord) ([]sdk.Event, error) {
	if !c.on.Load() {
		return nil, Permanent(fmt.Errorf("no capture plugin serves %s: %w", rec.Platform, ErrNoCapture))
	}
	word, _, _ := bytes.Cut(rec.Payload, []byte(" "))
	r := *rec
	r.Payload = word
	return payloadEvents(&r)
}

// TestSubmitParksWithoutCapture: while no capture serves a platform, its records are parked,
// sealed, in the parked spool instead of dead-lettered; once a capture serves, draining the
// parked spool captures them, each once.
func TestSubmitParksWithoutCapture(t *testing.T) {
	st := openPebble(t)
	c := &servingCapture{}
	parked := NewSpool(filepath.Join(t.TempDir(), "parked"), testKey)
	in := startIntake(t, st, Captures{testPlatform: c, "good": capFunc(payloadEvents)}, IntakeConfig{Parked: parked})

	const mark = "zqPARKCANARYqz"
	recs := testRecs("p", 5, "x")
	for i := range recs {
		recs[i].Payload = []byte("x " + mark)
	}
	good := testRec("g", "")
	good.Platform = "good"
	res, err := in.Submit(context.Background(), append(recs, good))
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Stored: 1, Parked: 5}) {
		t.Errorf("Submit = %+v, want 1 stored and 5 parked", res)
	}
	if st.DLQCount() != 0 || !parked.Pending() {
		t.Fatalf("dlq %d, parked pending %v; want no dead letter, the records parked", st.DLQCount(), parked.Pending())
	}
	data, err := os.ReadFile(filepath.Join(parked.Dir(), spoolActive))
	if err != nil {
		t.Fatal(err)
	}
	if at, form := canarytest.NewFinder(mark).Find(data); at >= 0 {
		t.Fatalf("the parked spool holds a payload in the clear (%s)", form)
	}

	// Drained while still no capture serves: parked again, nothing lost, nothing dead-lettered.
	drainInto := func() DrainStats {
		t.Helper()
		ds, err := parked.Drain(func(recs []RawRecord) error {
			_, err := in.Submit(context.Background(), recs)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	if ds := drainInto(); ds.Records != 5 || !parked.Pending() || st.DLQCount() != 0 {
		t.Fatalf("drain without a capture: %+v, pending %v, dlq %d; want the 5 parked again", ds, parked.Pending(), st.DLQCount())
	}

	// A capture serves: the drain captures them.
	c.on.Store(true)
	if ds := drainInto(); ds.Records != 5 || parked.Pending() {
		t.Fatalf("drain with a capture: %+v, pending %v", ds, parked.Pending())
	}
	if n := st.EventCount(); n != 6 || st.DLQCount() != 0 {
		t.Errorf("%d events, %d dead letters; want 6 events (each record once), none dead-lettered", n, st.DLQCount())
	}

	// Without a parked spool, the same records are dead-lettered, saying why.
	st2 := openPebble(t)
	c.on.Store(false)
	in2 := startIntake(t, st2, Captures{testPlatform: c}, IntakeConfig{})
	if res, err := in2.Submit(context.Background(), testRecs("q", 2, "x")); err != nil || res != (Result{DeadLettered: 2}) {
		t.Fatalf("Submit without a parked spool = %+v, %v; want 2 dead-lettered", res, err)
	}
	if d := dlqList(t, st2); len(d) != 2 || !strings.Contains(d[0].Reason, "no capture") {
		t.Errorf("dead letters %+v", d)
	}
}

// TestSubmitUnopened: a spooled record whose payload could not be opened is dead-lettered still
// sealed, stays so on replay (saying why), and replays once the store has the key that sealed it.
func TestSubmitUnopened(t *testing.T) {
	otherKey, err := seal.NewKey(bytes.Repeat([]byte{4}, seal.KeyLen))
	if err != nil {
		t.Fatal(err)
	}
	st := openPebble(t)
	in := startIntake(t, st, nil, IntakeConfig{})
	rec := testRec("u", "x")
	sealed := otherKey.Seal(nil, rec.Payload, rec.ID[:])
	rec.Payload, rec.Unopened, rec.Source = sealed, fmt.Errorf("open: %w", seal.ErrOtherKey), "spool"
	res, err := in.Submit(context.Background(), []RawRecord{rec})
	if err != nil || res != (Result{DeadLettered: 1}) {
		t.Fatalf("Submit = %+v, %v; want it dead-lettered", res, err)
	}
	d := dlqList(t, st)
	if len(d) != 1 || d[0].Payload != nil || !strings.Contains(d[0].Reason, "cannot be opened") ||
		!strings.Contains(d[0].PayloadError, "another payload key") || d[0].PayloadBytes != 1 || d[0].RecordID != rec.ID {
		t.Fatalf("dead letter %+v; want it sealed, saying why", d)
	}
	dl := NewDeadLetters(st, in, nil)
	if r, err := dl.Replay(context.Background(), nil); err != nil || r != (ReplayResult{Failed: 1}) {
		t.Fatalf("Replay = %+v, %v; want it to stay", r, err)
	}
	if d := dlqList(t, st); len(d) != 1 || d[0].Attempts != 2 || !strings.Contains(d[0].Reason, "another payload key") {
		t.Errorf("after replay: %+v", d)
	}

	// The key that sealed it is back: it opens and replays.
	dir := st.Dir()
	in.Close(context.Background())
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, err := store.Open(dir, store.Options{PayloadKey: otherKey})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	in2 := startIntake(t, st2, nil, IntakeConfig{})
	if r, err := NewDeadLetters(st2, in2, nil).Replay(context.Background(), nil); err != nil || r != (ReplayResult{Replayed: 1}) {
		t.Fatalf("Replay with the key back = %+v, %v", r, err)
	}
	if n := st2.EventCount(); n != 1 || st2.DLQCount() != 0 {
		t.Errorf("%d events, %d dead letters; want the record captured", n, st2.DLQCount())
	}
}
