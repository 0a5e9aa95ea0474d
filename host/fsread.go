package host

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	extism "github.com/extism/go-sdk"
)

// The fs:read host functions, fs_read and fs_stat in the "hangar" module, are a capture plugin's
// only access to files: WASI gets no preopened directories. Every call checks the path against the
// plugin's fs:read grants twice, as asked and with its symlinks resolved, and reaches regular files
// only.
//
// A path is accepted when:
//   - it is absolute ("/…"), or "~/…" for the user's home directory, and clean: filepath.Clean
//     leaves it unchanged and no element is "..";
//   - it matches one of the plugin's fs:read globs (fsGlobMatch);
//   - its resolved form (filepath.EvalSymlinks) matches one too, so that a symlink inside a granted
//     folder cannot reach a file outside it. The literal folder part of a glob (before its first
//     wildcard, without its last element) is resolved as well, so a glob written through a
//     symlinked folder (macOS's /var, a moved ~/.cursor) matches the files it names;
//   - the file is a regular file: a directory, device, socket or fifo is refused (a fifo would
//     block the call). The file is opened non-blocking and checked again once open.
//
//   - neither it nor its resolved form is in Hangar's data directory (Config.DataDir, resolved
//     too): the install secret, the spool, the store, the keys and the plugins' state are never
//     readable, whatever the grant's glob says.
//
// A path that fails one of these is denied (the call traps, is audited and counted as a denied host
// call); an I/O error fails the call. Another local process swapping a folder for a symlink between
// the check and the open is outside what this guards: plugins cannot write files.
//
// The bytes fs_read returns join the instance's window (window.go): what the plugin emits
// afterwards is checked against them as against the content of a record. A call may take the
// window to its limit (windowLimit: Config.WindowBytes for a plugin's only busy instance) through
// fs_read; a read past it fails the call.
//
// A path is plugin text: messages (the call's error, the audit log) never quote it, and name it by
// its length and a salted hash instead (pathLabel), as they never quote an I/O error's path.

// Limits of the fs host functions.
const (
	// MaxFSRead is the most bytes one fs_read call returns; a larger max_len is capped to it.
	MaxFSRead = 1 << 20
	// maxFSPath bounds the path a plugin passes.
	maxFSPath = 4096
)

// fsFunctions returns the fs:read host functions: fs_read(path, offset, max_len) -> block and
// fs_stat(path) -> size. hostFunctions adds them to the "hangar" module.
func (p *Plugin) fsFunctions() []extism.HostFunction {
	i64 := extism.ValueTypeI64
	return []extism.HostFunction{
		extism.NewHostFunctionWithStack("fs_read", p.hostFSRead, []extism.ValueType{i64, i64, i64}, []extism.ValueType{i64}),
		extism.NewHostFunctionWithStack("fs_stat", p.hostFSStat, []extism.ValueType{i64}, []extism.ValueType{i64}),
	}
}

