#!/usr/bin/env bash
# Runs each fuzz target for a bounded time and prints the executions per target.
#   scripts/fuzz.sh [SECONDS_PER_TARGET=60]
# With nightly + cargo-fuzz installed (cargo install cargo-fuzz): libFuzzer, coverage-guided,
# corpus in fuzz/corpus/<target>, crashes in fuzz/artifacts/<target>.
# Otherwise: the stable random driver (fuzz/src/bin/stable.rs), seeded, no coverage feedback.
# Set FUZZ_MODE=stable or FUZZ_MODE=libfuzzer to force one; FUZZ_SANITIZER=address|none
# (libFuzzer mode, default address). Full libFuzzer output: /tmp/fuzz-<target>.log.
# data_file (whole data files through the scan and the server's loader) starts libFuzzer from
# the stable driver's valid seed files (`stable seeds corpus/data_file`); in stable mode it
# mutates them in-process. HOTZONE_FUZZ_SKIP_KNOWN=1 skips LZ4 IPC inputs (an abort of builds
# before the fix of the target's first finding, see fuzz/src/lib.rs `ipc_uses_lz4`); an abort
# ends the run (run it under `ulimit -v`).
set -euo pipefail
secs="${1:-60}"
cd "$(dirname "$0")/../fuzz"
targets=(csv_row hotzone_list check_request data_file)
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
    if [[ "$t" == data_file && -z "$(ls -A corpus/data_file)" ]]; then
      # Whole data files: start from small valid files of every format (stable driver).
      cargo build --quiet --bin stable
      "${CARGO_TARGET_DIR:-target}/debug/stable" seeds corpus/data_file
    fi
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
