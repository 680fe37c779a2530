"""hotzone.spark.scan on a local[2] Spark: conformance cases, equality with the CLI on
generated data split across files and partitions, rejects, strict, and the driver-side checks.

The suite runs on pyspark 4 and on pyspark 3.5 (`scripts/test` runs it on both): the
adapter needs nothing of 4.0; these tests read results with ``DataFrame.toArrow`` (4.0),
which 3.5 gets here from its own Arrow collection.

Nothing here is skipped: without pyspark (or Java) the module fails to import or the session
fixture fails. The CLI binary comes from $HOTZONE, else the release build in
$HOME/.cache/hotzone-release, else `hotzone` on PATH.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pyspark  # noqa: F401  (a missing pyspark fails the suite, never skips it)
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import hotzone
import hotzone.spark as hs
from hotzone import kernel

SPARK_4 = int(pyspark.__version__.split(".")[0]) >= 4

if not hasattr(DataFrame, "toArrow"):  # pyspark 3.5: the tests' reader only
    from pyspark.sql.pandas.types import to_arrow_schema

    def _to_arrow(self: DataFrame) -> pa.Table:
        return pa.Table.from_batches(self._collect_as_arrow(), schema=to_arrow_schema(self.schema))

    DataFrame.toArrow = _to_arrow  # type: ignore[attr-defined]

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "conformance"
HEADER = "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date"


def _cli() -> str:
    for c in (
        os.environ.get("HOTZONE"),
        str(Path.home() / ".cache/hotzone-release/release/hotzone"),
        shutil.which("hotzone"),
    ):
        if c and os.access(c, os.X_OK):
            return c
    raise RuntimeError("no hotzone CLI binary: set HOTZONE to one (cargo build --release)")


@pytest.fixture(scope="session")
def spark():
    # The Python workers must import the same hotzone as the driver.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    s = (
        SparkSession.builder.master("local[2]")
        .appName("hotzone-tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


# ----------------------------------------------------------------------------- helpers

_FLAGS = {
    "--hotzone": ("hotzone", str),
    "--look-back-days": ("look_back_days", int),
    "--threshold-ratio": ("threshold_ratio", float),
    "--method": ("method", str),
    "--check-type": ("check_type", str),
    "--check-target": ("check_target", str),
    "--min-events": ("min_events", int),
    "--as-of": ("as_of", str),
    "--tz": ("tz", str),
    "--default-region": ("default_region", str),
}


def params_of(args: list) -> dict:
    out = {}
    it = iter(args)
    for flag in it:
        name, conv = _FLAGS[flag]
        out[name] = conv(next(it))
    return out


def flags_of(params: dict) -> list:
    back = {v[0]: k for k, v in _FLAGS.items()}
    out = []
    for k, v in params.items():
        if v is not None:
            # the Python API takes any case; the CLI's flags take lower case
            out += [back[k], str(v).lower() if k in ("method", "check_type", "check_target") else str(v)]
    return out


def csv_text(df) -> str:
    """The verdict DataFrame as the CLI writes it (sorted by subscriber)."""
    t = df.orderBy("subscriber").toArrow()
    lines = [HEADER]
    for r in t.to_pylist():
        lines.append(
            ",".join(
                [
                    r["subscriber"],
                    "true" if r["anomaly_detected"] else "false",
                    r["anomaly_date"].isoformat() if r["anomaly_date"] else "",
                    str(r["anomalous_days"]),
                    r["first_anomaly_date"].isoformat() if r["first_anomaly_date"] else "",
                ]
            )
        )
    return "\n".join(lines) + "\n"


def cli_scan(inputs, params: dict, tmp: Path) -> str:
    out = tmp / "cli-out.csv"
    st = subprocess.run(
        [_cli(), "scan", *[str(i) for i in inputs], *flags_of(params), "--output", str(out)],
        capture_output=True, text=True,
    )
    assert st.returncode in (0, 2), st.stderr
    return out.read_text()


def read_csv_strings(spark, path):
    # Every column as text, as the CLI reads CSV.
    return spark.read.csv(str(path), header=True, inferSchema=False)


def cases():
    return sorted(p for p in CASES.iterdir() if (p / "args").exists())


# ----------------------------------------------------------------------------- conformance


def test_there_are_conformance_cases():
    assert len(cases()) >= 17


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.name)
def test_conformance_case(spark, case, tmp_path):
    params = params_of((case / "args").read_text().split())
    expected = (case / "expected.csv").read_text()
    inputs = [p for p in (case / "events.csv", case / "events.parquet") if p.exists()]
    assert inputs
    # The rows as a Parquet table partitioned by direction and kind, every column text (as
    # the CSV holds them): Spark gives the DataFrame the directories' values, and the kernel
    # reads them from the directory names (REFERENCE.md §2.5).
    import pyarrow.csv as pacsv
    import pyarrow.dataset as pads

    names = (case / "events.csv").read_text().splitlines()[0].split(",")
    text = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
    parted = tmp_path / "parted"
    pads.write_dataset(pacsv.read_csv(case / "events.csv", convert_options=text), parted, format="parquet",
                       partitioning=["direction", "kind"], partitioning_flavor="hive")
    df = spark.read.parquet(str(parted))
    assert csv_text(hs.scan(df, **params)) == expected, "partitioned"
    for path in inputs:
        df = read_csv_strings(spark, path) if path.suffix == ".csv" else spark.read.parquet(str(path))
        # The plain scan: the kernel reads a Parquet file's row groups itself (CSV: Spark).
        plain = hs.scan(df, **params)
        assert csv_text(plain) == expected, f"{path} (plain)"
        assert hs.summary(plain)["reader"] == ("kernel" if path.suffix == ".parquet" else "spark")
        # Three partitions in round-robin order: a subscriber's rows meet only in the reduce.
        df = df.repartition(3)
        got = hs.scan(df, **params)
        assert csv_text(got) == expected, path
        assert hs.summary(got)["reader"] == "spark"
        # And the default as_of, when the data's latest day is the case's as_of.
        if params.get("as_of"):
            p = dict(params, as_of=None)
            one = hotzone.scan(str(path), **p)
            if one.summary["window"] and one.summary["window"]["last"].isoformat() == params["as_of"]:
                assert csv_text(hs.scan(df, **p)) == expected, f"{path} without as_of"


def assert_bad_rows_counted(s: dict) -> None:
    """The summary of the bad_rows case read in one partition by Spark's rows."""
    assert s["rows"] == 13 and s["events"] == 7 and s["rejected"] == 6
    assert s["rejects"] == {
        "bad_direction": 1,
        "bad_event_time": 1,
        "bad_kind": 1,
        "missing_subscriber": 1,
        "subscriber_not_e164": 1,
        "subscriber_without_plus_no_default_region": 1,
    }
    assert s["reject_rows"][0] == ("partition 0", 8, "missing_subscriber")
    assert s["subscribers"] == 2 and s["anomalous"] == 1


