"""`Deciles`: per-date quantile buckets of a score."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from lazyflow.exprs import finite, masked, quantile_bucket
from lazyflow.schema import Kind
from lazyflow.stages.base import Stage, with_mask


@dataclass(frozen=True)
class Deciles(Stage):
    """Per date: ``decile = floor((rank - 1) * n_quantiles / n) + 1`` (Int32, 1..n_quantiles).

    ``rank`` is the average-ties rank of the score among that date's non-null
    scores inside ``mask`` (NaN and +-inf count as missing), ``n`` their count; null
    where ``n < 2`` and for rows without a score. By default
    (``descending=False``) bucket ``n_quantiles`` holds the highest scores;
    ``descending=True`` ranks from the highest score down and reproduces the
    seed's ordering exactly (DESIGN difference 1).
    """

    score_col: str = "carry_score"
    n_quantiles: int = 10
    descending: bool = False
    output_col: str = "decile_carry"
    mask: str | None = None
    date_col: str = "date"

    def check(self) -> None:
        self.number("n_quantiles", low=1, integer=True)
        self.flag("descending")

    def inputs(self) -> dict[str, Kind]:
        return with_mask({self.date_col: Kind.DATE, self.score_col: Kind.NUMERIC}, self.mask)

    def outputs(self) -> dict[str, pl.DataType]:
        return {self.output_col: pl.Int32()}

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        score = finite(masked(self.score_col, self.mask))
        decile = quantile_bucket(score, self.n_quantiles, self.descending).over(self.date_col)
        return frame.with_columns(decile.cast(pl.Int32).alias(self.output_col))
