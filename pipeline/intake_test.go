package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
	"github.com/hangar-dev/hangar/store/storetest"
)

// Helpers shared by the intake, consumer and dead-letter tests.

const testPlatform = "test"

var testDay = time.Date(2025, 6, 14, 9, 26, 53, 0, time.UTC)

// testKey is the payload key of the tests' stores (and spools).
var testKey = storetest.Key

// openPebble opens a store in a fresh directory, with testKey, closed when the test ends.
var openPebble = storetest.Open

// capFunc is a Capture made of a function.
type capFunc func(rec *RawRecord) ([]sdk.Event, error)

func (f capFunc) Capture(rec *RawRecord) ([]sdk.Event, error) { return f(rec) }

// payloadEvents is the capture of the tests: a payload "kind" or "kind*n" yields n events (default
// 1) of kind "test.<kind>"; an empty payload yields one event of kind "test.event". Event times are
// the record's ReceivedAt.
func payloadEvents(rec *RawRecord) ([]sdk.Event, error) {
	kind, count, _ := strings.Cut(string(rec.Payload), "*")
	if kind == "" {
		kind = "event"
	}
	n := 1
	if count != "" {
		var err error
		if n, err = strconv.Atoi(count); err != nil {
			return nil, Permanent(err)
		}
	}
	evs := make([]sdk.Event, n)
	for i := range evs {
		evs[i] = sdk.Event{ID: EventID(rec, i), Platform: rec.Platform, Kind: "test." + kind, Time: rec.ReceivedAt,
			Attrs: []sdk.Attr{sdk.Int("i", int64(i))}}
	}
	return evs, nil
}

// testRec returns a record of the test platform whose id derives from name.
func testRec(name, payload string) RawRecord {
	return RawRecord{ID: sdk.NewID("test", []byte(name)), Platform: testPlatform, Source: "api", ReceivedAt: testDay, Payload: []byte(payload)}
}

// testRecs returns n records named prefix-0 ... prefix-(n-1), each with the payload.
func testRecs(prefix string, n int, payload string) []RawRecord {
	recs := make([]RawRecord, n)
	for i := range recs {
		recs[i] = testRec(fmt.Sprintf("%s-%d", prefix, i), payload)
	}
	return recs
}

// startIntake returns an intake over st with the test capture (unless caps is given), closed when
// the test ends.
func startIntake(t testing.TB, st *store.Store, caps Captures, cfg IntakeConfig) *Intake {
	t.Helper()
	if caps == nil {
		caps = Captures{testPlatform: capFunc(payloadEvents)}
	}
	in, err := NewIntake(st, caps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(context.Background()) })
	return in
}

