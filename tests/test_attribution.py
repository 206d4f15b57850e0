"""`BacktestResult.attribution()`: PnL by component, side, symbol and date."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from allocator_strategies import allocators
from hypothesis import given
from hypothesis import strategies as st
from test_backtest import panel
from test_backtest_drift import full_panel

import lazyflow as lf

START = dt.date(2024, 1, 1)
COSTS = [None, lf.costs.HalfSpread(), lf.costs.SquareRootImpact(coef=0.4, window=5)]


@given(
    seed=st.integers(0, 10_000),
    alloc=allocators,
    drift=st.booleans(),
    costs=st.sampled_from(COSTS),
    nav=st.sampled_from([1.0, 1e7]),
    p_untradable=st.sampled_from([0.0, 0.3]),
)
def test_components_sum_to_the_nav_change_on_every_date(
    seed, alloc, drift, costs, nav, p_untradable
):
    frame = full_panel(seed, n_sym=5, n_days=15, p_untradable=p_untradable)
    result = lf.backtest(frame, alloc, drift=drift, costs=costs, init_nav=nav)
    a = result.attribution()
    d = a.daily
    np.testing.assert_allclose(d["pnl"], d["nav_change"], rtol=0, atol=1e-12 * nav)
    # the per-side daily sums are the metrics' price, funding and cost, to rounding
    m = result.metrics
    for part, metric in (("price", "pnl"), ("funding", "funding_pnl"), ("cost", "cost")):
        both = d[f"{part}_long"] + d[f"{part}_short"]
        np.testing.assert_allclose(both, m[metric], rtol=0, atol=1e-12 * nav)
    # totals by symbol and by side add up to the whole run's
    total = float(d["pnl"].sum())
    assert float(a.by_symbol()["pnl"].sum()) == pytest.approx(total, abs=1e-9 * nav)
    assert float(a.by_side()["pnl"].sum()) == pytest.approx(total, abs=1e-9 * nav)
    cumulative = a.cumulative()
    assert cumulative["nav_change"][-1] == pytest.approx(m["nav"][-1] - nav, abs=1e-9 * nav)


def test_a_hand_example_long_and_short():
    """A long A and a short B, prices and funding by hand: price PnL = coins x move, funding
    = -notional x rate, cost = fee x traded dollars, each on its side."""
    frame = pl.DataFrame(
        {
            "date": [START, START, START + dt.timedelta(days=1), START + dt.timedelta(days=1)],
            "symbol": ["A", "B", "A", "B"],
            "target_position": [0.5, -0.5, 0.5, -0.5],
            "vol_fcst": [0.02, 0.02, 0.02, 0.02],
            "spread": [0.001] * 4,
            "close": [10.0, 20.0, 11.0, 19.0],
            "funding_rate": [0.0, 0.0, 0.001, 0.002],
            "is_universe": [True] * 4,
        }
    )
    alloc = lf.BufferedAllocator(gamma_cost=0.0, max_pos=1.0, gross_cap=1.0)
    a = lf.backtest(frame, alloc, cost_per_dollar=0.001, init_nav=100.0).attribution()
    rows = {r["symbol"]: r for r in a.rows.iter_rows(named=True)}
    assert rows["A"]["side"] == "long" and rows["B"]["side"] == "short"
    # weights +-0.5 of 100 dollars: 5 coins of A, -2.5 coins of B
    assert rows["A"]["price"] == pytest.approx(5 * 1.0)
    assert rows["B"]["price"] == pytest.approx(-2.5 * -1.0)
    assert rows["A"]["funding"] == pytest.approx(-50 * 0.001)
    assert rows["B"]["funding"] == pytest.approx(50 * 0.002)
    assert rows["A"]["cost"] == pytest.approx(0.05) and rows["B"]["cost"] == pytest.approx(0.05)
    sides = {r["side"]: r for r in a.by_side().iter_rows(named=True)}
    assert sides["long"]["pnl"] == pytest.approx(5 - 0.05 - 0.05)
    assert sides["short"]["pnl"] == pytest.approx(2.5 + 0.1 - 0.05)
    assert a.by_symbol()["symbol"].to_list() == ["A", "B"]  # best first


def test_forced_exits_count_on_the_side_they_close_and_row_order_changes_no_bit():
    frame = panel(7, n_sym=6, n_days=20, p_untradable=0.3)
    result = lf.backtest(frame, lf.presets.seed_allocator())
    exits = result.book.filter(pl.col("exit"))
    assert len(exits) and (exits["cost"] > 0).all()
    a = result.attribution()
    shuffled = lf.backtest(
        frame.sample(fraction=1.0, shuffle=True, seed=3), lf.presets.seed_allocator()
    )
    b = shuffled.attribution()
    assert a.daily.equals(b.daily) and a.by_symbol().equals(b.by_symbol())
    assert a.rows.equals(b.rows)
