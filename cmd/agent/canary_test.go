package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/host"
	"github.com/hangar-dev/hangar/store/canarytest"
)

// canaryMark starts every planted canary; no stored byte may hold it.
const canaryMark = "zqCANARYqz"

// metadataKeys are the fields that hold metadata, not content: identifiers, enumerations, times,
// counts. Every other string in a payload or transcript line gets a canary.
var metadataKeys = map[string]bool{
	"hook_event_name": true, "session_id": true, "sessionId": true, "tool_name": true, "tool_use_id": true,
	"permission_mode": true, "type": true, "role": true, "model": true, "id": true, "requestId": true,
	"uuid": true, "parentUuid": true, "timestamp": true, "version": true, "userType": true, "source": true,
	"reason": true, "trigger": true, "notification_type": true, "subtype": true, "stop_reason": true,
	"service_tier": true, "level": true, "speed": true, "logged_at": true, "error_type": true,
	"toolUseID": true, "leafUuid": true, "name": true,
}

// planter plants a unique canary in every content string of a JSON document: a path gets it as its
// first folder (so that a file extension survives), any other text as an extra word.
type planter struct{ n atomic.Int64 }

func (p *planter) canary() string { return fmt.Sprintf("%s%06d", canaryMark, p.n.Add(1)) }

func (p *planter) plant(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = p.plant(e, k)
		}
	case []any:
		for i, e := range x {
			x[i] = p.plant(e, key)
		}
	case string:
		if metadataKeys[key] || x == "" {
			return x
		}
		if strings.HasPrefix(x, "/") {
			return "/" + p.canary() + x
		}
		return x + " " + p.canary()
	}
	return v
}

// plantJSON returns doc with canaries planted, or doc unchanged if it is not JSON.
func (p *planter) plantJSON(t *testing.T, doc []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return doc
	}
	out, err := json.Marshal(p.plant(v, ""))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// plantTranscripts copies every shared transcript into a project folder of a new source folder,