// holdCommitter makes the intake's committer wait until release is called: the store lets one
// batch append events at a time, and this batch appends first and holds on.
func holdCommitter(t testing.TB, st *store.Store) (release func()) {
	t.Helper()
	b := st.NewBatch()
	ev := sdk.Event{ID: sdk.NewID("hold", []byte(t.Name())), Platform: "hold", Kind: "hold"}
	if _, err := b.AddEvent(&ev); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(b.Close) }
	t.Cleanup(release)
	return release
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// dlqList returns every dead letter of st.
func dlqList(t testing.TB, st *store.Store) []store.DLQRecord {
	t.Helper()
	var out []store.DLQRecord
	if err := st.ScanDLQ(func(r store.DLQRecord) bool { out = append(out, r); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSubmitStores(t *testing.T) {
	tests := []struct {
		name string
		recs []RawRecord
		want Result
	}{
		{"nothing", nil, Result{}},
		{"one event", []RawRecord{testRec("a", "")}, Result{Stored: 1}},
		{"three events of one record", []RawRecord{testRec("a", "x*3")}, Result{Stored: 3}},
		{"records of 2, 0 and 1 events", []RawRecord{testRec("a", "x*2"), testRec("b", "x*0"), testRec("c", "y")}, Result{Stored: 3}},
		{"many records", testRecs("r", 250, ""), Result{Stored: 250}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openPebble(t)
			in := startIntake(t, st, nil, IntakeConfig{})
			got, err := in.Submit(context.Background(), tt.recs)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Submit = %+v, want %+v", got, tt.want)
			}
			if n := st.EventCount(); n != int64(tt.want.Stored) {
				t.Errorf("EventCount = %d, want %d", n, tt.want.Stored)
			}
			if n := st.LastSeq(); n != uint64(tt.want.Stored) {
				t.Errorf("LastSeq = %d, want %d", n, tt.want.Stored)
			}
			for i := range tt.recs {
				rec := &tt.recs[i]
				want, _ := payloadEvents(rec)
				for j := range want {
					_, ev, err := st.EventByID(EventID(rec, j))
					if err != nil {
						t.Fatalf("event %d of record %d: %v", j, i, err)
					}
					if ev.Kind != want[j].Kind || !ev.Time.Equal(want[j].Time) || ev.IngestTime.IsZero() {
						t.Errorf("event %d of record %d = %+v, want kind %s, time %v and an ingest time", j, i, ev, want[j].Kind, want[j].Time)
					}
				}
			}
		})
	}
}

func TestSubmitDuplicates(t *testing.T) {
	tests := []struct {
		name         string
		first, again []RawRecord
		want         Result // of again
		wantEvents   int64  // stored in all
	}{
		{"same records again", []RawRecord{testRec("a", "x*2"), testRec("b", "")}, []RawRecord{testRec("a", "x*2"), testRec("b", "")},
			Result{Duplicates: 3}, 3},
		{"overlapping", []RawRecord{testRec("a", "")}, []RawRecord{testRec("a", ""), testRec("b", "")},
			Result{Stored: 1, Duplicates: 1}, 2},
		{"same record twice in one submit", nil, []RawRecord{testRec("a", "x*2"), testRec("a", "x*2")},
			Result{Stored: 2, Duplicates: 2}, 2},
		{"same id, other payload", []RawRecord{testRec("a", "x")}, []RawRecord{testRec("a", "y")},
			Result{Duplicates: 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openPebble(t)
			in := startIntake(t, st, nil, IntakeConfig{})
			if _, err := in.Submit(context.Background(), tt.first); err != nil {
				t.Fatal(err)
			}
			got, err := in.Submit(context.Background(), tt.again)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Submit again = %+v, want %+v", got, tt.want)
			}
			if n := st.EventCount(); n != tt.wantEvents {
				t.Errorf("EventCount = %d, want %d", n, tt.wantEvents)
			}
			if n := st.LastSeq(); n != uint64(tt.wantEvents) {
				t.Errorf("LastSeq = %d, want %d", n, tt.wantEvents)
			}
		})
	}
}

func TestSubmitZeroID(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, nil, IntakeConfig{})
	recs := []RawRecord{{Platform: testPlatform, Payload: []byte("x")}, {Platform: testPlatform, Payload: []byte("x")}}
	got, err := in.Submit(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Result{Stored: 2}); got != want {
		t.Errorf("Submit = %+v, want %+v: records without id must get distinct random ids", got, want)
	}
	for i, r := range recs {
		if r.ID.IsZero() {
			t.Errorf("record %d still has a zero id", i)
		}
		if r.ReceivedAt.IsZero() {
			t.Errorf("record %d has no received time", i)
		}
		if _, _, err := st.EventByID(EventID(&recs[i], 0)); err != nil {
			t.Errorf("event of record %d: %v", i, err)
		}
	}
	if recs[0].ID == recs[1].ID {
		t.Errorf("both records got id %s", recs[0].ID)
	}
}

