"""The gRPC example client, ``examples/python/check.py`` (grpcio), against a real ``hotzone
serve`` on an ephemeral loopback port with bearer tokens: its answers are the batch scan's,
and a refusal (of a check, of the health service, of reflection) is one ``error:`` line and
exit status 1, never a traceback.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import subprocess
import sys
import time

# The client's own dependencies (examples/python/requirements.txt, which scripts/test
# installs): without them this module fails to import, naming what is missing.
import grpc  # noqa: F401
import grpc_tools  # noqa: F401
import pytest

import hotzone
from conftest import ROOT, binary

EXAMPLE = ROOT / "examples" / "python" / "check.py"
SAMPLE = ROOT / "data" / "sample"
TOKEN = "example-client-token"
# The sample's parameters (README, "Quick start"): the named hotzone of data/hotzones.toml.
PARAMS = dict(look_back_days=30, threshold_ratio=0.5, tz="Asia/Taipei")


def _wait(what, probe, seconds=60):
    """Polls `probe` until it returns a value; fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        got = probe()
        if got is not None:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A `hotzone serve` of the sample with one client token; yields its address."""
    work = tmp_path_factory.mktemp("serve")
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    config = work / "server.toml"
    config.write_text(
        f'data_dir = "{SAMPLE}"\n'
        'listen = "127.0.0.1:0"\n'
        f'tz = "{PARAMS["tz"]}"\n'
        f'hotzones_file = "{ROOT / "data" / "hotzones.toml"}"\n'
        "[[clients]]\n"
        'id = "analyst"\n'
        f'token_sha256 = "{digest}"\n'
        "[policy]\n"
        "health_needs_token = true\n"
        "reflection_needs_token = true\n"
    )
    log = work / "serve.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [binary(), "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "RUST_LOG": "info"},
        )
    try:

        def address():
            assert proc.poll() is None, log.read_text()
            m = re.search(r"serving fraudhotzone\.v1\.FraudHotzone addr=(\S+)", log.read_text())
            return m.group(1) if m else None

        def serving():
            r = run(addr, "--health", "--token", TOKEN)
            # Before the first load the health check answers NOT_SERVING; anything else than
            # an answer or a refusal (the client broken) fails at once.
            assert "Traceback" not in r.stderr, r.stderr
            return "fraudhotzone.v1.FraudHotzone: SERVING" in r.stdout.splitlines() or None

        addr = _wait("the server's address in its log", address)
        _wait("the sample to be loaded", serving)
        yield addr
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise


def run(addr, *args):
    return subprocess.run(
        [sys.executable, str(EXAMPLE), "--server", addr, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _expected():
    """(as_of, {subscriber: anomaly date or ''}) of the sample's batch scan."""
    r = hotzone.scan(str(SAMPLE), hotzone="@west_africa_and_sat",
                     hotzones_file=str(ROOT / "data" / "hotzones.toml"), **PARAMS)
    rows = {
        row["subscriber"]: row["anomaly_date"] or ""
        for row in csv.DictReader((ROOT / "data" / "expected_sample_scan.csv").open())
    }
    return r.summary["window"]["last"], rows


def test_the_example_client_answers_as_the_batch_scan(server):
    as_of, rows = _expected()
    anomalous = [s for s, d in rows.items() if d]
    normal = [s for s, d in rows.items() if not d]
    assert anomalous and normal
    for sub in anomalous[:3] + normal[:3]:
        r = run(server, "--phone-number", sub, "--look-back-days", "30", "--threshold-ratio",
                "0.5", "--hotzone-name", "west_africa_and_sat", "--as-of", str(as_of),
                "--correlator", "ex-1", "--token", TOKEN)
        assert r.returncode == 0, r.stderr
        want = f"anomaly_detected={'true' if rows[sub] else 'false'} anomaly_date={rows[sub] or '(none)'}"
        assert r.stdout.splitlines() == [want, "x-correlator=ex-1"], (sub, r.stdout)


def test_requests_compressed_by_grpcio_are_answered_as_the_others(server):
    # grpcio compressing every request on its channel (gzip, deflate): the same answers,
    # health and reflection included (they were UNIMPLEMENTED on every call).
    as_of, rows = _expected()
    sub = next(s for s, d in rows.items() if d)
    for encoding in ("gzip", "deflate"):
        r = run(server, "--phone-number", sub, "--look-back-days", "30", "--threshold-ratio",
                "0.5", "--hotzone-name", "west_africa_and_sat", "--as-of", str(as_of),
                "--correlator", "ex-2", "--token", TOKEN, "--compress", encoding)
        assert r.returncode == 0, (encoding, r.stderr)
        assert r.stdout.splitlines()[0] == f"anomaly_detected=true anomaly_date={rows[sub]}"
        for what, served in [("--health", "fraudhotzone.v1.FraudHotzone: SERVING"),
                             ("--list-services", "fraudhotzone.v1.FraudHotzone")]:
            r = run(server, what, "--token", TOKEN, "--compress", encoding)
            assert r.returncode == 0 and served in r.stdout.splitlines(), (encoding, r.stderr)


def test_refusals_are_one_error_line_and_status_1(server):
    # A check without the token, with a wrong one, and with a parameter out of its range.
    for args, code in [
        (("--look-back-days", "7"), "UNAUTHENTICATED"),
        (("--look-back-days", "7", "--token", "wrong"), "UNAUTHENTICATED"),
        (("--look-back-days", "500", "--token", TOKEN), "OUT_OF_RANGE"),
    ]:
        r = run(server, "--phone-number", "+886912345001", "--threshold-ratio", "0.5",
                "--hotzone", "NG", *args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert r.stderr.startswith(f"error: {code} "), (args, r.stderr)
        assert "Traceback" not in r.stderr
    # Health and reflection need the token on this server: refused without it, served with.
    for what, served in [("--health", "fraudhotzone.v1.FraudHotzone: SERVING"),
                         ("--list-services", "fraudhotzone.v1.FraudHotzone")]:
        r = run(server, what)
        assert r.returncode == 1 and r.stderr.startswith("error: UNAUTHENTICATED "), r.stderr
        assert "Traceback" not in r.stderr
        r = run(server, what, "--token", TOKEN)
        assert r.returncode == 0 and served in r.stdout.splitlines(), (r.stdout, r.stderr)
