"""`LogReturns`: one-day log returns per symbol, on the full panel."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from lazyflow.exprs import per_symbol
from lazyflow.schema import Kind
from lazyflow.stages.base import Stage


def log_price(column: str) -> pl.Expr:
    """`ln(column)` as Float64; null where the price is null, non-finite or <= 0."""
    price = pl.col(column).cast(pl.Float64)
    return pl.when(price.is_finite() & (price > 0)).then(price.log())


@dataclass(frozen=True)
class LogReturns(Stage):
    """``log_returns_t = ln(close_t) - ln(close_{t-1})`` per symbol, in date order.

    The previous row is the symbol's previous row in the panel (whatever its
    date), on the full panel before any universe filter (DESIGN difference 2).
    Null on each symbol's first row and where either price is null, non-finite
    or <= 0. Unit: log return per row (per day on a daily panel).
    """

    price_col: str = "close"
    output_col: str = "log_returns"
    date_col: str = "date"
    symbol_col: str = "symbol"

    def inputs(self) -> dict[str, Kind]:
        return {
            self.date_col: Kind.DATE,
            self.symbol_col: Kind.SYMBOL,
            self.price_col: Kind.NUMERIC,
        }

    def outputs(self) -> dict[str, pl.DataType]:
        return {self.output_col: pl.Float64()}

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        lp = log_price(self.price_col)
        ret = per_symbol(lp - lp.shift(1), self.symbol_col, self.date_col)
        return frame.with_columns(ret.alias(self.output_col))