func TestSubmitDeadLetters(t *testing.T) {
	errFlaky := errors.New("flaky")
	tests := []struct {
		name      string
		platform  string // of the record; "" is the test platform
		capture   func(calls int, rec *RawRecord) ([]sdk.Event, error)
		wantRes   Result
		wantCalls int
		wantWhy   string // in the dead letter's reason; "" means no dead letter
	}{
		{"unknown platform", "nope", nil, Result{DeadLettered: 1}, 0, `no capture for platform "nope"`},
		{"permanent error", "", func(int, *RawRecord) ([]sdk.Event, error) {
			return nil, Permanent(errors.New("not a hook payload"))
		}, Result{DeadLettered: 1}, 1, "not a hook payload"},
		{"retryable error, then success", "", func(calls int, rec *RawRecord) ([]sdk.Event, error) {
			if calls < 3 {
				return nil, errFlaky
			}
			return payloadEvents(rec)
		}, Result{Stored: 1}, 3, ""},
		{"always retryable", "", func(int, *RawRecord) ([]sdk.Event, error) {
			return nil, errFlaky
		}, Result{DeadLettered: 1}, 3 + 1, "flaky"},
		{"panic", "", func(int, *RawRecord) ([]sdk.Event, error) {
			panic("boom")
		}, Result{DeadLettered: 1}, 1, "capture panicked: boom"},
		{"ident with a space", "", func(_ int, rec *RawRecord) ([]sdk.Event, error) {
			evs, _ := payloadEvents(rec)
			evs[0].Attrs = append(evs[0].Attrs, sdk.Ident("tool_name", "rm -rf"))
			return evs, nil
		}, Result{DeadLettered: 1}, 1, "invalid event"},
		{"zero event id", "", func(_ int, rec *RawRecord) ([]sdk.Event, error) {
			evs, _ := payloadEvents(rec)
			evs[0].ID = sdk.ID{}
			return evs, nil
		}, Result{DeadLettered: 1}, 1, "invalid event"},
		{"one good event, one bad", "", func(_ int, rec *RawRecord) ([]sdk.Event, error) {
			evs, _ := payloadEvents(&RawRecord{ID: rec.ID, Platform: rec.Platform, Payload: []byte("x*2")})
			evs[1].Kind = "has space"
			return evs, nil
		}, Result{DeadLettered: 1}, 1, "invalid event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openPebble(t)
			var calls atomic.Int64
			caps := Captures{"good": capFunc(payloadEvents)}
			if tt.capture != nil {
				caps[testPlatform] = capFunc(func(rec *RawRecord) ([]sdk.Event, error) {
					return tt.capture(int(calls.Add(1)), rec)
				})
			}
			in := startIntake(t, st, caps, IntakeConfig{CaptureRetries: 3})
			rec := testRec("r", "payload")
			if tt.platform != "" {
				rec.Platform = tt.platform
			}
			got, err := in.Submit(context.Background(), []RawRecord{rec})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.wantRes {
				t.Errorf("Submit = %+v, want %+v", got, tt.wantRes)
			}
			if n := calls.Load(); n != int64(tt.wantCalls) {
				t.Errorf("capture called %d times, want %d", n, tt.wantCalls)
			}
			dead := dlqList(t, st)
			switch {
			case tt.wantWhy == "" && len(dead) != 0:
				t.Errorf("dead letters = %+v, want none", dead)
			case tt.wantWhy != "" && len(dead) != 1:
				t.Errorf("%d dead letters, want 1", len(dead))
			case tt.wantWhy != "":
				d := dead[0]
				if !strings.Contains(d.Reason, tt.wantWhy) {
					t.Errorf("reason = %q, want it to contain %q", d.Reason, tt.wantWhy)
				}
				if d.Stage != "capture" || d.Platform != rec.Platform || d.RecordID != rec.ID || d.Source != "api" ||
					string(d.Payload) != "payload" || d.Attempts != 1 || !d.ReceivedAt.Equal(testDay) || d.Time.IsZero() {
					t.Errorf("dead letter = %+v, want stage capture, the record's platform, id, source, payload and received time, 1 attempt", d)
				}
				if n := st.EventCount(); n != 0 {
					t.Errorf("EventCount = %d, want 0: a dead-lettered record stores nothing", n)
				}
			}
			if n := st.DLQCount(); n != int64(len(dead)) {
				t.Errorf("DLQCount = %d, want %d", n, len(dead))
			}

			// The intake keeps working.
			good := testRec("after", "")
			good.Platform = "good"
			got, err = in.Submit(context.Background(), []RawRecord{good})
			if err != nil || got != (Result{Stored: 1}) {
				t.Errorf("Submit after = %+v, %v; want 1 stored", got, err)
			}
		})
	}
}

// TestSubmitMixed checks that a Submit's dead letters and events commit together and are counted apart.
func TestSubmitMixed(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, nil, IntakeConfig{})
	recs := []RawRecord{testRec("a", "x*2"), testRec("b", "x*notanumber"), {ID: sdk.NewID("test", []byte("c")), Platform: "nope"}, testRec("d", "")}
	got, err := in.Submit(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Result{Stored: 3, DeadLettered: 2}); got != want {
		t.Errorf("Submit = %+v, want %+v", got, want)
	}
	if n := st.DLQCount(); n != 2 {
		t.Errorf("DLQCount = %d, want 2", n)
	}
	if n := st.EventCount(); n != 3 {
		t.Errorf("EventCount = %d, want 3", n)
	}
}

