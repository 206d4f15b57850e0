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
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from lazyflow.errors import ConfigError, DataError, SchemaError, collect
from lazyflow.portfolio.allocator import BufferedAllocator, segment_sums
from lazyflow.portfolio.checks import (
    ROW_REASONS,
    drop_reason,
    first_bad_metric,
    nav_error,
    reason_codes,
)
from lazyflow.schema import Kind

#: The keys of `BacktestResult.dropped`, in the order rows are checked (the row checks are
#: `checks.drop_reason`'s, shared with `Pipeline.audit`).
DROP_REASONS = (*ROW_REASONS, "no_next_price", "no_next_funding")

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

#: The column `_load` collects `checks.drop_reason` into.
REASON_COLUMN = "__drop_reason"

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
        date, symbol = self.book.columns[:2]
        return self.book.filter(~pl.col("exit")).select(
            date,
            symbol,
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
        """Headline statistics of the daily returns r, annualised with P = `periods_per_year`.

        - total_return = nav_end/init_nav - 1
        - cagr = (nav_end/init_nav)^(P/n) - 1 over n metrics rows (-1 once NAV <= 0, inf on
          overflow)
        - ann_vol = std(r, ddof=1)*sqrt(P); sharpe = mean(r)/std(r)*sqrt(P);
          sortino = mean(r)/sqrt(mean(min(r, 0)^2))*sqrt(P)
        - max_drawdown = min drawdown (<= 0); calmar = cagr/|max_drawdown|
        - avg_turnover, avg_gross, avg_net: means of turnover_pct, gross and net exposure
        - total_cost, total_funding: sums of cost and funding_pnl (NAV units); n_days = n

        A ratio with a zero denominator is nan when its numerator is 0, else +-inf; std needs
        two days (nan otherwise).
        """
        ppy = self.periods_per_year if periods_per_year is None else periods_per_year
        if not ppy > 0:
            raise ConfigError(f"summary: parameter 'periods_per_year' must be > 0, got {ppy!r}")
        m = self.metrics
        r = m["daily_return"].to_numpy()
        n = len(r)
        growth = float(m["nav"][-1]) / self.init_nav
        cagr = _cagr(growth, ppy / n)
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


def _cagr(growth: float, years_inverse: float) -> float:
    """growth^(1/years) - 1: -1 once the NAV is <= 0, inf when it overflows."""
    if growth <= 0:
        return -1.0
    try:
        return growth**years_inverse - 1.0
    except OverflowError:
        return math.inf


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
    The outputs keep `date_col` and `symbol_col` as column names. See the module docstring for
    the conventions.
    """
    _check_parameters(allocator, cost_per_dollar, include_funding, init_nav, periods_per_year)
    if progress is not None and not callable(progress):
        raise _fail("progress", "must be None or a callable(done, total)", progress)
    names = {"target": target_col, "vol": vol_col, "spread": spread_col, "close": price_col}
    if include_funding:
        names["funding"] = funding_col
    panel = _load(frame, date_col, symbol_col, names, tradable)
    ok, dropped = _tradable_rows(panel)
    n_dates, n_reb = len(panel.dates), len(panel.dates) - 1
    rows = np.flatnonzero(ok)  # tradable rows, in (date, symbol) order
    t_day, t_code = panel.day[rows], panel.code[rows]
    # date i's tradable rows are rows[bounds[i]:bounds[i+1]]; the book is those of dates < last
    bounds = np.searchsorted(t_day, np.arange(n_dates + 1))
    target, vol, spread, close = (
        panel.values[k][rows] for k in ("target", "vol", "spread", "close")
    )
    w_desired, buffer = allocator.desired(target, vol, spread, bounds)
    scan = _scan(allocator, panel, t_code, bounds, w_desired, buffer, progress)
    n_book = int(bounds[n_reb])
    book_day, book_code, x_new = t_day[:n_book], t_code[:n_book], scan.x_new
    book_bounds = bounds[: n_reb + 1]

    # Marking to t+1: the symbol's row at t+1, whether tradable or not.
    nxt = scan.next_row
    has_next = (nxt >= 0) & (panel.day[nxt] == book_day + 1)
    price_next = has_next & panel.price_ok[nxt]
    p0 = close[:n_book]
    p1 = np.where(price_next, panel.values["close"][nxt], p0)
    is_held = x_new != 0.0
    dropped["no_next_price"] = int(np.count_nonzero(is_held & ~price_next))
    move = x_new * (p1 - p0) / p0  # each row's price PnL, as a fraction of NAV
    growth = segment_sums(move, book_bounds)
    size = np.abs(move)  # how much each row moves the NAV (for a non-finite NAV's error)
    carry = np.zeros(n_reb)
    dropped["no_next_funding"] = 0
    shown = {"close": p0, "next close": p1}  # what a non-finite NAV's error shows per row
    if include_funding:
        f1 = np.where(has_next, panel.values["funding"][nxt], np.nan)
        fund_ok = np.isfinite(f1)
        dropped["no_next_funding"] = int(np.count_nonzero(is_held & ~fund_ok))
        fund_move = x_new * np.where(fund_ok, f1, 0.0)
        size += np.abs(fund_move)
        carry = segment_sums(fund_move, book_bounds)
        shown["next funding"] = f1

    # Forced exits: held at t, not tradable at t+1 (a rebalance date, so not the last one).
    closed = is_held & ~(has_next & ok[nxt]) & (book_day + 1 < n_reb)
    exits = _Exits(book_day[closed] + 1, book_code[closed], x_new[closed])
    turnover = segment_sums(np.abs(scan.trade_final), book_bounds)
    turnover += np.bincount(exits.day, np.abs(exits.x_prev), minlength=n_reb)

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
    vol_d = np.sqrt(segment_sums(x_new**2 * vol[:n_book] ** 2, book_bounds))
    metrics = (
        pl.DataFrame(
            {
                "date": panel.dates[:n_reb],
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
    bad = first_bad_metric(metrics)
    if bad is not None:  # extreme prices or funding overflowed the NAV
        rows = slice(book_bounds[bad], book_bounds[bad + 1])
        symbols = panel.symbols.gather(book_code[rows]).to_list()
        shown_rows = {name: values[rows] for name, values in shown.items()}
        raise nav_error(metrics.row(bad, named=True), symbols, size[rows], shown_rows)

    dollar_pos = x_new * nav_before[book_day]
    book = {
        "x_prev": scan.x_prev,
        "w_desired": w_desired[:n_book],
        "buffer": buffer[:n_book],
        "delta": w_desired[:n_book] - scan.x_prev,
        "trade": scan.trade,
        "x_new": x_new,
        "trade_final": scan.trade_final,
        "dollar_pos": dollar_pos,
        "coin_qty": dollar_pos / p0,
        "vol_fcst": vol[:n_book],
    }
    return BacktestResult(
        metrics=metrics,
        book=_book_frame(panel, book_day, book_code, book, exits),
        dropped={reason: dropped[reason] for reason in DROP_REASONS},
        allocator=allocator,
        cost_per_dollar=cost_per_dollar,
        include_funding=include_funding,
        tradable=tradable,
        init_nav=init_nav,
        periods_per_year=periods_per_year,
    )


def _check_parameters(
    allocator: BufferedAllocator,
    cost_per_dollar: float,
    include_funding: bool,
    init_nav: float,
    periods_per_year: float,
) -> None:
    if not isinstance(allocator, BufferedAllocator):
        raise _fail("allocator", "must be a BufferedAllocator", allocator)
    allocator.check()
    for name, value, strict in [
        ("cost_per_dollar", cost_per_dollar, False),
        ("init_nav", init_nav, True),
        ("periods_per_year", periods_per_year, True),
    ]:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and (value > 0 if strict else value >= 0)):
            raise _fail(name, f"must be a finite number {'>' if strict else '>='} 0", value)
    if not isinstance(include_funding, bool):
        raise _fail("include_funding", "must be a bool", include_funding)


@dataclass(frozen=True)
class _Panel:
    """The collected frame as numpy arrays in (date, symbol) order, with integer codes."""

    dates: pl.Series  # the distinct dates, sorted; `day` indexes them
    symbols: pl.Series  # the distinct symbols (strings), sorted; `code` indexes them
    day: np.ndarray
    code: np.ndarray
    values: dict[str, np.ndarray]  # target, vol, spread, close, [funding], reason (codes)
    price_ok: np.ndarray  # finite close > 0


def _load(
    frame: pl.DataFrame | pl.LazyFrame,
    date_col: str,
    symbol_col: str,
    names: dict[str, str],
    tradable: str | None,
) -> _Panel:
    """Check the schema, collect once, code dates and symbols, sort by (date, symbol)."""
    kinds: dict[str, Kind | None] = {date_col: None, symbol_col: Kind.SYMBOL}
    kinds |= dict.fromkeys(names.values(), Kind.NUMERIC)
    if tradable is not None:
        kinds[tradable] = Kind.BOOL
    lazy = frame.lazy()
    _check_schema(lazy.collect_schema(), kinds)
    reason = drop_reason(names["target"], names["vol"], names["spread"], names["close"], tradable)
    data = collect(
        lazy.select(
            pl.col(date_col),
            pl.col(symbol_col).cast(pl.String),
            *[pl.col(c).cast(pl.Float64) for c in dict.fromkeys(names.values())],
            reason.alias(REASON_COLUMN),
        ),
        "backtest",
    )
    if data.height == 0:
        raise DataError("backtest: the frame has no rows")
    for column in (date_col, symbol_col):
        nulls = data[column].null_count()
        if nulls:
            raise DataError(f"backtest: column '{column}' has {nulls} null values")

    symbols = data[symbol_col].unique().sort()
    dates = data[date_col].unique().sort()
    if len(dates) < 2:
        raise DataError(f"backtest: the frame needs at least 2 dates, it has {len(dates)}")
    code = data[symbol_col].cast(pl.Enum(symbols)).to_physical().to_numpy().astype(np.int64)
    day = _dense_index(data[date_col].to_physical().to_numpy(), dates.to_physical().to_numpy())
    key = day * len(symbols) + code
    order = None if bool(np.all(key[1:] > key[:-1])) else np.argsort(key, kind="stable")
    if order is not None:
        key, day, code = key[order], day[order], code[order]
        dup = np.flatnonzero(key[1:] == key[:-1])
        if len(dup):
            examples = ", ".join(
                f"({dates[int(day[k])]}, {symbols[int(code[k])]})" for k in dup[:3]
            )
            raise DataError(
                f"backtest: {len(dup)} duplicate ({date_col}, {symbol_col}) rows, e.g. {examples}; "
                "keep the last row of each with lf.scan_panel(..., dedupe='last')"
            )
    values = {role: data[name].to_numpy() for role, name in names.items()}
    values["reason"] = reason_codes(data[REASON_COLUMN])
    if order is not None:
        values = {role: array[order] for role, array in values.items()}
    close = values["close"]
    price_ok = np.isfinite(close) & (close > 0)
    return _Panel(dates, symbols, day, code, values, price_ok)


def _tradable_rows(panel: _Panel) -> tuple[np.ndarray, dict[str, int]]:
    """Rows that may trade, and the others counted under the first check they fail."""
    codes = panel.values["reason"]
    counts = np.bincount(codes, minlength=len(ROW_REASONS) + 1).tolist()
    return codes == len(ROW_REASONS), dict(zip(ROW_REASONS, counts, strict=False))


class _Scan(NamedTuple):
    x_prev: np.ndarray
    trade: np.ndarray
    x_new: np.ndarray
    trade_final: np.ndarray
    next_row: np.ndarray  # the symbol's latest row of the frame up to t+1 (-1: none)


def _scan(
    allocator: BufferedAllocator,
    panel: _Panel,
    t_code: np.ndarray,
    bounds: np.ndarray,
    w_desired: np.ndarray,
    buffer: np.ndarray,
    progress: Callable[[int, int], None] | None,
) -> _Scan:
    """The per-date loop over rebalance dates (all but the last).

    Date i's outputs fill the slice bounds[i]:bounds[i+1] of preallocated arrays. Positions
    live in a dense array indexed by symbol code; a symbol not tradable yesterday is new and
    starts from 0 (had it been held, it was closed).
    """
    n_sym, n_reb = len(panel.symbols), len(panel.dates) - 1
    n_book = int(bounds[n_reb])
    x_prev, trade, x_new, trade_final = (np.empty(n_book) for _ in range(4))
    next_row = np.empty(n_book, dtype=np.int64)
    position = np.zeros(n_sym)
    last_seen = np.full(n_sym, -2, dtype=np.int64)  # last date each symbol was tradable
    row_of = np.full(n_sym, -1, dtype=np.int64)  # latest row of each symbol
    row_ids = np.arange(len(panel.code))
    all_starts = np.searchsorted(panel.day, np.arange(n_reb + 2)).tolist()
    starts = bounds.tolist()
    step = max(1, -(-n_reb // 100))
    for i in range(n_reb):
        a, b = starts[i], starts[i + 1]
        codes = t_code[a:b]
        tomorrow = slice(all_starts[i + 1], all_starts[i + 2])
        row_of[panel.code[tomorrow]] = row_ids[tomorrow]
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
    return _Scan(x_prev, trade, x_new, trade_final, next_row)


class _Exits(NamedTuple):
    day: np.ndarray
    code: np.ndarray
    x_prev: np.ndarray


def _book_frame(
    panel: _Panel,
    day: np.ndarray,
    code: np.ndarray,
    columns: dict[str, np.ndarray],
    exits: _Exits,
) -> pl.DataFrame:
    """The book: the tradable rows and the forced exits, merged in (date, symbol) order."""
    n_book, n_exit = len(day), len(exits.day)
    n_sym = len(panel.symbols)
    # exit j goes before book row insert[j]; book row k moves down by the exits before it
    insert = np.searchsorted(day * n_sym + code, exits.day * n_sym + exits.code)
    shift = np.cumsum(np.bincount(insert, minlength=n_book + 1))[:n_book]
    at = (np.arange(n_book) + shift, insert + np.arange(n_exit))
    zeros, nans, close = np.zeros(n_exit), np.full(n_exit, np.nan), -exits.x_prev
    exit_values = {
        "x_prev": exits.x_prev,
        "w_desired": zeros,
        "buffer": nans,
        "delta": close,
        "trade": close,
        "x_new": zeros,
        "trade_final": close,
        "dollar_pos": zeros,
        "coin_qty": zeros,
        "vol_fcst": nans,
    }
    return pl.DataFrame(
        [
            panel.dates.gather(_merge(day, exits.day, at)),
            panel.symbols.gather(_merge(code, exits.code, at)),
            *[
                pl.Series(
                    name,
                    _merge(values, exit_values[name], at),
                    nan_to_null=name in ("buffer", "vol_fcst"),
                )
                for name, values in columns.items()
            ],
            pl.Series("exit", _merge(np.zeros(n_book, bool), np.ones(n_exit, bool), at)),
        ]
    )
