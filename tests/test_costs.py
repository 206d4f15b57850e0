"""`lazyflow.costs`: each cost against a hand computation, the algebra, the checks, and the
default exchange fee."""

from __future__ import annotations

import datetime as dt
import inspect
import math

import numpy as np
import polars as pl
import pytest
from test_backtest_drift import full_panel

import lazyflow as lf
from lazyflow.costs import DEFAULT_FEE, CostSum, from_settings

D = [dt.date(2024, 1, 1) + dt.timedelta(days=d) for d in range(3)]
#: weight 1 on one coin: target/vol normalised by sum|target/vol|
OPEN = lf.BufferedAllocator(lambda_risk=1.0, gamma_cost=0.0, max_pos=1.0, gross_cap=1.0)


def one_coin() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "date": D,
            "symbol": ["A"] * 3,
            "target_position": [0.5, 0.5, 0.5],
            "vol_fcst": [0.05, 0.04, 0.06],
            "spread": [0.002, 0.003, 0.001],
            "my_spread": [0.01, 0.02, 0.03],
            "close": [100.0, 110.0, 99.0],
            "funding_rate": [0.0, 0.0, 0.0],
            "dollar_volume": [1e6, 3e6, 2e6],
            "is_universe": [True, True, True],
        }
    )


def hand(nav: float, rate0, rate1) -> tuple[float, float, float, float]:
    """Two dates of a weight-1 book with drift: cost and NAV of each, by hand. `rate_t(T)` is
    the cost per traded dollar of T traded dollars on date t."""
    cost0 = nav * rate0(nav)
    nav1 = nav - cost0 + nav * (110 / 100 - 1)
    x_prev = 1.0 * (110 / 100) * nav / nav1  # the coins bought on date 0, at date 1's NAV
    traded = abs(1.0 - x_prev) * nav1
    cost1 = traded * rate1(traded)
    nav2 = nav1 - cost1 + nav1 * (99 / 110 - 1)
    return cost0, nav1, cost1, nav2


def check(result: lf.BacktestResult, want: tuple) -> None:
    cost0, nav1, cost1, nav2 = want
    m = result.metrics  # (date 1 trades a small drift 1 - x_prev: 1e-9 for its rounding)
    np.testing.assert_allclose(m["cost"].to_list(), [cost0, cost1], rtol=1e-9)
    np.testing.assert_allclose(m["nav"].to_list(), [nav1, nav2], rtol=1e-12)
    np.testing.assert_allclose(result.book["cost"].to_list(), [cost0, cost1], rtol=1e-9)


def test_proportional_by_hand_and_cost_per_dollar_is_its_shorthand():
    frame = one_coin()
    want = hand(1e6, lambda t: 7e-4, lambda t: 7e-4)
    check(lf.backtest(frame, OPEN, 0.0, costs=lf.costs.Proportional(7), init_nav=1e6), want)
    check(lf.backtest(frame, OPEN, cost_per_dollar=0.0007, init_nav=1e6), want)


def test_half_spread_by_hand():
    frame = one_coin()
    cost = lf.costs.HalfSpread("my_spread")
    result = lf.backtest(frame, OPEN, cost_per_dollar=0.0, costs=cost, init_nav=1e6)
    check(result, hand(1e6, lambda t: 0.01, lambda t: 0.02))


def test_square_root_impact_by_hand():
    """coef * vol * sqrt(T / ADV) per traded dollar, ADV the mean of the last `window` dollar
    volumes up to the date; plus the fee."""
    frame = one_coin()
    cost = lf.costs.SquareRootImpact(coef=0.8, window=2)
    result = lf.backtest(frame, OPEN, costs=cost, init_nav=1e6)
    want = hand(
        1e6,
        lambda t: DEFAULT_FEE + 0.8 * 0.05 * math.sqrt(t / 1e6),
        lambda t: DEFAULT_FEE + 0.8 * 0.04 * math.sqrt(t / 2e6),  # ADV = (1e6 + 3e6) / 2
    )
    check(result, want)


def test_costs_add():
    frame = one_coin()
    both = lf.costs.HalfSpread() + lf.costs.SquareRootImpact(coef=0.5, window=1)
    result = lf.backtest(frame, OPEN, cost_per_dollar=0.0, costs=both, init_nav=5e5)
    want = hand(
        5e5,
        lambda t: 0.002 + 0.5 * 0.05 * math.sqrt(t / 1e6),
        lambda t: 0.003 + 0.5 * 0.04 * math.sqrt(t / 3e6),
    )
    check(result, want)
    three = both + lf.costs.Proportional(2)
    assert isinstance(three, CostSum) and len(three.terms()) == 3  # sums stay flat
    assert "HalfSpread" in three.describe() and "Proportional 2 bps" in three.describe()