// hostFSRead is fs_read(path, offset, max_len) -> the offset of a new block holding up to max_len
// bytes (at most MaxFSRead) of the file at path from byte offset, or 0, Extism's empty block, at
// or after its end (capability "fs:read:<glob>"). The plugin frees the block. The bytes returned
// are counted per plugin (FSReads).
func (p *Plugin) hostFSRead(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	cs := state(ctx)
	globs := p.fsGlobs(cs, "fs_read")
	name := string(readBlock(cp, cs, stack[0], maxFSPath, "fs_read path"))
	offset, maxLen := int64(stack[1]), int64(stack[2])
	if offset < 0 || maxLen < 0 {
		cs.fail(fmt.Errorf("fs_read %s: negative offset %d or max_len %d", p.pathLabel(name), offset, maxLen))
	}
	resolved := p.fsCheck(cs, "fs_read", name, globs)
	if resolved == "" {
		cs.fail(fmt.Errorf("fs_read %s: %w", p.pathLabel(name), fs.ErrNotExist))
	}
	b := p.fsReadAt(cs, name, resolved, offset, min(maxLen, MaxFSRead))
	if cs.win != nil && len(b) > 0 {
		if limit := p.windowLimit(cs.win); cs.win.size+int64(len(b)) > limit {
			cs.fail(fmt.Errorf("fs_read %s: the instance has been shown %d bytes, and may be shown at most %d before it is recycled, between calls", p.pathLabel(name), cs.win.size, limit))
		}
		cs.win.absorb(unsafe.String(unsafe.SliceData(b), len(b)))
	}
	p.fsReads.Add(1)
	p.fsBytes.Add(int64(len(b)))
	if len(b) == 0 {
		stack[0] = 0
		return
	}
	off, err := cp.Alloc(uint64(len(b)))
	if err == nil && off == 0 {
		err = errors.New("out of memory")
	}
	if err == nil && !cp.Memory().Write(uint32(off), b) {
		err = errors.New("block out of bounds")
	}
	if err != nil {
		cs.fail(fmt.Errorf("fs_read %s: write block: %w", p.pathLabel(name), err))
	}
	stack[0] = off
}

// hostFSStat is fs_stat(path) -> the size in bytes of the file at path, or -1 if there is none
// (capability "fs:read:<glob>"), so that a plugin can tail a file or poll a database.
func (p *Plugin) hostFSStat(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	cs := state(ctx)
	globs := p.fsGlobs(cs, "fs_stat")
	name := string(readBlock(cp, cs, stack[0], maxFSPath, "fs_stat path"))
	resolved := p.fsCheck(cs, "fs_stat", name, globs)
	if resolved == "" {
		stack[0] = ^uint64(0) // -1
		return
	}
	fi, err := os.Stat(resolved)
	if errors.Is(err, fs.ErrNotExist) { // removed since fsCheck looked
		stack[0] = ^uint64(0)
		return
	}
	if err != nil {
		cs.fail(fmt.Errorf("fs_stat %s: %w", p.pathLabel(name), ioReason(err)))
	}
	if !fi.Mode().IsRegular() {
		cs.deny("fs_stat %s: not a regular file (%s)", p.pathLabel(name), fi.Mode().Type())
	}
	stack[0] = uint64(fi.Size())
}

// pathLabel names a path a plugin asked for without quoting it: its length and the first 6 bytes
// of HMAC-SHA256(key, path), where the key derives from the install secret (or, without one, is
// random per process). The same path gets the same label in one install, so that repeated
// attempts can be told apart, yet the label says nothing of the path.
func (p *Plugin) pathLabel(name string) string {
	mac := hmac.New(sha256.New, labelKey(p.h.cfg.Secret))
	mac.Write([]byte(name))
	return fmt.Sprintf("path of %d bytes #%x", len(name), mac.Sum(nil)[:6])
}

// labelKey returns the key of pathLabel: HMAC-SHA256(secret, "hangar-path-label"), or a random
// key of the process when there is no secret.
func labelKey(secret []byte) []byte {
	if len(secret) == 0 {
		return processLabelKey()
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("hangar-path-label"))
	return mac.Sum(nil)
}

// processLabelKey is pathLabel's key for hosts without an install secret.
var processLabelKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
})

// ioReason returns what an I/O error says less the path it names (an *fs.PathError's or
// *os.LinkError's path is the plugin's, or one resolved from it): the operation's error, which
// errors.Is still matches (fs.ErrNotExist, fs.ErrPermission).
func ioReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// fsGlobs returns the plugin's fs:read globs, with "~/" expanded, or denies fn when it holds none.
func (p *Plugin) fsGlobs(cs *callState, fn string) []string {
	caps := p.g.Of(ClassFSRead)
	if len(caps) == 0 {
		cs.deny("%s: no fs:read grant", fn)
	}
	home, _ := os.UserHomeDir()
	globs := make([]string, 0, len(caps))
	for _, c := range caps {
		g, ok := expandHomeGlob(c.Arg, home)
		if ok {
			globs = append(globs, g)
		}
	}
	return globs
}

