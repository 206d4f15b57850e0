"""`BufferedAllocator`: the notebook's buffered mean-variance allocator as numpy vector steps.

One date's arithmetic, in the notebook's order (weights are fractions of NAV):

1. ``w_raw = target / vol``                          (vol: per-period volatility forecast)
2. ``w = w_raw / sum|w_raw|``                        (w = 0 on a date where every w_raw is 0)
3. optional vol target: ``w *= (vol_target / sqrt(periods_per_year)) / sqrt(sum w^2 vol^2)``
4. ``buffer = gamma_cost * spread / (lambda_risk * vol^2)``
5. ``delta = w - x_prev``; ``trade = 0`` if ``|delta| <= buffer``, else
   ``sign(delta) * (|delta| - buffer)`` (trade to the buffer's edge)
6. a new symbol opens to ``w`` in full when ``ignore_open``
7. ``x = clip(x_prev + trade, -max_pos, max_pos)``
8. ``x *= gross_cap / sum|x|`` when ``sum|x| > gross_cap``
9. ``trade_final = x - x_prev``; when ``sum|trade_final| > turnover_cap`` every trade is scaled
   by ``turnover_cap / sum|trade_final|`` and ``x_new = x_prev + trade_final`` (the notebook
   rebuilt ``x_new`` from the unscaled trade, so its cap never moved the positions).

Steps 1-4 do not depend on the book, so `desired` does them for many dates at once (the
backtest calls it once over the whole frame); steps 5-9 (`rebalance`) are the per-date scan
step. Both are written once, as `desired_weights` and `rebalance_step` over a `Settings`: one
allocator's parameters as numbers (`BufferedAllocator.settings`), or many allocators' as
arrays with one entry per configuration (`grid_settings`). With a grid, per-symbol vectors
are shaped ``(n, 1)`` and weights, buffers and positions ``(n, configurations)``: the steps
use only element-wise operations that broadcast and sums over axis 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from lazyflow.errors import ConfigError
from lazyflow.numbers import finite_number

_TINY = float(np.finfo(np.float64).tiny)


class Desired(NamedTuple):
    """Steps 1-4: the desired weight and the no-trade buffer of each row."""

    w_desired: np.ndarray
    buffer: np.ndarray


class Trades(NamedTuple):
    """Steps 5-9 for one date: the buffered trade, the new weights and the final trades."""

    delta: np.ndarray
    trade: np.ndarray
    x_new: np.ndarray
    trade_final: np.ndarray


def segment_sums(values: np.ndarray, bounds: np.ndarray | None) -> np.ndarray:
    """Sums over axis 0 of the row segments ``[bounds[i], bounds[i+1])``; empty segments sum to 0.

    `bounds` is non-decreasing and ends at ``len(values)``; ``bounds=None`` means one segment
    holding every row (the result is then a plain sum).
    """
    if bounds is None:
        return values.sum(axis=0)
    starts = bounds[:-1]
    filled = starts < bounds[1:]
    sums = np.zeros((len(starts), *values.shape[1:]))
    if filled.any():
        sums[filled] = np.add.reduceat(values, starts[filled], axis=0)
    return sums


def segment_max(values: np.ndarray, bounds: np.ndarray | None, empty: float) -> np.ndarray:
    """Maxima over axis 0 of the row segments (as `segment_sums`); `empty` for an empty one."""
    if bounds is None:
        return values.max(axis=0, initial=empty)
    starts = bounds[:-1]
    filled = starts < bounds[1:]
    out = np.full((len(starts), *values.shape[1:]), empty, dtype=values.dtype)
    if filled.any():
        out[filled] = np.maximum.reduceat(values, starts[filled], axis=0)
    return out


def segment_norm(x: np.ndarray, vol: np.ndarray, bounds: np.ndarray | None) -> np.ndarray:
    """Per segment ``sqrt(sum x^2 vol^2)``. Where the squares overflow or underflow into a
    non-finite sum (weights of 1e300, vols of 1e200), the same norm scaled by the segment's
    largest ``|x vol|``, so that it stays finite."""
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        out = np.sqrt(segment_sums(x**2 * vol**2, bounds))
        over = ~np.isfinite(out)
        if over.any():
            size = np.abs(x * vol)
            top = segment_max(size, bounds, 0.0)
            top = np.where(top > 0, top, 1.0)
            out = np.where(
                over, top * np.sqrt(segment_sums((size / _per_row(top, bounds)) ** 2, bounds)), out
            )
    return out


def _vol_scaled(target: np.ndarray, vol: np.ndarray, bounds: np.ndarray | None) -> np.ndarray:
    """``target / vol`` times a power of two per segment chosen so that the segment's largest
    |value| lies in [0.25, 2): the same weights after normalising, without the overflow (or
    underflow) of ``target / vol`` itself (a target of 1e308, a vol of 5e-324)."""
    mt, et = np.frexp(target)
    mv, ev = np.frexp(vol)
    exponent = np.where(mt != 0, et - ev, np.iinfo(np.int32).min // 2)
    top = _per_row(segment_max(exponent, bounds, 0), bounds)
    with np.errstate(under="ignore"):
        return np.ldexp(mt / mv, np.maximum(exponent - top, -2000))


def _per_row(sums: np.ndarray, bounds: np.ndarray | None) -> np.ndarray:
    """Spread per-segment values back onto the rows of each segment."""
    return sums if bounds is None else np.repeat(sums, np.diff(bounds), axis=0)


def shrink(total: np.ndarray | float, cap: np.ndarray | float) -> np.ndarray | float:
    """The factor that scales a sum down to `cap`: ``min(1, cap / total)``.

    Exactly 1 when ``total <= cap`` (``cap = inf``: no cap); 0 when ``cap == 0`` (every trade
    is removed); NaN when `total` is NaN. Two numbers give a float (Python arithmetic: the
    per-date step of one allocator); arrays broadcast (one cap per configuration).
    """
    if isinstance(total, np.ndarray) or isinstance(cap, np.ndarray):
        return np.minimum(1.0, cap / np.maximum(total, _TINY))
    return min(cap / max(total, _TINY), 1.0)  # in this order, so that NaN stays NaN


class Settings(NamedTuple):
    """Allocator parameters as the vectorised steps read them.

    Each is a number (one allocator) or an array with one entry per configuration (a grid).
    `turnover_cap`: None when no configuration has one (in a grid, inf marks a configuration
    without one). `per_period`: ``vol_target / sqrt(periods_per_year)``, None when no
    configuration has a vol target (in a grid, nan marks one without).
    """

    lambda_risk: float | np.ndarray
    gamma_cost: float | np.ndarray
    max_pos: float | np.ndarray
    gross_cap: float | np.ndarray
    turnover_cap: float | np.ndarray | None
    ignore_open: bool | np.ndarray
    per_period: float | np.ndarray | None


def grid_settings(allocators: Sequence[BufferedAllocator]) -> Settings:
    """Many allocators' parameters as arrays, one entry per allocator, in order.

    A parameter that no allocator sets (turnover cap, vol target) stays None and a flag that
    all allocators share stays a bool, so the steps skip what no configuration needs.
    """

    def column(values: list) -> np.ndarray:
        return np.array(values, dtype=float)

    caps = [a.turnover_cap for a in allocators]
    targets = [a.vol_target for a in allocators]
    opens = {bool(a.ignore_open) for a in allocators}
    return Settings(
        lambda_risk=column([a.lambda_risk for a in allocators]),
        gamma_cost=column([a.gamma_cost for a in allocators]),
        max_pos=column([a.max_pos for a in allocators]),
        gross_cap=column([a.gross_cap for a in allocators]),
        turnover_cap=None
        if all(c is None for c in caps)
        else column([math.inf if c is None else c for c in caps]),
        ignore_open=opens.pop()
        if len(opens) == 1
        else np.array([bool(a.ignore_open) for a in allocators]),
        per_period=None
        if all(t is None for t in targets)
        else column(
            [
                math.nan if a.vol_target is None else a.vol_target / np.sqrt(a.periods_per_year)
                for a in allocators
            ]
        ),
    )


def desired_weights(
    s: Settings,
    target: np.ndarray,
    vol: np.ndarray,
    spread: np.ndarray,
    bounds: np.ndarray | None = None,
) -> Desired:
    """Steps 1-4 for rows grouped by date (see `BufferedAllocator.desired`); with a grid,
    `target`, `vol` and `spread` are ``(n, 1)`` and the results broadcast to
    ``(n, configurations)`` (the weights stay ``(n, 1)`` when no configuration has a vol
    target)."""
    with np.errstate(over="ignore", under="ignore"):
        w_raw = target / vol
    gross = segment_sums(np.abs(w_raw), bounds)
    # a date whose target / vol overflows (or underflows to all 0) is normalised exactly
    # the same way from power-of-two scaled values (`_vol_scaled`)
    lost = ~np.isfinite(gross)
    if (gross == 0).any():
        lost |= (gross == 0) & (segment_sums(np.abs(target), bounds) != 0)
    if lost.any():
        w_raw = np.where(_per_row(lost, bounds), _vol_scaled(target, vol, bounds), w_raw)
        gross = segment_sums(np.abs(w_raw), bounds)
    gross = _per_row(gross, bounds)
    w = w_raw / np.where(gross > 0, gross, 1.0)
    if s.per_period is not None:
        norm = _per_row(segment_norm(w, vol, bounds), bounds)
        scale = np.where(norm > 0, s.per_period / np.where(norm > 0, norm, 1.0), 1.0)
        w = w * np.where(np.isnan(scale), 1.0, scale)  # nan: a configuration without a target
    cost = s.gamma_cost * spread
    with np.errstate(under="ignore", divide="ignore", invalid="ignore"):
        buffer = cost / (s.lambda_risk * vol**2)
    buffer = np.where(cost == 0, 0.0, buffer)  # no cost, no buffer, even where vol^2 is 0
    return Desired(w, buffer)


def rebalance_step(
    s: Settings,
    x_prev: np.ndarray,
    is_new: np.ndarray,
    w_desired: np.ndarray,
    buffer: np.ndarray,
) -> Trades:
    """Steps 5-9 for one date's tradable symbols (see `BufferedAllocator.rebalance`); with a
    grid, `is_new` is ``(n, 1)`` and the other arrays ``(n, configurations)``."""
    delta = w_desired - x_prev
    # delta - clip(delta, -buffer, buffer) is exactly 0 inside the buffer and exactly
    # sign(delta) * (|delta| - buffer) outside it
    trade = delta - np.minimum(np.maximum(delta, -buffer), buffer)
    if s.ignore_open is True:
        np.copyto(trade, w_desired, where=is_new)
    elif s.ignore_open is not False:  # one flag per configuration
        np.copyto(trade, w_desired, where=is_new & s.ignore_open)
    x_cap = x_prev + trade
    np.minimum(np.maximum(x_cap, -s.max_pos, out=x_cap), s.max_pos, out=x_cap)
    x_new = x_cap * shrink(np.add.reduce(np.abs(x_cap)), s.gross_cap)
    trade_final = x_new - x_prev
    if s.turnover_cap is not None:
        turnover = np.add.reduce(np.abs(trade_final))
        trade_final = trade_final * shrink(turnover, s.turnover_cap)
        x_new = x_prev + trade_final
    return Trades(delta, trade, x_new, trade_final)


@dataclass(frozen=True)
class BufferedAllocator:
    """The notebook's PortfolioAllocator: buffered trades toward vol-scaled target weights.

    Parameters (checked when used, `ConfigError` on a bad value):
    lambda_risk > 0 (risk aversion), gamma_cost >= 0 (cost multiplier), max_pos > 0 (max
    |weight| per symbol), gross_cap > 0 (max sum|weight|), turnover_cap None or >= 0 (max
    sum|trade| per date, forced exits excluded), ignore_open (new symbols open to the desired
    weight in full), vol_target None or > 0 (annual volatility target), periods_per_year > 0
    (periods in a year, for the vol target).
    """

    lambda_risk: float = 10.0
    gamma_cost: float = 1.0
    max_pos: float = 0.05
    gross_cap: float = 1.0
    turnover_cap: float | None = None
    ignore_open: bool = True
    vol_target: float | None = None
    periods_per_year: float = 365

    def check(self) -> None:
        """Raise `ConfigError` naming the first parameter with a bad value."""
        rules = [  # (name, value, None allowed, 0 allowed)
            ("lambda_risk", self.lambda_risk, False, False),
            ("gamma_cost", self.gamma_cost, False, True),
            ("max_pos", self.max_pos, False, False),
            ("gross_cap", self.gross_cap, False, False),
            ("turnover_cap", self.turnover_cap, True, True),
            ("vol_target", self.vol_target, True, False),
            ("periods_per_year", self.periods_per_year, False, False),
        ]
        for name, value, optional, zero in rules:
            if value is None and optional:
                continue
            number = finite_number(value)
            if number is None or not (number >= 0 if zero else number > 0):
                rule = f"{'None or ' if optional else ''}a finite number {'>=' if zero else '>'} 0"
                raise ConfigError(
                    f"BufferedAllocator: parameter '{name}' must be {rule}, got {value!r}"
                )
        if not isinstance(self.ignore_open, bool | np.bool_):
            got = self.ignore_open
            raise ConfigError(
                f"BufferedAllocator: parameter 'ignore_open' must be a bool, got {got!r}"
            )

    def settings(self) -> Settings:
        """The parameters as `desired_weights` and `rebalance_step` read them (not checked)."""
        per_period = (
            None
            if self.vol_target is None
            else float(self.vol_target) / np.sqrt(float(self.periods_per_year))
        )
        return Settings(
            float(self.lambda_risk),
            float(self.gamma_cost),
            float(self.max_pos),
            float(self.gross_cap),
            None if self.turnover_cap is None else float(self.turnover_cap),
            bool(self.ignore_open),
            per_period,
        )

    def desired(
        self,
        target: np.ndarray,
        vol: np.ndarray,
        spread: np.ndarray,
        bounds: np.ndarray | None = None,
    ) -> Desired:
        """Steps 1-4 for rows grouped by date: ``bounds[i]:bounds[i+1]`` are date i's rows.

        ``bounds=None`` treats every row as one date. Rows must be tradable (finite target,
        vol > 0, spread > 0).
        """
        return desired_weights(self.settings(), target, vol, spread, bounds)

    def rebalance(
        self,
        x_prev: np.ndarray,
        is_new: np.ndarray,
        w_desired: np.ndarray,
        buffer: np.ndarray,
    ) -> Trades:
        """Steps 5-9 for one date's tradable symbols (parameters are not re-checked here)."""
        return rebalance_step(self.settings(), x_prev, is_new, w_desired, buffer)

    def __call__(
        self,
        x_prev: np.ndarray,
        is_new: np.ndarray,
        target: np.ndarray,
        vol: np.ndarray,
        spread: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """One date's book vectors: x_prev, w_desired, buffer, delta, trade, x_new, trade_final."""
        self.check()
        desired = self.desired(
            np.asarray(target, float), np.asarray(vol, float), np.asarray(spread, float)
        )
        x_prev = np.asarray(x_prev, float)
        trades = self.rebalance(x_prev, np.asarray(is_new, bool), *desired)
        return {"x_prev": x_prev, **desired._asdict(), **trades._asdict()}
