// Package settingstest checks Claude Code settings files as install and uninstall must leave
// them, for the tests of package claudesettings and of agent install: Hangar's hook on every
// event, and everything of the user's kept. It is for tests only.
package settingstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/hangar-dev/hangar/cmd/agent/internal/claudesettings"
)

// CheckEverywhere checks that every event of claudesettings.Events has exactly one Hangar entry
// (self is the binary, see claudesettings.IsHangarCommand), equal to entry, in a group of its own
// that matches everything (with matcher "*" on tool events).
func CheckEverywhere(t testing.TB, data []byte, entry claudesettings.Entry, self string) {
	t.Helper()
	for _, event := range claudesettings.Events {
		n := 0
		for _, group := range hookGroups(t, data)[event] {
			var g struct {
				Matcher any
				Hooks   []json.RawMessage
			}
			json.Unmarshal(group["matcher"], &g.Matcher)
			json.Unmarshal(group["hooks"], &g.Hooks)
			for _, raw := range g.Hooks {
				if !claudesettings.IsHangarEntry(raw, self) {
					continue
				}
				n++
				var got claudesettings.Entry
				json.Unmarshal(raw, &got)
				if got != entry {
					t.Errorf("%s: Hangar entry %s, want %+v", event, raw, entry)
				}
				matcher := "(none)"
				if g.Matcher != nil {
					matcher = fmt.Sprint(g.Matcher)
				}
				wantMatcher := "(none)"
				if slices.Contains(claudesettings.ToolEvents, event) {
					wantMatcher = "*"
				}
				if matcher != wantMatcher && len(g.Hooks) == 1 {
					// A kept group of an older install may say "" or "*" or nothing: all match all.
					if matcher != "" && matcher != "*" && matcher != "(none)" {
						t.Errorf("%s: Hangar's group has matcher %q, want %q", event, matcher, wantMatcher)
					}
				}
				if len(g.Hooks) != 1 {
					t.Errorf("%s: Hangar's group holds %d hooks, want its own group", event, len(g.Hooks))
				}
			}
		}
		if n != 1 {
			t.Errorf("%s: %d Hangar entries, want 1", event, n)
		}
	}
}

// CheckKept checks that every top-level key but "hooks" is in after, in the same order and
// equal in value (compacted), and that every hook entry that is not Hangar's is still in its
// event, in order, equal in value, in a group with the same other keys (matcher, ...).
func CheckKept(t testing.TB, before, after []byte, self string) {
	t.Helper()
	if len(bytes.TrimSpace(before)) == 0 {
		return
	}
	b, a := members(t, before), members(t, after)
	var bKeys, aKeys []string
	for _, m := range b {
		if m.key != "hooks" {
			bKeys = append(bKeys, m.key)
		}
	}
	for _, m := range a {
		if m.key != "hooks" {
			aKeys = append(aKeys, m.key)
		}
	}
	if !slices.Equal(aKeys, bKeys) {
		t.Errorf("top-level keys other than hooks: %q, want %q", aKeys, bKeys)
	}
	for _, bm := range b {
		for _, am := range a {
			if am.key == bm.key && am.key != "hooks" && am.value != bm.value {
				t.Errorf("key %q: value %s, want %s", am.key, am.value, bm.value)
			}
		}
	}
	userEntries := func(data []byte) map[string][]HookEntry {
		out := map[string][]HookEntry{}
		for _, e := range HookEntries(t, data) {
			if !claudesettings.IsHangarEntry([]byte(e.Entry), self) {
				out[e.Event] = append(out[e.Event], e)
			}
		}
		return out
	}
	bu, au := userEntries(before), userEntries(after)
	for event, list := range bu {
		got := au[event]
		if len(got) != len(list) {
			t.Errorf("%s: %d hooks of the user's, want %d", event, len(got), len(list))
			continue
		}
		for i := range list {
			if got[i].Entry != list[i].Entry || got[i].Group != list[i].Group {
				t.Errorf("%s: hook %d of the user's is %s in %s, want %s in %s", event, i, got[i].Entry, got[i].Group, list[i].Entry, list[i].Group)
			}
		}
	}
}

type member struct{ key, value string }

// members returns the top-level members of a JSON object in order, values compacted.
func members(t testing.TB, data []byte) []member {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %v", err)
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, member{key: tok.(string), value: Compact(t, v)})
	}
	return out
}

// HookEntry is a hook entry (compacted) with where it is: its event and its group without
// "hooks" (compacted).
type HookEntry struct{ Event, Group, Entry string }

// HookEntries returns every hook entry of the settings data, event by event (in no order), each
// event's in order.
func HookEntries(t testing.TB, data []byte) []HookEntry {
	t.Helper()
	var out []HookEntry
	for event, groups := range hookGroups(t, data) {
		for _, g := range groups {
			var entries []json.RawMessage
			json.Unmarshal(g["hooks"], &entries)
			delete(g, "hooks")
			group, _ := json.Marshal(g)
			for _, e := range entries {
				out = append(out, HookEntry{Event: event, Group: string(group), Entry: Compact(t, e)})
			}
		}
	}
	return out
}

// Compact is data compacted (json.Compact), failing t if it is not JSON.
func Compact(t testing.TB, data []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, bytes.TrimSpace(data)); err != nil {
		t.Fatalf("compact %q: %v", data, err)
	}
	return b.String()
}

// Edits returns the two edits of a settings file, by name ("install", "uninstall"), for the hook
// command of the binary at bin.
func Edits(bin string) map[string]func([]byte) ([]byte, claudesettings.Summary, error) {
	return map[string]func([]byte) ([]byte, claudesettings.Summary, error){
		"install": func(d []byte) ([]byte, claudesettings.Summary, error) {
			return claudesettings.Install(d, claudesettings.NewEntry(bin, ""), bin)
		},
		"uninstall": func(d []byte) ([]byte, claudesettings.Summary, error) {
			return claudesettings.Uninstall(d, bin)
		},
	}
}

// hookGroups returns the matcher groups of each event of the settings data, each group by key.
// Keys match exactly, as Claude Code's JSON.parse does: encoding/json would also fill a "hooks"
// field from a member "HOOKS", which Claude Code reads as another setting.
func hookGroups(t testing.TB, data []byte) map[string][]map[string]json.RawMessage {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	var hooks map[string][]map[string]json.RawMessage
	if raw, ok := top["hooks"]; ok {
		if err := json.Unmarshal(raw, &hooks); err != nil {
			t.Fatalf("hooks: %v", err)
		}
	}
	return hooks
}
