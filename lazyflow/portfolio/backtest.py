"""`backtest`: the buffered allocator walked date by date over a collected frame, with numpy.

The frame is collected once, sorted once by (date, symbol) and symbols become integer codes;
positions live in a dense array indexed by code. Each date's step is numpy arithmetic over that
date's own rows, so the scan is O(rows). Everything that does not depend on the book (desired
weights, buffers, next-date prices, per-date sums) is computed before or after the loop over the
whole frame at once.

Conventions (the notebook's Backtester, plus DESIGN.md's fixes 3-7):

* Every date of the frame except the last is a rebalance date t; the position is held to the
  next date of the frame, t+1. The last date has no book and no metrics row.
* A row is tradable when the `tradable` flag is true and target, vol, spread and price are
  finite with vol > 0, spread > 0 and price > 0 (a zero high-low range is a stale bar, so a
  zero spread is untradable too). Other rows stay in the frame: they price held positions.
* A symbol is new (opened in full when ``ignore_open``) when it had no tradable row on the
  previous date of the frame. A held symbol that is not tradable today is closed in full
  (a book row with ``exit=True``); the close pays cost and counts as turnover, but the turnover
  cap does not scale it and the gross cap does not see it (it ends at 0 anyway).
* ``nav_t`` is the NAV before date t's cost; ``cost = turnover_pct * nav_t * cost_per_dollar``;
  ``pnl = sum coin_qty * (close_{t+1} - close_t)`` with ``coin_qty = x_new * nav_t / close_t``
  and close_{t+1} from any row of the frame; ``funding_pnl = -sum dollar_pos * funding_{t+1}``.
  The metrics row dated t holds ``nav = nav_t - cost + pnl + funding_pnl``.
* A held position without a finite, positive close at t+1 earns 0 (counted as
  ``no_next_price``); a missing or non-finite funding rate at t+1 counts as 0
  (``no_next_funding``, only when funding is included).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

from lazyflow.errors import ConfigError, DataError, SchemaError
from lazyflow.portfolio.allocator import BufferedAllocator, segment_sums
from lazyflow.schema import Kind

#: The keys of `BacktestResult.dropped`, in the order rows are checked.
DROP_REASONS = (
    "not_tradable_flag",
    "bad_target",
    "bad_vol",
    "bad_spread",
    "bad_price",
    "no_next_price",
    "no_next_funding",
)

METRIC_COLUMNS = (
    "date",
    "nav",
    "daily_return",
    "pnl",
    "funding_pnl",
    "cost",
    "turnover_pct",
    "turnover_dollar",
    "gross_exposure",
    "net_exposure",
    "vol_forecast_d",
    "vol_forecast_a",
    "nav_high",
    "vol_realized_d",
    "vol_realized_a",
    "drawdown",
)

BOOK_COLUMNS = (
    "date",
    "symbol",
    "x_prev",
    "w_desired",
    "buffer",
    "delta",
    "trade",
    "x_new",
    "trade_final",
    "dollar_pos",
    "coin_qty",
    "vol_fcst",
    "exit",
)

#: Window of the realised-volatility rolling std (the notebook's ``rolling_std(21)``).
REALIZED_WINDOW = 21


@dataclass(frozen=True)
class BacktestResult:
    """What `backtest` returns, with the parameters of the run.

    metrics: one row per rebalance date (see METRIC_COLUMNS). book: one row per tradable
    (date, symbol) plus one per forced exit (see BOOK_COLUMNS). dropped: counts by reason
    (DROP_REASONS): the first five count input rows that were not tradable, each row under the
    first check it failed; ``no_next_price``/``no_next_funding`` count held book rows.
    """

    metrics: pl.DataFrame
    book: pl.DataFrame
    dropped: dict[str, int]
    allocator: BufferedAllocator
    cost_per_dollar: float
    include_funding: bool
    tradable: str | None
    init_nav: float
    periods_per_year: float

    @property
    def holdings(self) -> pl.DataFrame:
        """The book after each rebalance, forced exits left out: date, symbol, weight, dollar,
        coin_qty."""
        return self.book.filter(~pl.col("exit")).select(
            "date",
            "symbol",
            pl.col("x_new").alias("weight"),
            pl.col("dollar_pos").alias("dollar"),
            "coin_qty",
        )

    def params(self) -> dict[str, Any]:
        """The run's parameters (the allocator's fields and the backtest's), for reports."""
        return {
            **asdict(self.allocator),
            "cost_per_dollar": self.cost_per_dollar,
            "include_funding": self.include_funding,
            "tradable": self.tradable,
            "init_nav": self.init_nav,
            "periods_per_year": self.periods_per_year,
        }

    def summary(self, periods_per_year: float | None = None) -> dict[str, float]:
        """Headline statistics of the daily returns, annualised with `periods_per_year`.

        total_return = nav_end/init_nav - 1; cagr = (nav_end/init_nav)^(P/n) - 1 (-1 once NAV
        is <= 0); ann_vol = std(r, ddof=1)*sqrt(P); sharpe = mean(r)/std(r)*sqrt(P); sortino =
        mean(r)/sqrt(mean(min(r,0)^2))*sqrt(P); max_drawdown = min drawdown (<= 0); calmar =
        cagr/|max_drawdown|; averages of turnover_pct, gross and net exposure per date; sums of
        cost and funding_pnl (NAV units); n_days = metrics rows. A ratio with a zero
        denominator is nan when its numerator is 0, else +-inf; std needs 2 days (else nan).
        """
        ppy = self.periods_per_year if periods_per_year is None else periods_per_year
        if not ppy > 0:
            raise ConfigError(f"summary: parameter 'periods_per_year' must be > 0, got {ppy!r}")
        m = self.metrics
        r = m["daily_return"].to_numpy()
        n = len(r)
        growth = float(m["nav"][-1]) / self.init_nav
        cagr = growth ** (ppy / n) - 1.0 if growth > 0 else -1.0
        std = float(r.std(ddof=1)) if n > 1 else math.nan
        mean = float(r.mean())
        downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
        max_dd = float(m["drawdown"].min())
        root = math.sqrt(ppy)
        return {
            "total_return": growth - 1.0,
            "cagr": cagr,
            "ann_vol": std * root,
            "sharpe": _ratio(mean, std) * root,
            "sortino": _ratio(mean, downside) * root,
            "max_drawdown": max_dd,
            "calmar": _ratio(cagr, -max_dd),
            "avg_turnover": float(m["turnover_pct"].mean()),
            "avg_gross": float(m["gross_exposure"].mean()),
            "avg_net": float(m["net_exposure"].mean()),
            "total_cost": float(m["cost"].sum()),
            "total_funding": float(m["funding_pnl"].sum()),
            "n_days": float(n),
        }