def test_bad_rows_case_counts_every_reason(spark):
    case = CASES / "bad_rows"
    params = params_of((case / "args").read_text().split())
    df = read_csv_strings(spark, case / "events.csv").coalesce(1)
    res = hs.scan(df, **params)
    assert csv_text(res) == (case / "expected.csv").read_text()
    s = hs.summary(res)
    assert_bad_rows_counted(s)
    assert s["map_partitions_reported"] == s["map_partitions"] == 1
    # A second action on the same DataFrame does not count the rows twice.
    res.count()
    assert hs.summary(res)["rejected"] == 6


def test_a_summary_of_all_rejected_rows_counts_its_empty_partitions(spark):
    # Every row rejected and no as_of: no window, so the summary is the latest-day pass's,
    # which left out its empty partitions (4 of 6 reported for ever; an adversarial pass).
    case = CASES / "bad_rows"
    params = params_of((case / "args").read_text().split())
    params = dict(params, as_of=None)
    from pyspark.sql import functions as F

    # National numbers and no default region: every row rejected.
    df = read_csv_strings(spark, case / "events.csv").withColumn("subscriber", F.lit("0911234550"))
    df = df.repartition(6, "kind")
    sizes = df.rdd.mapPartitions(lambda it: [sum(1 for _ in it)]).collect()
    assert 0 in sizes and sum(sizes) > 0  # the case is not vacuous
    res = hs.scan(df, **params)
    assert res.count() == 0
    s = hs.summary(res)
    assert s["window"] is None and s["rejected"] == sum(sizes)
    assert s["map_partitions_reported"] == s["map_partitions"] == 6


def test_strict_fails_the_job_with_the_kernels_message(spark):
    case = CASES / "bad_rows"
    params = params_of((case / "args").read_text().split())
    df = read_csv_strings(spark, case / "events.csv").coalesce(1)
    res = hs.scan(df, **dict(params, strict=True))  # as_of given: lazy until the action
    with pytest.raises(Exception) as e:
        res.collect()
    assert "partition 0: row 8: subscriber is missing" in str(e.value)
    # Without as_of the as_of job meets the row first: hotzone.RowError on the driver.
    with pytest.raises(hotzone.RowError, match=r"partition 0: row 8: subscriber is missing"):
        hs.scan(df, **dict(params, strict=True, as_of=None))


# ----------------------------------------------------------------------------- generated data


def _gen(tmp: Path, name: str, *, end: str, tz: str, days: int = 30, subscribers: int = 2000, fmt="parquet") -> Path:
    out = tmp / f"{name}.{fmt}"
    st = subprocess.run(
        [_cli(), "gen", "--subscribers", str(subscribers), "--days", str(days), "--end", end, "--tz", tz,
         "--layout", "shuffled", "--seed", "7", "--output", str(out)],
        capture_output=True, text=True,
    )
    assert st.returncode == 0, st.stderr
    return out


