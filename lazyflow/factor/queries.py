"""The per-table queries of the factor analysis (`lazyflow.factor`): each takes the prepared
frame (`FactorAnalysis` builds it) and returns one lazy table. The definitions are in
`lazyflow.factor`'s docstring."""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

from lazyflow.ordered import ordered_mean, with_correlation
from lazyflow.stats import newey_west_tstat

# Column names inside the prepared frame (it is a fresh `select`, so they cannot clash).
DATE, SYMBOL, SCORE, QUANTILE, FWD = "date", "symbol", "score", "quantile", "fwd"
HORIZON, KEEP, NEXT, GAP = "horizon", "keep", "next_day", "gap"
BPS = 1e4


def series_stats(values: pl.Series, name: str, lags: int) -> dict[str, float | None]:
    """Statistics of a per-date series (in date order) over its non-null values:
    ``{name}_mean``, ``_std`` (ddof 1), ``_ir`` (mean / std), ``_tstat`` (Newey–West t-stat
    of the mean with `lags` lags, `lazyflow.stats.newey_west_tstat`), ``_tstat_naive``
    (mean / std * sqrt(n), which overstates an overlapping series), ``_positive`` (share
    > 0) and ``_dates`` (n). Undefined statistics (n < 2, std 0) are None."""
    x = values.drop_nulls().cast(pl.Float64).to_numpy()
    n = x.size
    mean = float(x.mean()) if n else None
    std = float(x.std(ddof=1)) if n > 1 else None
    ir = mean / std if mean is not None and std else None
    hac = newey_west_tstat(x, lags) if n > 1 and std else math.nan
    return {
        f"{name}_mean": mean,
        f"{name}_std": std,
        f"{name}_ir": ir,
        f"{name}_tstat": hac if math.isfinite(hac) else None,
        f"{name}_tstat_naive": None if ir is None else ir * math.sqrt(n),
        f"{name}_positive": float((x > 0).sum() / n) if n else None,
        f"{name}_dates": float(n),
    }


def long_frame(wide: pl.LazyFrame, horizons: Mapping[int, str]) -> pl.LazyFrame:
    """One row per (row, horizon), with the horizon's forward return in `FWD`."""
    names = {f"{FWD}{h}": h for h in horizons}
    return wide.unpivot(
        on=list(names),
        index=[DATE, SYMBOL, SCORE, QUANTILE, "top", "bottom"],
        variable_name=HORIZON,
        value_name=FWD,
    ).with_columns(pl.col(HORIZON).replace_strict(names, return_dtype=pl.Int64))


def by_date(long: pl.LazyFrame) -> pl.LazyFrame:
    fwd, quantile = pl.col(FWD), pl.col(QUANTILE)
    keys = [DATE, HORIZON]

    def end_mean(end: str) -> pl.Expr:
        return ordered_mean(fwd.filter(quantile == pl.col(end)))

    long = with_correlation(long, SCORE, FWD, keys, "ic")
    long = with_correlation(long, SCORE, FWD, keys, "rank_ic", rank=True)
    return (
        long.group_by(keys)
        .agg(
            n=(pl.col(SCORE).is_not_null() & fwd.is_not_null()).sum().cast(pl.Int64),
            ic=pl.col("ic").first(),
            rank_ic=pl.col("rank_ic").first(),
            spread=end_mean("top") - end_mean("bottom"),
        )
        .sort(keys)
    )


def by_quantile(long: pl.LazyFrame, demeaned: bool) -> pl.LazyFrame:
    present = long.filter(pl.col(QUANTILE).is_not_null() & pl.col(FWD).is_not_null())
    if demeaned:
        date_mean = ordered_mean(pl.col(FWD)).over(DATE, HORIZON)
        present = present.with_columns(pl.col(FWD) - date_mean)
    return (
        present.group_by(DATE, HORIZON, QUANTILE)
        .agg(n=pl.len().cast(pl.Int64), mean_return=ordered_mean(pl.col(FWD)))
        .sort(DATE, HORIZON, QUANTILE)
    )


def turnover(wide: pl.LazyFrame) -> pl.LazyFrame:
    is_new = (pl.col("prev_quantile") != pl.col(QUANTILE)).fill_null(True)
    return (
        wide.filter(pl.col(QUANTILE).is_not_null())
        .group_by(DATE, QUANTILE)
        .agg(
            n=pl.len().cast(pl.Int64),
            turnover=pl.when(pl.col("day").first() > 1).then(
                is_new.sum().cast(pl.Float64) / pl.len()
            ),
        )
        .sort(DATE, QUANTILE)
    )


def rank_autocorr(wide: pl.LazyFrame) -> pl.LazyFrame:
    both = pl.col("rank").is_not_null() & pl.col("prev_rank").is_not_null()
    return (
        with_correlation(wide, "rank", "prev_rank", [DATE], "rank_autocorr")
        .group_by(DATE)
        .agg(n=both.sum().cast(pl.Int64), rank_autocorr=pl.col("rank_autocorr").first())
        .sort(DATE)
    )


def by_horizon(daily: pl.DataFrame, counts: pl.DataFrame, periods_per_year: float) -> pl.DataFrame:
    """One row per horizon h: `series_stats` of the IC, rank IC and spread (bps) series with
    h - 1 Newey–West lags, ``spread_annual`` and ``gap_nulls``."""
    rows = []
    for (h,), day in daily.sort(DATE).group_by(HORIZON, maintain_order=True):
        spread = day["spread"].drop_nulls().to_numpy()
        rows.append(
            {
                HORIZON: h,
                **series_stats(day["ic"], "ic", h - 1),
                **series_stats(day["rank_ic"], "rank_ic", h - 1),
                **series_stats(day["spread"] * BPS, "spread_bps", h - 1),
                "spread_annual": float(spread.mean()) / h * periods_per_year
                if spread.size
                else None,
                "gap_nulls": float(counts[f"{GAP}{h}"][0]),
            }
        )
    schema = {HORIZON: pl.Int64} | dict.fromkeys(list(rows[0])[1:], pl.Float64)
    return pl.DataFrame(rows, schema=schema).sort(HORIZON)


SUMMARY_SCHEMA = {
    "metric": pl.String,
    HORIZON: pl.Int64,
    QUANTILE: pl.Int64,
    "value": pl.Float64,
}


def summary_table(
    by_horizon: pl.DataFrame,
    quantile_returns: pl.DataFrame,
    turnover: pl.DataFrame,
    autocorr: pl.DataFrame,
) -> pl.DataFrame:
    """The tidy report: rows of (metric, horizon, quantile, value)."""
    parts = [
        by_horizon.unpivot(index=HORIZON, variable_name="metric").with_columns(
            pl.lit(None, pl.Int64).alias(QUANTILE)
        ),
        quantile_returns.select(
            pl.lit("return_bps").alias("metric"), HORIZON, QUANTILE, value="mean_bps"
        ),
        turnover.group_by(QUANTILE)
        .agg(value=ordered_mean(pl.col("turnover")))
        .sort(QUANTILE)
        .with_columns(metric=pl.lit("turnover"), horizon=pl.lit(None, pl.Int64)),
        autocorr.select(
            metric=pl.lit("rank_autocorr"),
            horizon=pl.lit(None, pl.Int64),
            quantile=pl.lit(None, pl.Int64),
            value=ordered_mean(pl.col("rank_autocorr")),
        ),
    ]
    return pl.concat(
        [p.select(pl.col(c).cast(t) for c, t in SUMMARY_SCHEMA.items()) for p in parts]
    )