def _ratio(num: float, den: float) -> float:
    """num/den, with den == 0 giving nan (num == 0) or +-inf; nan stays nan."""
    if math.isnan(num) or math.isnan(den):
        return math.nan
    if den == 0:
        return math.nan if num == 0 else math.copysign(math.inf, num)
    return num / den


def _fail(parameter: str, problem: str, value: object) -> ConfigError:
    return ConfigError(f"backtest: parameter '{parameter}' {problem}, got {value!r}")


def _check_schema(schema: pl.Schema, kinds: dict[str, Kind | None]) -> None:
    """Every column present, with an accepted dtype (None: a date, datetime or integer)."""
    for column, kind in kinds.items():
        if column not in schema:
            raise SchemaError("backtest", column, "is missing", schema)
        dtype = schema[column]
        ok = kind.accepts(dtype) if kind is not None else dtype.is_temporal() or dtype.is_integer()
        if not ok:
            expected = kind.value if kind is not None else "date, datetime or integer"
            raise SchemaError(
                "backtest", column, f"has dtype {dtype}, expected a {expected} column", schema
            )


def _dense_index(values: np.ndarray, uniques: np.ndarray) -> np.ndarray:
    """The position of each of `values` in `uniques` (sorted integers that hold them all).

    A lookup table when the span of `uniques` is small (daily dates), else a binary search.
    """
    lo, span = int(uniques[0]), int(uniques[-1]) - int(uniques[0]) + 1
    if span > 2 * len(values) + 4096:
        return np.searchsorted(uniques, values)
    table = np.zeros(span, dtype=np.int64)
    table[uniques - lo] = np.arange(len(uniques))
    return table[values - lo]