def _split_parquet(src: Path, dest: Path, parts: int) -> Path:
    dest.mkdir()
    t = pq.read_table(src)
    step = -(-t.num_rows // parts)
    for i in range(parts):
        pq.write_table(t.slice(i * step, step), dest / f"part-{i}.parquet")
    return dest


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Two generated exports (2000 subscribers x 30 days each, Europe/Berlin, one around each
    of 2026's DST changes), each split into 4 Parquet files."""
    tmp = tmp_path_factory.mktemp("gen")
    out = {}
    for name, end in (("autumn", "2026-10-30"), ("spring", "2026-04-05")):
        f = _gen(tmp, name, end=end, tz="Europe/Berlin")
        out[name] = _split_parquet(f, tmp / f"{name}-parts", 4)
    return out


def _spread(spark, folder: Path):
    df = spark.read.parquet(str(folder)).repartition(5)
    # One subscriber's events sit in several partitions.
    spread = (
        df.withColumn("pid", F.spark_partition_id())
        .groupBy("subscriber").agg(F.countDistinct("pid").alias("n"))
        .where("n > 1").count()
    )
    assert spread > 100
    return df


QUERIES = [
    # (data, params): SHARE and SPIKE, several windows, zones; the DST changes of Europe/Berlin
    # (2026-03-29, 2026-10-25) inside the window of the Berlin queries.
    ("autumn", dict(hotzone="NG,JM,KH,+88216", look_back_days=30, threshold_ratio=0.3, as_of="2026-10-30", tz="Europe/Berlin")),
    ("autumn", dict(hotzone="NG,JM,KH,+88216", look_back_days=7, threshold_ratio=0.5, as_of="2026-10-28", tz="Europe/Berlin")),
    ("autumn", dict(hotzone="NG,JM,KH,+88216", look_back_days=14, threshold_ratio=3.0, method="spike", min_events=2, as_of="2026-10-29", tz="Europe/Berlin")),
    ("autumn", dict(hotzone="+234,+1876,+855,+88216", look_back_days=21, threshold_ratio=0.4, as_of="2026-10-30", tz="Asia/Taipei", check_target="incoming")),
    ("autumn", dict(hotzone="NG,JM,KH,+88216", look_back_days=30, threshold_ratio=2.0, method="SPIKE", as_of="2026-10-30", tz="America/New_York", check_type="call")),
    ("spring", dict(hotzone="NG,JM,KH,+88216", look_back_days=10, threshold_ratio=0.3, as_of="2026-04-02", tz="Europe/Berlin")),
    ("spring", dict(hotzone="NG,JM,KH,+88216", look_back_days=30, threshold_ratio=1.5, method="spike", as_of="2026-04-05", tz="Europe/Berlin")),
    ("spring", dict(hotzone="NG,JM", look_back_days=5, threshold_ratio=0.2, as_of=None, tz="Europe/Berlin")),
]


@pytest.mark.parametrize("data,params", QUERIES, ids=[f"{d}-{p['method'] if 'method' in p else 'share'}-{p['look_back_days']}d-{p['tz']}" for d, p in QUERIES])
def test_generated_equals_the_cli(spark, generated, tmp_path, data, params):
    folder = generated[data]
    expected = cli_scan([folder], params, tmp_path)
    assert expected.count("\n") > 1000  # the comparison is not vacuous
    got = hs.scan(_spread(spark, folder), **params)
    assert csv_text(got) == expected
    s = hs.summary(got)
    assert s["rejected"] == 0 and s["map_partitions_reported"] == 5


def test_explicit_reduce_partitions(spark, generated, tmp_path):
    params = dict(hotzone="NG,JM,KH,+88216", look_back_days=30, threshold_ratio=0.3, as_of="2026-10-30", tz="Europe/Berlin")
    expected = cli_scan([generated["autumn"]], params, tmp_path)
    got = hs.scan(_spread(spark, generated["autumn"]), partitions=3, **params)
    assert got.rdd.getNumPartitions() == 3
    assert csv_text(got) == expected
    s = hs.summary(got)
    assert s["reduce_partitions_reported"] == 3
    assert s["subscribers"] == expected.count("\n") - 1


def test_generated_with_bad_rows_counts_them_like_the_cli(spark, tmp_path):
    src = _gen(tmp_path, "csvgen", end="2026-10-30", tz="Asia/Taipei", subscribers=500, fmt="csv")
    lines = src.read_text().splitlines()
    bad = (CASES / "bad_rows" / "events.csv").read_text().splitlines()[8:]  # its 6 bad rows
    assert len(bad) == 6
    bad.append("2026-10-29T12:00:00Z,+886912345009,+2348021234567,in,call,-4")  # bad_duration
    header, body = lines[0], lines[1:]
    assert header.startswith("event_time,subscriber,counterparty,direction,kind,duration_s")
    parts = tmp_path / "parts"
    parts.mkdir()
    k = len(body) // 3
    chunks = [body[:k] + bad[:3], body[k : 2 * k] + bad[3:], body[2 * k :]]
    for i, c in enumerate(chunks):
        (parts / f"part-{i}.csv").write_text("\n".join([header] + c) + "\n")
    params = dict(hotzone="NG,JM,KH,+88216", look_back_days=30, threshold_ratio=0.3, as_of="2026-10-30", tz="Asia/Taipei")
    expected = cli_scan([parts], params, tmp_path)
    one = hotzone.scan(str(parts), **params).summary
    df = read_csv_strings(spark, parts).repartition(4)
    got = hs.scan(df, **params)
    assert csv_text(got) == expected
    s = hs.summary(got)
    assert s["rejected"] == one["rejected"] == 7
    assert s["rejects"] == one["rejects"]
    assert s["rejects"]["bad_duration"] == 1
    assert s["rows"] == one["rows"] and s["events"] == one["events"]
    assert s["unknown_counterparties"] == one["unknown_counterparties"]
    assert len(s["reject_rows"]) == 7
    assert s["subscribers"] == one["subscribers"] and s["anomalous"] == one["anomalous"]


def test_column_mapping_and_extra_columns(spark, generated, tmp_path):
    params = dict(hotzone="NG,JM,KH,+88216", look_back_days=30, threshold_ratio=0.3, as_of="2026-10-30", tz="Europe/Berlin")
    expected = cli_scan([generated["autumn"]], params, tmp_path)
    df = (
        spark.read.parquet(str(generated["autumn"]))
        .withColumnRenamed("subscriber", "msisdn")
        .withColumnRenamed("event_time", "ts")
        .withColumn("cell_id", F.lit("x"))
        .withColumn("subscriber", F.lit("not a number"))  # a mapped name wins, as in the CLI
    )
    got = hs.scan(df, columns={"msisdn": "subscriber", "ts": "event_time"}, **params)
    assert csv_text(got) == expected
    # Only the kernel's columns enter the Python tasks.
    plan = got._jdf.queryExecution().executedPlan().toString()
    assert "cell_id" not in plan


def test_explain_matches_the_python_scan(spark, generated):
    params = dict(hotzone="NG,JM,KH,+88216", look_back_days=7, threshold_ratio=0.3, as_of="2026-10-30", tz="Europe/Berlin")
    one = hotzone.scan(str(generated["autumn"]), explain=True, **params).table
    got = hs.scan(_spread(spark, generated["autumn"]), explain=True, **params).orderBy("subscriber").toArrow()
    assert got.column("days").to_pylist() == one.column("days").to_pylist()
    assert got.column("subscriber").to_pylist() == one.column("subscriber").to_pylist()


def test_empty_and_all_rejected_inputs(spark):
    params = dict(hotzone="NG", look_back_days=3, threshold_ratio=0.5, tz="UTC")
    df = spark.createDataFrame([("yesterday", "+886912345001", "+2348021234567", "in", "call")],
                               "event_time string, subscriber string, counterparty string, direction string, kind string")
    none = hs.scan(df, **params)
    assert none.count() == 0  # no accepted row, no as_of: no window, no rows
    s = hs.summary(none)
    assert s["window"] is None and s["rows"] == 1 and s["rejects"] == {"bad_event_time": 1}
    res = hs.scan(df, as_of="2026-03-10", **params)
    assert res.count() == 0
    assert hs.summary(res)["rejects"] == {"bad_event_time": 1}


# ----------------------------------------------------------------------------- the kernel's own read


@pytest.fixture(scope="module")
def grouped_files(generated, tmp_path_factory):
    """The autumn export as three Parquet files of many row groups each."""
    dest = tmp_path_factory.mktemp("groups")
    t = pq.read_table(generated["autumn"])
    step = -(-t.num_rows // 3)
    for i in range(3):
        pq.write_table(t.slice(i * step, step), dest / f"part-{i}.parquet", row_group_size=3000)
    return dest


def test_a_plain_parquet_scan_is_read_by_the_kernel_in_row_group_tasks(spark, grouped_files, tmp_path):
    params = QUERIES[2][1]
    expected = cli_scan([grouped_files], params, tmp_path)
    assert expected.count("\n") > 1000
    sizes = [g for f, _ in kernel.probe_parquet(sorted(map(str, grouped_files.iterdir()))) for g in f]
    groups, largest = len(sizes), max(sizes)
    df = spark.read.parquet(str(grouped_files))
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, str(int(2.5 * largest)))  # several tasks per file, cut between row groups
    try:
        got = hs.scan(df, **params)
        assert csv_text(got) == expected
    finally:
        spark.conf.set(key, before)
    s = hs.summary(got)
    one = hotzone.scan(str(grouped_files), **params).summary
    assert s["reader"] == "kernel" and s["files"] == 3
    assert 3 < s["map_partitions"] < groups and s["map_partitions_reported"] == s["map_partitions"]
    assert (s["rows"], s["events"], s["rejected"]) == (one["rows"], one["events"], 0)
    assert s["unknown_counterparties"] == one["unknown_counterparties"]
    # The same DataFrame through Spark's rows: the same answer.
    spark_rows = hs.scan(df, reader="spark", **params)
    assert csv_text(spark_rows) == expected and hs.summary(spark_rows)["reader"] == "spark"
    # Without as_of: the latest day is found by the kernel's read as well.
    p = dict(QUERIES[-1][1])
    assert csv_text(hs.scan(spark.read.parquet(str(grouped_files)), **p)) == cli_scan([grouped_files], p, tmp_path)


@contextlib.contextmanager
def _micros_timestamps(spark):
    """Spark writes Parquet timestamps as TIMESTAMP_MICROS inside the block (its default,
    INT96, goes through Spark's rows, not the kernel's reader)."""
    key = "spark.sql.parquet.outputTimestampType"
    before = spark.conf.get(key)
    spark.conf.set(key, "TIMESTAMP_MICROS")
    try:
        yield
    finally:
        spark.conf.set(key, before)


def test_a_table_whose_dictionaries_fall_back_is_read_by_the_kernel(spark, grouped_files, tmp_path):
    """Spark (parquet-mr) writes each string column with a dictionary page and falls back to
    plain pages once the dictionary passes ``parquet.dictionary.page.size`` (1 MiB; 2 KiB
    here, with pages of about 100 values, so that pages are written before it overflows):
    those chunks are read from their pages by the kernel, the dictionary-encoded rows as
    spans into the dictionary. Same verdicts and counts as the files pyarrow wrote."""
    params = dict(QUERIES[0][1])
    expected = cli_scan([grouped_files], params, tmp_path)
    out = tmp_path / "fallback"
    with _micros_timestamps(spark):
        # Rows in the export's order (each subscriber's events together), so that a first
        # page of few numbers is worth a dictionary, which then outgrows its limit.
        (spark.read.parquet(str(grouped_files)).write
         .option("parquet.dictionary.page.size", "2048").option("parquet.page.size", "64")
         .parquet(str(out)))
    chunks = [pq.ParquetFile(f).metadata.row_group(0).column(1) for f in out.glob("*.parquet")]
    assert chunks and all(c.path_in_schema == "subscriber" for c in chunks)
    mixed = [c for c in chunks if c.has_dictionary_page and {"PLAIN", "PLAIN_DICTIONARY"} <= set(c.encodings)]
    assert mixed, [c.encodings for c in chunks]
    got = hs.scan(spark.read.parquet(str(out)), **params)
    assert csv_text(got) == expected
    s = hs.summary(got)
    assert s["reader"] == "kernel", s
    one = hotzone.scan(str(grouped_files), **params).summary
    assert (s["rows"], s["events"], s["rejected"]) == (one["rows"], one["events"], 0)
    assert cli_scan([out], params, tmp_path) == expected


def test_a_table_partitioned_by_text_columns_is_read_by_the_kernel(spark, grouped_files, tmp_path):
    """``partitionBy("kind", "direction")``: the values live in the directory names only, and
    the kernel reads them from there as Spark does (REFERENCE.md §2.5): same verdicts and
    counts as the unpartitioned files, through the kernel's reader."""
    params = dict(QUERIES[0][1])
    expected = cli_scan([grouped_files], params, tmp_path)
    hive = tmp_path / "by_kind_direction"
    with _micros_timestamps(spark):
        spark.read.parquet(str(grouped_files)).write.partitionBy("kind", "direction").parquet(str(hive))
    assert any("kind=" in str(p) and "direction=" in str(p) for p in hive.rglob("*.parquet"))
    df = spark.read.parquet(str(hive))
    got = hs.scan(df, **params)
    assert csv_text(got) == expected
    s = hs.summary(got)
    assert s["reader"] == "kernel", s
    one = hotzone.scan(str(grouped_files), **params).summary
    assert (s["rows"], s["events"], s["rejected"]) == (one["rows"], one["events"], 0)
    assert csv_text(hs.scan(df, reader="spark", **params)) == expected
    # Selections by kind and by direction read the directories' values.
    for q in (QUERIES[3][1], QUERIES[4][1]):  # incoming only; calls only
        assert csv_text(hs.scan(df, reader="kernel", **q)) == cli_scan([grouped_files], q, tmp_path)


def _not_plain(spark, grouped_files, tmp_path):
    """DataFrames over Parquet files whose rows are not the files' rows (or not all of their
    columns), each with the reason the kernel's reader gives."""
    plain = spark.read.parquet(str(grouped_files))
    cols = [c for c in plain.columns if c != "counterparty"]
    # A partition column that the files hold too: Spark reads the directory's value, the
    # kernel would read the file's (pyarrow keeps `kind` in the files below `kind=…/`).
    import pyarrow.compute as pc

    both = tmp_path / "kind_twice"
    for i, f in enumerate(sorted(grouped_files.glob("*.parquet"))):
        t = pq.read_table(f)
        for k in ("call", "sms"):
            part = t.filter(pc.equal(t["kind"], k))
            (both / f"kind={k}").mkdir(parents=True, exist_ok=True)
            pq.write_table(part, both / f"kind={k}" / f"part-{i}.parquet")
    return [
        (plain.where("direction = 'in'"), "plan has Filter"),
        (plain.withColumn("subscriber", F.concat(F.lit("+"), F.substring("subscriber", 2, 20))), "computes a column"),
        (plain.select(*cols), "other columns"),
        (spark.read.parquet(str(both)), "a partition column a file also holds"),
        (read_csv_strings(spark, CASES / "bad_rows" / "events.csv"), "not plain Parquet"),
        (plain.repartition(2), "Repartition"),
        # Timestamps asked for as long: Spark gives the raw ticks, the kernel would read times.
        (spark.read.schema(", ".join(f"{f.name} {'long' if f.name == 'event_time' else f.dataType.simpleString()}"
                                     for f in plain.schema.fields)).parquet(str(grouped_files)),
         "column event_time of .* holds timestamp values that Spark reads as bigint"),
        (spark.read.option("ignoreCorruptFiles", "true").parquet(str(grouped_files)), "ignoreCorruptFiles is set"),
        # A file listed again beside its directory: Spark reads it twice, two listings may
        # share a task, and the kernel reads a row group once (its read failed in one task).
        (spark.read.parquet(str(grouped_files), str(sorted(grouped_files.glob("*.parquet"))[0])),
         "a file is listed more than once"),
    ]


def test_what_the_kernel_cannot_read_as_it_is_goes_through_spark(spark, grouped_files, tmp_path):
    params = dict(QUERIES[0][1])
    for df, why in _not_plain(spark, grouped_files, tmp_path):
        with pytest.raises(ValueError, match=f"reader='kernel' cannot read this DataFrame: .*{why}"):
            hs.scan(df, reader="kernel", **params)
        assert hs.summary(hs.scan(df, **params))["reader"] == "spark", why
    # ... and the answer of a filtered frame is the one of the filtered rows.
    filtered = spark.read.parquet(str(grouped_files)).where("direction = 'in'")
    kept = tmp_path / "kept.parquet"
    pq.write_table(filtered.toArrow(), kept)
    assert csv_text(hs.scan(filtered, **params)) == cli_scan([kept], params, tmp_path)
    with pytest.raises(ValueError, match="reader must be one of auto, kernel, spark"):
        hs.scan(filtered, reader="jvm", **params)


def test_parquet_summary_files_and_caches_are_not_read_by_the_kernel(spark, grouped_files, tmp_path):
    """A listing's `_metadata` (row groups of the other files) and `_common_metadata` are not
    data: Spark skips them, and so does the kernel's read. A cached DataFrame is Spark's."""
    params = dict(QUERIES[0][1])
    expected = cli_scan([grouped_files], params, tmp_path)
    folder = tmp_path / "with-metadata"
    folder.mkdir()
    collected = []
    for f in sorted(grouped_files.iterdir()):
        shutil.copy(f, folder / f.name)
        md = pq.ParquetFile(f).metadata
        md.set_file_path(f.name)
        collected.append(md)
    schema = pq.read_schema(folder / "part-0.parquet")
    pq.write_metadata(schema, folder / "_metadata", metadata_collector=collected)
    pq.write_metadata(schema, folder / "_common_metadata")
    got = hs.scan(spark.read.parquet(str(folder)), **params)
    assert csv_text(got) == expected
    s = hs.summary(got)
    assert s["reader"] == "kernel" and s["files"] == 3
    cached = spark.read.parquet(str(folder)).cache()
    try:
        with pytest.raises(ValueError, match="cached"):
            hs.scan(cached, reader="kernel", **params)
        assert csv_text(hs.scan(cached, **params)) == expected
    finally:
        cached.unpersist()


def test_rejects_and_strict_name_the_file_row_when_the_kernel_reads(spark, tmp_path):
    case = CASES / "bad_rows"
    params = params_of((case / "args").read_text().split())
    path = tmp_path / "bad_rows.parquet"
    pq.write_table(pacsv_strings(case / "events.csv"), path)
    df = spark.read.parquet(str(path))
    res = hs.scan(df, **params)
    assert csv_text(res) == (case / "expected.csv").read_text()
    s = hs.summary(res)
    one = hotzone.scan(str(path), **params).summary
    assert s["reader"] == "kernel"
    assert s["rejects"] == one["rejects"] and s["rejected"] == 6
    assert sorted(s["reject_rows"]) == sorted(tuple(r) for r in one["reject_rows"])
    assert (str(path), 8, "missing_subscriber") in s["reject_rows"]
    with pytest.raises(Exception) as e:
        hs.scan(df, **dict(params, strict=True)).collect()
    assert f"{path}: row 8: subscriber is missing" in str(e.value)
    with pytest.raises(hotzone.RowError, match=f"{path}: row 8: subscriber is missing"):
        hs.scan(df, **dict(params, strict=True, as_of=None))


def pacsv_strings(path: Path) -> pa.Table:
    import pyarrow.csv as pacsv

    names = path.read_text().splitlines()[0].split(",")
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}))


