#!/usr/bin/env python3
"""Peers of the hotzone benchmark: the same REFERENCE.md §5/§7 scan in DuckDB and in Polars.

Subcommands (timings of `repeat` go to a JSON file; `compare`, `flags`, `quality` are helpers
of bench/run.sh):

  scan ENGINE EVENTS.parquet OUT.csv QUERY-FLAGS
      End-to-end batch scan: read the Parquet export, write the verdict CSV
      (subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date), sorted
      by subscriber. Run it under /usr/bin/time -v: the process is the measurement.

  prepare ENGINE EVENTS.parquet NATIVE
      Writes the peer's own native form once: DuckDB a persisted .duckdb table, Polars an
      Arrow IPC file (uncompressed, memory-mappable; faster than Parquet for it on this data).
      Both keep event time as epoch milliseconds (int64) and are sorted by subscriber.

  repeat ENGINE NATIVE OUTDIR RUNS QUERIES.json --times T.json
      The repeated-scan case: one process (an analyst's open session) runs each query RUNS
      times and records the wall time of every run (query + writing the CSV); the report
      takes the median of the 2nd and later runs.

The window is [bounds[0], bounds[-1]) in UTC epoch milliseconds, with bounds[i] the UTC start
of local day i of W, computed by zoneinfo (window.py): exact across DST. When every day is
86,400,000 ms long (a zone without a transition in W) the day index is arithmetic; otherwise it
is found by an as-of join (DuckDB) / search_sorted (Polars) over the bounds.

SHARE:  hot >= min_events and hot::double / total::double >= r
SPIKE:  day > 0 and hot >= min_events and hot::double > r * (hot_before::double / day::double)
exactly REFERENCE.md §5's IEEE-754 expressions, evaluated in double precision by both engines.
"""

import json
import resource
import sys
import time

from window import window_bounds

DAY_MS = 86_400_000


def parse_query(q):
    """A query dict (the JSON form of scan flags) with the window computed."""
    q = dict(q)
    q.setdefault("method", "share")
    q.setdefault("check_type", "all")
    q.setdefault("check_target", "all")
    q.setdefault("min_events", 3)
    q["bounds"] = window_bounds(q["tz"], q["as_of"], q["look_back_days"])
    return q


def days_list(q):
    import datetime as dt

    last = dt.date.fromisoformat(q["as_of"])
    n = q["look_back_days"]
    return [(last - dt.timedelta(days=n - 1 - i)).isoformat() for i in range(n)]


def uniform(bounds):
    return all(b - a == DAY_MS for a, b in zip(bounds, bounds[1:]))


# ---------------------------------------------------------------- DuckDB


