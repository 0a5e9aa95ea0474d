package usagestore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/pipeline/usage"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
	"github.com/hangar-dev/hangar/store/storetest"
	"github.com/tidwall/gjson"
)

// Helpers shared by the package's tests. The first are those of package pipeline's own tests
// (intake_test.go, consumer_test.go), over its exported API.

const testPlatform = "test"

var testDay = time.Date(2025, 6, 14, 9, 26, 53, 0, time.UTC)

// testKey is the payload key of the tests' stores (and spools).
var testKey = storetest.Key

// openPebble opens a store in a fresh directory, with testKey, closed when the test ends.
var openPebble = storetest.Open

// capFunc is a pipeline.Capture made of a function.
type capFunc func(rec *pipeline.RawRecord) ([]sdk.Event, error)

func (f capFunc) Capture(rec *pipeline.RawRecord) ([]sdk.Event, error) { return f(rec) }

// startIntake returns an intake over st with caps, closed when the test ends.
func startIntake(t testing.TB, st *store.Store, caps pipeline.Captures, cfg pipeline.IntakeConfig) *pipeline.Intake {
	t.Helper()
	in, err := pipeline.NewIntake(st, caps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(context.Background()) })
	return in
}

// submit submits recs and fails the test on an error.
func submit(t testing.TB, in *pipeline.Intake, recs []pipeline.RawRecord) pipeline.Result {
	t.Helper()
	res, err := in.Submit(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// startConsumers returns a started runner of cs over st, closed when the test ends.
func startConsumers(t testing.TB, st *store.Store, cfg pipeline.ConsumersConfig, cs ...pipeline.Consumer) *pipeline.Consumers {
	t.Helper()
	r, err := pipeline.NewConsumers(st, cs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.Close)
	return r
}

// waitConsumed waits until every consumer of r has consumed the whole log, failing the test
// after 10s.
func waitConsumed(t testing.TB, r *pipeline.Consumers) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		caught := true
		for _, lag := range r.Lag() {
			caught = caught && lag == 0
		}
		if caught {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for consumers to catch up")
		}
		time.Sleep(time.Millisecond)
	}
}

const transcriptDir = "../../../shared/fixtures/claude-code/projects/-Users-chip-dev-ai-music"

// usageCapture reduces a transcript line to a transcript.usage event as the Claude Code plugin
// does (plugins/claude-code), without WASM: the rollup is under test here, not the plugin.
func usageCapture(rec *pipeline.RawRecord) ([]sdk.Event, error) {
	line := gjson.ParseBytes(rec.Payload)
	u := line.Get("message.usage")
	if !u.IsObject() || !u.Get("input_tokens").Exists() || !u.Get("output_tokens").Exists() {
		return nil, nil
	}
	ts, err := time.Parse(time.RFC3339Nano, line.Get("timestamp").String())
	if err != nil {
		return nil, pipeline.Permanent(err)
	}
	ev := sdk.Event{ID: pipeline.EventID(rec, 0), Platform: rec.Platform, Kind: Kind, SessionID: line.Get("sessionId").String(), Time: ts}
	folder := sha256.Sum256([]byte(filepath.Base(line.Get("cwd").String())))
	ev.Attrs = append(ev.Attrs, sdk.Hash("project", folder[:16]))
	for _, f := range [][2]string{{"message.model", "model"}, {"message.id", "message_id"}, {"requestId", "request_id"}} {
		if v := line.Get(f[0]).String(); v != "" {
			ev.Attrs = append(ev.Attrs, sdk.Ident(f[1], v))
		}
	}
	for _, f := range [][2]string{{"input_tokens", "input_tokens"}, {"output_tokens", "output_tokens"}, {"cache_creation_input_tokens", "cache_creation_tokens"}, {"cache_read_input_tokens", "cache_read_tokens"}} {
		ev.Attrs = append(ev.Attrs, sdk.Int(f[1], u.Get(f[0]).Int()))
	}
	for _, f := range [][2]string{{"cache_creation.ephemeral_5m_input_tokens", "cache_creation_5m_tokens"}, {"cache_creation.ephemeral_1h_input_tokens", "cache_creation_1h_tokens"}} {
		if v := u.Get(f[0]); v.Exists() {
			ev.Attrs = append(ev.Attrs, sdk.Int(f[1], v.Int()))
		}
	}
	if v := u.Get("speed").String(); v != "" {
		ev.Attrs = append(ev.Attrs, sdk.Ident("speed", v))
	}
	if v := line.Get("costUSD"); v.Exists() {
		ev.Attrs = append(ev.Attrs, sdk.Float("cost_usd", v.Float()))
	}
	ev.Attrs = append(ev.Attrs, sdk.Bool("sidechain", line.Get("isSidechain").Bool()))
	return []sdk.Event{ev}, nil
}

