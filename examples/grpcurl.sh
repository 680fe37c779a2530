#!/usr/bin/env bash
# Calls a running `hotzone serve` with grpcurl, through server reflection (no .proto needed).
#
#   mkdir -p /tmp/hz-demo && cp tests/conformance/share_boundary/events.csv /tmp/hz-demo/
#   hotzone serve --data /tmp/hz-demo &      # or: cargo run -- serve --data /tmp/hz-demo
#   examples/grpcurl.sh [HOST:PORT]          # default 127.0.0.1:50051
#
# A directory of its own: the case's folder also holds expected.csv (no events: the server
# would skip it as unreadable), and the Ingest below writes a file into the data directory.
#   TOKEN=... examples/grpcurl.sh     # adds 'authorization: Bearer $TOKEN' to every call
#   (reflection and health too, for a server whose [policy] asks a token of them)
#
# Starts nothing. The verdicts shown in the comments are those of the share_boundary data
# (tests/conformance/share_boundary/events.csv). grpcurl is not packaged by Debian; install
# it from its own releases or with the Go toolchain.
set -euo pipefail

ADDR="${1:-127.0.0.1:50051}"
command -v grpcurl >/dev/null || { echo "grpcurl not found on PATH" >&2; exit 2; }
AUTH=()
if [[ -n "${TOKEN:-}" ]]; then AUTH=(-H "authorization: Bearer $TOKEN"); fi

echo "== services (reflection)"
grpcurl -plaintext "${AUTH[@]}" "$ADDR" list
#   fraudhotzone.v1.FraudHotzone
#   grpc.health.v1.Health
#   grpc.reflection.v1.ServerReflection   (and/or v1alpha, depending on the grpcurl version)

echo "== the Check contract"
grpcurl -plaintext "${AUTH[@]}" "$ADDR" describe fraudhotzone.v1.CheckRequest

echo "== health (SERVING once the data directory is loaded)"
grpcurl -plaintext "${AUTH[@]}" -d '{"service": ""}' "$ADDR" grpc.health.v1.Health/Check
grpcurl -plaintext "${AUTH[@]}" -d '{"service": "fraudhotzone.v1.FraudHotzone"}' "$ADDR" grpc.health.v1.Health/Check

echo "== a check; -v prints the response headers, where x-correlator is echoed"
grpcurl -plaintext "${AUTH[@]}" -v -H 'x-correlator: demo-0001' -d '{
  "phone_number": "+886912345001",
  "look_back_days": 7,
  "method": "SHARE",
  "threshold_ratio": 0.3,
  "hotzone": ["NG"],
  "check_type": "CHECK_TYPE_ALL",
  "check_target": "CHECK_TARGET_ALL",
  "min_events": 3,
  "as_of": "2026-03-10"
}' "$ADDR" fraudhotzone.v1.FraudHotzone/Check
#   { "anomalyDetected": true, "anomalyDate": "2026-03-10" }

echo "== a refused check: code, message, and the google.rpc.ErrorInfo detail (reason = CAMARA code)"
# grpcurl exits non-zero when the call fails; that is the point here.
grpcurl -plaintext "${AUTH[@]}" -H 'x-correlator: demo-0002' -d '{
  "phone_number": "+886999999999",
  "look_back_days": 7,
  "threshold_ratio": 0.3,
  "hotzone": ["NG"],
  "as_of": "2026-03-10"
}' "$ADDR" fraudhotzone.v1.FraudHotzone/Check || true
#   Code: NotFound
#   Message: phone_number is not known in the loaded data
#   Details: google.rpc.ErrorInfo reason "IDENTIFIER_NOT_FOUND", domain "hotzone",
#            metadata {"field": "phone_number"}

echo "== ingest (client streaming): acknowledged only once durably written under DATA/ingest/"
grpcurl -plaintext "${AUTH[@]}" -H 'x-correlator: demo-0003' -d @ "$ADDR" fraudhotzone.v1.FraudHotzone/Ingest <<'JSON'
{"events": [
  {"event_time_ms": "1773144000000", "subscriber": "+886912345009", "counterparty": "+2348021234567", "direction": "in", "kind": "call", "duration_s": "60"},
  {"event_time_ms": "1773144060000", "subscriber": "+886912345009", "counterparty": "+2348021234567", "direction": "in", "kind": "call", "duration_s": "60"}
]}
{"events": [
  {"event_time_ms": "1773144120000", "subscriber": "+886912345009", "counterparty": "+2348021234567", "direction": "in", "kind": "sms"},
  {"event_time_ms": "1773144180000", "subscriber": "886912345009", "counterparty": "+2348021234567", "direction": "in", "kind": "sms"}
]}
JSON
#   { "accepted": "3", "rejected": { "subscriber_without_plus_no_default_region": "1" },
#     "file": "ingest/ingest-<ms>-<pid>-000000.csv" }

echo "== the ingested number is visible to Check as soon as the ack returned"
grpcurl -plaintext "${AUTH[@]}" -d '{
  "phone_number": "+886912345009",
  "look_back_days": 7,
  "threshold_ratio": 0.3,
  "hotzone": ["NG"],
  "as_of": "2026-03-10"
}' "$ADDR" fraudhotzone.v1.FraudHotzone/Check
#   { "anomalyDetected": true, "anomalyDate": "2026-03-10" }
