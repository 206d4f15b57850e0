"""Speed as users meet it (issue 15): lazyflow against its peers, from files in any row order.

One child process per workload (``python -m benchmarks --ratios``) prepares the inputs, then
times each comparison's two sides interleaved (A B, then B A, ...), ``repeats`` times each, in
that one process; every figure is a median. The comparisons:

- ``csv_e2e``: from a **shuffled CSV file**, `lf.scan_panel` -> `lf.presets.carry()` ->
  collect -> `lf.backtest`, against the notebook's own code on the same file
  (``pl.read_csv``, ``str.to_date``, `benchmarks.naive`); ratio = notebook / lazyflow.
- ``pandas``: `lf.presets.carry()` collected on the in-memory panel, against the same pipeline
  in idiomatic pandas (`benchmarks.pandas_carry`) on the panel as a pandas DataFrame, checked
  equal to lazyflow (`benchmarks.naive.disagreement`, 1e-9) before it is timed; ratio = pandas
  / lazyflow.
- ``scan_csv``: ``lf.scan_panel(csv).collect()`` against ``pl.read_csv(csv)`` (dates left as
  text); ratio = scan_panel / read_csv.
- ``backtest_order``: `lf.backtest` on the carry frame with its rows shuffled, against the same
  frame in (date, symbol) order; ratio = shuffled / sorted.
- ``parquet_e2e``: the end-to-end run from a **Parquet file in symbol-major order** (rows
  sorted by symbol, then date), against the run from the sorted in-memory panel; ratio =
  Parquet / memory.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

import lazyflow as lf
from benchmarks.naive import disagreement, naive_backtest, naive_pipeline
from benchmarks.pandas_carry import pandas_carry

SHUFFLE_SEED = 1


@dataclass(frozen=True)
class Comparison:
    """Two ways to do one job; `ratio` = median time of `numerator` side / `denominator`."""

    name: str
    lazyflow: str  # what the lazyflow side runs
    other: str  # what the other side runs
    lazyflow_on_top: bool  # ratio = lazyflow / other (a slowdown) or other / lazyflow
    target: str


COMPARISONS = {
    c.name: c
    for c in [
        Comparison(
            "csv_e2e",
            "scan_panel + carry + backtest",
            "notebook's code",
            False,
            ">= 60x (W1), >= 15x (W2)",
        ),
        Comparison("pandas", "carry() collect", "pandas peer", False, ">= 10x"),
        Comparison("scan_csv", "scan_panel(csv).collect()", "pl.read_csv", True, "<= 1.2x"),
        Comparison("backtest_order", "backtest, shuffled rows", "sorted rows", True, "<= 1.2x"),
        Comparison("parquet_e2e", "e2e from symbol-major Parquet", "from memory", True, ""),
    ]
}


def shuffled(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame`'s rows in a fixed random order."""
    return frame.sample(fraction=1.0, shuffle=True, seed=SHUFFLE_SEED)


