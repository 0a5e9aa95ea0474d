package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
)

// seqConsumer records the seqs of the entries it consumed, and writes for each a state entry
// keyed by seq whose value is the event id and the number of the Consume call. fail, if set, is
// asked about each entry after the state is written; an error fails the call.
type seqConsumer struct {
	name string
	fail func(e Entry, call int) error

	mu    sync.Mutex
	calls int
	seen  []uint64 // of calls that succeeded
}

func (c *seqConsumer) Name() string { return c.name }

func (c *seqConsumer) Consume(_ context.Context, entries []Entry, b *store.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	for _, e := range entries {
		b.PutState(c.name, seqStateKey(e.Seq), fmt.Appendf(nil, "%s/%d", e.Event.ID, c.calls))
		if c.fail != nil {
			if err := c.fail(e, c.calls); err != nil {
				return err
			}
		}
	}
	for _, e := range entries {
		c.seen = append(c.seen, e.Seq)
	}
	return nil
}

func (c *seqConsumer) seqs() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen)
}

func seqStateKey(seq uint64) []byte { return binary.BigEndian.AppendUint64([]byte("seq/"), seq) }

// seqRange returns from, from+1, ..., to.
func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// startConsumers returns a started runner of cs over st, closed when the test ends.
func startConsumers(t testing.TB, st *store.Store, cfg ConsumersConfig, cs ...Consumer) *Consumers {
	t.Helper()
	r, err := NewConsumers(st, cs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.Close)
	return r
}

// waitConsumed waits until every consumer of r has consumed the whole log.
func waitConsumed(t testing.TB, r *Consumers) {
	t.Helper()
	waitFor(t, "consumers to catch up", func() bool {
		for _, lag := range r.Lag() {
			if lag != 0 {
				return false
			}
		}
		return true
	})
}

// submit submits recs and fails the test on an error.
func submit(t testing.TB, in *Intake, recs []RawRecord) Result {
	t.Helper()
	res, err := in.Submit(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// checkSeqState checks that consumer's state holds exactly the seqs want, each with its event's id.
func checkSeqState(t testing.TB, st *store.Store, consumer string, want []uint64) {
	t.Helper()
	var got []uint64
	err := st.ScanState(consumer, []byte("seq/"), func(k, v []byte) error {
		seq := binary.BigEndian.Uint64(k[len("seq/"):])
		got = append(got, seq)
		ev, err := st.Event(seq)
		if err != nil {
			return err
		}
		if id, _, _ := strings.Cut(string(v), "/"); id != ev.ID.String() {
			t.Errorf("state of seq %d holds id %s, want %s", seq, id, ev.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("state of %s holds seqs %v, want %v", consumer, got, want)
	}
}

func TestConsumerSeesEveryEventOnce(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, nil, IntakeConfig{})
	submit(t, in, testRecs("before", 70, "")) // in the log before the consumer starts
	c := &seqConsumer{name: "seqs"}
	r := startConsumers(t, st, ConsumersConfig{BatchSize: 16}, c)
	for i := range 10 { // and while it runs
		submit(t, in, testRecs(fmt.Sprint("during", i), 3, "x*2"))
	}
	waitConsumed(t, r)

	const n = 70 + 10*3*2
	if got, want := c.seqs(), seqRange(1, n); !slices.Equal(got, want) {
		t.Errorf("consumed %v, want %v", got, want)
	}
	if cur, err := st.Cursor("seqs"); err != nil || cur != n {
		t.Errorf("Cursor = %d, %v; want %d", cur, err, n)
	}
	checkSeqState(t, st, "seqs", seqRange(1, n))
	if got, want := r.Lag(), map[string]uint64{"seqs": 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("Lag = %v, want %v", got, want)
	}

	// Restart over the same store: the new runner resumes after the cursor.
	r.Close()
	submit(t, in, testRecs("after", 5, ""))
	c2 := &seqConsumer{name: "seqs"}
	r2 := startConsumers(t, st, ConsumersConfig{BatchSize: 16}, c2)
	waitConsumed(t, r2)
	if got, want := c2.seqs(), seqRange(n+1, n+5); !slices.Equal(got, want) {
		t.Errorf("after restart consumed %v, want %v", got, want)
	}
	if got, want := c.seqs(), seqRange(1, n); !slices.Equal(got, want) {
		t.Errorf("closed consumer consumed %v, want %v", got, want)
	}
	checkSeqState(t, st, "seqs", seqRange(1, n+5))
}

func TestConsumerFailures(t *testing.T) {
	const n = 20
	badRec := testRec("r-7", "") // the 8th record: seq 8
	bad := EventID(&badRec, 0)
	const badSeq = 8
	errFlaky := errors.New("flaky")
	tests := []struct {
		name      string
		fail      func(e Entry, call int) error
		wantDead  bool
		wantWhy   string
		wantState []uint64
	}{
		{"permanent on one event", func(e Entry, _ int) error {
			if e.Event.ID == bad {
				return Permanent(errors.New("cannot digest"))
			}
			return nil
		}, true, "cannot digest", slices.Delete(seqRange(1, n), badSeq-1, badSeq)},
		{"panic on one event", func(e Entry, _ int) error {
			if e.Event.ID == bad {
				panic("oops")
			}
			return nil
		}, true, "consumer panicked: oops", slices.Delete(seqRange(1, n), badSeq-1, badSeq)},
		{"retryable twice, then success", func(_ Entry, call int) error {
			if call <= 2 {
				return errFlaky
			}
			return nil
		}, false, "", seqRange(1, n)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openPebble(t)
			in := startIntake(t, st, nil, IntakeConfig{})
			submit(t, in, testRecs("r", n, ""))
			c := &seqConsumer{name: "picky", fail: tt.fail}
			r := startConsumers(t, st, ConsumersConfig{BatchSize: 6, MaxBackoff: 10 * time.Millisecond}, c)
			waitConsumed(t, r)

			if cur, err := st.Cursor("picky"); err != nil || cur != n {
				t.Errorf("Cursor = %d, %v; want %d", cur, err, n)
			}
			if got := c.seqs(); !slices.Equal(got, tt.wantState) {
				t.Errorf("consumed %v, want %v", got, tt.wantState)
			}
			checkSeqState(t, st, "picky", tt.wantState)
			// Writes of failed calls must not commit: every state value comes from a call that succeeded.
			st.ScanState("picky", nil, func(k, v []byte) error {
				if _, call, _ := strings.Cut(string(v), "/"); tt.name == "retryable twice, then success" && (call == "1" || call == "2") {
					t.Errorf("state %x = %s was written by a failed call", k, v)
				}
				return nil
			})

			dead := dlqList(t, st)
			if !tt.wantDead {
				if len(dead) != 0 {
					t.Errorf("dead letters = %+v, want none", dead)
				}
				return
			}
			if len(dead) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dead))
			}
			d := dead[0]
			if d.Stage != "consumer:picky" || d.RecordID != bad || d.Platform != testPlatform || !strings.Contains(d.Reason, tt.wantWhy) {
				t.Errorf("dead letter = %+v, want stage consumer:picky, record %s, a reason with %q", d, bad, tt.wantWhy)
			}
			var ev sdk.Event
			if err := ev.UnmarshalBinary(d.Payload); err != nil || ev.ID != bad {
				t.Errorf("dead letter payload decodes to %+v, %v; want event %s", ev, err, bad)
			}
		})
	}
}

