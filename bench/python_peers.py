#!/usr/bin/env python3
"""Issue 14's measurement: tier M already in memory as a polars DataFrame, scanned by
`hotzone.scan`, by the same SHARE query written in polars and in DuckDB over that frame (what
an analyst would write instead). One engine per process, so each peak RSS is its own.

  python_peers.py ENGINE EVENTS.parquet OUT.csv QUERY-JSON     ENGINE: hotzone | polars | duckdb

Prints one JSON line: engine, load_s (reading the Parquet file into the frame), query_s (the
scan, verdicts in memory), write_s, frame_mib (the frame's estimated size), rss_after_load_mib,
peak_rss_mib. bench/python.sh runs it with the CLI beside it and compares the rows.
"""

import json
import resource
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from peers import PARQUET_TIME, POLARS_COLS, duck_sql, parse_query, polars_plan  # noqa: E402


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(engine, events, out, qjson):
    import polars as pl

    q = parse_query(json.loads(qjson))
    # Imports are not timed (pyarrow's alone is ~0.1 s).
    if engine == "hotzone":
        import hotzone
    elif engine == "duckdb":
        import duckdb
    t0 = time.perf_counter()
    df = pl.read_parquet(events, columns=POLARS_COLS)
    load = time.perf_counter() - t0
    after_load = rss_mib()
    t0 = time.perf_counter()
    if engine == "hotzone":
        res = hotzone.scan(
            df,
            hotzone=q["prefixes"], look_back_days=q["look_back_days"],
            threshold_ratio=q["threshold_ratio"], method=q["method"], min_events=q["min_events"],
            check_type=q["check_type"], check_target=q["check_target"], as_of=q["as_of"], tz=q["tz"],
        )
        verdicts = pl.DataFrame(res)
    elif engine == "polars":
        verdicts = polars_plan(q, df.lazy(), "event_time").collect()
    elif engine == "duckdb":
        con = duckdb.connect()
        con.register("events", df)
        verdicts = con.sql(duck_sql(q, "events", PARQUET_TIME)).pl()
    else:
        raise SystemExit(f"unknown engine {engine}")
    query = time.perf_counter() - t0
    t0 = time.perf_counter()
    verdicts.with_columns(pl.col("anomalous_days").cast(pl.Int64)).write_csv(out, date_format="%Y-%m-%d")
    write = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "engine": engine, "load_s": round(load, 3), "query_s": round(query, 3),
        "write_s": round(write, 3), "frame_mib": round(df.estimated_size() / 2**20, 1),
        "rss_after_load_mib": round(after_load, 1), "peak_rss_mib": round(peak, 1),
        "rows": verdicts.height,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:5])
