"""The backtest's walk over the dates and its marking to the next date, for one allocator or
for many at once.

One allocator's positions are a vector indexed by symbol code; a grid of K allocators
(`allocator.grid_settings`) carries a ``(symbols, K)`` array through the same single pass
over the dates, every per-date step broadcasting over the configuration axis. Everything
after the scan (marking to t+1, funding, forced exits, turnover, the NAV recursion, the
per-date sums) is computed once over the whole frame, with a trailing configuration axis for
a grid. A row's vector (prices, vol) is shaped ``(n,)`` for one allocator and ``(n, 1)`` for
a grid (`Rows.column`), so the one code path serves both and one allocator's numbers are
exactly those of the 1-D arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from lazyflow.portfolio.allocator import Settings, rebalance_step, segment_sums

if TYPE_CHECKING:
    from lazyflow.portfolio.frame import Panel


def find(keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The position of each query in `keys` (sorted, distinct integers), -1 where it is absent."""
    if not len(keys):
        return np.full(len(queries), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    return np.where(keys[at] == queries, at, -1)


class Rows(NamedTuple):
    """The tradable rows of a panel in (date, symbol) order, and the shape of a grid."""

    index: np.ndarray  # positions of the tradable rows in the panel
    day: np.ndarray
    code: np.ndarray
    bounds: np.ndarray  # date i's tradable rows are index[bounds[i]:bounds[i+1]]
    prev: np.ndarray  # the row of the same symbol on the previous date (-1: none, it is new)
    target: np.ndarray
    vol: np.ndarray
    spread: np.ndarray
    close: np.ndarray
    width: tuple[int, ...]  # () for one allocator, (K,) for a grid of K

    @classmethod
    def of(cls, panel: Panel, ok: np.ndarray, width: tuple[int, ...]) -> Rows:
        index = np.flatnonzero(ok)
        day, code, key = panel.day[index], panel.code[index], panel.key[index]
        bounds = np.searchsorted(day, np.arange(len(panel.dates) + 1))
        prev = find(key, key - len(panel.symbols))
        values = (panel.values[k][index] for k in ("target", "vol", "spread", "close"))
        return cls(index, day, code, bounds, prev, *values, width)

    @property
    def n_reb(self) -> int:
        """Rebalance dates: every date but the last."""
        return len(self.bounds) - 2

    @property
    def n_book(self) -> int:
        """Tradable rows on rebalance dates (the book's rows before forced exits)."""
        return int(self.bounds[self.n_reb])

    def column(self, values: np.ndarray) -> np.ndarray:
        """A per-row vector shaped to broadcast against ``(rows, *width)``."""
        return values if not self.width else values[:, None]


class Scan(NamedTuple):
    """Per book row (``(n_book, *width)``): the positions before and after and the trades."""

    x_prev: np.ndarray  # empty unless `keep_book`
    trade: np.ndarray  # empty unless `keep_book`
    x_new: np.ndarray
    trade_final: np.ndarray


def scan(
    s: Settings,
    rows: Rows,
    w_desired: np.ndarray,
    buffer: np.ndarray,
    progress: Callable[[int, int], None] | None,
    keep_book: bool,
) -> Scan:
    """The per-date loop over rebalance dates (all but the last).

    Date i's outputs fill the slice bounds[i]:bounds[i+1] of preallocated arrays. A row's
    previous position is the new position of the symbol's row on the previous date
    (`Rows.prev`); a symbol not tradable yesterday is new and starts from 0 (had it been held,
    it was closed): its `prev` (-1) reads the extra last row of `x_new`, which stays 0.
    """
    n_reb, n_book = rows.n_reb, rows.n_book
    shape = (n_book, *rows.width)
    x_new, trade_final = np.zeros((n_book + 1, *rows.width)), np.empty(shape)
    kept = shape if keep_book else (0, *rows.width)
    x_prev, trade = np.empty(kept), np.empty(kept)
    prev_row = rows.prev[:n_book]
    is_new = rows.column(prev_row < 0)
    starts = rows.bounds.tolist()
    step = max(1, -(-n_reb // 100))
    for i in range(n_reb):
        a, b = starts[i], starts[i + 1]
        prev = x_new[prev_row[a:b]]
        out = rebalance_step(s, prev, is_new[a:b], w_desired[a:b], buffer[a:b])
        x_new[a:b], trade_final[a:b] = out.x_new, out.trade_final
        if keep_book:
            x_prev[a:b], trade[a:b] = prev, out.trade
        if progress is not None and ((i + 1) % step == 0 or i + 1 == n_reb):
            progress(i + 1, n_reb)
    return Scan(x_prev, trade, x_new[:n_book], trade_final)


class Settled(NamedTuple):
    """The scan marked to t+1, with the NAV recursion done.

    Per book row (``(n_book, *width)`` unless noted): `move` and `fund_move` (price and
    funding PnL as fractions of NAV; `fund_move` None without funding), `closed` (held, and
    forced out at t+1), and ``(n_book,)`` vectors `p0`, `p1` (close at t, at t+1 or t when
    missing), `f1` (funding at t+1, nan when missing; None without funding). Per rebalance
    date (``(n_reb, *width)``): nav_before (NAV before the date's cost), nav, cost, pnl, fund,
    turnover (sum |trade| with forced exits, fractions of NAV), gross, net and vol_d (the
    book's forecast daily vol). Per configuration: the counts `no_next_price` and
    `no_next_funding` of held rows.
    """

    p0: np.ndarray
    p1: np.ndarray
    f1: np.ndarray | None
    move: np.ndarray
    fund_move: np.ndarray | None
    closed: np.ndarray
    no_next_price: np.ndarray
    no_next_funding: np.ndarray
    nav_before: np.ndarray
    nav: np.ndarray
    cost: np.ndarray
    pnl: np.ndarray
    fund: np.ndarray
    turnover: np.ndarray
    gross: np.ndarray
    net: np.ndarray
    vol_d: np.ndarray

    def metrics(self, periods_per_year: float) -> dict[str, np.ndarray]:
        """The per-date metrics (``(n_reb, *width)`` each) but the date and realised vol."""
        nav, nav_before = self.nav, self.nav_before
        nav_high = np.maximum.accumulate(nav, axis=0)
        return {
            "nav": nav,
            "daily_return": (nav - nav_before) / nav_before,
            "pnl": self.pnl,
            "funding_pnl": self.fund,
            "cost": self.cost,
            "turnover_pct": self.turnover,
            "turnover_dollar": self.turnover * nav_before,
            "gross_exposure": self.gross,
            "net_exposure": self.net,
            "vol_forecast_d": self.vol_d,
            "vol_forecast_a": self.vol_d * math.sqrt(periods_per_year),
            "nav_high": nav_high,
            "drawdown": nav / nav_high - 1.0,
        }


def settle(
    panel: Panel,
    ok: np.ndarray,
    rows: Rows,
    result: Scan,
    cost_per_dollar: float,
    include_funding: bool,
    init_nav: float,
) -> Settled:
    """Mark each book row to the symbol's row at t+1 (tradable or not), add funding and forced
    exits, and walk the NAV: ``nav_t = nav_{t-1} - cost + pnl + funding_pnl`` (the notebook's
    order), ``cost = turnover * nav * cost_per_dollar``."""
    n_reb, n_book, col = rows.n_reb, rows.n_book, rows.column
    book_day, x_new = rows.day[:n_book], result.x_new
    book_bounds = rows.bounds[: n_reb + 1]
    nxt = find(panel.key, panel.key[rows.index[:n_book]] + len(panel.symbols))  # row at t+1
    has_next = nxt >= 0
    price_next = has_next & panel.price_ok[nxt]
    p0 = rows.close[:n_book]
    p1 = np.where(price_next, panel.values["close"][nxt], p0)
    is_held = x_new != 0.0
    no_next_price = np.count_nonzero(is_held & ~col(price_next), axis=0)
    move = x_new * (col(p1) - col(p0)) / col(p0)
    growth = segment_sums(move, book_bounds)
    carry = np.zeros((n_reb, *rows.width))
    no_next_funding = np.zeros(rows.width, dtype=np.int64)
    f1 = fund_move = None
    if include_funding:
        f1 = np.where(has_next, panel.values["funding"][nxt], np.nan)
        fund_ok = np.isfinite(f1)
        no_next_funding = np.count_nonzero(is_held & ~col(fund_ok), axis=0)
        fund_move = x_new * col(np.where(fund_ok, f1, 0.0))
        carry = segment_sums(fund_move, book_bounds)

    # Forced exits: held at t, not tradable at t+1 (a rebalance date, so not the last one).
    closed = is_held & col(~(has_next & ok[nxt]) & (book_day + 1 < n_reb))
    turnover = segment_sums(np.abs(result.trade_final), book_bounds)
    exit_turnover = np.zeros_like(turnover)  # summed apart, in row order, then added
    at = np.nonzero(closed)
    np.add.at(exit_turnover, (book_day[at[0]] + 1, *at[1:]), np.abs(x_new[at]))
    turnover += exit_turnover

    nav_before, nav, cost, pnl, fund = (np.empty((n_reb, *rows.width)) for _ in range(5))
    level = np.full(rows.width, float(init_nav)) if rows.width else float(init_nav)
    steps = (turnover, growth, carry)
    for i, (turn, g, f) in enumerate(
        zip(*(steps if rows.width else [a.tolist() for a in steps]), strict=True)
    ):
        nav_before[i] = level
        cost[i] = turn * level * cost_per_dollar
        pnl[i] = level * g
        fund[i] = -level * f
        level = level - cost[i] + pnl[i] + fund[i]
        nav[i] = level
    vol = col(rows.vol[:n_book])
    return Settled(
        p0=p0,
        p1=p1,
        f1=f1,
        move=move,
        fund_move=fund_move,
        closed=closed,
        no_next_price=no_next_price,
        no_next_funding=no_next_funding,
        nav_before=nav_before,
        nav=nav,
        cost=cost,
        pnl=pnl,
        fund=fund,
        turnover=turnover,
        gross=segment_sums(np.abs(x_new), book_bounds),
        net=segment_sums(x_new, book_bounds),
        vol_d=np.sqrt(segment_sums(x_new**2 * vol**2, book_bounds)),
    )
