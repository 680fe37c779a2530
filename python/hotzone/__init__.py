"""hotzone: is a phone number's call/SMS traffic with fraud-prone regions abnormal?

A *hotzone* is a set of regions (ISO 3166-1 alpha-2 codes such as ``"NG"``, plus ``AC``,
``TA``, ``XK``) and E.164 prefixes (``"+882"``). For every subscriber with traffic in the
window of ``look_back_days`` days ending on ``as_of``, the engine counts, per local day, the
selected events and those whose counterparty is in the hotzone, and applies one rule:

- ``method="share"``: a day is anomalous when ``hot / total >= threshold_ratio`` and
  ``hot >= min_events``;
- ``method="spike"``: a day is anomalous when ``hot > threshold_ratio x`` the mean of the
  hot counts of the earlier days of the window, and ``hot >= min_events``.

The answer per subscriber is ``anomaly_detected`` and ``anomaly_date`` (the latest anomalous
day), the same exact answer as the ``hotzone`` CLI and server give (REFERENCE.md in the
repository states the contract).

Entry points:

- :func:`scan` - events in (a polars/pandas DataFrame, a pyarrow Table or
  RecordBatchReader, anything speaking the Arrow PyCapsule interface such as a DuckDB
  relation, or file paths),
  verdicts out as an Arrow table (:class:`ScanResult`);
- :func:`prepare` and :class:`Index` - a prepared index for repeated scans and checks;
- :mod:`hotzone.kernel` - the mergeable map as Arrow batches, for distributed engines;
- :mod:`hotzone.spark` - the scan on a Spark DataFrame.

Input columns (renamed with ``columns={"export_name": "canonical_name"}``): ``event_time``
(timestamp, epoch milliseconds, or RFC 3339 text), ``subscriber`` (E.164, or national with
``default_region``), ``counterparty``, ``direction`` (``IN``/``OUT``), ``kind``
(``CALL``/``SMS``), optional ``duration_s`` and ``counterparty_region``. A row that cannot be
interpreted is counted under its reason in ``result.summary["rejects"]`` (``strict=True``
raises :class:`RowError`, a ``ValueError``, naming the first such row instead).
"""

from __future__ import annotations

import collections.abc as _abc
import datetime as _dt
import decimal as _decimal
import numbers as _numbers
import operator as _operator
import os as _os
import warnings as _warnings
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

from . import _native

__all__ = ["scan", "prepare", "Index", "ScanResult", "RowError", "VERDICT_COLUMNS", "__version__"]

try:  # the installed distribution's version (pip show hotzone)
    from importlib.metadata import version as _dist_version

    __version__: str = _dist_version("hotzone")
except Exception:  # run from a source tree without installing
    __version__ = "0+unknown"

#: Raised under ``strict=True`` for the first row no rule accepts; the message names its
#: source, its 1-based row and the rule. A subclass of ``ValueError`` (a bad parameter raises
#: ``ValueError`` itself).
RowError = _native.RowError

#: The columns of a scan's result, in order.
VERDICT_COLUMNS = (
    "subscriber",
    "anomaly_detected",
    "anomaly_date",
    "anomalous_days",
    "first_anomaly_date",
)


class ScanResult:
    """The verdicts of a scan: an Arrow table plus the run summary.

    One row per subscriber with a selected event in the window, sorted by subscriber, with
    the columns ``subscriber`` (string, ``+`` and digits), ``anomaly_detected`` (bool),
    ``anomaly_date`` (date, null when none), ``anomalous_days`` (uint32) and
    ``first_anomaly_date`` (date, null when none); with ``explain=True`` also ``days``
    (``YYYY-MM-DD:hot/total`` per day with events, ``;``-separated).

    The result speaks the Arrow PyCapsule interface, so ``polars.DataFrame(result)`` and
    ``pyarrow.table(result)`` take it without a copy; :meth:`to_pandas` converts through
    pyarrow.

    ``summary`` is a dict: ``files``, ``rows`` (read), ``events`` (accepted),
    ``unknown_counterparties``, ``unread_files`` (files inside an input directory that were
    not read because their name gives no known format, such as ``part-0.csv.bz2``, or
    because they are symlinks leading to no file),
    ``rejected`` (total), ``rejects`` (count per reason),
    ``reject_rows`` (``(source, row, reason)`` per rejected row, rows numbered from 1),
    ``window`` (``{"first", "last", "tz"}``, or None when no row was accepted and no
    ``as_of`` was given), ``subscribers`` and ``anomalous``; and ``zone_warning`` when
    ``tz`` differs from the zone a file records (the days are read in ``tz``; also raised as a
    ``UserWarning``, as the CLI warns on stderr), ``epoch_warning`` when, with no ``as_of``,
    the latest day in the data is in 1970 (integer times are epoch milliseconds: epoch
    seconds land there; also a ``UserWarning``), ``prepared_warning`` when flags that decide
    how rows are read (``default_region``, ``columns``) are given with a prepared file, whose
    rows ``prepare`` read with its own (they change nothing here; also a ``UserWarning``).
    """

    __slots__ = ("table", "summary")

    def __init__(self, table: Any, summary: Dict[str, Any]) -> None:
        self.table = table
        self.summary = summary

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.table.__arrow_c_stream__(requested_schema)

    def __len__(self) -> int:
        return self.table.num_rows

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"<hotzone.ScanResult: {self.table.num_rows} subscribers, "
            f"{s.get('anomalous', 0)} anomalous; {s['rows']} rows read, "
            f"{s['rejected']} rejected; window {s['window']}>"
        )

    def to_pyarrow(self) -> Any:
        """The verdicts as a ``pyarrow.Table``."""
        return self.table

    def to_polars(self) -> Any:
        """The verdicts as a ``polars.DataFrame`` (no copy of the columns)."""
        import polars

        return polars.from_arrow(self.table)

    def to_pandas(self, **kwargs: Any) -> Any:
        """The verdicts as a ``pandas.DataFrame`` (``pyarrow.Table.to_pandas``)."""
        return self.table.to_pandas(**kwargs)


