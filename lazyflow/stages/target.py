"""`SigmoidTarget`: deciles mapped linearly to alpha in [-1, 1], then through a logistic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from lazyflow.errors import ConfigError
from lazyflow.exprs import finite
from lazyflow.numbers import is_number
from lazyflow.schema import Kind
from lazyflow.stages.base import MAX_INTEGER, Stage
from lazyflow.stages.deciles import Deciles


@dataclass(frozen=True)
class SigmoidTarget(Stage):
    """``alpha = 2*(d - lo)/(hi - lo) - 1``;
    ``target = y_min + (y_max - y_min) / (1 + exp(-k*(alpha - x_offset)))``.

    The bounds are static, hence causal (the seed took them from the whole
    history): ``lo``/``hi`` default to min/max of ``keep_deciles`` when given,
    else 1 and ``n_quantiles``; explicit ``lo``/``hi`` override. Rows whose
    decile is not in ``keep_deciles`` (or is null) get null alpha and target;
    rows are never dropped (the seed filtered them). ``hi < lo`` flips the map.
    Alpha and target are finite or null (extreme parameters cannot make them inf or NaN).
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
        self.number("n_quantiles", low=2, integer=True)
        for name in ("k", "x_offset", "y_min", "y_max"):
            self.number(name)
        for name in ("lo", "hi"):
            self.number(name, optional=True)
        keep = self.keep_deciles
        if keep is not None:
            if not isinstance(keep, tuple | list):
                raise self.fail("keep_deciles", f"must be a tuple of deciles or None, got {keep!r}")
            if len(keep) == 0:
                raise self.fail("keep_deciles", "is empty: it would null every target")
            for decile in keep:
                if not is_number(decile, integer=True) or not 1 <= decile <= MAX_INTEGER:
                    raise self.fail(
                        "keep_deciles", f"must hold integers in [1, {MAX_INTEGER}], got {decile!r}"
                    )
        lo, hi = self.bounds()
        if hi == lo:
            raise self.fail("hi", f"equals lo ({lo}): the decile range is zero")
        if not math.isfinite(2.0 / (hi - lo)) or 2.0 / (hi - lo) == 0:
            raise self.fail("hi", f"({hi}) and lo ({lo}) are too close or too far apart")
        if self.y_min > self.y_max:
            raise self.fail("y_min", f"({self.y_min}) is greater than y_max ({self.y_max})")
        if not math.isfinite(self.y_max - self.y_min):
            raise self.fail("y_max", f"- y_min ({self.y_max} - {self.y_min}) overflows")

    def check_upstream(self, earlier: Sequence[Stage]) -> None:
        """When ``n_quantiles`` sets the upper bound (no ``keep_deciles``, no ``hi``), it must
        equal the ``n_quantiles`` of the `Deciles` stage that last wrote ``decile_col``:
        otherwise the top bucket would not map to alpha = +1 (e.g. 5 buckets read as deciles
        put every position below the middle, an all-short book)."""
        if self.keep_deciles is not None or self.hi is not None:
            return
        source = next((s for s in reversed(earlier) if self.decile_col in s.outputs()), None)
        if isinstance(source, Deciles) and source.n_quantiles != self.n_quantiles:
            raise ConfigError(
                f"{self.name}: parameter 'n_quantiles' is {self.n_quantiles} but the "
                f"{source.name} stage writing '{self.decile_col}' has n_quantiles="
                f"{source.n_quantiles}: set SigmoidTarget(n_quantiles={source.n_quantiles}) "
                f"or explicit bounds lo=/hi="
            )

    def inputs(self) -> dict[str, Kind]:
        return {self.decile_col: Kind.NUMERIC}

    def outputs(self) -> dict[str, pl.DataType]:
        return {self.alpha_col: pl.Float64(), self.output_col: pl.Float64()}

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        lo, hi = self.bounds()
        k, x_offset, y_min, y_max = (
            float(v) for v in (self.k, self.x_offset, self.y_min, self.y_max)
        )
        d = pl.col(self.decile_col).cast(pl.Float64)
        if self.keep_deciles is not None:
            d = pl.when(pl.col(self.decile_col).is_in(list(self.keep_deciles))).then(d)
        # times 2/(hi-lo), not divided by (hi-lo): Polars divides a column by a constant
        # in two ways (true division or times the reciprocal) depending on the row's position,
        # so a division would make the last bit depend on the row order
        alpha = (d - lo) * (2.0 / (hi - lo)) - 1.0
        logistic = 1.0 / (1.0 + (-k * (pl.col(self.alpha_col) - x_offset)).exp())
        target = y_min + (y_max - y_min) * logistic
        return frame.with_columns(finite(alpha).alias(self.alpha_col)).with_columns(
            finite(target).alias(self.output_col)
        )
