"""The scan on a Spark DataFrame: the kernel does the per-partition work, Spark shuffles states.

:func:`scan` returns a pyspark DataFrame with one verdict per subscriber, the same exact
answer as :func:`hotzone.scan` and the CLI give on the same rows. The plan is::

    events --project--> mapInArrow(kernel.map_state)       one state per input partition
           --repartition by subscriber-->                   states only, never events
           mapInArrow(kernel.verdicts_of_states)            every state of a subscriber meets

Map side: each input partition's rows go through :func:`hotzone.kernel.map_state` (every row
interpreted as the CLI does, rejects counted), and the partition's state (per subscriber and
local day: ``hot`` and ``total``) leaves the task as **one row per subscriber**: ``subscriber``
(bigint, the E.164 digits) and ``counts`` (binary, the subscriber's days packed, see
:func:`_pack`). Spark hashes these rows by ``subscriber``; a reduce task unpacks what it
received and hands it to :func:`hotzone.kernel.verdicts_of_states`, which adds the states of a
subscriber and applies the rule.

Without ``as_of``, one Spark job first runs :func:`hotzone.kernel.latest_day` on every
partition (one small row back per partition) and the driver takes the latest day.

Rejected rows: the map tasks report their summary (rows, events, rejects by reason, the
first rejected rows) through a Spark accumulator keyed by partition, so a task that runs
again (retry, speculation, a second action on the same DataFrame) replaces its entry instead
of adding to it. :func:`summary` returns the CLI-style summary of what has run. Accumulators
need classic Spark (not Spark Connect).
"""

from __future__ import annotations

import datetime as _dt
import itertools as _it
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import VERDICT_COLUMNS, _spec

__all__ = ["scan", "summary", "REQUIRED_COLUMNS", "OPTIONAL_COLUMNS"]

#: Columns every input must have (after ``columns`` renames them).
REQUIRED_COLUMNS = ("event_time", "subscriber", "direction", "kind")
#: Columns the kernel reads when present.
OPTIONAL_COLUMNS = ("counterparty", "duration_s", "counterparty_region")
_FIELDS = ("event_time", "subscriber", "counterparty", "direction", "kind", "duration_s", "counterparty_region")

#: Rejected rows kept per map partition in the summary's ``reject_rows`` (counts are exact).
REJECT_ROWS_PER_PARTITION = 100

_STATE_DDL = "subscriber bigint, counts binary"
_SUMMARY_ATTR = "_hotzone_summary"


# ----------------------------------------------------------------------------- parameters


def _resolve(df_columns: Sequence[str], columns: Optional[Mapping[str, str]]) -> List[Tuple[str, str]]:
    """``[(input column, canonical name)]`` for the kernel's fields present in the input, as
    the CLI resolves them: a mapped export name wins over a column that carries the canonical
    name. ``ValueError`` names the required columns that are missing."""
    mapping = dict(columns or {})
    for src, dst in mapping.items():
        if dst not in _FIELDS:
            raise ValueError(
                f"invalid columns: {dst!r} (for {src!r}) is not a canonical column ({', '.join(_FIELDS)})"
            )
    present = set(df_columns)
    out = []
    missing = []
    for field in _FIELDS:
        mapped = [s for s, d in mapping.items() if d == field and s in present]
        if mapped:
            out.append((mapped[0], field))
        elif field in present:
            out.append((field, field))
        elif field in REQUIRED_COLUMNS:
            missing.append(field)
    if missing:
        raise ValueError(
            f"the DataFrame lacks the required column(s) {', '.join(missing)} "
            f"(columns found: {', '.join(df_columns)}; map export names with "
            'columns={"export_name": "canonical_name"})'
        )
    return out


def _check_types(schema: Any, picked: List[Tuple[str, str]]) -> None:
    """The Spark types the kernel reads; anything else fails here, before a job runs."""
    from pyspark.sql import types as T

    ints = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
    by_name = {f.name: f.dataType for f in schema.fields}
    for src, field in picked:
        t = by_name[src]
        if field == "event_time":
            ok = isinstance(t, (T.TimestampType, T.TimestampNTZType, T.StringType) + ints)
            want = "a timestamp, epoch milliseconds (integer) or RFC 3339 text"
        elif field == "duration_s":
            ok = isinstance(t, (T.StringType, T.NullType) + ints)
            want = "an integer or text"
        else:
            ok = isinstance(t, (T.StringType,) + ints)
            want = "text"
        if not ok:
            name = src if src == field else f"{src} (as {field})"
            raise ValueError(f"column {name} has Spark type {t.simpleString()}; expected {want}")