// transcriptRecords returns one record per line of the fixture transcripts, in ccusage's order
// (files by path, lines in order).
func transcriptRecords(t testing.TB) []pipeline.RawRecord {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(transcriptDir, "*.jsonl"))
	if err != nil || len(files) != 4 {
		t.Fatalf("fixture transcripts: %v, %d files", err, len(files))
	}
	sort.Strings(files)
	var recs []pipeline.RawRecord
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			line := append([]byte{}, sc.Bytes()...)
			recs = append(recs, pipeline.RawRecord{ID: sdk.NewID("t", []byte(f), line), Platform: testPlatform, Source: "transcript", ReceivedAt: testDay, Payload: line})
		}
	}
	return recs
}

const sonnet = "claude-sonnet-4-20250514"

var recTime = time.Date(2025, 6, 8, 10, 47, 11, 325e6, time.UTC)

// usageEvent is a transcript.usage event as the claude-code plugin emits it.
func usageEvent(seq uint64, id, model string, at time.Time, attrs ...sdk.Attr) pipeline.Entry {
	ev := sdk.Event{ID: sdk.NewID("test", []byte(id)), Platform: testPlatform, Kind: Kind, SessionID: "s-" + id, Time: at}
	ev.Attrs = append([]sdk.Attr{sdk.Ident("model", model), sdk.Ident("message_id", "msg_"+id), sdk.Ident("request_id", "req_"+id)}, attrs...)
	return pipeline.Entry{Seq: seq, Event: ev}
}

// consumeNow runs one Consume call of u and commits it.
func consumeNow(t testing.TB, st *store.Store, u *Rollup, entries ...pipeline.Entry) {
	t.Helper()
	b := st.NewBatch()
	defer b.Close()
	if err := u.Consume(context.Background(), entries, b); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func unpricedModels(t testing.TB, st *store.Store) []string {
	t.Helper()
	got, err := UnpricedModels(st)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// usageState returns the usage rollup's state, key to value.
func usageState(t testing.TB, st *store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := st.ScanState(Name, nil, func(k, v []byte) error {
		out[string(k)] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// bucketsOf returns the rollup's buckets.
func bucketsOf(t testing.TB, st *store.Store) []usage.Bucket {
	t.Helper()
	var out []usage.Bucket
	for bu, err := range Buckets(st, time.Time{}, time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bu)
	}
	return out
}

// compareBuckets compares buckets: all exact but the costs, within 1e-9 USD (sums in another
// order).
func compareBuckets(t testing.TB, what string, got, want []usage.Bucket) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d buckets, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		for _, c := range [][2]float64{{g.CostAuto, w.CostAuto}, {g.CostCalculate, w.CostCalculate}, {g.CostDisplay, w.CostDisplay}} {
			if math.Abs(c[0]-c[1]) > 1e-9 {
				t.Errorf("%s: bucket %v: costs %v %v %v, want %v %v %v", what, g.Key, g.CostAuto, g.CostCalculate, g.CostDisplay, w.CostAuto, w.CostCalculate, w.CostDisplay)
				break
			}
		}
		g.CostAuto, g.CostCalculate, g.CostDisplay = w.CostAuto, w.CostCalculate, w.CostDisplay
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: bucket %d: got %+v, want %+v", what, i, g, w)
		}
	}
}

// checkBucketsConsistent checks that each bucket is the sum of the entries it indexes.
func checkBucketsConsistent(t testing.TB, st *store.Store) {
	t.Helper()
	state := usageState(t, st)
	sums := map[string]*usage.Bucket{}
	for k := range state {
		if k[0] != indexPrefix {
			continue
		}
		bk, dk := splitIndexKey(t, k[1:])
		rec, err := decodeRecord([]byte(state[string(entryPrefix)+dk]))
		if err != nil {
			t.Fatalf("entry %q: %v", dk, err)
		}
		if sums[bk] == nil {
			sums[bk] = &usage.Bucket{}
		}
		sums[bk].Add(rec.entry)
	}
	n := 0
	for k, v := range state {
		if k[0] != bucketPrefix {
			continue
		}
		n++
		var got usage.Bucket
		if err := got.UnmarshalBinary([]byte(v)); err != nil {
			t.Fatal(err)
		}
		want := sums[k[1:]]
		if want == nil {
			t.Fatalf("bucket %x holds no entry", k)
		}
		compareBuckets(t, "consistency", []usage.Bucket{got}, []usage.Bucket{*want})
	}
	if n != len(sums) {
		t.Errorf("%d buckets, %d with entries", n, len(sums))
	}
}

// splitIndexKey splits an index key (without its prefix) into bucket key and dedup key.
func splitIndexKey(t testing.TB, k string) (bk, dk string) {
	t.Helper()
	i := 8
	for range 3 { // three strings, each ending 0x00 0x01 (0x00 0xff escapes a 0x00)
		for i+1 < len(k) && (k[i] != 0 || k[i+1] != 1) {
			if k[i] == 0 {
				i++
			}
			i++
		}
		i += 2
	}
	if i >= len(k) || k[i] != 0xff {
		t.Fatalf("index key %x: no bucket key", k)
	}
	return k[:i], k[i+1:]
}
