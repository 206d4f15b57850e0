"""`lf.backtest(drift=True)`: the book carries coin quantities (DESIGN difference 10).

`account` below is an independent account simulator: it holds coins and cash, buys and sells
coins at the close, pays fees on the traded coins x price (a flat fee, half the spread and
square-root impact on a trailing-mean ADV computed here with numpy), marks the coins to the
next close and pays funding on the held notional. Fed the allocator's target weights with the
buffer off (gamma_cost=0) and no caps, its NAV path must be the backtest's.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math

import numpy as np
import polars as pl
import pytest
from allocator_strategies import allocators
from hypothesis import given
from hypothesis import strategies as st

import lazyflow as lf

START = dt.date(2024, 1, 1)


def full_panel(seed: int, n_sym: int, n_days: int, p_untradable: float = 0.0) -> pl.DataFrame:
    """Every (date, symbol) row present, with random untradable flags and dollar volumes."""
    rng = np.random.default_rng(seed)
    n = n_sym * n_days
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.05, (n_days, n_sym)), axis=0)).ravel()
    return pl.DataFrame(
        {
            "date": pl.Series([START + dt.timedelta(days=d) for d in range(n_days)]).gather(
                np.repeat(np.arange(n_days), n_sym)
            ),
            "symbol": np.tile([f"C{i:02d}" for i in range(n_sym)], n_days),
            "target_position": rng.uniform(-0.9, 0.9, n),
            "vol_fcst": rng.uniform(0.02, 0.1, n),
            "spread": rng.uniform(0.0005, 0.01, n),
            "close": close,
            "funding_rate": rng.normal(1e-4, 3e-4, n),
            "dollar_volume": rng.uniform(1e5, 1e7, n),
            "is_universe": rng.uniform(size=n) >= p_untradable,
        }
    )


def trailing_mean(frame: pl.DataFrame, column: str, window: int) -> dict:
    """{(date, symbol): mean of the symbol's last `window` values up to the date}, numpy."""
    out = {}
    for symbol in frame["symbol"].unique():
        rows = frame.filter(pl.col("symbol") == symbol).sort("date")
        values = rows[column].to_numpy()
        for k, date in enumerate(rows["date"]):
            out[(date, symbol)] = float(np.mean(values[max(0, k - window + 1) : k + 1]))
    return out


def account(
    frame: pl.DataFrame,
    fee: float,
    init_nav: float,
    half_spread: bool = False,
    impact: tuple[float, int] | None = None,
) -> list[float]:
    """The NAV after each rebalance date, from coins and cash, trading to the weights
    ``target/vol / sum|target/vol|`` of the tradable rows at every close."""
    at = {(r["date"], r["symbol"]): r for r in frame.to_dicts()}
    dates = sorted(frame["date"].unique())
    adv = trailing_mean(frame, "dollar_volume", impact[1]) if impact else {}

    def fee_on(dollars: float, row: dict) -> float:
        rate = fee + (row["spread"] if half_spread else 0.0)
        if impact:
            key = (row["date"], row["symbol"])
            rate += impact[0] * row["vol_fcst"] * math.sqrt(dollars / adv[key])
        return dollars * rate

    coins: dict[str, float] = {}
    last_row: dict[str, dict] = {}  # the row each holding was last traded on
    cash, navs = init_nav, []
    for today, tomorrow in itertools.pairwise(dates):
        rows = {s: r for (d, s), r in at.items() if d == today and r["is_universe"]}
        nav = cash + sum(q * at[(today, s)]["close"] for s, q in coins.items())
        for s in [s for s in coins if s not in rows]:  # no longer tradable: sell at its close
            dollars = coins.pop(s) * at[(today, s)]["close"]
            cash += dollars - fee_on(abs(dollars), last_row.pop(s))
        raw = {s: r["target_position"] / r["vol_fcst"] for s, r in rows.items()}
        gross = sum(abs(v) for v in raw.values())
        for s, r in rows.items():
            want = raw[s] / gross * nav / r["close"]
            traded = want - coins.get(s, 0.0)
            cash -= traded * r["close"] + fee_on(abs(traded) * r["close"], r)
            coins[s], last_row[s] = want, r
        cash -= sum(q * at[(today, s)]["close"] * at[(tomorrow, s)]["funding_rate"]
                    for s, q in coins.items())  # fmt: skip
        navs.append(cash + sum(q * at[(tomorrow, s)]["close"] for s, q in coins.items()))
    return navs


FREE = dict(lambda_risk=1.0, gamma_cost=0.0, max_pos=10.0, gross_cap=10.0, turnover_cap=None)


@pytest.mark.parametrize(
    ("costs", "sim"),
    [
        (None, {}),
        (lf.costs.HalfSpread(), {"half_spread": True}),
        (lf.costs.SquareRootImpact(coef=0.7, window=3), {"impact": (0.7, 3)}),
        (
            lf.costs.HalfSpread() + lf.costs.SquareRootImpact(coef=0.3, window=5),
            {"half_spread": True, "impact": (0.3, 5)},
        ),
    ],
)
@pytest.mark.parametrize("p_untradable", [0.0, 0.25])
def test_drift_equals_an_account_of_coins_and_cash(costs, sim, p_untradable):
    frame = full_panel(3, n_sym=6, n_days=25, p_untradable=p_untradable)
    result = lf.backtest(
        frame,
        lf.BufferedAllocator(**FREE),
        cost_per_dollar=0.0007,
        costs=costs,
        init_nav=1e6,
    )
    want = account(frame, 0.0007, 1e6, **sim)
    np.testing.assert_allclose(result.metrics["nav"].to_numpy(), want, rtol=1e-10, atol=0)
    if p_untradable:
        assert result.book["exit"].any()  # positions closed at their own price


@given(
    seed=st.integers(0, 10_000),
    alloc=allocators,
    fee=st.sampled_from([0.0, 0.0005, 0.003]),
    p_untradable=st.sampled_from([0.0, 0.3]),
)
def test_every_book_row_satisfies_the_drift_identity(seed, alloc, fee, p_untradable):
    """x_prev on t+1 = coin_qty_t * close_{t+1} / NAV_{t+1} (NAV before t+1's cost), with the
    buffer and caps on; 0 for a symbol not held or not tradable the day before."""
    frame = full_panel(seed, n_sym=5, n_days=12, p_untradable=p_untradable)
    result = lf.backtest(frame, alloc, cost_per_dollar=fee)
    book = result.book
    nav = dict(zip(result.metrics["date"], result.metrics["nav"], strict=True))
    close = {(d, s): c for d, s, c in frame.select("date", "symbol", "close").iter_rows()}
    kept = book.filter(~pl.col("exit")).select("date", "symbol", "coin_qty")
    held = {(d, s): q for d, s, q in kept.iter_rows()}
    dates = sorted(frame["date"].unique())
    before = dict(zip(dates[1:], dates[:-1], strict=True))
    for d, s, x_prev in book.select("date", "symbol", "x_prev").iter_rows():
        if d not in before:
            assert x_prev == 0.0
            continue
        qty = held.get((before[d], s), 0.0)
        want = qty * close[(d, s)] / nav[before[d]]
        assert x_prev == pytest.approx(want, rel=1e-10, abs=1e-14)
    # the drift is traded: it counts in the turnover, and the cap holds on it
    moved = book.group_by("date").agg(pl.col("trade_final").filter(~pl.col("exit")).abs().sum())
    if alloc.turnover_cap is not None:
        assert (moved["trade_final"] <= alloc.turnover_cap + 1e-12).all()


def test_drift_trades_more_than_the_weight_carry():
    """Constant targets: the notebook's weight carry never trades after the first date (the
    drift is resized for free); with drift, the positions that moved with their prices are
    traded back every date, and that trade is costed."""
    frame = full_panel(5, n_sym=8, n_days=40).with_columns(
        pl.col("target_position", "vol_fcst").first().over("symbol")
    )
    alloc = lf.BufferedAllocator(gamma_cost=0.0, max_pos=1.0)
    drift = lf.backtest(frame, alloc).metrics
    carry = lf.backtest(frame, alloc, drift=False).metrics
    assert (carry["turnover_pct"][1:] == 0).all() and (carry["cost"][1:] == 0).all()
    assert (drift["turnover_pct"][1:] > 1e-4).all() and (drift["cost"][1:] > 0).all()


def test_drift_is_the_default_and_the_seed_presets_keep_the_weight_carry():
    assert lf.presets.SEED_BACKTEST["drift"] is False
    import inspect

    assert inspect.signature(lf.backtest).parameters["drift"].default is True
    frame = full_panel(1, n_sym=4, n_days=10)
    alloc = lf.presets.seed_allocator()
    assert lf.backtest(frame, alloc).drift is True
    assert lf.backtest(frame, alloc, **lf.presets.SEED_BACKTEST).drift is False


@pytest.mark.parametrize("drift", [False, True])
def test_grid_supports_both_conventions(drift):
    frame = full_panel(2, n_sym=6, n_days=20, p_untradable=0.2)
    grid = lf.grid_allocators(lf.presets.seed_allocator(), {"lambda_risk": [0.5, 2.0, 8.0]})
    costs = lf.costs.HalfSpread()
    result = lf.backtest_grid(frame, grid, drift=drift, costs=costs)
    for j, alloc in enumerate(grid):
        one = lf.backtest(frame, alloc, drift=drift, costs=costs)
        np.testing.assert_allclose(
            result.metrics["nav"][:, j], one.metrics["nav"].to_numpy(), rtol=1e-12
        )


def test_sweep_takes_drift_and_costs_as_backtest_settings():
    panel = lf.synthetic_panel(n_symbols=20, n_days=90, seed=4)
    frame = lf.presets.carry()(panel.lazy()).collect()
    alloc = lf.presets.seed_allocator()
    costs = lf.costs.SquareRootImpact(coef=0.5)
    for drift in (False, True):
        options = {"drift": drift, "costs": costs, "init_nav": 1e6}
        table = lf.sweep(panel, lf.presets.carry(), [alloc], options, n_jobs=1)
        want = lf.backtest(frame, alloc, **options).summary()
        assert table["sharpe"][0] == pytest.approx(want["sharpe"], rel=1e-9)
        assert table["total_cost"][0] == pytest.approx(want["total_cost"], rel=1e-9)
