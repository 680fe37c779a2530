#!/usr/bin/env bash
# Runs each fuzz target for a bounded time and prints the executions per target.
#   scripts/fuzz.sh [SECONDS_PER_TARGET=60]
# With nightly + cargo-fuzz installed (cargo install cargo-fuzz): libFuzzer, coverage-guided,
# corpus in fuzz/corpus/<target>, crashes in fuzz/artifacts/<target>.
# Otherwise: the stable random driver (fuzz/src/bin/stable.rs), seeded, no coverage feedback.
# Set FUZZ_MODE=stable or FUZZ_MODE=libfuzzer to force one; FUZZ_SANITIZER=address|none
# (libFuzzer mode, default address). Full libFuzzer output: /tmp/fuzz-<target>.log.
set -euo pipefail
secs="${1:-60}"
cd "$(dirname "$0")/../fuzz"
targets=(csv_row hotzone_list check_request)
mode="${FUZZ_MODE:-}"
if [[ -z "$mode" ]]; then
  if rustup toolchain list 2>/dev/null | grep -q nightly && cargo +nightly fuzz --version >/dev/null 2>&1; then
    mode=libfuzzer
  else
    mode=stable
  fi
fi
echo "fuzz mode: $mode, ${secs}s per target"
status=0
for t in "${targets[@]}"; do
  if [[ "$mode" == libfuzzer ]]; then
    mkdir -p "corpus/$t"
    # libFuzzer separates "#N" and "DONE" with a tab; FUZZ_SANITIZER=none skips ASan.
    cargo +nightly fuzz run "$t" --features libfuzzer --sanitizer "${FUZZ_SANITIZER:-address}" \
      -- -max_total_time="$secs" -print_final_stats=1 2>&1 \
      | tee "/tmp/fuzz-$t.log" \
      | grep -E "^#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs|stat::number_of_executed_units|ERROR|panicked" \
      || status=1
  else
    cargo build --quiet --bin stable
    "${CARGO_TARGET_DIR:-target}/debug/stable" "$t" "$secs" "${FUZZ_SEED:-24301}" || status=1
  fi
done
exit $status
