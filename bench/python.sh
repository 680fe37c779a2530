#!/usr/bin/env bash
# Issue 14's benchmark (BENCHMARKS.md "Python"): tier M in memory as a polars DataFrame,
# hotzone.scan vs the same SHARE query in polars and DuckDB over the frame, and the CLI on the
# Parquet file; rows compared before any figure is printed.
#
#   bench/python.sh [EVENTS.parquet] [RUNS]
#
# Needs the Python package installed in $HOTZONE_VENV (scripts/test python does it) and the
# CLI ($HOTZONE, default: the release build in $CARGO_TARGET_DIR); installs duckdb there.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EVENTS=${1:-$HOME/.cache/hotzone-bench/M/events.parquet}
RUNS=${2:-3}
VENV=${HOTZONE_VENV:-$HOME/.cache/hotzone-venv}
HOTZONE=${HOTZONE:-${CARGO_TARGET_DIR:-$HOME/.cache/hotzone-target}/release/hotzone}
"$VENV/bin/python" -c 'import duckdb' 2>/dev/null || "$VENV/bin/pip" install --quiet "duckdb>=1"
Q='{"prefixes": ["+234", "+1876", "+855", "+88216"], "tz": "Asia/Taipei", "as_of": "2026-10-30", "look_back_days": 30, "method": "share", "threshold_ratio": 0.3, "min_events": 3}'
OUT=$(mktemp -d)
mapfile -t FLAGS < <("$VENV/bin/python" "$ROOT/bench/peers.py" flags "$Q" 2>/dev/null || python3 -c "
import json,sys; sys.path.insert(0,'$ROOT/bench'); from peers import hotzone_flags; print(hotzone_flags(json.loads('''$Q''')))")
for run in $(seq "$RUNS"); do
  for engine in hotzone polars duckdb; do
    "$VENV/bin/python" "$ROOT/bench/python_peers.py" "$engine" "$EVENTS" "$OUT/$engine.csv" "$Q"
  done
  /usr/bin/time -f '{"engine": "cli", "wall_s": %e, "peak_rss_mib": %M}' "$HOTZONE" scan "$EVENTS" "${FLAGS[@]}" --output "$OUT/cli.csv" 2>&1 >/dev/null | tail -1 \
    | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["peak_rss_mib"]=round(d["peak_rss_mib"]/1024,1); print(json.dumps(d))'
done
python3 "$ROOT/bench/peers.py" compare "$OUT/cli.csv" "$OUT/hotzone.csv" "$OUT/polars.csv" "$OUT/duckdb.csv"