// fsCheck applies the path rules (see the top of this file) to name, denying fn when it breaks
// one, and returns the resolved path, or "" when there is no such file (and nothing was found to
// deny).
func (p *Plugin) fsCheck(cs *callState, fn, name string, globs []string) string {
	abs, ok := cleanFSPath(name)
	if !ok {
		cs.deny("%s %s: not a clean absolute path", fn, p.pathLabel(name))
	}
	globs = withResolvedPrefixes(globs)
	if !fsGlobsMatch(globs, abs) {
		cs.deny("%s %s: no fs:read grant matches it", fn, p.pathLabel(name))
	}
	dataDirs := p.dataDirs()
	if inAny(dataDirs, abs) {
		cs.deny("%s %s: it is in Hangar's data directory, which no plugin may read", fn, p.pathLabel(name))
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, fs.ErrNotExist) {
		if _, lerr := os.Lstat(abs); lerr == nil {
			// A dangling symlink: say nothing about whether its target exists.
			cs.deny("%s %s: a symlink to no file", fn, p.pathLabel(name))
		}
		return ""
	}
	if err != nil {
		cs.fail(fmt.Errorf("%s %s: resolve: %w", fn, p.pathLabel(name), ioReason(err)))
	}
	if !fsGlobsMatch(globs, resolved) {
		cs.deny("%s %s: resolves to a path which no fs:read grant matches", fn, p.pathLabel(name))
	}
	if inAny(dataDirs, resolved) {
		cs.deny("%s %s: resolves to a path in Hangar's data directory, which no plugin may read", fn, p.pathLabel(name))
	}
	return resolved
}

