package daemon

import (
	"fmt"
	"os"
	"path/filepath"
)

// HookLogName is the log the hook command appends its own errors to.
const HookLogName = "hook.log"

// hookLogMax is the size past which the daemon rotates the hook log; it keeps hookLogKeep old ones.
const (
	hookLogMax  = 5 << 20
	hookLogKeep = 3
)

// rotateHookLog renames hook.log to hook.log.1 (and so on) when it is too large. Hooks append with
// O_APPEND and open the file anew each time, so renaming under them is safe.
func rotateHookLog(dir string) {
	path := filepath.Join(dir, HookLogName)
	info, err := os.Stat(path)
	if err != nil || info.Size() < hookLogMax {
		return
	}
	for i := hookLogKeep - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1))
	}
	os.Rename(path, path+".1")
}
