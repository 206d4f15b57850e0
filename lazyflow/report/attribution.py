"""The attribution section of the report: cumulative PnL by component and side, and the
symbols that made and lost the most (`BacktestResult.attribution`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from lazyflow.portfolio.attribution import Attribution
from lazyflow.report.charts import COLORS, ChartFn, Section
from lazyflow.report.page import frame_table, sections_html
from lazyflow.report.result import ReportedResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Symbols listed at each end of the ranking by contribution.
TOP_N = 10


def attribution_html(chart: ChartFn, result: ReportedResult) -> str:
    """The section: its chart, then the top and bottom `TOP_N` symbols by PnL."""
    attribution = result.attribution()
    cumulative = attribution.cumulative()
    section: Section = (
        "PnL attribution",
        f"Cumulative PnL in the NAV's units (init_nav {result.init_nav:,.6g}; dollars with an "
        "impact cost) by component and side: price moves, funding received (+) or paid (-), "
        f"and costs paid, for the long and the short book. Costs: {result.cost_model}.",
        chart("attribution", lambda fig: _cumulative(fig, cumulative), height=4.2),
    )
    return sections_html([section]) + _ranking(attribution)


def _cumulative(fig: Figure, cumulative: pl.DataFrame) -> None:
    ax = fig.add_subplot()
    x = cumulative[cumulative.columns[0]].to_list()
    styles = {"long": "-", "short": "--"}
    for side, style in styles.items():
        for part in ("price", "funding", "cost"):
            values = cumulative[f"{part}_{side}"]
            if part == "cost":
                values = -values
            ax.plot(x, values.to_list(), color=COLORS[part], ls=style, lw=1.1,
                    label=f"{part} ({side})")  # fmt: skip
    ax.plot(x, cumulative["pnl"].to_list(), color=COLORS["nav"], lw=1.6, label="total")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_ylabel("cumulative PnL, NAV units")
    ax.set_title("Where the PnL came from", loc="left", fontsize=11)


def _ranking(attribution: Attribution) -> str:
    """The best and the worst `TOP_N` symbols by PnL; with fewer than 2 x `TOP_N` symbols
    the best half (rounded up) and the rest, so that no symbol is listed twice."""
    table = attribution.by_symbol()
    n_top = min(TOP_N, -(-table.height // 2))
    n_bottom = min(TOP_N, table.height - n_top)
    top, bottom = table.head(n_top), table.tail(n_bottom).reverse()
    return (
        '<div class="grid">'
        f"<div><h2>Top {TOP_N} symbols by PnL</h2>{frame_table(top)}</div>"
        f"<div><h2>Bottom {TOP_N} symbols by PnL</h2>{frame_table(bottom)}</div>"
        "</div>"
    )
