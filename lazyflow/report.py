"""A static HTML tear sheet of a backtest and/or a factor analysis, with PNG charts
drawn by matplotlib (Agg).

matplotlib is the optional ``plot`` extra (``pip install 'lazyflow[plot]'``); it is
imported only when a report is written, and charts are drawn on bare `Figure`
objects with the Agg canvas, so no global pyplot backend is touched.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from lazyflow.errors import LazyflowError
from lazyflow.factor import ROLLING_WINDOW, FactorAnalysis, FactorTables
from lazyflow.portfolio import BacktestResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Folder, next to report.html, that holds the charts.
FILES_DIR = "report_files"
_COLORS = {"nav": "#1f3b73", "price": "#2a7ab0", "funding": "#3c9d5d", "cost": "#c0392b"}
#: A chart in the page: heading, note, image path relative to report.html.
Section = tuple[str, str, str]
ChartFn = Callable[..., str]


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


def write_report(
    out_dir: str | Path,
    frame: pl.DataFrame,
    result: BacktestResult | None,
    title: str = "lazyflow backtest",
    parameters: Mapping[str, Any] | None = None,
    universe_col: str = "is_universe",
    date_col: str = "date",
    factor: FactorSection | None = None,
) -> Path:
    """Write ``out_dir/report.html`` and its charts in ``out_dir/report_files/``; return the path.

    `frame` is the signals frame (for the universe-size chart, drawn when it has
    `universe_col`); `result` the backtest (None: a factor-only report); `factor` adds
    the factor section (IC, quantile returns, top minus bottom, IC decay). `parameters`
    (plain data, e.g. `RunConfig.parameters()`) are shown as the run's settings, by
    default the allocator's and backtest's (`result.params()`).
    """
    if result is None and factor is None:
        raise LazyflowError("write_report: nothing to report; give a backtest result or a factor")
    figure_cls, dates = _matplotlib()
    out = Path(out_dir)
    (out / FILES_DIR).mkdir(parents=True, exist_ok=True)

    def chart(
        name: str, draw: Callable[[Figure], None], height: float = 3.4, time_axis: bool = True
    ) -> str:
        fig = figure_cls(figsize=(10, height), dpi=110, layout="constrained")
        draw(fig)
        for ax in fig.axes:
            _style(ax, dates if time_axis else None)
        path = out / FILES_DIR / f"{name}.png"
        fig.savefig(path)
        return f"{FILES_DIR}/{name}.png"

    blocks, spans = [], []
    if result is not None:
        metrics = result.metrics.sort("date")
        if metrics.height == 0:
            raise LazyflowError("write_report: the backtest has no dates; nothing to report")
        sections = _backtest_sections(chart, metrics, frame, universe_col, date_col)
        blocks.append(_backtest_html(result, sections))
        spans.append(
            f"Backtest from {metrics['date'].min()} to {metrics['date'].max()}: "
            f"{metrics.height:,} rebalancing dates."
        )
    if factor is not None:
        blocks.append(_factor_html(factor, _factor_sections(chart, factor)))
    n_symbols = frame["symbol"].n_unique() if "symbol" in frame.columns else "?"
    spans.append(f"Signals frame of {frame.height:,} rows and {n_symbols} symbols.")
    if parameters is None:
        parameters = {"backtest": result.params()} if result is not None else {}
    path = out / "report.html"
    path.write_text(_page(title, " ".join(spans), parameters, blocks), encoding="utf-8")
    return path


def _backtest_sections(
    chart: ChartFn, metrics: pl.DataFrame, frame: pl.DataFrame, universe_col: str, date_col: str
) -> list[Section]:
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
    ]
    if universe_col in frame.columns and date_col in frame.columns:
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


def _matplotlib() -> tuple[type[Figure], Any]:
    try:
        import matplotlib.dates as mdates
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise LazyflowError(
            "write_report: matplotlib is not installed; install the plot extra: "
            "pip install 'lazyflow[plot]'"
        ) from exc
    return Figure, mdates


def _style(ax: Axes, mdates: Any) -> None:
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


def _cumulative(metrics: pl.DataFrame, column: str) -> list[float]:
    return metrics[column].fill_null(0.0).cum_sum().to_list()


def _nav(fig: Figure, x: list, metrics: pl.DataFrame) -> None:
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    nav = metrics["nav"]
    top.plot(x, nav.to_list(), color=_COLORS["nav"], lw=1.4, label="NAV")
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
        ("price PnL", _cumulative(metrics, "pnl"), _COLORS["price"]),
        ("funding", _cumulative(metrics, "funding_pnl"), _COLORS["funding"]),
        ("cost", [-c for c in _cumulative(metrics, "cost")], _COLORS["cost"]),
    ]
    for label, values, color in parts:
        bottom.plot(x, values, color=color, lw=1.2, label=f"{label} ({values[-1]:+,.3f})")
    bottom.axhline(0.0, color="black", lw=0.6)
    bottom.set_ylabel("cumulative, NAV units")


def _drawdown(ax: Axes, x: list, metrics: pl.DataFrame) -> None:
    dd = (metrics["drawdown"].fill_null(0.0) * 100).to_list()
    ax.fill_between(x, dd, 0.0, color=_COLORS["cost"], alpha=0.35, lw=0)
    ax.plot(x, dd, color=_COLORS["cost"], lw=0.9)
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
    ax.plot(x, metrics["gross_exposure"].to_list(), color=_COLORS["nav"], lw=1.1, label="gross")
    ax.plot(x, metrics["net_exposure"].to_list(), color="tab:orange", lw=1.1, label="net")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_ylabel("multiple of NAV")
    ax.set_title("Gross and net exposure", loc="left", fontsize=11)


def _turnover(ax: Axes, x: list, metrics: pl.DataFrame) -> None:
    turnover = metrics["turnover_pct"].fill_null(0.0) * 100
    ax.plot(x, turnover.to_list(), color="tab:gray", lw=0.6, alpha=0.7, label="per date")
    mean = turnover.rolling_mean(30, min_samples=1).to_list()
    ax.plot(x, mean, color=_COLORS["nav"], lw=1.4, label="30-date mean")
    ax.set_ylabel("% of NAV traded")
    ax.set_ylim(bottom=0)
    ax.set_title("Turnover", loc="left", fontsize=11)


def _volatility(ax: Axes, x: list, metrics: pl.DataFrame) -> None:
    fcst = (metrics["vol_forecast_a"] * 100).to_list()
    real = (metrics["vol_realized_a"] * 100).to_list()
    ax.plot(x, fcst, color=_COLORS["nav"], lw=1.2, label="forecast (annualised)")
    ax.plot(x, real, color="tab:orange", lw=1.0, label="realised, 21 dates (annualised)")
    ax.set_ylabel("volatility, % per year")
    ax.set_ylim(bottom=0)
    ax.set_title("Forecast against realised volatility", loc="left", fontsize=11)


def format_value(value: Any) -> str:
    """A statistic for display: thousands separators, 4 decimals unless integral."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() or abs(value) >= 1e6 else f"{value:,.4f}"
    return str(value)


