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
from lazyflow.report.charts import COLORS, FILES_DIR, ChartWriter, empty_panel, matplotlib_classes
from lazyflow.report.page import fmt, frame_table, label, page, sections_html

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lazyflow.stats import PBOResult


#: Statistics shown next to the swept parameters in the sweep report's table of the best.
SWEEP_STATS = ("sharpe", "sharpe_psr", "dsr", "cagr", "max_drawdown", "ann_vol", "avg_turnover")


def write_sweep_report(
    out_dir: str | Path,
    table: pl.DataFrame,
    swept: Sequence[str],
    axes: Sequence[str],
    metric: str = "sharpe",
    title: str = "lazyflow sweep",
    parameters: Mapping[str, Any] | None = None,
    top: int = 10,
    overfitting: tuple[PBOResult | None, str] | None = None,
    walk: Any = None,
) -> Path:
    """Write ``out_dir/report.html`` for a sweep (`lf.sweep`'s `table`); return the path.

    The heatmap shows `metric` over the swept parameters `axes` (x, then y; one axis: a
    single row): each cell is the mean of `metric` over the configurations with that pair
    of values, so the other swept parameters (`swept`) are averaged and the parameters that
    were not swept are fixed. The table lists the `top` configurations by `metric`. Then the
    deflated Sharpe of the best; with `overfitting` (`SweepResult.pbo` and `pbo_note`) the
    PBO, its λ histogram and the in- versus out-of-sample Sharpe scatter; with `walk` (a
    `lazyflow.walk_forward.WalkForwardResult`) the walk-forward book's NAV next to the
    in-sample best's and its windows.
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
    chart = ChartWriter(out)
    honest = _honesty(chart, table, metric, overfitting)
    walked = "" if walk is None else _walk_forward(chart, walk)
    block = (
        f"{sections_html(sections)}<h2>Best {min(top, table.height)} configurations by "
        f"{html.escape(metric)}</h2>{frame_table(best.select(shown))}{honest}{walked}"
    )
    path = out / "report.html"
    path.write_text(page(title, span, grid_parameters(parameters or {}), [block]), encoding="utf-8")
    return path


def grid_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A sweep's parameters for display: each swept stage or allocator parameter shows its
    grid (``parameters["grids"]``, keyed by `lf.sweep`'s column names) in place of the first
    configuration's value, and integral floats print as integers (21, not 21.0)."""
    shown = {k: v for k, v in parameters.items() if k != "grids"}
    stages = [dict(s) for s in shown.get("stages", [])]
    allocator = dict(shown.get("allocator", {}))
    for column, values in parameters.get("grids", {}).items():
        kind, *middle, name = column.split(".")
        if kind == "allocator":
            allocator[name] = values
        elif kind == "stage" and len(middle) == 2:  # stage.<position>.<Class>.<name>
            stages[int(middle[0])][name] = values
        elif kind == "stage":  # stage.<Class>.<name>: the class is there once
            next(s for s in stages if s.get("type") == middle[0])[name] = values
    if "stages" in shown:
        shown["stages"] = stages
    if "allocator" in shown:
        shown["allocator"] = allocator
    return _integral(shown)


