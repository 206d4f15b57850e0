"""Factor analytics in the spirit of alphalens' tear sheet: IC, quantile returns, turnover.

Every per-date statistic is a lazy `group_by(date)` aggregation over one
prepared LazyFrame (no collect, no Python per group); `FactorAnalysis.tables`
and `factor_report` collect once at the end because they return tables.

Definitions, for a date t of the frame, a horizon h and its forward-return
column ``f"{prefix}{h}"`` (see `lazyflow.stages.labels.ForwardReturns`). Rows
where the `mask` column is not true are left out of everything; a score or
return that is null, NaN or infinite is missing.

- ``ic``: Pearson correlation of score and forward return over the rows of t
  where both are present. ``rank_ic``: Spearman, the Pearson correlation of
  their average ranks (ties share the mean rank) among those same rows. Both
  are null with fewer than two pairs or when either side is constant.
- ``mean_return`` of quantile q on t: mean forward return of the rows of t in q.
- ``spread``: mean return of the top quantile minus that of the bottom quantile,
  where top and bottom are the highest and lowest labels of the quantile column
  in the whole (masked) frame, as in alphalens; null on a date lacking either.
- ``rank_autocorr``: Pearson correlation, across the symbols with a score on both
  t and the previous date of the frame, of the score's cross-sectional rank on
  t and its rank on that previous date (ranks taken over all scored rows of
  each date). Null on the first date.
- ``turnover`` of quantile q on t: the share of the names in q on t that were
  not in q on the previous date of the frame (a name absent on that date counts
  as new), as alphalens' ``quantile_turnover``. Null on the first date.

"Previous date of the frame" is the previous distinct date present anywhere in
the frame, not the symbol's previous row. A forward return whose symbol's h-th
next row is not h dates of the frame's calendar (its sorted distinct dates) later
spans a gap: it is left out and counted (``gap_nulls``).

Determinism: the prepared frame is sorted by (date, symbol) once, and every sum
(`lazyflow.ordered`) adds one value after another in that order (sums over dates in date
order), so every number is bit-identical in any row order and at any thread count.
The frame must hold one row per (date, symbol); `tables` and `factor_report` check
it, and that it has rows. The per-table queries live in `lazyflow.factor.queries`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from lazyflow.errors import ConfigError, DataError, SchemaError
from lazyflow.factor import queries
from lazyflow.factor.queries import (
    BPS,
    DATE,
    FWD,
    GAP,
    HORIZON,
    KEEP,
    NEXT,
    QUANTILE,
    SCORE,
    SYMBOL,
)
from lazyflow.ordered import ordered_mean
from lazyflow.schema import Kind
from lazyflow.stages.labels import check_horizons

#: Default number of dates in the trailing mean of the IC series.
ROLLING_WINDOW = 21


def forward_return_columns(schema: Mapping[str, pl.DataType], prefix: str) -> dict[int, str]:
    """The columns named ``f"{prefix}{h}"`` (h a positive integer) in `schema`, by h."""
    pattern = re.compile(re.escape(prefix) + r"([1-9][0-9]*)")
    found = {int(m.group(1)): c for c in schema if (m := pattern.fullmatch(c))}
    return dict(sorted(found.items()))


def check_settings(rolling_window: int, periods_per_year: float, caller: str) -> None:
    """Raise `ConfigError` (naming `caller`) unless rolling_window >= 1 and periods_per_year > 0."""
    if isinstance(rolling_window, bool) or not isinstance(rolling_window, int):
        raise ConfigError(f"{caller}: parameter 'rolling_window' must be an int")
    if rolling_window < 1:
        raise ConfigError(f"{caller}: parameter 'rolling_window' must be >= 1")
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ConfigError(f"{caller}: parameter 'periods_per_year' must be finite and > 0")


@dataclass(frozen=True)
class FactorTables:
    """Collected, plot-ready tables of one factor (`FactorAnalysis.tables`).

    - ``daily``: one row per (date, horizon): ``n`` pairs, ``ic``, ``rank_ic``,
      their trailing means over `rolling_window` dates (``ic_rolling``,
      ``rank_ic_rolling``), ``spread`` and ``cumulative_spread``, the additive
      cumulative top-minus-bottom return ``sum(spread / h)`` (h staggered books,
      each holding 1/h of capital for h days; missing spreads count 0).
    - ``quantile_returns``: one row per (horizon, quantile): ``mean_bps``, the mean
      over dates of the quantile's mean forward return, in basis points, and
      ``dates`` the number of dates it averages (the quantile bar chart).
    - ``by_horizon``: one row per horizon: ``ic_*`` and ``rank_ic_*`` (mean, std, ir,
      tstat, positive, dates), ``spread_bps_*`` the same statistics of the spread
      in bps, and ``spread_annual`` = mean spread / h * periods_per_year (the IC
      decay table).
    - ``turnover``: one row per (date, quantile): ``n`` names and ``turnover``.
    - ``rank_autocorr``: one row per date: ``n`` symbols and ``rank_autocorr``.
    - ``summary``: the tidy report (see `factor_report`).
    """

    daily: pl.DataFrame
    quantile_returns: pl.DataFrame
    by_horizon: pl.DataFrame
    turnover: pl.DataFrame
    rank_autocorr: pl.DataFrame
    summary: pl.DataFrame


@dataclass(frozen=True)
class FactorAnalysis:
    """Per-date statistics of a `score` and its `quantile_col` against forward returns.

    `horizons` None takes every ``f"{prefix}{h}"`` column of the frame. Each
    method takes a DataFrame or LazyFrame and returns a LazyFrame (nothing is
    computed) whose date column is named `date_col`; see the module docstring
    for the definitions.
    """

    score: str = "carry_score"
    quantile_col: str = "decile_carry"
    horizons: tuple[int, ...] | None = None
    prefix: str = "fwd_ret_"
    date_col: str = "date"
    symbol_col: str = "symbol"
    mask: str | None = None
    demeaned: bool = True

    def by_date(self, frame: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
        """One row per (date, horizon): n, ic, rank_ic, spread."""
        wide, horizons = self._prepare(frame, "FactorAnalysis.by_date")
        return self._out(queries.by_date(queries.long_frame(wide, horizons)))

    def by_quantile(self, frame: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
        """One row per (date, horizon, quantile): n, mean_return (a fraction; minus the
        date's mean forward return when `demeaned`)."""
        wide, horizons = self._prepare(frame, "FactorAnalysis.by_quantile")
        return self._out(queries.by_quantile(queries.long_frame(wide, horizons), self.demeaned))

    def turnover(self, frame: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
        """One row per (date, quantile): n, turnover."""
        wide, _ = self._prepare(frame, "FactorAnalysis.turnover")
        return self._out(queries.turnover(wide))

    def rank_autocorrelation(self, frame: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
        """One row per date: n, rank_autocorr."""
        wide, _ = self._prepare(frame, "FactorAnalysis.rank_autocorrelation")
        return self._out(queries.rank_autocorr(wide))

    def tables(
        self,
        frame: pl.LazyFrame | pl.DataFrame,
        rolling_window: int = ROLLING_WINDOW,
        periods_per_year: float = 365,
    ) -> FactorTables:
        """Collect every statistic once and summarise it (see `FactorTables`)."""
        return self._tables(frame, rolling_window, periods_per_year, "FactorAnalysis.tables")

    def _tables(
        self,
        frame: pl.LazyFrame | pl.DataFrame,
        rolling_window: int,
        periods_per_year: float,
        caller: str,
    ) -> FactorTables:
        check_settings(rolling_window, periods_per_year, caller)
        wide, horizons = self._prepare(frame, caller)
        long = queries.long_frame(wide, horizons)
        counts, daily, by_quantile, turnover, autocorr = pl.collect_all(
            [
                wide.select(
                    pl.len().alias("rows"),
                    pl.struct(DATE, SYMBOL).is_duplicated().sum().alias("duplicates"),
                    *(pl.col(f"{GAP}{h}").sum().alias(f"{GAP}{h}") for h in horizons),
                ),
                queries.by_date(long),
                queries.by_quantile(long, self.demeaned),
                queries.turnover(wide),
                queries.rank_autocorr(wide),
            ]
        )
        rows, duplicates = counts["rows"][0], counts["duplicates"][0]
        if rows == 0:
            raise DataError(f"{caller}: the frame has no rows")
        if duplicates:
            raise DataError(
                f"{caller}: {duplicates} rows share a ({self.date_col}, "
                f"{self.symbol_col}) pair; the frame needs one row per date and symbol"
            )
        in_order = {"order_by": DATE}
        daily = daily.with_columns(
            pl.col(c)
            .rolling_mean(rolling_window, min_samples=1)
            .over(HORIZON, **in_order)
            .alias(f"{c}_rolling")
            for c in ("ic", "rank_ic")
        ).with_columns(
            cumulative_spread=(pl.col("spread").fill_null(0.0) / pl.col(HORIZON))
            .cum_sum()
            .over(HORIZON, **in_order)
        )
        quantile_returns = (
            by_quantile.group_by(HORIZON, QUANTILE)
            .agg(
                mean_bps=ordered_mean(pl.col("mean_return")) * BPS,
                dates=pl.len().cast(pl.Int64),
            )
            .sort(HORIZON, QUANTILE)
        )
        by_horizon = queries.by_horizon(daily, counts, periods_per_year)
        summary = queries.summary_table(by_horizon, quantile_returns, turnover, autocorr)
        rename = {DATE: self.date_col}
        return FactorTables(
            daily=daily.rename(rename),
            quantile_returns=quantile_returns,
            by_horizon=by_horizon,
            turnover=turnover.rename(rename),
            rank_autocorr=autocorr.rename(rename),
            summary=summary,
        )

    def _out(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.rename({DATE: self.date_col})

    def _prepare(
        self, frame: pl.LazyFrame | pl.DataFrame, caller: str
    ) -> tuple[pl.LazyFrame, dict[int, str]]:
        """Check the schema; select date, symbol, masked score/quantile/returns and lags."""
        if not isinstance(frame, pl.LazyFrame | pl.DataFrame):
            raise ConfigError(
                f"{caller}: parameter 'frame' must be a Polars DataFrame or LazyFrame, "
                f"got {type(frame).__name__}"
            )
        if not isinstance(self.demeaned, bool):
            raise ConfigError(f"{caller}: parameter 'demeaned' must be True or False")
        frame = frame.lazy()
        columns = self.validate(frame.collect_schema(), caller)
        keep = pl.lit(True) if self.mask is None else pl.col(self.mask).fill_null(False)
        score = pl.col(self.score).cast(pl.Float64)
        wide = frame.select(
            pl.col(self.date_col).alias(DATE),
            pl.col(self.symbol_col).alias(SYMBOL),
            keep.alias(KEEP),
            pl.when(keep & score.is_finite()).then(score).alias(SCORE),
            pl.when(keep).then(pl.col(self.quantile_col).cast(pl.Int64)).alias(QUANTILE),
            *(
                pl.when(keep & pl.col(c).cast(pl.Float64).is_finite())
                .then(pl.col(c).cast(pl.Float64))
                .alias(f"{FWD}{h}")
                for h, c in columns.items()
            ),
        )
        # one sort: every group below keeps this (date, symbol) order, so the per-date sums
        # (`ordered_sum`) add in symbol order whatever the input's row order
        wide = wide.sort(DATE, SYMBOL)
        day = pl.col(DATE).rank("dense")
        previous = {"partition_by": SYMBOL, "order_by": DATE}
        wide = wide.with_columns(
            day=day,
            rank=pl.col(SCORE).rank("average").over(DATE),
            top=pl.col(QUANTILE).max(),
            bottom=pl.col(QUANTILE).min(),
        ).with_columns(
            # the symbol's previous row is on the frame's previous date
            follows=pl.col("day").shift(1).over(**previous) == pl.col("day") - 1,
            # the day of the symbol's h-th next row
            **{f"{NEXT}{h}": pl.col("day").shift(-h).over(**previous) for h in columns},
        )
        lag = pl.when(pl.col("follows"))
        spans_gap = {
            h: (pl.col(f"{NEXT}{h}") != pl.col("day") + h).fill_null(False) for h in columns
        }
        wide = wide.with_columns(
            prev_rank=lag.then(pl.col("rank").shift(1).over(**previous)),
            prev_quantile=lag.then(pl.col(QUANTILE).shift(1).over(**previous)),
            **{
                f"{FWD}{h}": pl.when(gap.not_()).then(pl.col(f"{FWD}{h}"))
                for h, gap in spans_gap.items()
            },
            **{f"{GAP}{h}": pl.col(KEEP) & gap for h, gap in spans_gap.items()},
        )
        return wide, columns

    def validate(
        self, schema: Mapping[str, pl.DataType], caller: str = "FactorAnalysis"
    ) -> dict[int, str]:
        """Check `schema` (columns, dtypes, horizons) without reading data; return
        {horizon: forward-return column}. Errors (`SchemaError`, `ConfigError`) name `caller`."""
        required = {
            self.date_col: Kind.DATE,
            self.symbol_col: Kind.SYMBOL,
            self.score: Kind.NUMERIC,
        }
        if self.mask is not None:
            required[self.mask] = Kind.BOOL
        if self.horizons is None:
            columns = forward_return_columns(schema, self.prefix)
            if not columns:
                raise SchemaError(
                    caller, f"{self.prefix}<h>", "matches no column (add ForwardReturns)", schema
                )
        else:
            check_horizons(self.horizons, caller)
            columns = {h: f"{self.prefix}{h}" for h in sorted(self.horizons)}
        required.update(dict.fromkeys(columns.values(), Kind.NUMERIC))
        for column, kind in required.items():
            if column not in schema:
                raise SchemaError(caller, column, "is missing", schema)
            if not kind.accepts(schema[column]):
                raise SchemaError(
                    caller, column, f"has dtype {schema[column]}, expected {kind.value}", schema
                )
        if self.quantile_col not in schema:
            raise SchemaError(caller, self.quantile_col, "is missing", schema)
        if not schema[self.quantile_col].is_integer():
            raise SchemaError(
                caller,
                self.quantile_col,
                f"has dtype {schema[self.quantile_col]}, expected integer quantile labels",
                schema,
            )
        return columns


def factor_report(
    frame: pl.LazyFrame | pl.DataFrame,
    score: str = "carry_score",
    quantile_col: str = "decile_carry",
    horizons: tuple[int, ...] | None = None,
    date_col: str = "date",
    symbol_col: str = "symbol",
    mask: str | None = None,
    periods_per_year: float = 365,
    prefix: str = "fwd_ret_",
    demeaned: bool = True,
) -> pl.DataFrame:
    """A tidy table judging `score`: columns metric, horizon, quantile, value.

    Horizons default to every ``f"{prefix}{h}"`` column. Metrics, for each
    horizon h (quantile null):
    ``ic_mean``, ``ic_std``, ``ic_ir`` (risk-adjusted IC, mean/std),
    ``ic_tstat`` (mean/std*sqrt(n)), ``ic_positive`` (share of dates with IC > 0),
    ``ic_dates`` (n, dates with an IC); the same with ``rank_ic_``;
    ``spread_bps_*`` the same statistics of the top-minus-bottom spread in bps;
    ``spread_annual`` = mean spread / h * periods_per_year (a fraction).
    For each h and quantile: ``return_bps``, the mean over dates of the
    quantile's mean forward return, in bps. For each quantile (horizon null):
    ``turnover``, mean over dates. Horizon and quantile null: ``rank_autocorr``,
    mean over dates. Std uses ddof 1. See `lazyflow.factor` for the per-date
    definitions and `FactorAnalysis.tables` for plot-ready tables.
    """
    analysis = FactorAnalysis(
        score=score,
        quantile_col=quantile_col,
        horizons=horizons,
        prefix=prefix,
        date_col=date_col,
        symbol_col=symbol_col,
        mask=mask,
        demeaned=demeaned,
    )
    return analysis._tables(frame, ROLLING_WINDOW, periods_per_year, "factor_report").summary