def test_column_mapping_with_the_kernels_reader(spark, generated, tmp_path):
    params = dict(QUERIES[0][1])
    expected = cli_scan([generated["autumn"]], params, tmp_path)
    t = pq.read_table(generated["autumn"])
    renamed = tmp_path / "renamed.parquet"
    pq.write_table(t.rename_columns(["msisdn" if c == "subscriber" else "ts" if c == "event_time" else c
                                     for c in t.column_names]), renamed)
    got = hs.scan(spark.read.parquet(str(renamed)), columns={"msisdn": "subscriber", "ts": "event_time"}, **params)
    assert csv_text(got) == expected
    assert hs.summary(got)["reader"] == "kernel"


# ----------------------------------------------------------------------------- driver checks


def _no_job_runs(spark, fn):
    """Runs fn in a fresh job group and returns the ids of the jobs it started."""
    sc = spark.sparkContext
    group = f"hz-check-{dt.datetime.now().timestamp()}"
    sc.setJobGroup(group, "driver-side checks")
    try:
        fn()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    return sc.statusTracker().getJobIdsForGroup(group)


def _events_df(spark):
    return spark.createDataFrame(
        [("2026-03-10T12:00:00Z", "+886912345001", "+2348021234567", "in", "call")],
        "event_time string, subscriber string, counterparty string, direction string, kind string",
    )


