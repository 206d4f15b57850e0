"""The factor section of the report: the summary table (also printed by the CLI), IC over
time, quantile returns, cumulative top minus bottom and IC decay."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from lazyflow.factor import ROLLING_WINDOW, FactorAnalysis, FactorTables
from lazyflow.report.charts import (
    COLORS,
    ChartFn,
    Section,
    empty_panel,
    grid_shape,
    small_panels,
)
from lazyflow.report.page import MISSING, fmt, sections_html

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class FactorSection:
    """The factor section of a report: what was judged (`analysis`) and its tables."""

    analysis: FactorAnalysis
    tables: FactorTables
    rolling_window: int = ROLLING_WINDOW

    @classmethod
    def compute(
        cls,
        analysis: FactorAnalysis,
        frame: pl.DataFrame | pl.LazyFrame,
        rolling_window: int = ROLLING_WINDOW,
        periods_per_year: float = 365,
    ) -> FactorSection:
        """Run `analysis.tables` on `frame` (one collect)."""
        return cls(
            analysis, analysis.tables(frame, rolling_window, periods_per_year), rolling_window
        )


#: Per-horizon rows of the factor summary: label, metric of the tidy table, format.
FACTOR_ROWS = (
    ("IC mean", "ic_mean", "{:+.4f}"),
    ("IC std", "ic_std", "{:.4f}"),
    ("IC IR (mean / std)", "ic_ir", "{:+.3f}"),
    ("IC t-stat (Newey-West, h-1 lags)", "ic_tstat", "{:+.2f}"),
    ("IC t-stat, unadjusted", "ic_tstat_naive", "{:+.2f}"),
    ("dates with IC > 0", "ic_positive", "{:.1%}"),
    ("rank IC mean", "rank_ic_mean", "{:+.4f}"),
    ("rank IC IR", "rank_ic_ir", "{:+.3f}"),
    ("rank IC t-stat (Newey-West)", "rank_ic_tstat", "{:+.2f}"),
    ("top - bottom, bps", "spread_bps_mean", "{:+,.1f}"),
    ("top - bottom t-stat (Newey-West)", "spread_bps_tstat", "{:+.2f}"),
    ("top - bottom, per year", "spread_annual", "{:+.1%}"),
    ("dates with an IC", "ic_dates", "{:,.0f}"),
    ("returns over a gap (null)", "gap_nulls", "{:,.0f}"),
)


#: The IC charts' y axis covers this share of the dates (a date with few names has IC near +-1).
BULK = 0.98


def factor_summary_rows(
    summary: pl.DataFrame,
) -> tuple[list[int], list[tuple[str, list[str]]], list[tuple[str, str]]]:
    """The tidy factor summary (`factor_report`) for display.

    Returns the horizons, one row per `FACTOR_ROWS` entry (label and one formatted
    value per horizon), and the horizon-free rows: mean turnover of the top and
    bottom quantiles and the mean rank autocorrelation.
    """
    per_h = summary.filter(pl.col("horizon").is_not_null() & pl.col("quantile").is_null())
    horizons = sorted(per_h["horizon"].unique().to_list())
    value = {(m, h): v for m, h, v in per_h.select("metric", "horizon", "value").iter_rows()}
    rows = [
        (label, [fmt(value.get((metric, h)), spec) for h in horizons])
        for label, metric, spec in FACTOR_ROWS
    ]
    turnover = summary.filter(pl.col("metric") == "turnover").sort("quantile")
    other = []
    if turnover.height:
        ends = {"top": turnover.row(-1, named=True), "bottom": turnover.row(0, named=True)}
        other = [
            (f"turnover, {end} quantile ({row['quantile']})", fmt(row["value"], "{:.1%}"))
            for end, row in ends.items()
        ]
    autocorr = summary.filter(pl.col("metric") == "rank_autocorr")["value"]
    other.append(("rank autocorrelation", fmt(autocorr[0] if autocorr.len() else None, "{:.4f}")))
    return horizons, rows, other


def format_factor_summary(summary: pl.DataFrame) -> str:
    """The factor summary as a plain-text table (statistics down, horizons across)."""
    horizons, rows, other = factor_summary_rows(summary)
    labels = [label for label, _ in rows] + [label for label, _ in other]
    width = max(len(label) for label in labels)
    cells = [f"{h:>10}" for h in horizons]
    lines = [f"{'horizon':<{width}}  " + "".join(cells)]
    lines += [f"{label:<{width}}  " + "".join(f"{v:>10}" for v in vals) for label, vals in rows]
    lines += [f"{label:<{width}}  {v:>10}" for label, v in other]
    return "\n".join(lines)


def factor_html(factor: FactorSection, sections: list[Section]) -> str:
    a = factor.analysis
    horizons, rows, other = factor_summary_rows(factor.tables.summary)
    daily = factor.tables.daily
    mask = f", rows where {a.mask} is true" if a.mask else ""
    note = (
        f"{a.score} judged against forward returns over {', '.join(map(str, horizons))} dates "
        f"of the panel's calendar (days on a daily panel), with the quantiles of "
        f"{a.quantile_col}{mask}; "
        f"{daily[a.date_col].n_unique():,} dates. IC: Pearson correlation per date; rank IC: "
        "Spearman. Top - bottom: mean forward return of the highest quantile minus the lowest. "
        "The t-stats of an h-date horizon are Newey-West with h-1 lags (consecutive h-date "
        "returns overlap); the unadjusted one is shown for IC. A forward return whose h-th "
        "next row is not h dates later (a gap) is left out and counted. "
        "Forward returns look ahead: they judge the score and never feed the backtest."
    )
    head = "".join(f"<th>{h}</th>" for h in horizons)
    body = "".join(
        f"<tr><th>{html.escape(label)}</th>"
        + "".join(f"<td>{html.escape(v)}</td>" for v in vals)
        + "</tr>"
        for label, vals in rows
    )
    table = (
        f"<table><thead><tr><th>horizon, dates</th>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
    extra = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in other
    )
    return f"""<h2 id="factor">Factor analysis: {html.escape(a.score)}</h2>
