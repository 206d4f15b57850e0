"""`backtest_grid`: many allocator settings over one frame, in one pass over the dates.

The frame is loaded, checked and coded once. The allocators' parameters become arrays
(`allocator.grid_settings`) and the scan carries positions shaped (symbols, configurations),
so every per-date step is one set of numpy calls for the whole grid. Configurations go
through the scan in equal blocks of about ``GRID_CELLS / tradable rows`` columns at most,
which bounds the memory of the (rows, configurations) arrays (about 40 MB each).

Each configuration's numbers are `lf.backtest`'s for that allocator up to floating-point
rounding: sums over a 2-D block add in a different order than over a vector.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from lazyflow.costs import Rates
from lazyflow.errors import ConfigError, DataError
from lazyflow.portfolio.allocator import BufferedAllocator, grid_settings
from lazyflow.portfolio.backtest import DROP_REASONS, METRIC_COLUMNS, backtest
from lazyflow.portfolio.frame import (
    Panel,
    check_columns,
    check_frame,
    check_parameters,
    column_kinds,
)
from lazyflow.portfolio.run import BAD_COST_INPUT, column_roles, prepare, run_scan
from lazyflow.portfolio.scan import Rows
from lazyflow.portfolio.summary import SUMMARY_INPUTS, summary_stats
from lazyflow.schema import Kind
from lazyflow.stats import PBOResult, pbo

#: Rows x configurations of one block of the grid's scan (8 bytes each per array).
GRID_CELLS = 5_000_000

#: The per-date metrics a grid keeps: `METRIC_COLUMNS` but the date and realised vol.
GRID_METRICS = tuple(
    c for c in METRIC_COLUMNS if c not in ("date", "vol_realized_d", "vol_realized_a")
)

#: `backtest` arguments that `backtest_grid` takes in its own way.
_NOT_OPTIONS = ("frame", "allocator")


@dataclass(frozen=True)
class GridResult:
    """What `backtest_grid` returns.

    metrics: `GRID_METRICS`, each an array of shape (rebalance dates, configurations) whose
    column j is that metric of `lf.backtest` with ``allocators[j]``; dates: the rebalance
    dates. dropped: `DROP_REASONS` counts per configuration (arrays of length K; the row
    checks are the same for every configuration). options: the backtest's keyword arguments.
    """

    dates: pl.Series
    metrics: dict[str, np.ndarray]
    dropped: dict[str, np.ndarray]
    allocators: tuple[BufferedAllocator, ...]
    options: dict[str, Any]

    def summary(self, periods_per_year: float | None = None) -> pl.DataFrame:
        """`BacktestResult.summary` of every configuration: one row each, in order."""
        ppy = self.options["periods_per_year"] if periods_per_year is None else periods_per_year
        init_nav = self.options["init_nav"]
        rows = [
            summary_stats({c: self.metrics[c][:, j] for c in SUMMARY_INPUTS}, init_nav, ppy)
            for j in range(len(self.allocators))
        ]
        return pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.Float64), orient="row")

    def pbo(self, n_splits: int = 16) -> PBOResult:
        """The probability of backtest overfitting of the configurations (`lazyflow.stats.pbo`,
        CSCV in `n_splits` blocks) over their per-period ``daily_return``."""
        return pbo(self.metrics["daily_return"], n_splits)


def check_grid(
    allocators: Sequence[BufferedAllocator], options: dict[str, Any], where: str = "backtest_grid"
) -> tuple[tuple[BufferedAllocator, ...], dict[str, Any]]:
    """The allocators, each checked (`ConfigError` naming its position), and `backtest`'s
    keyword arguments (but frame and allocator) with defaults filled in and checked as
    `backtest` checks them (`ConfigError` naming an unknown key or a bad value)."""
    if not isinstance(allocators, Iterable) or isinstance(allocators, str | bytes):
        raise ConfigError(
            f"{where}: parameter 'allocators' must be a list of BufferedAllocators, got "
            f"{allocators!r}"
        )
    grid = tuple(allocators)
    if not grid:
        raise ConfigError(f"{where}: there are no allocators")
    for j, allocator in enumerate(grid):
        if not isinstance(allocator, BufferedAllocator):
            raise ConfigError(
                f"{where}: allocators[{j}] must be a BufferedAllocator, got {allocator!r}"
            )
        try:
            allocator.check()
        except ConfigError as exc:
            raise ConfigError(f"{where}: allocators[{j}]: {exc}") from exc
    params = inspect.signature(backtest).parameters
    allowed = [name for name in params if name not in _NOT_OPTIONS]
    for key in options:
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown backtest argument '{key}'; allowed: {', '.join(allowed)}"
            )
    o = {name: options.get(name, params[name].default) for name in allowed}
    check_parameters(grid[0], o)
    return grid, o


def backtest_grid(
    frame: pl.DataFrame | pl.LazyFrame,
    allocators: Sequence[BufferedAllocator],
    **options: Any,
) -> GridResult:
    """`lf.backtest(frame, a, **options)` for every allocator `a`, in one pass over the dates.

    `options` are `backtest`'s keyword arguments (cost_per_dollar, costs, drift,
    include_funding, tradable, init_nav, the column names, periods_per_year, progress);
    `progress(done, total)` counts the dates of each block. Everything is checked first
    (`check_grid`). A configuration whose NAV stops being finite raises the `DataError` that
    `lf.backtest` raises for it, prefixed with its position.
    """
    check_frame(frame, "backtest_grid")
    grid, o = check_grid(allocators, options)
    return run_grid(frame, grid, o, o["init_nav"])


def run_grid(
    frame: pl.DataFrame | pl.LazyFrame,
    grid: tuple[BufferedAllocator, ...],
    o: dict[str, Any],
    init_nav: float | np.ndarray,
) -> GridResult:
    """`backtest_grid` of checked arguments; `init_nav` may hold one NAV per allocator
    (`lf.capacity`)."""
    panel, ok, row_drops, rates = prepare(frame, o)
    base = Rows.of(panel, ok, ())
    n_blocks = -(-len(grid) * max(1, base.n_book) // GRID_CELLS)
    size = -(-len(grid) // n_blocks)  # equal blocks of at most ~GRID_CELLS cells
    navs = np.broadcast_to(np.asarray(init_nav, float), (len(grid),))
    blocks = [
        _block(panel, ok, base, grid[a : a + size], rates, o, navs[a : a + size])
        for a in range(0, len(grid), size)
    ]
    metrics = {name: np.concatenate([b[0][name] for b in blocks], axis=1) for name in blocks[0][0]}
    dropped = {reason: np.full(len(grid), count) for reason, count in row_drops.items()}
    dropped |= {k: np.concatenate([b[1][k] for b in blocks]) for k in blocks[0][1]}
    reasons = (*DROP_REASONS, *((BAD_COST_INPUT,) if BAD_COST_INPUT in dropped else ()))
    result = GridResult(
        dates=panel.dates[: base.n_reb],
        metrics=metrics,
        dropped={reason: dropped[reason] for reason in reasons},
        allocators=grid,
        options=o,
    )
    if not isinstance(init_nav, np.ndarray):
        _raise_non_finite(frame, result)
    return result


def check_schema(schema: pl.Schema, options: dict[str, Any]) -> None:
    """`SchemaError` (stage "backtest") unless `schema` has every column the backtest reads
    with `options` (`check_grid`'s), with an accepted dtype."""
    o = options
    kinds = column_kinds(o["date_col"], o["symbol_col"], column_roles(o), o["tradable"])
    costs = o["costs"]
    check_columns(
        schema, kinds | dict.fromkeys(() if costs is None else costs.columns(), Kind.NUMERIC)
    )


def _block(
    panel: Panel,
    ok: np.ndarray,
    base: Rows,
    allocators: tuple[BufferedAllocator, ...],
    rates: Rates,
    o: dict[str, Any],
    navs: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One block of configurations through the scan: its metrics and held-row counts."""
    rows = base._replace(width=(len(allocators),))
    init_nav = navs if len(set(navs.tolist())) > 1 else float(navs[0])
    with np.errstate(all="ignore"):
        _, run, _, _ = run_scan(
            grid_settings(allocators), panel, ok, rows, rates, o, init_nav, keep_book=False
        )
        metrics = run.metrics(o["periods_per_year"])
    counts = {"no_next_price": run.no_next_price, "no_next_funding": run.no_next_funding}
    return metrics, counts


def _raise_non_finite(frame: pl.DataFrame | pl.LazyFrame, result: GridResult) -> None:
    """`lf.backtest`'s error for the first configuration with a NaN or infinite metric."""
    bad = np.zeros(len(result.allocators), dtype=bool)
    for values in result.metrics.values():
        bad |= ~np.isfinite(values).all(axis=0)
    if not bad.any():
        return
    j = int(np.argmax(bad))
    options = {k: v for k, v in result.options.items() if k != "progress"}
    try:
        backtest(frame, result.allocators[j], **options)
    except DataError as exc:
        raise DataError(f"backtest_grid: allocators[{j}]: {exc}") from exc
    raise DataError(f"backtest_grid: allocators[{j}]: the metrics stop being finite")
