"""`sweep`: grids of pipeline and allocator parameters, one row of results per configuration.

    import lazyflow as lf
    grid = {"FundingCarry": {"winsor": [0.02, 0.05]}, "SigmoidTarget": {"k": [0.5, 1.0]}}
    pipelines = lf.grid_pipelines(lf.presets.carry(), grid)
    allocators = lf.grid_allocators(
        lf.presets.seed_allocator(), {"lambda_risk": [1, 2, 4], "turnover_cap": [None, 0.3]}
    )
    table = lf.sweep(panel, pipelines, allocators, lf.presets.SEED_BACKTEST)

Grids. In `grid_pipelines` and `grid_allocators` a list is a grid of values and any other
value (a tuple included) is one fixed value, so a list-valued parameter such as
``keep_deciles`` is swept as a list of tuples: ``{"keep_deciles": [(1, 10), (1, 2, 9, 10)]}``.
The configurations are the cartesian product of the grids, the first key varying slowest.

Work. Configurations with the same pipeline share one collected frame; all allocator
settings on a frame run through one scan (`backtest_grid`: one pass over the dates, positions
symbols x configurations). The distinct pipelines are the units of parallel work:

- ``engine="local"``: a process pool (spawned processes, not threads: the scan is a Python
  loop of small numpy steps that holds the GIL, so threads would run scans one at a time;
  Polars parallelises each collect by itself). At most `n_jobs` (default: the CPU count)
  workers, never more than there are pipelines, each sent the panel once; with one worker
  everything runs in this process. Pipelines and the panel are pickled to the workers, so
  plain-callable stages must be module-level functions, and a script that sweeps with
  several workers needs the usual ``if __name__ == "__main__":`` guard (the workers import
  the main module). A script without that guard, or one read from stdin, cannot start
  workers: `sweep` sees it before starting any and runs everything in this process with a
  one-line `SweepWarning`; if workers still die before finishing, it raises `ConfigError`
  (never a hang). An interrupt (Ctrl-C, or SIGTERM turned into an exception) stops the
  workers at once, without a traceback from each. `n_jobs` is for this engine only,
  `address` for Ray only.
- ``engine="ray"``: one Ray task per pipeline, the panel put once in the object store. An
  initialised Ray (``ray.init`` called by the user) is used as it is; otherwise `sweep`
  calls ``ray.init(address=address)`` (None: a local instance) and shuts it down at the end.
  Ray is the optional ``ray`` extra: ``pip install 'lazyflow[ray]'``.

The result does not depend on the engine, on the number of workers or on the order in
which they finish: rows are sorted by configuration id. Everything that can be checked
without data (parameters, each pipeline's schema flow, the backtest's columns) is checked
before any work starts.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from lazyflow.errors import ConfigError
from lazyflow.grids import (
    allocator_list,
    distinct_pipelines,
    mapping,
    pipeline_list,
    stage_parameters,
)
from lazyflow.pipeline import Pipeline
from lazyflow.portfolio.allocator import BufferedAllocator
from lazyflow.portfolio.grid import backtest_grid, check_grid, check_schema
from lazyflow.progress import ProgressFn, check_progress
from lazyflow.stats import PBOResult, expected_max_sharpe, pbo, probabilistic_sharpe, sharpe
from lazyflow.sweep_workers import Ticker, collected, run_local

ENGINES = ("local", "ray")
#: The leading columns of `sweep`'s result (parameter and statistics columns follow).
ID_COLUMNS = ("config", "pipeline", "allocator")


@dataclass(frozen=True)
class SweepResult:
    """What `sweep_result` returns.

    table: `sweep`'s table. returns: one row per rebalance date (``date``, sorted) and one
    column per configuration (named by its ``config`` id as a string) of its per-period
    ``daily_return``, null on a date that configuration did not trade. pbo: the probability
    of backtest overfitting (`lazyflow.stats.pbo`, `PBO_SPLITS` blocks) over the dates every
    configuration has; None when it cannot be computed, and `pbo_note` says why.
    """

    table: pl.DataFrame
    returns: pl.DataFrame
    pbo: PBOResult | None
    pbo_note: str


#: CSCV blocks of the sweep's probability of backtest overfitting.
PBO_SPLITS = 16


def sweep(
    panel: pl.DataFrame | pl.LazyFrame,
    pipeline_grid: Pipeline | Sequence[Pipeline],
    allocator_grid: BufferedAllocator | Sequence[BufferedAllocator] | Mapping[str, Any],
    backtest_kw: Mapping[str, Any] | None = None,
    *,
    engine: Literal["local", "ray"] = "local",
    n_jobs: int | None = None,
    address: str | None = None,
    progress: ProgressFn | None = None,
) -> pl.DataFrame:
    """Backtest every (pipeline, allocator) pair on `panel`; one row per configuration.

    `pipeline_grid`: a Pipeline or a list of them (`grid_pipelines`). `allocator_grid`: a
    BufferedAllocator, a list of them (`grid_allocators`), or a mapping, short for
    ``grid_allocators(BufferedAllocator(), mapping)``. `backtest_kw`: `lf.backtest`'s
    keyword arguments for every configuration (all but progress).

    Columns: ``config`` (``pipeline * n_allocators + allocator``), ``pipeline`` and
    ``allocator`` (positions in the two grids); ``stage.<Class>.<parameter>`` for each stage
    parameter that differs between the pipelines (``stage.<position>.<Class>.<parameter>``
    when the class is in the pipeline twice; one ``stages`` column with each pipeline's repr
    instead when the pipelines do not have the same stage classes in the same order);
    ``allocator.<field>`` for every allocator field; then `BacktestResult.summary`'s
    statistics, then ``sharpe_psr``, the probabilistic Sharpe ratio of the configuration's
    daily returns against 0, and ``dsr``, its deflated Sharpe ratio against every
    configuration of this sweep (`lazyflow.stats`; NaN with fewer than 3 dates or constant
    returns). Rows are sorted by ``config``. See the module docstring for the engines;
    `sweep_result` also gives the daily returns and the probability of backtest overfitting.
    `progress(done, total)` is called with the configurations done after each pipeline.
    """
    args = (panel, pipeline_grid, allocator_grid, backtest_kw, engine, n_jobs, address, progress)
    return _sweep(*args).table


def sweep_result(
    panel: pl.DataFrame | pl.LazyFrame,
    pipeline_grid: Pipeline | Sequence[Pipeline],
    allocator_grid: BufferedAllocator | Sequence[BufferedAllocator] | Mapping[str, Any],
    backtest_kw: Mapping[str, Any] | None = None,
    *,
    engine: Literal["local", "ray"] = "local",
    n_jobs: int | None = None,
    address: str | None = None,
    progress: ProgressFn | None = None,
) -> SweepResult:
    """`sweep` with every configuration's daily returns and the sweep's probability of
    backtest overfitting (see `SweepResult`). Same arguments as `sweep`."""
    args = (panel, pipeline_grid, allocator_grid, backtest_kw, engine, n_jobs, address, progress)
    return _sweep(*args)


@dataclass(frozen=True)
class SweepGrid:
    """A checked grid of configurations (`check_sweep`): the pipelines, the distinct ones
    (each collected once) and which of them each pipeline is, the allocators, the backtest
    keyword arguments as given (`options`) and resolved with their defaults (`resolved`)."""

    pipelines: list[Pipeline]
    distinct: list[Pipeline]
    which: list[int]
    allocators: tuple[BufferedAllocator, ...]
    options: dict[str, Any]
    resolved: dict[str, Any]


def check_sweep(
    panel: pl.DataFrame | pl.LazyFrame,
    pipeline_grid: Pipeline | Sequence[Pipeline],
    allocator_grid: BufferedAllocator | Sequence[BufferedAllocator] | Mapping[str, Any],
    backtest_kw: Mapping[str, Any] | None,
    where: str,
) -> SweepGrid:
    """Check a grid before any work (`sweep`, `walk_forward`): the pipelines, the allocators
    and `backtest_kw` (no ``progress``), and every pipeline against `panel`'s schema and the
    backtest's columns; a `ConfigError` names `where` and the pipeline."""
    pipelines = pipeline_list(pipeline_grid)
    allocators = allocator_list(allocator_grid)
    options = dict(mapping(backtest_kw or {}, f"{where}: backtest_kw"))
    if "progress" in options:
        raise ConfigError(f"{where}: backtest_kw may not set 'progress'")
    allocators_t, resolved = check_grid(allocators, options, where=where)
    schema = panel.lazy().collect_schema()
    for i, pipeline in enumerate(pipelines):
        try:
            check_schema(pipeline.validate(schema), resolved)
        except ConfigError as exc:
            raise ConfigError(f"{where}: pipelines[{i}]: {exc}") from exc
    distinct, which = distinct_pipelines(pipelines)
    return SweepGrid(pipelines, distinct, which, allocators_t, options, resolved)


