// Command agent is Hangar's one binary: the daemon (agent run), the hook the assistants call
// (agent hook), and the CLI that reads what was captured (agent status, agent dlq, ...).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/alecthomas/kong"
)

func main() {
	lazyGC(commandOf(os.Args[1:]))
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// lazyGC makes the collector lazier for the commands that live a few milliseconds (report,
// status, projects, ...): their heap is small and dies with them, and collecting it costs more
// than it frees (agent report: 17 to 15 ms). The daemon and import keep Go's default, which
// bounds their memory, and so does the hook, whose payload can be 16 MiB. So do sessions and
// metrics: they read thousands of derived records and usage buckets, and a lazy collector makes
// them touch fresh pages where the default reuses warm ones (agent sessions over 2,000 sessions:
// 118 to 94 ms of CPU; metrics the same either way).
func lazyGC(cmd string) {
	switch cmd {
	case "run", "import", "hook", "sessions", "metrics":
		return
	}
	debug.SetGCPercent(400)
}

// Globals are the flags every command takes.
//
// The environment sets only the data directory and the daemon's settings (HANGAR_DATA_DIR,
// HANGAR_LOG_LEVEL and RunCmd's), each named in its flag's env tag: a variable left in a shell
// or a unit must not turn another command's flag on (HANGAR_VERSION=1 made `agent run` print the
// version and exit).
type Globals struct {
	DataDir  string           `name:"data-dir" env:"HANGAR_DATA_DIR" type:"path" placeholder:"DIR" help:"Where Hangar keeps its data (default ~/.hangar)."`
	LogLevel string           `name:"log-level" default:"info" enum:"debug,info,warn,error" env:"HANGAR_LOG_LEVEL" help:"Log level (${enum})."`
	Version  kong.VersionFlag `help:"Print the version and exit."`

	stdin          io.Reader
	stdout, stderr io.Writer
}

// CLI is the command line: one field per command group, each with a Run method in its own file.
type CLI struct {
	Globals

	Run     RunCmd     `cmd:"" help:"Run the agent daemon in the foreground."`
	Hook    HookCmd    `cmd:"" help:"Take one hook payload on stdin. Assistants run this; it always exits 0 and prints nothing."`
	Status  StatusCmd  `cmd:"" help:"Show whether the daemon runs and what it has stored."`
	Import  ImportCmd  `cmd:"" help:"Read Claude Code transcripts into the store, each line once; the daemon then follows them."`
	DLQ     DLQCmd     `cmd:"" name:"dlq" help:"Inspect, replay or drop records that failed processing."`
	Plugins PluginsCmd `cmd:"" help:"Install and manage plugins, and what they may do."`
	Audit   AuditCmd   `cmd:"" help:"Show the plugin audit log: installs, grants, quarantines, refused emissions, content reads."`

	Install   InstallCmd   `cmd:"" help:"Add Hangar's hook to an assistant's settings (claude-code), and offer to start the daemon at login."`
	Uninstall UninstallCmd `cmd:"" help:"Remove Hangar's hook from an assistant's settings (claude-code)."`
	Report    ReportCmd    `cmd:"" help:"Token usage and cost: daily, weekly, monthly, session or blocks (--json in ccusage's shape)."`
	Pricing   PricingCmd   `cmd:"" help:"Model prices: update the table usage is priced with (and reprice it), or show a model's price."`
	Projects  ProjectsCmd  `cmd:"" help:"List the projects with usage, and give them display names for reports."`
	Purge     PurgeCmd     `cmd:"" help:"Remove events (before a date, of a session, or all) and everything derived from them, and rebuild the rest."`
	Reindex   ReindexCmd   `cmd:"" help:"Rebuild every derived record (enrich and insight plugins, daily counts, usage rollup) from the event log."`
	Sessions  SessionsCmd  `cmd:"" help:"List sessions: start, duration, turns, tool calls, errors, tokens, cost, project."`
	Analyze   AnalyzeCmd   `cmd:"" help:"A session's timeline: turns, tools, changes, tokens and cost (--last for the latest)."`
	Metrics   MetricsCmd   `cmd:"" help:"Tool calls, errors, latency, acceptance, tokens and cost by day, week or month, with their trend."`
	Errors    ErrorsCmd    `cmd:"" help:"Tool errors by tool and kind, turns with an error, and the sessions where errors cluster."`
	Export    ExportCmd    `cmd:"" help:"Write the sessions to a file as JSON, CSV or Markdown (--anonymize for sharing)."`
	Derived   DerivedCmd   `cmd:"" help:"Show the derived records enrich and insight plugins made."`
	Events    EventsCmd    `cmd:"" help:"Show stored events as plugins see them."`
	Insights  InsightsCmd  `cmd:"" help:"Show the current insights of the insight plugins, newest first (--json)."`
}

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// run is the testable main: it parses args, runs the command and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	isHook := commandOf(args) == "hook"
	if isHook {
		// The hook must never break the assistant: whatever happens, exit 0 with nothing on stdout.
		stdout = io.Discard
		defer func() {
			if r := recover(); r != nil {
				hookLog(defaultDataDir(args, os.Getenv), fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
			}
			code = 0
		}()
	}
	dataDir := defaultDataDir(args, os.Getenv)
	if isHook {
		if platform, ok := plainHookArgs(args); ok {
			// The hot path: every assistant event runs it, so skip building the CLI model.
			g := Globals{DataDir: dataDir, stdin: stdin, stdout: stdout, stderr: stderr}
			(&HookCmd{Platform: platform}).Run(&g)
			return 0
		}
	}
	cli := CLI{Globals: Globals{stdin: stdin, stdout: stdout, stderr: stderr}}
	exitCode := -1
	ctx, err := parseOneCommand(&cli, args, dataDir, &exitCode)
	if ctx == nil && exitCode < 0 {
		parser, perr := newParser(&cli, dataDir, &exitCode)
		if perr != nil {
			fmt.Fprintf(stderr, "agent: %v\n", perr)
			return 2
		}
		ctx, err = parseArgs(parser, args, &exitCode)
	}
	if exitCode >= 0 {
		return exitCode // --help or --version
	}
	if err != nil {
		if isHook {
			hookLog(dataDir, fmt.Errorf("parse arguments: %w", err))
			return 0
		}
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return 2
	}
	if cli.DataDir == "" {
		cli.DataDir = dataDir
	}
	if err := ctx.Run(&cli.Globals); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			fmt.Fprintf(stderr, "agent: %v\n", ee.err)
			return ee.code
		}
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return 1
	}
	return 0
}

