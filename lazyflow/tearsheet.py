"""The tear sheet's tables: pure functions of a backtest's metrics frame (one row per
rebalancing date, `lazyflow.portfolio.backtest.METRIC_COLUMNS`).

Every return is read from the NAV column: the row dated t holds the NAV after holding the
book from t to the next date, so a row's return belongs to its own date (as in the metrics
frame and its charts). The NAV before the first row is `init_nav`. A period's return is
``nav_last / nav_before_period - 1``, where ``nav_before_period`` is the NAV of the last row
before the period (`init_nav` for the first period); it is null when that NAV is <= 0
(the book was ruined).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from lazyflow.portfolio.summary import SUMMARY_INPUTS, summary_stats

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: Windows, in dates, of the rolling Sharpe ratios.
ROLLING_SHARPE_WINDOWS = (90, 365)


def nav_before(metrics: pl.DataFrame, init_nav: float) -> pl.Expr:
    """The NAV before each row: the previous row's NAV, `init_nav` for the first."""
    return pl.col("nav").shift(1, fill_value=init_nav)


def period_returns(
    metrics: pl.DataFrame, init_nav: float, every: str, date_col: str = "date"
) -> pl.DataFrame:
    """One row per calendar period (``every``: ``"1mo"`` or ``"1y"``) that has dates:
    ``period`` (its first day) and ``return`` (see the module docstring), in date order."""
    frame = metrics.sort(date_col).select(
        pl.col(date_col).dt.truncate(every).alias("period"),
        "nav",
        nav_before(metrics, init_nav).alias("before"),
    )
    grouped = frame.group_by("period", maintain_order=True).agg(
        pl.col("before").first(), pl.col("nav").last()
    )
    ratio = pl.col("nav") / pl.col("before") - 1.0
    return grouped.select(
        "period", pl.when(pl.col("before") > 0).then(ratio).otherwise(None).alias("return")
    )


def monthly_returns(metrics: pl.DataFrame, init_nav: float, date_col: str = "date") -> pl.DataFrame:
    """Years x months: ``year``, one column per month (`MONTHS`; null where the month has no
    date) and ``Year``, the calendar year's return (its months compounded)."""
    months = period_returns(metrics, init_nav, "1mo", date_col)
    years = period_returns(metrics, init_nav, "1y", date_col)
    wide = (
        months.with_columns(
            year=pl.col("period").dt.year(),
            month=pl.col("period").dt.strftime("%b"),
        )
        .pivot("month", index="year", values="return")
        .sort("year")
    )
    for month in MONTHS:
        if month not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(month))
    yearly = years.select(pl.col("period").dt.year().alias("year"), pl.col("return").alias("Year"))
    return wide.select("year", *MONTHS).join(yearly, on="year", how="left")


def drawdown_periods(
    metrics: pl.DataFrame, init_nav: float, top: int = 5, date_col: str = "date"
) -> pl.DataFrame:
    """The `top` deepest drawdowns, deepest first (ties: the earlier first).

    The running high is ``max(init_nav, running max of nav)``. A drawdown is a run of rows
    with ``nav < high``: ``peak`` is the date of the last row at the high before it (null
    when the high is `init_nav`, before the first date), ``valley`` the date of its lowest
    NAV (the first such row), ``recovery`` the first date with ``nav >= high`` again (null
    if it has not recovered), ``depth = valley nav / high - 1`` (< 0) and ``dates`` the
    number of rows under water.
    """
    ordered = metrics.sort(date_col)
    dates = ordered[date_col].to_list()
    nav = ordered["nav"].to_numpy()
    high = np.maximum.accumulate(np.concatenate([[init_nav], nav]))[1:]
    under = nav < high
    periods: list[dict[str, Any]] = []
    i, n = 0, len(nav)
    while i < n:
        if not under[i]:
            i += 1
            continue
        start = i
        while i < n and under[i]:
            i += 1
        low = start + int(np.argmin(nav[start:i]))
        periods.append(
            {
                "peak": dates[start - 1] if start > 0 else None,
                "valley": dates[low],
                "recovery": dates[i] if i < n else None,
                "depth": float(nav[low] / high[low] - 1.0),
                "dates": i - start,
            }
        )
    periods.sort(key=lambda p: p["depth"])  # stable: ties keep date order
    dtype = metrics.schema[date_col]
    schema = {"peak": dtype, "valley": dtype, "recovery": dtype, "depth": pl.Float64}
    return pl.DataFrame(periods[:top], schema=schema | {"dates": pl.Int64})


