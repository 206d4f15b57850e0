"""Statistics formatted for people: percentages where they are fractions, units in labels.

One table of formats (`STATS`) serves the report's summary table and the CLI's printed
summary, so both read the same: ``total_return 8.2893`` reads ``+828.9%``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lazyflow.report.page import format_value

#: Per statistic: its label (with the unit when the value does not show one) and its kind:
#: ``pct`` (a fraction as a percentage), ``signed`` (the same with a sign), ``ratio``,
#: ``multiple`` (of NAV), ``nav`` (NAV units) or ``count``.
STATS: dict[str, tuple[str, str]] = {
    "total_return": ("total return", "signed"),
    "cagr": ("CAGR", "signed"),
    "ann_vol": ("volatility, annualised", "pct"),
    "sharpe": ("Sharpe ratio, annualised", "ratio"),
    "sortino": ("Sortino ratio, annualised", "ratio"),
    "max_drawdown": ("max drawdown", "signed"),
    "calmar": ("Calmar ratio", "ratio"),
    "avg_turnover": ("turnover per date, of NAV", "pct"),
    "avg_gross": ("gross exposure, mean", "multiple"),
    "avg_net": ("net exposure, mean", "multiple"),
    "total_cost": ("cost, total in NAV units", "nav"),
    "total_funding": ("funding, total in NAV units", "nav"),
    "annual_cost": ("cost per year, of NAV", "pct"),
    "annual_funding": ("funding per year, of NAV", "signed"),
    "n_days": ("dates", "count"),
}


def format_number(value: Any, kind: str) -> str:
    """`value` as `kind` (see `STATS`); ``n/a`` for None or nan, ``+inf``/``-inf`` for
    infinities. Percentages keep one decimal, two below 1%."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    if kind in ("pct", "signed"):
        pct = value * 100
        digits = 2 if abs(pct) < 1 else 1
        return f"{pct:{'+' if kind == 'signed' else ''},.{digits}f}%"
    if kind == "ratio":
        return f"{value:,.2f}"
    if kind == "multiple":
        return f"{value:,.2f}x"
    if kind == "nav":
        return f"{value:+,.4f}"
    if kind == "count":
        return f"{value:,.0f}"
    raise ValueError(f"format_number: unknown kind {kind!r}")


def format_stat(name: str, value: Any) -> str:
    """A statistic of `STATS` formatted for display; any other as `page.format_value`."""
    if name in STATS:
        return format_number(value, STATS[name][1])
    return format_value(value)


def stat_label(name: str) -> str:
    """The statistic's label (its name when `STATS` does not know it)."""
    return STATS[name][0] if name in STATS else name


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The summary as aligned text lines, ``label  value`` (the CLI's printout)."""
    labels = {k: stat_label(k) for k in summary}
    width = max((len(v) for v in labels.values()), default=0)
    return [f"{labels[k]:<{width}}  {format_stat(k, v):>10}" for k, v in summary.items()]
