#!/usr/bin/env python3
"""hotzone.spark.scan vs the same SHARE query in Spark SQL, on one local Spark (BENCHMARKS.md,
"Spark (hotzone.spark)").

    bench/spark.py --tier S [--layout grouped|time|shuffled] [--runs 3] [--master local[2]]

Input: $BENCH_CACHE/TIER/events.parquet (events-LAYOUT.parquet for another layout), as
bench/run.sh writes it. A file with fewer than 16 row groups is first copied once with 16
row groups (same rows, same order) to $BENCH_CACHE/TIER/spark/, because Spark gives a row
group to one task: tier S is a single row group, which would leave one of the cores idle for
both engines.

Both engines read the same DataFrame (`spark.read.parquet`) and collect their verdicts to the
driver (`toArrow`). Per run and engine, in a job group of its own: wall time of the action, and
from the Spark UI's REST API the completed stages of the group's jobs: shuffle bytes written
and read, executor run time and CPU time, tasks. The rows of the two engines are compared with
each other and with the CLI's (`hotzone scan ... --output`) before any figure is printed.

Query (bench/run.sh's tier parameters): hotzone +234,+1876,+855,+88216 (prefixes, so SQL can
say it with startswith), look_back_days 30, threshold_ratio 0.3, min_events 3, SHARE, as_of
2026-10-30, Asia/Taipei. Spark SQL computes local days with to_date() under
spark.sql.session.timeZone = the query's zone (exact across DST as well).

Results: one JSON line per run and engine on stdout's last lines and in --out (default
$BENCH_CACHE/TIER/results/spark.jsonl).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HOTZONE = ["+234", "+1876", "+855", "+88216"]
QUERY = dict(
    hotzone=",".join(HOTZONE), look_back_days=30, threshold_ratio=0.3, min_events=3,
    method="share", as_of="2026-10-30", tz="Asia/Taipei",
)


def bench_input(cache: Path, tier: str, layout: str) -> Path:
    import pyarrow.parquet as pq

    name = "events.parquet" if layout == "grouped" else f"events-{layout}.parquet"
    src = cache / tier / name
    meta = pq.ParquetFile(src).metadata
    if meta.num_row_groups >= 16:
        return src
    dst = cache / tier / "spark" / name
    if dst.exists() and pq.ParquetFile(dst).metadata.num_rows == meta.num_rows:
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    t = pq.read_table(src)
    tmp = dst.with_suffix(".tmp")
    pq.write_table(t, tmp, row_group_size=-(-t.num_rows // 16), compression="zstd")
    tmp.rename(dst)
    return dst


def sql_text(view: str, q: dict) -> str:
    last = dt.date.fromisoformat(q["as_of"])
    first = last - dt.timedelta(days=q["look_back_days"] - 1)
    hot = " OR ".join(f"startswith(counterparty, '{p}')" for p in q["hotzone"].split(","))
    r = repr(float(q["threshold_ratio"]))
    m = int(q["min_events"])
    return f"""
    SELECT subscriber,
           bool_or(a) AS anomaly_detected,
           max(CASE WHEN a THEN d END) AS anomaly_date,
           CAST(count_if(a) AS INT) AS anomalous_days,
           min(CASE WHEN a THEN d END) AS first_anomaly_date
    FROM (
      SELECT subscriber, d,
             hot >= {m} AND CAST(hot AS DOUBLE) / CAST(total AS DOUBLE) >= {r} AS a
      FROM (
        SELECT subscriber, to_date(event_time) AS d,
               count(*) AS total, count_if({hot}) AS hot
        FROM {view}
        WHERE to_date(event_time) BETWEEN DATE'{first}' AND DATE'{last}'
        GROUP BY subscriber, to_date(event_time)
      )
    )
    GROUP BY subscriber
    """


def rest(ui: str, app: str, what: str):
    with urllib.request.urlopen(f"{ui}/api/v1/applications/{app}/{what}", timeout=30) as r:
        return json.load(r)


def group_metrics(spark, ui: str, group: str) -> dict:
    """Sums over the completed stages of the jobs of `group` (REST API of the Spark UI)."""
    sc = spark.sparkContext
    app = sc.applicationId
    for _ in range(60):  # the UI's listener is asynchronous: wait until the jobs are in
        jobs = [j for j in rest(ui, app, "jobs") if j.get("jobGroup") == group]
        if jobs and all(j["status"] != "RUNNING" for j in jobs):
            ids = set(sc.statusTracker().getJobIdsForGroup(group))
            if ids <= {j["jobId"] for j in jobs}:
                break
        time.sleep(0.5)
    stage_ids = {s for j in jobs for s in j["stageIds"]}
    out = dict(jobs=len(jobs), stages=0, tasks=0, shuffle_write_bytes=0, shuffle_read_bytes=0,
               shuffle_write_records=0, executor_run_ms=0, executor_cpu_ms=0.0, input_bytes=0)
    for _ in range(60):
        stages = [s for s in rest(ui, app, "stages?status=complete") if s["stageId"] in stage_ids]
        active = [s for s in rest(ui, app, "stages?status=active") if s["stageId"] in stage_ids]
        if not active:
            break
        time.sleep(0.5)
    for s in stages:
        out["stages"] += 1
        out["tasks"] += s["numCompleteTasks"]
        out["shuffle_write_bytes"] += s["shuffleWriteBytes"]
        out["shuffle_read_bytes"] += s["shuffleReadBytes"]
        out["shuffle_write_records"] += s["shuffleWriteRecords"]
        out["executor_run_ms"] += s["executorRunTime"]
        out["executor_cpu_ms"] += s["executorCpuTime"] / 1e6
        out["input_bytes"] += s["inputBytes"]
    return out


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system, with reaped children) of process `root` and every process
    below it: the local Spark JVM (driver and executor threads, GC, JIT) and its Python workers."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                raw = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            f = raw[raw.rindex(")") + 2 :].split()
            stats[int(d)] = (int(f[1]), sum(int(x) for x in f[11:15]))
    keep = {root}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in stats.items():
            if ppid in keep and pid not in keep:
                keep.add(pid)
                changed = True
    return sum(stats[p][1] for p in keep if p in stats) / tick


def rows_of(table) -> list:
    t = table.sort_by("subscriber")
    return [
        (r["subscriber"], bool(r["anomaly_detected"]), r["anomaly_date"], int(r["anomalous_days"]), r["first_anomaly_date"])
        for r in t.to_pylist()
    ]


def cli_rows(path: Path, q: dict, out: Path) -> list:
    hz = os.environ.get("HOTZONE", str(Path.home() / ".cache/hotzone-release/release/hotzone"))
    flags = ["--hotzone", q["hotzone"], "--look-back-days", str(q["look_back_days"]),
             "--threshold-ratio", str(q["threshold_ratio"]), "--min-events", str(q["min_events"]),
             "--method", q["method"], "--as-of", q["as_of"], "--tz", q["tz"]]
    subprocess.run([hz, "scan", str(path), *flags, "--output", str(out)], check=True, capture_output=True)
    rows = []
    for line in out.read_text().splitlines()[1:]:
        s, a, d, n, f = line.split(",")
        day = lambda x: dt.date.fromisoformat(x) if x else None  # noqa: E731
        rows.append((s, a == "true", day(d), int(n), day(f)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tier", default="S")
    ap.add_argument("--layout", default="grouped", choices=["grouped", "time", "shuffled"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="uncounted runs of each engine first")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="6g")
    ap.add_argument("--out")
    ap.add_argument("--engines", default="adapter,spark-sql",
                    help="comma-separated: adapter (reader auto: the kernel reads a plain Parquet scan), "
                         "adapter-spark-rows (reader='spark': rows through mapInArrow), spark-sql")
    a = ap.parse_args()

    cache = Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache/hotzone-bench"))
    path = bench_input(cache, a.tier, a.layout)
    out = Path(a.out) if a.out else cache / a.tier / "results" / "spark.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)

    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    import hotzone.spark as hs
    import pyarrow.parquet as pq

    n_events = pq.ParquetFile(path).metadata.num_rows
    spark = (
        SparkSession.builder.master(a.master).appName(f"hotzone-spark-bench-{a.tier}")
        .config("spark.driver.memory", a.driver_memory)
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", QUERY["tz"])
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    ui = spark.sparkContext.uiWebUrl
    df = spark.read.parquet(str(path))
    df.createOrReplaceTempView("events")
    partitions = df.rdd.getNumPartitions()

    def adapter():
        return hs.scan(df, **QUERY)

    def adapter_spark_rows():
        return hs.scan(df, reader="spark", **QUERY)

    def sql():
        return spark.sql(sql_text("events", QUERY))

    known = {"adapter": adapter, "adapter-spark-rows": adapter_spark_rows, "spark-sql": sql}
    engines = {name: known[name] for name in a.engines.split(",")}
    if "spark-sql" not in engines:
        sys.exit("--engines must include spark-sql (the baseline every ratio is taken against)")
    results = []
    rows = {}
    load = lambda: os.getloadavg()[0]  # noqa: E731
    jvm = spark.sparkContext._gateway.proc.pid
    for run in range(-a.warmup, a.runs):
        order = list(engines.items())
        if run % 2:
            order.reverse()  # alternate which engine goes first
        for name, build in order:
            group = f"{name}-{run}"
            spark.sparkContext.setJobGroup(group, group)
            load0 = load()
            c0 = tree_cpu_s(jvm)
            t0 = time.perf_counter()
            result = build()
            table = result.toArrow()
            wall = time.perf_counter() - t0
            reader = hs.summary(result)["reader"] if name != "spark-sql" else "spark"
            cpu = tree_cpu_s(jvm) - c0
            spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
            m = group_metrics(spark, ui, group)
            rows.setdefault(name, rows_of(table))
            if run < 0:
                print(f"warm-up {name}: {wall:.2f} s", flush=True)
                continue
            rec = dict(
                tier=a.tier, layout=a.layout, engine=name, reader=reader, run=run, events=n_events,
                input=str(path), input_partitions=partitions, verdicts=table.num_rows,
                wall_s=round(wall, 3), cpu_s=round(cpu, 2), cpu_ns_per_event=round(cpu * 1e9 / n_events, 1),
                load1_before=round(load0, 2), load1_after=round(load(), 2),
                shuffle_write_bytes_per_event=round(m["shuffle_write_bytes"] / n_events, 3),
                executor_run_ns_per_event=round(m["executor_run_ms"] * 1e6 / n_events, 1),
                executor_cpu_ns_per_event=round(m["executor_cpu_ms"] * 1e6 / n_events, 1),
                **m,
            )
            results.append(rec)
            print(json.dumps(rec, default=str), flush=True)

    cli = cli_rows(path, QUERY, out.parent / "spark-cli.csv")
    same = all(r == cli for r in rows.values())
    print("rows: " + ", ".join(f"{k} {len(v)}" for k, v in rows.items()) + f", CLI {len(cli)}; identical: {same}")
    if not same:
        for k, v in rows.items():
            print(k, "only:", sorted(set(v) - set(cli))[:5], "missing:", sorted(set(cli) - set(v))[:5])
    with out.open("a") as f:
        for r in results:
            f.write(json.dumps(dict(r, rows_identical=same, at=dt.datetime.utcnow().isoformat(timespec="seconds") + "Z"), default=str) + "\n")

    print(f"\n{a.tier} ({a.layout}), {n_events:,} events, {partitions} input partitions, {a.master}; "
          f"medians of {a.runs} runs (later runs: warm JVM and page cache)")
    print("| engine | wall s, median (runs) | CPU s (JVM + Python workers) | CPU ns/event | shuffle write B/event | shuffle write MB | task time ns/event | JVM task CPU ns/event | tasks |")
    print("|---|---|---|---|---|---|---|---|---|")
    med = {}
    for name in engines:
        rs = [r for r in results if r["engine"] == name]
        md = lambda k: statistics.median(r[k] for r in rs)  # noqa: E731
        med[name] = {k: md(k) for k in ("wall_s", "cpu_s", "shuffle_write_bytes", "executor_run_ns_per_event", "executor_cpu_ns_per_event", "tasks")}
        walls = ", ".join("%.2f" % r["wall_s"] for r in rs)
        print(f"| {name} | {md('wall_s'):.2f} ({walls}) | {md('cpu_s'):.2f} | {md('cpu_s') * 1e9 / n_events:.0f} | "
              f"{md('shuffle_write_bytes') / n_events:.2f} | {md('shuffle_write_bytes') / 1e6:.2f} | "
              f"{md('executor_run_ns_per_event'):.0f} | {md('executor_cpu_ns_per_event'):.0f} | {md('tasks'):.0f} |")
    for name in engines:
        if name == "spark-sql":
            continue
        ratio = med[name]["shuffle_write_bytes"] / max(1, med["spark-sql"]["shuffle_write_bytes"])
        print(f"{name}/sql: shuffle {ratio:.3f}, wall {med[name]['wall_s'] / med['spark-sql']['wall_s']:.2f}")
    spark.stop()
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