def symbol_major(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame`'s rows sorted by symbol, then date (how per-symbol exports come)."""
    return frame.sort("symbol", "date")


def _backtest(frame: pl.DataFrame | pl.LazyFrame) -> lf.BacktestResult:
    return lf.backtest(frame, lf.presets.seed_allocator(), **lf.presets.SEED_BACKTEST)


def _lazyflow_e2e(panel: pl.LazyFrame) -> float:
    frame = lf.presets.carry()(panel).collect()
    return float(_backtest(frame).metrics["nav"][-1])


def read_notebook_csv(csv: Path | str) -> pl.DataFrame:
    """The panel read as the notebook's first cell does: ``pl.read_csv``, then ``str.to_date``."""
    return pl.read_csv(csv).with_columns(pl.col("date").str.to_date())


def _notebook_e2e(csv: Path) -> float:
    """The notebook's cells from its CSV file: read, parse dates, pipeline, per-date loop."""
    data = read_notebook_csv(csv)
    alloc, costs = lf.presets.seed_allocator(), lf.presets.SEED_BACKTEST
    return naive_backtest(naive_pipeline(data), alloc, costs["cost_per_dollar"], costs["init_nav"])


def sides(
    panel: pl.DataFrame, folder: Path, names: list[str]
) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """The (lazyflow, other) callables of each comparison in `names`; writes the input files
    into `folder` and checks the pandas peer against lazyflow first."""
    csv, parquet = folder / "panel.csv", folder / "panel.parquet"
    shuffled(panel).write_csv(csv)
    symbol_major(panel).write_parquet(parquet)
    frame = lf.presets.carry()(panel.lazy()).collect()
    mixed = shuffled(frame)
    pairs: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "csv_e2e": (lambda: _lazyflow_e2e(lf.scan_panel(csv)), lambda: _notebook_e2e(csv)),
        "scan_csv": (lambda: lf.scan_panel(csv).collect(), lambda: pl.read_csv(csv)),
        "backtest_order": (lambda: _backtest(mixed), lambda: _backtest(frame)),
        "parquet_e2e": (
            lambda: _lazyflow_e2e(lf.scan_panel(parquet)),
            lambda: _lazyflow_e2e(panel.lazy()),
        ),
    }
    if "pandas" in names:
        as_pandas = panel.to_pandas()
        peer = pl.from_pandas(pandas_carry(as_pandas)).with_columns(pl.col("date").cast(pl.Date))
        problem = disagreement(peer, frame)
        if problem is not None:
            raise RuntimeError(f"the pandas peer is not lazyflow's carry(): {problem}")
        pairs["pandas"] = (
            lambda: lf.presets.carry()(panel.lazy()).collect(),
            lambda: pandas_carry(as_pandas),
        )
    return {name: pairs[name] for name in names}


def _timed(run: Callable[[], Any]) -> dict[str, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    run()
    return {"s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}


def measure_ratios(panel: pl.DataFrame, names: list[str], repeats: int) -> dict[str, Any]:
    """Each comparison's two sides, interleaved `repeats` times (the order alternating): every
    run's wall and CPU seconds, the medians and the ratio of the medians."""
    folder = Path(tempfile.mkdtemp(prefix="lazyflow-ratios-"))
    try:
        pairs = sides(panel, folder, names)
        runs: dict[str, dict[str, list[dict[str, float]]]] = {
            name: {"lazyflow": [], "other": []} for name in pairs
        }
        for r in range(repeats):
            for name, (ours, theirs) in pairs.items():
                order = [("lazyflow", ours), ("other", theirs)]
                for side, run in order if r % 2 == 0 else order[::-1]:
                    runs[name][side].append(_timed(run))
    finally:
        shutil.rmtree(folder)
    out: dict[str, Any] = {"rows": panel.height, "comparisons": {}}
    for name, by_side in runs.items():
        spec = COMPARISONS[name]
        row: dict[str, Any] = {}
        for side, timings in by_side.items():
            row[side + "_s"] = statistics.median(t["s"] for t in timings)
            row[side + "_cpu_s"] = statistics.median(t["cpu_s"] for t in timings)
            row[side + "_runs"] = timings
        top, bottom = ("lazyflow", "other") if spec.lazyflow_on_top else ("other", "lazyflow")
        row["ratio"] = row[top + "_s"] / row[bottom + "_s"]
        out["comparisons"][name] = row
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """The ratios of every workload as a Markdown table."""
    head = ["workload", "rows", "comparison", "lazyflow s", "other s", "ratio", "target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        for name, c in r["comparisons"].items():
            spec = COMPARISONS[name]
            what = "lazyflow / other" if spec.lazyflow_on_top else "other / lazyflow"
            cells = [
                r["name"],
                f"{r['rows']:,}",
                f"{name}: {spec.lazyflow} vs {spec.other}",
                f"{c['lazyflow_s']:.3f}",
                f"{c['other_s']:.3f}",
                f"**{c['ratio']:.2f}x** ({what})",
                spec.target,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
