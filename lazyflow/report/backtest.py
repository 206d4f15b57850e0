"""The backtest section of the report: summary, dropped rows and the NAV, drawdown,
universe, exposure, turnover and volatility charts."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import polars as pl

from lazyflow.report.charts import COLORS, ChartFn, Section
from lazyflow.report.format import format_stat, stat_label
from lazyflow.report.page import sections_html, stats_table
from lazyflow.report.result import ReportedResult
from lazyflow.report.tearsheet import tearsheet_html, tearsheet_sections
from lazyflow.tearsheet import headline

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def backtest_sections(
    chart: ChartFn,
    metrics: pl.DataFrame,
    frame: pl.DataFrame | None,
    universe_col: str,
    date_col: str,
    periods_per_year: float,
) -> list[Section]:
    """NAV and drawdown, then the tear sheet's charts, universe, exposure, turnover and
    volatility (`backtest_html` puts the tear sheet's tables after the first two)."""
    x = metrics["date"].to_list()
    sections = [
        (
            "Net asset value",
            "NAV (top) and its cumulative parts (bottom): price PnL, funding received or "
            "paid, and trading cost, each in NAV units since the start.",
            chart("nav", lambda fig: _nav(fig, x, metrics), height=5.4),
        ),
        (
            "Drawdown",
            "NAV relative to its running high.",
            chart("drawdown", lambda fig: _drawdown(fig.add_subplot(), x, metrics)),
        ),
        *tearsheet_sections(chart, metrics, periods_per_year),
    ]
    if frame is not None and universe_col in frame.columns and date_col in frame.columns:
        sections.append(
            (
                "Universe size",
                f"Symbols per date with {universe_col} true (in the universe) and false.",
                chart(
                    "universe",
                    lambda fig: _universe(fig.add_subplot(), frame, universe_col, date_col),
                ),
            )
        )
    sections += [
        (
            "Exposure",
            "Gross (sum of |weights|) and net (sum of weights) exposure after rebalancing, "
            "as multiples of NAV.",
            chart("exposure", lambda fig: _exposure(fig.add_subplot(), x, metrics)),
        ),
        (
            "Turnover",
            "Traded dollars per date as a percentage of NAV, with its 30-date mean.",
            chart("turnover", lambda fig: _turnover(fig.add_subplot(), x, metrics)),
        ),
        (
            "Volatility: forecast against realised",
            "Annualised portfolio volatility: the allocator's forecast from the book and the "
            "realised 21-date volatility of daily returns.",
            chart("volatility", lambda fig: _volatility(fig.add_subplot(), x, metrics)),
        ),
    ]
    return sections


def _cumulative(metrics: pl.DataFrame, column: str) -> list[float]:
    return metrics[column].fill_null(0.0).cum_sum().to_list()


def _nav(fig: Figure, x: list, metrics: pl.DataFrame) -> None:
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    nav = metrics["nav"]
    top.plot(x, nav.to_list(), color=COLORS["nav"], lw=1.4, label="NAV")
    log = nav.min() > 0 and nav.max() / nav.min() > 4  # type: ignore[operator]
    if log:
        from matplotlib.ticker import LogLocator, NullFormatter

        top.set_yscale("log")
        top.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        top.yaxis.set_major_formatter("{x:g}")
        top.yaxis.set_minor_formatter(NullFormatter())
    top.set_ylabel("NAV (log scale)" if log else "NAV")
    top.set_title("Net asset value", loc="left", fontsize=11)
    parts = [
        ("price PnL", _cumulative(metrics, "pnl"), COLORS["price"]),
        ("funding", _cumulative(metrics, "funding_pnl"), COLORS["funding"]),
        ("cost", [-c for c in _cumulative(metrics, "cost")], COLORS["cost"]),
    ]
    for label, values, color in parts:
        bottom.plot(x, values, color=color, lw=1.2, label=f"{label} ({values[-1]:+,.3f})")
    bottom.axhline(0.0, color="black", lw=0.6)
    bottom.set_ylabel("cumulative, NAV units")


def _drawdown(ax: Axes, x: list, metrics: pl.DataFrame) -> None:
    dd = (metrics["drawdown"].fill_null(0.0) * 100).to_list()
    ax.fill_between(x, dd, 0.0, color=COLORS["cost"], alpha=0.35, lw=0)
    ax.plot(x, dd, color=COLORS["cost"], lw=0.9)
    ax.set_ylabel("drawdown, %")
    ax.set_title("Drawdown from the running NAV high", loc="left", fontsize=11)


def universe_counts(
    frame: pl.DataFrame, universe_col: str = "is_universe", date_col: str = "date"
) -> pl.DataFrame:
    """Per date, rows with `universe_col` true (``in_universe``) and not true (``out``)."""
    return (
        frame.group_by(date_col)
        .agg(
            pl.col(universe_col).fill_null(False).sum().alias("in_universe"),
            pl.col(universe_col).fill_null(False).not_().sum().alias("out"),
        )
        .sort(date_col)
    )


def _universe(ax: Axes, frame: pl.DataFrame, universe_col: str, date_col: str) -> None:
    counts = universe_counts(frame, universe_col, date_col)
    x = counts[date_col].to_list()
    ax.plot(x, counts["in_universe"].to_list(), color="tab:blue", lw=1.2, label="in universe")
    ax.plot(x, counts["out"].to_list(), color="gray", lw=1.2, label="not in universe")
    ax.set_ylabel("number of symbols")
    ax.set_ylim(bottom=0)
    ax.set_title("Universe size over time", loc="left", fontsize=11)


def _exposure(ax: Axes, x: list, metrics: pl.DataFrame) -> None:
    ax.plot(x, metrics["gross_exposure"].to_list(), color=COLORS["nav"], lw=1.1, label="gross")
    ax.plot(x, metrics["net_exposure"].to_list(), color="tab:orange", lw=1.1, label="net")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_ylabel("multiple of NAV")
    ax.set_title("Gross and net exposure", loc="left", fontsize=11)


def _turnover(ax: Axes, x: list, metrics: pl.DataFrame) -> None:
    turnover = metrics["turnover_pct"].fill_null(0.0) * 100
    ax.plot(x, turnover.to_list(), color="tab:gray", lw=0.6, alpha=0.7, label="per date")
    mean = turnover.rolling_mean(30, min_samples=1).to_list()
    ax.plot(x, mean, color=COLORS["nav"], lw=1.4, label="30-date mean")
    ax.set_ylabel("% of NAV traded")
    ax.set_ylim(bottom=0)
    ax.set_title("Turnover", loc="left", fontsize=11)


def _volatility(ax: Axes, x: list, metrics: pl.DataFrame) -> None:
    fcst = (metrics["vol_forecast_a"] * 100).to_list()
    real = (metrics["vol_realized_a"] * 100).to_list()
    ax.plot(x, fcst, color=COLORS["nav"], lw=1.2, label="forecast (annualised)")
    ax.plot(x, real, color="tab:orange", lw=1.0, label="realised, 21 dates (annualised)")
    ax.set_ylabel("volatility, % per year")
    ax.set_ylim(bottom=0)
    ax.set_title("Forecast against realised volatility", loc="left", fontsize=11)


def summary_table(result: ReportedResult) -> str:
    """The headline statistics (`lazyflow.tearsheet.headline`), formatted for people."""
    rows = "".join(
        f'<tr><th title="{k}">{html.escape(stat_label(k))}</th>'
        f"<td>{html.escape(format_stat(k, v))}</td></tr>"
        for k, v in headline(result).items()
    )
    head = "<tr><th>statistic</th><th>value</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>"


def backtest_html(result: ReportedResult, sections: list[Section]) -> str:
    metrics = result.metrics.sort("date")
    dropped_html = (
        stats_table(result.dropped, ("reason", "rows"))
        if any(result.dropped.values())
        else "<p>None.</p>"
    )
    return f"""<div class="grid">
<div><h2>Summary statistics</h2>{summary_table(result)}</div>
<div><h2>Rows dropped as untradable</h2>
<p class="note">Input rows that could not trade, each under the first check it failed,<br>
and held positions without a next price or funding rate (marked as 0).</p>{dropped_html}</div>
</div>
{sections_html(sections[:2])}
{tearsheet_html(metrics, result.init_nav, result.periods_per_year)}
{sections_html(sections[2:])}"""