func TestGroupCommit(t *testing.T) {
	tests := []struct {
		name       string
		maxEvents  int
		requests   int
		perRequest int
		oversized  int // records of one more request, larger than maxEvents
	}{
		{"64 submitters of 1", 100, 64, 1, 0},
		{"64 submitters of 1, batches of 10", 10, 64, 1, 0},
		{"32 submitters of 3, batches of 10", 10, 32, 3, 0},
		{"an oversized request", 10, 16, 1, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openPebble(t)
			var mu sync.Mutex
			var sizes []int
			in := startIntake(t, st, nil, IntakeConfig{BatchMaxEvents: tt.maxEvents, ObserveCommit: func(items int, _ time.Duration) {
				mu.Lock()
				sizes = append(sizes, items)
				mu.Unlock()
			}})
			// Hold the committer until every request is queued, so that the batches it then
			// builds depend on the rules, not on timing.
			release := holdCommitter(t, st)
			total := tt.requests*tt.perRequest + tt.oversized
			var wg sync.WaitGroup
			var stored atomic.Int64
			submit := func(recs []RawRecord) {
				defer wg.Done()
				res, err := in.Submit(context.Background(), recs)
				if err != nil {
					t.Error(err)
				}
				stored.Add(int64(res.Stored))
			}
			for i := range tt.requests {
				wg.Add(1)
				go submit(testRecs(fmt.Sprint("r", i), tt.perRequest, ""))
			}
			if tt.oversized > 0 {
				wg.Add(1)
				go submit(testRecs("big", tt.oversized, ""))
			}
			waitFor(t, "every request queued", func() bool { return in.QueueDepth() == int64(total) })
			release()
			wg.Wait()

			if n := stored.Load(); n != int64(total) {
				t.Errorf("stored %d, want %d", n, total)
			}
			mu.Lock()
			defer mu.Unlock()
			sum, oversized := 0, 0
			for _, s := range sizes {
				sum += s
				if s > tt.maxEvents {
					oversized++
					if s != tt.oversized {
						t.Errorf("batch of %d items, want at most %d (or the oversized request's %d alone)", s, tt.maxEvents, tt.oversized)
					}
				}
			}
			if sum != total {
				t.Errorf("batches %v hold %d items, want %d", sizes, sum, total)
			}
			if want := min(tt.oversized, 1); oversized != want {
				t.Errorf("%d oversized batches in %v, want %d", oversized, sizes, want)
			}
			// The first batch may have been taken before the rest queued, and the batch before an
			// oversized request closes early; the others are full.
			per := tt.maxEvents / tt.perRequest * tt.perRequest
			normal := total - tt.oversized
			if most := 1 + (normal+per-1)/per + 2*min(tt.oversized, 1); len(sizes) > most {
				t.Errorf("%d commits %v for %d items, want at most %d", len(sizes), sizes, total, most)
			}
		})
	}
}

// TestGroupCommitFree runs 64 submitters without holding the committer: they must still share
// commits, which take a synced write each.
func TestGroupCommitFree(t *testing.T) {
	st := openPebble(t)
	var commits, largest atomic.Int64
	in := startIntake(t, st, nil, IntakeConfig{ObserveCommit: func(items int, _ time.Duration) {
		commits.Add(1)
		if int64(items) > largest.Load() {
			largest.Store(int64(items))
		}
	}})
	const n = 64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if res, err := in.Submit(context.Background(), testRecs(fmt.Sprint("r", i), 1, "")); err != nil || res.Stored != 1 {
				t.Errorf("Submit = %+v, %v", res, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	// Shared: some commit took several submitters, so there were fewer commits than submitters.
	// How few depends on how the scheduler spread the goroutines (a loaded 2-core CI machine once
	// gave 22 where a quiet one gives 2 to 6): that ratio is BenchmarkIngestDurable's to measure,
	// not a bound to assert here.
	if c, l := commits.Load(), largest.Load(); c >= n || l < 2 {
		t.Errorf("%d commits for %d concurrent submitters, the largest of %d items: want them shared", c, n, l)
	}
	if l := largest.Load(); l > 100 {
		t.Errorf("largest batch %d, want at most 100", l)
	}
	if got := st.EventCount(); got != n {
		t.Errorf("EventCount = %d, want %d", got, n)
	}
}

func TestLoneSubmitterNotDelayed(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, nil, IntakeConfig{BatchMaxDelay: 2 * time.Second})
	for i := range 50 {
		start := time.Now()
		if _, err := in.Submit(context.Background(), testRecs(fmt.Sprint("r", i), 1, "")); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Submit %d took %v: a lone submitter waited for the batch delay", i, d)
		}
	}
}