def test_impact_cost_grows_as_nav_to_the_1_5_for_a_fixed_weight_path():
    """drift=False: the weights do not depend on the NAV. Each row's impact cost divided by
    its traded dollars^1.5 is coef * vol / sqrt(ADV), whatever the NAV; on the first date
    (same NAV ratio for every row) the cost scales exactly as NAV^1.5."""
    frame = full_panel(4, n_sym=6, n_days=15, p_untradable=0.2)
    impact = lf.costs.SquareRootImpact(coef=0.6, window=4)
    runs = {
        nav: lf.backtest(frame, OPEN, cost_per_dollar=0.0, costs=impact, init_nav=nav, drift=False)
        for nav in (1e5, 1e8)
    }
    small, large = runs[1e5], runs[1e8]
    assert large.metrics["cost"][0] == pytest.approx(small.metrics["cost"][0] * 1e3**1.5, rel=1e-12)
    for result in runs.values():
        book = result.book.join(result.metrics.select("date", "nav"), on="date", how="left")
        nav_before = dict(zip(result.metrics["date"][1:], result.metrics["nav"][:-1], strict=True))
        nav_before[result.metrics["date"][0]] = result.init_nav
        traded = book["trade_final"].abs().to_numpy() * np.array(
            [nav_before[d] for d in book["date"]]
        )
        keep = (traded > 0) & ~book["exit"].to_numpy()
        per = book["cost"].to_numpy()[keep] / traded[keep] ** 1.5
        if result is small:
            first = per
        else:
            np.testing.assert_allclose(per, first, rtol=1e-10)
    assert large.summary()["total_cost"] / large.init_nav > small.summary()["total_cost"] / 1e5


def test_impact_inputs_are_computed_in_any_row_order_and_bad_ones_are_counted():
    frame = full_panel(6, n_sym=5, n_days=12).with_columns(
        dollar_volume=pl.when(pl.int_range(pl.len()) % 7 == 0)
        .then(pl.lit(None))
        .otherwise(pl.col("dollar_volume"))
    )
    frame = frame.with_columns(  # a symbol with no volume at all may not trade (ADV 0)
        dollar_volume=pl.when(pl.col("symbol") == "C00").then(0.0).otherwise("dollar_volume")
    )
    impact = lf.costs.SquareRootImpact(coef=0.5, window=3)
    result = lf.backtest(frame, OPEN, costs=impact, init_nav=1e6)
    shuffled = lf.backtest(frame.sample(fraction=1.0, shuffle=True, seed=1), OPEN, costs=impact,
                           init_nav=1e6)  # fmt: skip
    assert shuffled.metrics.equals(result.metrics) and shuffled.book.equals(result.book)
    assert result.dropped["bad_cost_input"] == 12  # C00 on every date
    assert "C00" not in result.book["symbol"].to_list()
    assert np.isfinite(result.metrics.drop("vol_realized_d", "vol_realized_a").to_numpy()).all()


@pytest.mark.parametrize(
    ("costs", "message"),
    [
        (lf.costs.Proportional(-1), "Proportional: parameter 'bps'"),
        (lf.costs.Proportional(10_000), "Proportional: parameter 'bps'"),
        (lf.costs.Proportional(10**400), "Proportional: parameter 'bps'"),
        (lf.costs.SquareRootImpact(coef=math.nan), "SquareRootImpact: parameter 'coef'"),
        (lf.costs.SquareRootImpact(window=0), "SquareRootImpact: parameter 'window'"),
        (lf.costs.SquareRootImpact(window=2**64), "SquareRootImpact: parameter 'window'"),
        (lf.costs.HalfSpread(spread_col=3), "HalfSpread: parameter 'spread_col'"),
        (lf.costs.SquareRootImpact, "the class SquareRootImpact; call it"),
        (0.001, "parameter 'costs' must be None or a lazyflow.costs cost"),
    ],
)
def test_bad_costs_are_config_errors(costs, message):
    with pytest.raises(lf.ConfigError, match=message):
        lf.backtest(one_coin(), OPEN, costs=costs)


def test_a_missing_cost_column_is_a_schema_error():
    with pytest.raises(lf.SchemaError, match="column 'adv_usd' is missing"):
        lf.backtest(one_coin(), OPEN, costs=lf.costs.SquareRootImpact(volume_col="adv_usd"))


def test_cost_tables_round_trip():
    cost = lf.costs.HalfSpread() + lf.costs.SquareRootImpact(coef=0.3, window=10)
    assert from_settings(cost.settings(), "backtest.costs") == cost
    with pytest.raises(lf.ConfigError, match=r"backtest.costs\[1\].type"):
        from_settings([{"type": "Impact"}], "backtest.costs")
    with pytest.raises(lf.ConfigError, match=r"backtest.costs\[1\].cof: unknown parameter"):
        from_settings([{"type": "SquareRootImpact", "cof": 1}], "backtest.costs")


def test_the_default_is_binance_taker_fee_and_it_is_said():
    """Not frictionless by default: 5 bps per traded dollar, named in the result's cost model
    and parameters; cost_per_dollar=0 is an explicit frictionless run."""
    assert inspect.signature(lf.backtest).parameters["cost_per_dollar"].default == 0.0005
    frame = one_coin()
    result = lf.backtest(frame, OPEN)
    assert result.metrics["cost"][0] == pytest.approx(0.0005)
    assert "5 bps" in result.cost_model and "Binance USD-M taker fee" in result.cost_model
    assert result.params()["costs"] == result.cost_model
    assert lf.backtest(frame, OPEN, cost_per_dollar=0.0).summary()["total_cost"] == 0.0


def test_numpy_numbers_are_parameters_like_python_ones():
    """np.int64 / np.float64 parameters are numbers (as for the stages and the allocator)."""
    want = lf.costs.SquareRootImpact(coef=1, window=3)
    got = lf.costs.SquareRootImpact(coef=np.int64(1), window=np.int64(3))
    got.check()
    assert got == want
    lf.costs.Proportional(bps=np.int64(5)).check()
    for bad in (np.bool_(True), np.float64("nan")):
        with pytest.raises(lf.ConfigError, match="'bps'"):
            lf.costs.Proportional(bps=bad).check()
