"""`SigmoidTarget`: deciles mapped linearly to alpha in [-1, 1], then through a logistic."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from lazyflow.schema import Kind
from lazyflow.stages.base import Stage


@dataclass(frozen=True)
class SigmoidTarget(Stage):
    """``alpha = 2*(d - lo)/(hi - lo) - 1``;
    ``target = y_min + (y_max - y_min) / (1 + exp(-k*(alpha - x_offset)))``.

    The bounds are static, hence causal (the seed took them from the whole
    history): ``lo``/``hi`` default to min/max of ``keep_deciles`` when given,
    else 1 and ``n_quantiles``; explicit ``lo``/``hi`` override. Rows whose
    decile is not in ``keep_deciles`` (or is null) get null alpha and target;
    rows are never dropped (the seed filtered them). ``hi < lo`` flips the map.
    Unit of target: a signed position score in [y_min, y_max].
    """

    decile_col: str = "decile_carry"
    k: float = 4.0
    x_offset: float = 0.0
    y_min: float = -0.85
    y_max: float = 0.85
    keep_deciles: tuple[int, ...] | None = None
    lo: float | None = None
    hi: float | None = None
    n_quantiles: int = 10
    alpha_col: str = "alpha"
    output_col: str = "target_position"

    def bounds(self) -> tuple[float, float]:
        """The (lo, hi) decile bounds this stage maps to alpha = -1 and +1."""
        if self.keep_deciles:
            lo, hi = min(self.keep_deciles), max(self.keep_deciles)
        else:
            lo, hi = 1, self.n_quantiles
        return (
            float(lo if self.lo is None else self.lo),
            float(hi if self.hi is None else self.hi),
        )

    def check(self) -> None:
        q = self.n_quantiles
        if isinstance(q, bool) or not isinstance(q, int) or q < 2:
            raise self.fail("n_quantiles", f"must be an integer >= 2, got {q!r}")
        if self.keep_deciles is not None and len(self.keep_deciles) == 0:
            raise self.fail("keep_deciles", "is empty: it would null every target")
        lo, hi = self.bounds()
        if hi == lo:
            raise self.fail("hi", f"equals lo ({lo}): the decile range is zero")
        if self.y_min > self.y_max:
            raise self.fail("y_min", f"({self.y_min}) is greater than y_max ({self.y_max})")

    def inputs(self) -> dict[str, Kind]:
        return {self.decile_col: Kind.NUMERIC}

    def outputs(self) -> dict[str, pl.DataType]:
        return {self.alpha_col: pl.Float64(), self.output_col: pl.Float64()}

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        lo, hi = self.bounds()
        d = pl.col(self.decile_col).cast(pl.Float64)
        if self.keep_deciles is not None:
            d = pl.when(pl.col(self.decile_col).is_in(list(self.keep_deciles))).then(d)
        # times 2/(hi-lo), not divided by (hi-lo): Polars divides a column by a constant
        # in two ways (true division or times the reciprocal) depending on the row's position,
        # so a division would make the last bit depend on the row order
        alpha = (d - lo) * (2.0 / (hi - lo)) - 1.0
        logistic = 1.0 / (1.0 + (-self.k * (pl.col(self.alpha_col) - self.x_offset)).exp())
        target = self.y_min + (self.y_max - self.y_min) * logistic
        return frame.with_columns(alpha.alias(self.alpha_col)).with_columns(
            target.alias(self.output_col)
        )
