"""Shared helpers of the Python tests: the conformance cases, the CLI binary, row forms."""

from __future__ import annotations

import csv
import os
import pathlib
import shutil
import subprocess
from typing import Dict, List, Tuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CASES_DIR = ROOT / "tests" / "conformance"

_FLAGS = {
    "--hotzone": ("hotzone", str),
    "--look-back-days": ("look_back_days", int),
    "--threshold-ratio": ("threshold_ratio", float),
    "--method": ("method", str),
    "--min-events": ("min_events", int),
    "--as-of": ("as_of", str),
    "--tz": ("tz", str),
    "--check-type": ("check_type", str),
    "--check-target": ("check_target", str),
    "--default-region": ("default_region", str),
}


def cases() -> List[pathlib.Path]:
    found = sorted(p for p in CASES_DIR.iterdir() if (p / "args").exists())
    assert len(found) >= 17, f"conformance cases missing: {len(found)}"
    return found


def case_args(case: pathlib.Path) -> List[str]:
    return (case / "args").read_text().split()


def case_kwargs(case: pathlib.Path) -> Dict[str, object]:
    """The case's CLI flags as keyword arguments of hotzone.scan."""
    args = case_args(case)
    out: Dict[str, object] = {}
    i = 0
    while i < len(args):
        name, conv = _FLAGS[args[i]]
        out[name] = conv(args[i + 1])
        i += 2
    return out


def expected_rows(case: pathlib.Path) -> List[Tuple[str, ...]]:
    with open(case / "expected.csv", newline="") as f:
        return [tuple(r) for r in csv.reader(f)][1:]


def rows_of(table) -> List[Tuple[str, ...]]:
    """A verdict table as the CLI's CSV cells (true/false, ISO dates, empty for null)."""
    d = table.to_pydict()
    fmt_date = lambda v: "" if v is None else v.isoformat()
    return [
        (
            d["subscriber"][i],
            "true" if d["anomaly_detected"][i] else "false",
            fmt_date(d["anomaly_date"][i]),
            str(d["anomalous_days"][i]),
            fmt_date(d["first_anomaly_date"][i]),
        )
        for i in range(table.num_rows)
    ]


def csv_rows(path: pathlib.Path) -> List[Tuple[str, ...]]:
    with open(path, newline="") as f:
        return [tuple(r) for r in csv.reader(f)][1:]


def binary() -> str:
    """The hotzone CLI: $HOTZONE_BIN, else the build in $CARGO_TARGET_DIR (or target/)."""
    given = os.environ.get("HOTZONE_BIN")
    if given:
        return given
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("release", "debug"):
        p = target / profile / "hotzone"
        if p.exists():
            return str(p)
    found = shutil.which("hotzone")
    assert found, "the hotzone CLI is needed: set HOTZONE_BIN or build it (cargo build)"
    return found


def run_cli(*args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([binary(), *args], capture_output=True, text=True)
    assert out.returncode in (0, 2), out.stderr
    return out


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> pathlib.Path:
    """A small generated export (Parquet, Asia/Taipei, 30 days ending 2026-10-30)."""
    d = tmp_path_factory.mktemp("gen")
    path = d / "events.parquet"
    run_cli("gen", "--subscribers", "1500", "--days", "30", "--seed", "7", "--output", str(path))
    return path
