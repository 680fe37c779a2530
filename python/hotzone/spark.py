"""The scan on a Spark DataFrame: the kernel does the per-partition work, Spark shuffles states.

:func:`scan` returns a pyspark DataFrame with one verdict per subscriber, the same exact
answer as :func:`hotzone.scan` and the CLI give on the same rows. The plan is::

    events --project--> mapInArrow(kernel.map_state)       one state per input partition
           --repartition by subscriber-->                   states only, never events
           mapInArrow(kernel.verdicts_of_states)            every state of a subscriber meets

Map side: each input partition's rows go through :func:`hotzone.kernel.map_state` (every row
interpreted as the CLI does, rejects counted). The partition's state (per subscriber and local
day: ``hot`` and ``total``) is split into reduce buckets by a hash of the subscriber, and each
bucket's states leave the task as **one row**: ``bucket`` (int) and ``states`` (binary: the
bucket's subscribers and days in a columnar layout compressed with zstd, see :func:`_pack`).
Spark hash-partitions these rows on ``bucket`` (the keys are chosen so bucket ``b`` lands in
shuffle partition ``b``); a reduce task unpacks what it received and hands it to
:func:`hotzone.kernel.verdicts_of_states`, which adds the states of a subscriber and applies
the rule. Every state of a subscriber reaches the same reduce task, so its verdict is exact.

Without ``as_of``, one Spark job first runs :func:`hotzone.kernel.latest_day` on every
partition (one small row back per partition) and the driver takes the latest day.

Reading: when ``df`` is a plain scan of Parquet files (``spark.read.parquet(...)`` or a
Parquet table; a ``select`` may reorder or drop columns the kernel does not read, but no
filter, no computed column) whose files the executors can open as local paths (``file:``, a
local or shared file system), and each file holds the DataFrame's kernel columns with values
of the same kind (a timestamp as a timestamp, not as ``long`` ticks), the
map tasks do not take rows from Spark: each task reads its share of the files' row groups
with the kernel's own Parquet reader (:func:`hotzone.kernel.map_state_of_row_groups`), the
one the CLI uses. Spark then only schedules these tasks and shuffles the states. Converting
rows into Arrow batches for Python workers costs Spark's JVM more CPU than the whole scan
costs the kernel. The driver first checks every file's footer with the kernel
(:func:`hotzone.kernel.probe_parquet`), and it checks that the kernel would read exactly
the DataFrame's columns. The row groups are cut into tasks the way Spark cuts files
(``spark.sql.files.maxPartitionBytes``, ``openCostInBytes``, the default parallelism).
Otherwise (any other source, a filter, a computed column, a cached DataFrame, files on HDFS
or S3, a file the kernel cannot read or whose types Spark reads differently, INT96 times,
``ignoreCorruptFiles``/``ignoreMissingFiles``, ``int96TimestampConversion``, Parquet field
ids), the rows come from Spark through ``mapInArrow``.
Both ways give the same rows, so the answer is the same; ``reader=`` chooses, and the
summary's ``reader`` says which one ran.

Rejected rows: the map tasks report their summary (rows, events, rejects by reason, the
first rejected rows) through a Spark accumulator keyed by partition, so a task that runs
again (retry, speculation, a second action on the same DataFrame) replaces its entry instead
of adding to it. :func:`summary` returns the CLI-style summary of what has run.

Spark Connect (a ``SparkSession.builder.remote(...)`` session: Spark 4's thin client,
Databricks' serverless and shared clusters) has no accumulators and no plan to inspect.
There the rows always come from Spark (``mapInArrow``; ``reader="kernel"`` is refused), and
the summary travels in the data instead: each map task adds one row holding its summary to
the states it sends, and each reduce task one marker row to its verdicts. Both are
collected by Spark's observed metrics (``DataFrame.observe``) and filtered out before the
shuffle and before the result, so the verdicts are the same rows. The map counts arrive
whole with the first action on the result (a shuffle runs every map task);
``reduce_partitions_reported`` counts the reduce tasks that ran in the latest action. The
metrics reach the client in one gRPC message, so the first rejected rows are those of the first
``OBSERVED_REJECT_PARTITIONS`` partitions with rejects (the counts are every task's).
"""

from __future__ import annotations

import datetime as _dt
import itertools as _it
import re
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

from . import _hotzone_text, _resolve_columns, _shown, _shown_names, _spec, _threads, _whole

__all__ = ["scan", "summary", "REQUIRED_COLUMNS", "OPTIONAL_COLUMNS"]

#: Columns every input must have (after ``columns`` renames them).
REQUIRED_COLUMNS = ("event_time", "subscriber", "direction", "kind")
#: Columns the kernel reads when present.
OPTIONAL_COLUMNS = ("counterparty", "duration_s", "counterparty_region")
_FIELDS = ("event_time", "subscriber", "counterparty", "direction", "kind", "duration_s", "counterparty_region")

#: Rejected rows kept per map partition in the summary's ``reject_rows`` (counts are exact).
REJECT_ROWS_PER_PARTITION = 100
#: Under Spark Connect, the map partitions (the first by partition id) whose rejected rows the
#: summary's ``reject_rows`` holds; every partition's counts are kept. The observed metrics
#: reach the client in one gRPC message (128 MiB at most by default): at ~7 KB of rejected rows
#: per partition, some 20,000 partitions with rejects failed the action after its job ran.
OBSERVED_REJECT_PARTITIONS = 1000

_STATE_DDL = "bucket int, states binary"
_SUMMARY_ATTR = "_hotzone_summary"


# ----------------------------------------------------------------------------- parameters


def _resolve(df_columns: Sequence[str], columns: Optional[Mapping[str, str]]) -> List[Tuple[str, str]]:
    """``[(input column, canonical name)]`` for the kernel's fields present in the input, as
    the CLI resolves them: a mapped export name wins over a column that carries the canonical
    name. ``ValueError`` names the required columns that are missing."""
    # Names are compared trimmed, as the kernel compares them (``" msisdn "`` maps ``msisdn``).
    mapping = [(str(src).strip(), str(dst).strip()) for src, dst in dict(columns or {}).items()]
    for src, dst in mapping:
        if dst not in _FIELDS:
            raise ValueError(
                f"invalid columns: {_shown(dst)} (for {_shown(src)}) "
                f"is not a canonical column ({', '.join(_FIELDS)})"
            )
    # The kernel's rule, in one Python copy (`hotzone._resolve_columns`): trimmed names, each
    # field's mapped names then its canonical one, as written first, then in another case.
    found = _resolve_columns(list(df_columns), dict(mapping))
    missing = [f for f in REQUIRED_COLUMNS if f not in found]
    if missing:
        raise ValueError(
            f"the DataFrame lacks the required column(s) {', '.join(missing)} "
            f"(columns found: {_shown_names(df_columns)}; map export names with "
            'columns={"export_name": "canonical_name"})'
        )
    return [(df_columns[found[f]], f) for f in _FIELDS if f in found]


