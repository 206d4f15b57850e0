"""`backtest`: the buffered allocator walked date by date over a collected frame, with numpy.

The frame is collected once, sorted once by (date, symbol) and symbols become integer codes;
positions live in a dense array indexed by code. Each date's step is numpy arithmetic over that
date's own rows, so the scan is O(rows). Everything that does not depend on the book (desired
weights, buffers, next-date prices, per-date sums) is computed before or after the loop over the
whole frame at once.

Conventions (the notebook's Backtester, plus DESIGN.md's differences 3-10):

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
* ``drift=True`` (the default; DESIGN difference 10): the book carries coin quantities, and
  date t+1's ``x_prev`` is ``coin_qty_t * close_{t+1} / NAV_{t+1}`` (NAV before that date's
  cost), so trading the drift back to target is costed, counted and capped
  (`lazyflow.portfolio.account`). ``drift=False`` is the notebook's weight carry: date t+1's
  ``x_prev`` is date t's ``x_new``, so a position that drifts with its price is resized back to
  its weight of NAV at no cost (`presets.SEED_BACKTEST` keeps it, to reproduce the notebook).
* Costs: `cost_per_dollar` (default 5 bps, Binance USD-M's taker fee) per traded dollar, plus
  `costs` (`lazyflow.costs`: half spread, square-root impact; with an impact cost `init_nav`
  is in dollars). The book's ``cost`` column holds each row's cost in dollars.
* A NAV at or below 0 ends the book (DESIGN difference 9): that date's NAV is 0 (the loss
  beyond it is written off), and every later date holds NAV 0, no position and no trade.
  Drawdown is measured from ``max(init_nav, running max of nav)``.
* ``vol_fcst`` must be per period (per day on a daily panel), as ``EwmaVol(annualise=False)``
  gives it: the buffer ``gamma*spread/(lambda*vol^2)`` and the vol target assume it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from lazyflow.costs import DEFAULT_FEE, Cost, Rates
from lazyflow.costs import describe as describe_costs
from lazyflow.portfolio.allocator import BufferedAllocator
from lazyflow.portfolio.attribution import Attribution
from lazyflow.portfolio.checks import ROW_REASONS, first_bad_metric, nav_error
from lazyflow.portfolio.frame import Panel, check_frame, check_parameters
from lazyflow.portfolio.run import BAD_COST_INPUT, prepare, rates_at, row_cost, run_scan
from lazyflow.portfolio.scan import Rows, Scan, Settled
from lazyflow.portfolio.summary import SUMMARY_INPUTS, summary_stats

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
    "price_pnl",
    "funding_pnl",
    "cost",
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
    # accounting (issue 16): holdings convention and cost model
    drift: bool = True
    costs: Cost | None = None

    @property
    def cost_model(self) -> str:
        """The costs charged, in one line (fee, then `costs`)."""
        return describe_costs(self.cost_per_dollar, self.costs)

    def attribution(self) -> Attribution:
        """PnL split into price, funding and cost per date, symbol and side (`Attribution`)."""
        return Attribution.of(self.book, self.metrics, self.init_nav)

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
            "drift": self.drift,
            "costs": self.cost_model,
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
        columns = {name: self.metrics[name].to_numpy() for name in SUMMARY_INPUTS}
        return summary_stats(columns, self.init_nav, ppy)

    # Keeping and showing a result: thin wrappers of lazyflow.results, imported when called
    # (it loads the report package, whose factor section imports the stages and the pipeline,
    # which import this package: at the top here, `import lazyflow` would not finish)
    def save(self, path: str | Path) -> Path:
        """Save into folder `path` (Parquet and JSON); `lf.load_result(path)` reads it back."""
        from lazyflow.results import save_result

        return save_result(self, path)

    def report(
        self,
        path: str | Path,
        frame: pl.DataFrame | None = None,
        pipeline: Any = None,
        title: str = "lazyflow backtest",
    ) -> Path:
        """Write the tear sheet into folder `path`, listing `pipeline`; return the page
        (`lazyflow.results.report_result`)."""
        from lazyflow.results import report_result

        return report_result(self, path, frame, pipeline, title)

    def __repr__(self) -> str:
        from lazyflow.results import describe_result

        return describe_result(self)


def load_result(path: str | Path) -> BacktestResult:
    """The `BacktestResult` saved in folder `path` (by `BacktestResult.save` or `lazyflow run`;
    `lazyflow.results.read_result`)."""
    from lazyflow.results import read_result

    return BacktestResult(**read_result(path, {f.name for f in fields(BacktestResult)}))


def _merge(first: np.ndarray, second: np.ndarray, at: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """One array: `first` where the mask ``at[0]`` is true, `second` at positions ``at[1]``."""
    out = np.empty(len(first) + len(second), dtype=np.result_type(first, second))
    out[at[0]] = first
    out[at[1]] = second
    return out


def backtest(
    frame: pl.DataFrame | pl.LazyFrame,
    allocator: BufferedAllocator,
    cost_per_dollar: float = DEFAULT_FEE,
    include_funding: bool = True,
    tradable: str | None = "is_universe",
    init_nav: float = 1.0,
    *,
    drift: bool = True,
    costs: Cost | None = None,
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
    row may trade). `cost_per_dollar` is the fee per dollar traded, 0 <= fee < 1 (default
    5 bps, Binance USD-M futures' taker fee; pass 0 for a frictionless run); `costs` adds
    cost models (`lazyflow.costs`; with `SquareRootImpact`, `init_nav` is in dollars).
    `drift`: the book carries coin quantities (True) or weights, as the notebook (False).
    vol_fcst is the per-period volatility forecast and spread the half-spread fraction;
    funding is the rate paid by longs over t -> t+1 (used when `include_funding`).
    `periods_per_year` annualises the metrics. `progress(done, total)` is called at most ~100
    times over the rebalance dates. The outputs keep `date_col` and `symbol_col` as column
    names. See the module docstring for the conventions.
    """
    o = dict(locals())
    check_frame(frame)
    check_parameters(allocator, o)
    panel, ok, dropped, rates = prepare(frame, o)
    rows = Rows.of(panel, ok, ())
    n_reb, n_book = rows.n_reb, rows.n_book
    book_day, book_code = rows.day[:n_book], rows.code[:n_book]
    book_bounds = rows.bounds[: n_reb + 1]
    with np.errstate(all="ignore"):
        done, run, w_desired, buffer = run_scan(
            allocator.settings(), panel, ok, rows, rates, o, init_nav, keep_book=True
        )
        columns = run.metrics(periods_per_year)
    dropped["no_next_price"] = int(run.no_next_price)
    dropped["no_next_funding"] = int(run.no_next_funding)

    daily_return = pl.col("daily_return")
    metrics = (
        pl.DataFrame({"date": panel.dates[:n_reb], **columns})
        .with_columns(
            vol_realized_d=daily_return.rolling_std(REALIZED_WINDOW),
            vol_realized_a=daily_return.rolling_std(REALIZED_WINDOW) * math.sqrt(periods_per_year),
        )
        .select(METRIC_COLUMNS)
        .rename({"date": date_col})
    )
    bad = first_bad_metric(metrics)
    if bad is not None:  # extreme prices, funding or leverage overflowed the NAV
        at = slice(book_bounds[bad.blame], book_bounds[bad.blame + 1])
        symbols = panel.symbols.gather(book_code[at]).to_list()
        size = np.abs(run.move)  # how much each row moved the NAV
        shown = {"weight": done.x_new, "close": run.p0, "next close": run.p1}
        if run.fund_move is not None and run.f1 is not None:
            size += np.abs(run.fund_move)
            shown["next funding"] = run.f1
        shown_rows = {name: values[at] for name, values in shown.items()}
        raise nav_error(bad, metrics, symbols, size[at], shown_rows, float(run.gross[bad.blame]))

    with np.errstate(all="ignore"):
        book = _book_columns(rows, done, run, w_desired, buffer, rates)
    exits = _exits(rows, run, rates)
    return BacktestResult(
        metrics=metrics,
        book=_book_frame(panel, book_day, book_code, book, exits),
        dropped={reason: dropped[reason] for reason in (*DROP_REASONS, *_extra(dropped))},
        allocator=allocator,
        cost_per_dollar=cost_per_dollar,
        include_funding=include_funding,
        tradable=tradable,
        init_nav=init_nav,
        periods_per_year=periods_per_year,
        drift=drift,
        costs=costs,
    )


