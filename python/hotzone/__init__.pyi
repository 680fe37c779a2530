"""Type stubs of the hotzone package (see the module docstrings for the semantics)."""

import datetime as _dt
import os
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import pyarrow

PathLike = Union[str, "os.PathLike[str]"]
Hotzone = Union[str, Sequence[str]]
Day = Union[None, str, _dt.date]

__all__ = ["scan", "prepare", "Index", "ScanResult", "RowError", "VERDICT_COLUMNS", "__version__"]

VERDICT_COLUMNS: Tuple[str, ...]
__version__: str

class RowError(ValueError): ...

class ScanResult:
    table: pyarrow.Table
    summary: Dict[str, Any]
    def __init__(self, table: pyarrow.Table, summary: Dict[str, Any]) -> None: ...
    def __arrow_c_stream__(self, requested_schema: Any = ...) -> Any: ...
    def __len__(self) -> int: ...
    def to_pyarrow(self) -> pyarrow.Table: ...
    def to_polars(self) -> Any: ...
    def to_pandas(self, **kwargs: Any) -> Any: ...

def scan(
    events: Any,
    *,
    hotzone: Hotzone,
    look_back_days: int,
    threshold_ratio: float,
    method: str = ...,
    check_type: str = ...,
    check_target: str = ...,
    min_events: int = ...,
    as_of: Day = ...,
    tz: Optional[str] = ...,
    default_region: Optional[str] = ...,
    columns: Optional[Mapping[str, str]] = ...,
    strict: bool = ...,
    explain: bool = ...,
    threads: Optional[int] = ...,
    hotzones_file: Optional[PathLike] = ...,
) -> ScanResult: ...

def prepare(
    paths: Union[PathLike, Sequence[PathLike]],
    output: PathLike,
    *,
    tz: Optional[str] = ...,
    default_region: Optional[str] = ...,
    columns: Optional[Mapping[str, str]] = ...,
    strict: bool = ...,
    threads: Optional[int] = ...,
) -> Dict[str, Any]: ...

class Index:
    path: str
    def __init__(self, path: PathLike) -> None: ...
    @property
    def tz(self) -> str: ...
    @property
    def latest_day(self) -> Optional[_dt.date]: ...
    @property
    def stats(self) -> Tuple[int, int]: ...
    def scan(
        self,
        *,
        hotzone: Hotzone,
        look_back_days: int,
        threshold_ratio: float,
        method: str = ...,
        check_type: str = ...,
        check_target: str = ...,
        min_events: int = ...,
        as_of: Day = ...,
        explain: bool = ...,
        threads: Optional[int] = ...,
        hotzones_file: Optional[PathLike] = ...,
    ) -> ScanResult: ...
    def check(
        self,
        phone_number: str,
        *,
        hotzone: Hotzone,
        look_back_days: int,
        threshold_ratio: float,
        method: str = ...,
        check_type: str = ...,
        check_target: str = ...,
        min_events: int = ...,
        as_of: Day = ...,
        hotzones_file: Optional[PathLike] = ...,
    ) -> Tuple[bool, Optional[_dt.date]]: ...
