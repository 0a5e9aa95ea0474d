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

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/store"
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

// TestPrivacyCanary plants unique canaries in every content field of the real hook payloads and
// transcripts (prompts, thinking, assistant text, code in edits and writes, paths, commands and
// outputs, cwd, the project folder's name), runs them through the real hook command and `agent
// import` against the real daemon, and then looks for the canaries in every file under the data
// dir and in every key and value of the store: there must be none.
func TestPrivacyCanary(t *testing.T) {
	var pl planter
	dataDir := newDataDir(t)

	// Transcripts, in a project folder whose name carries a canary too.
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
		if err := os.WriteFile(filepath.Join(project, filepath.Base(f)), out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}

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
	if st.EventsStored < int64(len(fixtures)) || st.DLQSize != 0 {
		t.Errorf("stored %d events and %d dead letters; want at least %d events and none dead-lettered", st.EventsStored, st.DLQSize, len(fixtures))
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exit %d", code)
	}
	t.Logf("%d canaries planted; %d events stored", pl.n.Load(), st.EventsStored)

	// Every file under the data dir, byte for byte.
	mark := []byte(canaryMark)
	err = filepath.WalkDir(dataDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if i := bytes.Index(data, mark); i >= 0 {
			t.Errorf("%s holds a canary at byte %d: %q", path, i, clipString(string(data[max(0, i-80):min(len(data), i+40)]), 200))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every key and value of the store, decoded (its files are compressed).
	s, err := store.Open(filepath.Join(dataDir, daemon.StoreName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hits := 0
	err = s.ScanAll(func(k, v []byte) error {
		if bytes.Contains(k, mark) || bytes.Contains(v, mark) {
			if hits++; hits <= 5 {
				t.Errorf("store key %q holds a canary", clipString(string(k), 80))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if hits > 0 {
		t.Errorf("%d store entries hold canaries", hits)
	}
}
