#!/usr/bin/env bash
# Soak: starts `hotzone serve` on loopback over generated data, runs `hotzone soak`
# (checks + ingests together, bounded time and request count), prints the report, stops.
#   scripts/soak.sh [SECONDS=180] [HOTZONE_BIN]
# HOTZONE_BIN defaults to the release binary if built, else the debug one.
# SOAK_DATA=FILE serves that data file (linked, not copied) instead of the generated 240k
# events: the cost of folding ingests beside a large base shows in the server's CPU time.
set -euo pipefail
secs="${1:-180}"
target="${CARGO_TARGET_DIR:-$(dirname "$0")/../target}"
bin="${2:-}"
if [[ -z "$bin" ]]; then
  for b in "$target/release/hotzone" "$target/debug/hotzone"; do
    [[ -x "$b" ]] && { bin="$b"; break; }
  done
fi
[[ -x "$bin" ]] || { echo "no hotzone binary (cargo build first)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/data"
if [[ -n "${SOAK_DATA:-}" ]]; then
  ln -s "$(realpath "$SOAK_DATA")" "$work/data/$(basename "$SOAK_DATA")"
else
# 2000 subscribers x 30 days x 4 events, some hot (NG) traffic: 240k events.
awk 'BEGIN {
  print "event_time,subscriber,counterparty,direction,kind,duration_s";
  srand(7);
  for (s = 0; s < 2000; s++) for (d = 0; d < 30; d++) for (k = 0; k < 4; k++) {
    cp = (rand() < 0.1) ? sprintf("+234802%07d", int(rand()*1e6)) : sprintf("+88622%07d", int(rand()*1e6));
    printf "%s,+8869100%05d,%s,%s,%s,%d\n", strftime("%Y-%m-%dT%H:%M:%SZ", 1770595200 + d*86400 + int(rand()*86000), 1), s, cp, (rand()<0.5?"in":"out"), (rand()<0.7?"call":"sms"), int(rand()*300);
  }
}' > "$work/data/base.csv"
fi
port=$((20000 + RANDOM % 20000))
HOTZONE_AUDIT_KEY=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n') RUST_LOG=warn \
  "$bin" serve --data "$work/data" --listen "127.0.0.1:$port" --poll-interval-s 5 \
  --audit-log "$work/audit.jsonl" 2> "$work/serve.log" &
pid=$!
for _ in $(seq 1 600); do
  "$bin" check --server "http://127.0.0.1:$port" --phone-number +886910000001 --look-back-days 7 \
    --threshold-ratio 0.5 --hotzone NG --as-of 2026-03-10 >/dev/null 2>&1 && break
  sleep 0.3
done
echo "binary: $bin; data: ${SOAK_DATA:-$(wc -l < "$work/data/base.csv") rows}; server pid $pid"
"$bin" soak --server "http://127.0.0.1:$port" --seconds "$secs" --pid "$pid" --subscribers 2000 \
  --as-of 2026-03-10 || status=$?
ticks=$(getconf CLK_TCK)
echo "server CPU: $(awk -v t="$ticks" '{printf "%.1f s user, %.1f s system", $14/t, $15/t}' "/proc/$pid/stat") (load included)"
echo "audit lines: $(wc -l < "$work/audit.jsonl"); ingested files: $(ls "$work/data/ingest" 2>/dev/null | wc -l)"
echo "server warnings/errors: $(grep -cE 'WARN|ERROR' "$work/serve.log" || true)"
exit "${status:-0}"
