"""The reduce side of a Spark scan, alone: states read back from Arrow and summed.

Usage:
    python bench/states.py map EVENTS.parquet DIR PARTS
        maps EVENTS.parquet's row groups, cut into PARTS parts, into one state each
        (``hotzone.kernel.map_state_of_row_groups``) and writes them to DIR as Arrow IPC files;
    python bench/states.py reduce DIR [BATCH_ROWS]
        reads every state in DIR in batches of BATCH_ROWS rows (10,000 by default: Spark's
        ``maxRecordsPerBatch``), sums them (``hotzone.kernel.verdicts_of_states``) and prints
        one JSON line: the rows out, the anomalous rows, the wall time of the sum and the
        process's peak RSS (MiB) before and after it.

Both steps run section a's query of bench/run.sh (+234,+1876,+855,+882, Asia/Taipei,
2026-10-30, 30 days, share 0.5, at least 3 events). Run ``reduce`` in a fresh process per measurement: the peak RSS is the process's.
"""

import json
import os
import resource
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

from hotzone import kernel

QUERY = dict(
    hotzone="+234,+1876,+855,+882",
    tz="Asia/Taipei",
    as_of="2026-10-30",
    look_back_days=30,
    threshold_ratio=0.5,
    method="share",
    min_events=3,
    check_type="all",
    check_target="all",
)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def map_states(events: str, out: str, parts: int) -> None:
    groups = pq.ParquetFile(events).metadata.num_row_groups
    os.makedirs(out, exist_ok=True)
    for k in range(parts):
        lo, hi = groups * k // parts, groups * (k + 1) // parts
        state, _ = kernel.map_state_of_row_groups([(events, lo, hi)], **QUERY)
        with pa.OSFile(os.path.join(out, f"state-{k:04}.arrow"), "wb") as f:
            with pa.ipc.new_file(f, state.schema) as w:
                w.write_batch(state)
        print(f"part {k}: row groups {lo}..{hi}, {state.num_rows} state rows", file=sys.stderr)


def reduce_states(src: str, batch_rows: int) -> None:
    files = sorted(os.path.join(src, f) for f in os.listdir(src) if f.endswith(".arrow"))

    def batches():
        for path in files:
            with pa.memory_map(path) as m:
                table = pa.ipc.open_file(m).read_all()
            for b in table.to_batches(max_chunksize=batch_rows):
                yield b

    schema = pa.ipc.open_file(pa.memory_map(files[0])).schema
    before = peak_mib()
    t0 = time.perf_counter()
    out = kernel.verdicts_of_states(pa.RecordBatchReader.from_batches(schema, batches()), **QUERY)
    wall = time.perf_counter() - t0
    anomalous = sum(1 for v in out.column("anomaly_detected").to_pylist() if v)
    print(json.dumps(dict(states=len(files), batch_rows=batch_rows, rows=out.num_rows,
                          anomalous=anomalous, wall_s=round(wall, 3),
                          peak_mib_before=round(before), peak_mib=round(peak_mib()))))


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "map":
        map_states(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "reduce":
        reduce_states(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 10_000)
    else:
        sys.exit(__doc__)