func TestNewConsumersNames(t *testing.T) {
	tests := []struct {
		name    string
		names   []string
		wantErr string
	}{
		{"valid", []string{"a", "daily-counts", "x.y_z"}, ""},
		{"none", nil, ""},
		{"duplicate", []string{"a", "b", "a"}, "registered twice"},
		{"empty", []string{""}, "not an identifier"},
		{"space", []string{"my consumer"}, "not an identifier"},
		{"NUL", []string{"a\x00b"}, "not an identifier"},
		{"non-ASCII", []string{"zähler"}, "not an identifier"},
		{"too long", []string{strings.Repeat("x", sdk.MaxIdentLen+1)}, "not an identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cs []Consumer
			for _, n := range tt.names {
				cs = append(cs, &seqConsumer{name: n})
			}
			r, err := NewConsumers(openPebble(t), cs, ConsumersConfig{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewConsumers = %v, want no error", err)
				}
				r.Close() // without Start
				r.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewConsumers = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestConsumersLag(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, nil, IntakeConfig{})
	r0, err := NewConsumers(st, []Consumer{&seqConsumer{name: "empty"}}, ConsumersConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r0.Lag(), map[string]uint64{"empty": 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("Lag of an empty log = %v, want %v", got, want)
	}
	submit(t, in, testRecs("r", 10, ""))
	b := st.NewBatch()
	b.SetCursor("behind", 4)
	b.SetCursor("ahead", 99) // a cursor past the log (the log lost its tail) lags by nothing
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	r, err := NewConsumers(st, []Consumer{&seqConsumer{name: "behind"}, &seqConsumer{name: "new"}, &seqConsumer{name: "ahead"}}, ConsumersConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Lag(), map[string]uint64{"behind": 6, "new": 10, "ahead": 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("Lag = %v, want %v", got, want)
	}
	r.Start()
	defer r.Close()
	waitConsumed(t, r)
	if got, want := r.Lag(), map[string]uint64{"behind": 0, "new": 0, "ahead": 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("Lag after catching up = %v, want %v", got, want)
	}
}

func TestDailyCounts(t *testing.T) {
	st := openPebble(t)
	caps := Captures{testPlatform: capFunc(payloadEvents), "other": capFunc(payloadEvents)}
	in := startIntake(t, st, caps, IntakeConfig{})
	day1 := time.Date(2025, 6, 14, 23, 59, 59, 0, time.UTC)
	day2 := time.Date(2025, 6, 15, 0, 0, 0, 0, time.UTC)
	day2Local := day2.Add(3 * time.Hour).In(time.FixedZone("east", 5*3600)) // still June 15 in UTC
	rec := func(name, platform, payload string, at time.Time) RawRecord {
		r := testRec(name, payload)
		r.Platform, r.ReceivedAt = platform, at
		return r
	}
	submit(t, in, []RawRecord{
		rec("1", testPlatform, "a*3", day1),
		rec("2", testPlatform, "a*3", day1),
		rec("3", testPlatform, "b", day1),
		rec("4", "other", "a*2", day1),
		rec("5", testPlatform, "a*2", day2),
	})
	d := NewDailyCounts(st)
	r := startConsumers(t, st, ConsumersConfig{BatchSize: 4}, d)
	submit(t, in, []RawRecord{rec("6", testPlatform, "a", day2Local), rec("1", testPlatform, "a*3", day1)}) // the second is a duplicate
	waitConsumed(t, r)

	want := []DayCount{
		{"2025-06-14", "other", "test.a", 2},
		{"2025-06-14", "test", "test.a", 6},
		{"2025-06-14", "test", "test.b", 1},
		{"2025-06-15", "test", "test.a", 3},
	}
	check := func(when string) {
		t.Helper()
		got, err := d.Days()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Days = %v, want %v", when, got, want)
		}
		var sum int64
		for _, c := range got {
			sum += c.Count
		}
		if n := st.EventCount(); sum != n {
			t.Errorf("%s: counts sum to %d, want the %d events stored", when, sum, n)
		}
		for pk, n := range st.Counts() {
			var byKind int64
			for _, c := range got {
				if c.Platform == pk.Platform && c.Kind == pk.Kind {
					byKind += c.Count
				}
			}
			if byKind != n {
				t.Errorf("%s: counts of %v sum to %d, want %d", when, pk, byKind, n)
			}
		}
	}
	check("first run")

	// Restart: the counts carry on from the state, exactly once.
	r.Close()
	submit(t, in, []RawRecord{rec("7", testPlatform, "b*4", day2)})
	r2 := startConsumers(t, st, ConsumersConfig{}, NewDailyCounts(st))
	waitConsumed(t, r2)
	want = append(want, DayCount{"2025-06-15", "test", "test.b", 4})
	check("after restart")
}

// TestDailyCountsCorruptState checks that a count that cannot be read dead-letters the entries that
// would add to it and leaves the others counted.
func TestDailyCountsCorruptState(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, nil, IntakeConfig{})
	b := st.NewBatch()
	b.PutState(DailyCountsName, []byte("2025-06-14\x00test\x00test.bad"), []byte{1, 2, 3})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	submit(t, in, []RawRecord{testRec("1", "good*2"), testRec("2", "bad"), testRec("3", "good")})
	d := NewDailyCounts(st)
	r := startConsumers(t, st, ConsumersConfig{}, d)
	waitConsumed(t, r)
	dead := dlqList(t, st)
	if len(dead) != 1 || dead[0].Stage != "consumer:"+DailyCountsName || !strings.Contains(dead[0].Reason, "value of 3 bytes") {
		t.Errorf("dead letters = %+v, want one of stage consumer:%s for the bad count", dead, DailyCountsName)
	}
	v, err := st.State(DailyCountsName, []byte("2025-06-14\x00test\x00test.good"))
	if err != nil || !bytes.Equal(v, binary.BigEndian.AppendUint64(nil, 3)) {
		t.Errorf("count of test.good = %x, %v; want 3", v, err)
	}
}

// addDerived commits n derived records of each of kinds, interleaved, and returns the sequence
// numbers each kind got, and the id of each record by sequence number.
func addDerived(t testing.TB, st *store.Store, prefix string, n int, kinds ...string) (map[string][]uint64, map[uint64]sdk.ID) {
	t.Helper()
	seqs := map[string][]uint64{}
	ids := map[uint64]sdk.ID{}
	for i := range n {
		for _, kind := range kinds {
			b := st.NewBatch()
			ev := sdk.Event{ID: sdk.NewID("derived-test", []byte(prefix), []byte(kind), fmt.Append(nil, i)),
				Platform: testPlatform, Kind: "count", Time: testDay}
			if err := b.AddDerived(kind, &ev); err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			seq := st.LastDerivedSeq()
			seqs[kind] = append(seqs[kind], seq)
			ids[seq] = ev.ID
		}
	}
	return seqs, ids
}

// serialConsumer is a seqConsumer that notes whether two of its calls ever overlapped.
type serialConsumer struct {
	seqConsumer
	running, overlapped atomic.Bool
}

func (c *serialConsumer) Consume(ctx context.Context, entries []Entry, b *store.Batch) error {
	if c.running.Swap(true) {
		c.overlapped.Store(true)
	}
	defer c.running.Store(false)
	time.Sleep(time.Millisecond) // long enough for a call of another kind to overlap, if it may
	return c.seqConsumer.Consume(ctx, entries, b)
}

// TestDerivedConsumer: a consumer of derived records sees every record of its kinds once, in
// sequence order per kind, across a restart, and none of another kind; its calls never overlap;
// a record it fails permanently is dead-lettered under its stage, with the kind as source; its
// cursors are in its state, one per kind.
func TestDerivedConsumer(t *testing.T) {
	st := openPebble(t)
	seqs, ids := addDerived(t, st, "before", 30, "ka", "kb", "other")
	bad := seqs["kb"][7]
	c := &serialConsumer{seqConsumer: seqConsumer{name: "plugin:x", fail: func(e Entry, _ int) error {
		if e.Event.ID == ids[bad] {
			return Permanent(errors.New("cannot digest"))
		}
		return nil
	}}}
	start := func() *Consumers {
		r, err := NewDerivedConsumer(st, c, []string{"ka", "kb"}, "insight:x", ConsumersConfig{BatchSize: 8, MaxBackoff: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		r.Start()
		t.Cleanup(r.Close)
		return r
	}
	r := start()
	waitConsumed(t, r)
	r.Close()
	more, moreIDs := addDerived(t, st, "after", 5, "kb", "ka", "other")
	for k, v := range moreIDs {
		ids[k] = v
	}
	if got := r.Lag()["plugin:x"]; got != 10 {
		t.Errorf("Lag after adding 5 of each kind = %d, want 10", got)
	}
	r = start()
	waitConsumed(t, r)

	var want []uint64
	for _, kind := range []string{"ka", "kb"} {
		want = append(append(want, seqs[kind]...), more[kind]...)
	}
	want = slices.DeleteFunc(want, func(s uint64) bool { return s == bad })
	got := c.seqs()
	for _, kind := range []string{"ka", "kb"} {
		of := append(slices.Clone(seqs[kind]), more[kind]...)
		var order []uint64
		for _, s := range got {
			if slices.Contains(of, s) {
				order = append(order, s)
			}
		}
		if !slices.IsSorted(order) {
			t.Errorf("records of %s consumed in the order %v", kind, order)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("consumed %v, want %v", got, want)
	}
	if c.overlapped.Load() {
		t.Error("two calls of the consumer overlapped")
	}
	for _, kind := range []string{"ka", "kb"} {
		v, err := st.State("plugin:x", append([]byte{'c'}, kind...))
		if last := more[kind][len(more[kind])-1]; err != nil || len(v) != 8 || binary.BigEndian.Uint64(v) != last {
			t.Errorf("cursor of %s = %x, %v; want %d", kind, v, err, last)
		}
	}
	dead := dlqList(t, st)
	if len(dead) != 1 || dead[0].Stage != "insight:x" || dead[0].Source != "derived:kb" || dead[0].RecordID != ids[bad] || !strings.Contains(dead[0].Reason, "cannot digest") {
		t.Errorf("dead letters = %+v, want one of record %s, stage insight:x, source derived:kb", dead, ids[bad])
	}
	if _, err := r.Replay(context.Background(), dead[0]); !errors.Is(err, ErrStageNotRunning) {
		t.Errorf("Replay of a derived consumer's dead letter = %v, want ErrStageNotRunning", err)
	}
}

func TestNewDerivedConsumerRefuses(t *testing.T) {
	st := openPebble(t)
	tests := []struct {
		name    string
		c       string
		kinds   []string
		wantErr string
	}{
		{"no kinds", "a", nil, "no kinds"},
		{"repeated kind", "a", []string{"k", "k"}, "repeated"},
		{"empty kind", "a", []string{""}, "empty"},
		{"bad name", "a b", []string{"k"}, "not an identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDerivedConsumer(st, &seqConsumer{name: tt.c}, tt.kinds, "insight:a", ConsumersConfig{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewDerivedConsumer = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
	b := st.NewBatch()
	b.PutState("a", []byte("ck"), []byte{1, 2})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDerivedConsumer(st, &seqConsumer{name: "a"}, []string{"k"}, "insight:a", ConsumersConfig{}); err == nil || !strings.Contains(err.Error(), "2 bytes") {
		t.Errorf("NewDerivedConsumer over a corrupt cursor = %v, want an error", err)
	}
}
