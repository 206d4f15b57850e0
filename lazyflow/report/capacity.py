"""The capacity section of the report: net Sharpe, CAGR and cost drag against the starting
NAV (`lf.capacity`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from lazyflow.report.charts import COLORS, ChartFn, Section
from lazyflow.report.page import frame_table, sections_html

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def capacity_html(chart: ChartFn, table: pl.DataFrame, cost_model: str) -> str:
    """The capacity curve and its table (`lazyflow.portfolio.capacity.CAPACITY_COLUMNS`),
    by increasing starting NAV."""
    table = table.sort("init_nav")
    section: Section = (
        "Capacity",
        "The same strategy started at each NAV (dollars): net Sharpe ratio and CAGR (top), "
        "and the annual cost drag, costs as a percentage of the average NAV (bottom). "
        f"Costs: {cost_model}.",
        chart("capacity", lambda fig: _curve(fig, table), height=5.0, time_axis=False),
    )
    return sections_html([section]) + frame_table(table)


def _curve(fig: Figure, table: pl.DataFrame) -> None:
    top, bottom = fig.subplots(2, 1, sharex=True)
    navs = table["init_nav"].to_list()
    top.plot(navs, table["sharpe"].to_list(), "o-", color=COLORS["nav"], label="net Sharpe")
    top.set_ylabel("net Sharpe ratio")
    twin = top.twinx()
    cagr = (table["cagr"] * 100).to_list()
    twin.plot(navs, cagr, "s--", color=COLORS["funding"])
    top.plot([], [], "s--", color=COLORS["funding"], label="CAGR, % (right axis)")
    twin.set_ylabel("CAGR, %")
    top.set_title("Capacity: performance against starting NAV", loc="left", fontsize=11)
    bottom.plot(navs, (table["cost_drag"] * 100).to_list(), "o-", color=COLORS["cost"],
                label="cost drag")  # fmt: skip
    bottom.set_ylabel("cost drag, % of NAV per year")
    bottom.set_xlabel("starting NAV, dollars (log scale)")
    for ax in (top, bottom):
        ax.set_xscale("log")
