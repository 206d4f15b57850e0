"""The frame's calendar: the sorted distinct dates of a frame, which `LogReturns` and
`ForwardReturns` count a return's span in."""

from __future__ import annotations

import polars as pl

from lazyflow.schema import unused_name


def calendar_day(frame: pl.LazyFrame, date_col: str) -> tuple[pl.LazyFrame, str]:
    """`frame` with a temporary column: the position of each row's date in the frame's
    calendar (the sorted distinct dates of `frame`, 1 = the first), and that column's name
    (one no column of `frame` has). Lazy; the same in any row order."""
    name = unused_name(frame.collect_schema().names(), "__calendar_day")
    return frame.with_columns(pl.col(date_col).rank("dense").cast(pl.Int64).alias(name)), name