def _integral(value: Any) -> Any:
    """`value` with every integral float as an int, in nested tables and lists."""
    if isinstance(value, Mapping):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_integral(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


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


def _honesty(
    chart: ChartWriter,
    table: pl.DataFrame,
    metric: str,
    overfitting: tuple[PBOResult | None, str] | None,
) -> str:
    """The deflated Sharpe of the best configuration and, when given, the PBO section."""
    best = table.sort(metric, descending=True, nulls_last=True).row(0, named=True)
    n = table.height
    text = (
        f"Best configuration by {metric}: config {best['config']}, Sharpe "
        f"{fmt(best.get('sharpe'), '{:.2f}')} a year, PSR {fmt(best.get('sharpe_psr'), '{:.3f}')} "
        f"(probability that its true Sharpe is above 0), deflated Sharpe ratio "
        f"{fmt(best.get('dsr'), '{:.3f}')}: the same probability against the Sharpe that the "
        f"best of {n:,} configurations with no skill would show (Bailey and López de Prado 2014)."
    )
    out = f'<h2>Selection bias</h2><p class="note">{html.escape(text)}</p>'
    if overfitting is None:
        return out
    result, note = overfitting
    if result is None:
        return out + f'<p class="note">PBO not computed: {html.escape(note)}.</p>'
    src = chart("sweep_pbo", lambda fig: _pbo_charts(fig, result), height=3.6, time_axis=False)
    pbo_note = (
        f"Probability of backtest overfitting (Bailey, Borwein, López de Prado and Zhu 2015): "
        f"{result.pbo:.1%} of {result.lambdas.size:,} splits of the dates into halves rank "
        f"the in-sample best at or below the out-of-sample median ({note}). Left: λ = "
        "logit of its out-of-sample rank; mass left of 0 is overfitting. Right: its in-sample "
        "Sharpe against its out-of-sample Sharpe, per date."
    )
    return out + sections_html([(f"PBO {result.pbo:.1%}", pbo_note, src)])


def _pbo_charts(fig: Figure, result: PBOResult) -> None:
    left, right = fig.subplots(1, 2)
    left.hist(result.lambdas, bins=30, color=COLORS["nav"], alpha=0.85)
    left.axvline(0.0, color=COLORS["cost"], lw=1.2)
    left.set_xlabel("λ = logit(out-of-sample rank of the in-sample best)")
    left.set_ylabel("splits")
    left.set_title(f"PBO {result.pbo:.1%}", loc="left", fontsize=11)
    finite = np.isfinite(result.is_sharpe) & np.isfinite(result.oos_sharpe)
    if not finite.any():
        empty_panel(right, "no finite Sharpe pair")
        return
    right.scatter(result.is_sharpe[finite], result.oos_sharpe[finite], s=6, alpha=0.4)
    right.axhline(0.0, color="black", lw=0.6)
    right.set_xlabel("in-sample Sharpe (per date)")
    right.set_ylabel("out-of-sample Sharpe (per date)")
    right.set_title("In-sample best, out of sample", loc="left", fontsize=11)


def _walk_forward(chart: ChartWriter, walk: Any) -> str:
    """The walk-forward book's NAV next to the in-sample best's, and its windows (`walk`: a
    `lazyflow.walk_forward.WalkForwardResult`, not imported here: the report stays below the
    backtest in the import graph)."""
    m = walk.metrics
    src = chart("walk_forward_nav", lambda fig: _walk_nav(fig.add_subplot(), m, walk.best_config))
    oos, best = walk.summary, walk.best_summary["sharpe"]
    note = (
        f"Out of sample: {walk.windows.height} windows, each trading the configuration with "
        f"the best training {walk.metric}; one book, positions carried across windows. Sharpe "
        f"{fmt(oos['sharpe'], '{:.2f}')}, total return {fmt(oos['total_return'], '{:+.1%}')}. "
        f"The in-sample best (config {walk.best_config}, chosen with every date, the test "
        f"windows included) over the same dates: Sharpe {fmt(best, '{:.2f}')}; the gap is "
        "what choosing with hindsight adds."
    )
    windows = walk.windows.select(
        "window",
        "train_start",
        "train_end",
        "test_start",
        "test_end",
        "config",
        "is_sharpe",
        "oos_sharpe",
    )
    return sections_html([("Walk-forward", note, src)]) + frame_table(windows)


def _walk_nav(ax: Axes, metrics: pl.DataFrame, best: int) -> None:
    dates = metrics["date"].to_list()
    ax.plot(dates, metrics["nav"].to_numpy(), color=COLORS["nav"], lw=1.4, label="walk-forward")
    ax.plot(
        dates,
        metrics["best_nav"].to_numpy(),
        color="tab:orange",
        lw=1.0,
        label=f"in-sample best (config {best})",
    )
    ax.set_ylabel("NAV")
    ax.set_title("Out-of-sample NAV", loc="left", fontsize=11)
