"""The large-universe workloads and what one child process measures for one of them (issue 5).

Each measurement runs in a fresh Python process (``python -m benchmarks.workloads JOB``, where
JOB is a JSON object; the result is the last line of stdout, a JSON object), so its peak RSS
belongs to that workload alone. Peak RSS is the kernel's high-water mark ``VmHWM`` of
/proc/self/status, reset (``/proc/self/clear_refs``) after the input panel is in memory, so it
covers the timed runs; the resident input panel counts in it (``setup_rss_mb``), its generation
does not. Linux only.

Jobs:

- ``write``: generate the synthetic panel and write the file of a source (timed apart).
- ``lazyflow``: ``repeats`` end-to-end runs of the carry preset, the notebook's allocator and
  the backtest, from one of the `SOURCES`. ``memory``: the panel is generated in the process
  (timed apart as ``gen_s``), the plan is collected with ``collect()`` (Polars 2's default
  engine, the streaming one) and the frame handed to `lf.backtest`. ``parquet``: the panel is
  read from a Parquet file on disk with `lf.scan_panel` and the plan collected with
  ``collect(engine="streaming")``. ``sink``: as ``parquet``, but the plan is streamed to a
  Parquet frame file (``sink_parquet``, streaming engine) and `lf.backtest` reads its columns
  from that file: the smallest peak memory, at the cost of writing and reading the frame.
  ``csv``: the panel's rows shuffled into a CSV file, read with `lf.scan_panel`, collected
  with ``collect()``. ``parquet-symbol``: the same from a Parquet file in symbol-major order.
- ``naive``: ``repeats`` runs of `benchmarks.naive` (notebook-style pipeline, then the per-date
  loop) on the panel generated in the process, or read from the CSV file of the ``csv`` source.
- ``ratios``: `benchmarks.ratios.measure_ratios`, lazyflow against its peers, interleaved.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

import lazyflow as lf
from benchmarks.naive import naive_backtest, naive_pipeline
from benchmarks.ratios import measure_ratios, read_notebook_csv, shuffled, symbol_major

SEED = 0
SOURCES = ("memory", "parquet", "sink", "csv", "parquet-symbol")
#: The sources read from a file, and how the file holds the panel's rows.
FILES: dict[str, Callable[[pl.DataFrame, str], None]] = {
    "parquet": lambda panel, path: panel.write_parquet(path),
    "sink": lambda panel, path: panel.write_parquet(path),
    "csv": lambda panel, path: shuffled(panel).write_csv(path),
    "parquet-symbol": lambda panel, path: symbol_major(panel).write_parquet(path),
}


@dataclass(frozen=True)
class Workload:
    """A synthetic panel size; `opt_in` workloads run only when named."""

    name: str
    n_symbols: int
    n_days: int
    opt_in: bool = False

    @property
    def size(self) -> str:
        return f"{self.n_symbols}x{self.n_days}"

    def panel(self) -> pl.DataFrame:
        return lf.synthetic_panel(n_symbols=self.n_symbols, n_days=self.n_days, seed=SEED)


WORKLOADS = {
    "W1": Workload("W1", 300, 1600),
    "W2": Workload("W2", 2000, 3000),
    "W3": Workload("W3", 5000, 3650),
    "W4": Workload("W4", 10000, 3650, opt_in=True),
}


def parse_workload(text: str) -> Workload:
    """``W1``..``W4``, or a custom size ``<symbols>x<days>`` (e.g. ``200x400``)."""
    key = text.strip()
    if key.upper() in WORKLOADS:
        return WORKLOADS[key.upper()]
    symbols, sep, days = key.lower().partition("x")
    if not (sep and symbols.isdigit() and days.isdigit()):
        raise ValueError(f"workload {text!r}: expected one of {', '.join(WORKLOADS)} or NxD")
    return Workload(key, int(symbols), int(days))


def _rss_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> float:
    """Reset VmHWM to the current RSS; return that RSS in MiB."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return _rss_mb("VmRSS")


