"""Benchmark of parameter sweeps (issue 9) on W1: 300 symbols x 1,600 days, carry preset.

    .venv/bin/python -m benchmarks.bench_sweep        # or: python benchmarks/bench_sweep.py
    .venv/bin/python -m benchmarks.bench_sweep --no-ray --repeat 1 --pipelines 8

1. The grid scan: the panel goes through `lf.presets.carry()` and is collected once; a grid
   of 100 allocator settings (`lf.presets.seed_allocator()` with lambda_risk x gamma_cost x
   max_pos, 5 x 4 x 5) runs through `lf.backtest_grid` (one pass over the dates, positions
   symbols x 100) and through 100 sequential `lf.backtest` calls. Best of ``--repeat`` runs;
   the largest difference of the final NAVs is printed as a check.
2. The engines: `lf.sweep` of ``--pipelines`` pipelines (FundingCarry winsor x SigmoidTarget
   k, 2 x pipelines/2; default 4) times the same 100 allocators (each pipeline is one
   collect and one grid scan) with engine="local" and n_jobs=1 (in process), engine="local" with the
   default workers (a process pool, one per core), and engine="ray" on a local instance,
   timed with and without its start (``ray.init``/``ray.shutdown``). The tables must be
   equal.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

import lazyflow as lf

LAMBDAS = [0.5, 1.0, 2.0, 4.0, 8.0]
GAMMAS = [0.1, 0.3, 0.6, 1.0]
MAX_POS = [0.05, 0.1, 0.2, 0.3, 0.5]


def allocators() -> list[lf.BufferedAllocator]:
    grid = {"lambda_risk": LAMBDAS, "gamma_cost": GAMMAS, "max_pos": MAX_POS}
    return lf.grid_allocators(lf.presets.seed_allocator(), grid)


def pipelines(n: int) -> list[lf.Pipeline]:
    """`n` (even) pipelines: FundingCarry winsor 0.02, 0.05 x n/2 values of SigmoidTarget k."""
    ks = np.linspace(0.5, 3.0, n // 2).round(3).tolist()
    grid = {"FundingCarry": {"winsor": [0.02, 0.05]}, "SigmoidTarget": {"k": ks}}
    return lf.grid_pipelines(lf.presets.carry(), grid)


def best(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The fastest of `repeat` runs, and the last run's result."""
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return min(times), out


def bench_scan(frame: pl.DataFrame, repeat: int) -> None:
    grid = allocators()
    kw = lf.presets.SEED_BACKTEST
    t_grid, result = best(lambda: lf.backtest_grid(frame, grid, **kw), repeat)
    t_seq, singles = best(lambda: [lf.backtest(frame, a, **kw) for a in grid], repeat)
    navs = np.array([r.metrics["nav"][-1] for r in singles])
    diff = np.max(np.abs(result.metrics["nav"][-1] - navs) / navs)
    print(f"\n1. {len(grid)} allocator settings on one collected frame ({frame.height:,} rows)")
    for label, seconds in [("grid scan (lf.backtest_grid)", t_grid), ("100 x lf.backtest", t_seq)]:
        per = seconds / len(grid) * 1e3
        print(f"   {label:<32} {seconds:8.2f} s   {per:6.1f} ms per configuration")
    print(f"   ratio {t_seq / t_grid:.1f}x; largest relative difference of final NAVs {diff:.1e}")


def bench_engines(panel: pl.DataFrame, n_pipelines: int, repeat: int, with_ray: bool) -> None:
    pipes, grid = pipelines(n_pipelines), allocators()
    kw = lf.presets.SEED_BACKTEST
    n = len(pipes) * len(grid)
    print(f"\n2. lf.sweep: {len(pipes)} pipelines x {len(grid)} allocators = {n} configurations")
    t_one, ref = best(lambda: lf.sweep(panel, pipes, grid, kw, n_jobs=1), repeat)
    print(f"   {'local, n_jobs=1 (in process)':<32} {t_one:8.2f} s")
    workers = os.cpu_count()
    t_pool, pool = best(lambda: lf.sweep(panel, pipes, grid, kw), repeat)
    label = f"local, {workers} worker processes"
    print(f"   {label:<32} {t_pool:8.2f} s   equal: {pool.equals(ref)}")
    if not with_ray:
        return
    import ray

    t_cold, cold = best(lambda: lf.sweep(panel, pipes, grid, kw, engine="ray"), 1)
    print(f"   {'ray, start + sweep + shutdown':<32} {t_cold:8.2f} s   equal: {cold.equals(ref)}")
    ray.init(include_dashboard=False)
    try:
        t_warm, warm = best(lambda: lf.sweep(panel, pipes, grid, kw, engine="ray"), repeat)
    finally:
        ray.shutdown()
    print(f"   {'ray, already running':<32} {t_warm:8.2f} s   equal: {warm.equals(ref)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=300)
    parser.add_argument("--days", type=int, default=1600)
    parser.add_argument("--repeat", type=int, default=2, help="runs per timing (best is shown)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray engine")
    parser.add_argument(
        "--pipelines", type=int, default=4, help="pipelines in the engine sweep (even; default 4)"
    )
    args = parser.parse_args()
    print(
        f"lazyflow sweep benchmark: {args.symbols} symbols x {args.days} days; Python "
        f"{platform.python_version()}, Polars {pl.__version__}, NumPy {np.__version__}, "
        f"{os.cpu_count()} CPUs"
    )
    panel = lf.synthetic_panel(n_symbols=args.symbols, n_days=args.days, seed=0)
    frame = lf.presets.carry()(panel.lazy()).collect()
    bench_scan(frame, args.repeat)
    bench_engines(panel, args.pipelines, args.repeat, with_ray=not args.no_ray)


if __name__ == "__main__":
    main()
