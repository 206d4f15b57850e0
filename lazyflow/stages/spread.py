"""`RangeSpread`: the half-spread estimated from the day's high-low range."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from lazyflow.exprs import finite
from lazyflow.schema import Kind
from lazyflow.stages.base import Stage


@dataclass(frozen=True)
class RangeSpread(Stage):
    """``spread = 0.5 * (high - low) / ((high + low) / 2)``: half the range over the mid.

    Null unless ``0 < low <= high`` with both finite (a bar with a missing,
    non-positive or crossed range has no spread). Unit: a fraction of the price
    (0.01 = 1%), used as the one-way trading cost in the allocator's no-trade
    buffer. Row-wise, so it has no date parameter.
    """

    high_col: str = "high"
    low_col: str = "low"
    output_col: str = "spread"

    def inputs(self) -> dict[str, Kind]:
        return {self.high_col: Kind.NUMERIC, self.low_col: Kind.NUMERIC}

    def outputs(self) -> dict[str, pl.DataType]:
        return {self.output_col: pl.Float64()}

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        high, low = finite(pl.col(self.high_col)), finite(pl.col(self.low_col))
        # high/2 + low/2 has the bits of (high + low)/2 but cannot overflow
        spread = 0.5 * (high - low) / (high / 2 + low / 2)
        valid = (low > 0) & (high >= low)
        return frame.with_columns(pl.when(valid).then(spread).alias(self.output_col))