// TestBusy fills the queue while the committer is held, and checks that what it refuses, it
// refuses at once, and that what it admits is stored.
//
// The committer is what must be held: capture runs in the submitter before admission, so a
// blocking capture holds back its own submitter but never fills the queue.
func TestBusy(t *testing.T) {
	const queue = 8
	tests := []struct {
		name       string
		perRequest int
		requests   int
	}{
		{"requests of 1", 1, 20},
		{"requests of 3", 3, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openPebble(t)
			in := startIntake(t, st, nil, IntakeConfig{QueueSize: queue})
			release := holdCommitter(t, st)
			var wg sync.WaitGroup
			var stored atomic.Int64
			busy := 0
			for i := range tt.requests {
				recs := testRecs(fmt.Sprint("r", i), tt.perRequest, "")
				before := in.QueueDepth()
				if before+int64(tt.perRequest) > queue {
					start := time.Now()
					_, err := in.Submit(context.Background(), recs)
					if d := time.Since(start); d > 100*time.Millisecond {
						t.Errorf("refused Submit took %v, want it at once", d)
					}
					if !errors.Is(err, ErrBusy) {
						t.Fatalf("Submit with %d of %d queued: %v, want ErrBusy", before, queue, err)
					}
					busy++
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := in.Submit(context.Background(), recs)
					if err != nil {
						t.Error(err)
					}
					stored.Add(int64(res.Stored))
				}()
				waitFor(t, "the request queued", func() bool { return in.QueueDepth() == before+int64(tt.perRequest) })
			}
			release()
			wg.Wait()
			admitted := int(stored.Load()) / tt.perRequest
			if want := queue / tt.perRequest; admitted != want {
				t.Errorf("%d requests admitted, want %d", admitted, want)
			}
			if admitted+busy != tt.requests {
				t.Errorf("%d stored + %d refused requests, want %d submitted", admitted, busy, tt.requests)
			}
			if n := st.EventCount(); n != stored.Load() {
				t.Errorf("EventCount = %d, want %d", n, stored.Load())
			}
			if n := in.QueueDepth(); n != 0 {
				t.Errorf("QueueDepth = %d after all committed, want 0", n)
			}
			// Once drained, the intake takes submissions again.
			if res, err := in.Submit(context.Background(), testRecs("after", 1, "")); err != nil || res.Stored != 1 {
				t.Errorf("Submit after = %+v, %v", res, err)
			}
		})
	}
}

// TestBusyOversized checks that a request larger than the queue is admitted when the queue is empty.
func TestBusyOversized(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, nil, IntakeConfig{QueueSize: 4})
	res, err := in.Submit(context.Background(), testRecs("big", 10, ""))
	if err != nil || res.Stored != 10 {
		t.Errorf("Submit of 10 into a queue of 4 = %+v, %v; want 10 stored", res, err)
	}
}

func TestClose(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, nil, IntakeConfig{})
	release := holdCommitter(t, st)
	const n = 20
	var wg sync.WaitGroup
	var stored atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := in.Submit(context.Background(), testRecs(fmt.Sprint("r", i), 1, ""))
			if err != nil {
				t.Errorf("queued Submit: %v", err)
			}
			stored.Add(int64(res.Stored))
		}()
	}
	waitFor(t, "every request queued", func() bool { return in.QueueDepth() == n })
	closed := make(chan error, 1)
	go func() { closed <- in.Close(context.Background()) }()
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if got := stored.Load(); got != n {
		t.Errorf("stored %d, want %d: Close must commit what is queued", got, n)
	}
	if got := st.EventCount(); got != n {
		t.Errorf("EventCount = %d, want %d", got, n)
	}
	if _, err := in.Submit(context.Background(), testRecs("late", 1, "")); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
	if err := in.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestCloseTimeout checks that Close gives up when ctx ends before the queue is drained.
func TestCloseTimeout(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, nil, IntakeConfig{})
	release := holdCommitter(t, st)
	go in.Submit(context.Background(), testRecs("r", 1, ""))
	waitFor(t, "the request queued", func() bool { return in.QueueDepth() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := in.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v, want context.Canceled", err)
	}
	release()
	if err := in.Close(context.Background()); err != nil {
		t.Errorf("Close = %v", err)
	}
	if got := st.EventCount(); got != 1 {
		t.Errorf("EventCount = %d, want 1", got)
	}
}

