package claudesettings

import (
	"encoding/json"
	"reflect"
	"slices"
)

// Install puts Hangar's hook entry, hook, on every event of Events. Per event: the first Hangar entry
// that sits alone in a group matching everything is kept, rewritten to hook if it differs
// (another path, other options); every other Hangar entry is taken out (a group it empties is
// dropped); without such an entry, a group of Hangar's own is appended. A Hangar entry on another
// event is rewritten to hook, never removed. Everything else is kept as it was, byte for byte.
// self is the running binary (see IsHangarCommand). With nothing to change, it returns data.
func Install(data []byte, hook Entry, self string) ([]byte, Summary, error) {
	var sum Summary
	s, err := parse(data)
	if err != nil {
		return nil, sum, err
	}
	want := marshal(hook)
	var wantValue any
	json.Unmarshal(want, &wantValue)
	// A Hangar entry on an event install does not hook was added by hand: it stays, brought up
	// to date like the others.
	for _, ev := range s.events {
		if slices.Contains(Events, ev.name) {
			continue
		}
		for _, g := range ev.groups {
			for _, e := range g.entries {
				if IsHangarEntry(e.raw, self) && !same(e.raw, wantValue) {
					e.set(want)
					sum.Updated++
				}
			}
		}
	}
	for _, name := range Events {
		ev := s.event(name)
		if ev == nil {
			ev = &event{name: name}
			s.events = append(s.events, ev)
		}
		var keep *group
		for _, g := range ev.groups {
			if len(g.entries) > 0 && g.matchesAll() && !slices.ContainsFunc(g.entries, func(e *entry) bool { return !IsHangarEntry(e.raw, self) }) {
				keep = g
				break
			}
		}
		sum.Removed += ev.removeHangar(self, keep)
		if keep == nil {
			ev.groups = append(ev.groups, newGroup(name, want))
			sum.Added++
			continue
		}
		if !same(keep.entries[0].raw, wantValue) {
			keep.entries[0].set(want)
			sum.Updated++
		}
	}
	if sum == (Summary{}) {
		return data, sum, nil
	}
	s.hasHooks = true
	return s.render(), sum, nil
}

// Uninstall takes every Hangar entry out of every event (not only those Install writes). A
// matcher group it empties is dropped, then an event whose array it empties, then "hooks" if that
// leaves it empty. Everything else is kept as it was, byte for byte. With nothing to change, it
// returns data.
func Uninstall(data []byte, self string) ([]byte, Summary, error) {
	var sum Summary
	s, err := parse(data)
	if err != nil {
		return nil, sum, err
	}
	events := s.events[:0]
	for _, ev := range s.events {
		had := len(ev.groups)
		n := ev.removeHangar(self, nil)
		if n > 0 {
			sum.Removed += n
			sum.Events++
		}
		if n > 0 && had > 0 && len(ev.groups) == 0 {
			continue
		}
		events = append(events, ev)
	}
	if sum == (Summary{}) {
		return data, sum, nil
	}
	s.events = events
	if len(events) == 0 {
		s.hasHooks = false
	}
	return s.render(), sum, nil
}

// same reports whether raw decodes to want.
func same(raw []byte, want any) bool {
	var have any
	return json.Unmarshal(raw, &have) == nil && reflect.DeepEqual(have, want)
}

// event returns the event named name, nil if absent.
func (s *settings) event(name string) *event {
	for _, ev := range s.events {
		if ev.name == name {
			return ev
		}
	}
	return nil
}

// set rewrites the entry to raw, in its place.
func (e *entry) set(raw []byte) { e.raw, e.new = raw, true }

// matchesAll reports whether a group's matcher matches everything: absent, "" or "*".
func (g *group) matchesAll() bool {
	return !g.hasMatcher || (g.matcher != nil && (*g.matcher == "" || *g.matcher == "*"))
}

