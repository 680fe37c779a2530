"""hotzone.spark.scan over Spark Connect: a real Spark Connect server (pyspark's own, started
here as its own JVM on a free loopback port, local[2]) and the thin client's DataFrames.

Spark Connect (Spark 4's client, Databricks' serverless and shared clusters) has no
accumulators and no plan the client can walk: the rows come from Spark, and the summary
comes back through observed metrics. Here: every conformance case gives the CLI's verdicts
and the in-process scan's counts, rejects are counted with their rows, a strict scan fails
with the kernel's message, and partition directories Spark typed as numbers are refused.

pyspark 4 only (its distribution carries the Connect server); nothing is skipped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import functions as F
from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

import hotzone
import hotzone.spark as hs
from test_spark import CASES, _gen, assert_bad_rows_counted, cases, cli_scan, csv_text, params_of, read_csv_strings, taipei_file

_SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(log: Path):
    """A Spark Connect server on a free loopback port: (process, port) once it accepts."""
    home = Path(pyspark.__file__).parent
    env = dict(os.environ, SPARK_HOME=str(home), PYSPARK_PYTHON=sys.executable)
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(home / "bin" / "spark-submit"), "--class", _SERVER, "--master", "local[2]",
            "--conf", f"spark.connect.grpc.binding.port={port}",
            "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf", "spark.ui.enabled=false",
            "--conf", "spark.sql.shuffle.partitions=4",
            "--conf", "spark.sql.session.timeZone=UTC",
            "spark-internal",
        ],
        env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 600  # a bound for a broken start, not a timing assumption
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc, None
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    return proc, None


@pytest.fixture(scope="module")
def connect(tmp_path_factory):
    log = tmp_path_factory.mktemp("connect") / "server.log"
    for _ in range(3):  # another process may take the free port before the server binds it
        proc, port = _start_server(log)
        if port is not None:
            break
        proc.wait()
    else:
        raise RuntimeError(f"the Spark Connect server did not start: {log.read_text()[-3000:]}")
    # The Connect client's own builder: `SparkSession.builder.remote` refuses while a classic
    # session lives in this process (test_spark.py's, when it ran first). pyspark picks
    # Connect's columns and functions by this variable, which its builder would have set;
    # classic sessions after this module must not see it.
    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
    spark = RemoteSparkSession.builder.remote(f"sc://127.0.0.1:{port}").getOrCreate()
    try:
        yield spark
    finally:
        spark.stop()
        os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_session_is_a_connect_client(connect):
    assert type(connect).__module__.startswith("pyspark.sql.connect")
    with pytest.raises(Exception):
        connect.sparkContext  # noqa: B018 (what the adapter cannot use there)


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.name)
def test_conformance_case_over_connect(connect, case):
    params = params_of((case / "args").read_text().split())
    expected = (case / "expected.csv").read_text()
    for path in [p for p in (case / "events.csv", case / "events.parquet") if p.exists()]:
        df = read_csv_strings(connect, path) if path.suffix == ".csv" else connect.read.parquet(str(path))
        one = hotzone.scan(str(path), **params).summary
        for frame, parts in ((df.coalesce(1), 1), (df.repartition(3), 3)):
            got = hs.scan(frame, **params)
            assert csv_text(got) == expected, path
            s = hs.summary(got)
            assert s["reader"] == "spark"
            for key in ("rows", "events", "unknown_counterparties", "rejected", "rejects"):
                assert s[key] == one[key], (path, key)
            assert s["map_partitions_reported"] == s["map_partitions"] == parts
            assert s["subscribers"] == expected.count("\n") - 1
            assert s["anomalous"] == expected.count(",true,")


def test_generated_data_over_connect_equals_the_cli(connect, tmp_path):
    src = _gen(tmp_path, "connect", end="2026-10-30", tz="Asia/Taipei", subscribers=500, fmt="csv")
    params = dict(hotzone="NG,JM,KH,+88216", look_back_days=30, threshold_ratio=0.3,
                  as_of="2026-10-30", tz="Asia/Taipei")
    expected = cli_scan([src], params, tmp_path)
    df = read_csv_strings(connect, src).repartition(5)
    got = hs.scan(df, partitions=3, explain=True, **params)
    assert "days" in got.columns and "_hz_reduce" not in got.columns
    assert csv_text(got) == expected
    s = hs.summary(got)
    assert s["map_partitions"] == s["map_partitions_reported"] == 5
    assert s["reduce_partitions_reported"] == 3
    assert s["subscribers"] == expected.count("\n") - 1
    assert s["anomalous"] == expected.count(",true,") > 0
    # A sort without adaptive execution (its range partitioner samples the reduce side
    # first): each reduce task's counts are keyed by its partition, counted once whatever
    # runs a task twice (speculation, a retried stage).
    connect.conf.set("spark.sql.adaptive.enabled", "false")
    try:
        got = hs.scan(df, partitions=3, **params)
        rows = got.orderBy("subscriber").collect()
        s = hs.summary(got)
        assert len(rows) == s["subscribers"] == expected.count("\n") - 1
        assert s["anomalous"] == expected.count(",true,")
        assert s["reduce_partitions_reported"] == 3
    finally:
        connect.conf.unset("spark.sql.adaptive.enabled")


def test_rejects_are_counted_with_their_rows_over_connect(connect):
    case = CASES / "bad_rows"
    params = params_of((case / "args").read_text().split())
    df = read_csv_strings(connect, case / "events.csv").coalesce(1)
    res = hs.scan(df, **params)
    before = hs.summary(res)  # no action yet: nothing reported, and nothing known
    assert before["rows"] == 0 and before["map_partitions_reported"] == 0
    assert before["map_partitions"] is None
    assert csv_text(res) == (case / "expected.csv").read_text()
    s = hs.summary(res)
    assert_bad_rows_counted(s)
    assert s["reduce_partitions_reported"] >= 1
    # The summary rows and markers never reach the result: a second action, the same rows.
    assert res.count() == 2 and res.where(F.col("subscriber").isNull()).count() == 0
    assert hs.summary(res)["rejected"] == 6
    # Without as_of: the latest-day job first, then the same answer.
    res = hs.scan(df, **dict(params, as_of=None))
    assert csv_text(res) == (case / "expected.csv").read_text()
    assert hs.summary(res)["rejected"] == 6


def test_strict_fails_with_the_kernels_message_over_connect(connect):
    case = CASES / "bad_rows"
    params = params_of((case / "args").read_text().split())
    df = read_csv_strings(connect, case / "events.csv").coalesce(1)
    with pytest.raises(Exception) as e:
        hs.scan(df, **dict(params, strict=True)).collect()
    assert "partition 0: row 8: subscriber is missing" in str(e.value)
    with pytest.raises(hotzone.RowError, match=r"partition 0: row 8: subscriber is missing"):
        hs.scan(df, **dict(params, strict=True, as_of=None))


def test_the_kernels_reader_is_refused_and_partition_numbers_too_over_connect(connect, tmp_path):
    case = CASES / "bad_rows"
    params = params_of((case / "args").read_text().split())
    with pytest.raises(ValueError, match="Spark Connect"):
        hs.scan(read_csv_strings(connect, case / "events.csv"), **dict(params, reader="kernel"))
    # `partitionBy("subscriber")` directories come back as bigint: refused, as in classic
    # Spark, although the client has no plan to walk (the input files' directories say it).
    parted = tmp_path / "parted"
    row = ("2026-03-10T12:00:00Z", "+886912345678", "+2348021234567", "in", "call")
    ddl = "event_time string, subscriber string, counterparty string, direction string, kind string"
    connect.createDataFrame([row], ddl).write.partitionBy("subscriber").parquet(str(parted))
    read = connect.read.parquet(str(parted))
    assert read.schema["subscriber"].dataType.simpleString() == "bigint"
    with pytest.raises(ValueError, match="partitionColumnTypeInference.enabled"):
        hs.scan(read, hotzone="NG", look_back_days=1, threshold_ratio=0.5, as_of="2026-03-10")
    # Renamed on the way, it is the same column: the client's plan says where it came from.
    for renamed in (
        read.withColumnRenamed("subscriber", "msisdn").withColumnRenamed("msisdn", "imsi"),
        read.where(F.col("kind") == "call").select(F.col("subscriber").alias("imsi"), "*"),
        read.withColumn("imsi", F.col("`subscriber`")).limit(10),
        read.withColumnRenamed("SUBSCRIBER", "imsi").drop("duration_s"),  # Spark ignores the case
        read.selectExpr("event_time", "subscriber AS imsi", "counterparty", "direction", "kind"),
    ):
        with pytest.raises(ValueError, match=r"column imsi \(renamed from subscriber\) is a partition column"):
            hs.scan(renamed, hotzone="NG", look_back_days=1, threshold_ratio=0.5, as_of="2026-03-10",
                    columns={"imsi": "subscriber"})
    # A rename of a column that is not there changes nothing (Spark's rule): still refused.
    for same in (read.withColumnRenamed("msisdn", "subscriber"), read.selectExpr("subscriber", "*")):
        with pytest.raises(ValueError, match=r"column subscriber is a partition column"):
            hs.scan(same, hotzone="NG", look_back_days=1, threshold_ratio=0.5, as_of="2026-03-10")
    # A column computed from it is not the partition column (nor refused for it): its
    # values are the frame's own.
    computed = read.withColumn("imsi", F.concat(F.lit("+"), F.col("subscriber").cast("string")))
    got = hs.scan(computed.drop("subscriber"), hotzone="NG", look_back_days=1, threshold_ratio=0.5,
                  min_events=1, as_of="2026-03-10", columns={"imsi": "subscriber"})
    assert [(r["subscriber"], r["anomaly_detected"]) for r in got.collect()] == [("+886912345678", True)]
    # A directory key that is not a number column changes nothing.
    by_kind = tmp_path / "by_kind"
    connect.createDataFrame([row], ddl).write.partitionBy("kind").parquet(str(by_kind))
    got = hs.scan(connect.read.parquet(str(by_kind)), hotzone="NG", look_back_days=1,
                  threshold_ratio=0.5, min_events=1, as_of="2026-03-10")
    assert [(r["subscriber"], r["anomaly_detected"]) for r in got.collect()] == [("+886912345678", True)]


def test_partition_numbers_under_escaped_directory_names_are_refused_over_connect(connect, tmp_path):
    # The input files come back as URIs: a partition column's name is escaped twice in them
    # (Spark escapes `:` or `%` in a directory name, the URI escapes a space and that `%`).
    # Classic Spark refuses these columns from the plan's partition schema; Connect must too.
    row = ("2026-03-10T12:00:00Z", "+886912345678", "+2348021234567", "in", "call")
    for name in ("msisdn id", "msisdn:a%b", "_msisdn"):
        names = ["event_time", name, "counterparty", "direction", "kind"]
        ddl = ", ".join(f"`{n}` string" for n in names)
        parted = tmp_path / f"parted{len(name)}"
        connect.createDataFrame([row], ddl).write.partitionBy(name).parquet(str(parted))
        read = connect.read.parquet(str(parted))
        assert read.schema[name].dataType.simpleString() == "bigint"
        with pytest.raises(ValueError, match="partitionColumnTypeInference.enabled"):
            # With a default region the number would be read as a national one: a wrong
            # subscriber, no reject.
            hs.scan(read, hotzone="NG", look_back_days=1, threshold_ratio=0.5, as_of="2026-03-10",
                    default_region="TW", columns={name: "subscriber"})


def test_many_partitions_of_rejects_fit_the_observed_metrics_message_over_connect(connect, monkeypatch):
    # The observed metrics reach the client in one gRPC message (128 MiB at most by default):
    # ~7 KB of rejected rows per map partition outgrew it at ~20,000 partitions with rejects,
    # failing the action after its job ran (RESOURCE_EXHAUSTED). The same at a small scale:
    # a client that takes 512 KiB, 100 partitions of 120 rejects, the rows of 10 partitions.
    from pyspark.sql.connect.client import DefaultChannelBuilder
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    monkeypatch.setattr(hs, "OBSERVED_REJECT_PARTITIONS", 10, raising=False)
    small = ConnectSession.builder.channelBuilder(DefaultChannelBuilder(
        f"sc://{connect.client._builder.endpoint}",
        channelOptions=[("grpc.max_receive_message_length", 512 * 1024)],
    )).create()
    try:
        cols = (F.lit("2026-03-10T12:00:00Z").alias("event_time"), F.lit("+2348021234567").alias("counterparty"),
                F.lit("in").alias("direction"), F.lit("call").alias("kind"))
        bad = small.range(0, 12000, 1, 100).select(F.concat(F.lit("886"), F.col("id").cast("string")).alias("subscriber"), *cols)
        good = small.range(0, 1, 1, 1).select(F.lit("+886912345001").alias("subscriber"), *cols)
        res = hs.scan(bad.union(good), hotzone="NG", look_back_days=1, threshold_ratio=0.5,
                      as_of="2026-03-10", min_events=1)
        assert [r["subscriber"] for r in res.collect()] == ["+886912345001"]
        s = hs.summary(res)
        assert s["rows"] == 12001 and s["rejected"] == 12000
        assert s["rejects"] == {"subscriber_without_plus_no_default_region": 12000}
        assert s["map_partitions_reported"] == s["map_partitions"] == 101
        # Every count is exact; the rejected rows are those of the first 10 partitions.
        assert len(s["reject_rows"]) == 10 * hs.REJECT_ROWS_PER_PARTITION
        assert sorted({src for src, _, _ in s["reject_rows"]}) == sorted(f"partition {p}" for p in range(10))
        assert s["reject_rows"][0] == ("partition 0", 1, "subscriber_without_plus_no_default_region")
    finally:
        small.stop()


def test_files_that_record_a_zone_are_warned_of_over_connect(connect, tmp_path):
    """A Parquet file that records its zone (`hotzone.tz`, as `hotzone gen` writes it), scanned
    with no `tz`: the client reads its footer (it sees the file) and warns as classic Spark
    does, naming the zone `hotzone.scan` would read in."""
    path, params = taipei_file(tmp_path)
    with pytest.warns(UserWarning, match="taipei.parquet records its days in Asia/Taipei.*tz='Asia/Taipei'"):
        r = hs.scan(connect.read.parquet(str(path)), **params)
    assert "2026-03-10" in csv_text(r)
    assert "Asia/Taipei" in hs.summary(r)["zone_warning"]
    given = hs.scan(connect.read.parquet(str(path)), tz="Asia/Taipei", **params)
    assert "2026-03-11" in csv_text(given) and "zone_warning" not in hs.summary(given)
