"""`capacity`: one strategy at several starting NAVs, in one pass over the dates.

With a cost that depends on traded dollars (`lazyflow.costs.SquareRootImpact`), the same
weights cost more per dollar at a larger NAV, so net performance falls as capital grows.
`capacity` runs the allocator once per starting NAV as the columns of one grid scan
(`grid.run_grid`): the frame is loaded and coded once, the desired weights computed once,
and the walk over the dates carries a ``(symbols, NAVs)`` array, so five NAVs cost one scan
with wider vectors, not five backtests. Column j is `lf.backtest(..., init_nav=navs[j])` to
rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from lazyflow.costs import Cost
from lazyflow.errors import ConfigError, DataError
from lazyflow.numbers import finite_number
from lazyflow.portfolio.allocator import BufferedAllocator
from lazyflow.portfolio.backtest import backtest
from lazyflow.portfolio.frame import check_frame
from lazyflow.portfolio.grid import check_grid, run_grid
from lazyflow.portfolio.summary import SUMMARY_INPUTS, summary_stats

#: The starting NAVs (dollars) `capacity` tries by default.
DEFAULT_NAVS = (1e5, 1e6, 1e7, 1e8, 1e9)

#: The columns of `capacity`'s table.
CAPACITY_COLUMNS = (
    "init_nav",
    "sharpe",
    "cagr",
    "cost_drag",
    "avg_turnover",
    "total_return",
    "max_drawdown",
    "total_cost",
)


def check_navs(navs: Any, where: str = "capacity") -> tuple[float, ...]:
    """`navs` as a tuple of floats; `ConfigError` unless it is a non-empty list (or 1-D
    array) of finite numbers > 0 without repeats."""
    if isinstance(navs, np.ndarray) and navs.ndim == 1:
        navs = navs.tolist()
    if isinstance(navs, str | bytes) or not isinstance(navs, Sequence) or not navs:
        raise ConfigError(
            f"{where}: parameter 'navs' must be a non-empty list of starting NAVs (dollars), "
            f"got {navs!r}"
        )
    out = []
    for j, value in enumerate(navs):
        number = finite_number(value)
        if number is None or number <= 0:
            raise ConfigError(f"{where}: navs[{j}] must be a finite number > 0, got {value!r}")
        out.append(number)
    if len(set(out)) < len(out):
        raise ConfigError(f"{where}: navs repeat a value: {navs!r}")
    return tuple(out)


def capacity(
    frame: pl.DataFrame | pl.LazyFrame,
    allocator: BufferedAllocator,
    navs: Sequence[float] = DEFAULT_NAVS,
    costs: Cost | None = None,
    **options: Any,
) -> pl.DataFrame:
    """Net performance of `allocator` at each starting NAV in `navs` (dollars), one row each.

    `costs` (usually including `SquareRootImpact`) and `options` (`lf.backtest`'s keyword
    arguments but `init_nav`, `progress` included: it counts the dates of the one walk over
    every NAV) are those of every run. Columns (`CAPACITY_COLUMNS`):
    init_nav; sharpe, cagr, total_return, max_drawdown, avg_turnover and total_cost as in
    `BacktestResult.summary` (total_cost in dollars); ``cost_drag = sum(cost) /
    mean(NAV before each date's cost) * periods_per_year / n_dates``, the annual cost as a
    fraction of the average NAV.
    """
    check_frame(frame, "capacity")
    if "init_nav" in options:
        raise ConfigError("capacity: 'init_nav' is set by navs; pass navs=[...] instead")
    values = check_navs(navs)
    grid, o = check_grid([allocator] * len(values), {**options, "costs": costs}, "capacity")
    result = run_grid(frame, grid, o, np.array(values))
    ppy = o["periods_per_year"]
    rows = []
    for j, nav in enumerate(values):
        columns = {c: result.metrics[c][:, j] for c in SUMMARY_INPUTS}
        if not all(np.isfinite(v).all() for v in columns.values()):
            backtest(frame, allocator, init_nav=nav, costs=costs, **options)  # its DataError
            raise DataError(f"capacity: at init_nav {nav:g} the metrics stop being finite")
        stats = summary_stats(columns, nav, ppy)
        nav_path = columns["nav"]
        nav_before = np.concatenate([[nav], nav_path[:-1]])
        n = len(nav_path)
        drag = float(columns["cost"].sum()) / float(nav_before.mean()) * ppy / n
        rows.append(
            {
                "init_nav": nav,
                **{k: stats[k] for k in ("sharpe", "cagr")},
                "cost_drag": drag if math.isfinite(drag) else math.nan,
                **{k: stats[k] for k in CAPACITY_COLUMNS[4:]},
            }
        )
    return pl.DataFrame(rows, schema=dict.fromkeys(CAPACITY_COLUMNS, pl.Float64), orient="row")
