"""`EwmaVol`: the blended short/long EWMA volatility forecast."""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from lazyflow.exprs import per_symbol, window_value
from lazyflow.schema import Kind
from lazyflow.stages.base import Stage


@dataclass(frozen=True)
class EwmaVol(Stage):
    """``vol_t = sqrt(w*v_s[t-1] + (1-w)*v_l[t-1])`` per symbol, in date order.

    ``v_s``/``v_l`` are adjusted EWMAs of ``r^2`` with spans S/L
    (``a = 2/(span+1)``), taken one row back within the symbol, so the forecast
    for row t uses returns up to row t-1. Nulls follow Polars' ``ewm_mean``
    (``ignore_nulls=False``): a null return gives a null EWMA on its own row,
    and weights decay with row distance across nulls, i.e.
    ``v[t] = sum_{i<=t, r_i not null} (1-a)^(t-i) r_i^2 / sum (1-a)^(t-i)``.
    So the first two rows of each symbol (null first return, then its lag) and
    the row after any null return get a null forecast; a NaN, infinite or absurd
    return (beyond +-``MAX_WINDOW_VALUE`` = 2**53) counts as null, so the EWMAs never
    overflow. Unit: per-row (daily) volatility of log returns, times
    ``sqrt(periods_per_year)`` if ``annualise``.
    """

    short_span: float = 30
    long_span: float = 120
    blend_weight: float = 0.5
    annualise: bool = False
    periods_per_year: int = 365
    returns_col: str = "log_returns"
    output_col: str = "vol_fcst"
    date_col: str = "date"
    symbol_col: str = "symbol"

    def check(self) -> None:
        self.number("short_span", low=1)
        self.number("long_span", low=1)
        if not self.short_span < self.long_span:
            raise self.fail(
                "short_span",
                f"must satisfy 1 <= short_span < long_span (spans of at least one row), "
                f"got {self.short_span} and long_span {self.long_span}",
            )
        self.number("blend_weight", low=0, high=1)
        self.flag("annualise")
        self.number("periods_per_year", low=0, low_open=True, integer=True)

    def inputs(self) -> dict[str, Kind]:
        return {
            self.date_col: Kind.DATE,
            self.symbol_col: Kind.SYMBOL,
            self.returns_col: Kind.NUMERIC,
        }

    def outputs(self) -> dict[str, pl.DataType]:
        return {self.output_col: pl.Float64()}

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        r2 = window_value(pl.col(self.returns_col)) ** 2

        def lagged_ewma(span: float) -> pl.Expr:
            return r2.ewm_mean(span=span, adjust=True).shift(1)

        w = self.blend_weight
        var = w * lagged_ewma(self.short_span) + (1 - w) * lagged_ewma(self.long_span)
        vol = per_symbol(var.sqrt(), self.symbol_col, self.date_col)
        if self.annualise:
            vol = vol * math.sqrt(self.periods_per_year)
        return frame.with_columns(vol.alias(self.output_col))
