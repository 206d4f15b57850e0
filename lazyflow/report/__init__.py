"""A static HTML tear sheet of a backtest and/or a factor analysis, with PNG charts
drawn by matplotlib (Agg), and the sweep report.

One module per part: `charts` (matplotlib plumbing), `page` (HTML), `format` (statistics
for people), `backtest`, `tearsheet`, `factor` and `sweep` (the sections). The tear sheet's
numbers are `lazyflow.tearsheet`'s pure functions of the metrics frame. matplotlib is the
optional ``plot`` extra (``pip install 'lazyflow[plot]'``); it is imported only when a report
is written, and charts are drawn on bare `Figure` objects with the Agg canvas, so no global
pyplot backend is touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from lazyflow.errors import LazyflowError
from lazyflow.report.attribution import attribution_html
from lazyflow.report.backtest import backtest_html, backtest_sections, universe_counts
from lazyflow.report.capacity import capacity_html
from lazyflow.report.charts import FILES_DIR, ChartWriter
from lazyflow.report.factor import (
    FactorSection,
    factor_html,
    factor_sections,
    factor_summary_rows,
    format_factor_summary,
)
from lazyflow.report.page import format_value, page
from lazyflow.report.result import ReportedResult
from lazyflow.report.sweep import heatmap_cells, write_sweep_report

__all__ = [
    "FILES_DIR",
    "FactorSection",
    "factor_summary_rows",
    "format_factor_summary",
    "format_value",
    "heatmap_cells",
    "universe_counts",
    "write_report",
    "write_sweep_report",
]


def write_report(
    out_dir: str | Path,
    frame: pl.DataFrame | None,
    result: ReportedResult | None,
    title: str = "lazyflow backtest",
    parameters: Mapping[str, Any] | None = None,
    universe_col: str = "is_universe",
    date_col: str = "date",
    factor: FactorSection | None = None,
    capacity: pl.DataFrame | None = None,
) -> Path:
    """Write ``out_dir/report.html`` and its charts in ``out_dir/report_files/``; return the path.

    `frame` is the signals frame (for the universe-size chart, drawn when it has
    `universe_col`; None: no universe chart); `result` the backtest (None: a factor-only
    report); `factor` adds the factor section (IC, quantile returns, top minus bottom, IC
    decay); `capacity` (`lf.capacity`'s table) the capacity curve. `parameters` (plain data,
    e.g. `RunConfig.parameters()`) are shown as the run's settings, by default the
    allocator's and backtest's (`result.params()`). `BacktestResult.report` is the short
    way to call it for one result.
    """
    if result is None and factor is None:
        raise LazyflowError("write_report: nothing to report; give a backtest result or a factor")
    out = Path(out_dir)
    chart = ChartWriter(out)

    blocks, spans = [], []
    if result is not None:
        metrics = result.metrics.sort("date")
        if metrics.height == 0:
            raise LazyflowError("write_report: the backtest has no dates; nothing to report")
        sections = backtest_sections(
            chart, metrics, frame, universe_col, date_col, result.periods_per_year
        )
        blocks.append(backtest_html(result, sections))
        blocks.append(attribution_html(chart, result))
        if capacity is not None:
            blocks.append(capacity_html(chart, capacity, result.cost_model))
        spans.append(
            f"Backtest from {metrics['date'].min()} to {metrics['date'].max()}: "
            f"{metrics.height:,} rebalancing dates."
        )
    if factor is not None:
        blocks.append(factor_html(factor, factor_sections(chart, factor)))
    if frame is not None:
        n_symbols = frame["symbol"].n_unique() if "symbol" in frame.columns else "?"
        spans.append(f"Signals frame of {frame.height:,} rows and {n_symbols} symbols.")
    if parameters is None:
        parameters = {"backtest": result.params()} if result is not None else {}
    path = out / "report.html"
    path.write_text(page(title, " ".join(spans), parameters, blocks), encoding="utf-8")
    return path
