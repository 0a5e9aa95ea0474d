package transcripts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ProjectsDir is the folder, inside a Claude Code configuration folder, that holds the transcripts.
const ProjectsDir = "projects"

// Errors of discovery.
var (
	// ErrNoProjects means a folder given as a Claude Code configuration folder has no projects/.
	ErrNoProjects = errors.New("transcripts: no projects folder")
	// ErrSymlinkLoop means a folder was reached again through a symbolic link below itself.
	ErrSymlinkLoop = errors.New("transcripts: symbolic link loop")
)

// Candidates returns the projects folders where ccusage looks for transcripts, whether or not
// they exist: those of CLAUDE_CONFIG_DIR's comma-separated entries when it is set and not blank,
// else $XDG_CONFIG_HOME/claude/projects (~/.config/claude/projects) and ~/.claude/projects.
// getenv is os.Getenv, or a stand-in.
func Candidates(getenv func(string) string) []string {
	var bases []string
	if v := strings.TrimSpace(getenv("CLAUDE_CONFIG_DIR")); v != "" {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				bases = append(bases, expandHome(p, getenv))
			}
		}
	} else {
		home := homeDir(getenv)
		xdg := getenv("XDG_CONFIG_HOME")
		if xdg == "" {
			xdg = filepath.Join(home, ".config")
		}
		bases = append(bases, filepath.Join(xdg, "claude"), filepath.Join(home, ".claude"))
	}
	var out []string
	for _, b := range bases {
		if abs, err := filepath.Abs(b); err == nil {
			b = abs
		}
		if p := filepath.Join(b, ProjectsDir); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Locations returns the projects folders of Candidates that exist, without repeats: two
// candidates that resolve to the same folder (a symbolic link from ~/.claude to ~/.config/claude)
// count once.
func Locations(getenv func(string) string) []string {
	var out, real []string
	for _, p := range Candidates(getenv) {
		fi, err := os.Stat(p)
		if err != nil || !fi.IsDir() {
			continue
		}
		r, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		if slices.Contains(real, r) {
			continue
		}
		real = append(real, r)
		out = append(out, p)
	}
	return out
}

// SourceRoot returns the projects folder of dir, a folder laid out like ~/.claude, or an error
// wrapping ErrNoProjects if it has none.
func SourceRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find transcripts in %s: %w", dir, err)
	}
	p := filepath.Join(abs, ProjectsDir)
	fi, err := os.Stat(p)
	if err != nil || !fi.IsDir() {
		return "", fmt.Errorf("find transcripts in %s: %w (want %s)", dir, ErrNoProjects, p)
	}
	return p, nil
}

func homeDir(getenv func(string) string) string {
	if h := getenv("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

func expandHome(p string, getenv func(string) string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		return filepath.Join(homeDir(getenv), p[1:])
	}
	return p
}

// File is a transcript found below a projects folder.
type File struct {
	// Path is the file's path: Root joined with Name.
	Path string
	// Root is the projects folder it was found in.
	Root string
	// Name is its slash-separated path below Root, the file name in its records' ids.
	Name string
}

// Walk returns the transcripts below the projects folders roots, in the order of a depth-first
// walk (roots in the order given, the entries of a folder by name). It follows symbolic links to files and folders.
// A folder or file it cannot read, and a link that loops, is passed to report (if not nil) and
// skipped. A file reached twice (same device and inode) is listed once, where first reached.
func Walk(roots []string, report func(path string, err error)) []File {
	files, _ := walk(roots, report)
	return files
}

// walk is Walk, also returning the folders walked.
func walk(roots []string, report func(path string, err error)) (files []File, dirs []string) {
	w := walker{report: report, seenDirs: map[fileKey]bool{}, seenFiles: map[fileKey]bool{}}
	for _, root := range roots {
		fi, err := os.Stat(root)
		if err != nil {
			w.problem(root, err)
			continue
		}
		w.dir(root, root, "", fi, nil)
	}
	return w.files, w.dirs
}

type walker struct {
	report    func(path string, err error)
	files     []File
	dirs      []string
	seenDirs  map[fileKey]bool // every folder walked, so a folder reached twice is walked once
	seenFiles map[fileKey]bool
}

func (w *walker) problem(path string, err error) {
	if w.report != nil {
		w.report(path, err)
	}
}

// dir walks the folder path (named name below root). ancestors are the folders above it on this
// path of the walk: reaching one of them again is a loop.
func (w *walker) dir(root, path, name string, fi fs.FileInfo, ancestors []fileKey) {
	k, ok := keyOf(fi)
	if ok {
		if slices.Contains(ancestors, k) {
			w.problem(path, ErrSymlinkLoop)
			return
		}
		if w.seenDirs[k] {
			return // reached before through another link: walked there
		}
		w.seenDirs[k] = true
		ancestors = append(ancestors, k)
	} else if len(ancestors) > 64 {
		w.problem(path, ErrSymlinkLoop) // no inode numbers here: bound the depth instead
		return
	}
	w.dirs = append(w.dirs, path)
	entries, err := os.ReadDir(path)
	if err != nil {
		w.problem(path, err)
		if len(entries) == 0 {
			return
		}
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(path, e.Name())
		n := e.Name()
		if name != "" {
			n = name + "/" + e.Name()
		}
		typ := e.Type()
		if typ.IsDir() || (typ&fs.ModeSymlink != 0) || strings.HasSuffix(e.Name(), ".jsonl") {
			var efi fs.FileInfo
			if typ&fs.ModeSymlink != 0 || typ.IsDir() {
				efi, err = os.Stat(p) // follows links
			} else {
				efi, err = e.Info()
			}
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && typ&fs.ModeSymlink != 0 {
					if _, lerr := os.Lstat(p); lerr == nil {
						w.problem(p, fmt.Errorf("dangling symbolic link: %w", err))
					}
					continue
				}
				if !errors.Is(err, fs.ErrNotExist) { // gone since ReadDir: nothing to report
					w.problem(p, err)
				}
				continue
			}
			switch {
			case efi.IsDir():
				w.dir(root, p, n, efi, ancestors)
			case strings.HasSuffix(e.Name(), ".jsonl") && efi.Mode().IsRegular():
				if k, ok := keyOf(efi); ok {
					if w.seenFiles[k] {
						continue
					}
					w.seenFiles[k] = true
				}
				w.files = append(w.files, File{Path: p, Root: root, Name: n})
			case strings.HasSuffix(e.Name(), ".jsonl"):
				w.problem(p, fmt.Errorf("not a regular file (%v)", efi.Mode().Type()))
			}
		}
	}
}

// fileKey identifies a file on this machine: device and inode.
type fileKey struct{ dev, ino uint64 }

func keyOf(fi fs.FileInfo) (fileKey, bool) {
	dev, ino, ok := identity(fi)
	return fileKey{dev, ino}, ok
}
