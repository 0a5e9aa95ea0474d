package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// dlqSeqs returns the seqs of the dead letters of st.
func dlqSeqs(t testing.TB, st *store.Store) []uint64 {
	t.Helper()
	var out []uint64
	for _, r := range dlqList(t, st) {
		out = append(out, r.Seq)
	}
	return out
}

// commitLog collects what ObserveCommit sees.
type commitLog struct {
	mu    sync.Mutex
	items []int
}

func (c *commitLog) observe(items int, _ time.Duration) {
	c.mu.Lock()
	c.items = append(c.items, items)
	c.mu.Unlock()
}

func (c *commitLog) since(n int) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.items[n:])
}

func (c *commitLog) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

func TestReplayCapture(t *testing.T) {
	tests := []struct {
		name string
		// setup dead-letters rec and returns the intake to replay with, after fixing the cause.
		setup      func(t *testing.T, st *store.Store, commits *commitLog, rec RawRecord) *Intake
		resubmit   bool // submit the record again, fixed, before the replay
		wantEvents int64
	}{
		{"capture fixed", func(t *testing.T, st *store.Store, commits *commitLog, rec RawRecord) *Intake {
			var fixed atomic.Bool
			in := startIntake(t, st, Captures{testPlatform: capFunc(func(rec *RawRecord) ([]sdk.Event, error) {
				if !fixed.Load() {
					return nil, Permanent(errors.New("not yet"))
				}
				return payloadEvents(rec)
			})}, IntakeConfig{ObserveCommit: commits.observe})
			if res := submit(t, in, []RawRecord{rec}); res != (Result{DeadLettered: 1}) {
				t.Fatalf("Submit = %+v, want a dead letter", res)
			}
			fixed.Store(true)
			return in
		}, false, 2},
		{"platform registered later", func(t *testing.T, st *store.Store, commits *commitLog, rec RawRecord) *Intake {
			old := startIntake(t, st, Captures{}, IntakeConfig{})
			if res := submit(t, old, []RawRecord{rec}); res != (Result{DeadLettered: 1}) {
				t.Fatalf("Submit = %+v, want a dead letter", res)
			}
			if err := old.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			return startIntake(t, st, nil, IntakeConfig{ObserveCommit: commits.observe})
		}, false, 2},
		{"stored meanwhile", func(t *testing.T, st *store.Store, commits *commitLog, rec RawRecord) *Intake {
			old := startIntake(t, st, Captures{}, IntakeConfig{})
			submit(t, old, []RawRecord{rec})
			old.Close(context.Background())
			return startIntake(t, st, nil, IntakeConfig{ObserveCommit: commits.observe})
		}, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openPebble(t)
			commits := &commitLog{}
			rec := testRec("r", "x*2")
			in := tt.setup(t, st, commits, rec)
			seqs := dlqSeqs(t, st)
			if len(seqs) != 1 {
				t.Fatalf("dead letters %v, want 1", seqs)
			}
			if tt.resubmit {
				if res := submit(t, in, []RawRecord{rec}); res != (Result{Stored: 2}) {
					t.Fatalf("Submit again = %+v, want 2 stored", res)
				}
			}
			before := commits.len()
			dl := NewDeadLetters(st, in, nil)
			got, err := dl.Replay(context.Background(), seqs)
			if err != nil {
				t.Fatal(err)
			}
			if want := (ReplayResult{Replayed: 1}); got != want {
				t.Errorf("Replay = %+v, want %+v", got, want)
			}
			if left := dlqSeqs(t, st); len(left) != 0 {
				t.Errorf("dead letters after replay = %v, want none", left)
			}
			if n := st.DLQCount(); n != 0 {
				t.Errorf("DLQCount = %d, want 0", n)
			}
			if n := st.EventCount(); n != tt.wantEvents {
				t.Errorf("EventCount = %d, want %d", n, tt.wantEvents)
			}
			for i := range 2 {
				if _, _, err := st.EventByID(EventID(&rec, i)); err != nil {
					t.Errorf("event %d of the replayed record: %v", i, err)
				}
			}
			// One commit both stores the events and removes the record.
			if got, want := commits.since(before), []int{2 + 1}; !slices.Equal(got, want) {
				t.Errorf("replay commits %v, want %v", got, want)
			}
			if _, err := dl.Get(seqs[0]); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get of the replayed record = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestReplayCaptureFailsAgain(t *testing.T) {
	st := openPebble(t)
	var calls atomic.Int64
	in := startIntake(t, st, Captures{testPlatform: capFunc(func(*RawRecord) ([]sdk.Event, error) {
		return nil, Permanent(fmt.Errorf("reject #%d", calls.Add(1)))
	})}, IntakeConfig{})
	submit(t, in, []RawRecord{testRec("r", "")})
	dl := NewDeadLetters(st, in, nil)
	seqs := dlqSeqs(t, st)
	if len(seqs) != 1 {
		t.Fatalf("dead letters %v, want 1", seqs)
	}
	for attempt := 2; attempt <= 3; attempt++ {
		got, err := dl.Replay(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := (ReplayResult{Failed: 1}); got != want {
			t.Errorf("Replay = %+v, want %+v", got, want)
		}
		d, err := dl.Get(seqs[0])
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("reject #%d", attempt); d.Attempts != attempt || !strings.Contains(d.Reason, want) {
			t.Errorf("after replay: attempts %d, reason %q; want %d and a reason with %q", d.Attempts, d.Reason, attempt, want)
		}
		if d.Stage != "capture" || string(d.Payload) != "" || d.RecordID != testRec("r", "").ID {
			t.Errorf("after replay: %+v, want the same record", d)
		}
	}
	if n := st.DLQCount(); n != 1 {
		t.Errorf("DLQCount = %d, want 1", n)
	}
	if n := st.EventCount(); n != 0 {
		t.Errorf("EventCount = %d, want 0", n)
	}
}

func TestReplayConsumer(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, nil, IntakeConfig{})
	recs := testRecs("r", 5, "")
	bad := EventID(&recs[2], 0) // seq 3
	var fixed atomic.Bool
	c := &seqConsumer{name: "picky", fail: func(e Entry, _ int) error {
		if e.Event.ID == bad && !fixed.Load() {
			return Permanent(errors.New("cannot digest"))
		}
		return nil
	}}
	r := startConsumers(t, st, ConsumersConfig{}, c)
	submit(t, in, recs)
	waitConsumed(t, r)
	checkSeqState(t, st, "picky", []uint64{1, 2, 4, 5})
	seqs := dlqSeqs(t, st)
	if len(seqs) != 1 {
		t.Fatalf("dead letters %v, want 1", seqs)
	}
	dl := NewDeadLetters(st, in, r)

	// Still broken: the record stays, with one more attempt.
	got, err := dl.Replay(context.Background(), seqs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ReplayResult{Failed: 1}); got != want {
		t.Errorf("Replay while broken = %+v, want %+v", got, want)
	}
	if d, err := dl.Get(seqs[0]); err != nil || d.Attempts != 2 || !strings.Contains(d.Reason, "cannot digest") {
		t.Errorf("after a failed replay: %+v, %v; want 2 attempts", d, err)
	}
	checkSeqState(t, st, "picky", []uint64{1, 2, 4, 5})

	fixed.Store(true)
	got, err = dl.Replay(context.Background(), seqs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ReplayResult{Replayed: 1}); got != want {
		t.Errorf("Replay = %+v, want %+v", got, want)
	}
	if left := dlqSeqs(t, st); len(left) != 0 {
		t.Errorf("dead letters after replay = %v, want none", left)
	}
	// The replayed entry comes with its place in the log.
	checkSeqState(t, st, "picky", []uint64{1, 2, 3, 4, 5})
	if cur, err := st.Cursor("picky"); err != nil || cur != 5 {
		t.Errorf("Cursor = %d, %v; want 5 (a replay does not move it)", cur, err)
	}
}

func TestReplayUnknownStage(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, nil, IntakeConfig{})
	r, err := NewConsumers(st, []Consumer{&seqConsumer{name: "known"}}, ConsumersConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		stage     string
		consumers *Consumers
	}{
		{"consumer:gone", r},
		{"consumer:known", nil},
		{"transform", r},
	}
	for _, tt := range tests {
		t.Run(tt.stage, func(t *testing.T) {
			b := st.NewBatch()
			seq, err := b.AddDLQ(&store.DLQRecord{Stage: tt.stage, Reason: "test", Attempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			res, err := NewDeadLetters(st, in, tt.consumers).Replay(context.Background(), []uint64{seq})
			if err != nil || res != (ReplayResult{Skipped: 1}) {
				t.Errorf("Replay = %+v, %v; want it skipped: its stage is not running", res, err)
			}
			if _, err := st.DLQ(seq); err != nil {
				t.Errorf("the record must stay: %v", err)
			}
		})
	}
}

func TestDrop(t *testing.T) {
	tests := []struct {
		name     string
		drop     []int // indexes of the four records; nil drops all
		wantLeft []int
	}{
		{"one", []int{1}, []int{0, 2, 3}},
		{"two", []int{0, 3}, []int{1, 2}},
		{"all", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openPebble(t)
			in := startIntake(t, st, Captures{}, IntakeConfig{}) // every record is dead-lettered
			submit(t, in, testRecs("r", 4, ""))
			dl := NewDeadLetters(st, in, nil)
			all := dlqSeqs(t, st)
			if len(all) != 4 {
				t.Fatalf("dead letters %v, want 4", all)
			}
			var drop, wantLeft []uint64
			for _, i := range tt.drop {
				drop = append(drop, all[i])
			}
			for _, i := range tt.wantLeft {
				wantLeft = append(wantLeft, all[i])
			}
			n, err := dl.Drop(drop)
			if err != nil {
				t.Fatal(err)
			}
			if want := 4 - len(wantLeft); n != want {
				t.Errorf("Drop = %d, want %d", n, want)
			}
			if left := dlqSeqs(t, st); !slices.Equal(left, wantLeft) {
				t.Errorf("left %v, want %v", left, wantLeft)
			}
			if n := st.DLQCount(); n != int64(len(wantLeft)) {
				t.Errorf("DLQCount = %d, want %d", n, len(wantLeft))
			}
			list, err := dl.List(0)
			if err != nil || len(list) != len(wantLeft) {
				t.Errorf("List = %d records, %v; want %d", len(list), err, len(wantLeft))
			}
			// Dropping the rest leaves nothing, and dropping from an empty queue drops nothing.
			if _, err := dl.Drop(nil); err != nil {
				t.Fatal(err)
			}
			if n, err := dl.Drop(nil); n != 0 || err != nil {
				t.Errorf("Drop of an empty queue = %d, %v; want 0", n, err)
			}
			if n := st.DLQCount(); n != 0 {
				t.Errorf("DLQCount = %d, want 0", n)
			}
		})
	}
}

func TestDeadLettersList(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, Captures{}, IntakeConfig{})
	recs := testRecs("r", 5, "")
	submit(t, in, recs)
	dl := NewDeadLetters(st, in, nil)
	for _, limit := range []int{-1, 0, 1, 3, 5, 9} {
		list, err := dl.List(limit)
		if err != nil {
			t.Fatal(err)
		}
		want := 5
		if limit > 0 {
			want = min(limit, 5)
		}
		if len(list) != want {
			t.Errorf("List(%d) = %d records, want %d", limit, len(list), want)
		}
		for i, r := range list {
			if r.RecordID != recs[i].ID || (i > 0 && r.Seq <= list[i-1].Seq) {
				t.Errorf("List(%d)[%d] = seq %d record %s, want record %s in queue order", limit, i, r.Seq, r.RecordID, recs[i].ID)
			}
		}
	}
}

func TestDeadLettersNotFound(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, Captures{}, IntakeConfig{})
	submit(t, in, testRecs("r", 1, ""))
	dl := NewDeadLetters(st, in, nil)
	seqs := dlqSeqs(t, st)
	if len(seqs) != 1 {
		t.Fatalf("dead letters %v, want 1", seqs)
	}
	missing := seqs[0] + 100
	tests := []struct {
		name string
		op   func() error
	}{
		{"Get", func() error { _, err := dl.Get(missing); return err }},
		{"Drop", func() error { _, err := dl.Drop([]uint64{seqs[0], missing}); return err }},
		{"Replay", func() error { _, err := dl.Replay(context.Background(), []uint64{seqs[0], missing}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s of a missing seq = %v, want an error wrapping store.ErrNotFound", tt.name, err)
			}
			// Nothing happened to the record that exists.
			if d, err := dl.Get(seqs[0]); err != nil || d.Attempts != 1 {
				t.Errorf("existing record = %+v, %v; want it untouched", d, err)
			}
		})
	}
}

// TestReplayCanceled checks that a replay the caller gives up on, while the capture is being
// retried, is no failed attempt: the record stays as it was.
func TestReplayCanceled(t *testing.T) {
	st := openPebble(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var flaky atomic.Bool
	in := startIntake(t, st, Captures{testPlatform: capFunc(func(*RawRecord) ([]sdk.Event, error) {
		if flaky.Load() {
			cancel()
			return nil, errors.New("flaky")
		}
		return nil, Permanent(errors.New("rejected"))
	})}, IntakeConfig{CaptureRetries: 10})
	submit(t, in, []RawRecord{testRec("r", "")})
	seqs := dlqSeqs(t, st)
	if len(seqs) != 1 {
		t.Fatalf("dead letters %v, want 1", seqs)
	}
	flaky.Store(true)
	dl := NewDeadLetters(st, in, nil)
	if res, err := dl.Replay(ctx, seqs); !errors.Is(err, context.Canceled) {
		t.Errorf("Replay = %+v, %v; want context.Canceled", res, err)
	}
	if d, err := dl.Get(seqs[0]); err != nil || d.Attempts != 1 || !strings.Contains(d.Reason, "rejected") {
		t.Errorf("record after a canceled replay = %+v, %v; want it unchanged", d, err)
	}
}

// TestReplaySkipsStagesNotRunning: a dead letter whose stage is not running (a plugin since
// disabled) stays in the queue, and the others still replay.
func TestReplaySkipsStagesNotRunning(t *testing.T) {
	st := openPebble(t)
	b := st.NewBatch()
	for _, stage := range []string{"consumer:plugin:gone", "insight:gone"} {
		if _, err := b.AddDLQ(&store.DLQRecord{Stage: stage, Reason: "r", Payload: []byte{1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	in, err := NewIntake(st, Captures{}, IntakeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(context.Background())
	cons, err := NewConsumers(st, nil, ConsumersConfig{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := NewDeadLetters(st, in, cons).Replay(context.Background(), nil)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if got, want := res, (ReplayResult{Skipped: 2}); got != want {
		t.Fatalf("Replay = %+v, want %+v", got, want)
	}
	if got := st.DLQCount(); got != 2 {
		t.Fatalf("DLQCount = %d, want 2 (skipped records stay)", got)
	}
}
