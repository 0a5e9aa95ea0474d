package main

// Reading, backing up and writing the settings file that agent install and uninstall edit.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/claudesettings"
	"github.com/hangar-dev/hangar/store/atomicfile"
)

// settingsBackupLayout is the timestamp in a backup's name, as in
// settings.json.hangar-backup-20261123T181200Z.
const settingsBackupLayout = "20060102T150405Z"

// claudeSettingsPath is the settings file of scope: user is settings.json in $CLAUDE_CONFIG_DIR
// (its first entry if it is a comma-separated list) or ~/.claude; project is ./.claude/settings.json.
func claudeSettingsPath(scope string, getenv func(string) string) (string, error) {
	switch scope {
	case "project":
		return filepath.Abs(filepath.Join(".claude", "settings.json"))
	case "user", "":
	default:
		return "", fmt.Errorf("unknown scope %q: want user or project", scope)
	}
	dir, _, _ := strings.Cut(getenv("CLAUDE_CONFIG_DIR"), ",")
	if dir = strings.TrimSpace(dir); dir != "" {
		return filepath.Join(expandHome(dir), "settings.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home directory: %w", err)
	}
	return filepath.Join(home, ".claude", "settings.json"), nil
}

// settingsPlan is an edit of a settings file, worked out but not yet written.
type settingsPlan struct {
	path    string // the file (a symlink's target)
	existed bool
	old     []byte
	mode    fs.FileMode // of the file, or for a new one
	dirMode fs.FileMode // for a new directory
	new     []byte
	changed bool
	summary claudesettings.Summary
}

// planSettings reads the settings file at path (following a symlink to the file it points to)
// and applies edit to it in memory. A file that does not exist is empty. The new file's mode is
// the old one's; a new user settings file is private (0600, in a 0700 folder), a new project one
// 0644, as it is meant to be committed.
func planSettings(path, scope string, edit func([]byte) ([]byte, claudesettings.Summary, error)) (*settingsPlan, error) {
	p := &settingsPlan{path: path, mode: 0o600, dirMode: 0o700}
	if scope == "project" {
		p.mode, p.dirMode = 0o644, 0o755
	}
	if info, err := os.Lstat(path); err == nil && info.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		p.path = target
	}
	data, err := os.ReadFile(p.path)
	switch {
	case err == nil:
		p.existed, p.old = true, data
		info, err := os.Stat(p.path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p.path, err)
		}
		p.mode = info.Mode().Perm()
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, fmt.Errorf("read %s: %w", p.path, err)
	}
	p.new, p.summary, err = edit(p.old)
	if err != nil {
		return nil, fmt.Errorf("%s is not Claude Code settings Hangar can edit: %w; nothing was changed", p.path, err)
	}
	// An edit that did nothing leaves the file alone, however it is formatted (and does not
	// create a missing one).
	p.changed = p.summary != (claudesettings.Summary{})
	if !p.changed {
		p.new = p.old
	}
	return p, nil
}

// diff is the change as a unified diff.
func (p *settingsPlan) diff() string {
	from := p.path
	if !p.existed {
		from = "/dev/null"
	}
	return installDiff(from, p.path, p.old, p.new)
}

// apply writes the plan: a backup of the old file first (settings.json.hangar-backup-<UTC time>,
// same mode), then the new file atomically. It refuses if the file changed since it was read.
// It returns the backup's path, "" for a new file.
func (p *settingsPlan) apply(now time.Time) (string, error) {
	if err := os.MkdirAll(filepath.Dir(p.path), p.dirMode); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(p.path), err)
	}
	backup := ""
	if p.existed {
		var err error
		if backup, err = installBackup(p.path, p.old, p.mode, now); err != nil {
			return "", err
		}
	}
	unchanged := func() error {
		data, err := os.ReadFile(p.path)
		if errors.Is(err, fs.ErrNotExist) && !p.existed {
			return nil
		}
		if err != nil {
			return err
		}
		if !p.existed || !bytes.Equal(data, p.old) {
			return errors.New("it changed while Hangar was editing it; run the command again")
		}
		return nil
	}
	if err := atomicfile.WriteFile(p.path, p.new, p.mode, atomicfile.BeforeReplace(unchanged)); err != nil {
		return backup, fmt.Errorf("write %s: %w", p.path, err)
	}
	return backup, nil
}

// installBackup copies data to path.hangar-backup-<now in UTC>, never over an existing file.
func installBackup(path string, data []byte, mode fs.FileMode, now time.Time) (string, error) {
	base := path + ".hangar-backup-" + now.UTC().Format(settingsBackupLayout)
	for n := 1; ; n++ {
		name := base
		if n > 1 {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if errors.Is(err, fs.ErrExist) && n < 100 {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("back up %s: %w", path, err)
		}
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
			return "", fmt.Errorf("back up %s: %w", path, err)
		}
		return name, nil
	}
}