def _sweep(
    panel: pl.DataFrame | pl.LazyFrame,
    pipeline_grid: Pipeline | Sequence[Pipeline],
    allocator_grid: BufferedAllocator | Sequence[BufferedAllocator] | Mapping[str, Any],
    backtest_kw: Mapping[str, Any] | None,
    engine: Literal["local", "ray"],
    n_jobs: int | None,
    address: str | None,
    progress: ProgressFn | None,
) -> SweepResult:
    """The work of `sweep` and `sweep_result` (one call deeper than either, for both: the
    workers' warning points at the user's line)."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # a spawned worker is importing a main module that calls sweep at its top level:
        # leave quietly (the parent raises a clear error) instead of starting workers of its own
        raise SystemExit(1)
    check_progress(progress, "sweep")
    if engine not in ENGINES:
        raise ConfigError(f"sweep: engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "ray" and n_jobs is not None:
        raise ConfigError("sweep: n_jobs is for engine='local'; Ray places the tasks itself")
    if engine == "local" and address is not None:
        raise ConfigError("sweep: address is for engine='ray' (the Ray cluster to connect to)")
    grid = check_sweep(panel, pipeline_grid, allocator_grid, backtest_kw, "sweep")
    pipelines, allocators_t, options = grid.pipelines, grid.allocators, grid.options
    distinct, which = grid.distinct, grid.which
    tasks = [(pipe, allocators_t, options) for pipe in distinct]
    tick = Ticker(progress, len(tasks), len(allocators_t))
    if engine == "local":
        results = run_local(panel, tasks, _workers(n_jobs, len(tasks)), tick, evaluate)
    else:
        results = _run_ray(panel, tasks, address, tick)
    n = len(allocators_t)
    stats = pl.concat(
        [
            results[d].with_columns(
                pipeline=pl.lit(p, pl.Int64), allocator=pl.int_range(n, dtype=pl.Int64)
            )
            for p, d in enumerate(which)
        ]
    ).with_columns(config=pl.col("pipeline") * n + pl.col("allocator"))
    returns = _returns_wide(stats)
    stats = stats.drop(RETURNS_COLUMNS).with_columns(dsr=_deflated(stats))
    allocator_params = pl.DataFrame(
        [{f"allocator.{k}": v for k, v in dataclasses.asdict(a).items()} for a in allocators_t],
        infer_schema_length=None,
    ).with_row_index("allocator")
    table = stats.join(stage_parameters(pipelines), on="pipeline", how="left").join(
        allocator_params.cast({"allocator": pl.Int64}), on="allocator", how="left"
    )
    first = [*ID_COLUMNS, *(c for c in table.columns if c.startswith(("stage", "allocator.")))]
    statistics = [c for c in results[0].columns if c not in RETURNS_COLUMNS]
    table = table.select(*first, *statistics, "dsr").sort("config")
    result, note = _pbo(returns)
    return SweepResult(table=table, returns=returns, pbo=result, pbo_note=note)


#: The list columns `evaluate` adds for `sweep_result` (dropped from the table).
RETURNS_COLUMNS = ("dates", "returns")


def evaluate(
    panel: pl.DataFrame | pl.LazyFrame,
    pipeline: Pipeline,
    allocators: Sequence[BufferedAllocator],
    options: Mapping[str, Any],
) -> pl.DataFrame:
    """One unit of a sweep's work: collect `pipeline` on `panel` once, backtest every
    allocator on it in one scan; one row per allocator: the summary statistics,
    ``sharpe_psr``, and the rebalance ``dates`` and per-period ``returns`` as lists."""
    frame = pipeline(panel).collect()
    grid = backtest_grid(frame, allocators, **options)
    daily = grid.metrics["daily_return"]
    dates = grid.dates.to_list()
    return grid.summary().with_columns(
        sharpe_psr=pl.Series([_psr(daily[:, j]) for j in range(daily.shape[1])], dtype=pl.Float64),
        dates=pl.Series([dates] * daily.shape[1], dtype=pl.List(grid.dates.dtype)),
        returns=pl.Series([daily[:, j] for j in range(daily.shape[1])], dtype=pl.List(pl.Float64)),
    )


def _psr(returns: np.ndarray, benchmark: float = 0.0) -> float:
    """`probabilistic_sharpe`, NaN with fewer than 3 values."""
    return probabilistic_sharpe(returns, benchmark) if returns.size >= 3 else math.nan


def _deflated(stats: pl.DataFrame) -> pl.Series:
    """Each configuration's deflated Sharpe ratio against all of them (NaN where its
    Sharpe is undefined or there are fewer than 3 dates)."""
    series = [np.asarray(r, dtype=float) for r in stats["returns"].to_list()]
    trials = np.array([sharpe(r) if r.size >= 3 else math.nan for r in series])
    finite = trials[np.isfinite(trials)]
    if finite.size == 0:
        return pl.Series([math.nan] * len(series), dtype=pl.Float64)
    variance = float(finite.var(ddof=1)) if finite.size > 1 else 0.0
    benchmark = expected_max_sharpe(int(finite.size), variance)
    return pl.Series([_psr(r, benchmark) for r in series], dtype=pl.Float64)


def _returns_wide(stats: pl.DataFrame) -> pl.DataFrame:
    """Date x configuration daily returns (`SweepResult.returns`)."""
    long = (
        stats.select("config", *RETURNS_COLUMNS)
        .explode(*RETURNS_COLUMNS)
        .rename({"dates": "date", "returns": "daily_return"})
        .with_columns(pl.col("config").cast(pl.String))
    )
    order = [str(c) for c in sorted(stats["config"].to_list())]
    wide = long.pivot(on="config", index="date", values="daily_return").sort("date")
    return wide.select("date", *order)


def _pbo(returns: pl.DataFrame) -> tuple[PBOResult | None, str]:
    """The sweep's PBO over the dates every configuration has, or None and the reason."""
    n = returns.width - 1
    common = returns.drop_nulls()
    left_out = returns.height - common.height
    dropped = (
        f"; {left_out:,} dates that not every configuration has are left out" if left_out else ""
    )
    if n < 2:
        return None, "PBO needs at least 2 configurations"
    if common.height < 2 * PBO_SPLITS:
        return None, (
            f"PBO needs at least {2 * PBO_SPLITS} dates common to every configuration, "
            f"got {common.height:,}{dropped}"
        )
    result = pbo(common.drop("date").to_numpy(), PBO_SPLITS)
    note = (
        f"CSCV over {common.height:,} dates in {PBO_SPLITS} blocks "
        f"({result.dropped_rows} first dates dropped to make equal blocks){dropped}"
    )
    return result, note


def _run_ray(
    panel: pl.DataFrame | pl.LazyFrame, tasks: list[tuple], address: str | None, tick: Ticker
) -> list[pl.DataFrame]:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            "sweep: engine='ray' needs Ray; install the ray extra: pip install 'lazyflow[ray]'"
        ) from exc
    started = not ray.is_initialized()
    if started:
        ray.init(address=address)
    try:
        panel_ref = ray.put(collected(panel))
        remote = ray.remote(evaluate)
        refs = [remote.remote(panel_ref, *task) for task in tasks]
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            tick(len(ready))
        return ray.get(refs)
    finally:
        if started:
            ray.shutdown()


def _workers(n_jobs: int | None, n_tasks: int) -> int:
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    elif not (isinstance(n_jobs, int) and not isinstance(n_jobs, bool) and n_jobs >= 1):
        raise ConfigError(
            f"sweep: parameter 'n_jobs' must be None or an integer >= 1, got {n_jobs!r}"
        )
    return min(n_jobs, n_tasks)