def duck_sql(q, source, time_expr):
    """SQL computing the verdict rows from `source` (a table or read_parquet(...))."""
    b = q["bounds"]
    lo, hi = b[0], b[-1]
    preds = [f"t >= {lo}", f"t < {hi}"]
    if q["check_type"] != "all":
        preds.append(f"kind = '{q['check_type']}'")
    if q["check_target"] != "all":
        preds.append(f"direction = '{'in' if q['check_target'] == 'incoming' else 'out'}'")
    hot = " OR ".join(f"starts_with(counterparty, '{p}')" for p in q["prefixes"])
    days = days_list(q)
    day_names = "[" + ",".join(f"DATE '{d}'" for d in days) + "]"
    if uniform(b):
        day_expr = f"CAST((t - {lo}) // {DAY_MS} AS INTEGER)"
        sel = f"""
        sel AS (
          SELECT subscriber, {day_expr} AS d, coalesce({hot}, false) AS hot
          FROM (SELECT subscriber, counterparty, direction, kind, {time_expr} AS t FROM {source})
          WHERE {' AND '.join(preds)}
        )"""
    else:
        bt = ",".join(f"({i}, {v})" for i, v in enumerate(b[:-1]))
        sel = f"""
        starts(d, s) AS (VALUES {bt}),
        ev AS (
          SELECT subscriber, counterparty, t
          FROM (SELECT subscriber, counterparty, direction, kind, {time_expr} AS t FROM {source})
          WHERE {' AND '.join(preds)}
        ),
        sel AS (
          SELECT ev.subscriber, starts.d AS d, coalesce({hot.replace('counterparty', 'ev.counterparty')}, false) AS hot
          FROM ev ASOF JOIN starts ON ev.t >= starts.s
        )"""
    r = repr(float(q["threshold_ratio"]))
    m = int(q["min_events"])
    if q["method"] == "share":
        anomalous = f"hot >= {m} AND hot::DOUBLE / total::DOUBLE >= {r}"
        daily = """
        daily AS (
          SELECT subscriber, d, count(*) AS total, count(*) FILTER (WHERE hot) AS hot
          FROM sel GROUP BY subscriber, d
        )"""
    else:
        anomalous = f"d > 0 AND hot >= {m} AND hot::DOUBLE > {r} * (before::DOUBLE / d::DOUBLE)"
        daily = """
        daily0 AS (
          SELECT subscriber, d, count(*) AS total, count(*) FILTER (WHERE hot) AS hot
          FROM sel GROUP BY subscriber, d
        ),
        daily AS (
          SELECT *, coalesce(sum(hot) OVER (PARTITION BY subscriber ORDER BY d
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
          FROM daily0
        )"""
    return f"""
    WITH {sel},
    {daily},
    flagged AS (SELECT subscriber, d, ({anomalous}) AS a FROM daily)
    SELECT subscriber,
           count(*) FILTER (WHERE a) > 0 AS anomaly_detected,
           {day_names}[max(d) FILTER (WHERE a) + 1] AS anomaly_date,
           count(*) FILTER (WHERE a) AS anomalous_days,
           {day_names}[min(d) FILTER (WHERE a) + 1] AS first_anomaly_date
    FROM flagged GROUP BY subscriber ORDER BY subscriber
    """


def duck_run(con, q, source, time_expr, out):
    sql = duck_sql(q, source, time_expr)
    con.execute(f"COPY ({sql}) TO '{out}' (FORMAT csv, HEADER true, DATEFORMAT '%Y-%m-%d')")


PARQUET_TIME = "epoch_ms(event_time)"


# ---------------------------------------------------------------- Polars


