"""`FundingCarry`: the cross-sectional funding-carry score."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from lazyflow.exprs import finite, group_mean, group_std, masked, window_value, winsorize
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
    The per-date sums of the mean and the std (``sqrt(sum((v - mean)^2) / (n - 1))``)
    are `exact_sum`: the exact sum rounded once, so the score has the same bits in any row
    order and thread count.
    """

    winsor: float = 0.05
    standardize: bool = True
    annualize: bool = False
    periods_per_year: int = 365
    funding_col: str = "funding_rate"
    output_col: str = "carry_score"
    mask: str | None = None
    date_col: str = "date"

    def check(self) -> None:
        self.number("winsor", low=0, high=0.5, high_open=True)
        self.flag("standardize")
        self.flag("annualize")
        self.number("periods_per_year", low=0, low_open=True, integer=True)

    def inputs(self) -> dict[str, Kind]:
        return with_mask({self.date_col: Kind.DATE, self.funding_col: Kind.NUMERIC}, self.mask)

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
        frame = frame.with_columns(winsorize(raw, self.winsor, by).alias(out))
        if self.standardize:
            frame = frame.with_columns((score - group_mean(score).over(by)).alias(out))
            frame = frame.with_columns((score / (group_std(score).over(by) + STD_EPS)).alias(out))
        return frame.with_columns(finite(score).alias(out))
