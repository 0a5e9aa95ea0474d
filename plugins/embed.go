package plugins

import (
	"embed"
	"io/fs"
)

//go:embed */plugin.toml */*.wasm
var embedded embed.FS

// FS returns the first-party plugins: one folder per plugin, each holding plugin.toml and the
// module it names. It is read-only and safe for concurrent use.
func FS() fs.FS { return embedded }