def _window_first(as_of: _dt.date, look_back_days: int) -> _dt.date:
    return as_of - _dt.timedelta(days=int(look_back_days) - 1)


def _as_date(as_of: Union[None, str, _dt.date]) -> Optional[_dt.date]:
    if as_of is None or isinstance(as_of, _dt.date):
        return as_of
    return _dt.date.fromisoformat(str(as_of))


# ----------------------------------------------------------------------------- packing


def _pack(state: Any, first_day: int) -> Any:
    """A state batch (``subscriber``, ``day``, ``hot``, ``total``; sorted by subscriber, as
    the kernel writes it) -> a batch of one row per subscriber: ``subscriber`` int64 and
    ``counts`` binary.

    ``counts`` = 1 byte ``w`` (bytes per count: 1, 2 or 4, the least that holds every count of
    the batch), then the subscriber's ``n`` days as offsets from the window's first day (1 byte
    each; a window has at most 90 days), then ``n`` hot counts, then ``n`` totals (``w`` bytes
    each, little-endian). A day with events costs ``1 + 2w`` bytes instead of a 40-byte row.
    """
    import numpy as np
    import pyarrow as pa

    n_rows = state.num_rows
    subs = state.column("subscriber").to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    if n_rows == 0:
        return pa.record_batch(
            [pa.array([], pa.int64()), pa.array([], pa.binary())], names=["subscriber", "counts"]
        )
    day = state.column("day").cast(pa.int32()).to_numpy(zero_copy_only=False)
    hot = state.column("hot").to_numpy(zero_copy_only=False)
    total = state.column("total").to_numpy(zero_copy_only=False)
    if n_rows > 1 and bool(np.any(subs[1:] < subs[:-1])):  # the kernel sorts; be safe anyway
        order = np.lexsort((day, subs))
        subs, day, hot, total = subs[order], day[order], hot[order], total[order]
    top = int(total.max())
    w = 1 if top < 1 << 8 else 2 if top < 1 << 16 else 4
    starts = np.flatnonzero(np.r_[True, subs[1:] != subs[:-1]])
    n = np.diff(np.r_[starts, n_rows])  # days per subscriber
    glen = 1 + n * (1 + 2 * w)
    goff = np.zeros(len(n) + 1, np.int64)
    np.cumsum(glen, out=goff[1:])
    buf = np.zeros(int(goff[-1]), np.uint8)
    buf[goff[:-1]] = w
    g = np.repeat(np.arange(len(n)), n)  # group of each state row
    k = np.arange(n_rows) - starts[g]  # its index within the group
    base = goff[:-1][g] + 1
    ng = n[g]
    buf[base + k] = (day - first_day).astype(np.uint8)
    hb = hot.astype(f"<u{w}").view(np.uint8).reshape(n_rows, w)
    tb = total.astype(f"<u{w}").view(np.uint8).reshape(n_rows, w)
    for j in range(w):
        buf[base + ng + k * w + j] = hb[:, j]
        buf[base + ng * (1 + w) + k * w + j] = tb[:, j]
    if goff[-1] >= 1 << 31:
        raise ValueError("a partition's packed state exceeds 2 GiB; repartition the input finer")
    counts = pa.Array.from_buffers(
        pa.binary(), len(n), [None, pa.py_buffer(goff.astype(np.int32)), pa.py_buffer(buf)]
    )
    return pa.record_batch([pa.array(subs[starts]), counts], names=["subscriber", "counts"])


