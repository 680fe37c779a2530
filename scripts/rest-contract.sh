#!/usr/bin/env bash
# The REST check against its OpenAPI document: starts the real binary on loopback over a copy
# of data/sample, lets schemathesis send generated requests (valid and invalid) to
# POST /fraud-hotzone-alert/v0/check, and fails on any 5xx or any response the document does
# not allow (status, content type, headers, body schema).
#
#   scripts/rest-contract.sh [HOTZONE_BINARY] [MAX_EXAMPLES]
#
# Needs schemathesis 4 (`pip install schemathesis`). A couple of minutes on 2 cores.
#
# The subscriptions API is not fuzzed here: a generated subscription with a public https sink
# would be accepted, and its callbacks would go to whatever host was generated. By hand, on a
# machine without outside access, the same checks are:
#   st run api/fraud-hotzone-alert-subscriptions.yaml \
#     --url http://HOST:PORT/fraud-hotzone-alert-subscriptions/v0 --max-examples 100 \
#     --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/release/hotzone}"
EXAMPLES="${2:-300}"
command -v st >/dev/null || { echo "schemathesis is required: pip install schemathesis"; exit 1; }

work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
cp -r data/sample "$work/data"
NO_COLOR=1 "$BIN" serve --data "$work/data" --tz Asia/Taipei --listen 127.0.0.1:0 \
    --http-listen 127.0.0.1:0 --hotzones-file data/hotzones.toml \
    2>"$work/serve.log" &
server=$!

# The REST port is chosen by the OS; the server logs it once bound, then loads the data.
addr=""
for _ in $(seq 1 600); do
    addr="$(sed -n 's/.*addr=\([0-9.:]*\).*serving the REST API.*/\1/p; s/.*serving the REST API.*addr=\([0-9.:]*\).*/\1/p' "$work/serve.log" | head -1)"
    if [ -n "$addr" ] && grep -q "index built and swapped in" "$work/serve.log"; then break; fi
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
    sleep 0.2
done
[ -n "$addr" ] || { echo "the REST port did not come up"; cat "$work/serve.log"; exit 1; }
echo "REST API at http://$addr"

st run api/fraud-hotzone-alert.yaml \
    --url "http://$addr/fraud-hotzone-alert/v0" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "$EXAMPLES" --seed 16 --workers 2 --request-timeout 10 \
    --suppress-health-check all

# The server is still up and answering after everything schemathesis sent.
kill -0 "$server"
if grep -E '\+[0-9]{8,}' "$work/serve.log"; then
    echo "a phone number reached the server log"; exit 1
fi
echo "REST contract OK"