// newParser is the command line's parser, filling cli, with the config file of dataDir. Kong's
// exit (after --help or --version) sets *exitCode and unwinds to parseArgs.
func newParser(cli *CLI, dataDir string, exitCode *int) (*kong.Kong, error) {
	return kong.New(cli, parserOptions(dataDir, cli.stdout, cli.stderr, exitCode)...)
}

// parserOptions are the options of the command line's parser (newParser, parseOneCommand).
func parserOptions(dataDir string, stdout, stderr io.Writer, exitCode *int) []kong.Option {
	return []kong.Option{
		kong.Name("agent"),
		kong.Description("Hangar: local-first, privacy-first telemetry for AI coding assistants."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { *exitCode = c; panic(exitPanic{}) }),
		kong.Vars{"version": version()},
		kong.Resolvers(newConfigResolver(filepath.Join(dataDir, "config.toml"))),
		kong.UsageOnError(),
	}
}

type exitPanic struct{}

// parseOneCommand parses args with a model of the global flags and the one command args name,
// instead of every command: kong builds its model by reflection over the whole CLI, which cost a
// short command (agent report, agent status, ...) more than anything of its own after package
// init (docs/RATIONALE.md, "Start-up"). It returns a nil context, having changed nothing of cli,
// whenever the whole model could answer otherwise: args name no command ("agent --version" alone
// is the exception: it prints the version), or the parse does anything but succeed (help, an
// error, a config key of another command). The caller then parses with the whole model, which
// prints what it always printed. A clean parse of the one command is the whole model's: no other
// command's flag is in scope once a command is named.
func parseOneCommand(cli *CLI, args []string, dataDir string, exitCode *int) (*kong.Context, error) {
	versionOnly := len(args) == 1 && args[0] == "--version"
	fields := []reflect.StructField{{Name: "Globals", Type: reflect.TypeFor[Globals](), Tag: `embed:""`}}
	if !versionOnly {
		f, ok := commandField(commandOf(args))
		if !ok {
			return nil, nil
		}
		fields = append(fields, reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag})
	}
	model := reflect.New(reflect.StructOf(fields))
	g := model.Elem().Field(0).Addr().Interface().(*Globals)
	*g = cli.Globals
	stdout, stderr := io.Discard, io.Discard // a failed parse says nothing: the whole model's says it
	if versionOnly {
		stdout, stderr = cli.stdout, cli.stderr
	}
	code := -1
	parser, err := kong.New(model.Interface(), parserOptions(dataDir, stdout, stderr, &code)...)
	if err != nil {
		return nil, nil
	}
	ctx, err := parseArgs(parser, args, &code)
	if versionOnly && code >= 0 {
		*exitCode = code
		return nil, nil
	}
	if err != nil || code >= 0 || ctx == nil {
		return nil, nil
	}
	cli.Globals = *g
	return ctx, nil
}

