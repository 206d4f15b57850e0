"""Chart plumbing shared by the report's sections: matplotlib (Agg, imported only when a
report is written), axis style, colours, and `ChartWriter`, which draws one PNG per chart."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lazyflow.errors import LazyflowError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


#: Folder, next to report.html, that holds the charts.
FILES_DIR = "report_files"
COLORS = {"nav": "#1f3b73", "price": "#2a7ab0", "funding": "#3c9d5d", "cost": "#c0392b"}
#: A chart in the page: heading, note, image path relative to report.html.
Section = tuple[str, str, str]
ChartFn = Callable[..., str]


def matplotlib_classes() -> tuple[type[Figure], Any]:
    """matplotlib's `Figure` class and its dates module; a `LazyflowError` without the extra."""
    try:
        import matplotlib.dates as mdates
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise LazyflowError(
            "write_report: matplotlib is not installed; install the plot extra: "
            "pip install 'lazyflow[plot]'"
        ) from exc
    return Figure, mdates


def style_axes(ax: Axes, mdates: Any) -> None:
    """Grid, no top/right spines, a legend when there are labels (and none yet); dates
    on x unless `mdates` is None."""
    if mdates is not None:
        locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(x=0.01)
    has_legend = ax.get_legend() is not None or bool(ax.figure.legends)
    if not has_legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", frameon=False, fontsize=9)


def empty_panel(ax: Axes, text: str) -> None:
    """Say why a panel has nothing to draw."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555")
    ax.set_yticks([])


def grid_shape(n: int) -> tuple[int, int]:
    """Rows and columns for `n` small panels, at most three per row."""
    cols = min(n, 3)
    return math.ceil(n / cols), cols


def small_panels(fig: Figure, n: int) -> tuple[list[Axes], int]:
    """`n` small panels on `fig` in `grid_shape(n)` (the unused cells removed), and the
    number of columns."""
    rows, cols = grid_shape(n)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.remove()
    return list(axes[:n]), cols


class ChartWriter:
    """Draws charts as PNG files in ``out_dir/report_files/``.

    Calling it with a name and a drawing function returns the image's path relative to
    ``out_dir`` (what a `Section` holds); every axis gets `style_axes`.
    """

    def __init__(self, out_dir: Path) -> None:
        self.figure_cls, self.dates = matplotlib_classes()
        self.out_dir = out_dir
        (out_dir / FILES_DIR).mkdir(parents=True, exist_ok=True)

    def __call__(
        self, name: str, draw: Callable[[Figure], None], height: float = 3.4, time_axis: bool = True
    ) -> str:
        fig = self.figure_cls(figsize=(10, height), dpi=110, layout="constrained")
        draw(fig)
        for ax in fig.axes:
            style_axes(ax, self.dates if time_axis else None)
        fig.savefig(self.out_dir / FILES_DIR / f"{name}.png")
        return f"{FILES_DIR}/{name}.png"