// removeHangar takes Hangar's entries out of every group of ev, except the first entry of keep
// (if not nil), and drops the groups it empties. It returns how many it took out.
func (ev *event) removeHangar(self string, keep *group) int {
	removed := 0
	groups := ev.groups[:0]
	for _, g := range ev.groups {
		had := len(g.entries)
		entries := g.entries[:0]
		for i, e := range g.entries {
			if IsHangarEntry(e.raw, self) && !(g == keep && i == 0) {
				removed++
				continue
			}
			entries = append(entries, e)
		}
		g.entries = entries
		if had > 0 && len(g.entries) == 0 {
			continue // emptied by us
		}
		groups = append(groups, g)
	}
	ev.groups = groups
	return removed
}

// newGroup is Hangar's matcher group for event, holding the entry raw.
func newGroup(event string, raw []byte) *group {
	g := &group{entries: []*entry{{raw: raw, new: true}}, hasEntries: true}
	if slices.Contains(ToolEvents, event) {
		star := "*"
		g.matcher, g.hasMatcher = &star, true
	}
	return g
}

// render writes the settings as the edit leaves them: the bytes of the file, but for the hooks
// it changed.
func (s *settings) render() []byte {
	var items []item
	for _, e := range s.top.elems {
		switch {
		case e != s.hooks:
			items = append(items, keep(e))
		case s.hasHooks:
			items = append(items, item{orig: e, val: s.hooksValue()})
		}
	}
	if s.hasHooks && s.hooks == nil {
		items = append(items, item{key: "hooks", val: s.hooksValue()})
	}
	out := append([]byte(nil), s.doc[:s.top.start]...)
	out = append(out, s.renderContainer(s.top, items)...)
	return append(out, s.doc[s.top.end:]...)
}

func (s *settings) hooksValue() value {
	if s.hooks == nil {
		raw := []byte{'{'}
		for i, ev := range s.events {
			if i > 0 {
				raw = append(raw, ',')
			}
			raw = append(raw, marshal(ev.name)...)
			raw = append(raw, ':')
			raw = append(raw, ev.compact()...)
		}
		return value{raw: append(raw, '}')}
	}
	v := value{orig: s.hooks.val, edited: true}
	for _, ev := range s.events {
		if ev.orig == nil {
			v.items = append(v.items, item{key: ev.name, val: value{raw: ev.compact()}})
			continue
		}
		ac := value{orig: ev.orig.val, edited: true}
		for _, g := range ev.groups {
			if g.orig == nil {
				ac.items = append(ac.items, item{val: value{raw: g.compact()}})
				continue
			}
			ac.items = append(ac.items, item{orig: g.orig, val: g.value()})
		}
		v.items = append(v.items, item{orig: ev.orig, val: ac})
	}
	return v
}

// value is a group of the file as the edit leaves it: its members as written, but for its hook
// entries.
func (g *group) value() value {
	v := value{orig: g.orig.val, edited: true}
	for _, m := range g.orig.val.elems {
		if m != g.hooksMember {
			v.items = append(v.items, keep(m))
			continue
		}
		hv := value{orig: m.val, edited: true}
		for _, e := range g.entries {
			switch {
			case e.orig == nil:
				hv.items = append(hv.items, item{val: value{raw: e.raw}})
			case e.new:
				hv.items = append(hv.items, item{orig: e.orig, val: value{raw: e.raw}})
			default:
				hv.items = append(hv.items, keep(e.orig))
			}
		}
		v.items = append(v.items, item{orig: m, val: hv})
	}
	return v
}

// compact is a new event's array of groups, compact.
func (ev *event) compact() []byte {
	raw := []byte{'['}
	for i, g := range ev.groups {
		if i > 0 {
			raw = append(raw, ',')
		}
		raw = append(raw, g.compact()...)
	}
	return append(raw, ']')
}

// compact is a new group, compact.
func (g *group) compact() []byte {
	raw := []byte{'{'}
	if g.matcher != nil {
		raw = append(raw, `"matcher":`...)
		raw = append(raw, marshal(*g.matcher)...)
		raw = append(raw, ',')
	}
	raw = append(raw, `"hooks":[`...)
	for i, e := range g.entries {
		if i > 0 {
			raw = append(raw, ',')
		}
		raw = append(raw, e.raw...)
	}
	return append(raw, "]}"...)
}
