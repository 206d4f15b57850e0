"""Loading a frame with its cost inputs, and choosing the scan: what `backtest`,
`backtest_grid` and `capacity` share.

- `prepare`: the frame loaded once (`frame.load`) with the cost models' inputs evaluated as
  expressions before the collect (the ADV's trailing mean per symbol included), the tradable
  rows, the drop counts and the cost `Rates` per row;
- `run_scan`: the notebook's weight carry with one flat fee goes through `scan.scan` +
  `scan.settle` (positions first, NAV after; the notebook's exact arithmetic); drift, per-row
  or impact costs, or one NAV per configuration through `account.walk` (the NAV in the loop).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from lazyflow.costs import Cost, Rates, evaluate, inputs
from lazyflow.portfolio.account import walk
from lazyflow.portfolio.allocator import Settings, desired_weights
from lazyflow.portfolio.frame import Panel, check_columns, load, roles, tradable_rows
from lazyflow.portfolio.scan import Rows, Scan, Settled, marks, scan, settle
from lazyflow.schema import Kind

#: Drop reason of rows whose cost inputs (spread, vol, ADV) are unusable; in
#: `BacktestResult.dropped` only when the costs read columns.
BAD_COST_INPUT = "bad_cost_input"


def column_roles(o: Mapping[str, Any]) -> dict[str, str]:
    """The numeric columns the backtest reads with options `o`, by role (`frame.roles`)."""
    cols = ("target_col", "vol_col", "spread_col", "price_col", "funding_col")
    return roles(o["include_funding"], *(o[c] for c in cols))


def cost_inputs(
    lazy: pl.LazyFrame, o: Mapping[str, Any], taken: Sequence[str] | None = None
) -> tuple[pl.LazyFrame, list[dict[str, tuple[str, pl.Expr]]]]:
    """`lazy` with the cost models' inputs of options `o` as columns (`costs.inputs`: the
    ADV's trailing mean per symbol included), named apart from `taken` (default: `lazy`'s
    columns), and their spec (per cost term, ``{name: (column, expression)}``)."""
    costs: Cost | None = o["costs"]
    if costs is None:
        return lazy, []
    if costs.columns():
        schema = lazy.collect_schema()
        check_columns(schema, dict.fromkeys(costs.columns(), Kind.NUMERIC))
        taken = list(schema) if taken is None else taken
    spec = inputs(costs, o["date_col"], o["symbol_col"], taken or [])
    exprs = {column: expr for term in spec for column, expr in term.values()}
    return (lazy.with_columns(**exprs) if exprs else lazy), spec


def prepare(
    frame: pl.DataFrame | pl.LazyFrame,
    o: Mapping[str, Any],
    spec: list[dict[str, tuple[str, pl.Expr]]] | None = None,
) -> tuple[Panel, np.ndarray, dict[str, int], Rates]:
    """Load the frame for options `o` (`backtest`'s keyword arguments) with the costs'
    inputs: the panel, its tradable rows, the drop counts and the cost rates per panel row.
    Rows whose cost inputs are unusable are not tradable (``bad_cost_input``). With `spec`
    (`cost_inputs`'), the inputs are already columns of `frame` (computed over a longer
    history, as `walk_forward`'s book needs)."""
    lazy = frame.lazy()
    costs: Cost | None = o["costs"]
    if spec is None:
        lazy, spec = cost_inputs(lazy, o)
    names = column_roles(o) | {column: column for term in spec for column, _ in term.values()}
    panel = load(lazy, o["date_col"], o["symbol_col"], names, o["tradable"])
    ok, dropped = tradable_rows(panel)
    n = len(ok)
    fee: float = o["cost_per_dollar"]
    if costs is None:
        return panel, ok, dropped, Rates(fee, None, None)
    values = [{name: panel.values[column] for name, (column, _) in term.items()} for term in spec]
    with np.errstate(all="ignore"):  # non-finite inputs are masked out by `r.ok`
        r = evaluate(costs, values, n)
    if r.ok is not None:
        dropped[BAD_COST_INPUT] = int(np.count_nonzero(ok & ~r.ok))
        ok = ok & r.ok
    return panel, ok, dropped, Rates(fee + r.linear, r.impact, r.ok)


def run_scan(
    settings: Settings,
    panel: Panel,
    ok: np.ndarray,
    rows: Rows,
    rates: Rates,
    o: Mapping[str, Any],
    init_nav: float | np.ndarray,
    keep_book: bool,
) -> tuple[Scan, Settled, np.ndarray, np.ndarray]:
    """The scan and its settlement: the notebook's weight carry with one flat rate goes
    through `scan.scan` + `scan.settle` (positions first, NAV after); drift, per-row or
    impact costs through `account.walk` (the NAV inside the loop). Also returns the desired
    weights and buffers."""
    col = rows.column
    w_desired, buffer = desired_weights(
        settings, col(rows.target), col(rows.vol), col(rows.spread), rows.bounds
    )
    progress = o["progress"]
    flat = not isinstance(rates.linear, np.ndarray) and rates.impact is None
    if flat and not o["drift"] and not isinstance(init_nav, np.ndarray):
        done = scan(settings, rows, w_desired, buffer, progress, keep_book)
        run = settle(panel, ok, rows, done, o["cost_per_dollar"], o["include_funding"], init_nav)
        return done, run, w_desired, buffer
    row_rates = Rates(*rates_at(rates, rows.index), None)
    mk = marks(panel, ok, rows, o["include_funding"])
    done, run = walk(
        settings, rows, mk, w_desired, buffer, row_rates, init_nav, o["drift"], progress, keep_book
    )
    return done, run, w_desired, buffer


def rates_at(rates: Rates, index: np.ndarray) -> tuple[float | np.ndarray, np.ndarray | None]:
    linear = rates.linear[index] if isinstance(rates.linear, np.ndarray) else rates.linear
    return linear, None if rates.impact is None else rates.impact[index]


def row_cost(weight: np.ndarray, nav: np.ndarray, linear, impact) -> np.ndarray:
    """Dollars paid for trading |weight| of `nav` at the given rates."""
    traded = np.abs(weight) * nav
    cost = traded * linear
    return cost if impact is None else cost + traded * impact * np.sqrt(traded)