PathLike = Union[str, "_os.PathLike[str]"]


def _is_paths(events: Any) -> bool:
    if isinstance(events, (str, _os.PathLike)):
        return True
    return (
        isinstance(events, (list, tuple))
        and len(events) > 0
        and all(isinstance(e, (str, _os.PathLike)) for e in events)
    )


def _paths(events: Any) -> list:
    if isinstance(events, (str, _os.PathLike)):
        events = [events]
    paths = [_os.fspath(e) for e in events]
    for p in paths:
        if isinstance(p, str) and not p.isascii():
            try:
                p.encode("utf-8")
            except UnicodeEncodeError:
                # A name os.listdir gives with bytes that are not UTF-8 (as surrogates):
                # inputs are named in UTF-8, as the CLI's arguments are. Such files are read
                # when their directory is given.
                raise ValueError(
                    f"the input path {p.encode('utf-8', 'backslashreplace').decode()} is not UTF-8: "
                    "name the directory that holds it instead (its files are read whatever "
                    "their names)"
                ) from None
    return paths


def _stream(events: Any, columns: Optional[Mapping[str, str]] = None) -> Any:
    """Something with ``__arrow_c_stream__`` for ``events``, its buffers shared, not copied
    (``columns``: the mapping, whose sources a pandas frame keeps, :func:`_from_pandas`)."""
    mod = type(events).__module__
    if mod.startswith(("polars", "pandas")) and type(events).__name__ == "Series":
        raise TypeError(
            "events must be a table of events, not one column: pass the DataFrame "
            f"(got a {mod.split('.')[0]} Series)"
        )
    if mod.startswith("polars") and hasattr(events, "to_arrow") and hasattr(events, "n_chunks"):
        return _from_polars(events, columns)
    if mod.startswith("polars") and hasattr(events, "collect") and hasattr(events, "collect_schema"):
        return _from_polars(_collected(events, columns), columns)
    if mod.startswith("pandas") and type(events).__name__ == "DataFrame":
        # Before the frame's own `__arrow_c_stream__`, which converts every column.
        import pyarrow as pa

        return _sound_views(pa, _from_pandas(pa, events, columns))
    if mod.startswith("pyarrow") and type(events).__name__.endswith("Array"):
        # One column is no table; a struct array (or a chunked one) is: a field per column.
        import pyarrow as pa

        if not pa.types.is_struct(events.type):
            raise TypeError(_NOT_A_TABLE.format(f"a pyarrow {type(events).__name__} of {events.type}"))
        # Each chunk as a batch of its own, whose columns carry the struct's nulls (a null
        # struct is a row of no values): the chunked array's own stream hands over the
        # structs as they are, and Arrow's import of a stream drops the structs' nulls.
        chunks = [events] if isinstance(events, pa.StructArray) else events.chunks
        batches = [pa.RecordBatch.from_struct_array(c) for c in chunks]
        schema = batches[0].schema if batches else pa.schema(list(events.type))
        return _sound_views(pa, pa.Table.from_batches(batches, schema))
    if mod.startswith("pyarrow") and type(events).__name__ == "Table":
        import pyarrow as pa

        return _sound_views(pa, events)
    if mod.startswith("pyarrow") and type(events).__name__ == "RecordBatch":
        import pyarrow as pa

        return _sound_views(pa, pa.Table.from_batches([events]))
    if hasattr(events, "__arrow_c_stream__"):
        return events
    if mod.startswith("pyarrow") and type(events).__name__ == "Scanner":
        return events.to_reader()
    if mod.startswith("pyarrow") and hasattr(events, "scanner") and hasattr(events, "schema"):
        import pyarrow.dataset as pads

        if isinstance(events, pads.Dataset):
            return _from_dataset(events, columns)
    import pyarrow as pa

    if hasattr(events, "__arrow_c_array__"):  # a single record batch
        batch = pa.record_batch(events)
        return pa.RecordBatchReader.from_batches(batch.schema, [batch])
    raise TypeError(
        "events must be a path, a list of paths, or Arrow data: a polars or pandas DataFrame, "
        "a polars LazyFrame, "
        "a pyarrow Table, RecordBatch, RecordBatchReader, Dataset or Scanner "
        f"(got {type(events).__name__})"
    )


