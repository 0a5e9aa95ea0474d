#!/bin/sh
# build.sh SRC OUT.wasm: builds a Hangar plugin written in Rust, a single-file crate whose root is
# SRC (the SDK's macros define its exports), into the WASM module OUT.wasm, with no crate but the
# SDK and Rust's std.
#
# It compiles the SDK (src/lib.rs next to this script) into an rlib, then the plugin as a cdylib
# linked against it, optimized (-C opt-level=3, LTO) and stripped, with no path of the checkout in
# it: the same source gives the same bytes in any directory. The compiler is $RUSTC, or
# Debian's /usr/bin/rustc (apt-get install rustc libstd-rust-dev-wasm32), or the rustc on PATH;
# the target is $HANGAR_RUST_TARGET, or wasm32-wasi for Debian's rustc (1.63) and wasm32-wasip1
# for any other (rustup target add wasm32-wasip1). A plugin of several files or with crates of
# its own builds with cargo instead (sdk/rust/README.md).
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 SRC.rs OUT.wasm" >&2
	exit 2
fi
sdk=$(cd "$(dirname "$0")" && pwd)
src=$1
out=$2
if [ -z "${RUSTC:-}" ]; then
	if [ -x /usr/bin/rustc ]; then RUSTC=/usr/bin/rustc; else RUSTC=rustc; fi
fi
if [ -z "${HANGAR_RUST_TARGET:-}" ]; then
	if [ "$RUSTC" = /usr/bin/rustc ]; then HANGAR_RUST_TARGET=wasm32-wasi; else HANGAR_RUST_TARGET=wasm32-wasip1; fi
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
srcdir=$(cd "$(dirname "$src")" && pwd)
# The paths of this checkout (in panic locations and debug info) would make the module differ
# from one directory to another: they are remapped to names of no place, so that the same source
# builds to the same bytes in any checkout.
flags="--edition 2021 --target $HANGAR_RUST_TARGET -C opt-level=3"
flags="$flags --remap-path-prefix=$sdk=/hangar-pdk --remap-path-prefix=$srcdir=/plugin --remap-path-prefix=$tmp=/build"
# shellcheck disable=SC2086 # flags are words
"$RUSTC" $flags --crate-type rlib --crate-name hangar_pdk "$sdk/src/lib.rs" -o "$tmp/libhangar_pdk.rlib"
# shellcheck disable=SC2086
"$RUSTC" $flags -C lto -C strip=symbols --crate-type cdylib --crate-name plugin \
	--extern hangar_pdk="$tmp/libhangar_pdk.rlib" "$srcdir/$(basename "$src")" -o "$out"
