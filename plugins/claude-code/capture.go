package main

import (
	"errors"
	"math"
	"strings"
	"time"
	"unsafe"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/hangar-dev/hangar/sdk/pdk"
	"github.com/tidwall/gjson"
)

// Errors of a record; they never quote it.
var (
	errNotJSON   = errors.New("record is not valid JSON")
	errNotObject = errors.New("record is not an object")
	errNoKind    = errors.New("record has no hook_event_name and no type")
)

// capture turns one projected record, a Claude Code hook payload (it has hook_event_name) or a
// transcript line (it has type), into its events, and guards them (guard.go).
func capture(rec pdk.Record) ([]sdk.Event, error) {
	evs, err := captureRecord(rec)
	scratch.release()
	return evs, err
}

// captureRecord is capture but for releasing the record it reads.
func captureRecord(rec pdk.Record) ([]sdk.Event, error) {
	json := unsafe.String(unsafe.SliceData(rec.JSON), len(rec.JSON))
	r, err := readRecord(json)
	if err != nil {
		return nil, err
	}
	var evs []sdk.Event
	if name := r.get("hook_event_name"); name.Exists() {
		var ev sdk.Event
		ev, err = hookEvent(r, name)
		evs = []sdk.Event{ev}
	} else if t := r.get("type"); t.Exists() {
		evs, err = transcriptEvents(r, t)
	} else {
		err = errNoKind
	}
	if err != nil {
		return nil, err
	}
	return guard(r, evs)
}

// attrs builds an event's attributes.
type attrs []sdk.Attr

// metaAttrs is the room newEventAttrs leaves for the metadata of a transcript event.
const metaAttrs = 3

// newEventAttrs returns an empty attrs with room for n attributes and the event's metadata.
func newEventAttrs(n int) attrs { return newAttrs(n + metaAttrs) }

// attrChunk is how many attributes newAttrs allocates at once.
const attrChunk = 256

// attrStore is where newAttrs carves attribute slices from.
var attrStore []sdk.Attr

// newAttrs returns an empty attrs with room for n, carved from a shared chunk: one allocation
// for many events instead of several per event as appends grow a slice (a guest pays dearly for
// allocations). A full slice grows by a copy of its own, never into its neighbour's room.
func newAttrs(n int) attrs {
	if cap(attrStore)-len(attrStore) < n {
		attrStore = make([]sdk.Attr, 0, max(attrChunk, n))
	}
	lo := len(attrStore)
	attrStore = attrStore[:lo+n]
	return attrStore[lo : lo : lo+n]
}

func (a *attrs) int(key string, v int64)     { *a = append(*a, sdk.Int(key, v)) }
func (a *attrs) bool(key string, v bool)     { *a = append(*a, sdk.Bool(key, v)) }
func (a *attrs) float(key string, v float64) { *a = append(*a, sdk.Float(key, v)) }
func (a *attrs) ident(key, v string)         { *a = append(*a, sdk.Ident(key, v)) }
func (a *attrs) hash(key string, v []byte)   { *a = append(*a, sdk.Hash(key, v)) }

// has reports whether the attributes hold key.
func (a attrs) has(key string) bool {
	for _, x := range a {
		if x.Key == key {
			return true
		}
	}
	return false
}

// identOf adds v as an ident attribute if it is a string and an identifier, and not withheld (the
// host's stand-in for a read field's value that is not an identifier, such as "<synthetic>").
func (a *attrs) identOf(key string, v gjson.Result) {
	if v.Type == gjson.String && sdk.IsIdent(v.Str) && !pdk.Withheld(v) {
		a.ident(key, v.Str)
	}
}

// boolOf adds v as a bool attribute if it is a boolean.
func (a *attrs) boolOf(key string, v gjson.Result) {
	if v.IsBool() {
		a.bool(key, v.Bool())
	}
}

// enumOf adds v as an ident attribute if it is one of the allowed strings.
func (a *attrs) enumOf(key string, v gjson.Result, allowed map[string]bool) {
	if v.Type == gjson.String && allowed[v.Str] {
		a.ident(key, v.Str)
	}
}

// prompt adds the reductions of a prompt's text but its size: its words, salted hash and sketch.
func (a *attrs) prompt(text string) error {
	k, err := getKeys()
	if err != nil {
		return err
	}
	idx, val, words := sketches.sketch(k.sk0, k.sk1, text)
	a.int("prompt_words", int64(words))
	a.hash("prompt_hash", k.mac([]byte(text)))
	if len(idx) > 0 {
		*a = append(*a, sdk.Sketch("prompt_sketch", idx, val))
	}
	return nil
}

// toolUse adds tool_use_id, the join key of a tool use id (keys.toolUseID, a hash), if id is one:
// a non-empty string of at most 128 bytes.
func (a *attrs) toolUse(id gjson.Result) error {
	if id.Type != gjson.String || id.Str == "" || len(id.Str) > sdk.MaxIdentLen || pdk.Withheld(id) {
		return nil
	}
	k, err := getKeys()
	if err != nil {
		return err
	}
	a.hash("tool_use_id", k.toolUseID(id.Str))
	return nil
}

// project adds the salted hash of a project folder's name (see projectName), if there is one.
func (a *attrs) project(name string) error {
	if name == "" {
		return nil
	}
	k, err := getKeys()
	if err != nil {
		return err
	}
	a.hash("project", k.project(name))
	return nil
}

// cwdProject adds the salted hash of the project of a working directory. Lines of one transcript
// share theirs, so the last one's hash is kept.
func (a *attrs) cwdProject(cwd string) error {
	k, err := getKeys()
	if err != nil {
		return err
	}
	if cwd != k.lastCwd || k.lastCwdHash == nil {
		name := projectName(cwd)
		if name == "" {
			return nil
		}
		k.lastCwd, k.lastCwdHash = strings.Clone(cwd), k.project(name)
	}
	a.hash("project", k.lastCwdHash)
	return nil
}

// sketches is the instance's sketcher.
var sketches sketcher

// sessionID returns the event session id of a session id field: the id itself if it is an
// identifier (Claude Code's are UUIDs), else none. The host withholds a read field's value that is
// not an identifier by its rule (sdk/abi), so a session id that is not one never reaches the
// plugin: its text is not there to hash into a stand-in.
func sessionID(v gjson.Result) string {
	if v.Type != gjson.String || !sdk.IsIdent(v.Str) || pdk.Withheld(v) {
		return ""
	}
	return v.Str
}

// isKindName reports whether s may follow "hook." or "transcript." in an event kind: 1 to 64 ASCII
// letters, digits, '_' and '-', starting with a letter.
func isKindName(s string) bool {
	if s == "" || len(s) > 64 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// isShortName reports whether s is a lowercase enumeration value: 1 to 32 of [a-z0-9_], starting
// with a letter (service tiers, system subtypes).
func isShortName(s string) bool {
	if s == "" || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// isVersion reports whether s looks like a version: 1 to 32 of [0-9A-Za-z.+-].
func isVersion(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '+' && c != '-' {
			return false
		}
	}
	return true
}

// The times an event keeps: others are left to the host (the record's received time).
var (
	minEventTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxEventTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// eventTime returns an RFC 3339 timestamp's time in UTC, or the zero time.
func eventTime(v gjson.Result) time.Time {
	if v.Type != gjson.String {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v.Str)
	if err != nil || t.Before(minEventTime) || t.After(maxEventTime) {
		return time.Time{}
	}
	return t.UTC()
}

// finite reports whether f is a finite number.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
