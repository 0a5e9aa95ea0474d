package pdk

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// gjsonMembers is what Members must agree with on valid JSON: gjson's keys and raw values.
func gjsonMembers(json string) (keys, raws []string) {
	gjson.Parse(json).ForEach(func(k, v gjson.Result) bool {
		keys, raws = append(keys, k.Str), append(raws, v.Raw)
		return true
	})
	return keys, raws
}

func checkMembers(t *testing.T, json string) {
	t.Helper()
	var keys, raws []string
	ok := Members(json, func(k, raw string) bool {
		keys, raws = append(keys, k), append(raws, raw)
		return true
	})
	wantKeys, wantRaws := gjsonMembers(json)
	if !ok || strings.Join(keys, "\x00") != strings.Join(wantKeys, "\x00") || strings.Join(raws, "\x00") != strings.Join(wantRaws, "\x00") {
		t.Errorf("Members(%.80q) = %v, %q, %q; want %q, %q", json, ok, keys, raws, wantKeys, wantRaws)
	}
}

func TestMembers(t *testing.T) {
	for _, s := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a" : "x" , "b":[1,{"c":"]}"}],"d":{"e":"\"}"}}`,
		`{"k\"ey":"v\\","x":"\\\"","y":true,"z":null,"n":-1.5e3}`,
		`{"s":"\u00e9\n\t","t":"\\\\"}`, "{\n\t\"a\": [ ],\r\n\"b\": {}\n}",
	} {
		checkMembers(t, s)
	}
}

// TestMembersFixtures compares Members with gjson on every real hook payload and on each tool
// input and response in them.
func TestMembersFixtures(t *testing.T) {
	n := 0
	err := filepath.WalkDir("../../../shared/fixtures/claude-code/hooks", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		gjson.ParseBytes(b).ForEach(func(_, p gjson.Result) bool {
			checkMembers(t, p.Raw)
			for _, f := range []string{"tool_input", "tool_response"} {
				if v := p.Get(f); v.IsObject() {
					checkMembers(t, v.Raw)
				}
			}
			n++
			return true
		})
		return nil
	})
	if err != nil || n < 2000 {
		t.Fatalf("walked %d payloads: %v", n, err)
	}
}

func TestMembersMalformed(t *testing.T) {
	for _, s := range []string{``, `[]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":"x}`, `{"a":{"b":1}`, `{"a":1 "b":2}`, `{a:1}`, `"x"`} {
		if Members(s, func(string, string) bool { return true }) {
			t.Errorf("Members(%q) = true, want false", s)
		}
	}
	// Stopping early is not an error.
	calls := 0
	if !Members(`{"a":1,"b":2}`, func(string, string) bool { calls++; return false }) || calls != 1 {
		t.Errorf("stopping after the first member: %d calls", calls)
	}
}

func checkElements(t *testing.T, json string) {
	t.Helper()
	var raws, want []string
	ok := Elements(json, func(raw string) bool {
		raws = append(raws, raw)
		return true
	})
	gjson.Parse(json).ForEach(func(_, v gjson.Result) bool {
		want = append(want, v.Raw)
		return true
	})
	if !ok || strings.Join(raws, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("Elements(%.80q) = %v, %q; want %q", json, ok, raws, want)
	}
}

func TestElements(t *testing.T) {
	for _, s := range []string{
		`[]`, ` [ ] `, `[1]`, `[1,"a",null,true,{"b":"]"},[2,[3]],-1.5e3]`, `["\"]",  "\\"]`,
		"[\n\t{\"type\":\"text\",\"text\":\"x\"} ,\r\n{}\n]",
	} {
		checkElements(t, s)
	}
	for _, bad := range []string{``, `{}`, `[`, `[1`, `[1,`, `[1 2]`, `["a]`, `[}`} {
		if Elements(bad, func(string) bool { return true }) {
			t.Errorf("Elements(%q) = true, want false", bad)
		}
	}
	var seen int
	if !Elements(`[1,2,3]`, func(string) bool { seen++; return seen < 2 }) || seen != 2 {
		t.Errorf("Elements stopped after %d elements, want 2", seen)
	}
}

// TestElementsFixtures compares Elements with gjson on the content of every message of the shared
// transcripts.
func TestElementsFixtures(t *testing.T) {
	files, err := filepath.Glob("../../../shared/fixtures/claude-code/projects/*/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shared transcripts: %v", err)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if c := gjson.Get(l, "message.content"); c.IsArray() {
				checkElements(t, c.Raw)
				n++
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d content arrays checked", n)
	}
}

// FuzzMembers checks that Members and Elements never panic, and agree with gjson on valid JSON.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"k\"ey":"v\\","x":[{"y":"}"}]}`, `{}`, `{"a":`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := Members(s, func(string, string) bool { return true })
		if gjson.Valid(s) && gjson.Parse(s).IsObject() {
			if !ok {
				t.Fatalf("Members(%q) = false on a valid object", s)
			}
			checkMembers(t, s)
		}
		ok = Elements(s, func(string) bool { return true })
		if gjson.Valid(s) && gjson.Parse(s).IsArray() {
			if !ok {
				t.Fatalf("Elements(%q) = false on a valid array", s)
			}
			checkElements(t, s)
		}
	})
}

// TestIndexByte checks IndexByte against strings.IndexByte on strings built to trip word-at-a-time
// search: every length and position across four words, bytes next to the one sought (a borrow from a
// match must not make its neighbour match), 0x00, 0x80 and 0xff, and random bytes.
func TestIndexByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tricky := []byte{0, 1, '!', '"', '#', '\\', 0x7f, 0x80, 0x81, 0xa2, 0xfe, 0xff}
	for n := 0; n <= 80; n++ {
		for range 200 {
			b := make([]byte, n)
			for i := range b {
				b[i] = tricky[rng.IntN(len(tricky))]
				if rng.IntN(4) == 0 {
					b[i] = byte(rng.IntN(256))
				}
			}
			// Offset the string within its array, so that words are loaded unaligned too.
			off := rng.IntN(8)
			s := string(append(make([]byte, off), b...))[off:]
			for _, c := range tricky {
				if got, want := IndexByte(s, c), strings.IndexByte(s, c); got != want {
					t.Fatalf("IndexByte(%q, %q) = %d, want %d", s, c, got, want)
				}
			}
		}
	}
}