# The fields a file must hold (REFERENCE.md §2).
_REQUIRED = ("event_time", "subscriber", "direction", "kind")


def _from_dataset(dataset: Any, columns: Optional[Mapping[str, str]]) -> Any:
    """A ``pyarrow.dataset.Dataset`` as a stream of its batches, read as they are scanned
    (its files are not loaded whole), with its partition columns (``partitioning="hive"``)
    as the dataset gives them. Only the columns the scan takes are read; when a required
    field has none, every column is, so that the error lists what the dataset holds."""
    names = dataset.schema.names
    taken = _resolve_columns(names, columns)
    if all(f in taken for f in _REQUIRED):
        wanted = sorted(set(taken.values()))
        return dataset.scanner(columns=[names[i] for i in wanted]).to_reader()
    return dataset.scanner().to_reader()


def _collected(lazy: Any, columns: Optional[Mapping[str, str]]) -> Any:
    """A polars LazyFrame run to a DataFrame of only the columns the scan takes (a query over
    ``pl.scan_parquet`` or ``pl.scan_csv`` then reads only those); when a required field has
    none, of every column, so that the error lists what the frame holds."""
    import polars as pl

    names = lazy.collect_schema().names()
    taken = _resolve_columns(names, columns)
    if all(f in taken for f in _REQUIRED):
        # By position, not by name: `select` reads a name such as `^x$` as a pattern.
        lazy = lazy.select(pl.nth(sorted(set(taken.values()))))
    return lazy.collect()


def _from_polars(frame: Any, columns: Optional[Mapping[str, str]]) -> Any:
    """A polars DataFrame as a pyarrow Table. A polars DataFrame's own
    ``__arrow_c_stream__`` first joins each column's chunks into one (a copy of the whole
    frame, which stays rechunked): on a 50M-row frame read from Parquet, 5 s and +1.9 GB.
    ``to_arrow`` at the newest compatibility level hands over every chunk as it is (string
    views included), a record batch each. When the whole frame does not convert (polars'
    ``Int128``, which pyarrow has not), only the columns the scan reads are converted: a
    column it never reads cannot fail it; one it reads that does not convert is a
    ``ValueError`` naming it and its type."""
    import polars as pl

    newest = pl.CompatLevel.newest()
    read = sorted(set(_resolve_columns(frame.columns, columns).values()))
    for at in read:
        if frame.dtypes[at] == pl.Object:
            # Arrow gets the objects' addresses (8-byte binary), not their values.
            raise ValueError(
                f"events: column {frame.columns[at]!r} is a polars Object column; give it a "
                "type, e.g. .cast(pl.String) or .map_elements(str, return_dtype=pl.String)"
            )
    try:
        return frame.to_arrow(compat_level=newest)
    except Exception:  # noqa: BLE001 - pyarrow's and polars' own errors alike
        pass
    # By position, not by name: `select` reads a name such as `^x$` as a pattern.
    try:
        return pl.DataFrame([frame.to_series(at) for at in read]).to_arrow(compat_level=newest)
    except Exception:  # noqa: BLE001
        pass
    for at in read:
        try:
            frame.to_series(at).to_frame().to_arrow(compat_level=newest)
        except Exception:  # noqa: BLE001
            raise ValueError(
                f"events: column {frame.columns[at]!r} of the polars frame ({frame.dtypes[at]}) "
                "does not convert to Arrow; cast it, e.g. .cast(pl.String) or .cast(pl.Int64)"
            ) from None
    raise ValueError("events: the polars frame does not convert to Arrow")


def _sound_views(pa: Any, table: Any) -> Any:
    """``table`` (a pyarrow Table) with each view column whose chunks lack a data buffer they
    declare cast to its large form (the same values). Older pyarrow releases (19 does, 26
    does not) leave such a slot empty when they cast short values to a view type (pandas'
    ``ArrowDtype(pa.string_view())`` does), and pyarrow's own export of that array through the
    C interface then crashes the interpreter (apache/arrow#49740). Only the buffers' list is
    looked at: no value is read or copied unless the column is cast."""
    large = {pa.string_view(): pa.large_string(), pa.binary_view(): pa.large_binary()}
    for at, field in enumerate(table.schema):
        if field.type not in large:
            continue
        column = table.column(at)
        chunks = column.chunks if hasattr(column, "chunks") else [column]
        if any(b is None for c in chunks for b in c.buffers()[2:]):
            wide = field.with_type(large[field.type])
            table = table.set_column(at, wide, column.cast(wide.type))
    return table


_NOT_A_TABLE = (
    "events must be a table of events (a column per field), not one column: pass the "
    "Table, RecordBatch or DataFrame (got {})"
)