def _table(rows: Mapping[str, Any], header: tuple[str, str]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(format_value(v))}</td></tr>"
        for k, v in rows.items()
    )
    head = f"<tr><th>{html.escape(header[0])}</th><th>{html.escape(header[1])}</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"


def _sections_html(sections: list[Section]) -> str:
    return "".join(
        f'<section><h2>{html.escape(h)}</h2><p class="note">{html.escape(note)}</p>'
        f'<img src="{src}" alt="{html.escape(h)}"></section>'
        for h, note, src in sections
    )


def _backtest_html(result: BacktestResult, sections: list[Section]) -> str:
    dropped_html = (
        _table(result.dropped, ("reason", "rows"))
        if any(result.dropped.values())
        else "<p>None.</p>"
    )
    return f"""<div class="grid">
<div><h2>Summary statistics</h2>{_table(result.summary(), ("statistic", "value"))}</div>
<div><h2>Rows dropped as untradable</h2>
<p class="note">Input rows that could not trade, each under the first check it failed,<br>
and held positions without a next price or funding rate (marked as 0).</p>{dropped_html}</div>
</div>
{_sections_html(sections)}"""


def _page(title: str, span: str, parameters: Mapping[str, Any], blocks: list[str]) -> str:
    body = "\n".join(blocks)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1120px; margin: 2em auto; color: #222;
       padding: 0 1em; }}