def rolling_sharpe(metrics: pl.DataFrame, window: int, periods_per_year: float) -> pl.Series:
    """``mean(r)/std(r, ddof=1)*sqrt(P)`` of the daily returns over the last `window` rows
    (null for the first ``window - 1`` rows and where the std is 0)."""
    r = metrics["daily_return"]
    std = r.rolling_std(window)
    sharpe = r.rolling_mean(window) / std.replace(0.0, None) * math.sqrt(periods_per_year)
    return sharpe.alias(f"sharpe_{window}")


def return_moments(metrics: pl.DataFrame) -> dict[str, float]:
    """Skew ``m3/m2^1.5`` and excess kurtosis ``m4/m2^2 - 3`` of the finite daily returns
    (central moments m_k = mean((r - mean r)^k); nan with fewer than 2 distinct returns)."""
    r = metrics["daily_return"].to_numpy()
    r = r[np.isfinite(r)]
    d = r - r.mean() if len(r) else r
    m2 = float(np.mean(d**2)) if len(r) else 0.0
    if m2 == 0:
        return {"skew": math.nan, "kurtosis": math.nan}
    return {
        "skew": float(np.mean(d**3)) / m2**1.5,
        "kurtosis": float(np.mean(d**4)) / m2**2 - 3.0,
    }


def annual_drag(
    metrics: pl.DataFrame, init_nav: float, periods_per_year: float
) -> dict[str, float]:
    """Cost and funding per year as fractions of the NAV they were paid on, independent of
    the NAV's level: ``mean(cost / nav_before) * P`` and ``mean(funding_pnl / nav_before) * P``
    over the rows with ``nav_before > 0``. ``annual_cost`` > 0 is paid; ``annual_funding``
    > 0 is received."""
    before = nav_before(metrics, init_nav)
    alive = before > 0
    out = metrics.select(
        (pl.col("cost") / before).filter(alive).mean().alias("annual_cost"),
        (pl.col("funding_pnl") / before).filter(alive).mean().alias("annual_funding"),
    ).row(0, named=True)
    return {k: (math.nan if v is None else v * periods_per_year) for k, v in out.items()}


def yearly_stats(
    metrics: pl.DataFrame, init_nav: float, periods_per_year: float, date_col: str = "date"
) -> pl.DataFrame:
    """`BacktestResult.summary`'s statistics (plus `annual_drag`) for each calendar year, as
    if the year were a backtest of its own starting at the previous year's last NAV; the
    drawdown is measured within the year. One row per year, ``year`` first."""
    ordered = metrics.sort(date_col)
    start = init_nav
    rows = []
    for (year,), part in ordered.group_by(pl.col(date_col).dt.year(), maintain_order=True):
        columns = {name: part[name].to_numpy() for name in SUMMARY_INPUTS}
        nav = columns["nav"]
        if start > 0:
            columns["drawdown"] = nav / np.maximum.accumulate(np.maximum(nav, start)) - 1.0
            stats = summary_stats(columns, start, periods_per_year)
        else:  # ruined before the year began: nothing to measure
            stats = dict.fromkeys(summary_stats(columns, 1.0, periods_per_year), math.nan)
        rows.append({"year": year} | stats | annual_drag(part, start, periods_per_year))
        start = float(nav[-1])
    return pl.DataFrame(rows)


def headline(result: Any) -> dict[str, float]:
    """A `BacktestResult`'s summary statistics followed by its `annual_drag`: the figures the
    CLI prints, the report shows and `repr(result)` picks from."""
    drag = annual_drag(result.metrics, result.init_nav, result.periods_per_year)
    return result.summary() | drag