class _Watched:
    """``with _Watched(stream) as s:`` the native call reading ``s``; an exception the
    stream's Python producer raised (a generator behind a ``pyarrow.RecordBatchReader``, a
    ``KeyboardInterrupt`` in it) leaves the block as itself, with its traceback.

    The C stream interface carries a message only: the native side can report the producer's
    failure as a ``ValueError`` quoting it, never hand the exception back. So a pyarrow reader
    is passed on through a generator that keeps what its producer raised (its batches handed
    over as they are, not copied), and that exception replaces the native one. Other streams
    (tables, frames, readers of other libraries) are passed on untouched.
    """

    def __init__(self, stream: Any) -> None:
        self.failure: list = []
        self.stream = stream
        kind = type(stream)
        if kind.__module__.startswith("pyarrow") and kind.__name__ == "RecordBatchReader":
            import pyarrow as pa

            self.stream = pa.RecordBatchReader.from_batches(stream.schema, self._batches(stream))

    def _batches(self, reader: Any) -> Any:
        try:
            schema = reader.schema
            names = schema.names
            for batch in reader:
                # Columns are read by position: a batch whose columns come in another order
                # (`RecordBatch.from_pylist` of records keyed in another order) is put in the
                # schema's; one of other columns is refused. Its `counterparty` was read as
                # `subscriber`, making up a subscriber.
                if batch.schema.names != names:
                    if sorted(batch.schema.names) != sorted(names) or len(set(names)) != len(names):
                        raise ValueError(
                            f"a batch of the stream has the columns {batch.schema.names}, the "
                            f"stream's schema {names}"
                        )
                    batch = batch.select(names)
                # The C stream carries one schema; a batch of other types would be read as
                # the schema's (64-bit offsets as 32-bit ones: a crash). pyarrow's reader
                # does not check what its generator yields.
                if batch.schema.types != schema.types:
                    for field, kind in zip(schema, batch.schema.types):
                        if field.type != kind:
                            raise ValueError(
                                f"column {field.name}: a batch of the stream is {kind}, the "
                                f"stream's schema says {field.type}"
                            )
                    raise ValueError(
                        f"a batch of the stream has {batch.num_columns} columns, the stream's "
                        f"schema {len(schema)}"
                    )
                yield batch
        except BaseException as e:
            self.failure.append(e)
            raise

    def __enter__(self) -> Any:
        return self.stream

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if error is not None and self.failure and error is not self.failure[0]:
            raise self.failure[0] from None


# The canonical column names (REFERENCE.md §2); with the `columns=` sources, the only
# columns a scan reads.
_CANONICAL = (
    "event_time", "subscriber", "counterparty", "direction", "kind", "duration_s",
    "counterparty_region",
)


def _from_pandas(pa: Any, frame: Any, columns: Optional[Mapping[str, str]] = None) -> Any:
    """A pandas DataFrame as an Arrow table, its index as pandas' own ``__arrow_c_stream__``
    converts it (pandas 2.2 and later: a column per level unless a plain range; before, not at
    all, as hotzone always did there), except a level named as one of the frame's columns in
    another case: the frame's own columns come first (an index named ``subscriber`` beside a
    ``Subscriber`` column would otherwise be read, its name being the one written exactly).
    When the whole frame does not convert (a column of mixed objects or complex numbers), it
    is converted with only the columns the scan reads: a column the scan never reads cannot
    fail it. A column it reads that does not convert is a ``ValueError`` naming the column
    (pyarrow's own message quotes the cell, which may be a phone number)."""
    keep_index = hasattr(frame, "__arrow_c_stream__")
    # pyarrow's errors, and Python's own for an integer past 64 bits.
    failed = (pa.ArrowException, TypeError, ValueError, OverflowError)

    if frame.columns.duplicated().any():
        # Of two columns with one name the first, as in a file (Arrow refuses the frame).
        frame = frame.loc[:, ~frame.columns.duplicated(keep="first")]
    own = {_folded(c) for c in frame.columns}

    def convert(f: Any) -> Any:
        if not keep_index:
            return pa.Table.from_pandas(f, preserve_index=False)
        table = pa.Table.from_pandas(f)
        # pyarrow appends the index's levels after the columns (a range index: none).
        for at in reversed(range(f.shape[1], table.num_columns)):
            if _folded(table.schema.names[at]) in own:
                table = table.remove_column(at)
        return table

    read = _resolve_columns(_pandas_names(frame, own) if keep_index else list(frame.columns), columns)
    index = frame.index
    if "event_time" not in read and index.name is None and getattr(index.dtype, "kind", "") == "M":
        # Times kept as an unnamed index (`set_index(...).rename_axis(None)`, a resample):
        # the kernel's message would list the index as `__index_level_0__`.
        raise ValueError(
            "events: missing required column(s) event_time: the frame's index holds times but "
            "has no name; make it a column (frame.reset_index(names='event_time')) or name it "
            "event_time (frame.rename_axis('event_time'), read as a column by pandas 2.2 and later)"
        )
    _periods(frame, read)
    try:
        return convert(frame)
    except failed:
        pass
    keep = [at in read.values() for at in range(frame.shape[1])]
    try:
        return convert(frame.loc[:, keep])
    except failed as e:
        kind = type(e).__name__
    for at, c in enumerate(frame.columns):
        if keep[at]:
            try:
                pa.Table.from_pandas(frame.iloc[:, [at]], preserve_index=False)
            except failed:
                hint = "a column of mixed types? give it one, e.g. .astype(str)"
                if str(frame.dtypes.iloc[at]).startswith("Sparse"):
                    hint = "a sparse column: give it dense, .sparse.to_dense()"
                raise ValueError(
                    f"events: column {str(c)!r} of the pandas frame does not convert to Arrow "
                    f"(pyarrow: {kind}; {hint})"
                ) from None
    raise ValueError(f"events: the pandas frame does not convert to Arrow (pyarrow: {kind})") from None


