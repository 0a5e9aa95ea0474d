# Hangar's recipes. Install just with: npm install -g rust-just

set shell := ["bash", "-euo", "pipefail", "-c"]

# The ccusage the comparisons run: 20.0.24 (20.0.26's npm package lacks its native binary).
ccusage_version := "20.0.24"
ccusage := justfile_directory() / ".cache/ccusage/node_modules/.bin/ccusage"

# List the recipes.
default:
    @just --list

# Build the static agent binary into ./bin.
build:
    CGO_ENABLED=0 go build -trimpath -o bin/agent ./cmd/agent

# Rebuild every first-party Go plugin's .wasm (plugins/*/) deterministically and update the sha256
# in its plugin.toml. TestPluginsReproducible (./plugins) checks the committed result.
plugins:
    #!/usr/bin/env bash
    set -euo pipefail
    for dir in plugins/*/; do
        dir=${dir%/}
        [[ -f $dir/plugin.toml ]] && compgen -G "$dir/*.go" >/dev/null || continue
        wasm=$(sed -n 's/^wasm *= *"\(.*\)"$/\1/p' "$dir/plugin.toml")
        GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -trimpath -buildvcs=false -buildmode=c-shared -ldflags=-buildid= -o "$dir/$wasm" "./$dir"
        sum=$(sha256sum "$dir/$wasm" | cut -d' ' -f1)
        sed -i.bak "s/^sha256 *= *\".*\"$/sha256 = \"$sum\"/" "$dir/plugin.toml" && rm "$dir/plugin.toml.bak"
        echo "$dir/$wasm $sum"
    done

# Run every test.
test:
    go test ./...

# Run the race detector on the packages with concurrency.
race:
    go test -race -short ./store/... ./pipeline/... ./host/... ./cmd/agent/...

# Check formatting and vet.
lint:
    test -z "$(gofmt -l $(git ls-files '*.go'))" || (gofmt -l $(git ls-files '*.go'); exit 1)
    go vet ./...
    CGO_ENABLED=0 go build ./...

# Run the Go benchmarks.
bench:
    go test -run '^$' -bench . -benchtime 2s ./sdk/ ./store/ ./pipeline/ ./pipeline/usagestore/

# Time the whole hook process (spawn to exit) with the daemon up.
bench-hook:
    go test -run '^$' -bench 'HookProcess|IdleRSS' -benchtime 300x -count 3 ./cmd/agent/

# Crash-test with 1000 SIGKILL cycles instead of 20 (long).
soak:
    HANGAR_CRASH_CYCLES=1000 go test -run Crash -timeout 3h -v ./cmd/agent/

# Fuzz every decoder of untrusted bytes for a number of inputs each (a count, not a duration: a
# time limit can end a run mid-input, which Go reports as a failure).
fuzz execs="300000":
    go test -run '^$' -fuzz FuzzUnmarshalBinary -fuzztime {{execs}}x ./sdk/
    go test -run '^$' -fuzz FuzzDecoder -fuzztime {{execs}}x ./sdk/wire/
    go test -run '^$' -fuzz FuzzDecodeFrames -fuzztime {{execs}}x ./pipeline/
    go test -run '^$' -fuzz FuzzDecodeSpoolFrames -fuzztime {{execs}}x ./pipeline/
    go test -run '^$' -fuzz FuzzOpen -fuzztime {{execs}}x ./store/seal/
    go test -run '^$' -fuzz FuzzDecodeOutput -fuzztime {{execs}}x ./sdk/abi/
    go test -run '^$' -fuzz FuzzMembers -fuzztime {{execs}}x ./sdk/pdk/
    go test -run '^$' -fuzz FuzzRawRecord -fuzztime {{execs}}x ./pipeline/
    go test -run '^$' -fuzz FuzzDecodeRecord -fuzztime {{execs}}x ./pipeline/usagestore/
    go test -run '^$' -fuzz FuzzBucketUnmarshal -fuzztime {{execs}}x ./pipeline/usage/
    go test -run '^$' -fuzz FuzzParseBucketKey -fuzztime {{execs}}x ./pipeline/usage/
    go test -run '^$' -fuzz FuzzParse -fuzztime {{execs}}x ./pipeline/pricing/
    go test -run '^$' -fuzz FuzzInstrumentInterrupts -fuzztime {{execs}}x ./host/
    go test -run '^$' -fuzz FuzzEdit -fuzztime {{execs}}x ./cmd/agent/internal/claudesettings/

# Install the pinned ccusage from npm into .cache/ccusage (once).
ccusage:
    @[[ -x {{ccusage}} ]] && [[ "$({{ccusage}} --version)" == "{{ccusage_version}}" ]] || npm install --prefix .cache/ccusage --no-audit --no-fund --loglevel=error ccusage@{{ccusage_version}}

# Compare `agent report` with ccusage's on a corpus generated from the shared transcripts.
parity mb="40": ccusage
    go test -count=1 -run TestParityWithCcusage -v ./cmd/agent/ -ccusage {{ccusage}} -parity-corpus-mb {{mb}}

# Time a first `agent import` and `agent report daily` against `ccusage claude daily`.
bench-vs-ccusage mb="200" runs="5": ccusage
    go test -run '^$' -bench VsCcusage -benchtime {{runs}}x ./cmd/agent/ -ccusage {{ccusage}} -transcripts-corpus-mb {{mb}}
