"""Label stages: forward-looking targets, the only stages allowed to look ahead.

A label stage has the class attribute ``is_label = True``. Causality checks
(a value on date t depends only on rows dated <= t) exclude the columns that
`label_columns` returns, by that mark and never by column name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import polars as pl

from lazyflow.errors import ConfigError
from lazyflow.exprs import per_symbol
from lazyflow.pipeline import Pipeline, StageLike
from lazyflow.schema import Kind
from lazyflow.stages.base import MAX_INTEGER, Stage


def valid_price(column: str) -> pl.Expr:
    """`column` as Float64, null where it is null, non-finite or <= 0."""
    price = pl.col(column).cast(pl.Float64)
    return pl.when(price.is_finite() & (price > 0)).then(price)


def check_horizons(horizons: tuple[int, ...], caller: str) -> None:
    """Raise `ConfigError` (naming `caller`) unless `horizons` are distinct positive integers."""
    if not isinstance(horizons, tuple | list):
        raise ConfigError(
            f"{caller}: parameter 'horizons' must be a tuple of positive integers, got {horizons!r}"
        )
    horizons = tuple(horizons)
    if not horizons or len(set(horizons)) != len(horizons):
        raise ConfigError(
            f"{caller}: parameter 'horizons' must be distinct and non-empty, got {horizons}"
        )
    for h in horizons:
        if isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= MAX_INTEGER:
            raise ConfigError(
                f"{caller}: parameter 'horizons' must hold integers in [1, {MAX_INTEGER}], "
                f"got {h!r}"
            )


@dataclass(frozen=True)
class ForwardReturns(Stage):
    """Forward returns over `horizons` rows of each symbol, in date order.

    For each h in `horizons`, column ``f"{output_prefix}{h}"`` holds, on the row
    of symbol s at date t, ``close_{t+h} / close_t - 1`` (simple return, the
    default, as alphalens) or ``log(close_{t+h} / close_t)`` when ``log=True``,
    where t+h is the symbol's h-th next row (rows, not calendar days: a gap in
    a symbol's history is spanned). Null when that row does not exist or
    either price is null, non-finite or <= 0. Units: a fraction (0.01 = 1%).

    This stage looks forward on purpose: ``is_label = True``. Use its columns
    as targets (`lazyflow.factor`), never as inputs of a signal.
    """

    is_label: ClassVar[bool] = True

    horizons: tuple[int, ...] = (1, 5, 20)
    price_col: str = "close"
    output_prefix: str = "fwd_ret_"
    log: bool = False
    date_col: str = "date"
    symbol_col: str = "symbol"

    def check(self) -> None:
        check_horizons(self.horizons, self.name)
        if not isinstance(self.output_prefix, str) or not self.output_prefix:
            raise self.fail(
                "output_prefix", f"must be a non-empty string, got {self.output_prefix!r}"
            )
        self.flag("log")

    def column(self, horizon: int) -> str:
        """The output column of one horizon."""
        return f"{self.output_prefix}{horizon}"

    def inputs(self) -> dict[str, Kind]:
        return {
            self.date_col: Kind.DATE,
            self.symbol_col: Kind.SYMBOL,
            self.price_col: Kind.NUMERIC,
        }

    def outputs(self) -> dict[str, pl.DataType]:
        return {self.column(h): pl.Float64() for h in self.horizons}

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        price = valid_price(self.price_col)
        exprs = []
        for h in self.horizons:
            ratio = per_symbol(price.shift(-h), self.symbol_col, self.date_col) / price
            ret = ratio.log() if self.log else ratio - 1.0
            exprs.append(ret.alias(self.column(h)))
        return frame.with_columns(exprs)


def label_columns(stages: Pipeline | Iterable[StageLike]) -> tuple[str, ...]:
    """The output columns of the label stages (``is_label``) of a pipeline or list of stages.

    Look-ahead tests exclude exactly these columns: a label stage is the only
    kind of stage allowed to look forward.
    """
    flat = stages.stages if isinstance(stages, Pipeline) else Pipeline(stages).stages
    return tuple(
        column
        for stage in flat
        if isinstance(stage, Stage) and stage.is_label
        for column in stage.outputs()
    )
