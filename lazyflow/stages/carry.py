"""`FundingCarry`: the cross-sectional funding-carry score."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from lazyflow.schema import Kind
from lazyflow.stages.base import Stage, masked, with_mask

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
    a single value has a null std and so a null score (as in the seed). Rows
    outside ``mask`` get a null score. Unit: funding per period (per year if
    annualised) before standardising, standard deviations after. Non-finite
    funding (NaN, inf) counts as missing.
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
        if not 0 <= self.winsor < 0.5:
            raise self.fail("winsor", f"must be in [0, 0.5), got {self.winsor!r}")
        if not self.periods_per_year > 0:
            raise self.fail("periods_per_year", f"must be > 0, got {self.periods_per_year!r}")

    def inputs(self) -> dict[str, Kind]:
        return with_mask({self.date_col: Kind.DATE, self.funding_col: Kind.NUMERIC}, self.mask)

    def outputs(self) -> dict[str, pl.DataType]:
        return {self.output_col: pl.Float64()}

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        funding = masked(self.funding_col, self.mask).cast(pl.Float64)
        x = pl.when(funding.is_finite()).then(funding)
        if self.annualize:
            x = x * self.periods_per_year
        raw = -x
        by = self.date_col
        score = raw.clip(
            raw.quantile(self.winsor, interpolation="nearest").over(by),
            raw.quantile(1 - self.winsor, interpolation="nearest").over(by),
        )
        if self.standardize:
            score = (score - score.mean().over(by)) / (score.std(ddof=1).over(by) + STD_EPS)
        return frame.with_columns(score.alias(self.output_col))