def test_missing_column_fails_before_any_job(spark):
    df = _events_df(spark).drop("kind")
    errors = []

    def run():
        with pytest.raises(ValueError, match=r"lacks the required column\(s\) kind") as e:
            hs.scan(df, hotzone="NG", look_back_days=1, threshold_ratio=0.5)  # as_of omitted too
        errors.append(e)

    assert _no_job_runs(spark, run) == []
    assert errors
    # A mapping to a column that is not there is the same error.
    with pytest.raises(ValueError, match="subscriber"):
        hs.scan(_events_df(spark).withColumnRenamed("subscriber", "msisdn"), hotzone="NG",
                look_back_days=1, threshold_ratio=0.5, columns={"imsi": "subscriber"})
    with pytest.raises(ValueError, match="not a canonical column"):
        hs.scan(_events_df(spark), hotzone="NG", look_back_days=1, threshold_ratio=0.5, columns={"x": "number"})
    # A name that may be a phone number is named, not shown, as in every message.
    with pytest.raises(ValueError, match="not shown") as e:
        hs.scan(_events_df(spark), hotzone="NG", look_back_days=1, threshold_ratio=0.5,
                columns={"x": "+886912345678"})
    assert "12345678" not in str(e.value)


@pytest.mark.parametrize(
    "bad,message",
    [
        (dict(look_back_days=0), "look_back_days"),
        (dict(look_back_days=91), "look_back_days"),
        (dict(threshold_ratio=1.5), "threshold"),
        (dict(method="spike", threshold_ratio=0.5), "threshold"),
        (dict(method="median"), "method"),
        (dict(check_type="fax"), "check"),
        (dict(hotzone="ZZ"), "ZZ"),
        (dict(tz="Mars/Base"), "Mars"),
        (dict(as_of="2026-13-01"), "as_of|2026-13-01"),
        (dict(min_events=0), "min_events"),
    ],
)
def test_bad_parameter_fails_before_any_job(spark, bad, message):
    params = dict(hotzone="NG", look_back_days=1, threshold_ratio=0.5)
    params.update(bad)
    df = _events_df(spark)

    def run():
        with pytest.raises(ValueError, match=message):
            hs.scan(df, **params)

    assert _no_job_runs(spark, run) == []
    # the same message as hotzone.scan's (the CLI's)
    with pytest.raises(ValueError) as one:
        hotzone.scan(pa.table({"event_time": ["x"], "subscriber": ["x"], "direction": ["in"], "kind": ["call"]}), **params)
    with pytest.raises(ValueError) as sp:
        hs.scan(df, **params)
    assert str(sp.value) == str(one.value)


def test_column_names_resolve_as_the_kernel_resolves_them():
    """Trimmed names; of several export names for one field, the first the frame has; a
    mapped name wins over the canonical one (the kernel's ``ColumnMap::resolve``)."""
    cols = ["event_time", "subscriber", "msisdn", "counterparty", "direction", "kind"]
    two = {" a_number ": "subscriber", "msisdn": " subscriber"}
    assert ("msisdn", "subscriber") in hs._resolve(cols, two)
    assert ("subscriber", "subscriber") in hs._resolve([c for c in cols if c != "msisdn"], two)
    assert ("a=b", "subscriber") in hs._resolve(["a=b", *cols], {"a=b": "subscriber"})
    # In another ASCII case when not found as written; the exact name first.
    upper = ["EVENT_TIME", "Subscriber", "COUNTERPARTY", "direction", "KIND"]
    assert hs._resolve(upper, None) == [(c, c.lower()) for c in upper]
    assert ("subscriber", "subscriber") in hs._resolve(["SUBSCRIBER", *cols], None)
    assert ("MSISDN", "subscriber") in hs._resolve(["MSISDN", *upper], {"msisdn": "subscriber"})
    # Any name as written first: `subscriber` beside `MSISDN` under the mapping `msisdn`.
    no_msisdn = [c for c in cols if c != "msisdn"]
    assert ("subscriber", "subscriber") in hs._resolve(["MSISDN", *no_msisdn], {"msisdn": "subscriber"})
    # A header of values (a file without one) is not quoted back.
    with pytest.raises(ValueError, match="has the file a header row") as e:
        hs._resolve(["2026-03-10T12:00:00Z", "+886912345678", "+2348031234000", "in", "call"], None)
    assert "912345678" not in str(e.value)