def _pandas_names(frame: Any, own: set) -> list:
    """The names a pandas frame has once converted (:func:`_from_pandas`): its columns, then
    the index's named levels that no column's name shadows (a range index has none; an
    unnamed level's name, ``__index_level_0__``, is no field's)."""
    index = frame.index
    if type(index).__name__ == "RangeIndex":
        return list(frame.columns)
    levels = [n for n in index.names if n is not None and _folded(n) not in own]
    return list(frame.columns) + levels


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _bare(name: Any) -> str:
    """A header name as the kernel compares it: trimmed, a leading byte-order mark too."""
    return str(name).strip().lstrip("\ufeff").lstrip()


def _folded(name: Any) -> str:
    """A column name as the kernel compares it: trimmed, and in ASCII lower case (it finds a
    name as written first, else in another ASCII case: ``EVENT_TIME`` is ``event_time``)."""
    return _bare(name).translate(_ASCII_LOWER)


def _resolve_columns(names: Sequence[Any], columns: Optional[Mapping[str, str]]) -> Dict[str, int]:
    """``{canonical name: index in names}`` for the fields ``names`` (a header) holds, as the
    kernel's ``ColumnMap::resolve`` finds them: names compared trimmed; for each field its
    mapped names in the mapping's order, then the canonical one, each looked for as written
    first, and only when none is found in another ASCII case; of repeated names, the first.
    (The mapping's canonical names are checked by the caller.)"""
    trimmed = [_bare(n) for n in names]
    folded = [_folded(n) for n in names]
    mapping = [(str(k).strip(), str(v).strip()) for k, v in dict(columns or {}).items()]
    out: Dict[str, int] = {}
    for field in _CANONICAL:
        wanted = [k for k, v in mapping if v == field] + [field]
        at = next((trimmed.index(w) for w in wanted if w in trimmed), None)
        if at is None:
            at = next((folded.index(_folded(w)) for w in wanted if _folded(w) in folded), None)
        if at is not None:
            out[field] = at
    return out


def _shown(value: Any) -> str:
    """A caller's value as an error message names it: ``repr``, unless the kernel's rule
    (``model::shown``) would not show it whole (it may hold a phone number, or it is long)."""
    text = value if isinstance(value, str) else repr(value)
    return _native.shown_value(text) or repr(value)


def _shown_names(names: Sequence[Any]) -> str:
    """A header's names as a message may show them (the kernel's rule): a name holding five
    or more digits is a value, not a name (a file with no header row), shown as ``<value>``,
    so that no phone number reaches a message."""
    shown = ["<value>" if sum(ch in "0123456789" for ch in str(n)) >= 5 else str(n) for n in names]
    text = ", ".join(shown)
    if "<value>" in shown:
        text += "; a <value> is no name: has the file a header row?"
    return text


def _periods(frame: Any, read: Dict[str, int]) -> None:
    """A pandas ``Period`` in a column the scan reads (a column, a Categorical of them, or an
    index level; ``read``: :func:`_resolve_columns` of :func:`_pandas_names`) is refused:
    Arrow keeps its integers (hours or days since 1970) with the extension's name, which a
    Categorical or an index loses, and they would read as epoch milliseconds or as a phone
    number's digits."""
    width = frame.shape[1]
    names = list(frame.index.names)
    for field, at in read.items():
        if at < width:
            c = frame.iloc[:, at]
        else:
            own = {_folded(n) for n in frame.columns}
            level = [n for n in names if n is not None and _folded(n) not in own][at - width]
            c = frame.index.get_level_values(level)
        dtype = getattr(c, "dtype", None)
        dtype = getattr(dtype, "categories", None) is not None and dtype.categories.dtype or dtype
        if str(dtype).startswith("period"):
            fix = (
                "give timestamps (.dt.to_timestamp(), with a zone: .dt.tz_localize(...))"
                if field == "event_time"
                else "give text or numbers"
            )
            raise ValueError(f"events: {field} is a pandas Period ({dtype}); {fix}")