func TestSubmitContextCanceled(t *testing.T) {
	st := openPebble(t)
	in := startIntake(t, st, nil, IntakeConfig{})
	release := holdCommitter(t, st)
	recs := testRecs("r", 5, "x*2")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := in.Submit(ctx, recs)
		errc <- err
	}()
	waitFor(t, "the request queued", func() bool { return in.QueueDepth() == 10 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit = %v, want context.Canceled", err)
	}
	release()
	// The committer is first in, first out: once a later request is answered, the earlier one is in.
	if _, err := in.Submit(context.Background(), testRecs("later", 1, "")); err != nil {
		t.Fatal(err)
	}
	if got := st.EventCount(); got != 11 {
		t.Errorf("EventCount = %d, want 11: the abandoned request must still commit", got)
	}
	got, err := in.Submit(context.Background(), testRecs("r", 5, "x*2"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Result{Duplicates: 10}); got != want {
		t.Errorf("Submit again = %+v, want %+v", got, want)
	}
}

func TestIntakeConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     IntakeConfig
		wantErr bool
	}{
		{"zero", IntakeConfig{}, false},
		{"set", IntakeConfig{BatchMaxEvents: 1, BatchMaxDelay: time.Millisecond, QueueSize: 1, CaptureRetries: 1}, false},
		{"negative batch", IntakeConfig{BatchMaxEvents: -1}, true},
		{"negative delay", IntakeConfig{BatchMaxDelay: -1}, true},
		{"negative queue", IntakeConfig{QueueSize: -1}, true},
		{"negative retries", IntakeConfig{CaptureRetries: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := NewIntake(openPebble(t), Captures{}, tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewIntake error = %v, want error %v", err, tt.wantErr)
			}
			if in != nil {
				in.Close(context.Background())
			}
		})
	}
}

// TestSubmitCanceledDuringCapture checks that a caller giving up while a capture is being retried
// does not dead-letter the record: the record is not at fault, and the caller (or the spool)
// submits it again.
func TestSubmitCanceledDuringCapture(t *testing.T) {
	st := openPebble(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := startIntake(t, st, Captures{
		testPlatform: capFunc(payloadEvents),
		"flaky": capFunc(func(*RawRecord) ([]sdk.Event, error) {
			cancel() // the caller leaves during the first attempt
			return nil, errors.New("flaky")
		}),
	}, IntakeConfig{CaptureRetries: 10})
	flaky := testRec("f", "")
	flaky.Platform = "flaky"
	res, err := in.Submit(ctx, []RawRecord{testRec("a", ""), flaky})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit = %+v, %v; want context.Canceled", res, err)
	}
	// The committer is first in, first out: once a later request is answered, the earlier one is in.
	if res := submit(t, in, []RawRecord{testRec("later", "")}); res != (Result{Stored: 1}) {
		t.Errorf("later Submit = %+v, want 1 stored", res)
	}
	if dead := dlqList(t, st); len(dead) != 0 {
		t.Errorf("dead letters %+v, want none", dead)
	}
	// Submitting again is safe.
	if res, err := in.Submit(context.Background(), []RawRecord{testRec("a", "")}); err != nil || res.Stored+res.Duplicates != 1 {
		t.Errorf("Submit again = %+v, %v; want the event stored once", res, err)
	}
}

func TestEventID(t *testing.T) {
	rec := testRec("r", "")
	other := testRec("other", "")
	seen := map[sdk.ID]int{}
	for i := range 70000 { // past what two bytes of index hold
		id := EventID(&rec, i)
		if j, dup := seen[id]; dup {
			t.Fatalf("events %d and %d of a record have the same id %s", j, i, id)
		}
		seen[id] = i
		if id == EventID(&other, i) {
			t.Fatalf("event %d of two records have the same id %s", i, id)
		}
		// Ids of stored events must not change: replays must dedup against them.
		if old := sdk.NewID("record", []byte(rec.Platform), rec.ID[:], []byte{byte(i >> 8), byte(i)}); i < 1<<16 && id != old {
			t.Fatalf("event %d: id %s, want %s as before", i, id, old)
		}
	}
	if EventID(&rec, 3) != EventID(&rec, 3) {
		t.Error("EventID is not deterministic")
	}
}