h1 {{ margin-bottom: 0.2em; }} h2 {{ margin-top: 1.6em; font-size: 1.2em; }}
.note {{ color: #555; margin: 0.2em 0 0.6em; }}
.grid {{ display: flex; gap: 2em; flex-wrap: wrap; align-items: flex-start; }}
table {{ border-collapse: collapse; font-size: 0.92em; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: left; }}
td {{ font-variant-numeric: tabular-nums; text-align: right; }}
td.text {{ text-align: left; font-family: ui-monospace, monospace; font-size: 0.9em; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="note">{html.escape(span)}</p>
<h2>Parameters</h2>
{_param_table(parameters)}
{body}
</body></html>
"""


def _param_table(parameters: Mapping[str, Any]) -> str:
    body = "".join(
        f'<tr><th>{html.escape(k)}</th><td class="text">{_param_html(v)}</td></tr>'
        for k, v in parameters.items()
    )
    note = '<p class="note">Stages show the parameters that differ from their defaults.</p>'
    return (note if "stages" in parameters else "") + f"<table><tbody>{body}</tbody></table>"


def _param_html(value: Any) -> str:
    """A parameter value: a table as ``k=v, ...``; a list one item per line
    (a ``{"type": ...}`` item as ``Type(k=v, ...)``)."""
    if isinstance(value, Mapping):
        items = {k: v for k, v in value.items() if k != "type"}
        text = ", ".join(f"{k}={v!r}" for k, v in items.items())
        return html.escape(f"{value['type']}({text})" if "type" in value else text)
    if isinstance(value, list | tuple):
        return "".join(f"<div>{i}. {_param_html(v)}</div>" for i, v in enumerate(value, 1))
    return html.escape(str(value))


# The factor section.

#: Per-horizon rows of the factor summary: label, metric of the tidy table, format.
FACTOR_ROWS = (
    ("IC mean", "ic_mean", "{:+.4f}"),
    ("IC std", "ic_std", "{:.4f}"),
    ("IC IR (mean / std)", "ic_ir", "{:+.3f}"),
    ("IC t-stat", "ic_tstat", "{:+.2f}"),
    ("dates with IC > 0", "ic_positive", "{:.1%}"),
    ("rank IC mean", "rank_ic_mean", "{:+.4f}"),
    ("rank IC IR", "rank_ic_ir", "{:+.3f}"),
    ("rank IC t-stat", "rank_ic_tstat", "{:+.2f}"),
    ("top - bottom, bps", "spread_bps_mean", "{:+,.1f}"),
    ("top - bottom t-stat", "spread_bps_tstat", "{:+.2f}"),
    ("top - bottom, per year", "spread_annual", "{:+.1%}"),
    ("dates with an IC", "ic_dates", "{:,.0f}"),
)
_MISSING = "n/a"
#: The IC charts' y axis covers this share of the dates (a date with few names has IC near +-1).
BULK = 0.98


def _fmt(value: float | None, spec: str) -> str:
    if value is None or not math.isfinite(value):
        return _MISSING
    return spec.format(value)


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
        (label, [_fmt(value.get((metric, h)), spec) for h in horizons])
        for label, metric, spec in FACTOR_ROWS
    ]
    turnover = summary.filter(pl.col("metric") == "turnover").sort("quantile")
    other = []
    if turnover.height:
        ends = {"top": turnover.row(-1, named=True), "bottom": turnover.row(0, named=True)}
        other = [
            (f"turnover, {end} quantile ({row['quantile']})", _fmt(row["value"], "{:.1%}"))
            for end, row in ends.items()
        ]
    autocorr = summary.filter(pl.col("metric") == "rank_autocorr")["value"]
    other.append(("rank autocorrelation", _fmt(autocorr[0] if autocorr.len() else None, "{:.4f}")))
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


def _factor_html(factor: FactorSection, sections: list[Section]) -> str:
    a = factor.analysis
    horizons, rows, other = factor_summary_rows(factor.tables.summary)
    daily = factor.tables.daily
    mask = f", rows where {a.mask} is true" if a.mask else ""
    note = (
        f"{a.score} judged against forward returns over {', '.join(map(str, horizons))} rows "
        f"of each symbol (days on a daily panel), with the quantiles of {a.quantile_col}{mask}; "
        f"{daily[a.date_col].n_unique():,} dates. IC: Pearson correlation per date; rank IC: "
        "Spearman. Top - bottom: mean forward return of the highest quantile minus the lowest. "
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
        f"<table><thead><tr><th>horizon, rows</th>{head}</tr></thead><tbody>{body}</tbody></table>"
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
{_sections_html(sections)}"""


def _factor_sections(chart: ChartFn, factor: FactorSection) -> list[Section]:
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
            "Mean forward return by quantile",
            f"Mean over dates of each {a.quantile_col} quantile's mean forward return, in basis "
            "points of the whole horizon.",
            chart(
                "factor_quantiles",
                lambda fig: _factor_quantiles(fig, tables.quantile_returns, horizons),
                height=0.4 + 2.9 * _grid(n)[0],
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


def _empty(ax: Axes, text: str) -> None:
    """Say why a panel has nothing to draw."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555")
    ax.set_yticks([])


def _factor_ic(
    fig: Figure, tables: FactorTables, horizons: list[int], window: int, date_col: str
) -> None:
    axes = fig.subplots(len(horizons), 1, sharex=True, squeeze=False)[:, 0]
    labelled = False
    for ax, h in zip(axes, horizons, strict=True):
        day = tables.daily.filter(pl.col("horizon") == h)
        x = day[date_col].to_list()
        ax.set_title(f"{h}-row forward return", loc="left", fontsize=10)
        ic = day["ic"].drop_nulls()
        if ic.len() == 0:
            ax.plot(x, [0.0] * len(x), lw=0)  # keeps the date axis
            _empty(ax, f"no IC: no date has two scored rows with a {h}-row forward return")
            continue
        lines = [
            ("IC per date", day["ic"], dict(color="tab:gray", lw=0.5, alpha=0.5)),
            (f"IC, {window}-date mean", day["ic_rolling"], dict(color=_COLORS["nav"], lw=1.4)),
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


def _factor_quantiles(fig: Figure, quantile_returns: pl.DataFrame, horizons: list[int]) -> None:
    rows, cols = _grid(len(horizons))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(horizons) :]:
        ax.remove()
    for i, (ax, h) in enumerate(zip(axes, horizons, strict=False)):
        data = quantile_returns.filter(pl.col("horizon") == h)
        ax.set_title(f"{h}-row forward return", loc="left", fontsize=10)
        ax.set_xlabel("quantile")
        if i % cols == 0:
            ax.set_ylabel("mean return, bps")
        if data.height == 0:
            _empty(ax, "no quantile has\na forward return")
            ax.set_xticks([])
            continue
        q = data["quantile"].to_list()
        bps = data["mean_bps"].to_numpy()
        colors = [_COLORS["funding"] if v >= 0 else _COLORS["cost"] for v in bps]
        ax.bar(q, bps, color=colors, width=0.75)
        ax.set_xticks(q if len(q) <= 12 else q[:: math.ceil(len(q) / 12)])
        ax.axhline(0.0, color="black", lw=0.6)


def _grid(n: int) -> tuple[int, int]:
    """Rows and columns for `n` small panels, at most three per row."""
    cols = min(n, 3)
    return math.ceil(n / cols), cols


def _factor_spread(ax: Axes, daily: pl.DataFrame, horizons: list[int], date_col: str) -> None:
    for h in horizons:
        day = daily.filter(pl.col("horizon") == h)
        pct = day["cumulative_spread"] * 100
        total = pct[-1] if pct.len() else 0.0
        dates = day["spread"].is_not_null().sum()
        label = f"{h}-row: {total:+.1f}% over {dates:,} dates with a spread"
        ax.plot(day[date_col].to_list(), pct.to_numpy(), lw=1.2, label=label)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_ylabel("cumulative top - bottom, %")
    ax.set_title("Top minus bottom quantile, cumulative", loc="left", fontsize=11)


def _factor_decay(ax: Axes, by_horizon: pl.DataFrame) -> None:
    horizons = by_horizon["horizon"].to_list()
    pos = list(range(len(horizons)))
    width = 0.38
    for offset, column, color, label in (
        (-width / 2, "ic_mean", _COLORS["nav"], "mean IC"),
        (width / 2, "rank_ic_mean", "tab:orange", "mean rank IC"),
    ):
        values = by_horizon[column].fill_nan(None).to_numpy()
        at = [p + offset for p in pos]
        bars = ax.bar(at, values, width, color=color, label=label)
        ax.bar_label(bars, labels=[_fmt(v, "{:+.3f}") for v in values], fontsize=8, padding=2)
        for x, v in zip(at, values, strict=True):
            if not math.isfinite(v):  # no bar to label: say so at zero
                ax.text(x, 0.0, _MISSING, ha="center", va="bottom", fontsize=8, color="#555")
    ax.set_xticks(pos, [str(h) for h in horizons])
    ax.set_xlim(-0.6, len(pos) - 0.4)
    ax.margins(y=0.2)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False, fontsize=9)
    ax.set_xlabel("horizon, rows of each symbol")
    ax.set_ylabel("IC")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_title("IC decay over the horizons", loc="left", fontsize=11)


# The sweep report.

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
    figure_cls, _ = _matplotlib()
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
        f"{_sections_html(sections)}<h2>Best {min(top, table.height)} configurations by "
        f"{html.escape(metric)}</h2>{_frame_table(best.select(shown))}"
    )
    path = out / "report.html"
    path.write_text(_page(title, span, parameters or {}, [block]), encoding="utf-8")
    return path


def _label(value: Any) -> str:
    """A value for display: a list as 1,10, None as none, a float to 4 significant digits."""
    if value is None:
        return "none"
    if isinstance(value, list | tuple | pl.Series):
        return ",".join(_label(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return format_value(value)


def heatmap_cells(
    table: pl.DataFrame, axes: Sequence[str], metric: str
) -> tuple[list[str], list[str], np.ndarray]:
    """The sweep heatmap's labels and cells: x labels (values of ``axes[0]``), y labels
    (values of ``axes[1]``; one empty label for one axis), both in the table's order, and
    the mean of the finite values of `metric` per (y, x) pair (nan where there are none)."""
    columns = {axis: [_label(v) for v in table[axis].to_list()] for axis in axes}
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
        ax.text(j, i, _fmt(value, "{:.3g}"), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(len(x_labels)), x_labels)
    ax.set_yticks(range(len(y_labels)), y_labels)
    ax.set_xlabel(axes[0])
    if len(axes) > 1:
        ax.set_ylabel(axes[1])
    ax.set_title(f"{metric}: mean over the other parameters", loc="left", fontsize=11)


def _frame_table(frame: pl.DataFrame) -> str:
    """A small DataFrame as an HTML table (values as `_label` shows them)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_label(v))}</td>" for v in row) + "</tr>"
        for row in frame.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
