"""`DropNulls`: the notebook's ``drop_nulls()`` of the raw panel, as a declared stage."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from lazyflow.schema import Kind
from lazyflow.stages.base import Stage


@dataclass(frozen=True)
class DropNulls(Stage):
    """Drop every row with a null in ``columns`` (in any column when None).

    The only built-in stage that removes rows: put it first, on the raw panel,
    as the seed did. It keeps row order and adds no column.
    """

    columns: tuple[str, ...] | None = None

    def check(self) -> None:
        if isinstance(self.columns, str):
            raise self.fail(
                "columns", f"must be a sequence of column names, not the string {self.columns!r}"
            )
        if self.columns is None:
            return
        if not isinstance(self.columns, tuple | list):
            raise self.fail(
                "columns", f"must be a tuple of column names or None, got {self.columns!r}"
            )
        if len(self.columns) == 0:
            raise self.fail("columns", "is empty: name at least one column, or pass None for all")
        for column in self.columns:
            if not isinstance(column, str) or not column:
                raise self.fail("columns", f"must hold non-empty column names, got {column!r}")

    def inputs(self) -> dict[str, Kind]:
        return {column: Kind.ANY for column in self.columns or ()}

    def outputs(self) -> dict[str, pl.DataType]:
        return {}

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        subset = None if self.columns is None else list(self.columns)
        return frame.drop_nulls(subset=subset)
