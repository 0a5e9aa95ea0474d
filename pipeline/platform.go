package pipeline

import "github.com/hangar-dev/hangar/sdk"

// PlatformClaudeCode is the platform name of Anthropic's Claude Code. Its capture is the
// first-party WASM plugin in plugins/claude-code, which the daemon loads (the pipeline has no
// built-in capture of any platform).
const PlatformClaudeCode = "claude-code"

// isIdent reports whether s is a non-empty identifier that sdk.Event.Validate accepts.
func isIdent(s string) bool {
	if s == "" || len(s) > sdk.MaxIdentLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}