def _merge(first: np.ndarray, second: np.ndarray, at: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """One array holding `first` at positions ``at[0]`` and `second` at positions ``at[1]``."""
    out = np.empty(len(first) + len(second), dtype=np.result_type(first, second))
    out[at[0]] = first
    out[at[1]] = second
    return out


def backtest(
    frame: pl.DataFrame | pl.LazyFrame,
    allocator: BufferedAllocator,
    cost_per_dollar: float = 0.0,
    include_funding: bool = True,
    tradable: str | None = "is_universe",
    init_nav: float = 1.0,
    *,
    date_col: str = "date",
    symbol_col: str = "symbol",
    target_col: str = "target_position",
    vol_col: str = "vol_fcst",
    spread_col: str = "spread",
    price_col: str = "close",
    funding_col: str = "funding_rate",
    periods_per_year: float = 365,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    """Run `allocator` over every date of `frame` and mark the book to the next date's prices.

    `frame` holds one row per (date, symbol); `tradable` names a boolean column (None: every
    row may trade). `cost_per_dollar` is the cost per dollar traded; vol_fcst is the
    per-period volatility forecast and spread the half-spread fraction; funding is the rate
    paid by longs over t -> t+1 (used when `include_funding`). `periods_per_year` annualises
    the metrics. `progress(done, total)` is called at most ~100 times over the rebalance dates.
    See the module docstring for the conventions.
    """
    if not isinstance(allocator, BufferedAllocator):
        raise _fail("allocator", "must be a BufferedAllocator", allocator)
    allocator.check()
    for name, value, low, strict in [
        ("cost_per_dollar", cost_per_dollar, 0.0, False),
        ("init_nav", init_nav, 0.0, True),
        ("periods_per_year", periods_per_year, 0.0, True),
    ]:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and (value > low if strict else value >= low)):
            raise _fail(name, f"must be a finite number {'>' if strict else '>='} {low:g}", value)
    if not isinstance(include_funding, bool):
        raise _fail("include_funding", "must be a bool", include_funding)
    if progress is not None and not callable(progress):
        raise _fail("progress", "must be None or a callable(done, total)", progress)

    numeric = [target_col, vol_col, spread_col, price_col]
    if include_funding:
        numeric.append(funding_col)
    kinds: dict[str, Kind | None] = {date_col: None, symbol_col: Kind.SYMBOL}
    kinds |= dict.fromkeys(numeric, Kind.NUMERIC)
    if tradable is not None:
        kinds[tradable] = Kind.BOOL
    lazy = frame.lazy()
    _check_schema(lazy.collect_schema(), kinds)

    flag = [pl.col(tradable).fill_null(False)] if tradable is not None else []
    data = lazy.select(
        pl.col(date_col),
        pl.col(symbol_col).cast(pl.String),
        *[pl.col(c).cast(pl.Float64) for c in dict.fromkeys(numeric)],
        *flag,
    ).collect()
    if data.height == 0:
        raise DataError("backtest: the frame has no rows")
    for column in (date_col, symbol_col):
        nulls = data[column].null_count()
        if nulls:
            raise DataError(f"backtest: column '{column}' has {nulls} null values")

    # Integer codes: dates and symbols in sorted order, then one sort by (date, symbol).
    symbols = data[symbol_col].unique().sort()
    dates = data[date_col].unique().sort()
    n_sym, n_dates = len(symbols), len(dates)
    if n_dates < 2:
        raise DataError(f"backtest: the frame needs at least 2 dates, it has {n_dates}")
    code = data[symbol_col].cast(pl.Enum(symbols)).to_physical().to_numpy().astype(np.int64)
    day = _dense_index(data[date_col].to_physical().to_numpy(), dates.to_physical().to_numpy())
    key = day * n_sym + code
    order = None if bool(np.all(key[1:] > key[:-1])) else np.argsort(key, kind="stable")
    if order is not None:
        key, day, code = key[order], day[order], code[order]
        dup = np.flatnonzero(key[1:] == key[:-1])
        if len(dup):
            examples = ", ".join(
                f"({dates[int(day[k])]}, {symbols[int(code[k])]})" for k in dup[:3]
            )
            raise DataError(
                f"backtest: {len(dup)} duplicate ({date_col}, {symbol_col}) rows, e.g. {examples}"
            )

    def column(name: str) -> np.ndarray:
        values = data[name].to_numpy()
        return values if order is None else values[order]

    target, vol, spread, close = (column(c) for c in numeric[:4])
    funding = column(funding_col) if include_funding else None

    # Tradable rows; every other row is counted under the first check it fails.
    checks = [
        ("not_tradable_flag", column(tradable) if tradable is not None else None),
        ("bad_target", np.isfinite(target)),
        ("bad_vol", np.isfinite(vol) & (vol > 0)),
        ("bad_spread", np.isfinite(spread) & (spread > 0)),
        ("bad_price", np.isfinite(close) & (close > 0)),
    ]
    price_ok = checks[-1][1]
    ok = np.ones(len(key), dtype=bool)
    dropped: dict[str, int] = {}
    for reason, passed in checks:
        if passed is None:
            dropped[reason] = 0
            continue
        dropped[reason] = int(np.count_nonzero(ok & ~passed))
        ok &= passed

    rows = np.flatnonzero(ok)  # tradable rows, in (date, symbol) order
    t_day, t_code = day[rows], code[rows]
    all_bounds = np.searchsorted(day, np.arange(n_dates + 1))
    bounds = np.searchsorted(t_day, np.arange(n_dates + 1))
    w_desired, buffer = allocator.desired(target[rows], vol[rows], spread[rows], bounds)

    # The scan over rebalance dates (all but the last). Book rows are the tradable rows of
    # those dates, in order, so date i's outputs fill the slice bounds[i]:bounds[i+1].
    # A symbol not tradable yesterday is new and starts from 0 (a held one was closed).
    n_reb = n_dates - 1
    n_book = int(bounds[n_reb])
    x_prev, trade, x_new, trade_final = (np.empty(n_book) for _ in range(4))
    next_row = np.empty(n_book, dtype=np.int64)  # latest row of the symbol at t+1
    position = np.zeros(n_sym)
    last_seen = np.full(n_sym, -2, dtype=np.int64)  # last date each symbol was tradable
    row_of = np.full(n_sym, -1, dtype=np.int64)  # latest row of each symbol
    row_ids = np.arange(len(key))
    step = max(1, -(-n_reb // 100))
    starts, all_starts = bounds.tolist(), all_bounds.tolist()
    for i in range(n_reb):
        a, b = starts[i], starts[i + 1]
        codes = t_code[a:b]
        tomorrow = slice(all_starts[i + 1], all_starts[i + 2])
        row_of[code[tomorrow]] = row_ids[tomorrow]
        next_row[a:b] = row_of[codes]
        is_new = last_seen[codes] != i - 1
        last_seen[codes] = i
        prev = np.where(is_new, 0.0, position[codes])
        out = allocator.rebalance(prev, is_new, w_desired[a:b], buffer[a:b])
        position[codes] = out.x_new
        x_prev[a:b], trade[a:b] = prev, out.trade
        x_new[a:b], trade_final[a:b] = out.x_new, out.trade_final
        if progress is not None and ((i + 1) % step == 0 or i + 1 == n_reb):
            progress(i + 1, n_reb)

    # Marking to t+1 and forced exits, over every book row at once.
    book_rows = rows[:n_book]
    book_day = t_day[:n_book]
    p0 = close[book_rows]
    has_next = (next_row >= 0) & (day[next_row] == book_day + 1)
    price_next = has_next & price_ok[next_row]
    p1 = np.where(price_next, close[next_row], p0)
    is_held = x_new != 0.0
    dropped["no_next_price"] = int(np.count_nonzero(is_held & ~price_next))
    book_bounds = bounds[: n_reb + 1]
    growth = segment_sums(x_new * (p1 - p0) / p0, book_bounds)
    if funding is not None:
        f1 = np.where(has_next, funding[next_row], np.nan)
        fund_ok = np.isfinite(f1)
        dropped["no_next_funding"] = int(np.count_nonzero(is_held & ~fund_ok))
        carry = segment_sums(x_new * np.where(fund_ok, f1, 0.0), book_bounds)
    else:
        dropped["no_next_funding"] = 0
        carry = np.zeros(n_reb)
    # a position held at t whose symbol is not tradable at t+1 is closed at t+1 (a rebalance
    # date, so not the frame's last)
    closed = is_held & ~(has_next & ok[next_row]) & (book_day + 1 < n_reb)
    e_day, e_code, e_prev = book_day[closed] + 1, t_code[:n_book][closed], x_new[closed]

    turnover = segment_sums(np.abs(trade_final), book_bounds)
    turnover += np.bincount(e_day, np.abs(e_prev), minlength=n_reb)
    book_vol = vol[book_rows]

    # NAV: nav_t = nav_{t-1} - cost + pnl + funding_pnl, in the notebook's order.
    nav_before, nav, cost, pnl, fund = (np.empty(n_reb) for _ in range(5))
    level = float(init_nav)
    for i, (turn, g, f) in enumerate(
        zip(turnover.tolist(), growth.tolist(), carry.tolist(), strict=True)
    ):
        nav_before[i] = level
        cost[i] = turn * level * cost_per_dollar
        pnl[i] = level * g
        fund[i] = -level * f
        level = level - cost[i] + pnl[i] + fund[i]
        nav[i] = level

    root = math.sqrt(periods_per_year)
    vol_d = np.sqrt(segment_sums(x_new**2 * book_vol**2, book_bounds))
    metrics = (
        pl.DataFrame(
            {
                "date": dates[:n_reb],
                "nav": nav,
                "daily_return": (nav - nav_before) / nav_before,
                "pnl": pnl,
                "funding_pnl": fund,
                "cost": cost,
                "turnover_pct": turnover,
                "turnover_dollar": turnover * nav_before,
                "gross_exposure": segment_sums(np.abs(x_new), book_bounds),
                "net_exposure": segment_sums(x_new, book_bounds),
                "vol_forecast_d": vol_d,
                "vol_forecast_a": vol_d * root,
            }
        )
        .with_columns(
            nav_high=pl.col("nav").cum_max(),
            vol_realized_d=pl.col("daily_return").rolling_std(REALIZED_WINDOW),
            vol_realized_a=pl.col("daily_return").rolling_std(REALIZED_WINDOW) * root,
            drawdown=pl.col("nav") / pl.col("nav").cum_max() - 1.0,
        )
        .rename({"date": date_col})
    )

    # The book: tradable rows and forced exits merged in (date, symbol) order.
    dollar_pos = x_new * nav_before[book_day]
    n_exit = len(e_day)
    # exit j goes before book row insert[j]; book row k moves down by the exits before it
    insert = np.searchsorted(book_day * n_sym + t_code[:n_book], e_day * n_sym + e_code)
    shift = np.cumsum(np.bincount(insert, minlength=n_book + 1))[:n_book]
    at = (np.arange(n_book) + shift, insert + np.arange(n_exit))
    zeros, nans = np.zeros(n_exit), np.full(n_exit, np.nan)
    parts = {
        "x_prev": (x_prev, e_prev),
        "w_desired": (w_desired[:n_book], zeros),
        "buffer": (buffer[:n_book], nans),
        "delta": (w_desired[:n_book] - x_prev, -e_prev),
        "trade": (trade, -e_prev),
        "x_new": (x_new, zeros),
        "trade_final": (trade_final, -e_prev),
        "dollar_pos": (dollar_pos, zeros),
        "coin_qty": (dollar_pos / p0, zeros),
        "vol_fcst": (book_vol, nans),
    }
    book = pl.DataFrame(
        [
            dates.gather(_merge(book_day, e_day, at)).alias(date_col),
            symbols.gather(_merge(t_code[:n_book], e_code, at)).alias(symbol_col),
            *[
                pl.Series(name, _merge(t, e, at), nan_to_null=name in ("buffer", "vol_fcst"))
                for name, (t, e) in parts.items()
            ],
            pl.Series("exit", _merge(np.zeros(n_book, bool), np.ones(n_exit, bool), at)),
        ]
    )
    return BacktestResult(
        metrics=metrics,
        book=book,
        dropped={reason: dropped[reason] for reason in DROP_REASONS},
        allocator=allocator,
        cost_per_dollar=cost_per_dollar,
        include_funding=include_funding,
        tradable=tradable,
        init_nav=init_nav,
        periods_per_year=periods_per_year,
    )
