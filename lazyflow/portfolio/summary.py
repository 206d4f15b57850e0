"""Headline statistics of a backtest's metrics columns (`BacktestResult.summary`), shared by
`backtest`, `backtest_grid`, `capacity`, the sweeps and the tear sheet's yearly table."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from lazyflow.errors import ConfigError
from lazyflow.numbers import finite_number

#: The metrics columns that `summary_stats` reads.
SUMMARY_INPUTS = (
    "nav",
    "daily_return",
    "drawdown",
    "turnover_pct",
    "gross_exposure",
    "net_exposure",
    "cost",
    "funding_pnl",
)


def summary_stats(
    metrics: Mapping[str, np.ndarray], init_nav: float, periods_per_year: float
) -> dict[str, float]:
    """`BacktestResult.summary` of one run's metrics columns (`SUMMARY_INPUTS`, 1-D arrays)."""
    ppy = periods_per_year
    number = finite_number(ppy)
    if number is None or number <= 0:
        raise ConfigError(
            f"summary: parameter 'periods_per_year' must be a finite number > 0, got {ppy!r}"
        )
    r = metrics["daily_return"]
    n = len(r)
    growth = float(metrics["nav"][-1]) / init_nav
    cagr = _cagr(growth, ppy / n)
    std = float(r.std(ddof=1)) if n > 1 else math.nan
    mean = float(r.mean())
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    max_dd = float(metrics["drawdown"].min())
    root = math.sqrt(ppy)
    return {
        "total_return": growth - 1.0,
        "cagr": cagr,
        "ann_vol": std * root,
        "sharpe": _ratio(mean, std) * root,
        "sortino": _ratio(mean, downside) * root,
        "max_drawdown": max_dd,
        "calmar": _ratio(cagr, -max_dd),
        "avg_turnover": float(_series(metrics["turnover_pct"]).mean()),
        "avg_gross": float(_series(metrics["gross_exposure"]).mean()),
        "avg_net": float(_series(metrics["net_exposure"]).mean()),
        "total_cost": float(_series(metrics["cost"]).sum()),
        "total_funding": float(_series(metrics["funding_pnl"]).sum()),
        "n_days": float(n),
    }


def _series(values: np.ndarray) -> pl.Series:
    """Means and totals are Polars' (its float sums), as they were on the metrics frame."""
    return pl.Series(values, dtype=pl.Float64)


def _cagr(growth: float, years_inverse: float) -> float:
    """growth^(1/years) - 1: -1 once the NAV is <= 0, inf when it overflows."""
    if growth <= 0:
        return -1.0
    try:
        return growth**years_inverse - 1.0
    except OverflowError:
        return math.inf


def _ratio(num: float, den: float) -> float:
    """num/den, with den == 0 giving nan (num == 0) or +-inf; nan stays nan."""
    if math.isnan(num) or math.isnan(den):
        return math.nan
    if den == 0:
        return math.nan if num == 0 else math.copysign(math.inf, num)
    return num / den
