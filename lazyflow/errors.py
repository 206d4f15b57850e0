"""lazyflow's exceptions: one base class, one subclass per kind of failure."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl


class LazyflowError(Exception):
    """Base class of every error lazyflow raises on purpose."""


class SchemaError(LazyflowError):
    """A stage needs a column that is missing or has the wrong dtype."""

    def __init__(
        self,
        stage: str,
        column: str,
        problem: str,
        available: Iterable[str] = (),
    ) -> None:
        self.stage = stage
        self.column = column
        self.problem = problem
        self.available = list(available)
        cols = ", ".join(self.available) if self.available else "(none)"
        super().__init__(f"{stage}: column '{column}' {problem}. Columns present: {cols}")


class DataError(LazyflowError):
    """The data itself is unusable (duplicates, empty panel, unreadable file...)."""


class ConfigError(LazyflowError):
    """A stage, allocator or config parameter has a bad value."""


def collect(frame: pl.LazyFrame, caller: str) -> pl.DataFrame:
    """`frame.collect()`, with a Polars failure on the data (an unparseable date or number,
    a file gone since it was scanned) raised as a `DataError` that names `caller`."""
    return collect_all([frame], caller)[0]


def collect_all(frames: list[pl.LazyFrame], caller: str) -> list[pl.DataFrame]:
    """`pl.collect_all(frames)` (one run, shared work), with failures raised as in `collect`."""
    try:
        return pl.collect_all(frames)
    except (pl.exceptions.PolarsError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{caller}: cannot compute the frame: {first_line}") from exc