def _check_types(schema: Any, picked: List[Tuple[str, str]]) -> None:
    """The Spark types the kernel reads; anything else fails here, before a job runs."""
    from pyspark.sql import types as T

    ints = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
    # Floats and decimals are read as the kernel reads a pandas column of integers with a
    # gap: an integral value as its integer, anything else a rejected row; binary as UTF-8
    # text.
    floats = (T.FloatType, T.DoubleType, T.DecimalType)
    # An all-null column (``F.lit(None)``, Spark's void) is read as nulls, as the kernel
    # reads an Arrow null column: a withheld counterparty, or `missing_*` rows.
    # `char(n)` and `varchar(n)` (kept as such under `spark.sql.preserveCharVarcharTypeInfo`)
    # are text too.
    text = (T.StringType, T.BinaryType, T.NullType) + tuple(
        getattr(T, name) for name in ("CharType", "VarcharType") if hasattr(T, name)
    )
    # The first column of a name, as the kernel takes it.
    by_name: Dict[str, Any] = {}
    for f in schema.fields:
        by_name.setdefault(f.name, f.dataType)
    for src, field in picked:
        t = by_name[src]
        if field == "event_time":
            ok = isinstance(t, (T.TimestampType, T.TimestampNTZType) + text + ints + floats)
            want = "a timestamp, epoch milliseconds (integer) or RFC 3339 text"
        elif field == "duration_s":
            # A day-time interval reaches the kernel as an Arrow duration: only its sign counts.
            ok = isinstance(t, text + ints + floats + (T.DayTimeIntervalType,))
            want = "an integer, text or a day-time interval"
        elif field in ("subscriber", "counterparty"):
            ok = isinstance(t, text + ints + floats)
            want = "text or an integer"
        else:
            ok = isinstance(t, text + ints)
            want = "text"
        if not ok:
            name = src if src == field else f"{src} (as {field})"
            raise ValueError(f"column {name} has Spark type {t.simpleString()}; expected {want}")


def _check_partition_numbers(df: Any, picked: List[Tuple[str, str]]) -> None:
    """Refuses a number field read from a partition column that Spark's partition discovery
    typed as a number: ``subscriber=+886912345678/`` directories come back as the ``bigint``
    886912345678 (Java's parser takes the ``+``; leading zeros go too), which the kernel would
    read as a national number, a wrong subscriber with no reject. In classic Spark the plan
    is walked: only one that reads files (through filters and projections, whose renames of
    bare columns are followed) says something. Where it cannot be walked (Spark Connect),
    the ``key=value`` directories above any input file name the partition columns, and the
    client's own plan says which column each number column was renamed from."""
    from pyspark.sql import types as T

    by_name = {f.name: f.dataType for f in df.schema.fields}
    numeric = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.DecimalType, T.DoubleType)
    numbers = [
        src for src, field in picked
        if field in ("subscriber", "counterparty") and isinstance(by_name.get(src), numeric)
    ]
    if not numbers:  # text numbers: whatever the directories, nothing to refuse (no listing)
        return
    # Each column's name in the relation below: a rename (`withColumnRenamed`, `toDF`, an
    # alias of a bare column) is followed down the projections; a computed column is not.
    # The analyzed plan names each column once; under Connect a column may have several
    # candidates (see `_client_plan_origins`), compared without case.
    origin: Dict[str, Set[str]] = {src: {src} for src in numbers}
    try:
        node = df._jdf.queryExecution().analyzed()
        while node.children().size() == 1 and node.getClass().getSimpleName() != "LogicalRelation":
            if node.getClass().getSimpleName() == "Project":
                below = {}
                for e in _seq(node.projectList()):
                    kind = e.getClass().getSimpleName()
                    if kind == "Alias" and e.child().getClass().getSimpleName() == "AttributeReference":
                        below[e.name()] = e.child().name()
                    elif kind == "AttributeReference":
                        below[e.name()] = e.name()
                origin = {src: {below[n] for n in names if n in below} for src, names in origin.items()}
            node = node.children().apply(0)
        if node.getClass().getSimpleName() != "LogicalRelation":
            return
        # The analyzed plan's names are exact: each stands for itself.
        parted = {k: k for k in node.relation().partitionSchema().fieldNames()}
    except Exception:  # Spark Connect (no analyzed plan), or a plan of another shape
        parted = {k.casefold(): k for k in _directory_keys(df)}
        origin = {src: {c.casefold() for c in names}
                  for src, names in _client_plan_origins(df, numbers).items()}
    for src in numbers:
        t = by_name[src]
        hit = sorted(c for c in origin.get(src, ()) if c in parted)
        if hit:
            below = parted[hit[0]]
            name = src if below.casefold() == src.casefold() else f"{src} (renamed from {below})"
            raise ValueError(
                f"column {name} is a partition column that Spark's partition discovery typed as "
                f"{t.simpleString()}: its numbers lost their + (and leading zeros) and would be "
                "read as national numbers. Read the files with "
                "spark.conf.set('spark.sql.sources.partitionColumnTypeInference.enabled', 'false')"
            )


# A SQL text that names one column, perhaps under an alias (``selectExpr("subscriber")``,
# ``"subscriber AS msisdn"``, ``"`a b` msisdn"``); anything else in SQL is a computation.
_SQL_NAME = r"(`(?:[^`]|``)+`|[A-Za-z_][A-Za-z0-9_]*)"
_SQL_ONE_NAME = re.compile(rf"\s*{_SQL_NAME}(?:\s+(?:AS\s+)?{_SQL_NAME})?\s*", re.IGNORECASE)
# Expressions that compute a value: their column is not the one they read.
_COMPUTED = {"CaseWhen", "LiteralExpression", "UnresolvedFunction", "CastExpression",
             "CommonInlineUserDefinedFunction", "WithField", "DropField", "UnresolvedExtractValue",
             "LambdaFunction", "WindowExpression", "CallFunction", "SubqueryExpression"}
# Plan nodes that keep their input's column names.
_KEEPING = {"Filter", "Sort", "Limit", "Offset", "Tail", "Hint", "SubqueryAlias", "Deduplicate",
            "Sample", "Repartition", "RepartitionByExpression", "Drop", "WithWatermark", "NAFill",
            "NADrop", "NAReplace", "ToSchema", "CollectMetrics"}
# Plan nodes that read a relation: the walk's end.
_READING = {"Read", "DataSource", "CachedRelation", "CachedRemoteRelation", "LocalRelation",
            "SQL", "Range"}


def _identifier(text: str) -> str:
    """A column's name as a Connect client's column reference spells it: `` `a b` `` is
    ``a b`` (a doubled backtick is one). A dotted name stays whole: ``info.subscriber`` may
    be a struct's field as well as a qualified column."""
    if len(text) >= 2 and text[0] == text[-1] == "`":
        return text[1:-1].replace("``", "`")
    return text


def _column_source(column: Any) -> Tuple[Optional[str], Any]:
    """``(the name a Connect client's column takes, the column below it reads)``: a bare
    reference or a SQL text of one name reads that column, under an alias too; a computation
    reads none (None); an expression of a kind not known here gives ``...``."""
    expr = getattr(column, "_expr", None)
    alias = None
    if type(expr).__name__ == "ColumnAlias":
        if len(expr._alias) != 1:
            return None, None
        alias, expr = expr._alias[0], expr._child
    kind = type(expr).__name__
    if kind == "ColumnReference":
        name = _identifier(expr._unparsed_identifier)
        return alias or name, name
    if kind == "SQLExpression":
        m = _SQL_ONE_NAME.fullmatch(expr._expr)
        if m is None:
            return alias, None
        name = _identifier(m.group(1))
        return alias or (_identifier(m.group(2)) if m.group(2) else name), name
    return alias, (None if kind in _COMPUTED else ...)


