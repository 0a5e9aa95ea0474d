package claudesettings_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/hangar-dev/hangar/cmd/agent/internal/claudesettings"
	"github.com/hangar-dev/hangar/cmd/agent/internal/claudesettings/settingstest"
)

// FuzzEdit edits any bytes as a settings file: install and uninstall agree on whether it is
// settings they can edit; when it is, both give valid JSON, installing again changes nothing,
// Hangar's hook is then on every event, and uninstall leaves no Hangar entry and nothing to
// uninstall again.
func FuzzEdit(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.json")
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"hooks":{"Stop":[]}}`))
	f.Add([]byte(" \r\n{\r\n\t\"a\" : [ 1 , {} ],\r\n\t\"hooks\" : { }\r\n}\r\n"))
	f.Add([]byte(`{"hooks":{"Stop":[{"matcher":3},{"hooks":[{"type":"command","command":"agent hook claude-code"}]}]}}`))
	// Claude Code's keys are case-sensitive: "HOOKS" and "Matcher" are not Hangar's to edit.
	f.Add([]byte(`{"hooks":{},"HOOKS":1}`))
	f.Add([]byte(`{"hooks":{"Stop":[{"hooks":[],"HOOKS":3,"Matcher":[]}]},"Hooks":{"Stop":2}}`))
	const bin = "/opt/hangar/bin/agent"
	entry := claudesettings.NewEntry(bin, "")
	f.Fuzz(func(t *testing.T, data []byte) {
		installed, _, ierr := claudesettings.Install(data, entry, bin)
		_, _, uerr := claudesettings.Uninstall(data, bin)
		if (ierr == nil) != (uerr == nil) {
			t.Fatalf("install: %v; uninstall: %v; want both to accept or refuse the file", ierr, uerr)
		}
		if ierr != nil {
			return
		}
		if !json.Valid(installed) {
			t.Fatalf("install gave invalid JSON:\n%s", installed)
		}
		again, sum, err := claudesettings.Install(installed, entry, bin)
		if err != nil || sum != (claudesettings.Summary{}) || !bytes.Equal(again, installed) {
			t.Fatalf("install twice: %v, %+v; want no change", err, sum)
		}
		settingstest.CheckEverywhere(t, installed, entry, bin)
		removed, _, err := claudesettings.Uninstall(installed, bin)
		if err != nil || !json.Valid(removed) {
			t.Fatalf("uninstall after install: %v\n%s", err, removed)
		}
		for _, e := range settingstest.HookEntries(t, removed) {
			if claudesettings.IsHangarEntry([]byte(e.Entry), bin) {
				t.Fatalf("uninstall left a Hangar entry in %s: %s", e.Event, e.Entry)
			}
		}
		if _, sum, err := claudesettings.Uninstall(removed, bin); err != nil || sum != (claudesettings.Summary{}) {
			t.Fatalf("uninstall twice: %v, %+v; want no change", err, sum)
		}
	})
}