def test_column_names_in_another_case_scan_as_the_canonical_ones(spark):
    df = _events_df(spark)
    upper = df.toDF(*[c.upper() for c in df.columns])
    params = dict(hotzone="NG", look_back_days=1, threshold_ratio=0.5, min_events=1, as_of="2026-03-10")
    got = csv_text(hs.scan(upper, **params))
    assert got == csv_text(hs.scan(df, **params))
    assert "+886912345001,true,2026-03-10" in got


def test_a_named_hotzone_is_read_on_the_driver(spark, tmp_path):
    named = tmp_path / "zones.toml"
    named.write_text('ng = ["NG"]\n')
    df = _events_df(spark)
    params = dict(look_back_days=1, threshold_ratio=0.5, min_events=1, as_of="2026-03-10")
    got = hs.scan(df, hotzone="@ng", hotzones_file=str(named), **params)
    assert csv_text(got) == csv_text(hs.scan(df, hotzone="NG", **params))
    assert "+886912345001,true,2026-03-10" in csv_text(got)
    with pytest.raises(ValueError, match="give hotzones_file="):
        hs.scan(df, hotzone="@ng", **params)


def test_fractional_or_zero_threads_and_partitions_fail_before_any_job(spark):
    df = _events_df(spark)
    for bad in (dict(threads=2.5), dict(partitions=1.5), dict(threads=0), dict(partitions=True)):
        name = next(iter(bad))

        def run(bad=bad, name=name):
            with pytest.raises(ValueError, match=f"{name} must be"):
                hs.scan(df, hotzone="NG", look_back_days=1, threshold_ratio=0.5, as_of="2026-03-10", **bad)

        assert _no_job_runs(spark, run) == [], bad


def test_unreadable_column_type_fails_before_any_job(spark):
    df = _events_df(spark).withColumn("event_time", F.array(F.lit(1)))

    def run():
        with pytest.raises(ValueError, match="event_time has Spark type array<int>"):
            hs.scan(df, hotzone="NG", look_back_days=1, threshold_ratio=0.5, as_of="2026-03-10")

    assert _no_job_runs(spark, run) == []


def test_float_and_binary_columns_are_read_as_the_kernel_reads_them(spark):
    """Spark's float and binary columns pass the driver's type check and read as they read
    from Arrow in the Python scan: an integral float is its integer, binary is UTF-8 text."""
    noon = 1773144000000  # 2026-03-10T12:00:00Z
    rows = [(float(noon + 60_000 * i), b"+886912345001", f"+23480212345{i:02}", "in", "call", 60.0)
            for i in range(3)]
    rows.append((noon + 0.5, b"+886912345001", "+886221234567", "in", "call", 60.0))
    ddl = "event_time double, subscriber binary, counterparty string, direction string, kind string, duration_s double"
    df = spark.createDataFrame(rows, ddl)
    params = dict(hotzone="NG", look_back_days=2, threshold_ratio=0.5, as_of="2026-03-10", tz="UTC")
    res = hs.scan(df, **params)
    want = hotzone.scan(pa.Table.from_pandas(df.toPandas()), **params)
    assert csv_text(res) == "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date\n" \
        "+886912345001,true,2026-03-10,1,2026-03-10\n"
    assert hs.summary(res)["rejects"] == want.summary["rejects"] == {"bad_event_time": 1}


def test_decimal_columns_pass_the_type_check_and_read_as_their_integers(spark):
    """Spark decimals (a NUMBER(12,2) export) pass the driver's check and read as their
    integers, as the Python scan reads them from Arrow."""
    from decimal import Decimal

    noon = dt.datetime(2026, 3, 10, 12, tzinfo=dt.timezone.utc)
    rows = [(noon, Decimal("912345678.00"), "+2348021234567", "in", "call", Decimal("60"))] * 3
    rows.append((noon, Decimal("912345678.25"), "+2348021234567", "in", "call", Decimal("60")))
    ddl = ("event_time timestamp, subscriber decimal(12,2), counterparty string, direction string, "
           "kind string, duration_s decimal(10,0)")
    df = spark.createDataFrame(rows, ddl)
    params = dict(hotzone="NG", look_back_days=1, threshold_ratio=0.5, as_of="2026-03-10", tz="UTC",
                  default_region="TW")
    res = hs.scan(df, **params)
    assert csv_text(res) == "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date\n" \
        "+886912345678,true,2026-03-10,1,2026-03-10\n"
    assert hs.summary(res)["rejects"] == {"subscriber_not_e164": 1}


def test_void_columns_spaced_names_and_an_empty_as_of_read_as_hotzone_scan_reads_them(spark):
    """A counterparty made ``F.lit(None)`` (Spark's void) was refused; a ``"MSISDN "`` column
    could not be mapped; ``as_of=""`` failed with Python's own message. Each now reads as
    ``hotzone.scan`` reads the same frame."""
    rows = [("2026-03-10T12:00:00Z", "+886912345678", "+2348021234567", "in", "call")] * 3
    df = spark.createDataFrame(rows, "event_time string, `MSISDN ` string, counterparty string, direction string, kind string")
    params = dict(hotzone="NG", look_back_days=1, threshold_ratio=0.5, tz="UTC", min_events=1)
    spaced = hs.scan(df, columns={"MSISDN": "subscriber"}, as_of="", **params)
    assert csv_text(spaced) == "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date\n" \
        "+886912345678,true,2026-03-10,1,2026-03-10\n"
    void = df.withColumn("counterparty", F.lit(None))
    res = hs.scan(void, columns={"MSISDN ": "subscriber"}, as_of="2026-03-10", **params)
    want = hotzone.scan(pa.Table.from_pandas(void.toPandas()), columns={"MSISDN ": "subscriber"},
                        as_of="2026-03-10", **params)
    assert csv_text(res) == "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date\n" \
        "+886912345678,false,,0,\n"
    assert hs.summary(res)["unknown_counterparties"] == want.summary["unknown_counterparties"] == 3


# ----------------------------------------------------------------------------- packing