def _client_plan_origins(df: Any, names: List[str]) -> Dict[str, Set[str]]:
    """Under Spark Connect, for each of ``names``, the names its column may have in the
    relation below, from the client's own plan (the server's analyzed plan is out of reach):
    renames (``withColumnRenamed``, ``withColumnsRenamed``: undone last first, and a rename of
    a column that was not there changes nothing, so both names stay), aliases of bare columns
    in a ``select`` or a ``selectExpr``, and copies by ``withColumn`` are followed down
    through filters, sorts, limits, drops and the like; a computed column has none (an empty
    set). Names are compared without case, as Spark resolves them. Where the plan takes a
    shape this does not know (a join, an aggregation, an expression of an unknown kind), the
    names as they are at the top are the answer: what the check by name alone would do."""
    fold = str.casefold
    top: Dict[str, Set[str]] = {n: {n} for n in names}
    origin = {n: set(c) for n, c in top.items()}
    node = getattr(df, "_plan", None)
    try:
        while node is not None:
            kind = type(node).__name__
            if kind in _READING:
                return origin
            if kind == "WithColumnsRenamed":
                for old, new in reversed(list(node._colsMap.items())):
                    for cands in origin.values():
                        if any(fold(c) == fold(new) for c in cands):
                            cands.add(old)
            elif kind in ("Project", "WithColumns"):
                if kind == "Project":
                    made = dict(_column_source(c) for c in node._columns)
                    star = any(type(getattr(c, "_expr", None)).__name__ == "UnresolvedStar"
                               for c in node._columns)
                else:
                    made = {n: _column_source(c)[1] for n, c in zip(node._columnNames, node._columns)}
                    star = True
                by_fold = {fold(k): v for k, v in made.items() if k is not None}
                for n, cands in origin.items():
                    below: Set[str] = set()
                    for c in cands:
                        if fold(c) in by_fold:
                            src = by_fold[fold(c)]
                            if src is ...:
                                return top
                            if src is not None:
                                below.add(src)
                        elif star:
                            below.add(c)
                    origin[n] = below
            elif kind == "Drop":
                # A dropped name is no source of a column above (a rename's old name).
                dropped = (c if isinstance(c, str) else _column_source(c)[0] for c in node._columns)
                gone = {fold(c) for c in dropped if c is not None}
                for cands in origin.values():
                    if len(cands) > 1:
                        cands.difference_update({c for c in cands if fold(c) in gone})
            elif kind not in _KEEPING:
                return top
            node = node._child
    except Exception:  # another client's plan classes: the names as they are
        return top
    return origin


def _window_first(as_of: _dt.date, look_back_days: int) -> _dt.date:
    return as_of - _dt.timedelta(days=int(look_back_days) - 1)


def _as_date(as_of: Union[None, str, _dt.date]) -> Optional[_dt.date]:
    # Validated by ``_spec`` first; "" is no as_of there too (as the CLI's ``--as-of ""``).
    if as_of is None or as_of == "" or isinstance(as_of, _dt.date):
        return as_of or None
    return _dt.date.fromisoformat(str(as_of))


# ----------------------------------------------------------------------------- packing
#
# A map task's state leaves it as one row per *reduce bucket*: ``bucket`` (int) and ``states``
# (binary), the states of every subscriber of the task that hashes to that bucket, in a
# columnar layout compressed with zstd. ``repartition`` on ``bucket`` sends all the states of
# a subscriber to one reduce task (the bucket is a function of the subscriber alone), and a
# shuffle row carries hundreds of subscribers, so Spark's per-row cost (a 40-byte row per
# subscriber and day if the state went as it is) is paid once per bucket.

_MAGIC = 0x48  # "H", and the layout's version in the next byte
_VERSION = 3
_WINDOW_KEY = b"hotzone.window"
_SELECTION_KEY = b"hotzone.selection"
_M32 = 0xFFFFFFFF
_HEAD = "<BBBBIIqH"  # magic, version, w, d, G, N, first subscriber, L
_ZSTD_LEVEL = 1


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _spark_hash_int(value: int, seed: int = 42) -> int:
    """Spark's ``hash()`` of an int column (Murmur3_x86_32.hashInt, seed 42), as a signed int."""
    k1 = (value & _M32) * 0xCC9E2D51 & _M32
    k1 = _rotl32(k1, 15) * 0x1B873593 & _M32
    h1 = (seed & _M32) ^ k1
    h1 = (_rotl32(h1, 13) * 5 + 0xE6546B64) & _M32
    h1 ^= 4
    h1 ^= h1 >> 16
    h1 = h1 * 0x85EBCA6B & _M32
    h1 ^= h1 >> 13
    h1 = h1 * 0xC2B2AE35 & _M32
    h1 ^= h1 >> 16
    return h1 - (1 << 32) if h1 >= 1 << 31 else h1


def _bucket_keys(n: int) -> List[int]:
    """``keys[b]``: an int that Spark's hash partitioning into ``n`` partitions sends to
    partition ``b`` (``pmod(hash(key), n) == b``), so the ``n`` buckets fill ``n`` distinct
    partitions. (Were Spark's hash ever different, each bucket would still go to one
    partition: the answer stays exact, only the balance would suffer.)"""
    keys: List[Optional[int]] = [None] * n
    left = n
    k = 0
    while left:
        b = _spark_hash_int(k) % n
        if keys[b] is None:
            keys[b] = k
            left -= 1
        k += 1
    return keys  # type: ignore[return-value]


def _bucket_of(subs: Any, n: int) -> Any:
    """The reduce bucket of each subscriber (a multiplicative hash of its digits)."""
    import numpy as np

    h = subs.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((h >> np.uint64(32)) % np.uint64(n)).astype(np.int64)


def _pack(state: Any, first_day: int) -> bytes:
    """A state batch (``subscriber``, ``day``, ``hot``, ``total``) -> bytes.

    Layout (little-endian), version 3: a header ``0x48``, version 3, ``w`` (bytes per count:
    1, 2 or 4, the least that holds every count), ``d`` (bytes per subscriber delta: 4, or 8
    when a gap between two subscribers does not fit in 32 bits), u32 ``G`` subscribers, u32
    ``N`` state rows, i64 the first subscriber's digits, u16 ``L`` and the ``L`` bytes of the
    window the state counts and, after a newline, the events it selects (its schema metadata,
    so the kernel still refuses a state of another window or selection after the shuffle). Then five sections, each a u32 length and its bytes
    compressed with zstd on their own: the ``G - 1`` gaps between consecutive subscribers
    (sorted ascending; ``d`` bytes each), the ``G`` subscribers' day counts (u8), the ``N``
    day offsets from the window's first day (u8: a window has at most 90 days), the ``N`` hot
    counts and the ``N`` totals (``w`` bytes each). Compressing the columns apart made the
    blobs of a time-ordered map task a quarter smaller than one zstd frame over them all
    (each column's values look alike; BENCHMARKS.md, "Spark").
    """
    import struct

    import numpy as np
    import pyarrow as pa

    subs = state.column("subscriber").to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    day = state.column("day").cast(pa.int32()).to_numpy(zero_copy_only=False)
    hot = state.column("hot").to_numpy(zero_copy_only=False)
    total = state.column("total").to_numpy(zero_copy_only=False)
    n_rows = len(subs)
    if n_rows > 1 and bool(np.any((subs[1:] < subs[:-1]) | ((subs[1:] == subs[:-1]) & (day[1:] <= day[:-1])))):
        order = np.lexsort((day, subs))  # the kernel writes them sorted; be safe anyway
        subs, day, hot, total = subs[order], day[order], hot[order], total[order]
    top = int(total.max()) if n_rows else 0
    w = 1 if top < 1 << 8 else 2 if top < 1 << 16 else 4
    if n_rows:
        starts = np.flatnonzero(np.r_[True, subs[1:] != subs[:-1]])
        counts = np.diff(np.r_[starts, n_rows])
        firsts = subs[starts]
    else:
        counts = firsts = np.zeros(0, np.int64)
    gaps = np.diff(firsts)
    d = 4 if not len(gaps) or int(gaps.max()) <= _M32 else 8
    meta = state.schema.metadata or {}
    window = meta.get(_WINDOW_KEY, b"")
    if window and meta.get(_SELECTION_KEY):
        window += b"\n" + meta[_SELECTION_KEY]
    zstd = pa.Codec("zstd", compression_level=_ZSTD_LEVEL)
    out = [
        struct.pack(_HEAD, _MAGIC, _VERSION, w, d, len(firsts), n_rows, int(firsts[0]) if len(firsts) else 0, len(window)),
        window,
    ]
    for column in (
        gaps.astype(f"<u{d}"),
        counts.astype(np.uint8),
        (day - first_day).astype(np.uint8),
        hot.astype(f"<u{w}"),
        total.astype(f"<u{w}"),
    ):
        packed = zstd.compress(column.tobytes(), asbytes=True)
        out += [struct.pack("<I", len(packed)), packed]
    return b"".join(out)


