"""The tear sheet of a backtest: monthly returns, per-year statistics and the worst
drawdowns as HTML tables, and the rolling Sharpe and daily-returns histogram charts. The
numbers come from `lazyflow.tearsheet`."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from lazyflow import tearsheet
from lazyflow.report.charts import COLORS, ChartFn, Section
from lazyflow.report.format import format_number

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: Per-year columns shown: (statistic, header, kind of `format_number`).
YEAR_COLUMNS = (
    ("total_return", "return", "signed"),
    ("ann_vol", "volatility, annualised", "pct"),
    ("sharpe", "Sharpe", "ratio"),
    ("sortino", "Sortino", "ratio"),
    ("max_drawdown", "max drawdown", "signed"),
    ("avg_turnover", "turnover per date", "pct"),
    ("annual_cost", "cost per year, of NAV", "pct"),
    ("annual_funding", "funding per year, of NAV", "signed"),
    ("n_days", "dates", "count"),
)


def tearsheet_sections(
    chart: ChartFn, metrics: pl.DataFrame, periods_per_year: float
) -> list[Section]:
    """The rolling Sharpe and the daily-returns histogram."""
    x = metrics["date"].to_list()
    windows = ", ".join(str(w) for w in tearsheet.ROLLING_SHARPE_WINDOWS)
    moments = tearsheet.return_moments(metrics)
    return [
        (
            "Rolling Sharpe ratio",
            f"Annualised Sharpe ratio of the daily returns over the last {windows} dates "
            "(drawn once a window is full).",
            chart(
                "rolling_sharpe",
                lambda fig: _rolling(fig.add_subplot(), x, metrics, periods_per_year),
            ),
        ),
        (
            "Daily returns",
            f"Distribution of the daily returns, %: skew {format_number(moments['skew'], 'ratio')}"
            f", excess kurtosis {format_number(moments['kurtosis'], 'ratio')} (0 for a normal "
            "distribution).",
            chart(
                "returns_histogram",
                lambda fig: _histogram(fig.add_subplot(), metrics, moments),
                time_axis=False,
            ),
        ),
    ]


def _rolling(ax: Axes, x: list, metrics: pl.DataFrame, periods_per_year: float) -> None:
    colors = (COLORS["nav"], "tab:orange")
    for window, color in zip(tearsheet.ROLLING_SHARPE_WINDOWS, colors, strict=True):
        sharpe = tearsheet.rolling_sharpe(metrics, window, periods_per_year)
        ax.plot(x, sharpe.to_numpy(), color=color, lw=1.2, label=f"{window} dates")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_ylabel("Sharpe ratio, annualised")
    ax.set_title("Rolling Sharpe ratio", loc="left", fontsize=11)


def _histogram(ax: Axes, metrics: pl.DataFrame, moments: dict[str, float]) -> None:
    r = metrics["daily_return"].to_numpy() * 100
    r = r[np.isfinite(r)]
    ax.hist(r, bins=min(80, max(10, len(r) // 10)), color=COLORS["price"], alpha=0.8)
    if len(r):
        ax.axvline(float(r.mean()), color="black", lw=0.8, label=f"mean {r.mean():+.3f}%")
    skew, kurt = (format_number(moments[k], "ratio") for k in ("skew", "kurtosis"))
    ax.set_title(f"Daily returns: skew {skew}, excess kurtosis {kurt}", loc="left", fontsize=11)
    ax.set_xlabel("daily return, %")
    ax.set_ylabel("dates")


def tearsheet_html(metrics: pl.DataFrame, init_nav: float, periods_per_year: float) -> str:
    """The monthly-returns, per-year and worst-drawdowns tables."""
    monthly = tearsheet.monthly_returns(metrics, init_nav)
    yearly = tearsheet.yearly_stats(metrics, init_nav, periods_per_year)
    drawdowns = tearsheet.drawdown_periods(metrics, init_nav)
    return (
        "<h2>Monthly returns</h2>"
        '<p class="note">Return of each calendar month and year, %: the NAV at its last date '
        "over the NAV before its first date (a row's return is dated by its rebalancing "
        "date). Green gains, red losses.</p>"
        f"{_monthly_table(monthly)}"
        "<h2>Statistics per year</h2>"
        '<p class="note">Each calendar year as a backtest of its own, from the previous '
        "year's last NAV; the drawdown is measured within the year.</p>"
        f"{_yearly_table(yearly)}"
        "<h2>Worst drawdowns</h2>"
        '<p class="note">The deepest falls from a running NAV high (the start counts as a '
        "high): peak, lowest point and recovery dates, depth and dates under water.</p>"
        f"{_drawdown_table(drawdowns)}"
    )


def _cell(value: float | None, scale: float) -> str:
    """A return cell, %, its background green (gain) or red (loss) by size."""
    if value is None or not math.isfinite(value):
        return "<td></td>"
    alpha = min(abs(value) / scale, 1.0) * 0.6 if scale > 0 else 0.0
    rgb = "46,160,67" if value >= 0 else "203,36,49"
    style = f' style="background: rgba({rgb},{alpha:.2f})"'
    return f"<td{style}>{value * 100:+.1f}</td>"


def _monthly_table(monthly: pl.DataFrame) -> str:
    months = monthly.select(tearsheet.MONTHS).to_numpy().astype(float).ravel()
    finite = np.abs(months[np.isfinite(months)])
    scale = float(np.quantile(finite, 0.9)) if len(finite) else 0.0
    years = monthly["Year"].to_numpy().astype(float)
    year_scale = float(np.nanmax(np.abs(years))) if np.isfinite(years).any() else 0.0
    head = "".join(f"<th>{m}</th>" for m in ("year", *tearsheet.MONTHS, "year, %"))
    body = "".join(
        f"<tr><th>{row['year']}</th>"
        + "".join(_cell(row[m], scale) for m in tearsheet.MONTHS)
        + _cell(row["Year"], year_scale)
        + "</tr>"
        for row in monthly.iter_rows(named=True)
    )
    return f'<table class="months"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _yearly_table(yearly: pl.DataFrame) -> str:
    head = "<th>year</th>" + "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in YEAR_COLUMNS)
    body = "".join(
        f"<tr><th>{row['year']}</th>"
        + "".join(f"<td>{format_number(row[c], kind)}</td>" for c, _, kind in YEAR_COLUMNS)
        + "</tr>"
        for row in yearly.iter_rows(named=True)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _drawdown_table(drawdowns: pl.DataFrame) -> str:
    if drawdowns.height == 0:
        return "<p>None: the NAV never fell below its running high.</p>"
    head = "".join(
        f"<th>{h}</th>" for h in ("", "peak", "lowest", "recovered", "depth", "dates under water")
    )
    body = "".join(
        f"<tr><th>{i}</th><td>{row['peak'] or 'start'}</td><td>{row['valley']}</td>"
        f"<td>{row['recovery'] or 'not yet'}</td>"
        f"<td>{format_number(row['depth'], 'signed')}</td><td>{row['dates']:,}</td></tr>"
        for i, row in enumerate(drawdowns.iter_rows(named=True), start=1)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
