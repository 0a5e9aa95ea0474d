# Hangar's recipes. Install just with: npm install -g rust-just

set shell := ["bash", "-euo", "pipefail", "-c"]

# The ccusage the comparisons run: 20.0.24 (20.0.26's npm package lacks its native binary).
ccusage_version := "20.0.24"
ccusage := justfile_directory() / ".cache/ccusage/node_modules/.bin/ccusage"

# The Claude Code the end-to-end test with the real client runs (cmd/agent/realclaude_test.go).
claude_code_version := "2.1.197"
claude_code := justfile_directory() / ".cache/claude-code/node_modules/.bin/claude"

# List the recipes.
default:
    @just --list

# Build the static agent binary into ./bin.
build:
    CGO_ENABLED=0 go build -trimpath -o bin/agent ./cmd/agent

# Rebuild every first-party plugin's .wasm (plugins/*/) deterministically and update the sha256
# in its plugin.toml: a folder with rust/lib.rs ships its Rust module (sdk/rust/build.sh, Debian's
# rustc; its Go files, if any, are the reference its tests compare against), any other folder
# with Go files its Go module. TestPluginsReproducible (./plugins) checks the committed result.
plugins:
    #!/usr/bin/env bash
    set -euo pipefail
    for dir in plugins/*/; do
        dir=${dir%/}
        [[ -f $dir/plugin.toml ]] || continue
        wasm=$(sed -n 's/^wasm *= *"\(.*\)"$/\1/p' "$dir/plugin.toml")
        if [[ -f $dir/rust/lib.rs ]]; then
            sdk/rust/build.sh "$dir/rust/lib.rs" "$dir/$wasm"
        elif compgen -G "$dir/*.go" >/dev/null; then
            GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -trimpath -buildvcs=false -buildmode=c-shared -ldflags=-buildid= -o "$dir/$wasm" "./$dir"
        else
            continue
        fi
        sum=$(sha256sum "$dir/$wasm" | cut -d' ' -f1)
        sed -i.bak "s/^sha256 *= *\".*\"$/sha256 = \"$sum\"/" "$dir/plugin.toml" && rm "$dir/plugin.toml.bak"
        echo "$dir/$wasm $sum"
    done

# Run every test. cmd/agent's alone, real daemons and hooks, runs 7 to 10 minutes on 2 cores,
# near go test's default limit of 10 per test binary.
test:
    go test -timeout 30m ./...

# Run the race detector on the packages with concurrency. cmd/agent's tests drive the agent as a
# separate process built without the detector, so running them under it checked only the tests'
# own goroutines, at 10 minutes of CI; its in-process packages are here.
race:
    go test -race -short ./store/... ./pipeline/... ./host/... ./cmd/agent/internal/...

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

# Issue 18's start-up targets: agent --version, the hook (daemon up) and agent report daily (on a
# store of a 200 MB corpus) against a trivial Go program that reads stdin, medians of 30 whole
# processes run in alternation, as ratios.
bench-startup mb="200":
    go test -run '^$' -bench Startup -benchtime 30x -timeout 40m ./cmd/agent/ -transcripts-corpus-mb={{mb}}

# Crash-test with 1000 SIGKILL cycles instead of 20 (long).
soak:
    HANGAR_CRASH_CYCLES=1000 go test -run Crash -timeout 3h -v ./cmd/agent/

# Fuzz every fuzz target of the module for a number of inputs each (a count, not a duration: a
# time limit can end a run mid-input, which Go reports as a failure). The targets are found with
# go test -list in each package that has tests, so a new one cannot be left out. A failing target
# does not stop the others; the recipe fails at the end, naming it.
fuzz execs="300000":
    #!/usr/bin/env bash
    set -euo pipefail
    n=0
    failed=()
    for pkg in $(go list -f '{{{{if or .TestGoFiles .XTestGoFiles}}{{{{.ImportPath}}{{{{end}}' ./...); do
        if ! list=$(go test -list '^Fuzz' "$pkg"); then
            failed+=("$pkg (its tests do not build)")
            continue
        fi
        for target in $(grep '^Fuzz' <<<"$list" || true); do
            echo "== $pkg $target"
            n=$((n + 1))
            go test -run '^$' -fuzz "^$target\$" -fuzztime {{execs}}x "$pkg" || failed+=("$pkg $target")
        done
    done
    echo "fuzzed $n targets"
    if (( ${#failed[@]} > 0 )); then
        printf 'failed: %s\n' "${failed[@]}"
        exit 1
    fi

# Install the pinned ccusage from npm into .cache/ccusage (once).
ccusage:
    @[[ -x {{ccusage}} ]] && [[ "$({{ccusage}} --version)" == "{{ccusage_version}}" ]] || npm install --prefix .cache/ccusage --no-audit --no-fund --loglevel=error ccusage@{{ccusage_version}}

# Install the pinned Claude Code from npm into .cache/claude-code (once), for the end-to-end test
# with the real client (TestRealClaudeCode).
claude-code:
    @[[ -x {{claude_code}} ]] && [[ "$({{claude_code}} --version)" == "{{claude_code_version}} (Claude Code)" ]] || npm install --prefix .cache/claude-code --no-audit --no-fund --loglevel=error @anthropic-ai/claude-code@{{claude_code_version}}

# Compare `agent report` with ccusage's on a corpus generated from the shared transcripts.
parity mb="40": ccusage
    go test -count=1 -run TestParityWithCcusage -v ./cmd/agent/ -ccusage {{ccusage}} -parity-corpus-mb {{mb}}

# Time a first `agent import` and `agent report daily` against `ccusage claude daily`.
bench-vs-ccusage mb="200" runs="5": ccusage
    go test -run '^$' -bench VsCcusage -benchtime {{runs}}x ./cmd/agent/ -ccusage {{ccusage}} -transcripts-corpus-mb={{mb}}
