package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// TestCommandField: every command of the whole model is found by its name, as the field kong
// made it from, so that parseOneCommand models the command the whole model would run.
func TestCommandField(t *testing.T) {
	var out bytes.Buffer
	exitCode := -1
	parser, err := newParser(&CLI{Globals: Globals{stdout: &out, stderr: &out}}, t.TempDir(), &exitCode)
	if err != nil {
		t.Fatal(err)
	}
	cliType := reflect.TypeFor[CLI]()
	for _, n := range parser.Model.Children {
		f, ok := commandField(n.Name)
		if !ok {
			t.Errorf("commandField(%q) found no field", n.Name)
			continue
		}
		if got, want := f.Type, n.Target.Type(); got != want {
			t.Errorf("commandField(%q) = a field of %v, want %v", n.Name, got, want)
		}
		if want, _ := cliType.FieldByName(f.Name); want.Index[0] != f.Index[0] {
			t.Errorf("commandField(%q) = field %s, not CLI's", n.Name, f.Name)
		}
	}
	for _, name := range []string{"", "reprot", "daily", "list"} {
		if f, ok := commandField(name); ok {
			t.Errorf("commandField(%q) = %s, want none", name, f.Name)
		}
	}
}

// TestParseOneCommand: a parse of one command's model gives the command and the global flags the
// values the whole model gives them; anything else (help, errors, no command, a config key of
// another command) leaves the parse to the whole model, with cli untouched and nothing printed.
func TestParseOneCommand(t *testing.T) {
	dataDir := t.TempDir()
	full := func(t *testing.T, args []string) (*CLI, *kong.Context) {
		t.Helper()
		var out bytes.Buffer
		cli := CLI{Globals: Globals{stdout: &out, stderr: &out}}
		exitCode := -1
		parser, err := newParser(&cli, dataDir, &exitCode)
		if err != nil {
			t.Fatal(err)
		}
		ctx, err := parseArgs(parser, args, &exitCode)
		if err != nil || exitCode >= 0 {
			t.Fatalf("whole model: agent %s: %v, exit %d: %s", strings.Join(args, " "), err, exitCode, out.String())
		}
		return &cli, ctx
	}
	t.Run("same values", func(t *testing.T) {
		for _, args := range [][]string{
			{"report", "daily"},
			{"report", "daily", "--json", "--since", "2025-01-01", "-z", "UTC", "--breakdown"},
			{"--log-level", "debug", "report", "weekly"}, // not recognized: the whole model parses it
			{"report", "session", "--data-dir", dataDir, "--log-level=warn"},
			{"run", "--plugin-idle", "5m", "--batch-max-events", "7"},
			{"status", "--json"},
			{"audit", "--limit", "3"},
			{"dlq", "list", "--limit", "5"},
			{"dlq", "replay", "1", "2"},
			{"projects"},
			{"projects", "name", "x", "--dir", "/tmp/p"},
			{"install", "claude-code", "--dry-run"},
			{"sessions"},
			{"import", "--json", "--source", "/tmp/claude"},
			{"hook", "claude-code", "--log-level", "debug"},
		} {
			want, wantCtx := full(t, args)
			var out bytes.Buffer
			cli := CLI{Globals: Globals{stdout: &out, stderr: &out}}
			exitCode := -1
			ctx, err := parseOneCommand(&cli, args, dataDir, &exitCode)
			if err != nil || exitCode >= 0 || out.Len() > 0 {
				t.Fatalf("agent %s: %v, exit %d, printed %q", strings.Join(args, " "), err, exitCode, out.String())
			}
			if ctx == nil {
				if commandOf(args) == args[0] {
					t.Errorf("agent %s: one command's parse fell back to the whole model", strings.Join(args, " "))
				}
				continue
			}
			if got, want := ctx.Command(), wantCtx.Command(); got != want {
				t.Errorf("agent %s: command %q, want %q", strings.Join(args, " "), got, want)
			}
			if !reflect.DeepEqual(cli.Globals, want.Globals) {
				t.Errorf("agent %s: globals %+v, want %+v", strings.Join(args, " "), cli.Globals, want.Globals)
			}
			f, _ := commandField(args[0])
			got := ctx.Model.Target.FieldByName(f.Name).Interface()
			if w := reflect.ValueOf(want).Elem().FieldByName(f.Name).Interface(); !reflect.DeepEqual(got, w) {
				t.Errorf("agent %s: %s = %+v, want %+v", strings.Join(args, " "), f.Name, got, w)
			}
		}
	})
	t.Run("falls back", func(t *testing.T) {
		for _, args := range [][]string{
			{},
			{"--help"},
			{"report", "--help"},
			{"report", "-h"},
			{"report"},
			{"report", "dialy"},
			{"report", "daily", "--bogus"},
			{"reprot", "daily"},
			{"--data-dir", dataDir},
			{"--version", "report", "daily"},
			{"dlq"},
			{"dlq", "show"},
		} {
			var out bytes.Buffer
			cli := CLI{Globals: Globals{stdout: &out, stderr: &out}}
			before := cli
			exitCode := -1
			ctx, err := parseOneCommand(&cli, args, dataDir, &exitCode)
			if ctx != nil || err != nil || exitCode != -1 || out.Len() > 0 || !reflect.DeepEqual(cli, before) {
				t.Errorf("agent %s: context %v, error %v, exit %d, printed %q, cli changed %v; want a fall back to the whole model",
					strings.Join(args, " "), ctx != nil, err, exitCode, out.String(), !reflect.DeepEqual(cli, before))
			}
		}
	})
	t.Run("config key of another command", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte("plugin_idle = \"5m\"\njson = true\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cli := CLI{Globals: Globals{stdout: &out, stderr: &out}}
		exitCode := -1
		if ctx, _ := parseOneCommand(&cli, []string{"report", "daily"}, dir, &exitCode); ctx != nil || exitCode != -1 {
			t.Errorf("config with run's plugin_idle: the report's own model parsed it (exit %d); want the whole model's validation", exitCode)
		}
		// The whole model knows both keys, and applies the report's own (json).
		exitCode = -1
		parser, err := newParser(&cli, dir, &exitCode)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseArgs(parser, []string{"report", "daily"}, &exitCode); err != nil || exitCode != -1 || !cli.Report.JSON {
			t.Errorf("whole model with that config: %v, exit %d, json %v; want json from the config", err, exitCode, cli.Report.JSON)
		}
	})
	t.Run("version", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"--version"}, nil, &stdout, &stderr); code != 0 || stdout.String() != version()+"\n" || stderr.Len() > 0 {
			t.Errorf("agent --version: exit %d, stdout %q, stderr %q; want 0 and %q", code, stdout.String(), stderr.String(), version()+"\n")
		}
		var out bytes.Buffer
		exitCode := -1
		parser, err := newParser(&CLI{Globals: Globals{stdout: &out, stderr: &out}}, dataDir, &exitCode)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseArgs(parser, []string{"--version"}, &exitCode); err != nil || exitCode != 0 || out.String() != stdout.String() {
			t.Errorf("the whole model's --version: exit %d, %q, %v; want the same as the fast path's %q", exitCode, out.String(), err, stdout.String())
		}
	})
}