def _unpack(batch: Any, first_day: int) -> Any:
    """The inverse of :func:`_pack`: a batch of packed rows -> a state batch of the kernel's
    ``STATE_SCHEMA`` (rows of one subscriber may come from several map tasks; they add up)."""
    import numpy as np
    import pyarrow as pa

    from .kernel import STATE_SCHEMA

    subs_col = batch.column(batch.schema.get_field_index("subscriber"))
    counts = batch.column(batch.schema.get_field_index("counts"))
    if counts.null_count or subs_col.null_count:
        raise ValueError("a packed state row has a null subscriber or counts")
    if pa.types.is_large_binary(counts.type):
        off_t = np.int64
    elif pa.types.is_binary(counts.type):
        off_t = np.int32
    else:
        counts = counts.cast(pa.large_binary())
        off_t = np.int64
    m = len(counts)
    if m == 0:
        return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in STATE_SCHEMA], schema=STATE_SCHEMA)
    bufs = counts.buffers()
    offs = np.frombuffer(bufs[1], dtype=off_t)[counts.offset : counts.offset + m + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    starts = offs[:-1]
    lens = offs[1:] - starts
    w = data[starts].astype(np.int64)
    n = (lens - 1) // (1 + 2 * w)
    if bool(np.any((w != 1) & (w != 2) & (w != 4))) or bool(np.any(n * (1 + 2 * w) + 1 != lens)):
        raise ValueError("a packed state row is malformed")
    N = int(n.sum())
    g = np.repeat(np.arange(m), n)
    k = np.arange(N) - np.repeat(np.cumsum(n) - n, n)
    base = starts[g] + 1
    ng = n[g]
    wg = w[g]
    day = first_day + data[base + k].astype(np.int32)
    hot = np.zeros(N, np.int64)
    total = np.zeros(N, np.int64)
    last = len(data) - 1
    for j in range(4):
        use = wg > j
        if not use.any():
            break
        hi = np.minimum(base + ng + k * wg + j, last)
        ti = np.minimum(base + ng * (1 + wg) + k * wg + j, last)
        hot += np.where(use, data[hi].astype(np.int64) << (8 * j), 0)
        total += np.where(use, data[ti].astype(np.int64) << (8 * j), 0)
    subs = subs_col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)[g]
    return pa.RecordBatch.from_arrays(
        [pa.array(subs, pa.int64()), pa.array(day, pa.int32()).cast(pa.date32()), pa.array(hot), pa.array(total)],
        schema=STATE_SCHEMA,
    )


# ----------------------------------------------------------------------------- summary


def _compact(summary: Dict[str, Any]) -> Dict[str, Any]:
    """What a map task sends back: the counts, and its first rejected rows."""
    return {
        "rows": int(summary.get("rows", 0)),
        "events": int(summary.get("events", 0)),
        "unknown_counterparties": int(summary.get("unknown_counterparties", 0)),
        "rejected": int(summary.get("rejected", 0)),
        "rejects": dict(summary.get("rejects", {})),
        "reject_rows": list(summary.get("reject_rows", []))[:REJECT_ROWS_PER_PARTITION],
    }


def _accumulator_param() -> Any:
    from pyspark.accumulators import AccumulatorParam

    class _ByKey(AccumulatorParam):
        """A dict keyed by (stage, partition): a re-run task replaces its own entry."""

        def zero(self, value: Any) -> Dict[Any, Any]:
            return {}

        def addInPlace(self, a: Dict[Any, Any], b: Dict[Any, Any]) -> Dict[Any, Any]:
            a.update(b)
            return a

    return _ByKey()


class _Report:
    """The driver's view of one scan's accumulator."""

    def __init__(self, acc: Any, window: Optional[Dict[str, Any]], events: Any) -> None:
        self.acc = acc
        self.window = window
        self.events = events
        self._partitions: Optional[int] = None

    @property
    def map_partitions(self) -> int:
        if self._partitions is None:  # planning only, no job
            self._partitions = self.events.rdd.getNumPartitions()
        return self._partitions

    def summary(self) -> Dict[str, Any]:
        entries = dict(self.acc.value)
        maps = {k[1]: v for k, v in entries.items() if k[0] == "map"}
        reduces = {k[1]: v for k, v in entries.items() if k[0] == "reduce"}
        out: Dict[str, Any] = {
            "files": 0,
            "rows": 0,
            "events": 0,
            "unknown_counterparties": 0,
            "rejected": 0,
            "rejects": {},
            "reject_rows": [],
            "window": self.window,
            "subscribers": sum(r[0] for r in reduces.values()),
            "anomalous": sum(r[1] for r in reduces.values()),
            "map_partitions_reported": len(maps),
            "map_partitions": self.map_partitions,
            "reduce_partitions_reported": len(reduces),
        }
        for pid in sorted(maps):
            s = maps[pid]
            for key in ("rows", "events", "unknown_counterparties", "rejected"):
                out[key] += s[key]
            for reason, c in s["rejects"].items():
                out["rejects"][reason] = out["rejects"].get(reason, 0) + c
            out["reject_rows"].extend(tuple(r) for r in s["reject_rows"])
        out["rejects"] = dict(sorted(out["rejects"].items()))
        return out


