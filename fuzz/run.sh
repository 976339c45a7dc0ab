#!/usr/bin/env bash
# Runs each fuzz target (fuzz/fuzz_targets/) for SECONDS (default 20) with libFuzzer through
# cargo-fuzz, starting from the committed seeds (fuzz/seeds/TARGET/, crash inputs included) and
# the local corpus (fuzz/corpus/TARGET/, not committed). Fails if any target finds a crash,
# a panic or a hang (-timeout, default 10 s per input); the input is in fuzz/artifacts/TARGET/.
#
# Usage: fuzz/run.sh [SECONDS] [TARGET...]       (default: every target; see docs/fuzzing.md)
#
# Needs a nightly toolchain (rustup toolchain install nightly); installs cargo-fuzz
# $CARGO_FUZZ_VERSION from crates.io into ${MLSYNC_TOOLS_DIR:-~/.cache/mlsync/tools} when it is
# not on PATH (a few minutes, once). FUZZ_SANITIZER=address|none (default none: mlsync is
# safe Rust, and without ASan the build is faster and each run tries about twice the inputs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

seconds="${1:-20}"
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2; }
shift || true
CARGO_FUZZ_VERSION=0.13.2
sanitizer="${FUZZ_SANITIZER:-none}"
timeout="${FUZZ_TIMEOUT:-10}"
# FUZZ_SEED=N fixes libFuzzer's random seed (CI does, so a rehearsal replays what CI tries);
# unset, every run draws a new one and explores new inputs.
seed_args=()
if [[ -n "${FUZZ_SEED:-}" ]]; then
  [[ "$FUZZ_SEED" =~ ^[0-9]+$ ]] || { echo "FUZZ_SEED must be a number" >&2; exit 2; }
  seed_args=(-seed="$FUZZ_SEED")
fi

say() { printf '[fuzz] %s\n' "$*" >&2; }

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  say "error: cargo fuzz needs a nightly Rust toolchain and rustup has none."
  say "install it with: rustup toolchain install nightly --profile minimal"
  exit 2
fi

tools="${MLSYNC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlsync/tools}"
export PATH="$tools/bin:$PATH"
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools (once; a few minutes)"
  cargo install --locked --quiet --root "$tools" cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

mapfile -t all < <(cargo fuzz list)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")

# The targets write scratch files (e.g. repo_load's repo) under TMPDIR; libFuzzer exits without
# running destructors, so they go into a directory removed here.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/mlsync-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

say "building the targets (nightly, release, sanitizer: $sanitizer)"
start=$(date +%s)
if ! cargo +nightly fuzz build -s "$sanitizer" >"$scratch/build.log" 2>&1; then
  tail -n 40 "$scratch/build.log" >&2
  say "error: the fuzz targets do not build"
  exit 1
fi
say "built in $(($(date +%s) - start)) s"

failed=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  say "$target: $seconds s"
  if ! TMPDIR="$scratch" cargo +nightly fuzz run -s "$sanitizer" "$target" \
    "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 -print_final_stats=1 \
    "${seed_args[@]}" >"$scratch/$target.log" 2>&1; then
    failed+=("$target")
    # The panic (or libFuzzer's report) and where the input was saved; the whole log is long.
    grep -E -A6 'panicked at|ERROR: libFuzzer' "$scratch/$target.log" | head -n 40 >&2 || true
    grep -E 'Test unit written to|^Reproduce with|cargo fuzz run|^INFO: Seed:' "$scratch/$target.log" >&2 || true
    # The input itself, so that a run whose checkout is thrown away (CI) still hands it over:
    #   echo '<base64>' | base64 -d > fuzz/seeds/TARGET/crash-<what>
    grep -oE 'Test unit written to [^ ]+' "$scratch/$target.log" | awk '{print $NF}' |
      while read -r input; do
        [[ -f "$input" ]] && say "$target: input $input as base64: $(base64 -w0 "$input")"
      done
  fi
  grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$scratch/$target.log" |
    sed "s/^/[fuzz] $target: /" >&2 || true
done

if [[ ${#failed[@]} -gt 0 ]]; then
  say "FAILED: ${failed[*]} (inputs in fuzz/artifacts/; reproduce with: cargo +nightly fuzz run TARGET FILE)"
  exit 1
fi
say "ok: ${targets[*]}"