def _extra(dropped: dict[str, int]) -> tuple[str, ...]:
    return (BAD_COST_INPUT,) if BAD_COST_INPUT in dropped else ()


def _book_columns(
    rows: Rows,
    done: Scan,
    run: Settled,
    w_desired: np.ndarray,
    buffer: np.ndarray,
    rates: Rates,
) -> dict[str, np.ndarray]:
    """The book's float columns of the tradable rows. Rows of dates when the book had ended
    (NAV 0) hold no position and no trade."""
    n_book = rows.n_book
    nav = run.nav_before[rows.day[:n_book]]
    ended = nav <= 0
    x_prev, trade, x_new, trade_final = (
        np.where(ended, 0.0, a) for a in (done.x_prev, done.trade, done.x_new, done.trade_final)
    )
    dollar_pos = x_new * nav
    linear, impact = rates_at(rates, rows.index[:n_book])
    funding = np.zeros(n_book) if run.fund_move is None else -run.fund_move * nav
    return {
        "x_prev": x_prev,
        "w_desired": w_desired[:n_book],
        "buffer": buffer[:n_book],
        "delta": w_desired[:n_book] - x_prev,
        "trade": trade,
        "x_new": x_new,
        "trade_final": trade_final,
        "dollar_pos": dollar_pos,
        "coin_qty": dollar_pos / run.p0,
        "vol_fcst": rows.vol[:n_book],
        "price_pnl": np.where(ended, 0.0, run.move * nav),
        "funding_pnl": np.where(ended, 0.0, funding),
        "cost": np.where(ended, 0.0, row_cost(trade_final, nav, linear, impact)),
    }


