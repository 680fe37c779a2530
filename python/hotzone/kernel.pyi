import datetime as _dt
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import pyarrow

STATE_SCHEMA: pyarrow.Schema

def verdict_schema(explain: bool = ...) -> pyarrow.Schema: ...
def map_state(
    events: Any, *, source: str = ..., threads: Optional[int] = ..., **params: Any
) -> Tuple[pyarrow.RecordBatch, Dict[str, Any]]: ...
def verdicts_of_states(states: Any, *, threads: Optional[int] = ..., **params: Any) -> pyarrow.Table: ...
def latest_day(
    events: Any,
    *,
    tz: Optional[str] = ...,
    default_region: Optional[str] = ...,
    columns: Optional[Mapping[str, str]] = ...,
    strict: bool = ...,
    source: str = ...,
    threads: Optional[int] = ...,
) -> Tuple[Optional[_dt.date], Dict[str, Any]]: ...

RowGroups = Tuple[str, int, int]

def probe_parquet(
    paths: Sequence[str], *, columns: Optional[Mapping[str, str]] = ...
) -> List[Tuple[List[int], List[Tuple[str, str, str]]]]: ...
def map_state_of_row_groups(
    parts: Sequence[RowGroups], *, threads: Optional[int] = ..., **params: Any
) -> Tuple[pyarrow.RecordBatch, Dict[str, Any]]: ...
def latest_day_of_row_groups(
    parts: Sequence[RowGroups],
    *,
    tz: Optional[str] = ...,
    default_region: Optional[str] = ...,
    columns: Optional[Mapping[str, str]] = ...,
    strict: bool = ...,
    threads: Optional[int] = ...,
) -> Tuple[Optional[_dt.date], Dict[str, Any]]: ...
