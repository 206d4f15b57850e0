"""`walk_forward`: choose a configuration on each training window, trade it on the next test
window, and stitch the test windows into one out-of-sample book.

Dates are the rebalance dates of the pipelines' frames (every date but the last), numbered
0..T-1; `train`, `test`, `step` and `purge` count them. Window w tests the dates
``[s_w, s_w + test)`` with ``s_w = train + purge + w * step`` (cut at T), and trains on
``[s_w - purge - train, s_w - purge)`` (rolling) or ``[0, s_w - purge)`` (``expanding``).
With ``step < test`` the test windows overlap and each date follows the latest window that
covers it; ``step > test`` would leave dates without a book and is refused.

Choice. Every configuration (pipeline x allocator) is backtested once over all the dates
(`backtest_grid`); the training statistic of a window is `BacktestResult.summary`'s `metric`
of that configuration's dates in the window, its NAV rebased to 1 at the window's start (the
positions it carries in are the ones it held: a configuration runs continuously). The best
is the highest finite value, the first configuration on a tie. A daily return on date t marks
the book to t+1's prices, so a training window ending at t uses prices up to the first test
date at most: with ``purge >= 0`` no choice sees a price after the date it starts trading.

Book. One backtest over the out-of-sample span (the first test date to the last date): each
date's rows (targets, vol, spread, tradable flag) come from the frame of the pipeline chosen
for that date and its desired weights and buffers from the allocator chosen for it, and each
rebalance starts from the holdings of the day before: positions carry across windows, nothing
restarts. The scan, drift, costs, funding, ruin rule and NAV are `lf.backtest`'s
(`portfolio.run`). The allocators may differ in how they size the desired weights
(lambda_risk, gamma_cost, vol_target) but must share the rebalance step's fields
(`STEP_FIELDS`: caps and the open rule), checked before any work.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from lazyflow.costs import Rates
from lazyflow.errors import ConfigError, DataError
from lazyflow.pipeline import Pipeline
from lazyflow.portfolio.account import walk
from lazyflow.portfolio.allocator import BufferedAllocator, desired_weights, grid_settings
from lazyflow.portfolio.grid import GridResult, backtest_grid
from lazyflow.portfolio.run import cost_inputs, prepare, rates_at
from lazyflow.portfolio.scan import Rows, marks, scan, settle
from lazyflow.portfolio.summary import SUMMARY_INPUTS, summary_stats
from lazyflow.progress import ProgressFn, check_progress
from lazyflow.sweeps import check_sweep

#: Allocator fields of the rebalance step (caps, open rule): one book switching allocators
#: between windows needs them equal (the desired-weight fields may differ).
STEP_FIELDS = ("max_pos", "gross_cap", "turnover_cap", "ignore_open")
#: Per-date columns of the out-of-sample book (`WalkForwardResult.metrics`).
BOOK_COLUMNS = ("nav", "daily_return", "drawdown", "turnover_pct", "gross_exposure", "cost")


@dataclass(frozen=True)
class WalkForwardResult:
    """What `walk_forward` returns.

    metrics: one row per out-of-sample rebalance date: ``date``, ``window`` and ``config``
    (``pipeline * n_allocators + allocator``) in force, the book's `BOOK_COLUMNS`
    (``drawdown`` from max(init_nav, running NAV high)), and ``best_nav``: the NAV of
    `best_config` over the same dates, rebased to init_nav at the first one
    (``init_nav * prod(1 + daily_return)``: init_nav throughout if its book had ended). summary:
    `BacktestResult.summary`'s statistics of the book. windows: one row per window: its
    date spans (``train_start``, ``train_end``, ``test_start``, ``test_end``, inclusive),
    the chosen ``config``, ``pipeline``, ``allocator``, ``is_metric`` (the training value of
    `metric`), ``is_sharpe`` and ``oos_sharpe`` (annualised, the book's Sharpe on the dates
    this window held). best_config: the configuration with the best `metric` over all the
    dates, the sweep's in-sample best (it has seen the test windows); best_summary: its
    statistics over the out-of-sample dates (NAV rebased at their start).
    """

    metrics: pl.DataFrame
    summary: dict[str, float]
    windows: pl.DataFrame
    best_config: int
    best_summary: dict[str, float]
    metric: str


def walk_forward(
    panel: pl.DataFrame | pl.LazyFrame,
    pipelines: Pipeline | Sequence[Pipeline],
    allocators: BufferedAllocator | Sequence[BufferedAllocator] | Mapping[str, Any],
    *,
    train: int,
    test: int,
    step: int | None = None,
    purge: int = 0,
    metric: str = "sharpe",
    backtest_kw: Mapping[str, Any] | None = None,
    expanding: bool = False,
    progress: ProgressFn | None = None,
) -> WalkForwardResult:
    """Walk-forward test of a grid of configurations (see the module docstring).

    `pipelines` and `allocators` as in `lf.sweep`; `train`, `test`, `step` (default
    `test`) and `purge` in rebalance dates; `metric` a `BacktestResult.summary` statistic
    (higher is better); `backtest_kw` `lf.backtest`'s keyword arguments but progress.
    `progress(done, total)` counts the steps: each distinct pipeline's collect and grid
    backtest, then the out-of-sample book.
    """
    check_progress(progress, "walk_forward")
    where = "walk_forward"
    step = check_settings(train, test, step, purge, metric, expanding)
    checked = check_sweep(panel, pipelines, allocators, backtest_kw, where)
    pipes, allocs_t, options = checked.pipelines, checked.allocators, checked.options
    o, distinct, which = checked.resolved, checked.distinct, checked.which
    for j, allocator in enumerate(allocs_t):
        for field in STEP_FIELDS:
            if getattr(allocator, field) != getattr(allocs_t[0], field):
                raise ConfigError(
                    f"{where}: allocators[{j}].{field} differs from allocators[0]'s; the "
                    "out-of-sample book switches allocators between windows, which may differ "
                    f"only in how they size the desired weights, not in {', '.join(STEP_FIELDS)}"
                )
    steps = len(distinct) + 1
    frames, grids = [], []
    for pipe in distinct:
        frames.append(pipe(panel).collect())
        grids.append(backtest_grid(frames[-1], allocs_t, **options))
        if progress is not None:
            progress(len(grids), steps)
    dates = grids[0].dates
    for d, grid in enumerate(grids[1:], 1):
        if not grid.dates.equals(dates):
            raise DataError(
                f"{where}: pipelines[{which.index(d)}] gives other rebalance dates than "
                "pipelines[0]; walk-forward needs one calendar"
            )
    n_alloc, n_dates = len(allocs_t), dates.len()
    spans = _windows(n_dates, train, test, step, purge, expanding)
    if not spans:
        raise DataError(
            f"{where}: {n_dates} rebalance dates leave no test window after train={train} "
            f"and purge={purge}"
        )
    grid_of = [grids[which[p]] for p in range(len(pipes))]
    configs = [(p, a) for p in range(len(pipes)) for a in range(n_alloc)]

    def window_stat(name: str, start: int, stop: int, config: int) -> float:
        p, a = configs[config]
        value = _window_summary(grid_of[p], a, start, stop, o)[name]
        return value if math.isfinite(value) else -math.inf

    chosen, rows = [], []
    for w, (t0, t1, s0, s1) in enumerate(spans):
        scores = [window_stat(metric, t0, t1, c) for c in range(len(configs))]
        best = int(np.argmax(scores))
        chosen.append(best)
        rows.append(
            {
                "window": w,
                "train_start": dates[t0],
                "train_end": dates[t1 - 1],
                "test_start": dates[s0],
                "test_end": dates[s1 - 1],
                "config": best,
                "pipeline": configs[best][0],
                "allocator": configs[best][1],
                "is_metric": _finite(scores[best]),
                "is_sharpe": _finite(window_stat("sharpe", t0, t1, best)),
            }
        )
    window_of = np.full(n_dates, -1)
    for w, (_, _, s0, s1) in enumerate(spans):
        window_of[s0:s1] = w  # later windows override the overlap
    first = spans[0][2]
    window_of = window_of[first:]
    config_of = np.array([chosen[w] for w in window_of])
    book = _book(frames, which, configs, allocs_t, config_of, dates[first:], o)
    if progress is not None:
        progress(steps, steps)
    best_config = int(np.argmax([window_stat(metric, 0, n_dates, c) for c in range(len(configs))]))
    p, a = configs[best_config]
    # rebased as `best_summary` is: a book that ended before `first` stays at init_nav
    best_nav = o["init_nav"] * np.cumprod(1.0 + grid_of[p].metrics["daily_return"][first:, a])
    metrics = pl.DataFrame(
        {
            "date": dates[first:],
            "window": window_of,
            "config": config_of,
            **{name: book[name] for name in BOOK_COLUMNS},
            "best_nav": best_nav,
        }
    )
    ppy = o["periods_per_year"]
    for w, row in enumerate(rows):
        held = window_of == w
        row["oos_sharpe"] = (
            _finite(summary_stats(_slice(book, held, o["init_nav"]), 1.0, ppy)["sharpe"])
            if held.sum() > 1
            else None
        )
    return WalkForwardResult(
        metrics=metrics,
        summary=summary_stats({k: book[k] for k in SUMMARY_INPUTS}, o["init_nav"], ppy),
        windows=pl.DataFrame(rows),
        best_config=best_config,
        best_summary=_window_summary(grid_of[p], a, first, n_dates, o),
        metric=metric,
    )


def check_settings(
    train: int, test: int, step: int | None, purge: int, metric: str, expanding: bool
) -> int:
    """`ConfigError` (naming walk_forward and the parameter) unless the windows are valid;
    return the step (default: `test`)."""
    for name, value, low in (("train", train, 2), ("test", test, 1), ("purge", purge, 0)):
        _check_int(name, value, low)
    step = test if step is None else step
    _check_int("step", step, 1)
    if step > test:
        raise ConfigError(
            f"walk_forward: parameter 'step' ({step}) must be <= test ({test}): the dates "
            "between test windows would have no book"
        )
    if not isinstance(expanding, bool):
        raise ConfigError("walk_forward: parameter 'expanding' must be True or False")
    names = summary_stats(dict.fromkeys(SUMMARY_INPUTS, np.ones(2)), 1.0, 365)
    if metric not in names:
        raise ConfigError(
            f"walk_forward: parameter 'metric' must be one of {', '.join(names)}, got {metric!r}"
        )
    return step


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(
            f"walk_forward: parameter '{name}' must be an integer >= {low} (dates), got {value!r}"
        )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _windows(
    n: int, train: int, test: int, step: int, purge: int, expanding: bool
) -> list[tuple[int, int, int, int]]:
    """(train start, train stop, test start, test stop) of each window, stops exclusive."""
    spans = []
    start = train + purge
    while start < n:
        stop = start - purge
        spans.append((0 if expanding else stop - train, stop, start, min(start + test, n)))
        start += step
    return spans


def _slice(metrics: Mapping[str, np.ndarray], at: Any, init_nav: float) -> dict[str, np.ndarray]:
    """`summary_stats` inputs of the dates `at`, the NAV rebased to 1 at their start and the
    drawdown measured from there."""
    out = {k: np.asarray(metrics[k])[at] for k in SUMMARY_INPUTS if k not in ("nav", "drawdown")}
    nav = np.cumprod(1.0 + out["daily_return"])
    out["nav"] = nav
    out["drawdown"] = nav / np.maximum.accumulate(np.maximum(nav, 1.0)) - 1.0
    return out


def _window_summary(
    grid: GridResult, j: int, start: int, stop: int, o: Mapping[str, Any]
) -> dict[str, float]:
    """`summary_stats` of configuration `j` of `grid` on the dates [start, stop)."""
    column = {k: grid.metrics[k][:, j] for k in SUMMARY_INPUTS if k in grid.metrics}
    return summary_stats(_slice(column, slice(start, stop), 1.0), 1.0, o["periods_per_year"])


def _book(
    frames: list[pl.DataFrame],
    which: list[int],
    configs: list[tuple[int, int]],
    allocators: tuple[BufferedAllocator, ...],
    config_of: np.ndarray,
    dates: pl.Series,
    o: Mapping[str, Any],
) -> dict[str, np.ndarray]:
    """The out-of-sample book: date i trades with configuration ``config_of[i]``'s rows and
    desired weights, from the holdings of date i - 1 (`lf.backtest`'s scan, drift, costs
    and ruin rule)."""
    date_col = o["date_col"]
    frame_of = np.array([which[configs[c][0]] for c in config_of])
    assigned = pl.DataFrame({date_col: dates, "frame": frame_of})
    # the costs' inputs (the ADV's trailing mean) on each whole frame, before the cut, so a
    # test date's ADV reads the training dates too, as in the grid that made the choice
    taken = list(dict.fromkeys(c for frame in frames for c in frame.columns))
    inputs = [cost_inputs(frame.lazy(), o, taken) for frame in frames]
    spec = inputs[0][1]
    full = [lazy.collect() for lazy, _ in inputs]
    parts = [
        full[f].join(assigned.filter(pl.col("frame") == f), on=date_col, how="semi")
        for f in np.unique(frame_of).tolist()
    ]
    last = full[int(frame_of[-1])]
    parts.append(last.filter(pl.col(date_col) > dates[-1]))  # the final marking date
    panel, ok, _, rates = prepare(pl.concat(parts), o, spec)
    used = sorted({configs[c][1] for c in config_of})
    grid_rows = Rows.of(panel, ok, (len(used),))
    col = grid_rows.column
    w_grid, buffer_grid = desired_weights(
        grid_settings([allocators[a] for a in used]),
        col(grid_rows.target),
        col(grid_rows.vol),
        col(grid_rows.spread),
        grid_rows.bounds,
    )
    rows = grid_rows._replace(width=())
    n = len(rows.index)
    # each row takes the desired weight and buffer of its date's allocator
    k_of_date = np.array([used.index(configs[c][1]) for c in config_of] + [0])
    k = k_of_date[rows.day]
    pick = np.arange(n)
    w_desired = np.broadcast_to(w_grid, (n, len(used)))[pick, k]
    buffer = np.broadcast_to(buffer_grid, (n, len(used)))[pick, k]
    settings = allocators[used[0]].settings()  # the step's fields are shared (checked)
    init_nav = o["init_nav"]
    flat = not isinstance(rates.linear, np.ndarray) and rates.impact is None
    if flat and not o["drift"]:
        done = scan(settings, rows, w_desired, buffer, None, keep_book=False)
        run = settle(panel, ok, rows, done, o["cost_per_dollar"], o["include_funding"], init_nav)
    else:
        row_rates = Rates(*rates_at(rates, rows.index), None)
        mk = marks(panel, ok, rows, o["include_funding"])
        _, run = walk(
            settings, rows, mk, w_desired, buffer, row_rates, init_nav, o["drift"], None, False
        )
    metrics = run.metrics(o["periods_per_year"])
    if not all(np.isfinite(metrics[k]).all() for k in SUMMARY_INPUTS):
        raise DataError("walk_forward: the out-of-sample book's NAV stops being finite")
    return metrics
