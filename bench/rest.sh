#!/usr/bin/env bash
# REST vs gRPC check throughput and latency on one server core (BENCHMARKS.md e).
#
#   bench/rest.sh [HOTZONE_BINARY]
#
# The server (data/sample, one number checked over and over: the same lookup on both ports,
# so the difference is the protocol) runs under `taskset -c 0`, h2load under `taskset -c 1`.
# Closed loop first (max checks/s), then an open loop at half of each port's max with
# h2load's --rps (same connections as the closed loop); p50/p99 come from h2load's per-request log. Needs h2load (nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/release/hotzone}"
SECS="${SECS:-10}"
command -v h2load >/dev/null || { echo "h2load is required (apt-get install nghttp2-client)"; exit 1; }
work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
cp -r data/sample "$work/data"
GRPC=127.0.0.1:50761
REST=127.0.0.1:50762
NO_COLOR=1 taskset -c 0 "$BIN" serve --data "$work/data" --tz Asia/Taipei --poll-interval-s 0 \
    --listen "$GRPC" --http-listen "$REST" 2>"$work/serve.log" &
server=$!
for _ in $(seq 1 300); do
    grep -q "index built and swapped in" "$work/serve.log" && break
    sleep 0.1
done

NUMBER=+886911234550
cat >"$work/rest.json" <<EOF
{"phoneNumber":"$NUMBER","lookBackDays":30,"thresholdRatio":0.5,"fraudHotZone":["NG","GH","CI","JM","KH","+881","+882"],"asOf":"2026-10-31"}
EOF
# The same check as a gRPC message: 5-byte prefix + protobuf (fields 1, 2, 4, 5..., 9).
python3 - "$work/grpc.bin" "$NUMBER" <<'EOF'
import struct, sys
def s(field, v):
    b = v.encode()
    return bytes([field << 3 | 2, len(b)]) + b
msg = s(1, sys.argv[2]) + bytes([2 << 3, 30]) + bytes([4 << 3 | 1]) + struct.pack("<d", 0.5)
for h in ["NG", "GH", "CI", "JM", "KH", "+881", "+882"]:
    msg += s(5, h)
msg += s(9, "2026-10-31")
open(sys.argv[1], "wb").write(b"\0" + struct.pack(">I", len(msg)) + msg)
EOF
# The REST port may bind just after the index is logged: retry while it refuses.
curl -sf --retry 50 --retry-delay 1 --retry-connrefused --retry-max-time 30 "http://$REST/fraud-hotzone-alert/v0/check" -H 'content-type: application/json' -d @"$work/rest.json"; echo

pct() { # p50 p99 (ms) of an h2load log, and the non-2xx count
    python3 - "$1" <<'EOF'
import sys
rows = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
d = sorted(int(r[2]) for r in rows)
bad = sum(1 for r in rows if r[1] != "200")
q = lambda p: d[min(len(d) - 1, int(p * len(d)))] / 1000
print(f"n={len(d)} p50={q(0.5):.3f}ms p90={q(0.9):.3f}ms p99={q(0.99):.3f}ms p99.9={q(0.999):.3f}ms non200={bad}")
EOF
}
rps_of() { sed -n 's/.*finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$1"; }
cpu_ms() { awk '{print ($14 + $15) * 10}' "/proc/$server/stat"; }

run() { # name, h2load args...
    local name=$1; shift
    local c0; c0=$(cpu_ms)
    taskset -c 1 h2load "$@" >"$work/$name.out" 2>&1
    local c1; c1=$(cpu_ms)
    local rps; rps=$(rps_of "$work/$name.out")
    local n; n=$(sed -n 's/^requests: \([0-9]*\) total.*/\1/p' "$work/$name.out")
    echo "$name: $rps req/s, server CPU $(( (c1 - c0) * 1000 / (n > 0 ? n : 1) )) us/call; $(grep -E '^status codes' "$work/$name.out")"
}

# Closed loop: the maximum.
run rest-max --h1 -c 128 -D "$SECS" --warm-up-time 2 -d "$work/rest.json" \
    -H 'content-type: application/json' "http://$REST/fraud-hotzone-alert/v0/check"
run grpc-max -c 4 -m 32 -D "$SECS" --warm-up-time 2 -d "$work/grpc.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' "http://$GRPC/fraudhotzone.v1.FraudHotzone/Check"
REST_MAX=$(rps_of "$work/rest-max.out"); GRPC_MAX=$(rps_of "$work/grpc-max.out")

# Open loop at half of each max, REST over 32 HTTP/1.1
# connections (one request in flight each), gRPC 4 HTTP/2 connections (32 streams each);
# each connection at (max / 2 / connections) requests per second.
REST_RPS=$(python3 -c "print(max(1, int(float('$REST_MAX') / 2 / 32)))")
GRPC_RPS=$(python3 -c "print(max(1, int(float('$GRPC_MAX') / 2 / 4)))")
run rest-half --h1 -c 32 --rps "$REST_RPS" -D "$SECS" --log-file "$work/rest-half.log" \
    -d "$work/rest.json" -H 'content-type: application/json' "http://$REST/fraud-hotzone-alert/v0/check"
echo "  rest at $((REST_RPS * 32))/s: $(pct "$work/rest-half.log")"
run grpc-half -c 4 -m 32 --rps "$GRPC_RPS" -D "$SECS" --log-file "$work/grpc-half.log" \
    -d "$work/grpc.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://$GRPC/fraudhotzone.v1.FraudHotzone/Check"
echo "  grpc at $((GRPC_RPS * 4))/s: $(pct "$work/grpc-half.log")"
grep -E 'time for request' "$work"/*-max.out || true