def _unpack(blob: bytes, first_day: int) -> Any:
    """The inverse of :func:`_pack`: bytes -> a state batch of the kernel's ``STATE_SCHEMA``."""
    import struct

    import numpy as np
    import pyarrow as pa

    from .kernel import STATE_SCHEMA

    head = struct.calcsize(_HEAD)
    if len(blob) < head or blob[0] != _MAGIC or blob[1] != _VERSION:
        raise ValueError("a shuffled state is not in the layout this version of hotzone.spark writes")
    _, _, w, d, g, n, first_sub, wl = struct.unpack_from(_HEAD, blob)
    if w not in (1, 2, 4) or d not in (4, 8):
        raise ValueError("a shuffled state is not in the layout this version of hotzone.spark writes")
    if g > n or n > 90 * g:  # a subscriber has 1 to 90 days: no allocation from a bad header
        raise ValueError("a shuffled state is inconsistent")
    window = bytes(blob[head : head + wl])
    at = head + wl
    zstd = pa.Codec("zstd")
    columns = []
    for size, dtype in ((g - 1 if g else 0, f"<u{d}"), (g, np.uint8), (n, np.uint8), (n, f"<u{w}"), (n, f"<u{w}")):
        if len(blob) < at + 4:
            raise ValueError("a shuffled state is truncated")
        (length,) = struct.unpack_from("<I", blob, at)
        at += 4
        raw_size = size * np.dtype(dtype).itemsize
        try:
            raw = zstd.decompress(memoryview(blob)[at : at + length], decompressed_size=raw_size, asbytes=True)
        except OSError as e:  # zstd's own check of a damaged section
            raise ValueError(f"a shuffled state is damaged ({e})") from e
        if len(raw) != raw_size:
            raise ValueError("a shuffled state is truncated")
        columns.append(np.frombuffer(raw, dtype, size))
        at += length
    if at != len(blob):
        raise ValueError("a shuffled state is inconsistent")
    gaps, counts, offsets, hot, total = columns
    counts = counts.astype(np.int64)
    if int(counts.sum()) != n:
        raise ValueError("a shuffled state is inconsistent")
    firsts = np.cumsum(np.r_[np.int64(first_sub), gaps.astype(np.int64)]) if g else np.zeros(0, np.int64)
    subs = np.repeat(firsts, counts)
    day = offsets.astype(np.int32) + first_day
    return pa.RecordBatch.from_arrays(
        [pa.array(subs, pa.int64()), pa.array(day, pa.int32()).cast(pa.date32()),
         pa.array(hot.astype(np.int64)), pa.array(total.astype(np.int64))],
        schema=STATE_SCHEMA.with_metadata(_metadata(window)) if window else STATE_SCHEMA,
    )


def _metadata(named: bytes) -> Dict[bytes, bytes]:
    """A packed state's ``window[\\nselection]`` bytes -> its schema metadata."""
    window, _, selection = named.partition(b"\n")
    meta = {_WINDOW_KEY: window}
    if selection:
        meta[_SELECTION_KEY] = selection
    return meta


def _split(state: Any, buckets: int) -> Iterator[Tuple[int, Any]]:
    """``(bucket, state rows of its subscribers)`` for every non-empty bucket."""
    import numpy as np

    subs = state.column("subscriber").to_numpy(zero_copy_only=False)
    if len(subs) == 0:
        return
    b = _bucket_of(subs, buckets)
    order = np.argsort(b, kind="stable")  # keeps subscriber order within a bucket
    sb = b[order]
    edges = np.flatnonzero(np.r_[True, sb[1:] != sb[:-1], True])
    for i in range(len(edges) - 1):
        lo, hi = edges[i], edges[i + 1]
        yield int(sb[lo]), state.take(order[lo:hi])


# ----------------------------------------------------------------------------- the kernel's own read

_READERS = ("auto", "kernel", "spark")


class _Files:
    """A plain Parquet scan the kernel reads itself: its files, the ``columns`` mapping of
    their names, and the row groups of each map task (``tasks[i]``: ``[(path, first, end)]``)."""

    def __init__(self, paths: List[str], columns: Dict[str, str], tasks: List[List[Tuple[str, int, int]]]) -> None:
        self.paths = paths
        self.columns = columns
        self.tasks = tasks

    def tasks_frame(self, spark: Any) -> Any:
        """One row (the task's index) in each of ``len(tasks)`` partitions."""
        n = len(self.tasks)
        return spark.range(0, n, 1, n)

    def parts_of(self, batches: Iterator[Any]) -> List[Tuple[str, int, int]]:
        """The row groups of the tasks whose indices a partition of :meth:`tasks_frame` holds."""
        return [p for b in batches for i in b.column(0).to_pylist() for p in self.tasks[i]]


def _seq(jseq: Any) -> List[Any]:
    """A Scala ``Seq`` seen through py4j -> a Python list."""
    return [jseq.apply(i) for i in range(jseq.size())]


def _local_path(uri: str) -> Optional[str]:
    from urllib.parse import unquote, urlparse

    u = urlparse(uri)
    if u.scheme in ("", "file") and u.netloc in ("", "localhost"):
        return unquote(u.path)
    return None


#: Files whose footers :func:`_visible_parquet` reads for the zone they record, at most.
_ZONE_PROBE_FILES = 256


def _visible_parquet(df: Any) -> List[str]:
    """The Parquet files ``df`` reads that this process can open (its first
    ``_ZONE_PROBE_FILES``), when the kernel does not read them: Spark's rows, a filtered or
    computed frame, Spark Connect. What zone they record is still worth the warning (best
    effort: none for remote files or a frame that reads no files)."""
    import os

    try:
        uris = df.inputFiles()
    except Exception:  # not a file scan
        return []
    found = []
    for uri in uris:
        p = _local_path(uri)
        if p is not None and p.endswith(".parquet") and os.path.isfile(p):
            found.append(p)
            if len(found) == _ZONE_PROBE_FILES:
                break
    return found


