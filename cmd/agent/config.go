package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/pelletier/go-toml/v2"
)

// configResolver gives kong the values of <data-dir>/config.toml. Its keys are flag names with
// underscores (batch_max_events = 200). Precedence: flag > config file > HANGAR_* env > default.
// Decoding is strict: a key that names no flag is an error naming it.
type configResolver struct {
	path   string
	values map[string]any
	err    error
}

func newConfigResolver(path string) *configResolver {
	r := &configResolver{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r
	}
	if err != nil {
		r.err = fmt.Errorf("read config: %w", err)
		return r
	}
	if err := toml.Unmarshal(data, &r.values); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			err = fmt.Errorf("line %d column %d: %w", row, col, err)
		}
		r.err = fmt.Errorf("read config %s: %w", path, err)
	}
	return r
}

// notInConfig are flags that cannot come from the config file: "yes" is consent to a plugin's
// capabilities, given per install, never by default; install's flags decide one change each; a
// report's date range and project describe one question; a price table is updated on purpose; a
// project is named one at a time; what a purge removes is chosen each time.
var notInConfig = []string{"data-dir", "help", "version", "yes", "scope", "dry-run", "service", "no-service", "since", "until", "project", "file", "dir", "key", "before", "session", "all"}

// Validate implements kong.Resolver: every key must name a flag of some command.
func (r *configResolver) Validate(app *kong.Application) error {
	if r.err != nil {
		return r.err
	}
	known := map[string]bool{}
	_ = kong.Visit(app.Node, func(n kong.Visitable, next kong.Next) error {
		if f, ok := n.(*kong.Flag); ok && !slices.Contains(notInConfig, f.Name) {
			known[configKey(f.Name)] = true
		}
		return next(nil)
	})
	var keys []string
	for k := range r.values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if _, isTable := r.values[k].(map[string]any); isTable || !known[k] {
			return fmt.Errorf("config %s: unknown key %q", r.path, k)
		}
	}
	return nil
}

// Resolve implements kong.Resolver.
func (r *configResolver) Resolve(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
	if slices.Contains(notInConfig, f.Name) {
		return nil, nil
	}
	v, ok := r.values[configKey(f.Name)]
	if !ok {
		return nil, nil
	}
	return v, nil
}

// configKey is the config file's key of a flag: its name with underscores. (A key spelled with
// dashes is unknown: Resolve would never look it up.)
func configKey(flag string) string { return strings.ReplaceAll(flag, "-", "_") }