// commandField returns the field of CLI that is the command named name.
func commandField(name string) (reflect.StructField, bool) {
	t := reflect.TypeFor[CLI]()
	for i := range t.NumField() {
		f := t.Field(i)
		if _, isCmd := f.Tag.Lookup("cmd"); !isCmd {
			continue
		}
		n := f.Tag.Get("name")
		if n == "" {
			n = strings.ToLower(f.Name)
		}
		if name != "" && n == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// parseArgs parses, turning kong's exit (after --help or --version) into a returned code.
func parseArgs(p *kong.Kong, args []string, exitCode *int) (ctx *kong.Context, err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(exitPanic); !ok {
				panic(r)
			}
			err = nil
		}
	}()
	return p.Parse(args)
}

// positional returns the arguments that are not flags, skipping --data-dir and its value.
func positional(args []string) (pos []string, onlyDataDir bool) {
	onlyDataDir = true
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--data-dir":
			i++
		case strings.HasPrefix(a, "--data-dir="):
		case strings.HasPrefix(a, "-"):
			onlyDataDir = false
		default:
			pos = append(pos, a)
		}
	}
	return pos, onlyDataDir
}

// commandOf returns the command named by args, "" if none.
func commandOf(args []string) string {
	if pos, _ := positional(args); len(pos) > 0 {
		return pos[0]
	}
	return ""
}

// plainHookArgs recognizes `hook PLATFORM` with at most a --data-dir flag, the form installed
// hooks use, and returns the platform.
func plainHookArgs(args []string) (string, bool) {
	pos, onlyDataDir := positional(args)
	if !onlyDataDir || len(pos) != 2 || pos[0] != "hook" {
		return "", false
	}
	return pos[1], true
}

// defaultDataDir finds the data directory before parsing, because the config file lives in it:
// --data-dir, then HANGAR_DATA_DIR, then ~/.hangar.
func defaultDataDir(args []string, getenv func(string) string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--data-dir="); ok {
			return expandHome(v)
		}
		if a == "--data-dir" && i+1 < len(args) {
			return expandHome(args[i+1])
		}
	}
	if v := getenv("HANGAR_DATA_DIR"); v != "" {
		return expandHome(v)
	}
	return expandHome("~/.hangar")
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[1:])
		}
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

func version() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// hookLog appends an error of the hook command to <data-dir>/logs/hook.log. It never fails.
func hookLog(dataDir string, err error) {
	dir := filepath.Join(dataDir, "logs")
	if os.MkdirAll(dir, 0o700) != nil {
		return
	}
	f, ferr := os.OpenFile(filepath.Join(dir, "hook.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if ferr != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s pid=%d %v\n", time.Now().UTC().Format(time.RFC3339Nano), os.Getpid(), err)
}
