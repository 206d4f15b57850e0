"""Accounting benchmarks (issue 16): what drifting holdings and the capacity curve cost.

    .venv/bin/python -m benchmarks.bench_accounting                    # W2, medians of 3
    .venv/bin/python -m benchmarks.bench_accounting --workload 200x300 --repeat 1 --json out.json

The synthetic panel of the workload goes through `lf.presets.carry()` and is collected once;
then, with `lf.presets.seed_allocator()` and the default 5 bps fee, each timed run is one call
(best and median of ``--repeat``, ratios of the medians, runs interleaved so that load
changes hit both sides):

1. **drift**: `lf.backtest(..., drift=True)` against `lf.backtest(..., drift=False)`. The drift
   adds a few vector operations per date to the scan (no extra pass over the frame): target
   ``drift_ratio <= 1.15`` at W2.
2. **capacity**: `lf.capacity` over the five default NAVs (1e5 .. 1e9 dollars) with
   ``SquareRootImpact(coef=0.5)``, against one `lf.backtest` with the same costs. The five
   NAVs are the columns of one grid scan: target ``capacity_ratio`` well under 5 (five
   backtests).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lazyflow as lf
from benchmarks.workloads import parse_workload

#: The ratios the issue sets (measured / baseline).
TARGETS = {"drift_ratio": 1.15, "capacity_ratio": 5.0}


def _time(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(workload: str, repeat: int) -> dict[str, Any]:
    """Best and median seconds of each call, and the ratios of the medians."""
    spec = parse_workload(workload)
    frame = lf.presets.carry()(spec.panel().lazy()).collect()
    alloc = lf.presets.seed_allocator()
    impact = lf.costs.SquareRootImpact(coef=0.5)
    calls: dict[str, Callable[[], Any]] = {
        "weights": lambda: lf.backtest(frame, alloc, drift=False),
        "drift": lambda: lf.backtest(frame, alloc, drift=True),
        "impact_backtest": lambda: lf.backtest(frame, alloc, costs=impact, init_nav=1e6),
        "capacity_5_navs": lambda: lf.capacity(frame, alloc, costs=impact),
    }
    runs: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            runs[name].append(_time(call))
    best = {name: min(seconds) for name, seconds in runs.items()}
    median = {name: statistics.median(seconds) for name, seconds in runs.items()}
    return {
        "workload": spec.name,
        "rows": frame.height,
        "repeat": repeat,
        "best_s": best,
        "median_s": median,
        "drift_ratio": median["drift"] / median["weights"],
        "capacity_ratio": median["capacity_5_navs"] / median["impact_backtest"],
        "targets": TARGETS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_accounting", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--workload", default="W2", help="W1..W4 or NxD (default W2)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    result = measure(args.workload, args.repeat)
    print(f"workload {result['workload']}: {result['rows']:,} rows, medians of {args.repeat}")
    for name, seconds in result["best_s"].items():
        print(f"  {name:<16} {seconds:8.3f} s (median {result['median_s'][name]:.3f} s)")
    for key, target in TARGETS.items():
        verdict = "ok" if result[key] <= target else "OVER"
        print(f"  {key:<16} {result[key]:8.2f}   (target <= {target}: {verdict})")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
