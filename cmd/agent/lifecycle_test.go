package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/store"
	"github.com/hangar-dev/hangar/store/canarytest"
)

// testPlugins are the Go test plugins of host/testdata built to WASM, once per test binary.
var testPlugins sync.Map // src -> *builtPlugin

type builtPlugin struct {
	once sync.Once
	wasm []byte
	err  error
}

// enrichPluginFolder builds the Go test plugin host/testdata/<src> into a plugin folder: an enrich
// plugin named name asking for read:events, kv and caps.
func enrichPluginFolder(t *testing.T, src, name string, caps ...string) string {
	t.Helper()
	v, _ := testPlugins.LoadOrStore(src, &builtPlugin{})
	b := v.(*builtPlugin)
	b.once.Do(func() {
		out := filepath.Join(t.TempDir(), "plugin.wasm")
		build := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, "../../host/testdata/"+src)
		build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if msg, err := build.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %v\n%s", src, err, msg)
			return
		}
		b.wasm, b.err = os.ReadFile(out)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".wasm"), b.wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b.wasm)
	quoted := []string{`"read:events"`, `"kv"`}
	for _, c := range caps {
		quoted = append(quoted, fmt.Sprintf("%q", c))
	}
	manifest := fmt.Sprintf("name = %q\nversion = \"1.0.0\"\nkind = \"enrich\"\nabi = %d\nwasm = %q\nsha256 = %q\ncapabilities = [%s]\n",
		name, host.ABIVersion, name+".wasm", hex.EncodeToString(sum[:]), strings.Join(quoted, ", "))
	if err := os.WriteFile(filepath.Join(dir, host.ManifestName), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// installToolStats installs the test enrich plugin that counts tool uses per session and tool
// (host/testdata/enrich-toolstats: kv state, a derived tool-stats record per PostToolUse).
func installToolStats(t *testing.T, dataDir string) {
	t.Helper()
	agentOK(t, dataDir, "plugins", "install", enrichPluginFolder(t, "enrich-toolstats", "toolstats", "emit:derived:tool-stats"), "--yes")
}

// toolUses are the real PostToolUse hook payloads that name a tool.
func toolUses(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range fixtures {
		if f.event == "PostToolUse" && bytes.Contains(f.payload, []byte(`"tool_name"`)) {
			out = append(out, f.payload)
		}
	}
	if len(out) == 0 {
		t.Fatal("no PostToolUse fixture with a tool_name")
	}
	return out
}

// postToolUses posts n PostToolUse payloads of each session to the daemon, in frames of at most
// 500 records, and returns how many were stored.
func postToolUses(t testing.TB, dataDir string, n int, sessions ...string) int {
	t.Helper()
	uses := toolUses(t)
	var recs []pipeline.RawRecord
	for i := range n {
		for _, sid := range sessions {
			recs = append(recs, newRecord(withSession(t, uses[i%len(uses)], sid)))
		}
	}
	c := daemon.NewClient(dataDir)
	stored := 0
	for len(recs) > 0 {
		k := min(len(recs), 500)
		var frames []byte
		for i := range recs[:k] {
			frames = pipeline.AppendFrame(frames, &recs[i])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := c.PostFrames(ctx, frames)
		cancel()
		if err != nil {
			t.Fatalf("post %d records: %v", k, err)
		}
		stored += res.Stored
		recs = recs[k:]
	}
	return stored
}

// derivedState is everything derived from the event log, as a rebuild must make it again:
// derived records by kind (their IngestTime and id aside; keyed records, which a plugin re-emits
// as they change, by their last record per key; unkeyed ones in order), the view, the state of
// the test plugin toolstats (a function of the events) and the built-in consumers' state. Other
// plugins' kv is theirs, and may depend on how their calls fell.
type derivedState struct {
	Records map[string][]string            // kind -> records (unkeyed), in order
	Latest  map[string]map[string]string   // kind -> key -> last record
	View    map[string]string              // view key -> record
	State   map[string]map[string][]byte   // consumer -> state key -> value
	Cursors map[string]map[string]struct{} // not compared: which consumers have cursors
}

// canonical is a derived record without its storage time and its id. The host derives a
// record's id from the event of the call that carried it, and a plugin that emits a changed
// record once per call (on the call's last event) carries it on whichever event ended the call:
// the calls a rebuild makes are not the live run's. A reader finds a keyed record by its kind and
// key, never by its id.
func canonical(t testing.TB, ev *sdk.Event) string {
	t.Helper()
	c := *ev
	c.IngestTime = time.Time{}
	c.ID = sdk.ID{}
	js, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(js)
}

// snapshotDerived reads the derived state of the store of dataDir (no daemon may run).
func snapshotDerived(t testing.TB, dataDir string) derivedState {
	t.Helper()
	st := openStore(t, dataDir)
	defer st.Close()
	ds := derivedState{Records: map[string][]string{}, Latest: map[string]map[string]string{}, View: map[string]string{}, State: map[string]map[string][]byte{}}
	var kinds []string
	err := st.ScanAll(func(k, v []byte) error {
		switch k[0] {
		case 'r':
			if end := bytes.IndexByte(k, 0); end > 1 {
				if kind := string(k[1:end]); !slices.Contains(kinds, kind) {
					kinds = append(kinds, kind)
				}
			}
		case 'v':
			var ev sdk.Event
			if err := ev.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("view %q: %w", k, err)
			}
			ds.View[string(k)] = canonical(t, &ev)
		case 'x':
			end := bytes.IndexByte(k, 0)
			if end < 1 {
				return fmt.Errorf("state key %q", k)
			}
			consumer, key := string(k[1:end]), string(k[end+1:])
			if strings.HasPrefix(consumer, store.PluginConsumerPrefix) && strings.HasPrefix(key, "c") {
				return nil // an insight plugin's cursor: a derived sequence number
			}
			if strings.HasPrefix(consumer, store.PluginConsumerPrefix) && consumer != store.PluginConsumerPrefix+"toolstats" {
				// A plugin's kv is its own, and may record how its calls fell (the conversations
				// plugin keeps an append-only log of them): what must be equal is what it derived,
				// compared above. Toolstats keeps counts, a function of the events alone.
				return nil
			}
			if ds.State[consumer] == nil {
				ds.State[consumer] = map[string][]byte{}
			}
			ds.State[consumer][key] = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range kinds {
		if _, err := st.ScanDerived(kind, 0, 0, func(_ uint64, ev *sdk.Event) error {
			if key, ok := ev.Attr("key"); ok {
				if ds.Latest[kind] == nil {
					ds.Latest[kind] = map[string]string{}
				}
				ds.Latest[kind][key.String()] = canonical(t, ev)
				return nil
			}
			ds.Records[kind] = append(ds.Records[kind], canonical(t, ev))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return ds
}

// diffDerived returns what differs between two derived states, "" if nothing.
func diffDerived(a, b derivedState) string {
	var out []string
	for _, kind := range sortedUnion(a.Records, b.Records) {
		ra, rb := a.Records[kind], b.Records[kind]
		if !slices.Equal(ra, rb) {
			i := 0
			for i < min(len(ra), len(rb)) && ra[i] == rb[i] {
				i++
			}
			out = append(out, fmt.Sprintf("kind %s: %d records and %d, first difference at %d", kind, len(ra), len(rb), i))
		}
	}
	for _, kind := range sortedUnion(a.Latest, b.Latest) {
		if !maps.Equal(a.Latest[kind], b.Latest[kind]) {
			out = append(out, fmt.Sprintf("kind %s: latest records per key differ (%d keys and %d)", kind, len(a.Latest[kind]), len(b.Latest[kind])))
		}
	}
	if !maps.Equal(a.View, b.View) {
		out = append(out, fmt.Sprintf("views differ (%d entries and %d)", len(a.View), len(b.View)))
	}
	for _, c := range sortedUnion(a.State, b.State) {
		if !maps.EqualFunc(a.State[c], b.State[c], bytes.Equal) {
			out = append(out, fmt.Sprintf("state of %s differs (%d keys and %d)", c, len(a.State[c]), len(b.State[c])))
		}
	}
	return strings.Join(out, "\n")
}

func sortedUnion[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// scanDataDir returns the files under dataDir (store, spool, logs, audit log, everything) that
// hold mark in any form.
func scanDataDir(t *testing.T, dataDir, mark string) []string {
	t.Helper()
	f := canarytest.NewFinder(mark)
	var found []string
	err := filepath.WalkDir(dataDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&os.ModeSocket != 0 {
			return err
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil // deleted since it was listed (an obsolete file of Pebble's)
		}
		if err != nil {
			return err
		}
		if at, form := f.Find(data); at >= 0 {
			rel, _ := filepath.Rel(dataDir, path)
			found = append(found, fmt.Sprintf("%s (%s at %d)", rel, form, at))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// toolStatsOf returns the tool-stats records of a session, in order.
func toolStatsOf(ds derivedState, session string) []string {
	var out []string
	for _, r := range ds.Records["tool-stats"] {
		if strings.Contains(r, `"session_id":"`+session+`"`) {
			out = append(out, r)
		}
	}
	return out
}

// TestPurgeSession purges a canary session through a running daemon with an enrich plugin
// enabled: its events, derived records, plugin state and dead letters go, the other sessions'
// derived data is rebuilt the same, and no file of the data directory (store, spool, logs, audit
// log, plugins) holds the session id in any form, while before the purge they did. Then purges
// the rest without a daemon, by date and all.
func TestPurgeSession(t *testing.T) {
	dataDir := newDataDir(t)
	installToolStats(t, dataDir)
	canary := "canary-" + uuid()
	d := startDaemon(t, dataDir, nil)
	stored := postToolUses(t, dataDir, 40, "kept-"+uuid(), canary, "kept-"+uuid())
	// A dead letter of the canary session: a capture failure (not JSON) keeps the raw payload,
	// sealed.
	bad := newRecord([]byte(`{"hook_event_name":"PostToolUse","session_id":"` + canary + `"`))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := daemon.NewClient(dataDir).PostFrames(ctx, pipeline.AppendFrame(nil, &bad)); err != nil {
		t.Fatal(err)
	}
	st := waitSettled(t, dataDir, 60*time.Second)
	if st.EventsStored != int64(stored) || stored != 120 || st.DLQSize != 1 {
		t.Fatalf("stored %d events (answered %d) and %d dead letters, want 120 and 1", st.EventsStored, stored, st.DLQSize)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("agent run exited %d\n%s", code, d.stderr.String())
	}
	before := snapshotDerived(t, dataDir)
	if n := len(toolStatsOf(before, canary)); n != 40 {
		t.Fatalf("%d tool-stats records of the canary session before the purge, want 40", n)
	}
	if found := scanDataDir(t, dataDir, canary); len(found) == 0 {
		t.Fatal("no file holds the canary session id before the purge: the scan cannot see it")
	}

	d = startDaemon(t, dataDir, nil)
	res := agent(t, dataDir, "purge", "--session", canary)
	if res.code != 1 || !strings.Contains(res.stderr, "no terminal") {
		t.Errorf("purge without --yes and without a terminal: exit %d, stderr %q; want a refusal", res.code, res.stderr)
	}
	var pr daemon.PurgeResult
	if err := json.Unmarshal([]byte(agentOK(t, dataDir, "purge", "--session", canary, "--yes", "--json").stdout), &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Events != 40 || pr.DeadLetters < 1 || !slices.Contains(pr.Reset.Consumers, "plugin:toolstats") || !slices.Contains(pr.Reset.Consumers, "usage") {
		t.Errorf("purge answered %+v, want 40 events, the dead letter, and the consumers reset", pr)
	}
	st = waitSettled(t, dataDir, 60*time.Second)
	if st.EventsStored != 80 || st.DLQSize != 0 {
		t.Errorf("after the purge: %d events, %d dead letters; want 80 and 0", st.EventsStored, st.DLQSize)
	}
	if got := dailyTotal(t, dataDir); got != 80 {
		t.Errorf("daily counts total %d after the purge, want 80 (rebuilt from what remains)", got)
	}
	if found := scanDataDir(t, dataDir, canary); len(found) > 0 {
		t.Errorf("after the purge, with the daemon running, the session id is in %v", found)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("agent run exited %d\n%s", code, d.stderr.String())
	}
	if found := scanDataDir(t, dataDir, canary); len(found) > 0 {
		t.Errorf("after the purge and a stop, the session id is in %v", found)
	}
	after := snapshotDerived(t, dataDir)
	want := derivedState{Records: map[string][]string{}}
	for _, r := range before.Records["tool-stats"] {
		if !strings.Contains(r, canary) {
			want.Records["tool-stats"] = append(want.Records["tool-stats"], r)
		}
	}
	if diff := diffDerived(derivedState{Records: want.Records}, derivedState{Records: after.Records}); diff != "" {
		t.Errorf("the kept sessions' derived records, rebuilt, differ from before:\n%s", diff)
	}
	for k := range after.State["plugin:toolstats"] {
		if strings.Contains(k, canary) {
			t.Errorf("the plugin's state still has %q", k)
		}
	}
	if len(after.State["plugin:toolstats"]) == 0 || len(after.State["usage"]) == 0 && len(before.State["usage"]) > 1 {
		t.Errorf("the plugin's state was not rebuilt: %d keys", len(after.State["plugin:toolstats"]))
	}

	// Without a daemon: by date (nothing happened before 2000), then everything.
	if err := json.Unmarshal([]byte(agentOK(t, dataDir, "purge", "--before", "2000-01-01", "--yes", "--json").stdout), &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Events != 0 {
		t.Errorf("purge --before 2000-01-01 removed %d events", pr.Events)
	}
	if err := json.Unmarshal([]byte(agentOK(t, dataDir, "purge", "--all", "--yes", "--json").stdout), &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Events != 80 {
		t.Errorf("purge --all removed %d events, want 80", pr.Events)
	}
	empty := snapshotDerived(t, dataDir)
	if len(empty.Records) != 0 || len(empty.State["plugin:toolstats"]) != 0 || len(empty.State["daily-counts"]) != 0 {
		t.Errorf("after purge --all: derived %d kinds, plugin state %d keys, daily counts %d", len(empty.Records), len(empty.State["plugin:toolstats"]), len(empty.State["daily-counts"]))
	}
	s := openStore(t, dataDir)
	if n := s.EventCount(); n != 0 {
		t.Errorf("after purge --all: %d events", n)
	}
	s.Close()
	agentFails(t, dataDir, "one of --before DATE, --session ID or --all", "purge", "--yes")
}

// TestReindex rebuilds the derived data through a running daemon and then without one: both give
// what the first run gave, record for record, with the plugin's state and the built-in
// consumers' (daily counts, usage rollup).
func TestReindex(t *testing.T) {
	dataDir := newDataDir(t)
	installToolStats(t, dataDir)
	d := startDaemon(t, dataDir, nil)
	postToolUses(t, dataDir, 200, "s-"+uuid(), "s-"+uuid(), "s-"+uuid())
	waitSettled(t, dataDir, 60*time.Second)
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("agent run exited %d\n%s", code, d.stderr.String())
	}
	first := snapshotDerived(t, dataDir)
	if len(first.Records["tool-stats"]) != 600 || len(first.State["plugin:toolstats"]) == 0 || len(first.State["daily-counts"]) == 0 {
		t.Fatalf("first run: %d tool-stats records, %d plugin state keys, %d daily counts", len(first.Records["tool-stats"]), len(first.State["plugin:toolstats"]), len(first.State["daily-counts"]))
	}

	d = startDaemon(t, dataDir, nil)
	var rr daemon.ReindexResult
	if err := json.Unmarshal([]byte(agentOK(t, dataDir, "reindex", "--json").stdout), &rr); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"plugin:toolstats", "daily-counts", "usage"} {
		if !slices.Contains(rr.Consumers, c) {
			t.Errorf("reindex reset %v, want %s among them", rr.Consumers, c)
		}
	}
	// reindex returned once every consumer caught up.
	if st := apiStatus(t, dataDir); st.Consumers["plugin:toolstats"].Lag != 0 || st.Consumers["daily-counts"].Lag != 0 {
		t.Errorf("after reindex: consumers %v, want all caught up", st.Consumers)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("agent run exited %d\n%s", code, d.stderr.String())
	}
	if diff := diffDerived(first, snapshotDerived(t, dataDir)); diff != "" {
		t.Errorf("after reindex through the daemon:\n%s", diff)
	}

	res := agentOK(t, dataDir, "reindex")
	if !strings.Contains(res.stdout, "Reindexed") {
		t.Errorf("reindex without a daemon printed %q", res.stdout)
	}
	if diff := diffDerived(first, snapshotDerived(t, dataDir)); diff != "" {
		t.Errorf("after reindex without a daemon:\n%s", diff)
	}
}

// toolStatsCheck checks, in the store of dataDir, that the toolstats plugin enriched each event up
// to its cursor exactly once: as many tool-stats records as PostToolUse events with a session and
// a tool up to the cursor, and its kv counts summing to the same. It returns the cursor and the
// last event's sequence number. The store must hold dlq dead letters.
func toolStatsCheck(t *testing.T, dataDir, when string, dlq int64) (cursor, last uint64) {
	t.Helper()
	st := openStore(t, dataDir)
	defer st.Close()
	cursor, err := st.Cursor("plugin:toolstats")
	if err != nil {
		t.Fatal(err)
	}
	events := 0
	for after := uint64(0); ; {
		next, err := st.ReadLog(after, 4096, func(seq uint64, ev *sdk.Event) error {
			last = seq
			_, hasTool := ev.Attr("tool_name")
			if seq <= cursor && ev.Kind == "hook.PostToolUse" && ev.SessionID != "" && hasTool {
				events++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if next == after {
			break
		}
		after = next
	}
	records := 0
	if _, err := st.ScanDerived("tool-stats", 0, 0, func(uint64, *sdk.Event) error { records++; return nil }); err != nil {
		t.Fatal(err)
	}
	counted := 0
	if err := st.ScanState("plugin:toolstats", []byte("k"), func(_, v []byte) error {
		var n int
		if _, err := fmt.Sscan(string(v), &n); err != nil {
			return fmt.Errorf("kv value %q: %w", v, err)
		}
		counted += n
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if records != events || counted != events {
		t.Errorf("%s: cursor %d: %d tool uses up to it, %d tool-stats records, kv counts sum to %d: not exactly once", when, cursor, events, records, counted)
	}
	if n := st.DLQCount(); n != dlq {
		t.Errorf("%s: %d dead letters, want %d", when, n, dlq)
	}
	return cursor, last
}

// TestEnrichCrashSafety SIGKILLs a real daemon again and again while its enrich plugins (the test
// plugin toolstats, and every enrich plugin enabled by default) rebuild their derived data after
// a reindex of a large log, restarting it each time. After every crash the plugin has enriched
// each event up to its cursor exactly once; once caught up, the derived records, the view and the
// state of every plugin and built-in consumer equal those of the clean first run, and those of an
// `agent reindex` after it.
//
// HANGAR_ENRICH_CRASH_CYCLES bounds the crash cycles (default 12); HANGAR_ENRICH_CRASH_EVENTS sets
// the events (default 12000).
func TestEnrichCrashSafety(t *testing.T) {
	cycles, events := envInt("HANGAR_ENRICH_CRASH_CYCLES", 12), envInt("HANGAR_ENRICH_CRASH_EVENTS", 12000)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d, up to %d cycles, %d events", seed, cycles, events)
	dataDir := newDataDir(t)
	installToolStats(t, dataDir)

	// The clean run: the events posted, enriched as they come, no crash.
	d := startDaemon(t, dataDir, nil)
	var sessions []string
	for i := range 20 {
		sessions = append(sessions, fmt.Sprintf("crash-%02d-%s", i, uuid()))
	}
	if n := postToolUses(t, dataDir, events/len(sessions), sessions...); n != events/len(sessions)*len(sessions) {
		t.Fatalf("stored %d events", n)
	}
	waitSettled(t, dataDir, 5*time.Minute)
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("agent run exited %d\n%s", code, d.stderr.String())
	}
	clean := snapshotDerived(t, dataDir)
	toolStatsCheck(t, dataDir, "clean run", 0)

	// The crashes: a reindex has every consumer start over, and a SIGKILL hits it at a random
	// moment; then restarts, each killed at a random moment, until the plugin caught up.
	mid := 0
	var cursor, last uint64
	for cycle := 1; cycle <= cycles; cycle++ {
		d = startDaemon(t, dataDir, nil)
		if cycle == 1 {
			agentOK(t, dataDir, "reindex", "--no-wait")
		}
		time.Sleep(time.Duration(50+rng.IntN(250*cycle)) * time.Millisecond) // later cycles get further
		d.kill()
		cursor, last = toolStatsCheck(t, dataDir, fmt.Sprintf("cycle %d", cycle), 0)
		if t.Failed() {
			t.Fatalf("cycle %d failed (seed %d); daemon output:\n%s", cycle, seed, d.stderr.String())
		}
		if cursor > 0 && cursor < last {
			mid++
		}
		if cursor == last {
			break
		}
	}
	t.Logf("%d crashes during enrichment, cursor %d of %d at the last", mid, cursor, last)
	if mid == 0 {
		t.Errorf("no crash hit the plugin while it enriched (cursor %d of %d): the test proved nothing; raise HANGAR_ENRICH_CRASH_EVENTS", cursor, last)
	}
	d = startDaemon(t, dataDir, nil)
	waitSettled(t, dataDir, 5*time.Minute)
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("agent run exited %d\n%s", code, d.stderr.String())
	}
	toolStatsCheck(t, dataDir, "after the crashes", 0)
	if diff := diffDerived(clean, snapshotDerived(t, dataDir)); diff != "" {
		t.Errorf("after the crashes, the derived data differs from the clean run's:\n%s", diff)
	}
	agentOK(t, dataDir, "reindex")
	if diff := diffDerived(clean, snapshotDerived(t, dataDir)); diff != "" {
		t.Errorf("after agent reindex, the derived data differs from the clean run's:\n%s", diff)
	}
}

// TestEnrichContainment runs a failing enrich plugin (host/testdata/enrich-faulty) in a real
// daemon beside toolstats: an event it fails is dead-lettered (stage consumer:plugin:faulty) and
// the plugin runs on; events that make it trap are dead-lettered and, the calls failing in a row,
// quarantine it, which holds its cursor; meanwhile hooks keep being acknowledged and stored, and
// the other enrich plugin and the built-in consumers keep up. What pipeline/wasmstage and
// pipeline/consumer prove of one stage, this proves of the daemon.
func TestEnrichContainment(t *testing.T) {
	dataDir := newDataDir(t)
	installToolStats(t, dataDir)
	agentOK(t, dataDir, "plugins", "install", enrichPluginFolder(t, "enrich-faulty", "faulty", "emit:derived:faulty.seen"), "--yes")
	d := startDaemon(t, dataDir, nil)

	// Failed records: dead-lettered, the plugin runs on.
	postToolUses(t, dataDir, 10, "ok-"+uuid())
	postToolUses(t, dataDir, 5, "fail-"+uuid())
	st := waitSettled(t, dataDir, 60*time.Second)
	if st.EventsStored != 15 || st.DLQSize != 5 {
		t.Fatalf("after failed records: %d events, %d dead letters; want 15 and 5", st.EventsStored, st.DLQSize)
	}
	for _, e := range dlqList(t, dataDir) {
		if e.Stage != "consumer:plugin:faulty" || !strings.Contains(e.Reason, "failed on purpose") {
			t.Errorf("dead letter %d: stage %q, reason %q; want the faulty plugin's failed record", e.Seq, e.Stage, e.Reason)
		}
	}
	if p := pluginStatusOf(t, st, "faulty"); p.Quarantined || !p.Running || p.RecordErrors < 5 || p.Failures != 0 {
		t.Errorf("faulty after failed records: %+v, want running, its record errors counted (retries of one at a time included)", p)
	}

	// Traps: dead-lettered, then the plugin is quarantined and holds its cursor.
	for range 5 {
		runHook(t, dataDir, withSession(t, toolUses(t)[0], "trap-"+uuid()))
	}
	waitFor(t, 60*time.Second, func() string {
		if p := pluginStatusOf(t, apiStatus(t, dataDir), "faulty"); !p.Quarantined {
			return fmt.Sprintf("faulty not quarantined: %+v", p)
		}
		return ""
	})
	// Ingest goes on: hooks are acknowledged and stored, the other consumers keep up.
	for i := range 10 {
		runHook(t, dataDir, withSession(t, toolUses(t)[i%len(toolUses(t))], "after-"+uuid()))
	}
	waitFor(t, 60*time.Second, func() string {
		st = apiStatus(t, dataDir)
		for _, c := range []string{"plugin:toolstats", "daily-counts", "usage"} {
			if st.Consumers[c].Lag != 0 {
				return fmt.Sprintf("%s lag %d", c, st.Consumers[c].Lag)
			}
		}
		if st.EventsStored != 30 {
			return fmt.Sprintf("%d events stored, want 30", st.EventsStored)
		}
		return ""
	})
	if lag := st.Consumers["plugin:faulty"].Lag; lag == 0 {
		t.Errorf("the quarantined plugin's lag is 0: it should hold its cursor")
	}
	traps := 0
	for _, e := range dlqList(t, dataDir) {
		if e.Stage == "consumer:plugin:faulty" && strings.Contains(e.Reason, "trap") {
			traps++
		}
	}
	if traps == 0 || traps > host.DefaultQuarantineAfter {
		t.Errorf("%d dead letters of traps, want 1 to %d (until the quarantine)", traps, host.DefaultQuarantineAfter)
	}
	if ps := readState(t, dataDir).Plugins["faulty"]; ps == nil || ps.Quarantined == nil || !strings.Contains(ps.Quarantined.Reason, "calls in a row failed") {
		t.Errorf("state.json faulty = %+v, want quarantined for failed calls", ps)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("agent run exited %d\n%s", code, d.stderr.String())
	}
	// The other enrich plugin enriched every event once, traps included.
	if cursor, last := toolStatsCheck(t, dataDir, "beside a quarantined plugin", int64(5+traps)); cursor != last {
		t.Errorf("toolstats cursor %d, last event %d", cursor, last)
	}
}