def _kinds_for(t: Any) -> Tuple[str, ...]:
    """The kinds of Parquet column (:func:`hotzone.kernel.probe_parquet`) whose values Spark
    reads as the kernel does, for a DataFrame column of Spark type ``t``. Spark reads a file
    column as the DataFrame's type: an INT64 timestamp asked for as ``long`` gives raw ticks
    (a user schema, a catalog's ``bigint``, ``nanosAsLong``), so the kinds must agree."""
    from pyspark.sql import types as T

    if isinstance(t, (T.TimestampType, T.TimestampNTZType)):
        return ("timestamp",)
    if isinstance(t, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return ("integer",)
    if isinstance(t, T.StringType):
        return ("text", "partition")
    return ()


def _data_files(paths: List[str]) -> List[str]:
    """The files of a listing (local paths) that Spark scans: not ``_metadata`` or
    ``_common_metadata`` (Parquet summary files, which the listing keeps) and not empty files,
    which Spark skips (``isDataPath`` and ``getLen > 0``)."""
    import os

    return [
        p for p in paths
        if os.path.basename(p) not in ("_metadata", "_common_metadata")
        and not (os.path.isfile(p) and os.path.getsize(p) == 0)
    ]


def _true(value: Any) -> bool:
    return str(value).strip().lower() == "true"


# The kernel's refusals of a file for what its columns hold (not for what the kernel cannot
# decode): a scan of such files is refused, not read through Spark's rows instead.
_REFUSED_VALUES = ("of Parquet's JSON type", "of Parquet's BSON type", "of the extension type")


def _directory_keys(df: Any) -> set:
    """The ``key`` of every ``key=value`` directory above the files ``df`` reads (none when it
    reads no files): the partition columns Spark's discovery finds, where the plan cannot be
    walked (Spark Connect)."""
    import posixpath
    from urllib.parse import unquote

    try:
        files = df.inputFiles()
    except Exception:  # not a file scan
        return set()
    keys = set()
    for f in files:
        for part in posixpath.dirname(f.split("://", 1)[-1]).split("/"):
            # Spark skips `.` names and `_` names without `=` (`_key=value` is a partition).
            if "=" in part and not part.startswith("."):
                # A key is escaped twice in these URIs: Spark escapes `:`, `%`, `=`... in a
                # directory's name, then the URI escapes `%` and a space. Undone both ways,
                # it is the column's name (`msisdn%20id=` is the column `msisdn id`). Undone
                # once too, for a store that hands back paths escaped only once.
                key = part.split("=", 1)[0]
                keys.update((unquote(key), unquote(unquote(key))))
    return keys


def _plain_parquet(df: Any, picked: List[Tuple[str, str]]) -> Tuple[Optional[_Files], str]:
    """``(files, "")`` when the kernel can read ``df``'s rows itself, else ``(None, why not)``.

    ``df`` must be a plain scan of Parquet files: its optimized logical plan is a
    ``LogicalRelation`` over a ``HadoopFsRelation`` in ``ParquetFileFormat`` (a Delta or an
    Iceberg table is not), under at most projections of bare columns, so the DataFrame holds
    every row of its files, unchanged. Every file is a local path, and the kernel reads every
    file and would take exactly the picked columns from it. A picked partition column (its
    values in directory names, ``kind=sms/``) is one the kernel takes from those names too
    (REFERENCE.md §2.5) when Spark typed it as text and no file holds a column of its name
    (Spark reads the directory's value, the kernel the file's); a column the kernel would take
    from a directory is a partition column of Spark's.
    """
    spark = df.sparkSession
    try:
        level = df.storageLevel
        node = df._jdf.queryExecution().optimizedPlan()
    except Exception:  # Spark Connect: no plan to inspect
        return None, "the plan cannot be inspected (Spark Connect)"
    if level.useMemory or level.useDisk or level.useOffHeap:  # even if the plan predates it
        return None, "the DataFrame is cached (Spark reads the cache, not the files)"
    try:
        while node.getClass().getSimpleName() == "Project":
            for e in _seq(node.projectList()):
                if e.getClass().getSimpleName() != "AttributeReference":
                    return None, "the DataFrame computes a column"
            node = node.child()
        kind = node.getClass().getSimpleName()
        if kind != "LogicalRelation":
            return None, f"the DataFrame is not a plain file scan (its plan has {kind})"
        rel = node.relation()
        if rel.getClass().getSimpleName() != "HadoopFsRelation":
            return None, "the DataFrame does not read files"
        fmt = rel.fileFormat().getClass().getSimpleName()
        if fmt != "ParquetFileFormat":
            return None, f"the files are not plain Parquet ({fmt})"
        parted = set(rel.partitionSchema().fieldNames())
        uris = list(rel.location().inputFiles())
        options = {}
        it = rel.options().iterator()
        while it.hasNext():
            kv = it.next()
            options[str(kv._1()).lower()] = kv._2()
    except Exception as e:  # a plan shape this Spark version does not have
        return None, f"the plan cannot be inspected ({type(e).__name__})"
    from pyspark.sql import types as T

    for src, _ in picked:
        t = df.schema[src].dataType
        if src in parted and not isinstance(t, T.StringType):
            return None, (
                f"column {src} is a partition column that Spark typed as {t.simpleString()} "
                "(the kernel reads its directories' text)"
            )
    conf = spark.conf
    for key in ("ignoreCorruptFiles", "ignoreMissingFiles"):
        if _true(options.get(key.lower(), conf.get(f"spark.sql.files.{key}", "false"))):
            return None, f"{key} is set (Spark skips files the kernel would report)"
    for key in ("spark.sql.parquet.int96TimestampConversion", "spark.sql.parquet.fieldId.read.enabled"):
        if _true(conf.get(key, "false")):
            return None, f"{key} is set (Spark then reads other values than the files hold)"
    paths = []
    for uri in uris:
        p = _local_path(uri)
        if p is None:
            return None, f"the files are not local paths ({uri.split(':', 1)[0]}:)"
        paths.append(p)
    paths = _data_files(paths)
    if not paths:
        return None, "the scan has no files"
    import os

    # A file listed twice (`spark.read.parquet(dir, dir + "/a.parquet")`, or a symlink beside
    # its target) is read by Spark once per listing, and two listings may share a task, where
    # the kernel reads a row group once: Spark's rows then.
    if len({os.path.realpath(p) for p in paths}) != len(paths):
        return None, "a file is listed more than once (Spark reads it once per listing)"
    columns = {src: field for src, field in picked if src != field}
    from . import kernel

    try:
        probes = kernel.probe_parquet(paths, columns=columns)
    except Exception as e:  # any file the kernel cannot read: Spark's rows instead
        said = str(e)
        if any(m in said for m in _REFUSED_VALUES):
            # A column whose values no field takes (a JSON document, an extension's
            # integers): Spark's rows would hand it over as plain text or numbers, read
            # then as unknown counterparties or national numbers, with nothing said.
            raise ValueError(said) from None
        return None, f"the kernel cannot read a file: {said}"
    want = sorted((src, field) for src, field in picked)
    types = {f.name: f.dataType for f in df.schema.fields}
    for path, (_, taken) in zip(paths, probes):
        if sorted((a, b) for a, b, _ in taken) != want:
            got = ", ".join(f"{a} as {b}" for a, b, _ in sorted(taken))
            return None, f"the kernel would read other columns of {path} ({got}) than the DataFrame's"
        for src, _, kind in taken:
            if (kind == "partition") != (src in parted):
                where = "a directory's" if src in parted else "the file's"
                return None, (
                    f"column {src} of {path} is {where} for Spark but not for the kernel "
                    "(a partition column a file also holds, or a key=value directory Spark does not read)"
                )
            if kind not in _kinds_for(types[src]):
                return None, (
                    f"column {src} of {path} holds {kind} values that Spark reads as "
                    f"{types[src].simpleString()}"
                )
    return _Files(paths, columns, _cut(spark, paths, [sizes for sizes, _ in probes])), ""


def _cut(spark: Any, paths: List[str], sizes: List[List[int]]) -> List[List[Tuple[str, int, int]]]:
    """Row groups -> map tasks, the way Spark cuts files into splits and packs them: a split
    holds at most ``limit = min(maxPartitionBytes, max(openCostInBytes, total bytes / default
    parallelism))`` bytes of a file (but a row group is never cut), and consecutive splits share a
    task while its bytes, each split counting ``openCostInBytes`` more, stay within ``limit``.
    Files and row groups keep their order, so a time-ordered export keeps its order per task."""
    conf = spark._jsparkSession.sessionState().conf()
    max_bytes, open_cost = int(conf.filesMaxPartitionBytes()), int(conf.filesOpenCostInBytes())
    total = sum(sum(s) + open_cost for s in sizes)
    per_core = total // max(1, spark.sparkContext.defaultParallelism)
    limit = min(max_bytes, max(open_cost, per_core))
    splits: List[Tuple[str, int, int, int]] = []  # (path, first, end, bytes)
    for path, groups in zip(paths, sizes):
        lo, held = 0, 0
        for i, size in enumerate(groups):
            if i > lo and held + size > limit:
                splits.append((path, lo, i, held))
                lo, held = i, 0
            held += size
        if len(groups) > lo:
            splits.append((path, lo, len(groups), held))
    tasks: List[List[Tuple[str, int, int]]] = []
    current: List[Tuple[str, int, int]] = []
    used = 0
    for path, lo, hi, size in splits:
        if current and used + size > limit:
            tasks.append(current)
            current, used = [], 0
        current.append((path, lo, hi))
        used += size + open_cost
    if current:
        tasks.append(current)
    return tasks


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


class _Fixed:
    """An accumulator's stand-in holding entries already known on the driver."""

    def __init__(self, value: Dict[Any, Any]) -> None:
        self.value = value


class _Report:
    """The driver's view of one scan's accumulator."""

    def __init__(
        self,
        acc: Any,
        window: Optional[Dict[str, Any]],
        events: Any,
        files: Optional[_Files],
        epoch_warning: Optional[str] = None,
        zone_warning: Optional[str] = None,
        watch: Optional[Tuple[Any, Any]] = None,
    ) -> None:
        self.acc = acc
        self.watch = watch
        self.window = window
        self.epoch_warning = epoch_warning
        self.zone_warning = zone_warning
        self.events = events
        self.files = files
        self._partitions: Optional[int] = None if files is None else len(files.tasks)
        if isinstance(acc, _Fixed):  # the as_of pass's entries: one per map partition
            self._partitions = sum(1 for k in acc.value if k[0] == "map")

    @property
    def map_partitions(self) -> Optional[int]:
        if self.watch is not None:  # Connect: known once the map counts arrive (all at once)
            return self._partitions
        if self._partitions is None:  # planning only, no job
            self._partitions = self.events.rdd.getNumPartitions()
        return self._partitions

    def _observed(self) -> Tuple[Dict[int, Dict[str, Any]], Tuple[int, int, int]]:
        """Under Spark Connect: the map summaries and the reduce totals (tasks, subscribers,
        anomalous) of the latest action, from the observed metrics (empty before one)."""
        import json

        assert self.watch is not None
        got_maps, got_reduce = self.watch[0].get, self.watch[1].get
        maps = {}
        for text in got_maps.get("maps") or []:
            entry = json.loads(text)
            entry.setdefault("reject_rows", [])
            maps[int(entry.pop("partition"))] = entry
        for pid, rows in got_maps.get("reject_rows") or []:  # the first partitions' only
            if int(pid) in maps:
                maps[int(pid)]["reject_rows"] = json.loads(rows)
        reduces = {}
        for text in got_reduce.get("reduces") or []:  # by partition: a task run twice once
            entry = json.loads(text)
            reduces[int(entry["partition"])] = (int(entry["subscribers"]), int(entry["anomalous"]))
        subscribers = sum(r[0] for r in reduces.values())
        return maps, (len(reduces), subscribers, sum(r[1] for r in reduces.values()))

    def summary(self) -> Dict[str, Any]:
        if self.watch is not None:
            maps, (reduce_tasks, subscribers, anomalous) = self._observed()
            # The map counts arrive whole with an action (see the module's docs); before one
            # the number of map partitions is not known (None): no job runs to learn it.
            self._partitions = len(maps) if maps else None
        else:
            entries = dict(self.acc.value)
            maps = {k[1]: v for k, v in entries.items() if k[0] == "map"}
            reduces = {k[1]: v for k, v in entries.items() if k[0] == "reduce"}
            reduce_tasks = len(reduces)
            subscribers = sum(r[0] for r in reduces.values())
            anomalous = sum(r[1] for r in reduces.values())
        out: Dict[str, Any] = {
            "reader": "spark" if self.files is None else "kernel",
            "files": 0 if self.files is None else len(set(self.files.paths)),
            "rows": 0,
            "events": 0,
            "unknown_counterparties": 0,
            "rejected": 0,
            "rejects": {},
            "reject_rows": [],
            "window": self.window,
            "subscribers": subscribers,
            "anomalous": anomalous,
            "map_partitions_reported": len(maps),
            "map_partitions": self.map_partitions,
            "reduce_partitions_reported": reduce_tasks,
        }
        for pid in sorted(maps):
            s = maps[pid]
            for key in ("rows", "events", "unknown_counterparties", "rejected"):
                out[key] += s[key]
            for reason, c in s["rejects"].items():
                out["rejects"][reason] = out["rejects"].get(reason, 0) + c
            out["reject_rows"].extend(tuple(r) for r in s["reject_rows"])
        out["rejects"] = dict(sorted(out["rejects"].items()))
        for key in ("epoch_warning", "zone_warning"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def summary(result: Any) -> Dict[str, Any]:
    """The run summary of a DataFrame returned by :func:`scan`, in the keys of
    :attr:`hotzone.ScanResult.summary`, from the tasks that have run so far.

    Call it after an action on ``result`` (``write``, ``collect``, ``count``, ...). The map
    counts (``rows``, ``events``, ``unknown_counterparties``, ``rejected``, ``rejects``) are
    complete once ``map_partitions_reported == map_partitions``; ``subscribers`` and
    ``anomalous`` once every reduce task ran (an action that reads every row).
    ``reject_rows`` holds the first ``REJECT_ROWS_PER_PARTITION`` rejects of each map
    partition: ``(file, row, reason)`` with rows numbered from 1 in the file when the kernel
    read the files (``reader`` is ``"kernel"``), else ``("partition P", row, reason)`` with
    rows numbered from 1 within the partition. ``files`` is the number of files the kernel
    read (0 with Spark's rows). A task run twice (retry, a second action) is counted once.
    ``epoch_warning`` is there when, with no ``as_of``, the data's latest day is in 1970
    (epoch seconds read as milliseconds), and ``zone_warning`` when, with no ``tz``, the files
    ``df`` reads that this process can open record a zone other than UTC (``hotzone gen`` writes one; this scan reads
    in UTC, where ``hotzone.scan`` would read in that zone); :func:`scan` also raises each as
    a ``UserWarning``.

    Under Spark Connect the counts come from the observed metrics of the latest action on
    ``result`` (or on a DataFrame derived from it): every count is 0 and ``map_partitions``
    is ``None`` before one (no job runs to learn it); after one the map counts are whole and
    ``map_partitions`` is the number reported (so the equality above says nothing there), and
    ``reduce_partitions_reported`` counts the reduce tasks that action ran; ``reject_rows``
    holds those of the first ``OBSERVED_REJECT_PARTITIONS`` map partitions with rejects (the
    metrics reach the client in one gRPC message), every count stays exact.
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
    reader: str = "auto",
    hotzones_file: Optional[str] = None,
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
        Reduce tasks (shuffle partitions of the states). Default: Spark's
        ``spark.sql.shuffle.partitions`` (or AQE's ``initialPartitionNum``), which adaptive
        execution coalesces when the states are small.
    threads:
        Threads the kernel uses inside each task (default 1: Spark owns the cores).
    hotzones_file:
        As in :func:`hotzone.scan` (``hotzone="@name"``); read on the driver only, so the
        executors never need the file.
    reader:
        Who reads the rows for the map tasks. ``"auto"`` (default): the kernel's own Parquet
        reader when ``df`` is a plain scan of Parquet files at local paths that the kernel
        reads with exactly ``df``'s columns (see the module's docs), else Spark.
        ``"kernel"``: the kernel's reader, or ``ValueError`` saying why it cannot be used.
        ``"spark"``: always the rows Spark reads (``mapInArrow``). The answer is the same.

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
    it cannot interpret fails the job with the kernel's message: ``FILE: row N: reason``
    (rows numbered from 1 in the file) when the kernel reads the files, else ``partition P:
    row N: reason`` (rows numbered from 1 within the partition).

    Raises
    ------
    ValueError
        Before any Spark job: a bad parameter (the CLI's message), a missing required column
        or a column of a type the kernel cannot read. With ``as_of=None`` and
        ``strict=True``, a rejected row met by the ``as_of`` job raises
        :class:`hotzone.RowError`, a ``ValueError``.
    """
    # 1. Everything that can be checked on the driver, before any job.
    if not (hasattr(df, "sparkSession") and hasattr(df, "schema") and hasattr(df, "mapInArrow")):
        raise TypeError(
            f"df must be a pyspark DataFrame (got {type(df).__name__}); for files, pandas, "
            "polars or Arrow data use hotzone.scan"
        )
    hotzone = _hotzone_text(hotzone, hotzones_file)
    _spec(
        hotzone=hotzone, look_back_days=look_back_days, threshold_ratio=threshold_ratio,
        method=method, check_type=check_type, check_target=check_target,
        min_events=min_events, as_of=as_of, tz=tz, default_region=default_region,
        columns=columns, strict=strict, explain=explain,
    )
    # Whole numbers only (2.5 would fail in every task, far from the call).
    threads = _threads(threads)
    partitions = None if partitions is None else _whole("partitions", partitions)
    if partitions is not None and partitions < 1:
        raise ValueError(f"partitions must be at least 1 (got {partitions})")
    if reader not in _READERS:
        raise ValueError(f"reader must be one of {', '.join(_READERS)} (got {reader!r})")
    picked = _resolve(df.columns, columns)
    _check_types(df.schema, picked)
    _check_partition_numbers(df, picked)
    files: Optional[_Files] = None
    if reader != "spark":
        files, why = _plain_parquet(df, picked)
        if files is None and reader == "kernel":
            raise ValueError(f"reader='kernel' cannot read this DataFrame: {why}")

    from pyspark.sql import functions as F

    # Selected by position (the first column of a name, as the kernel reads a file with two;
    # any character in a name, backticks included): each column renamed to its place first.
    first = {}
    for i, c in enumerate(df.columns):
        first.setdefault(c, i)
    placed = df.toDF(*[f"_hz{i}" for i in range(len(df.columns))])
    events = placed.select([F.col(f"_hz{first[src]}").alias(field) for src, field in picked])
    params: Dict[str, Any] = dict(
        hotzone=hotzone, look_back_days=_whole("look_back_days", look_back_days), threshold_ratio=float(threshold_ratio),
        method=method, check_type=check_type, check_target=check_target,
        min_events=_whole("min_events", min_events), tz=tz, default_region=default_region, strict=bool(strict),
    )
    spark = df.sparkSession
    verdict_ddl = _spark_verdict_ddl(explain)

    # Files that record a zone (`hotzone gen` writes one), read with no `tz` (by the kernel or
    # through Spark's rows):
    # hotzone.scan and the CLI would read them in that zone; Spark's default is UTC. Said.
    zone_warning = None
    paths = [] if tz is not None else files.paths if files is not None else _visible_parquet(df)
    if paths:
        from . import _native

        try:
            recorded = [(f, z) for f, z in _native.recorded_zones(paths) if z != "UTC"]
        except Exception:  # a file the kernel cannot read: its rows come from Spark anyway
            recorded = []
        if recorded:
            where = " and ".join(f"{f} records its days in {z}" for f, z in recorded)
            zone_warning = (
                f"{where}; hotzone.spark reads in UTC when tz= is not given (hotzone.scan and "
                f"the CLI read in the zone the files record): pass tz={recorded[0][1]!r} for their days"
            )
            from . import _warn_zone

            _warn_zone({"zone_warning": zone_warning})

    # 2. The default as_of: one small row per partition, the max on the driver.
    day = _as_date(as_of)
    epoch = None
    if day is None:
        day, seen = _latest_day(events, params, threads, files)
        if day is None:  # no accepted row at all: no window, no verdicts (as hotzone.scan)
            empty = spark.createDataFrame([], verdict_ddl)
            setattr(empty, _SUMMARY_ATTR, _Report(_Fixed(seen), None, events, files, None, zone_warning))
            return empty
        # The CLI's warning for a latest day in 1970 (epoch seconds read as milliseconds).
        from . import _native, _warn_zone

        epoch = _native.epoch_warning(day)
        if epoch is not None:
            _warn_zone({"epoch_warning": epoch})

    params["as_of"] = day.isoformat()
    first_day = (_window_first(day, look_back_days) - _dt.date(1970, 1, 1)).days
    tz_name = tz or "UTC"
    try:
        acc = spark.sparkContext.accumulator({}, _accumulator_param())
    except Exception:  # Spark Connect has no accumulators: the summary is observed instead
        acc = None
    observed = acc is None
    if observed:  # the summary rows are made by the Spark-rows map (never a plan's files here)
        files = None
    state_ddl = _STATE_DDL + (", summary string, reject_rows string" if observed else "")
    k_params = dict(params)
    n_threads = threads

    # 3. Map: rows -> the partition's state -> one packed row per reduce bucket.
    if partitions:
        buckets = int(partitions)
    else:  # the number of partitions `repartition(col)` starts with (before AQE coalesces)
        conf = spark.conf
        initial = None
        if str(conf.get("spark.sql.adaptive.enabled", "true")).lower() == "true":
            initial = conf.get("spark.sql.adaptive.coalescePartitions.initialPartitionNum", None)
        buckets = int(initial or conf.get("spark.sql.shuffle.partitions", "200"))
    keys = _bucket_keys(buckets)

    def map_part(batches):  # runs on the executors
        import pyarrow as pa
        from pyspark import TaskContext

        from hotzone import kernel

        pid = TaskContext.get().partitionId()
        head = next(batches, None)
        if head is None:
            if acc is not None:
                acc.add({("map", pid): _compact({})})
            else:
                yield _summary_row(pid, {})
            return
        reader = pa.RecordBatchReader.from_batches(head.schema, _it.chain([head], batches))
        state, s = kernel.map_state(reader, source=f"partition {pid}", threads=n_threads, **k_params)
        if acc is not None:
            acc.add({("map", pid): _compact(s)})
        else:
            yield _summary_row(pid, s)
        yield from _emit(state, keys, first_day, observed)

    def map_files(batches):  # runs on the executors: the kernel reads the task's row groups
        from pyspark import TaskContext

        from hotzone import kernel

        pid = TaskContext.get().partitionId()
        parts = files.parts_of(batches)
        if not parts:
            if acc is not None:
                acc.add({("map", pid): _compact({})})
            return
        state, s = kernel.map_state_of_row_groups(parts, threads=n_threads, columns=files.columns, **k_params)
        if acc is not None:
            acc.add({("map", pid): _compact(s)})
        yield from _emit(state, keys, first_day)

    # 4. Reduce: every packed state of a subscriber -> the kernel's verdict.
    def reduce_part(batches):  # runs on the executors
        import pyarrow as pa
        import pyarrow.compute as pc
        from pyspark import TaskContext

        from hotzone import kernel

        pid = TaskContext.get().partitionId()

        # One stream of every state shuffled here; the kernel checks the window they name.
        unpacked = (
            _unpack(blob, first_day)
            for b in batches
            for blob in b.column(b.schema.get_field_index("states")).to_pylist()
        )
        table = kernel.verdicts_of_states(unpacked, threads=n_threads, explain=explain, **k_params)
        anomalous = pc.sum(table.column("anomaly_detected").cast(pa.int64())).as_py() or 0
        if acc is not None:
            acc.add({("reduce", pid): (table.num_rows, int(anomalous))})
        table = table.set_column(
            table.schema.get_field_index("anomalous_days"), "anomalous_days",
            table.column("anomalous_days").cast(pa.int32()),
        )
        if observed:  # a null `_hz_reduce` on each verdict, and this task's marker row
            import json

            table = table.append_column("_hz_reduce", pa.nulls(table.num_rows, pa.string()))
            table = table.cast(pa.schema([f.with_nullable(True) for f in table.schema]))
            marker = {f.name: pa.nulls(1, f.type) for f in table.schema}
            # Its counts ride on it, keyed by partition: a task run twice (speculation, a
            # retried stage) is counted once, as its accumulator entry is.
            counts = {"partition": pid, "subscribers": table.num_rows, "anomalous": int(anomalous)}
            marker["_hz_reduce"] = pa.array([json.dumps(counts)])
            table = pa.concat_tables([table, pa.table(marker, schema=table.schema)])
        for b in table.to_batches(max_chunksize=1 << 16):
            yield b

    if files is not None:
        states = files.tasks_frame(spark).mapInArrow(map_files, state_ddl)
    else:
        states = events.mapInArrow(map_part, state_ddl)
    watch = None
    if observed:  # Spark Connect: the tasks' summary rows, observed, then out of the data
        from pyspark.sql import Observation

        watch = (Observation(), Observation())
        # Every task's counts, but the rejected rows of the first partitions only (a summary
        # row's `bucket` is its partition): all of them could outgrow the message the
        # metrics travel in (see OBSERVED_REJECT_PARTITIONS).
        with_rows = F.when(F.col("reject_rows").isNotNull(), F.struct("bucket", "reject_rows"))
        states = states.observe(
            watch[0],
            F.collect_list("summary").alias("maps"),
            F.slice(F.sort_array(F.collect_list(with_rows)), 1, int(OBSERVED_REJECT_PARTITIONS)).alias("reject_rows"),
        )
        states = states.where(F.col("states").isNotNull()).drop("summary", "reject_rows")
    # Explicit `partitions`: exactly that many reduce tasks. Default: Spark's shuffle
    # partitions, which adaptive execution coalesces into fewer tasks when the states are small.
    shuffled = states.repartition(buckets, "bucket") if partitions else states.repartition("bucket")
    if watch is None:
        result = shuffled.mapInArrow(reduce_part, verdict_ddl)
    else:
        result = shuffled.mapInArrow(reduce_part, verdict_ddl + ", _hz_reduce string")
        result = result.observe(watch[1], F.collect_list("_hz_reduce").alias("reduces"))
        result = result.where(F.col("_hz_reduce").isNull()).drop("_hz_reduce")
    window = {"first": _window_first(day, look_back_days), "last": day, "tz": tz_name}
    setattr(result, _SUMMARY_ATTR, _Report(acc, window, events, files, epoch, zone_warning, watch))
    return result


def _emit(state: Any, keys: List[int], first_day: int, observed: bool = False) -> Iterator[Any]:
    """A map task's state -> record batches of ``(bucket key, packed states)`` rows, one row
    per non-empty reduce bucket, a batch per ~64 MiB (``observed``: with null ``summary`` and
    ``reject_rows`` columns, see :func:`_summary_row`)."""
    import pyarrow as pa

    def batch(k: List[int], b: List[bytes]) -> Any:
        cols = [pa.array(k, pa.int32()), pa.array(b, pa.binary())]
        if observed:
            cols += [pa.nulls(len(k), pa.string()), pa.nulls(len(k), pa.string())]
        return pa.record_batch(cols, names=_OBSERVED_STATE_NAMES[: len(cols)])

    out_keys: List[int] = []
    out_blobs: List[bytes] = []
    size = 0
    for b, part in _split(state, len(keys)):
        blob = _pack(part, first_day)
        out_keys.append(keys[b])
        out_blobs.append(blob)
        size += len(blob)
        if size > 1 << 26:
            yield batch(out_keys, out_blobs)
            out_keys, out_blobs, size = [], [], 0
    if out_keys:
        yield batch(out_keys, out_blobs)


_OBSERVED_STATE_NAMES = ["bucket", "states", "summary", "reject_rows"]


def _summary_row(pid: int, s: Dict[str, Any]) -> Any:
    """Under Spark Connect, the row a map task adds to its states: its partition id as the
    ``bucket``, no states, its counts as JSON in ``summary`` and its first rejected rows as
    JSON in ``reject_rows`` (null when none); read back by :meth:`_Report.summary` from the
    observed metrics."""
    import json

    import pyarrow as pa

    counts = _compact(s)
    rows = counts.pop("reject_rows")
    return pa.record_batch(
        [pa.array([pid], pa.int32()), pa.nulls(1, pa.binary()), pa.array([json.dumps(dict(counts, partition=pid))]),
         pa.array([json.dumps(rows) if rows else None], pa.string())],
        names=_OBSERVED_STATE_NAMES,
    )


def _latest_day(
    events: Any, params: Dict[str, Any], threads: Optional[int], files: Optional[_Files]
) -> Tuple[Optional[_dt.date], Dict[Any, Any]]:
    """The latest accepted local day over every partition (one Spark job), and the summaries
    of that pass by partition."""
    import json
    tz = params.get("tz")
    default_region = params.get("default_region")
    strict = params.get("strict", False)

    def one_row(day: Any, pid: int, s: Dict[str, Any]) -> Any:
        import pyarrow as pa

        return pa.record_batch(
            [pa.array([day], pa.date32()), pa.array([pid], pa.int32()), pa.array([json.dumps(_compact(s))])],
            names=["day", "partition", "summary"],
        )

    def latest_part(batches):  # runs on the executors
        import pyarrow as pa
        from pyspark import TaskContext

        from hotzone import kernel

        pid = TaskContext.get().partitionId()
        head = next(batches, None)
        if head is None:
            # An empty partition reports its zero counts too, so that a summary of this pass
            # (no window found: every row rejected) is complete as the map pass's is.
            yield one_row(None, pid, {})
            return
        reader = pa.RecordBatchReader.from_batches(head.schema, _it.chain([head], batches))
        day, s = kernel.latest_day(
            reader, tz=tz, default_region=default_region, strict=strict,
            source=f"partition {pid}", threads=threads,
        )
        yield one_row(day, pid, s)

    def latest_files(batches):  # runs on the executors: the kernel reads the task's row groups
        from pyspark import TaskContext

        from hotzone import kernel

        assert files is not None
        pid = TaskContext.get().partitionId()
        parts = files.parts_of(batches)
        if not parts:
            yield one_row(None, pid, {})
            return
        day, s = kernel.latest_day_of_row_groups(
            parts, tz=tz, default_region=default_region, columns=files.columns, strict=strict,
            threads=threads,
        )
        yield one_row(day, pid, s)

    ddl = "day date, partition int, summary string"
    try:
        if files is not None:
            rows = files.tasks_frame(events.sparkSession).mapInArrow(latest_files, ddl).collect()
        else:
            rows = events.mapInArrow(latest_part, ddl).collect()
    except Exception as e:  # a strict reject: surface the kernel's own message
        msg = _kernel_error(e)
        if msg is None:
            raise
        from . import RowError

        raise RowError(msg) from e
    days = [r[0] for r in rows if r[0] is not None]
    summaries = {("map", r[1]): json.loads(r[2]) for r in rows}
    return (max(days) if days else None), summaries


def _kernel_error(e: BaseException) -> Optional[str]:
    """The kernel's ``RowError`` message inside a failed Spark job's error, if any."""
    import re

    found = re.findall(r"(?:RowError|ValueError): ([^\n]*?: row \d+: [^\n]*)", str(e))
    return found[-1].strip() if found else None

