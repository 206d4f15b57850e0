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

from lazyflow.portfolio.allocator import Settings, rebalance_step, segment_norm, segment_sums

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


class Marks(NamedTuple):
    """Where each book row is marked at t+1, before any position is known (``(n_book,)``
    each): `p0` (close at t), `p1` (close at t+1, or p0 without a finite, positive one),
    `price_next` (p1 is a real price), `f1` (funding at t+1, nan when missing; None without
    funding) and `will_exit` (the symbol is not tradable at t+1 and t+1 is a rebalance date:
    a position held into t+1 is closed there)."""

    p0: np.ndarray
    p1: np.ndarray
    price_next: np.ndarray
    f1: np.ndarray | None
    will_exit: np.ndarray


def marks(panel: Panel, ok: np.ndarray, rows: Rows, include_funding: bool) -> Marks:
    """`Marks` of the book rows: each is matched to the symbol's row at t+1 (tradable or not)."""
    n_book = rows.n_book
    nxt = find(panel.key, panel.key[rows.index[:n_book]] + len(panel.symbols))  # row at t+1
    has_next = nxt >= 0
    price_next = has_next & panel.price_ok[nxt]
    p0 = rows.close[:n_book]
    p1 = np.where(price_next, panel.values["close"][nxt], p0)
    f1 = np.where(has_next, panel.values["funding"][nxt], np.nan) if include_funding else None
    will_exit = ~(has_next & ok[nxt]) & (rows.day[:n_book] + 1 < rows.n_reb)
    return Marks(p0, p1, price_next, f1, will_exit)


class Settled(NamedTuple):
    """The scan marked to t+1, with the NAV recursion done.

    Per book row (``(n_book, *width)`` unless noted): `move` and `fund_move` (price and
    funding PnL as fractions of NAV; `fund_move` None without funding), `closed` (held, and
    forced out at t+1), `x_exit` (the weight closed at t+1 where `closed`), and ``(n_book,)``
    vectors `p0`, `p1` (close at t, at t+1 or t when missing), `f1` (funding at t+1, nan when
    missing; None without funding). Per rebalance date (``(n_reb, *width)``): nav_before (NAV
    before the date's cost), nav, cost, pnl, fund, turnover (sum |trade| with forced exits,
    fractions of NAV), gross, net and vol_d (the book's forecast daily vol), all 0 once the
    book has ended (nav_before 0). Per configuration: the counts `no_next_price` and
    `no_next_funding` of held rows, and `init_nav`.
    """

    p0: np.ndarray
    p1: np.ndarray
    f1: np.ndarray | None
    move: np.ndarray
    fund_move: np.ndarray | None
    closed: np.ndarray
    x_exit: np.ndarray
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
    init_nav: float | np.ndarray

    def metrics(self, periods_per_year: float) -> dict[str, np.ndarray]:
        """The per-date metrics (``(n_reb, *width)`` each) but the date and realised vol.

        The running high starts at init_nav (DESIGN difference 9): ``nav_high =
        max(init_nav, max nav up to t)``, ``drawdown = nav / nav_high - 1``. A date that
        starts with NAV 0 (the book has ended) has a daily return of 0."""
        nav, nav_before = self.nav, self.nav_before
        nav_high = np.maximum.accumulate(np.maximum(nav, self.init_nav), axis=0)
        alive = nav_before > 0
        daily_return = np.where(alive, (nav - nav_before) / np.where(alive, nav_before, 1.0), 0.0)
        return {
            "nav": nav,
            "daily_return": daily_return,
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


def floor_nav(nav: float | np.ndarray) -> float | np.ndarray:
    """A NAV at or below 0 ends the book: it becomes 0 (NaN stays NaN)."""
    if isinstance(nav, np.ndarray):
        return np.where(nav <= 0.0, 0.0, nav)
    return 0.0 if nav <= 0.0 else nav


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
    order), ``cost = turnover * nav * cost_per_dollar``; a NAV at or below 0 becomes 0 and
    stays there (`floor_nav`)."""
    n_reb, col = rows.n_reb, rows.column
    book_bounds = rows.bounds[: n_reb + 1]
    mk = marks(panel, ok, rows, include_funding)
    x_new = result.x_new
    move = x_new * (col(mk.p1) - col(mk.p0)) / col(mk.p0)
    growth = segment_sums(move, book_bounds)
    carry = np.zeros((n_reb, *rows.width))
    if mk.f1 is not None:
        carry = segment_sums(x_new * col(np.where(np.isfinite(mk.f1), mk.f1, 0.0)), book_bounds)
    turnover = segment_sums(np.abs(result.trade_final), book_bounds)
    turnover += _exit_turnover(rows, mk, x_new, x_new)

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
        level = floor_nav(level - cost[i] + pnl[i] + fund[i])
        nav[i] = level
    return finish(rows, mk, result, x_new, (nav_before, nav, cost, pnl, fund, turnover), init_nav)


def _exit_turnover(rows: Rows, mk: Marks, x_new: np.ndarray, x_exit: np.ndarray) -> np.ndarray:
    """Per rebalance date, sum |x_exit| of the positions closed there (held the date before
    and `will_exit`), summed apart in row order."""
    n_book = rows.n_book
    closed = (x_new != 0.0) & rows.column(mk.will_exit)
    out = np.zeros((rows.n_reb, *rows.width))
    at = np.nonzero(closed)
    np.add.at(out, (rows.day[:n_book][at[0]] + 1, *at[1:]), np.abs(x_exit[at]))
    return out


def finish(
    rows: Rows,
    mk: Marks,
    result: Scan,
    x_exit: np.ndarray,
    walked: tuple[np.ndarray, ...],
    init_nav: float | np.ndarray,
) -> Settled:
    """`Settled` from the scan, its marks and the walked NAV arrays ``(nav_before, nav, cost,
    pnl, fund, turnover)``; turnover, exposure and vol are 0 on dates with NAV 0."""
    n_reb, n_book, col = rows.n_reb, rows.n_book, rows.column
    book_bounds = rows.bounds[: n_reb + 1]
    nav_before, nav, cost, pnl, fund, turnover = walked
    x_new = result.x_new
    is_held = x_new != 0.0
    move = x_new * (col(mk.p1) - col(mk.p0)) / col(mk.p0)
    fund_move, no_next_funding = None, np.zeros(rows.width, dtype=np.int64)
    if mk.f1 is not None:
        fund_ok = np.isfinite(mk.f1)
        no_next_funding = np.count_nonzero(is_held & ~col(fund_ok), axis=0)
        fund_move = x_new * col(np.where(fund_ok, mk.f1, 0.0))
    vol = col(rows.vol[:n_book])
    alive = nav_before > 0
    return Settled(
        p0=mk.p0,
        p1=mk.p1,
        f1=mk.f1,
        move=move,
        fund_move=fund_move,
        closed=is_held & col(mk.will_exit),
        x_exit=x_exit,
        no_next_price=np.count_nonzero(is_held & ~col(mk.price_next), axis=0),
        no_next_funding=no_next_funding,
        nav_before=nav_before,
        nav=nav,
        cost=cost,
        pnl=pnl,
        fund=fund,
        turnover=np.where(alive, turnover, 0.0),
        gross=np.where(alive, segment_sums(np.abs(x_new), book_bounds), 0.0),
        net=np.where(alive, segment_sums(x_new, book_bounds), 0.0),
        vol_d=np.where(alive, segment_norm(x_new, vol, book_bounds), 0.0),
        init_nav=init_nav,
    )