def _median_runs(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Median (and every run) of each timed field."""
    out: dict[str, Any] = {}
    for key in runs[0]:
        values = [run[key] for run in runs]
        out[key] = statistics.median(values)
        out[key + "_runs"] = values
    return out


def _timed(repeats: int, run: Callable[[], tuple[dict[str, float], float]]) -> dict[str, Any]:
    """`repeats` calls of `run` (timings, final NAV); the NAV must not change between runs."""
    runs, navs = [], set()
    for _ in range(repeats):
        timings, nav = run()
        runs.append(timings)
        navs.add(nav)
    if len(navs) != 1:
        raise RuntimeError(f"repeats disagree on the final NAV: {sorted(navs)}")
    return {**_median_runs(runs), "nav_end": navs.pop()}


def _times(t0: float, t1: float, t2: float, cpu: float) -> dict[str, float]:
    """Wall seconds of collect (t0..t1), scan (t1..t2) and end to end, and the end-to-end CPU
    seconds of the process (every thread)."""
    return {"collect_s": t1 - t0, "scan_s": t2 - t1, "e2e_s": t2 - t0, "e2e_cpu_s": cpu}


def _backtest(frame: pl.DataFrame | pl.LazyFrame) -> lf.BacktestResult:
    return lf.backtest(frame, lf.presets.seed_allocator(), **lf.presets.SEED_BACKTEST)


def write_panel(workload: Workload, path: str, source: str) -> dict[str, Any]:
    """Generate the panel and write it as `source`'s file (`FILES`)."""
    start = time.perf_counter()
    panel = workload.panel()
    generated = time.perf_counter()
    FILES[source](panel, path)
    return {
        "rows": panel.height,
        "gen_s": generated - start,
        "write_s": time.perf_counter() - generated,
        "file_mb": os.path.getsize(path) / 2**20,
        "peak_rss_mb": _rss_mb("VmHWM"),
    }


def measure_lazyflow(
    workload: Workload, repeats: int, source: str, path: str | None
) -> dict[str, Any]:
    """Timings of `repeats` end-to-end runs from `source` (`SOURCES`; `path` is the panel's
    file for the sources read from a file)."""
    pipeline = lf.presets.carry()
    info: dict[str, Any] = {}
    tmp = tempfile.mkdtemp(prefix="lazyflow-bench-")
    frame_path = str(Path(tmp) / "frame.parquet")
    if source == "memory":
        start = time.perf_counter()
        panel = workload.panel()
        info["gen_s"] = time.perf_counter() - start
        rows = panel.height
    else:
        rows = lf.scan_panel(path).select(pl.len()).collect().item()

    def run() -> tuple[dict[str, float], float]:
        t0, c0 = time.perf_counter(), time.process_time()
        if source == "memory":
            frame: pl.DataFrame | pl.LazyFrame = pipeline(panel.lazy()).collect()
        elif source == "parquet":
            frame = pipeline(lf.scan_panel(path)).collect(engine="streaming")
        elif source in ("csv", "parquet-symbol"):
            frame = pipeline(lf.scan_panel(path)).collect()
        else:
            pipeline(lf.scan_panel(path)).sink_parquet(frame_path, engine="streaming")
            frame = pl.scan_parquet(frame_path)
        t1 = time.perf_counter()
        result = _backtest(frame)
        t2, c2 = time.perf_counter(), time.process_time()
        return _times(t0, t1, t2, c2 - c0), _nav(result)

    info["setup_rss_mb"] = _reset_peak()
    try:
        timed = _timed(repeats, run)
    finally:
        shutil.rmtree(tmp)
    return {"rows": rows, **info, **timed, "peak_rss_mb": _rss_mb("VmHWM")}


def _nav(result: lf.BacktestResult) -> float:
    return float(result.metrics["nav"][-1])


def measure_naive(workload: Workload, repeats: int, csv: str | None) -> dict[str, Any]:
    """Timings of `repeats` runs of the notebook-style pipeline and per-date loop, on the panel
    generated in the process or, given `csv`, read from that file as the notebook did
    (``pl.read_csv``, ``str.to_date``; timed within collect)."""
    panel = workload.panel()
    alloc, costs = lf.presets.seed_allocator(), lf.presets.SEED_BACKTEST

    def run() -> tuple[dict[str, float], float]:
        t0, c0 = time.perf_counter(), time.process_time()
        data = panel if csv is None else read_notebook_csv(csv)
        frame = naive_pipeline(data)
        t1 = time.perf_counter()
        nav = naive_backtest(frame, alloc, costs["cost_per_dollar"], costs["init_nav"])
        t2, c2 = time.perf_counter(), time.process_time()
        return _times(t0, t1, t2, c2 - c0), nav

    setup = _reset_peak()
    timed = _timed(repeats, run)
    return {"rows": panel.height, "setup_rss_mb": setup, **timed, "peak_rss_mb": _rss_mb("VmHWM")}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One job (see the module docstring): ``{"task", "workload": [name, symbols, days], ...}``."""
    name, symbols, days = job["workload"]
    workload = Workload(name, symbols, days)
    if job["task"] == "write":
        return write_panel(workload, job["path"], job["source"])
    if job["task"] == "lazyflow":
        return measure_lazyflow(workload, job["repeats"], job["source"], job.get("path"))
    if job["task"] == "naive":
        return measure_naive(workload, job["repeats"], job.get("csv"))
    if job["task"] == "ratios":
        return measure_ratios(workload.panel(), job["comparisons"], job["repeats"])
    raise ValueError(f"unknown task {job['task']!r}")


if __name__ == "__main__":
    print(json.dumps(run_job(json.loads(sys.argv[1]))))