def polars_plan(q, lf, time_col):
    import polars as pl

    b = q["bounds"]
    lo, hi = b[0], b[-1]
    t = pl.col(time_col) if time_col == "t" else pl.col(time_col).dt.epoch("ms")
    lf = lf.with_columns(t.alias("t"))
    pred = (pl.col("t") >= lo) & (pl.col("t") < hi)
    if q["check_type"] != "all":
        pred = pred & (pl.col("kind") == q["check_type"])
    if q["check_target"] != "all":
        pred = pred & (pl.col("direction") == ("in" if q["check_target"] == "incoming" else "out"))
    hot = pl.lit(False)
    for p in q["prefixes"]:
        hot = hot | pl.col("counterparty").str.starts_with(p).fill_null(False)
    if uniform(b):
        d = ((pl.col("t") - lo) // DAY_MS).cast(pl.Int32)
    else:
        d = (pl.lit(pl.Series(b[:-1], dtype=pl.Int64)).search_sorted(pl.col("t"), side="right") - 1).cast(pl.Int32)
    sel = lf.filter(pred).select(pl.col("subscriber"), d.alias("d"), hot.alias("hot"))
    daily = sel.group_by("subscriber", "d").agg(
        pl.len().alias("total"), pl.col("hot").sum().alias("hot")
    )
    r = float(q["threshold_ratio"])
    m = int(q["min_events"])
    hotf = pl.col("hot").cast(pl.Float64)
    if q["method"] == "share":
        a = (pl.col("hot") >= m) & (hotf / pl.col("total").cast(pl.Float64) >= r)
    else:
        daily = daily.sort("subscriber", "d").with_columns(
            (pl.col("hot").cum_sum().over("subscriber") - pl.col("hot")).alias("before")
        )
        a = (
            (pl.col("d") > 0)
            & (pl.col("hot") >= m)
            & (hotf > r * (pl.col("before").cast(pl.Float64) / pl.col("d").cast(pl.Float64)))
        )
    import datetime as dt

    first = dt.date.fromisoformat(days_list(q)[0])
    flagged = daily.with_columns(a.alias("a"))
    ad = pl.when(pl.col("a")).then(pl.col("d"))
    res = (
        flagged.group_by("subscriber")
        .agg(
            pl.col("a").any().alias("anomaly_detected"),
            ad.max().alias("amax"),
            pl.col("a").sum().cast(pl.Int64).alias("anomalous_days"),
            ad.min().alias("amin"),
        )
        .with_columns(
            (pl.lit(first) + pl.duration(days=pl.col("amax"))).alias("anomaly_date"),
            (pl.lit(first) + pl.duration(days=pl.col("amin"))).alias("first_anomaly_date"),
        )
        .select("subscriber", "anomaly_detected", "anomaly_date", "anomalous_days", "first_anomaly_date")
        .sort("subscriber")
    )
    return res


def polars_run(q, lf, time_col, out):
    res = polars_plan(q, lf, time_col).collect()
    res.write_csv(out, date_format="%Y-%m-%d")


POLARS_COLS = ["event_time", "subscriber", "counterparty", "direction", "kind"]


# ---------------------------------------------------------------- commands


def cmd_scan(engine, events, out, qjson):
    q = parse_query(json.loads(qjson))
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        if ".csv" in events:
            # CSV as hotzone gen writes it (RFC 3339 UTC times), plain or compressed (.csv.gz,
            # .csv.zst): DuckDB reads the compression from the name.
            cols = ("{'event_time': 'TIMESTAMPTZ', 'subscriber': 'VARCHAR', 'counterparty': 'VARCHAR', "
                    "'direction': 'VARCHAR', 'kind': 'VARCHAR', 'duration_s': 'BIGINT'}")
            source = f"read_csv('{events}', header = true, columns = {cols})"
        else:
            source = f"read_parquet('{events}')"
        duck_run(con, q, source, PARQUET_TIME, out)
    elif engine == "polars":
        import polars as pl

        if ".csv" in events:
            # The same CSV, every column text; times RFC 3339 in UTC with milliseconds.
            lf = pl.scan_csv(events, infer_schema=False).with_columns(
                pl.col("event_time").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", time_unit="ms", time_zone="UTC")
            )
        else:
            lf = pl.scan_parquet(events)
        polars_run(q, lf.select(POLARS_COLS), "event_time", out)
    else:
        raise SystemExit(f"unknown engine {engine}")


def cmd_prepare(engine, events, native):
    import os

    if os.path.exists(native):
        os.remove(native)
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect(native)
        con.execute(
            f"""CREATE TABLE events AS
            SELECT epoch_ms(event_time) AS t, subscriber, counterparty, direction, kind
            FROM read_parquet('{events}') ORDER BY subscriber"""
        )
        con.close()
    elif engine == "polars":
        import polars as pl

        (
            pl.scan_parquet(events)
            .select(pl.col("event_time").dt.epoch("ms").alias("t"), *POLARS_COLS[1:])
            .sort("subscriber")
            .sink_ipc(native, compression=None)
        )
    else:
        raise SystemExit(f"unknown engine {engine}")


def cmd_repeat(engine, native, outdir, runs, queries_path, times_path):
    queries = [parse_query(q) for q in json.load(open(queries_path))]
    times = {}
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect(native, read_only=True)
        run = lambda q, out: duck_run(con, q, "events", "t", out)  # noqa: E731
    else:
        import polars as pl

        run = lambda q, out: polars_run(q, pl.scan_ipc(native), "t", out)  # noqa: E731
    for i, q in enumerate(queries):
        ts = []
        for _ in range(runs):
            t0 = time.perf_counter()
            run(q, f"{outdir}/{engine}-q{i + 1}.csv")
            ts.append(time.perf_counter() - t0)
        times[f"q{i + 1}"] = ts
    times["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump(times, open(times_path, "w"))


def hotzone_flags(q):
    """The `hotzone scan` flags of a query dict, one per line (for bash mapfile)."""
    f = [
        "--hotzone", ",".join(q["prefixes"]),
        "--tz", q["tz"],
        "--as-of", q["as_of"],
        "--look-back-days", str(q["look_back_days"]),
        "--threshold-ratio", repr(float(q["threshold_ratio"])),
        "--method", q.get("method", "share"),
        "--min-events", str(q.get("min_events", 3)),
        "--check-type", q.get("check_type", "all"),
        "--check-target", q.get("check_target", "all"),
    ]
    return "\n".join(f)


def read_rows(path):
    import csv

    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    # Normal form: booleans lower case, empty for null, integers without decoration.
    norm = [tuple(c.strip().strip('"').lower() if c.lower() in ("true", "false") else c.strip().strip('"') for c in r) for r in body]
    return header, norm


def cmd_compare(paths):
    """Fails (exit 1) unless every verdict file has the same header and rows, in subscriber order."""
    ref_h, ref = read_rows(paths[0])
    expected = ["subscriber", "anomaly_detected", "anomaly_date", "anomalous_days", "first_anomaly_date"]
    ok = ref_h == expected
    if not ok:
        print(f"MISMATCH: {paths[0]}: header {ref_h} != {expected}", file=sys.stderr)
    if [r[0] for r in ref] != sorted(r[0] for r in ref):
        print(f"MISMATCH: {paths[0]} is not sorted by subscriber", file=sys.stderr)
        ok = False
    for p in paths[1:]:
        h, rows = read_rows(p)
        if h != ref_h or rows != ref:
            ok = False
            print(f"MISMATCH: {p} differs from {paths[0]} ({len(rows)} vs {len(ref)} rows)", file=sys.stderr)
            a, b = set(ref), set(rows)
            for r in sorted(a - b)[:5]:
                print(f"  only in {paths[0]}: {r}", file=sys.stderr)
            for r in sorted(b - a)[:5]:
                print(f"  only in {p}: {r}", file=sys.stderr)
    if not ok:
        sys.exit(1)
    print(f"identical: {len(ref)} rows, {sum(r[1] == 'true' for r in ref)} anomalous, in {len(paths)} files")


def cmd_quality(truth_path, first, last, method, verdicts):
    """Precision/recall of a verdict file against the generator's truth (src/gen/score.rs rules)."""
    import csv

    truth = {}
    with open(truth_path, newline="") as fh:
        for r in csv.DictReader(fh):
            if first <= r["day"] <= last:
                truth.setdefault(r["subscriber"], set()).add(r["day"])
    _, rows = read_rows(verdicts)
    flagged = {r[0]: r[2] for r in rows if r[2]}

    def pr(tp, fp, fn):
        return (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0)

    tp = sum(1 for s in flagged if s in truth)
    fp = len(flagged) - tp
    fn = len(truth) - tp
    sp, sr = pr(tp, fp, fn)
    dtp = sum(1 for s, d in flagged.items() if d in truth.get(s, ()))
    dfp = len(flagged) - dtp
    dfn = len(truth) - dtp
    dp, dr = pr(dtp, dfp, dfn)
    print(json.dumps({
        "method": method, "truth_subscribers": len(truth), "flagged": len(flagged),
        "sub_tp": tp, "sub_fp": fp, "sub_fn": fn, "sub_precision": sp, "sub_recall": sr,
        "day_tp": dtp, "day_fp": dfp, "day_fn": dfn, "day_precision": dp, "day_recall": dr,
    }))


def main(argv):
    cmd = argv[1]
    if cmd == "flags":
        q = json.loads(argv[2]) if argv[2].startswith("{") else json.load(open(argv[2]))[int(argv[3])]
        print(hotzone_flags(q))
    elif cmd == "query":
        print(json.dumps(json.load(open(argv[2]))[int(argv[3])]))
    elif cmd == "compare":
        cmd_compare(argv[2:])
    elif cmd == "quality":
        cmd_quality(argv[2], argv[3], argv[4], argv[5], argv[6])
    elif cmd == "scan":
        cmd_scan(argv[2], argv[3], argv[4], argv[5])
    elif cmd == "prepare":
        cmd_prepare(argv[2], argv[3], argv[4])
    elif cmd == "repeat":
        cmd_repeat(argv[2], argv[3], argv[4], int(argv[5]), argv[6], argv[7])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