def _hotzone_text(hotzone: Union[str, Sequence[str]], hotzones_file: Optional[PathLike] = None) -> str:
    """The hotzone's entries as text; ``"@name"`` is the hotzone ``name`` of
    ``hotzones_file`` (as the CLI's ``--hotzone @name --hotzones-file FILE``), read here, on
    the caller's side, so Spark executors never need the file."""
    if isinstance(hotzone, (bytes, bytearray)):  # iterated, b"NG" would be entries 78, 71
        raise TypeError("hotzone must be a str or a list of str, not bytes")
    # A mapping iterates over its keys: {"NG": 1} is no list of entries (a set is one).
    if not isinstance(hotzone, str) and (
        not isinstance(hotzone, _abc.Iterable) or isinstance(hotzone, _abc.Mapping)
    ):
        raise TypeError(f"hotzone must be a str or a list of str (got {type(hotzone).__name__})")
    if isinstance(hotzone, str):
        text = hotzone
    else:
        # A list holds one entry per item, as gRPC's and JSON's do: an empty item, or one
        # holding a comma, is no entry (joined, it would have vanished or become two).
        items = [str(h) for h in hotzone]
        for item in items:
            if not item.strip() or "," in item:
                raise ValueError(f"invalid hotzone: {_shown(item)} is not one entry (a region code or a +prefix)")
        text = ",".join(items)
    named = text.strip()
    if not named.startswith("@"):
        if hotzones_file is not None:
            # Given, the file is read and checked (as the CLI's --hotzones-file): a file that
            # cannot be read is an error, not a keyword passed over.
            _native.hotzone_names(_os.fspath(hotzones_file))
        return text
    if hotzones_file is None:
        raise ValueError(f"invalid hotzone: {_shown(named)} names a hotzone of a file: give hotzones_file=")
    return _native.named_hotzone(_os.fspath(hotzones_file), named[1:])


def _date_text(as_of: Union[None, str, _dt.date]) -> Optional[str]:
    if as_of is None or isinstance(as_of, str):
        return as_of
    if isinstance(as_of, _dt.datetime):
        raise TypeError("as_of is a day: give a datetime.date or 'YYYY-MM-DD', not a datetime")
    if isinstance(as_of, _dt.date):
        return as_of.isoformat()
    raise TypeError(f"as_of must be a datetime.date or 'YYYY-MM-DD' (got {type(as_of).__name__})")


def _columns(columns: Optional[Mapping[str, str]]) -> Optional[list]:
    if columns is None:
        return None
    if not isinstance(columns, Mapping):
        raise TypeError('columns must be a dict {"export_name": "canonical_name"}')
    return [(str(k), str(v)) for k, v in columns.items()]


def _whole(name: str, value: Any) -> int:
    """``value`` as an int when it is one (an int, a numpy integer, a float with no
    fraction); else ``ValueError`` naming the parameter. ``int()`` truncated ``1.9`` to a
    one-day window and took ``True`` and ``"2"``. Past 64 bits it is out of range for every
    parameter (the native call raised ``OverflowError``, naming none)."""
    n: Optional[int] = None
    if not isinstance(value, bool):
        try:
            n = _operator.index(value)
        except TypeError:
            # Any real number with no fraction: a float, numpy's float32 as its float64, a
            # Decimal.
            if isinstance(value, (_numbers.Real, _decimal.Decimal)):
                try:
                    whole = int(value)
                    if whole == value:  # exact: Decimal("2.999...9") is no integer
                        n = whole
                except (ArithmeticError, ValueError):  # nan, inf, Decimal's sNaN
                    pass
    if n is None:
        raise ValueError(f"{name} must be an integer, got {_shown(value)}")
    if not -(2**63) <= n < 2**63:
        raise ValueError(f"out of range: {name} must fit a 64-bit integer (got {_shown(n)})")
    return n


def _text(name: str, value: Any) -> Optional[str]:
    """An optional text parameter (``tz``, ``default_region``): ``None`` or a str, else
    ``TypeError`` naming it."""
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{name} must be a str or None (got {type(value).__name__})")


def _threads(threads: Any) -> Optional[int]:
    """``threads``: ``None`` (every CPU) or an integer >= 1 (``ValueError`` otherwise)."""
    if threads is None:
        return None
    n = _whole("threads", threads)
    if n < 1:
        raise ValueError(f"threads must be at least 1 (or None: every CPU), got {_shown(n)}")
    return n  # past 1024 the native call names the bound


def _ratio(value: Any) -> float:
    """``threshold_ratio`` as a float when it is a number (not a bool or a string: ``"0.5"``
    and ``True`` were taken)."""
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, (_numbers.Real, _decimal.Decimal)):
        raise ValueError(f"threshold_ratio must be a number, got {_shown(value)}")
    try:
        return float(value)
    except (ArithmeticError, ValueError):  # past a float's range, Decimal's sNaN
        raise ValueError(f"out of range: threshold_ratio must be a finite number, got {_shown(value)}") from None


def _flag(name: str, value: Any) -> bool:
    """A flag: ``True`` or ``False`` (numpy's too); ``bool("false")`` was true."""
    t = type(value)
    if isinstance(value, bool) or (t.__module__ == "numpy" and t.__name__ in ("bool", "bool_")):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {_shown(value)}")


def _spec(
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
    source: str = "<arrow>",
    hotzones_file: Optional[PathLike] = None,
) -> Any:
    """Validated parameters (``ValueError`` with the CLI's message when one is bad)."""
    return _native.Spec(
        hotzone=_hotzone_text(hotzone, hotzones_file),
        look_back_days=_whole("look_back_days", look_back_days),
        threshold_ratio=_ratio(threshold_ratio),
        method=str(method),
        check_type=str(check_type),
        check_target=str(check_target),
        min_events=_whole("min_events", min_events),
        as_of=_date_text(as_of),
        tz=_text("tz", tz),
        default_region=_text("default_region", default_region),
        columns=_columns(columns),
        strict=_flag("strict", strict),
        explain=_flag("explain", explain),
        source=source,
    )


