"""The account walk: the scan with the NAV inside the loop, for drifting holdings and for costs
that are not one flat rate.

`scan.scan` + `scan.settle` walk the weights first and the NAV after, which is exact when the
weights do not depend on the NAV (the notebook's weight carry) and the cost is one rate per
traded dollar. `walk` is the general account, one pass over the dates:

* ``drift=True``: the book carries coin quantities. Date t's ``coin_qty = x_new * NAV_t /
  close_t``; date t+1 starts from ``x_prev = coin_qty * close_{t+1} / NAV_{t+1}`` (NAV_{t+1}
  before that date's cost), i.e. ``x_new * (close_{t+1} / close_t) * NAV_t / NAV_{t+1}``. So
  the allocator trades the drift back to target, and that trade is costed, counted in the
  turnover and capped by the turnover cap. A position closed at t+1 (the symbol stopped being
  tradable) is closed at its drifted weight, at its own close of t+1.
* costs: a row's cost is ``T * (linear + impact * sqrt(T))`` dollars for ``T = |trade| *
  NAV_t`` traded dollars (`lazyflow.costs.Rates`), forced exits at the rates of the symbol's
  last tradable row. With an impact cost the cost depends on the NAV, so the NAV is needed
  inside the loop even with ``drift=False``.
* A NAV at or below 0 ends the book (`scan.floor_nav`): NAV 0 from then on, no position.

Each date adds a handful of vector operations over that date's rows to the scan's step (two
dot products for PnL and funding, one or two for the cost, one product for the drift): no
extra pass over the frame. With a grid (``rows.width == (K,)``) the same code carries
``(n, K)`` positions and a NAV per configuration; `init_nav` may then be one per
configuration (the capacity curve: one allocator at K starting NAVs).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lazyflow.costs import Rates
from lazyflow.portfolio.allocator import Settings, rebalance_step, segment_sums
from lazyflow.portfolio.scan import Marks, Rows, Scan, Settled, _exit_turnover, finish, floor_nav


def _ratio(level: float | np.ndarray, nav: float | np.ndarray) -> float | np.ndarray:
    """level / nav, 0 where nav is 0 (the book has ended)."""
    if isinstance(nav, np.ndarray):
        out = np.zeros(np.broadcast(level, nav).shape)
        return np.divide(level, nav, out=out, where=nav > 0)
    return level / nav if nav > 0 else 0.0


def walk(
    s: Settings,
    rows: Rows,
    mk: Marks,
    w_desired: np.ndarray,
    buffer: np.ndarray,
    rates: Rates,
    init_nav: float | np.ndarray,
    drift: bool,
    progress: Callable[[int, int], None] | None,
    keep_book: bool,
) -> tuple[Scan, Settled]:
    """The scan and the NAV in one pass (see the module docstring); `rates` are per tradable
    row (aligned with `rows`)."""
    n_reb, n_book, width, col = rows.n_reb, rows.n_book, rows.width, rows.column
    shape = (n_book, *width)
    x_new, trade_final = np.empty(shape), np.empty(shape)
    x_carry = np.zeros((n_book + 1, *width))  # what each row's position is worth at t+1
    kept = shape if keep_book else (0, *width)
    x_prev, trade = np.empty(kept), np.empty(kept)
    prev_row = rows.prev[:n_book]
    is_new = col(prev_row < 0)
    starts = rows.bounds.tolist()

    # per book row, before the loop: price move and funding as one (2, rows) array, so that
    # one product per date gives both sums
    p0, p1 = mk.p0, mk.p1
    funding = np.zeros(n_book) if mk.f1 is None else np.where(np.isfinite(mk.f1), mk.f1, 0.0)
    marks_t = np.stack([(p1 - p0) / p0, funding])
    growth = col(p1 / p0)
    linear, impact = rates.linear, rates.impact
    flat = not isinstance(linear, np.ndarray)
    linear_book = linear if flat else linear[:n_book]
    impact_book = None if impact is None else impact[:n_book]
    exiting = mk.will_exit.astype(float)
    exit_linear = exiting if flat else linear_book * exiting  # times `linear` when flat
    exit_impact = None if impact_book is None else impact_book * exiting
    exits_after = np.zeros(n_reb + 1, dtype=bool)  # date i closes rows of date i-1
    exits_after[rows.day[:n_book][mk.will_exit] + 1] = True

    record = []  # per date: nav_before, nav, cost, pnl, fund
    level: float | np.ndarray = (
        np.broadcast_to(np.asarray(init_nav, float), width).copy() if width else float(init_nav)
    )
    step = max(1, -(-n_reb // 100))
    for i in range(n_reb):
        a, b = starts[i], starts[i + 1]
        prev = x_carry[prev_row[a:b]]
        out = rebalance_step(s, prev, is_new[a:b], w_desired[a:b], buffer[a:b])
        xn, tf = out.x_new, out.trade_final
        x_new[a:b], trade_final[a:b] = xn, tf
        if keep_book:
            x_prev[a:b], trade[a:b] = prev, out.trade
        traded = np.abs(tf)
        frac = linear * traded.sum(axis=0) if flat else linear_book[a:b] @ traded
        if impact_book is not None:
            frac = frac + impact_book[a:b] @ (traded * np.sqrt(traded * level))
        if exits_after[i]:
            pa = starts[i - 1]
            held = np.abs(x_carry[pa:a])
            closing = exit_linear[pa:a] @ held
            frac = frac + (linear * closing if flat else closing)
            if exit_impact is not None:
                frac = frac + exit_impact[pa:a] @ (held * np.sqrt(held * level))
        g, f = marks_t[:, a:b] @ xn
        paid, gained, funded = level * frac, level * g, -level * f
        after = floor_nav(level - paid + gained + funded)
        record.append((level, after, paid, gained, funded))
        if drift:
            x_carry[a:b] = xn * (growth[a:b] * _ratio(level, after))
        else:
            x_carry[a:b] = xn
        level = after
        if progress is not None and ((i + 1) % step == 0 or i + 1 == n_reb):
            progress(i + 1, n_reb)

    table = np.array(record, dtype=float).reshape(n_reb, 5, *width)
    walked = [table[:, k] for k in range(5)]
    done = Scan(x_prev, trade, x_new, trade_final)
    x_exit = x_carry[:n_book]
    turnover = _turnover(rows, trade_final) + _exit_turnover(rows, mk, x_new, x_exit)
    return done, finish(rows, mk, done, x_exit, (*walked, turnover), init_nav)


def _turnover(rows: Rows, trade_final: np.ndarray) -> np.ndarray:
    return segment_sums(np.abs(trade_final), rows.bounds[: rows.n_reb + 1])
