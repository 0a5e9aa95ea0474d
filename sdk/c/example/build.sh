#!/bin/sh
# Builds c-example.wasm from capture.c with clang and wasi-libc, and writes its sha256 into
# plugin.toml: the one command this plugin needs. With a folder argument, it writes the module
# and the sealed plugin.toml there instead (the test does). CC may name another clang.
set -eu
src=$(cd "$(dirname "$0")" && pwd)
out=${1:-$src}
${CC:-clang} --target=wasm32-wasi -std=c11 -O2 -Wall -Wextra -Werror -nostartfiles \
  -Wl,--no-entry -Wl,--export=capture -Wl,--strip-all -o "$out/c-example.wasm" "$src/capture.c"
if command -v sha256sum >/dev/null 2>&1; then
  sum=$(sha256sum "$out/c-example.wasm" | cut -d' ' -f1)
else
  sum=$(shasum -a 256 "$out/c-example.wasm" | cut -d' ' -f1)
fi
sed "s/^sha256 = .*/sha256 = \"$sum\"/" "$src/plugin.toml" > "$out/plugin.toml.tmp"
mv "$out/plugin.toml.tmp" "$out/plugin.toml"
echo "c-example.wasm: sha256 $sum"