def scan(
    events: Any,
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
    threads: Optional[int] = None,
    hotzones_file: Optional[PathLike] = None,
) -> ScanResult:
    """Scan events and return one verdict per subscriber.

    Parameters
    ----------
    events:
        The events: a polars or pandas DataFrame, a polars LazyFrame (run, only the
        columns the scan takes selected first), a pyarrow Table, RecordBatch or
        RecordBatchReader, a ``pyarrow.dataset`` Dataset or Scanner (scanned batch by
        batch, with the partition columns the dataset gives), anything with
        ``__arrow_c_stream__`` (a DuckDB relation: the rows its query selects); or a path
        or list of paths
        as the CLI takes them (``.parquet``/``.pq``, ``.csv``, ``.csv.gz``/``.csv.gzip``,
        ``.csv.zst``/``.csv.zstd``, Arrow IPC ``.arrow``/``.ipc``/``.feather``/``.arrows``, in any case;
        directories, globs, or one prepared ``.hzi``). Arrow input is read batch by batch in place (no copy of the
        frame); the GIL is released while the engine runs.
    hotzone:
        Regions and E.164 prefixes, as ``"NG,JM,+882"`` or ``["NG", "JM", "+882"]``; or
        ``"@name"``, the hotzone ``name`` of ``hotzones_file``.
    look_back_days:
        Days in the window, 1 to 90.
    threshold_ratio:
        SHARE: in (0, 1]. SPIKE: at least 1.
    method:
        ``"share"`` or ``"spike"`` (any case).
    check_type:
        ``"all"``, ``"call"`` or ``"sms"`` (any case): which kinds of event count.
    check_target:
        ``"all"``, ``"incoming"`` or ``"outgoing"`` (any case): which directions count.
    min_events:
        Least hot events on an anomalous day (at least 1; default 3).
    as_of:
        Last day of the window (``datetime.date`` or ``"YYYY-MM-DD"``). Default: the latest
        local day of any accepted event. Without it a stream is read twice, so it is held
        in memory (free for an in-memory frame); give ``as_of`` to stream.
    tz:
        IANA zone the days are counted in. Default: the zone the files record (as written
        by ``hotzone gen``/``prepare``), else UTC.
    default_region:
        Region of numbers written without ``+`` (national format), e.g. ``"TW"``.
    columns:
        Export column names to canonical ones: ``{"msisdn": "subscriber"}``. Names are
        compared trimmed and, when not found as written, in another ASCII case
        (``EVENT_TIME`` is ``event_time`` with no mapping).
    strict:
        Raise :class:`RowError` (a ``ValueError``) naming the first row that cannot be
        interpreted, instead of counting it in ``summary["rejects"]``.
    explain:
        Add a ``days`` column with the counts behind each verdict.
    threads:
        Threads to use: ``None`` is every CPU, ``1`` the calling thread only.
    hotzones_file:
        A TOML file of named hotzones (``west_africa = ["NG", "GH", "+882"]`` lines, the
        CLI's ``--hotzones-file``), for ``hotzone="@west_africa"``; read and checked
        whenever given (``OSError`` when it cannot be read or parsed).

    Returns
    -------
    ScanResult
        The verdict table (Arrow) and ``summary``.

    Raises
    ------
    ValueError
        A bad parameter (the CLI's message); :class:`RowError`, its subclass, for a
        rejected row under ``strict``.
    OSError
        A file that cannot be read.

    Any exception the code producing ``events`` raised (a generator behind a
    ``pyarrow.RecordBatchReader``) is raised as itself.
    """
    spec = _spec(
        hotzone=hotzone, look_back_days=look_back_days, threshold_ratio=threshold_ratio,
        method=method, check_type=check_type, check_target=check_target,
        min_events=min_events, as_of=as_of, tz=tz, default_region=default_region,
        columns=columns, strict=strict, explain=explain, hotzones_file=hotzones_file,
    )
    if _is_paths(events):
        table, summary = _native.scan_paths(spec, _paths(events), _threads(threads))
    else:
        with _Watched(_stream(events, columns)) as stream:
            table, summary = _native.scan_stream(spec, stream, _threads(threads))
    _warn_zone(summary)
    return ScanResult(table, summary)


def prepare(
    paths: Union[PathLike, Sequence[PathLike]],
    output: PathLike,
    *,
    tz: Optional[str] = None,
    default_region: Optional[str] = None,
    columns: Optional[Mapping[str, str]] = None,
    strict: bool = False,
    threads: Optional[int] = None,
) -> Dict[str, Any]:
    """Read files once and write a prepared index (``hotzone prepare``) to ``output``.

    Days are fixed in ``tz`` (default: the zone the files record, else UTC), which the
    index records. Returns the summary of what was read (``rows``, ``events``, ``rejects``,
    ...). Open it with :class:`Index`.
    """
    paths = _prepare_paths(paths)
    if not isinstance(output, (str, _os.PathLike)):
        raise TypeError(f"output must be a path (got {type(output).__name__})")
    if _os.fspath(output) == "-":
        # As the CLI: `-` is standard output there, and a prepared file is binary.
        raise ValueError("output: a prepared file is binary and is not written to stdout ('-'); give a file path")
    summary = _native.prepare(
        _paths(paths), _os.fspath(output), tz=_text("tz", tz), default_region=_text("default_region", default_region),
        columns=_columns(columns), strict=_flag("strict", strict), threads=_threads(threads),
    )
    _warn_zone(summary)
    return summary


