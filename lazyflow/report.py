"""A static HTML tear sheet of a backtest, with PNG charts drawn by matplotlib (Agg).

matplotlib is the optional ``plot`` extra (``pip install 'lazyflow[plot]'``); it is
imported only when a report is written, and charts are drawn on bare `Figure`
objects with the Agg canvas, so no global pyplot backend is touched.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from lazyflow.errors import LazyflowError
from lazyflow.portfolio import BacktestResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Folder, next to report.html, that holds the charts.
FILES_DIR = "report_files"
_COLORS = {"nav": "#1f3b73", "price": "#2a7ab0", "funding": "#3c9d5d", "cost": "#c0392b"}


def write_report(
    out_dir: str | Path,
    frame: pl.DataFrame,
    result: BacktestResult,
    title: str = "lazyflow backtest",
    parameters: Mapping[str, Any] | None = None,
    universe_col: str = "is_universe",
    date_col: str = "date",
) -> Path:
    """Write ``out_dir/report.html`` and its charts in ``out_dir/report_files/``; return the path.

    `frame` is the signals frame (for the universe-size chart, drawn when it has
    `universe_col`); `parameters` (plain data, e.g. `RunConfig.parameters()`) are shown as
    the run's settings, by default the allocator's and backtest's (`result.params()`).
    """
    figure_cls, dates = _matplotlib()
    out = Path(out_dir)
    (out / FILES_DIR).mkdir(parents=True, exist_ok=True)
    metrics = result.metrics.sort("date")
    if metrics.height == 0:
        raise LazyflowError("write_report: the backtest has no dates; nothing to report")
    x = metrics["date"].to_list()

    def chart(name: str, draw: Callable[[Figure], None], height: float = 3.4) -> str:
        fig = figure_cls(figsize=(10, height), dpi=110, layout="constrained")
        draw(fig)
        for ax in fig.axes:
            _style(ax, dates)
        path = out / FILES_DIR / f"{name}.png"
        fig.savefig(path)
        return f"{FILES_DIR}/{name}.png"

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
    params = parameters if parameters is not None else {"backtest": result.params()}
    page = _page(title, metrics, frame, result, params, sections, date_col)
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


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
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(x=0.01)
    if ax.get_legend_handles_labels()[0]:
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


def _page(
    title: str,
    metrics: pl.DataFrame,
    frame: pl.DataFrame,
    result: BacktestResult,
    parameters: Mapping[str, Any],
    sections: list[tuple[str, str, str]],
    date_col: str,
) -> str:
    first, last = metrics["date"].min(), metrics["date"].max()
    n_symbols = frame["symbol"].n_unique() if "symbol" in frame.columns else "?"
    span = (
        f"Backtest from {first} to {last}: {metrics.height:,} rebalancing dates; "
        f"signals frame of {frame.height:,} rows and {n_symbols} symbols."
    )
    dropped_html = (
        _table(result.dropped, ("reason", "rows"))
        if any(result.dropped.values())
        else "<p>None.</p>"
    )
    charts = "".join(
        f'<section><h2>{html.escape(h)}</h2><p class="note">{html.escape(note)}</p>'
        f'<img src="{src}" alt="{html.escape(h)}"></section>'
        for h, note, src in sections
    )
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
<div class="grid">
<div><h2>Summary statistics</h2>{_table(result.summary(), ("statistic", "value"))}</div>
<div><h2>Rows dropped as untradable</h2>
<p class="note">Input rows that could not trade, each under the first check it failed,<br>
and held positions without a next price or funding rate (marked as 0).</p>{dropped_html}</div>
</div>
{charts}
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
