"""HTML of the report pages: the page shell, tables and value formatting."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from lazyflow.report.charts import Section


def format_value(value: Any) -> str:
    """A statistic for display: thousands separators, 4 decimals unless integral."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() or abs(value) >= 1e6 else f"{value:,.4f}"
    return str(value)


def stats_table(rows: Mapping[str, Any], header: tuple[str, str]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(format_value(v))}</td></tr>"
        for k, v in rows.items()
    )
    head = f"<tr><th>{html.escape(header[0])}</th><th>{html.escape(header[1])}</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"


def sections_html(sections: list[Section]) -> str:
    return "".join(
        f'<section><h2>{html.escape(h)}</h2><p class="note">{html.escape(note)}</p>'
        f'<img src="{src}" alt="{html.escape(h)}"></section>'
        for h, note, src in sections
    )


def page(title: str, span: str, parameters: Mapping[str, Any], blocks: list[str]) -> str:
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
{param_table(parameters)}
{body}
</body></html>
"""


def param_table(parameters: Mapping[str, Any]) -> str:
    body = "".join(
        f'<tr><th>{html.escape(k)}</th><td class="text">{param_html(v)}</td></tr>'
        for k, v in parameters.items()
    )
    note = '<p class="note">Stages show the parameters that differ from their defaults.</p>'
    return (note if "stages" in parameters else "") + f"<table><tbody>{body}</tbody></table>"


def param_html(value: Any) -> str:
    """A parameter value: a table as ``k=v, ...``; a list one item per line
    (a ``{"type": ...}`` item as ``Type(k=v, ...)``)."""
    if isinstance(value, Mapping):
        items = {k: v for k, v in value.items() if k != "type"}
        text = ", ".join(f"{k}={v!r}" for k, v in items.items())
        return html.escape(f"{value['type']}({text})" if "type" in value else text)
    if isinstance(value, list | tuple):
        return "".join(f"<div>{i}. {param_html(v)}</div>" for i, v in enumerate(value, 1))
    return html.escape(str(value))


MISSING = "n/a"


def fmt(value: float | None, spec: str) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return spec.format(value)


def label(value: Any) -> str:
    """A value for display: a list as 1,10, None as none, a float to 4 significant digits."""
    if value is None:
        return "none"
    if isinstance(value, list | tuple | pl.Series):
        return ",".join(label(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return format_value(value)


def frame_table(frame: pl.DataFrame) -> str:
    """A small DataFrame as an HTML table (values as `label` shows them)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(label(v))}</td>" for v in row) + "</tr>"
        for row in frame.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
