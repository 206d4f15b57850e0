"""`VolumeUniverse`: trailing dollar volume, its per-date decile, and the universe flag."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import polars as pl

from lazyflow.errors import SchemaError
from lazyflow.exprs import masked, per_symbol, quantile_bucket, window_value
from lazyflow.schema import Kind
from lazyflow.stages.base import Stage, with_mask


@dataclass(frozen=True)
class VolumeUniverse(Stage):
    """The seed's liquidity universe.

    - dollar volume: ``dollar_volume_col`` when the panel has it, else
      ``price_col * volume_col`` (set ``dollar_volume_col=None`` to force the product);
      a NaN, infinite, negative or absurd (above ``MAX_WINDOW_VALUE`` = 2**53, 9.0e15)
      dollar volume counts as missing, so the window's sum stays finite and exact;
    - ``trail_volume`` = mean of the symbol's last ``window`` rows of dollar volume
      (nulls skipped; null only if all are null), in date order;
    - per date, over the rows with a trail volume (and ``mask``): rank descending
      (average ties), ``n`` = their count,
      ``volume_decile = max(1, 10 - floor((rank-1)*10/n))`` (10 = most liquid);
    - ``is_universe = volume_decile >= min_decile``; false where the decile is null.
    """

    window: int = 30
    min_decile: int = 3
    dollar_volume_col: str | None = "dollar_volume"
    volume_col: str = "volume"
    price_col: str = "close"
    trail_col: str = "trail_volume"
    decile_col: str = "volume_decile"
    universe_col: str = "is_universe"
    mask: str | None = None
    date_col: str = "date"
    symbol_col: str = "symbol"

    def check(self) -> None:
        self.number("window", low=1, integer=True)
        self.number("min_decile", low=1, high=10, integer=True)

    def inputs(self) -> dict[str, Kind]:
        keys = {self.date_col: Kind.DATE, self.symbol_col: Kind.SYMBOL}
        if self.dollar_volume_col is None:
            keys |= {self.price_col: Kind.NUMERIC, self.volume_col: Kind.NUMERIC}
        else:
            keys[self.dollar_volume_col] = Kind.NUMERIC
        return with_mask(keys, self.mask)

    def outputs(self) -> dict[str, pl.DataType]:
        return {
            self.trail_col: pl.Float64(),
            self.decile_col: pl.Int32(),
            self.universe_col: pl.Boolean(),
        }

    def for_schema(self, schema: Mapping[str, pl.DataType]) -> VolumeUniverse:
        """This stage with ``dollar_volume_col=None`` when `schema` lacks that column."""
        if self.dollar_volume_col is None or self.dollar_volume_col in schema:
            return self
        return replace(self, dollar_volume_col=None)

    def validate(self, schema: Mapping[str, pl.DataType]) -> pl.Schema:
        try:
            return super().validate(schema)
        except SchemaError as err:
            if self.for_schema(schema) is self:
                raise
            problem = f"{err.problem} (no '{self.dollar_volume_col}' column either)"
            raise SchemaError(self.name, err.column, problem, schema) from None

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        stage = self.for_schema(frame.collect_schema())
        if stage.dollar_volume_col is None:
            dollar = window_value(pl.col(self.price_col) * pl.col(self.volume_col).cast(pl.Float64))
        else:
            dollar = window_value(pl.col(stage.dollar_volume_col))
        dollar = pl.when(dollar >= 0).then(dollar)
        trail = per_symbol(
            dollar.rolling_mean(self.window, min_samples=1), self.symbol_col, self.date_col
        )
        # 10 - floor((rank - 1) * 10 / n) = 11 - bucket (rank from the most liquid down)
        bucket = quantile_bucket(masked(self.trail_col, self.mask), 10, True, min_count=1)
        decile = (11 - bucket.over(self.date_col)).cast(pl.Int32)
        return (
            frame.with_columns(trail.alias(self.trail_col))
            .with_columns(decile.alias(self.decile_col))
            .with_columns(
                (pl.col(self.decile_col) >= self.min_decile)
                .fill_null(False)
                .alias(self.universe_col)
            )
        )
