// Package plugins holds Hangar's first-party plugins, one folder each (plugins/<name>/: the Go
// source, plugin.toml and the .wasm built from it), and embeds their manifests and modules in the
// agent binary (FS). The agent lists them as built-in plugins (see host.Registry).
//
// The .wasm files are committed and rebuilt, byte for byte, by `just plugins`;
// TestPluginsReproducible proves that a fresh build matches. Plugins never import package host:
// they speak to it only through the ABI (sdk/abi, sdk/pdk).
package plugins