// with canaries planted in every content field of every line and in the project folder's name,
// and returns the source folder (to pass to `agent import --source`). Lines given in bad are
// appended to the first transcript.
func plantTranscripts(t *testing.T, pl *planter, bad ...[]byte) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "claude")
	project := filepath.Join(src, "projects", "-Users-"+pl.canary()+"-dev-ai-music")
	if err := os.MkdirAll(project, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(sharedTranscripts, "projects", "*", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("transcripts: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			out.Write(pl.plantJSON(t, sc.Bytes()))
			out.WriteByte('\n')
		}
		for _, line := range bad {
			out.Write(line)
			out.WriteByte('\n')
		}
		bad = nil
		if err := os.WriteFile(filepath.Join(project, filepath.Base(f)), out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// withoutField returns a JSON object without one of its members.
func withoutField(t *testing.T, payload []byte, key string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, key)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// scanFilesForCanaries fails the test for every file under dataDir that holds a canary: plainly,
// in hex, or in base64 (a []byte in JSON is base64).
func scanFilesForCanaries(t *testing.T, dataDir, when string) {
	t.Helper()
	find := canarytest.NewFinder(canaryMark)
	files := 0
	err := filepath.WalkDir(dataDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if i, form := find.Find(data); i >= 0 {
			t.Errorf("%s: %s holds a canary (%s) at byte %d: %q", when, path, form, i, clipString(string(data[max(0, i-80):min(len(data), i+40)]), 200))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d files scanned", when, files)
}

// scanStoreForCanaries fails the test if any key or value of the store (decoded from Pebble's
// compressed files) holds a canary, in any of those forms. No daemon may run.
func scanStoreForCanaries(t *testing.T, dataDir string) {
	t.Helper()
	find := canarytest.NewFinder(canaryMark)
	s := openStore(t, dataDir)
	defer s.Close()
	hits, entries := 0, 0
	err := s.ScanAll(func(k, v []byte) error {
		entries++
		ik, kform := find.Find(k)
		iv, vform := find.Find(v)
		if ik >= 0 || iv >= 0 {
			if hits++; hits <= 5 {
				t.Errorf("store key %q holds a canary (key: %s, value: %s)", clipString(string(k), 80), kform, vform)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if hits > 0 {
		t.Errorf("%d of %d store entries hold canaries", hits, entries)
	}
}

// TestPrivacyCanary plants unique canaries in every content field of the real hook payloads and
// transcripts (prompts, thinking, assistant text, code in edits and writes, paths, commands and
// outputs, cwd, the project folder's name), runs them through the real hook command and `agent
// import` against the real daemon, and then looks for the canaries in every file under the data
// dir and in every key and value of the store: there must be none, plainly, in hex or in base64.
//
// It also takes the paths a failure goes down: hook payloads and transcript lines that fail
// capture (malformed, of no known format) go to the dead-letter queue; an installed plugin that fails every record it is given
// dead-letters them until it is quarantined; with the first-party plugin disabled, hooks and
// transcript lines wait for a capture, posted or spooled while the daemon is down. Each path keeps
// its payloads sealed, and the user's own `agent dlq show` and `agent dlq replay` still open them.
func TestPrivacyCanary(t *testing.T) {
	var pl planter
	dataDir := newDataDir(t)
	// Transcript lines that fail capture: not JSON, and of no known format.
	badLines := [][]byte{
		[]byte(`{"type":"user","message":{"content":"` + pl.canary() + ` and the line was cut`),
		[]byte(`{"note":"` + pl.canary() + `","path":"/` + pl.canary() + `/notes.md"}`),
	}
	src := plantTranscripts(t, &pl, badLines...)
	d := startDaemon(t, dataDir, nil)

	// Every hook payload, through the real hook command, four at a time.
	var wg sync.WaitGroup
	work := make(chan []byte)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				checkHookResult(t, runHook(t, dataDir, p), 5*time.Second)
			}
		}()
	}
	for _, f := range fixtures {
		work <- pl.plantJSON(t, f.payload)
	}
	close(work)
	wg.Wait()
	sum := runImport(t, nil, "--data-dir", dataDir, "--source", src)
	if !sum.Daemon || sum.Lines == 0 {
		t.Fatalf("import: %+v, want lines imported through the daemon", sum)
	}
	st := waitSettled(t, dataDir, 60*time.Second)
	if st.EventsStored < int64(len(fixtures)) || st.DLQSize != int64(len(badLines)) {
		t.Errorf("stored %d events and %d dead letters; want at least %d events and the %d bad lines dead-lettered", st.EventsStored, st.DLQSize, len(fixtures), len(badLines))
	}

	// Payloads that fail capture: malformed, and of no format the first-party plugin knows.
	failing := [][]byte{
		[]byte(`{"hook_event_name":"UserPromptSubmit","prompt":"` + pl.canary() + ` and then the payload was cut`),
		[]byte(`not JSON at all: ` + pl.canary()),
		[]byte(`["` + pl.canary() + `", "/` + pl.canary() + `/main.go"]`),
		[]byte(`"` + pl.canary() + `"`),
		[]byte(`{"prompt":"refactor ` + pl.canary() + `","cwd":"/` + pl.canary() + `/src"}`),
		withoutField(t, pl.plantJSON(t, fixtureByFile(t, "post_tool_use.json[0]").payload), "hook_event_name"),
	}
	for _, p := range failing {
		runHook(t, dataDir, p)
	}
	dead := int64(len(badLines) + len(failing))
	waitFor(t, 30*time.Second, func() string {
		if st := apiStatus(t, dataDir); st.DLQSize != dead || st.QueueDepth != 0 {
			return fmt.Sprintf("dlq_size %d, want %d", st.DLQSize, dead)
		}
		return ""
	})
	// The user's own command opens them.
	for _, seq := range []string{"1", fmt.Sprint(dead)} {
		if out := agentOK(t, dataDir, "dlq", "show", seq).stdout; !strings.Contains(out, canaryMark) {
			t.Errorf("agent dlq show %s does not show the payload:\n%s", seq, out)
		}
	}
	scanFilesForCanaries(t, dataDir, "after payloads failed capture")

	// An installed capture plugin that fails every record it is given: its records are
	// dead-lettered until it is quarantined and the first-party plugin takes over.
	agentOK(t, dataDir, "plugins", "install", writeTrapPlugin(t), "--yes", "--take-over")
	const trapped = 60
	for i := range trapped {
		runHook(t, dataDir, withMode(t, pl.plantJSON(t, fixtures[i].payload), "panic"))
	}
	dead += int64(min(trapped, host.DefaultQuarantineRecordsAfter))
	waitFor(t, 30*time.Second, func() string {
		if st := apiStatus(t, dataDir); st.DLQSize != dead || st.QueueDepth != 0 {
			return fmt.Sprintf("dlq_size %d, want %d", st.DLQSize, dead)
		}
		return ""
	})
	if p := pluginStatusOf(t, apiStatus(t, dataDir), "trapper"); !p.Quarantined {
		t.Errorf("the plugin that fails every record is not quarantined: %+v", p)
	}

	// The first-party plugin disabled: no capture serves Claude Code. Hooks and transcript lines
	// wait, and so do hooks spooled while the daemon is down.
	agentOK(t, dataDir, "plugins", "disable", "claude-code")
	for i := trapped; i < trapped+30; i++ {
		runHook(t, dataDir, pl.plantJSON(t, fixtures[i].payload))
	}
	sumB := runImport(t, nil, "--data-dir", dataDir, "--source", plantTranscripts(t, &pl))
	if sumB.Parked != sumB.Lines || sumB.Lines == 0 {
		t.Errorf("import with no capture: %+v, want every line parked", sumB)
	}
	if st := waitSettled(t, dataDir, 30*time.Second); st.DLQSize != dead || !st.SpoolParked {
		t.Errorf("with no capture: %d dead letters, parked %v; want %d, records parked", st.DLQSize, st.SpoolParked, dead)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exit %d", code)
	}
	for i := trapped + 30; i < trapped+50; i++ {
		runHook(t, dataDir, pl.plantJSON(t, fixtures[i].payload))
	}
	scanFilesForCanaries(t, dataDir, "daemon down, records spooled and parked")
	d = startDaemon(t, dataDir, nil)
	before := waitSettled(t, dataDir, 60*time.Second)
	agentOK(t, dataDir, "plugins", "enable", "claude-code")
	waitFor(t, 60*time.Second, func() string {
		if st := apiStatus(t, dataDir); st.SpoolParked || st.QueueDepth != 0 || st.EventsStored < before.EventsStored+50 {
			return fmt.Sprintf("parked %v, queue %d, %d events; want the parked records captured", st.SpoolParked, st.QueueDepth, st.EventsStored)
		}
		return ""
	})
	// The plugin's dead letters replay through the first-party plugin; the others fail again.
	bad := len(badLines) + len(failing)
	if out := agentOK(t, dataDir, "dlq", "replay", "--all").stdout; !strings.Contains(out, fmt.Sprintf("Replayed %d; %d failed again", dead-int64(bad), bad)) {
		t.Errorf("dlq replay: %s", out)
	}
	st = waitSettled(t, dataDir, 60*time.Second)
	if st.DLQSize != int64(bad) {
		t.Errorf("%d dead letters after the replay, want %d", st.DLQSize, bad)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exit %d", code)
	}
	t.Logf("%d canaries planted; %d events stored", pl.n.Load(), st.EventsStored)

	scanFilesForCanaries(t, dataDir, "at the end")
	scanStoreForCanaries(t, dataDir)
}
