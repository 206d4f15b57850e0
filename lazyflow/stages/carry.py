"""`FundingCarry`: the cross-sectional funding-carry score."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import polars as pl

from lazyflow.exprs import finite, masked, window_value
from lazyflow.schema import Kind
from lazyflow.stages.base import Stage, with_mask

#: Added to the per-date standard deviation before dividing (the seed's guard).
STD_EPS = 1e-8


@dataclass(frozen=True)
class FundingCarry(Stage):
    """What a long earns from funding, winsorised and standardised per date.

    Positive funding means longs pay shorts, so the raw carry of a long is
    ``-x`` with ``x = funding`` (``x = funding * periods_per_year`` if
    ``annualize``). Per date (over the non-null rows inside ``mask``): clip to the
    ``winsor`` and ``1 - winsor`` quantiles (interpolation "nearest"); then, if
    ``standardize``, ``(v - mean) / (std + 1e-8)`` with std of ddof 1. A date with
    a single value has no std and so a null score (as in the seed). Rows
    outside ``mask`` get a null score. Unit: funding per period (per year if
    annualised) before standardising, standard deviations after. Non-finite or
    absurd funding (NaN, inf, beyond +-``MAX_WINDOW_VALUE`` = 2**53) counts as
    missing, so the per-date sums never overflow and the score is finite or null.
    The per-date mean and std (``sqrt(sum((v - mean)^2) / (n - 1))``) add the
    values one by one in ``symbol_col`` order, so the score does not depend on the
    row order (without that column in the frame they add in row order).
    """

    winsor: float = 0.05
    standardize: bool = True
    annualize: bool = False
    periods_per_year: int = 365
    funding_col: str = "funding_rate"
    output_col: str = "carry_score"
    mask: str | None = None
    date_col: str = "date"
    symbol_col: str | None = "symbol"

    def check(self) -> None:
        self.number("winsor", low=0, high=0.5, high_open=True)
        self.flag("standardize")
        self.flag("annualize")
        self.number("periods_per_year", low=0, low_open=True, integer=True)

    def inputs(self) -> dict[str, Kind]:
        keys = {self.date_col: Kind.DATE, self.funding_col: Kind.NUMERIC}
        if self.symbol_col is not None:
            keys[self.symbol_col] = Kind.SYMBOL
        return with_mask(keys, self.mask)

    def for_schema(self, schema: Mapping[str, pl.DataType]) -> FundingCarry:
        """This stage with ``symbol_col=None`` when `schema` lacks that column."""
        if self.symbol_col is None or self.symbol_col in schema:
            return self
        return replace(self, symbol_col=None)

    def outputs(self) -> dict[str, pl.DataType]:
        return {self.output_col: pl.Float64()}

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        x = window_value(masked(self.funding_col, self.mask))
        if self.annualize:
            x = x * self.periods_per_year
        raw = -x
        by, out = self.date_col, self.output_col
        score = pl.col(out)
        # one window level per step, each reading the column the step before wrote (nested in
        # one expression, every use re-evaluated the quantile and mean windows per date)
        frame = frame.with_columns(
            raw.clip(
                raw.quantile(self.winsor, interpolation="nearest").over(by),
                raw.quantile(1 - self.winsor, interpolation="nearest").over(by),
            ).alias(out)
        )
        if self.standardize:
            symbol = self.for_schema(frame.collect_schema()).symbol_col

            def total(x: pl.Expr) -> pl.Expr:
                """The date's sum of `x`, added one by one in symbol order: the same bits
                whatever the row order or the path Polars takes (a plain sum's is not)."""
                x = x.fill_null(0.0)
                return (x if symbol is None else x.sort_by(symbol)).cum_sum().last()

            n = score.count()
            centred = score - (total(score) / n).over(by)
            frame = frame.with_columns(centred.alias(out)).with_columns(
                (score / ((total(score**2) / (n - 1)).sqrt().over(by) + STD_EPS)).alias(out)
            )
        return frame.with_columns(finite(score).alias(out))
