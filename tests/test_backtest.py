"""`lf.backtest`: the notebook's Backtester/PortfolioAllocator loop, DESIGN's fixes 3-7, errors.

`reference` below is an independent, plain-Python per-date implementation of the notebook's
loop (a dict of positions, one symbol at a time), extended with DESIGN's fixes; with
``seed_cap=True`` it reproduces the notebook's turnover-cap bug.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math

import numpy as np
import polars as pl
import pytest
from allocator_strategies import allocators
from hypothesis import given
from hypothesis import strategies as st

import lazyflow as lf
from lazyflow.portfolio.backtest import BOOK_COLUMNS, METRIC_COLUMNS

START = dt.date(2024, 1, 1)

#: The notebook's conventions, which `reference` implements: weights carried from date to date
#: (drift=False) and no fee unless a test sets one.
notebook_backtest = functools.partial(lf.backtest, drift=False, cost_per_dollar=0.0)
BOOK_FLOATS = [
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
]
METRIC_FLOATS = [
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
]


# ----------------------------------------------------------------------------- data


def panel(
    seed: int,
    n_sym: int = 6,
    n_days: int = 30,
    *,
    p_missing: float = 0.0,
    p_untradable: float = 0.0,
    p_bad: float = 0.0,
) -> pl.DataFrame:
    """A random panel; optionally with missing rows, untradable flags and bad values."""
    rng = np.random.default_rng(seed)
    n = n_sym * n_days
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, (n_days, n_sym)), axis=0)).ravel()
    cols = {
        "date": pl.Series([START + dt.timedelta(days=int(d)) for d in range(n_days)]).gather(
            np.repeat(np.arange(n_days), n_sym)
        ),
        "symbol": np.tile([f"C{i:02d}" for i in range(n_sym)], n_days),
        "target_position": rng.uniform(-0.9, 0.9, n),
        "vol_fcst": rng.uniform(0.02, 0.1, n),
        "spread": rng.uniform(0.0005, 0.01, n),
        "close": close,
        "funding_rate": rng.normal(1e-4, 3e-4, n),
        "is_universe": rng.uniform(size=n) >= p_untradable,
    }
    for name, bad in [
        ("target_position", [np.nan, np.inf]),
        ("vol_fcst", [np.nan, 0.0, -0.01, np.inf]),
        ("spread", [np.nan, 0.0, -0.001]),
        ("close", [np.nan, 0.0, -1.0]),
        ("funding_rate", [np.nan]),
    ]:
        hit = rng.uniform(size=n) < p_bad
        cols[name] = np.where(hit, rng.choice(bad, n), cols[name])
    frame = pl.DataFrame(cols).with_columns(
        pl.col("target_position").fill_nan(None),
        pl.when(pl.lit(rng.uniform(size=n) < p_bad / 2))
        .then(None)
        .otherwise(pl.col("is_universe"))
        .alias("is_universe"),
    )
    keep = rng.uniform(size=n) >= p_missing
    return frame.filter(pl.Series(keep))


# ------------------------------------------------------------------------ reference


def _finite(v) -> bool:
    return v is not None and math.isfinite(v)


def _tradable(r: dict) -> bool:
    return (
        r["is_universe"] is True
        and _finite(r["target_position"])
        and _finite(r["vol_fcst"])
        and r["vol_fcst"] > 0
        and _finite(r["spread"])
        and r["spread"] > 0
        and _finite(r["close"])
        and r["close"] > 0
    )


def _sign(x: float) -> float:
    return (x > 0) - (x < 0)


def reference(
    frame: pl.DataFrame,
    alloc: lf.BufferedAllocator,
    cost_per_dollar: float = 0.0,
    include_funding: bool = True,
    init_nav: float = 1.0,
    seed_cap: bool = False,
    seed_drawdown: bool = False,
):
    """The notebook's rebalance_day + Backtester.run, one symbol at a time, with the fixes.

    DESIGN difference 9: the running high starts at init_nav (``seed_drawdown=True``: the
    notebook's, from the first NAV), and a NAV at or below 0 becomes 0 and ends the book (no
    position, trade or exit afterwards)."""
    rows = frame.to_dicts()
    at = {(r["date"], r["symbol"]): r for r in rows}
    dates = sorted({r["date"] for r in rows})
    positions: dict[str, float] = {}
    nav = init_nav
    book, metrics = [], []
    for today, tomorrow in itertools.pairwise(dates):
        day = sorted(
            (r for r in rows if r["date"] == today and _tradable(r)), key=lambda r: r["symbol"]
        )
        # allocate_day
        w_raw = {r["symbol"]: r["target_position"] / r["vol_fcst"] for r in day}
        abs_sum = sum(abs(v) for v in w_raw.values())
        w = {s: (v / abs_sum if abs_sum > 0 else 0.0) for s, v in w_raw.items()}
        if alloc.vol_target is not None:
            var = sum(w[r["symbol"]] ** 2 * r["vol_fcst"] ** 2 for r in day)
            if var > 0:
                scale = (alloc.vol_target / math.sqrt(alloc.periods_per_year)) / math.sqrt(var)
                w = {s: v * scale for s, v in w.items()}
        # rebalance_day
        out = []
        for r in day:
            s = r["symbol"]
            is_new = s not in positions
            x_prev = positions.get(s, 0.0)
            buf = alloc.gamma_cost * r["spread"] / (alloc.lambda_risk * r["vol_fcst"] ** 2)
            delta = w[s] - x_prev
            if is_new and alloc.ignore_open:
                trade = w[s]
            elif abs(delta) <= buf:
                trade = 0.0
            else:
                trade = _sign(delta) * (abs(delta) - buf)
            x_cap = min(max(x_prev + trade, -alloc.max_pos), alloc.max_pos)
            out.append(dict(r=r, x_prev=x_prev, w=w[s], buf=buf, delta=delta, trade=trade, x=x_cap))
        gross = sum(abs(o["x"]) for o in out)
        if gross > alloc.gross_cap and gross > 0:
            for o in out:
                o["x"] = o["x"] * (alloc.gross_cap / gross)
        for o in out:
            o["tf"] = o["x"] - o["x_prev"]
        if alloc.turnover_cap is not None:
            tot = sum(abs(o["tf"]) for o in out)
            if tot > alloc.turnover_cap and tot > 0:
                s_ = alloc.turnover_cap / tot
                for o in out:
                    unscaled = o["tf"]
                    o["tf"] = unscaled * s_
                    # the notebook's with_columns read the unscaled trade_final
                    o["x"] = o["x_prev"] + (unscaled if seed_cap else o["tf"])
        tradable_today = {o["r"]["symbol"] for o in out}
        exits = [(s, x) for s, x in positions.items() if s not in tradable_today and x != 0]
        positions = {o["r"]["symbol"]: o["x"] for o in out}
        if nav <= 0:  # the book has ended
            exits = []
            for o in out:
                o.update(x_prev=0.0, delta=o["w"], trade=0.0, x=0.0, tf=0.0)
        # Backtester.run
        turnover = sum(abs(o["tf"]) for o in out) + sum(abs(x) for _, x in exits)
        nav_t = nav
        cost = turnover * nav_t * cost_per_dollar
        nav -= cost
        pnl = funding = 0.0
        for o in out:
            s, p0 = o["r"]["symbol"], o["r"]["close"]
            dollar = o["x"] * nav_t
            qty = dollar / p0
            nxt = at.get((tomorrow, s))
            p1 = None if nxt is None else nxt["close"]
            if _finite(p1) and p1 > 0:
                pnl += qty * (p1 - p0)
            f1 = None if nxt is None else nxt["funding_rate"]
            if include_funding and _finite(f1):
                funding -= dollar * f1
            book.append(
                dict(
                    date=today, symbol=s, x_prev=o["x_prev"], w_desired=o["w"],
                    buffer=o["buf"], delta=o["delta"], trade=o["trade"], x_new=o["x"],
                    trade_final=o["tf"], dollar_pos=dollar, coin_qty=qty,
                    vol_fcst=o["r"]["vol_fcst"], exit=False,
                )
            )  # fmt: skip
        for s, x in exits:
            book.append(
                dict(
                    date=today, symbol=s, x_prev=x, w_desired=0.0, buffer=None, delta=-x,
                    trade=-x, x_new=0.0, trade_final=-x, dollar_pos=0.0, coin_qty=0.0,
                    vol_fcst=None, exit=True,
                )
            )  # fmt: skip
        nav += pnl
        nav += funding
        nav = max(nav, 0.0)
        var = sum(o["x"] ** 2 * o["r"]["vol_fcst"] ** 2 for o in out)
        metrics.append(
            dict(
                date=today, nav=nav, daily_return=(nav - nav_t) / nav_t if nav_t else 0.0, pnl=pnl,
                funding_pnl=funding, cost=cost, turnover_pct=turnover,
                turnover_dollar=turnover * nav_t,
                gross_exposure=sum(abs(o["x"]) for o in out),
                net_exposure=sum(o["x"] for o in out), vol_forecast_d=math.sqrt(var),
                vol_forecast_a=math.sqrt(var) * math.sqrt(365),
            )
        )  # fmt: skip
    navs = [m["nav"] for m in metrics]
    rets = [m["daily_return"] for m in metrics]
    for i, m in enumerate(metrics):
        m["nav_high"] = max(navs[: i + 1] + ([] if seed_drawdown else [init_nav]))
        m["drawdown"] = m["nav"] / m["nav_high"] - 1
        m["vol_realized_d"] = float(np.std(rets[i - 20 : i + 1], ddof=1)) if i >= 20 else None
        m["vol_realized_a"] = None if i < 20 else m["vol_realized_d"] * math.sqrt(365)
    book_df = pl.DataFrame(book, schema_overrides={c: pl.Float64 for c in BOOK_FLOATS})
    return pl.DataFrame(metrics), book_df.sort("date", "symbol") if book else book_df


def assert_close(got: pl.DataFrame, want: pl.DataFrame, keys, floats, tol=1e-10) -> None:
    assert got.select(keys).equals(want.select(keys))
    for c in floats:
        g, w = got[c].to_numpy(), want[c].to_numpy()
        assert np.array_equal(np.isnan(g), np.isnan(w)), c
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True, err_msg=c)


def assert_matches_reference(result: lf.BacktestResult, metrics, book) -> None:
    assert_close(result.metrics, metrics, ["date"], METRIC_FLOATS)
    assert len(result.book) == len(book)
    if len(book):
        assert_close(result.book, book, ["date", "symbol", "exit"], BOOK_FLOATS)


# ---------------------------------------------------------------- seed equivalence

SEED_CASES = [
    lf.BufferedAllocator(),
    lf.BufferedAllocator(lambda_risk=2.0, gamma_cost=0.3, max_pos=0.2, gross_cap=2.0),
    lf.BufferedAllocator(lambda_risk=2.0, gamma_cost=0.3, max_pos=0.2, vol_target=0.4),
    lf.BufferedAllocator(lambda_risk=50.0, gamma_cost=0.1, max_pos=0.3, gross_cap=0.6),
    lf.BufferedAllocator(lambda_risk=5.0, gamma_cost=2.0, max_pos=1.0, ignore_open=False),
]


@pytest.mark.parametrize("alloc", SEED_CASES)
def test_seed_equivalence_on_balanced_panel(alloc):
    frame = panel(1, n_sym=8, n_days=40)
    result = notebook_backtest(frame, alloc, cost_per_dollar=0.0005, include_funding=False)
    metrics, book = reference(frame, alloc, cost_per_dollar=0.0005, include_funding=False)
    assert_matches_reference(result, metrics, book)
    assert result.metrics.columns == list(METRIC_COLUMNS)
    assert result.book.columns == list(BOOK_COLUMNS)
    assert not result.book["exit"].any()
    assert result.metrics["funding_pnl"].abs().max() == 0.0
    # the buffer binds on some rows and not on others, so the equivalence tests both branches
    trades = result.book.filter(pl.col("date") > START)["trade"]
    assert (trades == 0).any() and (trades != 0).any()


def test_turnover_cap_moves_positions():
    alloc = lf.BufferedAllocator(lambda_risk=50.0, gamma_cost=0.1, max_pos=0.3, turnover_cap=0.1)
    frame = panel(2, n_sym=8, n_days=25)
    result = notebook_backtest(frame, alloc, include_funding=False)
    metrics, book = reference(frame, alloc, include_funding=False)
    assert_matches_reference(result, metrics, book)
    moved = result.book.group_by("date").agg((pl.col("x_new") - pl.col("x_prev")).abs().sum())
    assert moved["x_new"].max() <= 0.1 + 1e-12
    assert (result.metrics["turnover_pct"] - 0.1).abs().min() < 1e-12  # the cap binds
    # the notebook's x_new ignored the cap: its positions moved further than 0.1 on some date
    _, seed_book = reference(frame, alloc, include_funding=False, seed_cap=True)
    seed_moved = seed_book.group_by("date").agg((pl.col("x_new") - pl.col("x_prev")).abs().sum())
    assert seed_moved["x_new"].max() > 0.1 + 1e-3


# ------------------------------------------------------------------------ the fixes


def tiny(rows: list[tuple], **extra) -> pl.DataFrame:
    """A frame from (day, symbol, target, close, tradable[, funding]) tuples."""
    out = []
    for row in rows:
        day, sym, target, close, flag, *funding = row
        out.append(
            {
                "date": START + dt.timedelta(days=day),
                "symbol": sym,
                "target_position": target,
                "vol_fcst": 0.05,
                "spread": 0.001,
                "close": close,
                "funding_rate": funding[0] if funding else 0.0,
                "is_universe": flag,
            }
        )
    return pl.DataFrame(out).with_columns(**extra)


OPEN = lf.BufferedAllocator(lambda_risk=10.0, gamma_cost=1.0, max_pos=1.0, gross_cap=1.0)


def test_forced_exit_pays_cost_and_ignores_turnover_cap():
    alloc = lf.BufferedAllocator(max_pos=1.0, turnover_cap=1.0)  # day 0 opens 1.0: not bound
    frame = tiny(
        [
            (0, "A", 0.5, 10.0, True),
            (0, "B", -0.5, 20.0, True),
            (1, "A", 0.5, 11.0, False),  # leaves the universe: closed in full
            (1, "B", 0.9, 21.0, True),
            (2, "A", 0.5, 12.0, True),  # comes back: new, opens in full
            (2, "B", 0.9, 22.0, True),
            (3, "A", 0.5, 12.0, True),
            (3, "B", 0.9, 22.0, True),
        ]
    )
    r = notebook_backtest(frame, alloc, cost_per_dollar=0.01, include_funding=False)
    day1 = r.book.filter(pl.col("date") == START + dt.timedelta(days=1))
    exit_row = day1.filter(pl.col("exit")).row(0, named=True)
    assert exit_row["symbol"] == "A" and exit_row["x_prev"] == 0.5
    assert exit_row["trade_final"] == -0.5 and exit_row["x_new"] == 0.0
    assert exit_row["buffer"] is None and exit_row["vol_fcst"] is None
    b_row = day1.filter(~pl.col("exit")).row(0, named=True)
    assert b_row["trade_final"] == pytest.approx(1.0, abs=1e-15)  # B's trade is capped...
    assert b_row["trade"] > 1.0 + 1e-3  # ...down from its buffered trade
    m = r.metrics.row(1, named=True)
    assert m["turnover_pct"] == pytest.approx(0.5 + abs(b_row["trade_final"]), abs=1e-15)
    assert m["cost"] == pytest.approx(m["turnover_pct"] * r.metrics["nav"][0] * 0.01, rel=1e-14)
    day2 = r.book.filter(pl.col("date") == START + dt.timedelta(days=2), pl.col("symbol") == "A")
    assert day2["x_prev"][0] == 0.0 and day2["trade"][0] == day2["w_desired"][0]  # new again
    assert r.holdings.height == r.book.filter(~pl.col("exit")).height
    metrics, book = reference(frame, alloc, cost_per_dollar=0.01, include_funding=False)
    assert_matches_reference(r, metrics, book)


def test_missing_symbol_is_exited_and_marked_flat():
    frame = tiny(
        [
            (0, "A", 0.5, 10.0, True),
            (0, "B", -0.5, 20.0, True),
            (1, "B", -0.5, 30.0, True),  # A has no row on day 1
            (2, "A", 0.5, 10.0, True),
            (2, "B", -0.5, 30.0, True),
        ]
    )
    r = notebook_backtest(frame, OPEN, include_funding=False)
    assert r.dropped["no_next_price"] == 1
    # day 0: only B is marked (A has no price on day 1): pnl = qty_B * (30 - 20)
    assert r.metrics["pnl"][0] == pytest.approx(-0.5 / 20 * 10)
    exits = r.book.filter(pl.col("exit"))
    assert exits.select("symbol", "x_prev").rows() == [("A", 0.5)]
    assert exits["date"][0] == START + dt.timedelta(days=1)


@pytest.mark.parametrize("bad_close", [None, float("nan"), 0.0])
def test_untradable_next_price_counts_as_missing(bad_close):
    frame = tiny([(0, "A", 0.5, 10.0, True), (1, "A", 0.5, bad_close, True), (2, "A", 1, 12, True)])
    r = notebook_backtest(frame, OPEN, include_funding=False)
    assert r.metrics["pnl"][0] == 0.0 and r.dropped["no_next_price"] == 1
    assert r.dropped["bad_price"] == 1 and r.book["exit"].to_list() == [False, True]


def test_whole_frame_prices_mark_positions_that_left_the_universe():
    rows = [(0, "A", 0.5, 10.0, True), (0, "B", -0.5, 20.0, True), (1, "B", -0.5, 25.0, True)]
    inside = tiny([*rows, (1, "A", 0.5, 13.0, True)])
    left = tiny([*rows, (1, "A", 0.5, 13.0, False)])  # A leaves the universe on day 1
    r_in, r_left = (notebook_backtest(f, OPEN, include_funding=False) for f in (inside, left))
    assert r_left.metrics["pnl"][0] == r_in.metrics["pnl"][0]
    assert r_left.metrics["pnl"][0] == pytest.approx(0.5 / 10 * 3 - 0.5 / 20 * 5)
    assert r_left.dropped["not_tradable_flag"] == 1 and r_left.dropped["no_next_price"] == 0


def test_funding_pnl_sign_and_switch():
    frame = tiny(
        [
            (0, "A", 0.5, 10.0, True, 0.01),
            (0, "B", -0.5, 20.0, True, 0.01),
            (1, "A", 0.5, 10.0, True, 0.002),  # longs pay 0.2% over day 0 -> 1
            (1, "B", -0.5, 20.0, True, None),  # missing: counts as 0
        ]
    )
    r = notebook_backtest(frame, OPEN, init_nav=100.0)
    assert r.metrics["funding_pnl"][0] == pytest.approx(-0.5 * 100 * 0.002)
    assert r.dropped["no_next_funding"] == 1
    off = notebook_backtest(frame.drop("funding_rate"), OPEN, include_funding=False, init_nav=100.0)
    assert off.metrics["funding_pnl"][0] == 0.0 and off.dropped["no_next_funding"] == 0
    nav = r.metrics["nav"][0]
    assert nav == 100.0 - r.metrics["cost"][0] + r.metrics["pnl"][0] + r.metrics["funding_pnl"][0]


def test_untradable_rows_are_counted_by_first_reason():
    base = [(0, "A", 0.5, 10.0, True), (0, "B", -0.5, 20.0, True), (2, "A", 0.5, 10.0, True)]
    frame = tiny(
        [
            *base,
            (1, "A", 0.5, 10.0, False),  # flag
            (1, "B", None, 10.0, None),  # null flag wins over the null target
            (1, "C", None, 10.0, True),  # target
            (1, "D", 0.1, 10.0, True),  # vol (set below)
            (1, "E", 0.1, 10.0, True),  # spread 0
            (1, "F", 0.1, -3.0, True),  # price
            (1, "G", 0.1, 10.0, True),  # tradable
            (2, "G", 0.1, 10.0, True),
        ]
    ).with_columns(
        vol_fcst=pl.when(pl.col("symbol") == "D").then(float("inf")).otherwise(pl.col("vol_fcst")),
        spread=pl.when(pl.col("symbol") == "E").then(0.0).otherwise(pl.col("spread")),
    )
    r = notebook_backtest(frame, OPEN)
    assert r.dropped == {
        "not_tradable_flag": 2,
        "bad_target": 1,
        "bad_vol": 1,
        "bad_spread": 1,
        "bad_price": 1,
        "no_next_price": 0,
        "no_next_funding": 0,
    }
    day1 = r.book.filter(pl.col("date") == START + dt.timedelta(days=1))
    assert day1.filter(~pl.col("exit"))["symbol"].to_list() == ["G"]
    assert sorted(day1.filter(pl.col("exit"))["symbol"]) == ["A", "B"]
    values = np.concatenate(
        [
            r.book.select(BOOK_FLOATS).drop_nulls().to_numpy().ravel(),
            r.metrics.select(METRIC_FLOATS[:12]).to_numpy().ravel(),
        ]
    )
    assert np.isfinite(values).all()  # bad rows never reach the arithmetic


def test_messy_panel_matches_reference():
    frame = panel(5, n_sym=7, n_days=35, p_missing=0.15, p_untradable=0.2, p_bad=0.05)
    alloc = lf.BufferedAllocator(lambda_risk=20.0, gamma_cost=0.2, max_pos=0.3, turnover_cap=0.4)
    r = notebook_backtest(frame, alloc, cost_per_dollar=0.001, init_nav=3.0)
    metrics, book = reference(frame, alloc, cost_per_dollar=0.001, init_nav=3.0)
    assert_matches_reference(r, metrics, book)
    assert r.book["exit"].sum() > 0 and r.dropped["no_next_price"] > 0


# ---------------------------------------------------------- inputs, options, errors


def test_lazy_input_custom_names_and_no_flag():
    frame = panel(3, n_sym=4, n_days=12)
    names = {"date": "d", "symbol": "s", "target_position": "t", "vol_fcst": "v",
             "spread": "sp", "close": "px", "funding_rate": "f"}  # fmt: skip
    plain = notebook_backtest(frame, OPEN, tradable=None)
    renamed = notebook_backtest(
        frame.drop("is_universe").rename(names).lazy(),
        OPEN,
        tradable=None,
        date_col="d",
        symbol_col="s",
        target_col="t",
        vol_col="v",
        spread_col="sp",
        price_col="px",
        funding_col="f",
    )
    assert renamed.metrics.rename({"d": "date"}).equals(plain.metrics)
    assert renamed.book.rename({"d": "date", "s": "symbol"}).equals(plain.book)
    assert plain.dropped["not_tradable_flag"] == 0
    assert renamed.holdings.columns == ["d", "s", "weight", "dollar", "coin_qty"]
    assert renamed.holdings.rename({"d": "date", "s": "symbol"}).equals(plain.holdings)


def test_categorical_symbols_and_datetime_dates():
    frame = panel(4, n_sym=4, n_days=10)
    other = frame.with_columns(
        pl.col("symbol").cast(pl.Categorical), pl.col("date").cast(pl.Datetime)
    )
    a, b = notebook_backtest(frame, OPEN), notebook_backtest(other, OPEN)
    assert a.metrics.drop("date").equals(b.metrics.drop("date"))
    assert a.book.drop("date").equals(b.book.drop("date"))
    # an Enum whose categories are not in sorted order: symbols still coded in string order
    reverse = pl.Enum(sorted(frame["symbol"].unique().to_list(), reverse=True))
    c = notebook_backtest(frame.with_columns(pl.col("symbol").cast(reverse)), OPEN)
    assert c.metrics.equals(a.metrics) and c.book.equals(a.book)
    assert {r.book.schema["symbol"] for r in (a, b, c)} == {pl.String}


def test_missing_column_is_a_schema_error():
    with pytest.raises(lf.SchemaError) as err:
        notebook_backtest(panel(0, 3, 5).drop("spread"), OPEN)
    assert err.value.stage == "backtest" and err.value.column == "spread"
    with pytest.raises(lf.SchemaError, match="is_universe"):
        notebook_backtest(panel(0, 3, 5).with_columns(is_universe=pl.lit(1)), OPEN)
    with pytest.raises(lf.SchemaError, match="funding_rate"):
        notebook_backtest(panel(0, 3, 5).drop("funding_rate"), OPEN)


def test_duplicates_empty_and_single_date_are_data_errors():
    frame = panel(0, 3, 5)
    with pytest.raises(lf.DataError, match=r"2 duplicate \(date, symbol\) rows.*2024-01-0"):
        notebook_backtest(pl.concat([frame, frame.head(2)]), OPEN)
    with pytest.raises(lf.DataError, match="no rows"):
        notebook_backtest(frame.head(0), OPEN)
    with pytest.raises(lf.DataError, match="at least 2 dates"):
        notebook_backtest(frame.filter(pl.col("date") == START), OPEN)
    with pytest.raises(lf.DataError, match="'symbol' has 1 null"):
        notebook_backtest(
            frame.with_columns(symbol=pl.when(pl.int_range(pl.len()) > 0).then("symbol")), OPEN
        )


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"cost_per_dollar": -0.1}, "cost_per_dollar"),
        ({"init_nav": 0.0}, "init_nav"),
        ({"periods_per_year": 0}, "periods_per_year"),
        ({"progress": 3}, "progress"),
        ({"init_nav": float("inf")}, "init_nav"),
        ({"cost_per_dollar": True}, "cost_per_dollar"),
        ({"include_funding": "yes"}, "include_funding"),
        ({"allocator": None}, "allocator"),
    ],
)
def test_bad_backtest_parameters(kwargs, name):
    with pytest.raises(lf.ConfigError, match=f"backtest: parameter '{name}'"):
        notebook_backtest(panel(0, 3, 5), **{"allocator": OPEN, **kwargs})


def test_bad_allocator_parameter_is_reported_at_call_time():
    alloc = lf.BufferedAllocator(gross_cap=-1.0)  # constructing is fine
    with pytest.raises(lf.ConfigError, match="BufferedAllocator: parameter 'gross_cap'"):
        notebook_backtest(panel(0, 3, 5), alloc)


def test_progress_is_called_at_most_about_100_times():
    calls = []
    notebook_backtest(
        panel(0, 2, 450), OPEN, progress=lambda done, total: calls.append((done, total))
    )
    assert 50 <= len(calls) <= 101
    assert calls[-1] == (449, 449)
    assert [d for d, _ in calls] == sorted({d for d, _ in calls})


# ------------------------------------------------------------------------- summary


def test_summary_matches_numpy():
    r = notebook_backtest(panel(7, 6, 60), OPEN, cost_per_dollar=0.001, init_nav=2.0)
    s = r.summary()
    ret = r.metrics["daily_return"].to_numpy()
    nav = r.metrics["nav"].to_numpy()
    n = len(ret)
    assert s["n_days"] == n == 59
    assert s["total_return"] == pytest.approx(nav[-1] / 2.0 - 1)
    assert s["cagr"] == pytest.approx((nav[-1] / 2.0) ** (365 / n) - 1)
    assert s["ann_vol"] == pytest.approx(np.std(ret, ddof=1) * np.sqrt(365))
    assert s["sharpe"] == pytest.approx(ret.mean() / np.std(ret, ddof=1) * np.sqrt(365))
    downside = np.sqrt(np.mean(np.minimum(ret, 0) ** 2))
    assert s["sortino"] == pytest.approx(ret.mean() / downside * np.sqrt(365))
    dd = nav / np.maximum.accumulate(nav) - 1
    assert s["max_drawdown"] == pytest.approx(dd.min())
    assert s["calmar"] == pytest.approx(s["cagr"] / abs(dd.min()))
    assert s["avg_turnover"] == pytest.approx(r.metrics["turnover_pct"].mean())
    assert s["total_cost"] == pytest.approx(r.metrics["cost"].sum())
    assert s["total_funding"] == pytest.approx(r.metrics["funding_pnl"].sum())
    weekly = r.summary(periods_per_year=52)
    assert weekly["ann_vol"] == pytest.approx(np.std(ret, ddof=1) * np.sqrt(52))
    assert r.params()["lambda_risk"] == OPEN.lambda_risk and r.params()["init_nav"] == 2.0


def test_summary_zero_variance_is_nan_or_inf():
    flat = panel(0, 3, 6).with_columns(target_position=pl.lit(0.0))  # never invests
    s = notebook_backtest(flat, OPEN).summary()
    assert s["total_return"] == 0.0 and s["ann_vol"] == 0.0
    assert math.isnan(s["sharpe"]) and math.isnan(s["sortino"]) and math.isnan(s["calmar"])
    up = tiny([(d, "A", 0.5, 10.0 * 1.01**d, True) for d in range(5)])
    s_up = notebook_backtest(up, OPEN, include_funding=False).summary()
    assert s_up["sortino"] == math.inf and s_up["calmar"] == math.inf and s_up["max_drawdown"] == 0
    rocket = tiny([(0, "A", 0.5, 1.0, True), (1, "A", 0.5, 1000.0, True)])
    assert notebook_backtest(rocket, OPEN, include_funding=False).summary()["cagr"] == math.inf
    crash = tiny([(0, "A", -0.5, 1.0, True), (1, "A", 0.5, 1000.0, True)])
    s_crash = notebook_backtest(crash, OPEN, include_funding=False).summary()
    assert s_crash["cagr"] == -1.0 and s_crash["total_return"] == -1.0  # ruin: NAV stops at 0


# ------------------------------------------------------------------ property tests

frames = st.builds(
    panel,
    seed=st.integers(0, 2**32 - 1),
    n_sym=st.integers(1, 7),
    n_days=st.integers(2, 12),
    p_missing=st.sampled_from([0.0, 0.2]),
    p_untradable=st.sampled_from([0.0, 0.3]),
    p_bad=st.sampled_from([0.0, 0.1]),
)


@given(frame=frames, alloc=allocators, cost=st.sampled_from([0.0, 0.002]))
def test_property_matches_reference_and_invariants(frame, alloc, cost):
    if frame["date"].n_unique() < 2:
        return
    r = notebook_backtest(frame, alloc, cost_per_dollar=cost)
    metrics, book = reference(frame, alloc, cost_per_dollar=cost)
    assert_matches_reference(r, metrics, book)
    b, m = r.book, r.metrics
    eps = 1e-12
    assert (b["x_new"].abs() <= alloc.max_pos + eps).all()
    per_date = b.group_by("date").agg(
        gross=pl.col("x_new").abs().sum(),
        disc=pl.col("trade_final").filter(~pl.col("exit")).abs().sum(),
    )
    assert (per_date["gross"] <= alloc.gross_cap + eps).all()
    if alloc.turnover_cap is not None:
        assert (per_date["disc"] <= alloc.turnover_cap + eps).all()
    # NAV identity, exactly, in the order nav_{t-1} - cost + pnl + funding_pnl
    prev = np.concatenate([[1.0], m["nav"].to_numpy()[:-1]])
    want = prev - m["cost"].to_numpy() + m["pnl"].to_numpy() + m["funding_pnl"].to_numpy()
    assert np.array_equal(m["nav"].to_numpy(), want)


@given(frame=frames, alloc=allocators)
def test_property_no_trade_inside_buffer(frame, alloc):
    if frame["date"].n_unique() < 2:
        return
    b = notebook_backtest(frame, alloc).book.filter(~pl.col("exit"))
    dates = sorted(frame["date"].unique())  # "previous date" is the frame's, not the book's
    prev_of = dict(zip(dates[1:], dates[:-1], strict=True))
    seen = {(d, s) for d, s in zip(b["date"], b["symbol"], strict=True)}
    for row in b.iter_rows(named=True):
        was_in_book = (prev_of.get(row["date"]), row["symbol"]) in seen
        if not was_in_book and alloc.ignore_open:
            assert row["trade"] == row["w_desired"]
        elif abs(row["delta"]) <= row["buffer"]:
            assert row["trade"] == 0.0
        else:  # trade to the buffer's edge
            gap = row["w_desired"] - (row["x_prev"] + row["trade"])
            assert abs(abs(gap) - row["buffer"]) <= 1e-12 * max(1.0, row["buffer"])
            assert np.sign(row["trade"]) == np.sign(row["delta"])
    # on dates where neither cap binds, x_new is the clipped buffered target, so a symbol
    # inside its buffer keeps its position exactly
    clipped = (pl.col("x_prev") + pl.col("trade")).clip(-alloc.max_pos, alloc.max_pos)
    tcap = math.inf if alloc.turnover_cap is None else alloc.turnover_cap
    free = b.with_columns(clipped=clipped).filter(
        pl.col("clipped").abs().sum().over("date") <= alloc.gross_cap,
        (pl.col("clipped") - pl.col("x_prev")).abs().sum().over("date") <= tcap,
    )
    # (to rounding: a sum at a cap may scale by 1 - 1 ulp in one summation order, not another)
    np.testing.assert_allclose(free["x_new"], free["clipped"], rtol=1e-12, atol=1e-15)
    still = free.filter(pl.col("trade") == 0)
    np.testing.assert_allclose(still["x_new"], still["x_prev"], rtol=1e-12, atol=1e-15)


@given(frame=frames, alloc=allocators, cut=st.integers(1, 11), seed=st.integers(0, 1000))
def test_property_no_look_ahead_and_row_order(frame, alloc, cut, seed):
    """Rows in any order give the same result. Cut at date T (rows dated <= T kept), T is the
    last date, so it has no book or metrics row; every row dated < T (whose metrics use
    prices up to T) must equal the full run's."""
    dates = sorted(frame["date"].unique())
    if len(dates) < 2:
        return
    full = notebook_backtest(frame, alloc, cost_per_dollar=0.001)
    shuffled = notebook_backtest(
        frame.sample(fraction=1.0, shuffle=True, seed=seed), alloc, cost_per_dollar=0.001
    )
    assert shuffled.metrics.equals(full.metrics) and shuffled.book.equals(full.book)
    assert shuffled.dropped == full.dropped
    t = dates[min(cut, len(dates) - 1)]
    part = notebook_backtest(frame.filter(pl.col("date") <= t), alloc, cost_per_dollar=0.001)
    assert part.metrics["date"].max() < t
    assert part.metrics.equals(full.metrics.filter(pl.col("date") < t))
    assert part.book.equals(full.book.filter(pl.col("date") < t))