def test_pack_round_trip_every_width():
    from hotzone.kernel import STATE_SCHEMA

    first = (dt.date(2026, 3, 1) - dt.date(1970, 1, 1)).days
    near = [886912345001, 886912345001, 886912345002, 886912345009, 886912345009, 886912345009]
    far = [12025550100, 12025550100, 447700900123, 886912345009, 886912345009, 999999999999999]  # gaps > 2**32
    for top, subs in [(t, near) for t in (3, 300, 70000, 4_000_000_000)] + [(5, far), (70000, far)]:
        days = [first, first + 89, first + 5, first, first + 1, first + 2]
        hot = [0, 1, 2, 0, top, 0]
        total = [1, 1, 2, top, top, 7]
        state = pa.RecordBatch.from_arrays(
            [pa.array(subs, pa.int64()), pa.array(days, pa.int32()).cast(pa.date32()),
             pa.array(hot, pa.int64()), pa.array(total, pa.int64())],
            schema=STATE_SCHEMA,
        )
        assert hs._unpack(hs._pack(state, first), first).to_pylist() == state.to_pylist()
        parts = list(hs._split(state, 3))
        back = pa.Table.from_batches([hs._unpack(hs._pack(p, first), first) for _, p in parts])
        assert sorted(back.to_pylist(), key=lambda r: (r["subscriber"], r["day"])) == state.to_pylist()
    empty = state.slice(0, 0)
    assert hs._unpack(hs._pack(empty, first), first).num_rows == 0
    one = state.slice(3, 1)
    assert hs._unpack(hs._pack(one, first), first).to_pylist() == one.to_pylist()
    # A damaged blob is an error, never a wrong state.
    blob = hs._pack(state, first)
    for bad in (blob[:-1], blob + b"x", blob[:10], bytes([blob[0], 2]) + blob[2:]):
        with pytest.raises(ValueError, match="shuffled state"):
            hs._unpack(bad, first)


def test_a_packed_state_keeps_its_window_through_the_shuffle(tmp_path):
    """The window and selection a map state names survive _pack/_unpack, so the kernel still
    refuses a state of another window or selection on the reduce side."""
    from hotzone import kernel

    case = CASES / "window_edges"
    params = params_of((case / "args").read_text().split())
    import pyarrow.csv as pacsv

    names = (case / "events.csv").read_text().splitlines()[0].split(",")
    events = pacsv.read_csv(case / "events.csv", convert_options=pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, strings_can_be_null=True))
    state, _ = kernel.map_state(events, **params)
    first = (dt.date.fromisoformat(params["as_of"]) - dt.timedelta(days=params["look_back_days"] - 1)
             - dt.date(1970, 1, 1)).days
    back = hs._unpack(hs._pack(state, first), first)
    assert back.schema.metadata == state.schema.metadata and state.schema.metadata
    want = kernel.verdicts_of_states(pa.RecordBatchReader.from_batches(back.schema, [back]), **params)
    assert want.equals(kernel.verdicts_of_states(state, **params))
    later = dict(params, as_of=(dt.date.fromisoformat(params["as_of"]) + dt.timedelta(days=1)).isoformat())
    with pytest.raises(ValueError, match="counts the window"):
        kernel.verdicts_of_states(pa.RecordBatchReader.from_batches(back.schema, [back]), **later)
    assert b"hotzone.selection" in back.schema.metadata
    with pytest.raises(ValueError, match="states of different selections"):
        kernel.verdicts_of_states(pa.RecordBatchReader.from_batches(back.schema, [back]),
                                  **dict(params, check_target="outgoing"))


def test_bucket_keys_follow_sparks_hash(spark):
    n = 7
    keys = hs._bucket_keys(n)
    got = (
        spark.createDataFrame([(k,) for k in keys], "k int")
        .select(F.pmod(F.hash("k"), F.lit(n)).alias("p"))
        .toArrow().column("p").to_pylist()
    )
    assert got == list(range(n))
    rows = spark.createDataFrame([(k,) for k in range(1000)], "k int").select(F.hash("k").alias("h")).toArrow()
    assert rows.column("h").to_pylist() == [hs._spark_hash_int(k) for k in range(1000)]


# ----------------------------------------------------------------------------- eighteenth session: a helper's pass

_ONE = dict(hotzone="NG", look_back_days=1, threshold_ratio=0.5, min_events=1, as_of="2026-03-10", tz="UTC")
_ROW = ("2026-03-10T12:00:00Z", "+886912345678", "+2348021234567", "in", "call")


def _verdicts(df) -> list:
    return [(r["subscriber"], r["anomaly_detected"]) for r in df.orderBy("subscriber").toArrow().to_pylist()]


def test_names_with_backticks_and_repeated_names_are_read(spark):
    df = spark.createDataFrame([_ROW], "event_time string, `msisdn``x` string, counterparty string, direction string, kind string")
    assert _verdicts(hs.scan(df, columns={"msisdn`x": "subscriber"}, **_ONE)) == [("+886912345678", True)]
    # Two columns named kind: the first is read, as the kernel reads a file with two.
    two = spark.createDataFrame([_ROW + ("oops",)], "event_time string, subscriber string, counterparty string, direction string, kind string, kind string")
    res = hs.scan(two, **_ONE)
    assert _verdicts(res) == [("+886912345678", True)]
    assert hs.summary(res)["rejects"] == {}


def test_varchar_columns_and_a_null_event_time_are_read(spark, tmp_path):
    df = spark.createDataFrame([_ROW], "event_time string, subscriber string, counterparty string, direction string, kind string")
    # Spark 4 keeps char and varchar as such under this setting (else, and on 3.5, they are
    # strings).
    spark.conf.set("spark.sql.preserveCharVarcharTypeInfo", "true")
    try:
        typed = df.select(
            F.col("event_time"),
            F.col("subscriber").cast("varchar(20)"),
            F.col("counterparty").cast("char(14)"),
            "direction", "kind",
        )
        kept = "varchar(20)" if SPARK_4 else "string"
        assert typed.schema["subscriber"].dataType.simpleString() == kept
        assert _verdicts(hs.scan(typed, **_ONE)) == [("+886912345678", True)]
    finally:
        spark.conf.unset("spark.sql.preserveCharVarcharTypeInfo")
    no_time = df.withColumn("event_time", F.lit(None))
    res = hs.scan(no_time, **_ONE)
    assert _verdicts(res) == []
    assert hs.summary(res)["rejects"] == {"missing_event_time": 1}


def test_anything_but_a_spark_dataframe_is_a_type_error(spark, tmp_path):
    import pandas as pd

    with pytest.raises(TypeError, match="must be a pyspark DataFrame"):
        hs.scan(str(tmp_path), **_ONE)
    with pytest.raises(TypeError, match="must be a pyspark DataFrame"):
        hs.scan(pd.DataFrame({"a": [1]}), **_ONE)


