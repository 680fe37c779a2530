#!/usr/bin/env python3
"""Bytes per event of hotzone.spark's shuffle blobs for one map task's worth of a file
(BENCHMARKS.md, "Spark": the shuffle layout's columns compressed apart vs one zstd frame).

    bench/spark_pack.py [FILE] [--task-bytes 134217728] [--buckets 200]

FILE defaults to $BENCH_CACHE/M/events-time.parquet. The first row groups up to
--task-bytes (compressed; Spark's default split) are mapped with the kernel as a map task
does (the bench query of bench/spark.py), split into --buckets reduce buckets, and packed
two ways: `hotzone.spark._pack` (each column its own zstd frame) and the same columns joined
into one zstd frame (the layout before). Prints events, state rows, bytes per event and
packing seconds for each. No Spark is started.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path

QUERY = dict(
    hotzone="+234,+1876,+855,+88216", look_back_days=30, threshold_ratio=0.3, min_events=3,
    method="share", as_of="2026-10-30", tz="Asia/Taipei",
)


def one_frame(state, first_day: int) -> bytes:
    """The columns of `_pack` in one zstd frame (the layout before version 3)."""
    import numpy as np
    import pyarrow as pa

    subs = state.column("subscriber").to_numpy(zero_copy_only=False).astype(np.int64)
    day = state.column("day").cast(pa.int32()).to_numpy(zero_copy_only=False)
    hot = state.column("hot").to_numpy(zero_copy_only=False)
    total = state.column("total").to_numpy(zero_copy_only=False)
    w = 1 if int(total.max()) < 256 else 2 if int(total.max()) < 65536 else 4
    starts = np.flatnonzero(np.r_[True, subs[1:] != subs[:-1]])
    counts = np.diff(np.r_[starts, len(subs)])
    deltas = np.diff(subs[starts], prepend=np.int64(0)).astype("<i8")
    raw = b"".join([deltas.tobytes(), counts.astype(np.uint8).tobytes(), (day - first_day).astype(np.uint8).tobytes(),
                    hot.astype(f"<u{w}").tobytes(), total.astype(f"<u{w}").tobytes()])
    return pa.compress(raw, codec="zstd", asbytes=True)


def main() -> None:
    cache = Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache/hotzone-bench"))
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", default=str(cache / "M" / "events-time.parquet"))
    ap.add_argument("--task-bytes", type=int, default=128 << 20)
    ap.add_argument("--buckets", type=int, default=200)
    a = ap.parse_args()

    import hotzone.spark as hs
    from hotzone import kernel

    sizes, _ = kernel.probe_parquet([a.file])[0]
    end, held = 0, 0
    while end < len(sizes) and (end == 0 or held + sizes[end] <= a.task_bytes):
        held += sizes[end]
        end += 1
    state, summary = kernel.map_state_of_row_groups([(a.file, 0, end)], **QUERY)
    events = summary["rows"]
    first = (dt.date.fromisoformat(QUERY["as_of"]) - dt.timedelta(days=QUERY["look_back_days"] - 1)
             - dt.date(1970, 1, 1)).days
    parts = [p for _, p in hs._split(state, a.buckets)]
    print(f"{a.file}: row groups 0..{end} ({held / 1e6:.1f} MB), {events:,} events, {state.num_rows:,} state rows")
    for name, pack in (("columns apart (layout 3)", hs._pack), ("one frame (before)", one_frame)):
        t = time.perf_counter()
        size = sum(len(pack(p, first)) for p in parts)
        print(f"{name}: {size:,} bytes, {size / events:.3f} bytes/event, {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
