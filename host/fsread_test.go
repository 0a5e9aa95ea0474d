//go:build unix

package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/sdk"
)

// fsFixture is a folder tree for the fs:read tests, under a temporary directory:
//
//	granted/a.txt      "0123456789"
//	granted/big.bin    2 MiB + 1 bytes
//	granted/sub/       a directory
//	granted/fifo       a named pipe
//	granted/inside ->  granted/a.txt
//	granted/escape ->  secret.txt
//	granted/dangling ->  nothing
//	deep/z0.txt, deep/x/y/z.txt
//	secret.txt         "root:x:0:0"
type fsFixture struct {
	dir string
}

func newFSFixture(t *testing.T) fsFixture {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := fsFixture{dir: dir}
	for _, d := range []string{"granted/sub", "deep/x/y"} {
		if err := os.MkdirAll(f.path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{
		"granted/a.txt":   []byte("0123456789"),
		"granted/big.bin": bytes.Repeat([]byte{'b'}, 2<<20+1),
		"deep/z0.txt":     []byte("z0"),
		"deep/x/y/z.txt":  []byte("zzz"),
		"secret.txt":      []byte("root:x:0:0"),
	}
	for name, b := range files {
		if err := os.WriteFile(f.path(name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"granted/inside":   f.path("granted/a.txt"),
		"granted/escape":   f.path("secret.txt"),
		"granted/dangling": f.path("nothing"),
	}
	for name, target := range links {
		if err := os.Symlink(target, f.path(name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(f.path("granted/fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// path returns the absolute path of a fixture file.
func (f fsFixture) path(name string) string { return filepath.Join(f.dir, name) }

// grants returns the fs:read grants of the fixture: granted/* and deep/**.
func (f fsFixture) grants() []string {
	return []string{"fs:read:" + escapeGlob(f.dir) + "/granted/*", "fs:read:" + escapeGlob(f.dir) + "/deep/**"}
}

// fsCaps are the fsread plugin's record fields. A path is text, not metadata: read:payload would
// withhold it, so it is content.
var fsCaps = []string{"content:path", "read:payload.offset", "read:payload.max", "read:payload.op"}

// fsRec returns a record for the fsread plugin; max < 0 leaves max out.
func fsRec(path string, offset, max int64) []byte {
	rec := `{"path":` + jsonString(path) + `,"offset":` + strconv.FormatInt(offset, 10)
	if max >= 0 {
		rec += `,"max":` + strconv.FormatInt(max, 10)
	}
	return []byte(rec + "}")
}

// fsStatRec returns a stat record for the fsread plugin.
func fsStatRec(path string) []byte { return []byte(`{"op":"stat","path":` + jsonString(path) + `}`) }

// jsonString returns s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// loadFSRead loads the fsread plugin on a host that does not quarantine it, with caps added to
// fsCaps.
func loadFSRead(t *testing.T, audit Auditor, caps ...string) *Plugin {
	t.Helper()
	h := newTestHost(t, Config{Audit: audit, PoolSize: 1, QuarantineAfter: 1000})
	return loadTest(t, h, "fsread", append(append([]string(nil), fsCaps...), caps...), Limits{})
}

// callFS makes one call of the fsread plugin with one record, failing the test if it blocks.
func callFS(t *testing.T, p *Plugin, rec []byte) (sdk.Event, error) {
	t.Helper()
	type result struct {
		outs []Outcome
		err  error
	}
	done := make(chan result, 1)
	go func() {
		outs, err := p.Call(context.Background(), "capture", [][]byte{rec})
		done <- result{outs, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("call with %s blocked", rec)
	}
	if r.err != nil {
		return sdk.Event{}, r.err
	}
	if r.outs[0].Err != nil {
		return sdk.Event{}, r.outs[0].Err
	}
	if len(r.outs[0].Events) != 1 {
		t.Fatalf("call with %s: %d events, want 1", rec, len(r.outs[0].Events))
	}
	return r.outs[0].Events[0], nil
}

// intAttr returns an int attribute of an event.
func intAttr(ev sdk.Event, key string) int64 {
	v, _ := ev.Attr(key)
	return v.Int()
}

func TestFSRead(t *testing.T) {
	f := newFSFixture(t)
	p := loadFSRead(t, nil, f.grants()...)
	tests := []struct {
		name        string
		rec         []byte
		bytes, head int64 // head is the first byte read, -1 for none
	}{
		{name: "whole file", rec: fsRec(f.path("granted/a.txt"), 0, -1), bytes: 10, head: '0'},
		{name: "offset", rec: fsRec(f.path("granted/a.txt"), 3, -1), bytes: 7, head: '3'},
		{name: "offset and max", rec: fsRec(f.path("granted/a.txt"), 3, 4), bytes: 4, head: '3'},
		{name: "last byte", rec: fsRec(f.path("granted/a.txt"), 9, -1), bytes: 1, head: '9'},
		{name: "at EOF", rec: fsRec(f.path("granted/a.txt"), 10, -1), bytes: 0, head: -1},
		{name: "after EOF", rec: fsRec(f.path("granted/a.txt"), 1000, -1), bytes: 0, head: -1},
		{name: "max 0", rec: fsRec(f.path("granted/a.txt"), 0, 0), bytes: 0, head: -1},
		{name: "symlink to a granted file", rec: fsRec(f.path("granted/inside"), 1, -1), bytes: 9, head: '1'},
		{name: "double star, one level", rec: fsRec(f.path("deep/z0.txt"), 0, -1), bytes: 2, head: 'z'},
		{name: "double star, deeper", rec: fsRec(f.path("deep/x/y/z.txt"), 0, -1), bytes: 3, head: 'z'},
		{name: "max above the cap is capped", rec: fsRec(f.path("granted/big.bin"), 0, 4<<20), bytes: MaxFSRead, head: 'b'},
		{name: "capped read near the end", rec: fsRec(f.path("granted/big.bin"), 2<<20, 4<<20), bytes: 1, head: 'b'},
	}
	var wantBytes int64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := callFS(t, p, tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := intAttr(ev, "bytes"), tt.bytes; got != want {
				t.Errorf("bytes = %d, want %d", got, want)
			}
			if got, want := intAttr(ev, "first"), tt.head; got != want {
				t.Errorf("first byte = %d, want %d", got, want)
			}
		})
		wantBytes += tt.bytes
	}
	if calls, n := p.FSReads(); calls != int64(len(tests)) || n != wantBytes {
		t.Errorf("FSReads() = %d calls, %d bytes, want %d, %d", calls, n, len(tests), wantBytes)
	}
	if s := p.Status(); s.DeniedHostCalls != 0 || s.Failures != 0 {
		t.Errorf("status after granted reads: %+v", s)
	}
}

func TestFSStat(t *testing.T) {
	f := newFSFixture(t)
	p := loadFSRead(t, nil, f.grants()...)
	tests := []struct {
		name string
		path string
		size int64
		ok   bool
	}{
		{name: "file", path: f.path("granted/a.txt"), size: 10, ok: true},
		{name: "big file", path: f.path("granted/big.bin"), size: 2<<20 + 1, ok: true},
		{name: "symlink to a granted file", path: f.path("granted/inside"), size: 10, ok: true},
		{name: "missing file in a granted folder", path: f.path("granted/missing.txt"), size: 0, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := callFS(t, p, fsStatRec(tt.path))
			if err != nil {
				t.Fatal(err)
			}
			ok, _ := ev.Attr("ok")
			if got := intAttr(ev, "size"); got != tt.size || ok.Bool() != tt.ok {
				t.Errorf("StatFile = %d, %v, want %d, %v", got, ok.Bool(), tt.size, tt.ok)
			}
		})
	}
}

// TestFSDenied shows that each path the rules refuse fails the call with ErrDenied (a trap),
// promptly, audited and counted, without the file's bytes anywhere in the error.
func TestFSDenied(t *testing.T) {
	f := newFSFixture(t)
	audit := &auditSink{}
	p := loadFSRead(t, audit, f.grants()...)
	noGrant := loadFSRead(t, audit)
	tests := []struct {
		name string
		p    *Plugin
		rec  []byte
		msg  string // in the error
	}{
		{name: "ungranted file", p: p, rec: fsRec(f.path("secret.txt"), 0, -1), msg: "no fs:read grant matches"},
		{name: "ungranted system file", p: p, rec: fsRec("/etc/passwd", 0, -1), msg: "no fs:read grant matches"},
		{name: "dot-dot out of a granted folder", p: p, rec: fsRec(f.dir+"/granted/../secret.txt", 0, -1), msg: "not a clean absolute path"},
		{name: "dot-dot matching the glob", p: p, rec: fsRec(f.dir+"/granted/..", 0, -1), msg: "not a clean absolute path"},
		{name: "dot element", p: p, rec: fsRec(f.dir+"/granted/./a.txt", 0, -1), msg: "not a clean absolute path"},
		{name: "double slash", p: p, rec: fsRec(f.dir+"/granted//a.txt", 0, -1), msg: "not a clean absolute path"},
		{name: "relative path", p: p, rec: fsRec("granted/a.txt", 0, -1), msg: "not a clean absolute path"},
		{name: "home dot-dot", p: p, rec: fsRec("~/../../etc/passwd", 0, -1), msg: "not a clean absolute path"},
		{name: "NUL byte", p: p, rec: fsRec(f.path("granted/a.txt")+"\x00", 0, -1), msg: "not a clean absolute path"},
		{name: "symlink escaping the granted folder", p: p, rec: fsRec(f.path("granted/escape"), 0, -1), msg: "which no fs:read grant matches"},
		{name: "dangling symlink", p: p, rec: fsRec(f.path("granted/dangling"), 0, -1), msg: "a symlink to no file"},
		{name: "directory", p: p, rec: fsRec(f.path("granted/sub"), 0, -1), msg: "not a regular file"},
		{name: "fifo", p: p, rec: fsRec(f.path("granted/fifo"), 0, -1), msg: "not a regular file"},
		{name: "trailing double star needs an element", p: p, rec: fsRec(f.path("deep"), 0, -1), msg: "no fs:read grant matches"},
		{name: "no fs:read grant", p: noGrant, rec: fsRec(f.path("granted/a.txt"), 0, -1), msg: "fs_read: no fs:read grant"},
		{name: "stat ungranted file", p: p, rec: fsStatRec(f.path("secret.txt")), msg: "no fs:read grant matches"},
		{name: "stat symlink escaping", p: p, rec: fsStatRec(f.path("granted/escape")), msg: "which no fs:read grant matches"},
		{name: "stat dot-dot", p: p, rec: fsStatRec(f.dir + "/granted/../secret.txt"), msg: "not a clean absolute path"},
		{name: "stat directory", p: p, rec: fsStatRec(f.path("granted/sub")), msg: "not a regular file"},
		{name: "stat fifo", p: p, rec: fsStatRec(f.path("granted/fifo")), msg: "not a regular file"},
		{name: "stat without a grant", p: noGrant, rec: fsStatRec(f.path("granted/a.txt")), msg: "fs_stat: no fs:read grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			denied := tt.p.Status().DeniedHostCalls
			audited := audit.count(tt.p.m.Name, AuditDeniedHostCall)
			start := time.Now()
			_, err := callFS(t, tt.p, tt.rec)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("denied call took %v", d)
			}
			if !errors.Is(err, ErrDenied) || !errors.Is(err, ErrTrap) {
				t.Fatalf("got %v, want a trap wrapping ErrDenied", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), "root:x") {
				t.Errorf("the error carries the secret file's bytes: %v", err)
			}
			if got := tt.p.Status().DeniedHostCalls; got != denied+1 {
				t.Errorf("DeniedHostCalls = %d, want %d", got, denied+1)
			}
			if got := audit.count(tt.p.m.Name, AuditDeniedHostCall); got != audited+1 {
				t.Errorf("denied-host-call audit entries = %d, want %d", got, audited+1)
			}
		})
	}
	if calls, n := p.FSReads(); calls != 0 || n != 0 {
		t.Errorf("FSReads() = %d, %d after denied reads only, want 0, 0", calls, n)
	}
}

// TestFSReadErrors shows that a failed read (not a refusal) fails the call without counting as
// denied.
func TestFSReadErrors(t *testing.T) {
	f := newFSFixture(t)
	audit := &auditSink{}
	p := loadFSRead(t, audit, f.grants()...)
	tests := []struct {
		name string
		rec  []byte
		msg  string
	}{
		{name: "missing file", rec: fsRec(f.path("granted/missing.txt"), 0, -1), msg: "file does not exist"},
		{name: "negative offset, refused by the SDK", rec: fsRec(f.path("granted/a.txt"), -1, -1), msg: "negative offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := callFS(t, p, tt.rec)
			if err == nil || errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %v, want an error saying %q, not ErrDenied", err, tt.msg)
			}
		})
	}
	if s := p.Status(); s.DeniedHostCalls != 0 || audit.count(p.m.Name, AuditDeniedHostCall) != 0 {
		t.Errorf("failed reads counted as denied: %+v", s)
	}
}

// TestFSReadSymlinkedFolder shows that a glob written through a symlinked folder reaches the
// files it names, and that a symlink out of it is still denied.
func TestFSReadSymlinkedFolder(t *testing.T) {
	f := newFSFixture(t)
	if err := os.Symlink(f.path("granted"), f.path("alias")); err != nil {
		t.Fatal(err)
	}
	p := loadFSRead(t, nil, "fs:read:"+escapeGlob(f.dir)+"/alias/*")
	for _, name := range []string{"alias/a.txt", "granted/a.txt"} {
		ev, err := callFS(t, p, fsRec(f.path(name), 0, -1))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := intAttr(ev, "bytes"); got != 10 {
			t.Errorf("%s: bytes = %d, want 10", name, got)
		}
	}
	if _, err := callFS(t, p, fsRec(f.path("alias/escape"), 0, -1)); !errors.Is(err, ErrDenied) {
		t.Errorf("symlink out of a symlinked folder: got %v, want ErrDenied", err)
	}
}

// TestFSReadHome shows "~/" in a glob and in a path naming the home directory.
func TestFSReadHome(t *testing.T) {
	f := newFSFixture(t)
	t.Setenv("HOME", f.dir)
	p := loadFSRead(t, nil, "fs:read:~/granted/*.txt")
	for _, path := range []string{"~/granted/a.txt", f.path("granted/a.txt")} {
		ev, err := callFS(t, p, fsRec(path, 0, -1))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if got := intAttr(ev, "bytes"); got != 10 {
			t.Errorf("%s: bytes = %d, want 10", path, got)
		}
	}
	if _, err := callFS(t, p, fsRec("~/secret.txt", 0, -1)); !errors.Is(err, ErrDenied) {
		t.Errorf("~/secret.txt: got %v, want ErrDenied", err)
	}
}

func TestFSGlobMatch(t *testing.T) {
	tests := []struct {
		glob, name string
		want       bool
	}{
		{"/a/*", "/a/b", true},
		{"/a/*", "/a/b/c", false},
		{"/a/*.db", "/a/x.db", true},
		{"/a/*.db", "/a/x.db-wal", false},
		{"/a/?", "/a/b", true},
		{"/a/[bc]", "/a/c", true},
		{`/a/\*`, "/a/*", true},
		{`/a/\*`, "/a/b", false},
		{"/a/**", "/a/b", true},
		{"/a/**", "/a/b/c/d", true},
		{"/a/**", "/a", false},
		{"/a/**", "/ab/c", false},
		{"/a/**/c", "/a/c", true},
		{"/a/**/c", "/a/b/x/c", true},
		{"/a/**/c", "/a/b/x/d", false},
		{"/a/**/*.db", "/a/x/y.db", true},
		{"/a/**/**/d", "/a/d", true},
		{"/a/b**", "/a/bxx", true},
		{"/a/b**", "/a/bx/y", false},
		{"/**", "/etc/passwd", true},
	}
	for _, tt := range tests {
		if got := fsGlobMatch(tt.glob, tt.name); got != tt.want {
			t.Errorf("fsGlobMatch(%q, %q) = %v, want %v", tt.glob, tt.name, got, tt.want)
		}
	}
	// A home directory with wildcard characters is matched literally.
	g, ok := expandHomeGlob("~/x/*", "/h[1]*")
	if !ok || !fsGlobMatch(g, "/h[1]*/x/y") || fsGlobMatch(g, "/h1z/x/y") {
		t.Errorf("expandHomeGlob = %q, %v: does not match the home literally", g, ok)
	}
}

// TestFSReadDataDir shows that no path in Hangar's data directory is readable, whatever the
// grant's glob says: not named directly, not through a symlink, not by fs_stat; and that the
// same grant still reaches the files outside it.
func TestFSReadDataDir(t *testing.T) {
	f := newFSFixture(t)
	data := f.path("data")
	if err := os.MkdirAll(filepath.Join(data, "plugins"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]string{"secret": "0123456789abcdef", "plugins/state.json": "{}"} {
		if err := os.WriteFile(filepath.Join(data, name), []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(data, "secret"), f.path("granted/key")); err != nil {
		t.Fatal(err)
	}
	// The data directory as configured may itself be reached through a symlink.
	if err := os.Symlink(data, f.path("datalink")); err != nil {
		t.Fatal(err)
	}
	audit := &auditSink{}
	for _, dataDir := range []string{data, f.path("datalink")} {
		h := newTestHost(t, Config{Audit: audit, PoolSize: 1, QuarantineAfter: 1000, DataDir: dataDir})
		p := loadTest(t, h, "fsread", append(append([]string(nil), fsCaps...), "fs:read:"+escapeGlob(f.dir)+"/**"), Limits{})
		for _, rec := range [][]byte{
			fsRec(filepath.Join(data, "secret"), 0, -1),
			fsRec(filepath.Join(data, "plugins/state.json"), 0, -1),
			fsRec(f.path("datalink/secret"), 0, -1),
			fsRec(f.path("granted/key"), 0, -1),
			fsStatRec(filepath.Join(data, "secret")),
			fsStatRec(f.path("granted/key")),
		} {
			_, err := callFS(t, p, rec)
			if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "data directory") {
				t.Errorf("data dir %s, %s: got %v, want ErrDenied naming the data directory", dataDir, rec, err)
			}
		}
		if ev, err := callFS(t, p, fsRec(f.path("granted/a.txt"), 0, -1)); err != nil || intAttr(ev, "bytes") != 10 {
			t.Errorf("data dir %s: a granted file outside it: %v, %v", dataDir, ev, err)
		}
		if calls, n := p.FSReads(); calls != 1 || n != 10 {
			t.Errorf("data dir %s: FSReads() = %d, %d, want only the file outside it read", dataDir, calls, n)
		}
	}
}

// TestFSPathNeverQuoted shows that the messages of refused and failed fs calls (the call's error,
// the audit log) name a path by its length and a salted hash, never by the path, nor by the path
// it resolves to: a path is the plugin's text, and may carry content.
func TestFSPathNeverQuoted(t *testing.T) {
	f := newFSFixture(t)
	audit := &auditSink{}
	h := newTestHost(t, Config{Audit: audit, PoolSize: 1, QuarantineAfter: 1000, Secret: bytes.Repeat([]byte{7}, 32)})
	p := loadTest(t, h, "fsread", append(append([]string(nil), fsCaps...), f.grants()...), Limits{})
	paths := []string{
		"/tmp/please-refactor-the-payment-module",
		f.path("granted/escape"),
		f.path("granted/dangling"),
		f.path("granted/missing-report-about-the-merger.txt"),
		f.dir + "/granted/../secret.txt",
	}
	labels := map[string]string{}
	for _, path := range paths {
		for range 2 {
			_, err := callFS(t, p, fsRec(path, 0, -1))
			if err == nil {
				t.Fatalf("%s: read", path)
			}
			msg := err.Error()
			for _, piece := range []string{path, filepath.Base(path), f.dir, "secret.txt"} {
				if strings.Contains(msg, piece) {
					t.Errorf("the error quotes %q: %s", piece, msg)
				}
			}
			label := p.pathLabel(path)
			if !strings.Contains(msg, label) {
				t.Errorf("the error %q does not name the path by its label %q", msg, label)
			}
			if l, ok := labels[path]; ok && l != label {
				t.Errorf("%s: label %q, then %q", path, l, label)
			}
			labels[path] = label
		}
	}
	if len(labels) != len(paths) {
		t.Errorf("%d labels for %d paths", len(labels), len(paths))
	}
	seen := map[string]bool{}
	for _, l := range labels {
		if seen[l] {
			t.Errorf("two paths share the label %q", l)
		}
		seen[l] = true
	}
	for _, e := range audit.entries {
		if strings.Contains(e.Detail, f.dir) || strings.Contains(e.Detail, "refactor") {
			t.Errorf("audit entry quotes a path: %+v", e)
		}
	}
}

// TestFSReadWindowBound shows that what fs_read returns joins the instance's window, bounded: a
// read that would take it past its limit fails the call, and the next call starts on a fresh
// instance once the window holds half its limit.
func TestFSReadWindowBound(t *testing.T) {
	f := newFSFixture(t)
	const limit = 64 << 10
	h := newTestHost(t, Config{PoolSize: 1, QuarantineAfter: 1000, WindowBytes: limit})
	p := loadTest(t, h, "fsread", append(append([]string(nil), fsCaps...), f.grants()...), Limits{})
	if _, err := callFS(t, p, fsRec(f.path("granted/big.bin"), 0, limit+1)); err == nil || !strings.Contains(err.Error(), "recycled") {
		t.Errorf("a read past the window's limit: %v, want the call failed", err)
	}
	if _, err := callFS(t, p, fsRec(f.path("granted/big.bin"), 0, limit-100)); err != nil {
		t.Fatalf("a read within the limit: %v", err)
	}
	// The window holds what was read and the record's content: its path (content:path).
	want := int64(limit - 100 + len(f.path("granted/big.bin")))
	if got := p.Status().WindowBytes; got != want {
		t.Errorf("window holds %d bytes, want %d", got, want)
	}
	// Past half its limit: the next call runs on a fresh instance, with the whole limit to read.
	if _, err := callFS(t, p, fsRec(f.path("granted/big.bin"), 0, limit-100)); err != nil {
		t.Fatalf("a read on a fresh instance: %v", err)
	}
	if s := p.Status(); s.WindowRecycles != 1 || s.WindowBytes != want {
		t.Errorf("%d recycles, window %d bytes; want 1 and %d", s.WindowRecycles, s.WindowBytes, want)
	}
}