def test_a_latest_day_in_1970_warns_of_epoch_seconds_as_hotzone_scan_does(spark):
    """Epoch seconds in a long `event_time` read as milliseconds land in January 1970: with
    no `as_of`, the scan warns as `hotzone.scan` does, and the summary keeps the text."""
    rows = [(1773144000 + 60 * i, "+2348012345678", "+2348031234567", "out", "call") for i in range(3)]
    df = spark.createDataFrame(rows, "event_time long, subscriber string, counterparty string, direction string, kind string")
    params = dict(hotzone="NG", look_back_days=7, threshold_ratio=0.5, min_events=1)
    with pytest.warns(UserWarning, match="epoch seconds") as caught:
        r = hs.scan(df, **params)
    r.collect()
    s = hs.summary(r)
    assert s["epoch_warning"] in [str(w.message) for w in caught if w.category is UserWarning]
    pdf = pa.table({k: [row[i] for row in rows] for i, k in enumerate(df.columns)})
    with pytest.warns(UserWarning, match="epoch seconds"):
        assert hotzone.scan(pdf, **params).summary["epoch_warning"] == s["epoch_warning"]
    # Given `as_of`, or with times of 2026, nothing is said.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert "epoch_warning" not in hs.summary(hs.scan(df, as_of="1970-01-21", **params))


def test_a_day_time_interval_duration_is_read_as_an_arrow_duration(spark):
    """`duration_s` as Spark's `interval day to second` reaches the kernel as an Arrow
    duration, which it reads (only the sign counts), as `hotzone.scan` reads the same column."""
    t0 = dt.datetime(2026, 3, 10, 12, tzinfo=dt.timezone.utc)
    durations = [dt.timedelta(seconds=60), dt.timedelta(seconds=-5), None, dt.timedelta(0)]
    rows = [(t0 + dt.timedelta(minutes=i), "+886912345001", "+2348021234567", "in", "call", d)
            for i, d in enumerate(durations)]
    ddl = ("event_time timestamp, subscriber string, counterparty string, direction string, "
           "kind string, duration_s interval day to second")
    params = dict(hotzone="NG", look_back_days=1, threshold_ratio=0.5, min_events=1, as_of="2026-03-10")
    r = hs.scan(spark.createDataFrame(rows, ddl), **params)
    got = csv_text(r)
    s = hs.summary(r)
    table = pa.table({
        "event_time": pa.array([x[0] for x in rows], pa.timestamp("us", "UTC")),
        **{k: [x[i] for x in rows] for i, k in enumerate(["subscriber", "counterparty", "direction", "kind"], 1)},
        "duration_s": pa.array(durations, pa.duration("us")),
    })
    want = hotzone.scan(table, **params)
    assert s["rejects"] == want.summary["rejects"] == {"bad_duration": 1}
    assert (s["rows"], s["events"]) == (want.summary["rows"], want.summary["events"]) == (4, 3)
    assert "true" in got


def taipei_file(tmp_path: Path):
    """Three hot calls at 16:30 UTC on 2026-03-10 (00:30 on the 11th in Taipei) in a Parquet
    file that records Asia/Taipei (`hotzone.tz`), and the parameters of a scan of it."""
    t = pa.table({
        "event_time": pa.array([dt.datetime(2026, 3, 10, 16, 30, tzinfo=dt.timezone.utc)] * 3, pa.timestamp("ms", "UTC")),
        "subscriber": ["+2348012345678"] * 3, "counterparty": ["+2348031234567"] * 3,
        "direction": ["out"] * 3, "kind": ["call"] * 3,
    })
    path = tmp_path / "taipei.parquet"
    pq.write_table(t.replace_schema_metadata({b"hotzone.tz": b"Asia/Taipei"}), path)
    return path, dict(hotzone="NG", look_back_days=7, threshold_ratio=0.5, min_events=1)


def test_files_that_record_a_zone_read_in_utc_with_a_warning_when_no_tz_is_given(spark, tmp_path):
    """A Parquet file that records its zone (`hotzone.tz`, as `hotzone gen` writes it) read by
    the kernel with no `tz`: the scan reads in UTC (Spark's default, documented) and says so,
    naming the zone `hotzone.scan` would read in; given that zone, the answers agree."""
    import warnings

    path, params = taipei_file(tmp_path)
    with pytest.warns(UserWarning, match="taipei.parquet records its days in Asia/Taipei.*tz='Asia/Taipei'"):
        r = hs.scan(spark.read.parquet(str(path)), **params)
    assert "2026-03-10" in csv_text(r)
    s = hs.summary(r)
    assert s["reader"] == "kernel" and "Asia/Taipei" in s["zone_warning"]
    # Through Spark's rows (a filtered frame) the files are the same: the same warning.
    with pytest.warns(UserWarning, match="taipei.parquet records its days in Asia/Taipei"):
        r = hs.scan(spark.read.parquet(str(path)).where(F.col("kind") == "call"), **params)
    s = hs.summary(r)
    assert s["reader"] == "spark" and "Asia/Taipei" in s["zone_warning"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        given = hs.scan(spark.read.parquet(str(path)), tz="Asia/Taipei", **params)
        assert "zone_warning" not in hs.summary(given)
    assert csv_text(given) == cli_scan([path], params, tmp_path)
    assert "2026-03-11" in csv_text(given)


def test_json_columns_and_partition_numbers_are_refused_not_read_as_spark_gives_them(spark, tmp_path):
    """Two ways Spark hands the adapter values no field takes, both found by an adversarial
    pass and read in silence: a Parquet JSON column (DuckDB's ``JSON``), which the kernel
    refuses, went to Spark's rows, where each counterparty was its quoted text, an unknown
    one (6 of 6 hot events lost); and ``partitionBy("subscriber")`` directories, which
    Spark's partition discovery reads back as ``bigint`` (``+886912345678`` becomes
    886912345678), national numbers then. Both are now refused, saying why."""
    docs = tmp_path / "json"
    docs.mkdir()
    # DuckDB's file: `subscriber` of Parquet's JSON type (tests/files/README.md).
    shutil.copy(ROOT / "tests" / "files" / "duckdb-json.parquet", docs / "a.parquet")
    with pytest.raises(ValueError, match="column subscriber is of Parquet's JSON type"):
        hs.scan(spark.read.parquet(str(docs)), **_ONE)

    parted = tmp_path / "parted"
    df = spark.createDataFrame([_ROW], "event_time string, subscriber string, counterparty string, direction string, kind string")
    df.write.partitionBy("subscriber").parquet(str(parted))
    read = spark.read.parquet(str(parted))
    assert read.schema["subscriber"].dataType.simpleString() == "bigint"
    # Renamed on the way (a projection's alias of the bare column) it is the same column.
    renamed = read.withColumnRenamed("subscriber", "msisdn").withColumnRenamed("msisdn", "imsi")
    with pytest.raises(ValueError, match=r"column imsi \(renamed from subscriber\) is a partition column"):
        hs.scan(renamed, columns={"imsi": "subscriber"}, **_ONE)
    for frame in (read, read.where(F.col("kind") == "call")):
        with pytest.raises(ValueError, match="partitionColumnTypeInference.enabled"):
            hs.scan(frame, **_ONE)
    spark.conf.set("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
    try:
        as_text = spark.read.parquet(str(parted))
        assert _verdicts(hs.scan(as_text, **_ONE)) == [("+886912345678", True)]
    finally:
        spark.conf.unset("spark.sql.sources.partitionColumnTypeInference.enabled")
