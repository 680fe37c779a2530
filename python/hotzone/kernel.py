"""The kernel's mergeable map as Arrow batches: building blocks for distributed engines.

A scan is a *map* and a *verdict*. :func:`map_state` turns events into a **state**: per
subscriber and local day of the window, the selected events (``total``) and those with a
hotzone counterparty (``hot``), as a ``pyarrow.RecordBatch`` of :data:`STATE_SCHEMA`
(``subscriber`` int64 = the E.164 digits, ``day`` date32, ``hot`` int64, ``total`` int64),
whose schema metadata names the window. States of the same window add up in any order and
grouping; :func:`verdicts_of_states` sums the states it is given and evaluates the rule, so
a subscriber's verdict is exact once *all* of its states reach one call (shuffle states by
``subscriber``). :func:`latest_day` finds the default ``as_of`` (the latest local day of an
accepted row) of a part of the data; the latest of the parts' answers is the data's.

Parquet files can also be read by the kernel itself, a part at a time: :func:`probe_parquet`
checks on one machine that the kernel reads them (and how large each row group is), then
:func:`map_state_of_row_groups` and :func:`latest_day_of_row_groups` read given row groups
wherever the files are reachable, numbering rejected rows in their file as the CLI does.

``hotzone.spark`` is built on these; :func:`hotzone.scan` does the same in one process.
Parameters are those of :func:`hotzone.scan`; ``as_of`` is required here.
"""

from __future__ import annotations

import datetime as _dt
import itertools as _it
import os as _os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import _columns, _flag, _native, _spec, _stream, _text, _threads, _Watched, _whole

__all__ = [
    "map_state",
    "verdicts_of_states",
    "latest_day",
    "probe_parquet",
    "map_state_of_row_groups",
    "latest_day_of_row_groups",
    "STATE_SCHEMA",
    "verdict_schema",
]

#: The schema of a state batch (without the window's metadata).
STATE_SCHEMA = _native.state_schema()


def verdict_schema(explain: bool = False) -> Any:
    """The schema of the verdict table (the scan's columns)."""
    return _native.verdict_schema(explain)


def map_state(events: Any, *, source: str = "<arrow>", threads: Optional[int] = 1, **params: Any) -> Tuple[Any, Dict[str, Any]]:
    """Events (Arrow data, as :func:`hotzone.scan` takes) -> ``(state, summary)``.

    ``params`` are :func:`hotzone.scan`'s (``as_of`` required). Every row is interpreted as
    the CLI does: rejects are counted in ``summary`` with their row (numbered from 1 in
    this call's input, named ``source``); ``strict=True`` raises :class:`hotzone.RowError` (a ``ValueError``) instead.
    Runs on the calling thread unless ``threads`` says otherwise.
    """
    spec = _spec(source=source, **params)
    with _Watched(_stream(events, params.get("columns"))) as stream:
        return _native.map_state(spec, stream, _threads(threads))


def verdicts_of_states(states: Any, *, threads: Optional[int] = 1, **params: Any) -> Any:
    """State batches (a list or an iterator of ``pyarrow.RecordBatch``, a Table or a reader) -> the
    verdicts of their sum as a ``pyarrow.Table`` (the scan's columns, sorted by subscriber).

    A state of another window, or of another selection of events (hotzone, check type or
    check target: :func:`map_state` names both in the state's schema metadata), than
    ``params`` describe raises ``ValueError``; the method, threshold and ``min_events`` only
    matter to the verdict, so one set of states serves any of them. A list or an iterator
    is checked state by state; a Table or a reader has one schema, so all its batches count
    as the window and selection that schema names (``pa.concat_tables`` keeps the first
    table's metadata): combine states of different queries as a list, never as one table.

    Small batches add to one map as they are read, in any order, so memory follows the
    subscribers and their events, not the number of batches (a Spark reduce task's thousands
    of 10,000-row batches cost what one table of the same rows costs); a batch of a million
    rows or more (a whole state) is summed beside the others, on every thread.
    """
    arrow = hasattr(states, "__arrow_c_stream__")  # a Table or reader: read as it is
    if isinstance(states, (list, tuple)) or (hasattr(states, "__next__") and not arrow):
        states = _stream_of_states(states)
    spec = _spec(**params)
    with _Watched(_stream(states)) as stream:
        return _native.verdicts_of_states(spec, stream, _threads(threads))