def _prepare_paths(paths: Any) -> list:
    """``prepare``'s inputs: a path, or any iterable of paths (a list, a glob's generator);
    at least one. Arrow data in memory is a ``TypeError`` pointing to ``hotzone.scan``."""
    if isinstance(paths, (str, _os.PathLike)):
        return [paths]
    mod = type(paths).__module__
    frame = mod.startswith(("pandas", "polars", "pyarrow")) and type(paths).__name__ != "Series"
    if not frame and not hasattr(paths, "__arrow_c_stream__") and isinstance(paths, _abc.Iterable):
        items = list(paths)
        if items and all(isinstance(p, (str, _os.PathLike)) for p in items):
            return items
    raise TypeError(
        "prepare reads files: paths must be a path or a non-empty list of paths "
        f"(got {type(paths).__name__}); for Arrow data in memory use hotzone.scan"
    )


def _warn_zone(summary: Dict[str, Any]) -> None:
    """The CLI's warnings as ``UserWarning``s, their texts also in the summary: when ``tz``
    differs from the zone a file records (its days are read in ``tz``: ``zone_warning``),
    when ``default_region`` or ``columns`` are given with a prepared file, whose rows
    ``prepare`` read (they change nothing: ``prepared_warning``), and when the data's latest
    day is in 1970 (epoch seconds read as milliseconds: ``epoch_warning``)."""
    for key in ("zone_warning", "prepared_warning", "epoch_warning"):
        if key in summary:
            _warnings.warn(summary[key], UserWarning, stacklevel=3)


class Index:
    """A prepared index (``.hzi``), loaded once, for repeated scans and checks.

    >>> idx = hotzone.Index("events.hzi")            # doctest: +SKIP
    >>> idx.check("+2348031234567", hotzone="NG", look_back_days=30, threshold_ratio=0.3)
    (True, datetime.date(2026, 10, 30))              # doctest: +SKIP
    """

    def __init__(self, path: PathLike) -> None:
        self._index = _native.Index(_os.fspath(path))
        self.path = _os.fspath(path)

    @property
    def tz(self) -> str:
        """The zone the index's days are in."""
        return self._index.tz

    @property
    def latest_day(self) -> Optional[_dt.date]:
        """The latest day with an event (None when empty)."""
        return self._index.latest_day

    @property
    def stats(self) -> Tuple[int, int]:
        """``(subscribers, events)``."""
        return self._index.stats

    def __repr__(self) -> str:
        subs, events = self.stats
        return f"<hotzone.Index {self.path!r}: {subs} subscribers, {events} events, tz {self.tz}>"

    def scan(
        self,
        *,
        hotzone: Union[str, Sequence[str]],
        look_back_days: int,
        threshold_ratio: float,
        method: str = "share",
        check_type: str = "all",
        check_target: str = "all",
        min_events: int = 3,
        as_of: Union[None, str, _dt.date] = None,
        explain: bool = False,
        threads: Optional[int] = None,
        hotzones_file: Optional[PathLike] = None,
    ) -> ScanResult:
        """Scan every subscriber of the index; parameters as :func:`scan` (the window
        ends on the index's latest day by default)."""
        spec = _spec(
            hotzone=hotzone, look_back_days=look_back_days, threshold_ratio=threshold_ratio,
            method=method, check_type=check_type, check_target=check_target,
            min_events=min_events, as_of=as_of, tz=self.tz, explain=explain,
            hotzones_file=hotzones_file,
        )
        table, summary = self._index.scan(spec, _threads(threads))
        return ScanResult(table, summary)

    def check(
        self,
        phone_number: str,
        *,
        hotzone: Union[str, Sequence[str]],
        look_back_days: int,
        threshold_ratio: float,
        method: str = "share",
        check_type: str = "all",
        check_target: str = "all",
        min_events: int = 3,
        as_of: Union[None, str, _dt.date] = None,
        hotzones_file: Optional[PathLike] = None,
    ) -> Tuple[bool, Optional[_dt.date]]:
        """One number's verdict: ``(anomaly_detected, anomaly_date)``.

        ``phone_number`` is E.164 (``+``, a first digit 1-9, and 5 to 15 digits in all). Without ``as_of`` the window
        ends on the index's latest day, like :meth:`scan` (the server's check uses today;
        pass ``as_of`` for that). A number without events is ``(False, None)`` (where the
        server answers ``NOT_FOUND``: an analyst's loop over numbers goes on).
        """
        spec = _spec(
            hotzone=hotzone, look_back_days=look_back_days, threshold_ratio=threshold_ratio,
            method=method, check_type=check_type, check_target=check_target,
            min_events=min_events, as_of=as_of, hotzones_file=hotzones_file,
        )
        return self._index.check(spec, str(phone_number))