<p class="note">{html.escape(note)}</p>
<div class="grid">
<div>{table}</div>
<div><table><tbody>{extra}</tbody></table>
<p class="note">Turnover: share of a quantile's names that were not in it on the
previous date.<br>Rank autocorrelation: correlation of the score's ranks on consecutive
dates.</p></div>
</div>
{sections_html(sections)}"""


def factor_sections(chart: ChartFn, factor: FactorSection) -> list[Section]:
    tables, a = factor.tables, factor.analysis
    horizons = tables.by_horizon["horizon"].to_list()
    n = len(horizons)
    window = factor.rolling_window
    return [
        (
            "Information coefficient over time",
            f"Per date IC of {a.score} against each horizon's forward return (grey), with "
            f"{window}-date trailing means of the IC and the rank IC. The y axis covers "
            f"{BULK:.0%} of the dates: dates with few names (ICs near ±1) may leave it.",
            chart(
                "factor_ic",
                lambda fig: _factor_ic(fig, tables, horizons, window, a.date_col),
                height=0.6 + 2.3 * n,
            ),
        ),
        (
            "Distribution of the daily IC",
            f"Histogram of the per-date IC of {a.score} at each horizon; the line marks the "
            "mean. A wide spread around a small mean is a weak factor however many dates it has.",
            chart(
                "factor_ic_hist",
                lambda fig: _factor_ic_hist(fig, tables.daily, horizons),
                height=0.4 + 2.6 * grid_shape(n)[0],
                time_axis=False,
            ),
        ),
        (
            "Mean forward return by quantile"
            + (" (demeaned per date)" if a.demeaned else " (not demeaned)"),
            f"Mean over dates of each {a.quantile_col} quantile's mean forward return, in basis "
            "points of the whole horizon"
            + (
                ", minus that date's mean forward return over all quantiles: bars above zero "
                "beat the cross-section."
                if a.demeaned
                else ", not demeaned: the market's move is in every bar."
            ),
            chart(
                "factor_quantiles",
                lambda fig: _factor_quantiles(fig, tables.quantile_returns, horizons),
                height=0.4 + 2.9 * grid_shape(n)[0],
                time_axis=False,
            ),
        ),
        (
            "Cumulative top minus bottom",
            "Cumulative return of long the top quantile, short the bottom one: the sum of "
            "spread / h (h staggered books, each with 1/h of the capital), in %. A date "
            "without both quantiles (or without forward returns) adds nothing.",
            chart(
                "factor_spread",
                lambda fig: _factor_spread(fig.add_subplot(), tables.daily, horizons, a.date_col),
            ),
        ),
        (
            "IC decay",
            "Mean IC and mean rank IC at each horizon.",
            chart(
                "factor_decay",
                lambda fig: _factor_decay(fig.add_subplot(), tables.by_horizon),
                height=3.0,
                time_axis=False,
            ),
        ),
    ]


def _factor_ic(
    fig: Figure, tables: FactorTables, horizons: list[int], window: int, date_col: str
) -> None:
    axes = fig.subplots(len(horizons), 1, sharex=True, squeeze=False)[:, 0]
    labelled = False
    for ax, h in zip(axes, horizons, strict=True):
        day = tables.daily.filter(pl.col("horizon") == h)
        x = day[date_col].to_list()
        ax.set_title(f"{h}-date forward return", loc="left", fontsize=10)
        ic = day["ic"].drop_nulls()
        if ic.len() == 0:
            ax.plot(x, [0.0] * len(x), lw=0)  # keeps the date axis
            empty_panel(ax, f"no IC: no date has two scored rows with a {h}-date forward return")
            continue
        lines = [
            ("IC per date", day["ic"], dict(color="tab:gray", lw=0.5, alpha=0.5)),
            (f"IC, {window}-date mean", day["ic_rolling"], dict(color=COLORS["nav"], lw=1.4)),
            (f"rank IC, {window}-date mean", day["rank_ic_rolling"], dict(color="tab:orange")),
        ]
        for label, values, style in lines:
            ax.plot(x, values.to_numpy(), label=None if labelled else label, **style)
        labelled = True  # one legend for all panels
        # dates with a handful of names have ICs near +-1: scale to the bulk of the dates
        bulk = [s.drop_nulls().abs().quantile(BULK) or 0.0 for s in (ic, day["ic_rolling"])]
        top = min(1.05, 1.15 * max(*bulk, 0.01))  # type: ignore[operator]
        ax.set_ylim(-top, top)
        ax.axhline(0.0, color="black", lw=0.6)
        ax.set_ylabel("IC")
    if labelled:
        fig.legend(loc="outside upper right", ncol=3, frameon=False, fontsize=9)


def _factor_ic_hist(fig: Figure, daily: pl.DataFrame, horizons: list[int]) -> None:
    axes, cols = small_panels(fig, len(horizons))
    for i, (ax, h) in enumerate(zip(axes, horizons, strict=True)):
        ic = daily.filter(pl.col("horizon") == h)["ic"].drop_nulls().to_numpy()
        ax.set_title(f"{h}-date forward return", loc="left", fontsize=10)
        ax.set_xlabel("IC per date")
        if i % cols == 0:
            ax.set_ylabel("dates")
        if ic.size == 0:
            empty_panel(ax, "no date has an IC")
            continue
        ax.hist(ic, bins=min(50, max(5, ic.size // 10)), color=COLORS["nav"], alpha=0.8)
        ax.axvline(float(ic.mean()), color="black", lw=1.0, label=f"mean {ic.mean():+.4f}")
        ax.axvline(0.0, color="#888", lw=0.6)
        ax.legend(loc="upper right", frameon=False, fontsize=8)


def _factor_quantiles(fig: Figure, quantile_returns: pl.DataFrame, horizons: list[int]) -> None:
    axes, cols = small_panels(fig, len(horizons))
    for i, (ax, h) in enumerate(zip(axes, horizons, strict=True)):
        data = quantile_returns.filter(pl.col("horizon") == h)
        ax.set_title(f"{h}-date forward return", loc="left", fontsize=10)
        ax.set_xlabel("quantile")
        if i % cols == 0:
            ax.set_ylabel("mean return, bps")
        if data.height == 0:
            empty_panel(ax, "no quantile has\na forward return")
            ax.set_xticks([])
            continue
        q = data["quantile"].to_list()
        bps = data["mean_bps"].to_numpy()
        colors = [COLORS["funding"] if v >= 0 else COLORS["cost"] for v in bps]
        ax.bar(q, bps, color=colors, width=0.75)
        ax.set_xticks(q if len(q) <= 12 else q[:: math.ceil(len(q) / 12)])
        ax.axhline(0.0, color="black", lw=0.6)


def _factor_spread(ax: Axes, daily: pl.DataFrame, horizons: list[int], date_col: str) -> None:
    for h in horizons:
        day = daily.filter(pl.col("horizon") == h)
        pct = day["cumulative_spread"] * 100
        total = pct[-1] if pct.len() else 0.0
        dates = day["spread"].is_not_null().sum()
        label = f"{h}-date: {total:+.1f}% over {dates:,} dates with a spread"
        ax.plot(day[date_col].to_list(), pct.to_numpy(), lw=1.2, label=label)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_ylabel("cumulative top - bottom, %")
    ax.set_title("Top minus bottom quantile, cumulative", loc="left", fontsize=11)


def _factor_decay(ax: Axes, by_horizon: pl.DataFrame) -> None:
    horizons = by_horizon["horizon"].to_list()
    pos = list(range(len(horizons)))
    width = 0.38
    for offset, column, color, label in (
        (-width / 2, "ic_mean", COLORS["nav"], "mean IC"),
        (width / 2, "rank_ic_mean", "tab:orange", "mean rank IC"),
    ):
        values = by_horizon[column].fill_nan(None).to_numpy()
        at = [p + offset for p in pos]
        bars = ax.bar(at, values, width, color=color, label=label)
        ax.bar_label(bars, labels=[fmt(v, "{:+.3f}") for v in values], fontsize=8, padding=2)
        for x, v in zip(at, values, strict=True):
            if not math.isfinite(v):  # no bar to label: say so at zero
                ax.text(x, 0.0, MISSING, ha="center", va="bottom", fontsize=8, color="#555")
    ax.set_xticks(pos, [str(h) for h in horizons])
    ax.set_xlim(-0.6, len(pos) - 0.4)
    ax.margins(y=0.2)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False, fontsize=9)
    ax.set_xlabel("horizon, dates")
    ax.set_ylabel("IC")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_title("IC decay over the horizons", loc="left", fontsize=11)