// dataDirs returns Hangar's data directory as configured and as it resolves through symlinks
// (both, when they differ), or none.
func (p *Plugin) dataDirs() []string {
	dir := p.h.cfg.DataDir
	if dir == "" {
		return nil
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	dirs := []string{dir}
	if r, err := filepath.EvalSymlinks(dir); err == nil && r != dir {
		dirs = append(dirs, r)
	}
	return dirs
}

// inAny reports whether the absolute path name is one of dirs or inside one.
func inAny(dirs []string, name string) bool {
	for _, d := range dirs {
		if name == d || strings.HasPrefix(name, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// fsReadAt reads up to n bytes of the regular file at resolved from offset, denying a file of any
// other type.
func (p *Plugin) fsReadAt(cs *callState, name, resolved string, offset, n int64) []byte {
	fi, err := os.Stat(resolved)
	if err != nil {
		cs.fail(fmt.Errorf("fs_read %s: %w", p.pathLabel(name), ioReason(err)))
	}
	if !fi.Mode().IsRegular() {
		cs.deny("fs_read %s: not a regular file (%s)", p.pathLabel(name), fi.Mode().Type())
	}
	// Non-blocking, so that a file swapped for a fifo since the Stat cannot hang the call.
	f, err := os.OpenFile(resolved, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		cs.fail(fmt.Errorf("fs_read %s: %w", p.pathLabel(name), ioReason(err)))
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		cs.fail(fmt.Errorf("fs_read %s: %w", p.pathLabel(name), ioReason(err)))
	}
	if !fi.Mode().IsRegular() {
		cs.deny("fs_read %s: not a regular file (%s)", p.pathLabel(name), fi.Mode().Type())
	}
	if offset >= fi.Size() || n == 0 {
		return nil
	}
	buf := make([]byte, min(n, fi.Size()-offset))
	k, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		cs.fail(fmt.Errorf("fs_read %s: %w", p.pathLabel(name), ioReason(err)))
	}
	return buf[:k]
}

// cleanFSPath returns the absolute path a plugin named: name itself if it is absolute, or "~/…"
// in the home directory. It reports false unless name is one of those and clean (filepath.Clean
// leaves it unchanged, no ".." element, no NUL).
func cleanFSPath(name string) (string, bool) {
	if strings.IndexByte(name, 0) >= 0 || filepath.Clean(name) != name || slices.Contains(strings.Split(name, "/"), "..") {
		return "", false
	}
	if filepath.IsAbs(name) {
		return name, true
	}
	if rest, ok := strings.CutPrefix(name, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil || !filepath.IsAbs(home) {
			return "", false
		}
		return filepath.Join(home, rest), true
	}
	return "", false
}

// expandHomeGlob returns glob with a leading "~/" replaced by home, its wildcards escaped; it
// reports false for a "~/" glob when home is unknown.
func expandHomeGlob(glob, home string) (string, bool) {
	rest, ok := strings.CutPrefix(glob, "~/")
	if !ok {
		return glob, true
	}
	if home == "" || !filepath.IsAbs(home) {
		return "", false
	}
	return escapeGlob(filepath.Clean(home)) + "/" + rest, true
}

// escapeGlob escapes path.Match's special characters in a literal path.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// withResolvedPrefixes returns globs and, for each glob whose literal folder part (the elements
// before the first one with a wildcard, never the last element) resolves to another path through
// symlinks, the glob with that folder part resolved: the same files, named as EvalSymlinks names
// them.
func withResolvedPrefixes(globs []string) []string {
	out := slices.Clone(globs)
	for _, g := range globs {
		elems := strings.Split(strings.TrimPrefix(g, "/"), "/")
		n := 0
		for n < len(elems)-1 && !strings.ContainsAny(elems[n], `*?[\`) {
			n++
		}
		if n == 0 {
			continue
		}
		dir := "/" + strings.Join(elems[:n], "/")
		resolved, err := filepath.EvalSymlinks(dir)
		if err != nil || resolved == dir {
			continue
		}
		out = append(out, strings.TrimSuffix(escapeGlob(resolved), "/")+"/"+strings.Join(elems[n:], "/"))
	}
	return out
}

// fsGlobsMatch reports whether name matches one of globs (fsGlobMatch).
func fsGlobsMatch(globs []string, name string) bool {
	return slices.ContainsFunc(globs, func(g string) bool { return fsGlobMatch(g, name) })
}

// fsGlobMatch reports whether the absolute path name matches an fs:read glob. A glob is matched
// with path.Match's syntax (ParseCapability accepts exactly the globs path.Match can parse): '*'
// and '?' never match '/'. In addition, an element that is exactly "**" matches any number of
// whole elements: zero or more in the middle ("/a/**/b" matches /a/b and /a/x/y/b), one or more at
// the end ("/a/**" matches every file below /a, not /a itself). "**" inside an element is
// path.Match's '*'. A glob without a "**" element is matched by path.Match alone.
func fsGlobMatch(glob, name string) bool {
	pat := strings.Split(glob, "/")
	if !slices.Contains(pat, "**") {
		ok, err := path.Match(glob, name)
		return err == nil && ok
	}
	elems := strings.Split(name, "/")
	// reach[j] reports whether the glob's elements so far match elems[:j].
	reach := make([]bool, len(elems)+1)
	reach[0] = true
	next := make([]bool, len(elems)+1)
	for i, pe := range pat {
		clear(next)
		switch {
		case pe == "**" && i == len(pat)-1: // one or more elements
			seen := false
			for j := range reach {
				next[j] = seen
				seen = seen || reach[j]
			}
		case pe == "**": // zero or more elements
			seen := false
			for j := range reach {
				seen = seen || reach[j]
				next[j] = seen
			}
		default:
			for j := 1; j <= len(elems); j++ {
				if reach[j-1] {
					ok, err := path.Match(pe, elems[j-1])
					next[j] = err == nil && ok
				}
			}
		}
		reach, next = next, reach
	}
	return reach[len(elems)]
}

// FSReads returns how many fs_read calls of the plugin succeeded and how many bytes of files they
// returned in all. It is safe for concurrent use.
func (p *Plugin) FSReads() (calls, bytes int64) {
	return p.fsReads.Load(), p.fsBytes.Load()
}
