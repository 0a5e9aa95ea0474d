// Package plugins will hold Hangar's first-party plugins, one folder each, with their WASM builds
// committed beside their source and embedded in the agent binary. The first is the Claude Code
// platform plugin, which will replace the built-in capture in package pipeline.
package plugins
