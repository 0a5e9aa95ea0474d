package pipeline

// PlatformClaudeCode is the platform name of Anthropic's Claude Code. Its capture is the
// first-party WASM plugin in plugins/claude-code, which the daemon loads (the pipeline has no
// built-in capture of any platform).
const PlatformClaudeCode = "claude-code"