def _stream_of_states(states: Any) -> Any:
    """A list or an iterator of state batches -> one Arrow stream whose schema names the
    first state's window (the kernel checks it against the parameters). A state naming
    another window raises ``ValueError``: at once for a list, when it is read for an
    iterator (the states of a Spark reduce task arrive one by one). No state: an empty one.
    """
    import pyarrow as pa

    it = iter(states)
    head = next(it, None)
    if head is None:
        return pa.table({f.name: pa.array([], f.type) for f in STATE_SCHEMA})
    window = head.schema.metadata or {}

    def same(s: Any) -> Any:
        if (s.schema.metadata or {}) != window:
            raise ValueError(
                "states of different windows or selections never add up (their schema metadata differ)"
            )
        return s

    if isinstance(states, (list, tuple)):
        rest = [same(s) for s in it]
    else:
        rest = (same(s) for s in it)
    return pa.RecordBatchReader.from_batches(head.schema, _it.chain([head], rest))


def latest_day(
    events: Any,
    *,
    tz: Optional[str] = None,
    default_region: Optional[str] = None,
    columns: Optional[Dict[str, str]] = None,
    strict: bool = False,
    source: str = "<arrow>",
    threads: Optional[int] = 1,
) -> Tuple[Optional[_dt.date], Dict[str, Any]]:
    """The latest local day (in ``tz``, default UTC) of an accepted row of ``events``, or
    None when no row is accepted; and the summary of the rows read."""
    with _Watched(_stream(events, columns)) as stream:
        return _native.latest_day(
            stream, tz=_text("tz", tz), default_region=_text("default_region", default_region),
            columns=_columns(columns),
            strict=_flag("strict", strict), source=source, threads=_threads(threads),
        )


#: A part of a Parquet file: ``(path, first row group, end row group)`` (end excluded).
RowGroups = Tuple[str, int, int]


def probe_parquet(
    paths: Sequence[str], *, columns: Optional[Mapping[str, str]] = None
) -> List[Tuple[List[int], List[Tuple[str, str, str]]]]:
    """Checks that the kernel reads each Parquet file (its required columns are there and of
    types the kernel reads, by the code a read runs, and compressed with a codec it has) and
    returns per file its row groups' compressed sizes and the ``(column, canonical name,
    kind)`` a read takes. The kind is ``timestamp``, ``int96`` (a legacy INT96 timestamp),
    ``integer``, ``float``, ``text`` or ``other`` for a column of the file, and
    ``partition`` for a ``key=value`` directory's column (named by its key), which fills a
    field none of the file's columns fills.

    Raises ``OSError`` naming the first file that cannot be read and why.
    """
    if isinstance(paths, (str, _os.PathLike)):  # one path, not its characters
        paths = [paths]
    return _native.probe_parquet([str(p) for p in paths], columns=_columns(columns))


def map_state_of_row_groups(
    parts: Sequence[RowGroups], *, threads: Optional[int] = 1, **params: Any
) -> Tuple[Any, Dict[str, Any]]:
    """:func:`map_state` of row groups of Parquet files (``[(path, first, end)]``), read by the
    kernel as the CLI reads them. Rejected rows are numbered in their file; ``params`` are
    :func:`hotzone.scan`'s (``as_of`` required; ``columns`` maps the files' names)."""
    spec = _spec(**params)
    return _native.map_state_row_groups(spec, _row_groups(parts), _threads(threads))


def _row_groups(parts: Sequence[RowGroups]) -> List[Tuple[str, int, int]]:
    """``parts`` checked: whole row-group numbers, ``0 <= first <= end``, and no row group of
    a file in two parts (its rows would be counted twice: a file named twice is read once)."""
    out: List[Tuple[str, int, int]] = []
    taken: Dict[str, List[Tuple[int, int]]] = {}
    for part in parts:
        p, a, b = part
        first, end = _whole("first row group", a), _whole("end row group", b)
        if not 0 <= first <= end:
            raise ValueError(f"row groups of {p}: need 0 <= first <= end (got {first}, {end})")
        key = _os.path.realpath(str(p))
        for f, e in taken.get(key, []) if first < end else []:
            if first < e and f < end:
                raise ValueError(
                    f"row groups of {p}: {first}..{end} overlaps {f}..{e} (a row group is read once)"
                )
        taken.setdefault(key, []).append((first, end))
        out.append((str(p), first, end))
    return out


def latest_day_of_row_groups(
    parts: Sequence[RowGroups],
    *,
    tz: Optional[str] = None,
    default_region: Optional[str] = None,
    columns: Optional[Mapping[str, str]] = None,
    strict: bool = False,
    threads: Optional[int] = 1,
) -> Tuple[Optional[_dt.date], Dict[str, Any]]:
    """:func:`latest_day` of row groups of Parquet files (``[(path, first, end)]``)."""
    return _native.latest_day_row_groups(
        _row_groups(parts), tz=_text("tz", tz), default_region=_text("default_region", default_region),
        columns=_columns(columns), strict=_flag("strict", strict), threads=_threads(threads),
    )