def summary(result: Any) -> Dict[str, Any]:
    """The run summary of a DataFrame returned by :func:`scan`, in the keys of
    :attr:`hotzone.ScanResult.summary`, from the tasks that have run so far.

    Call it after an action on ``result`` (``write``, ``collect``, ``count``, ...). The map
    counts (``rows``, ``events``, ``unknown_counterparties``, ``rejected``, ``rejects``) are
    complete once ``map_partitions_reported == map_partitions``; ``subscribers`` and
    ``anomalous`` once every reduce task ran (an action that reads every row).
    ``reject_rows`` holds ``("partition P", row, reason)`` for the first
    ``REJECT_ROWS_PER_PARTITION`` rejects of each map partition, rows numbered from 1 within
    the partition. A task run twice (retry, a second action) is counted once.
    """
    report = getattr(result, _SUMMARY_ATTR, None)
    if report is None:
        raise TypeError(
            "hotzone.spark.summary takes the DataFrame that hotzone.spark.scan returned "
            "(a DataFrame derived from it with select/filter/... no longer carries the summary)"
        )
    return report.summary()


# ----------------------------------------------------------------------------- the scan


def _spark_verdict_ddl(explain: bool) -> str:
    ddl = (
        "subscriber string, anomaly_detected boolean, anomaly_date date, "
        "anomalous_days int, first_anomaly_date date"
    )
    return ddl + (", days string" if explain else "")


def scan(
    df: Any,
    *,
    hotzone: Union[str, Sequence[str]],
    look_back_days: int,
    threshold_ratio: float,
    method: str = "share",
    check_type: str = "all",
    check_target: str = "all",
    min_events: int = 3,
    as_of: Union[None, str, _dt.date] = None,
    tz: Optional[str] = None,
    default_region: Optional[str] = None,
    columns: Optional[Mapping[str, str]] = None,
    strict: bool = False,
    explain: bool = False,
    partitions: Optional[int] = None,
    threads: Optional[int] = 1,
) -> Any:
    """Scan the events of a Spark DataFrame; one verdict per subscriber, as a DataFrame.

    Parameters are those of :func:`hotzone.scan` (same meaning, same validation, the CLI's
    messages), except:

    df:
        A ``pyspark.sql.DataFrame`` with the event columns (renamed with ``columns``):
        ``event_time`` (timestamp, epoch milliseconds as an integer, or RFC 3339 text; a
        ``timestamp_ntz`` is read as UTC, as the CLI reads a Parquet timestamp without zone),
        ``subscriber``, ``counterparty``, ``direction``, ``kind`` (text), optional
        ``duration_s`` (integer or text) and ``counterparty_region``. Only these columns
        enter the Python tasks.
    as_of:
        Default: the latest local day (in ``tz``) of an accepted row, found by one extra
        Spark job before the scan.
    tz:
        Default ``UTC`` (a DataFrame records no zone).
    partitions:
        Shuffle partitions of the states; default: Spark's (``repartition`` by subscriber,
        which adaptive execution coalesces).
    threads:
        Threads the kernel uses inside each task (default 1: Spark owns the cores).

    Returns
    -------
    pyspark.sql.DataFrame
        Columns ``subscriber`` string (``+`` and digits), ``anomaly_detected`` boolean,
        ``anomaly_date`` date (null when none), ``anomalous_days`` int (32-bit; at most 90),
        ``first_anomaly_date`` date (null when none); with ``explain=True`` also ``days``
        string. One row per subscriber with a selected event in the window. Rows are sorted
        by subscriber **within** each partition only: ``orderBy("subscriber")`` for a total
        order. Lazy: nothing runs until an action (except the ``as_of`` job).

    The run summary (rows, events, rejects by reason, ...) is :func:`summary` of the
    returned DataFrame after an action. With ``strict=True`` the first task that meets a row
    it cannot interpret fails the job with the kernel's message (``partition P: row N:
    reason``, rows numbered from 1 within the partition).

    Raises
    ------
    ValueError
        Before any Spark job: a bad parameter (the CLI's message), a missing required column
        or a column of a type the kernel cannot read. With ``as_of=None`` and
        ``strict=True``, a rejected row met by the ``as_of`` job.
    """
    # 1. Everything that can be checked on the driver, before any job.
    _spec(
        hotzone=hotzone, look_back_days=look_back_days, threshold_ratio=threshold_ratio,
        method=method, check_type=check_type, check_target=check_target,
        min_events=min_events, as_of=as_of, tz=tz, default_region=default_region,
        columns=columns, strict=strict, explain=explain,
    )
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be at least 1 (got {threads})")
    if partitions is not None and int(partitions) < 1:
        raise ValueError(f"partitions must be at least 1 (got {partitions})")
    picked = _resolve(df.columns, columns)
    _check_types(df.schema, picked)

    from pyspark.sql import functions as F

    events = df.select([F.col(f"`{src}`").alias(field) for src, field in picked])
    params: Dict[str, Any] = dict(
        hotzone=hotzone, look_back_days=int(look_back_days), threshold_ratio=float(threshold_ratio),
        method=method, check_type=check_type, check_target=check_target,
        min_events=int(min_events), tz=tz, default_region=default_region, strict=bool(strict),
    )
    spark = df.sparkSession
    verdict_ddl = _spark_verdict_ddl(explain)

    # 2. The default as_of: one small row per partition, the max on the driver.
    day = _as_date(as_of)
    if day is None:
        day = _latest_day(events, params, threads)
        if day is None:  # no accepted row at all: no window, no verdicts (as hotzone.scan)
            return spark.createDataFrame([], verdict_ddl)

    params["as_of"] = day.isoformat()
    first_day = (_window_first(day, look_back_days) - _dt.date(1970, 1, 1)).days
    tz_name = tz or "UTC"
    acc = spark.sparkContext.accumulator({}, _accumulator_param())
    k_params = dict(params)
    n_threads = threads

    # 3. Map: rows -> the partition's state, packed one row per subscriber.
    def map_part(batches):  # runs on the executors
        import pyarrow as pa
        from pyspark import TaskContext

        from hotzone import kernel

        pid = TaskContext.get().partitionId()
        head = next(batches, None)
        if head is None:
            acc.add({("map", pid): _compact({})})
            return
        reader = pa.RecordBatchReader.from_batches(head.schema, _it.chain([head], batches))
        state, s = kernel.map_state(reader, source=f"partition {pid}", threads=n_threads, **k_params)
        acc.add({("map", pid): _compact(s)})
        packed = _pack(state, first_day)
        step = 1 << 16
        for i in range(0, packed.num_rows, step):
            yield packed.slice(i, step)

    # 4. Reduce: every packed state of a subscriber -> the kernel's verdict.
    def reduce_part(batches):  # runs on the executors
        import pyarrow as pa
        import pyarrow.compute as pc
        from pyspark import TaskContext

        from hotzone import kernel

        pid = TaskContext.get().partitionId()
        states = (_unpack(b, first_day) for b in batches)
        reader = pa.RecordBatchReader.from_batches(kernel.STATE_SCHEMA, states)
        table = kernel.verdicts_of_states(reader, threads=n_threads, explain=explain, **k_params)
        acc.add({("reduce", pid): (table.num_rows, int(pc.sum(table.column("anomaly_detected").cast(pa.int64())).as_py() or 0))})
        table = table.set_column(
            table.schema.get_field_index("anomalous_days"), "anomalous_days",
            table.column("anomalous_days").cast(pa.int32()),
        )
        for b in table.to_batches(max_chunksize=1 << 16):
            yield b

    states = events.mapInArrow(map_part, _STATE_DDL)
    shuffled = states.repartition(int(partitions), "subscriber") if partitions else states.repartition("subscriber")
    result = shuffled.mapInArrow(reduce_part, verdict_ddl)
    window = {"first": _window_first(day, look_back_days), "last": day, "tz": tz_name}
    setattr(result, _SUMMARY_ATTR, _Report(acc, window, events))
    return result


