"""The sweep report: a heatmap of a metric over the swept parameters and the best
configurations."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from lazyflow.errors import LazyflowError
from lazyflow.report.charts import FILES_DIR, matplotlib_classes
from lazyflow.report.page import fmt, frame_table, label, page, sections_html

if TYPE_CHECKING:
    from matplotlib.axes import Axes


#: Statistics shown next to the swept parameters in the sweep report's table of the best.
SWEEP_STATS = ("sharpe", "cagr", "max_drawdown", "ann_vol", "avg_turnover")


def write_sweep_report(
    out_dir: str | Path,
    table: pl.DataFrame,
    swept: Sequence[str],
    axes: Sequence[str],
    metric: str = "sharpe",
    title: str = "lazyflow sweep",
    parameters: Mapping[str, Any] | None = None,
    top: int = 10,
) -> Path:
    """Write ``out_dir/report.html`` for a sweep (`lf.sweep`'s `table`); return the path.

    The heatmap shows `metric` over the swept parameters `axes` (x, then y; one axis: a
    single row): each cell is the mean of `metric` over the configurations with that pair
    of values, so the other swept parameters (`swept`) are averaged and the parameters that
    were not swept are fixed. The table lists the `top` configurations by `metric`.
    """
    if metric not in table.columns:
        raise LazyflowError(f"write_sweep_report: no column '{metric}' in the sweep table")
    for axis in axes:
        if axis not in table.columns:
            raise LazyflowError(f"write_sweep_report: no column '{axis}' in the sweep table")
    figure_cls, _ = matplotlib_classes()
    out = Path(out_dir)
    (out / FILES_DIR).mkdir(parents=True, exist_ok=True)
    sections = []
    if axes:
        rows = table[axes[1]].n_unique() if len(axes) > 1 else 1
        fig = figure_cls(figsize=(10, max(3.0, 1.4 + 0.5 * rows)), dpi=110, layout="constrained")
        _heatmap(fig.add_subplot(), table, list(axes), metric)
        fig.savefig(out / FILES_DIR / "sweep_heatmap.png")
        others = [c for c in swept if c not in axes]
        averaged = f"averaged over {', '.join(others)}" if others else "no other swept parameter"
        note = (
            f"Mean {metric} of the configurations with each value of {' and '.join(axes)}; "
            f"{averaged}. Parameters that were not swept are fixed at the config's values."
        )
        sections.append(
            (f"{metric} by {' and '.join(axes)}", note, f"{FILES_DIR}/sweep_heatmap.png")
        )
    best = table.sort(metric, descending=True, nulls_last=True).head(top)
    shown = ["config", *swept, *dict.fromkeys([metric, *SWEEP_STATS])]
    span = (
        f"{table.height:,} configurations ({table['pipeline'].n_unique():,} pipelines x "
        f"{table['allocator'].n_unique():,} allocator settings); swept: "
        f"{', '.join(swept) or 'nothing'}."
    )
    block = (
        f"{sections_html(sections)}<h2>Best {min(top, table.height)} configurations by "
        f"{html.escape(metric)}</h2>{frame_table(best.select(shown))}"
    )
    path = out / "report.html"
    path.write_text(page(title, span, parameters or {}, [block]), encoding="utf-8")
    return path


def heatmap_cells(
    table: pl.DataFrame, axes: Sequence[str], metric: str
) -> tuple[list[str], list[str], np.ndarray]:
    """The sweep heatmap's labels and cells: x labels (values of ``axes[0]``), y labels
    (values of ``axes[1]``; one empty label for one axis), both in the table's order, and
    the mean of the finite values of `metric` per (y, x) pair (nan where there are none)."""
    columns = {axis: [label(v) for v in table[axis].to_list()] for axis in axes}
    x_of = columns[axes[0]]
    y_of = columns[axes[1]] if len(axes) > 1 else [""] * table.height
    x_labels, y_labels = list(dict.fromkeys(x_of)), list(dict.fromkeys(y_of))
    sums = np.zeros((len(y_labels), len(x_labels)))
    counts = np.zeros_like(sums)
    for value, x, y in zip(table[metric].cast(pl.Float64).to_list(), x_of, y_of, strict=True):
        if value is not None and math.isfinite(value):
            sums[y_labels.index(y), x_labels.index(x)] += value
            counts[y_labels.index(y), x_labels.index(x)] += 1
    means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)
    return x_labels, y_labels, means


def _heatmap(ax: Axes, table: pl.DataFrame, axes: list[str], metric: str) -> None:
    """`heatmap_cells` as an annotated image."""
    x_labels, y_labels, means = heatmap_cells(table, axes, metric)
    image = ax.imshow(means, cmap="viridis", aspect="auto", origin="lower")
    ax.figure.colorbar(image, ax=ax, label=f"mean {metric}")
    middle = np.nanmean(means) if np.isfinite(means).any() else 0.0
    for (i, j), value in np.ndenumerate(means):
        color = "white" if np.isfinite(value) and value < middle else "black"
        ax.text(j, i, fmt(value, "{:.3g}"), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(len(x_labels)), x_labels)
    ax.set_yticks(range(len(y_labels)), y_labels)
    ax.set_xlabel(axes[0])
    if len(axes) > 1:
        ax.set_ylabel(axes[1])
    ax.set_title(f"{metric}: mean over the other parameters", loc="left", fontsize=11)