def _exits(rows: Rows, run: Settled, rates: Rates) -> _Exits:
    """The forced exits: positions closed at t+1 (not on dates after the book ended), with
    the cost of closing them at the rates of their last tradable row."""
    n_book = rows.n_book
    book_day = rows.day[:n_book]
    nav_next = np.zeros(n_book)
    has_next = book_day + 1 < rows.n_reb
    nav_next[has_next] = run.nav_before[book_day[has_next] + 1]
    closed = run.closed & (nav_next > 0)
    x = run.x_exit[closed]
    linear, impact = rates_at(rates, rows.index[:n_book][closed])
    cost = row_cost(x, nav_next[closed], linear, impact)
    return _Exits(book_day[closed] + 1, rows.code[:n_book][closed], x, cost)


class _Exits(NamedTuple):
    day: np.ndarray
    code: np.ndarray
    x_prev: np.ndarray
    cost: np.ndarray


def _book_frame(
    panel: Panel,
    day: np.ndarray,
    code: np.ndarray,
    columns: dict[str, np.ndarray],
    exits: _Exits,
) -> pl.DataFrame:
    """The book: the tradable rows and the forced exits, merged in (date, symbol) order."""
    n_book, n_exit = len(day), len(exits.day)
    n_sym = len(panel.symbols)
    # exit j goes before book row insert[j], so it lands at insert[j] + j; book rows fill the rest
    insert = np.searchsorted(day * n_sym + code, exits.day * n_sym + exits.code)
    exit_at = insert + np.arange(n_exit)
    is_book = np.ones(n_book + n_exit, dtype=bool)
    is_book[exit_at] = False
    at = (is_book, exit_at)
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
        "price_pnl": zeros,
        "funding_pnl": zeros,
        "cost": exits.cost,
    }
    series = {
        name: pl.Series(
            name, _merge(values, exit_values[name], at), nan_to_null=name in ("buffer", "vol_fcst")
        )
        for name, values in columns.items()
    }
    series["exit"] = pl.Series("exit", _merge(np.zeros(n_book, bool), np.ones(n_exit, bool), at))
    return pl.DataFrame(
        [
            panel.dates.gather(_merge(day, exits.day, at)),
            panel.symbols.gather(_merge(code, exits.code, at)),
            *(series[name] for name in BOOK_COLUMNS[2:]),
        ]
    )