def _latest_day(events: Any, params: Dict[str, Any], threads: Optional[int]) -> Optional[_dt.date]:
    """The latest accepted local day over every partition (one Spark job)."""
    tz = params.get("tz")
    default_region = params.get("default_region")
    strict = params.get("strict", False)

    def latest_part(batches):  # runs on the executors
        import pyarrow as pa
        from pyspark import TaskContext

        from hotzone import kernel

        pid = TaskContext.get().partitionId()
        head = next(batches, None)
        if head is None:
            return
        reader = pa.RecordBatchReader.from_batches(head.schema, _it.chain([head], batches))
        day, _ = kernel.latest_day(
            reader, tz=tz, default_region=default_region, strict=strict,
            source=f"partition {pid}", threads=threads,
        )
        yield pa.record_batch([pa.array([day], pa.date32())], names=["day"])

    try:
        rows = events.mapInArrow(latest_part, "day date").collect()
    except Exception as e:  # a strict reject: surface the kernel's own message
        msg = _kernel_error(e)
        if msg is None:
            raise
        raise ValueError(msg) from e
    days = [r[0] for r in rows if r[0] is not None]
    return max(days) if days else None


def _kernel_error(e: BaseException) -> Optional[str]:
    """The kernel's ``ValueError`` message inside a failed Spark job's error, if any."""
    import re

    found = re.findall(r"ValueError: (partition \d+: row \d+: [^\n]*)", str(e))
    return found[-1].strip() if found else None


assert VERDICT_COLUMNS == ("subscriber", "anomaly_detected", "anomaly_date", "anomalous_days", "first_anomaly_date")
