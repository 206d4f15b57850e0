"""Ruin, drawdown from init_nav (DESIGN difference 9) and the backtest's argument checks.

A NAV at or below 0 ends the book: that date's NAV is 0 (the loss beyond it written off) and
every later date holds NAV 0, no position, no trade and no cost.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import warnings

import numpy as np
import polars as pl
import pytest
from test_backtest import reference

import lazyflow as lf

START = dt.date(2024, 1, 1)


def book_panel(
    n_days: int = 10,
    n_sym: int = 4,
    target: float = 0.5,
    crash_day: int = 3,
    crash: float = 0.0,
    funding_shock: float = 0.0,
) -> pl.DataFrame:
    """Flat prices except a one-day move of every close by `crash` (a fraction) on
    `crash_day`, and optionally a funding rate of `funding_shock` paid that day."""
    rows = []
    for d in range(n_days):
        for k in range(n_sym):
            close = 100.0 * (1 + k) * ((1 + crash) if d >= crash_day else 1.0)
            rows.append(
                {
                    "date": START + dt.timedelta(days=d),
                    "symbol": f"S{k}",
                    "target_position": target,
                    "vol_fcst": 0.01,
                    "spread": 0.001,
                    "close": close,
                    "funding_rate": funding_shock if d == crash_day else 0.0,
                    "dollar_volume": 1e7,
                    "is_universe": True,
                }
            )
    return pl.DataFrame(rows)


#: 2x gross from the vol target: 0.01 daily vols, a 200% annual target, capped at 2x.
LEVERED = lf.BufferedAllocator(gamma_cost=0.0, max_pos=0.5, gross_cap=2.0, vol_target=2.0)
UNLEVERED = lf.BufferedAllocator(gamma_cost=0.0, max_pos=1.0, gross_cap=1.0)


def assert_ended(result: lf.BacktestResult, day: int) -> None:
    """The NAV is 0 from metrics row `day` on, and the book holds nothing after it."""
    m = result.metrics
    nav = m["nav"].to_numpy()
    assert (nav[:day] > 0).all() and (nav[day:] == 0).all()
    for column in m.columns[1:]:
        values = m[column].drop_nulls().to_numpy()
        assert np.isfinite(values).all(), column
    assert (m["drawdown"].to_numpy() <= 0).all() and (m["drawdown"][day:] == -1).all()
    assert m["daily_return"][day] == -1 and (m["daily_return"][day + 1 :] == 0).all()
    for column in ("pnl", "funding_pnl", "cost", "turnover_pct", "gross_exposure"):
        assert (m[column][day + 1 :] == 0).all(), column
    after = result.book.filter(pl.col("date") > m["date"][day])
    assert (after["x_new"] == 0).all() and (after["x_prev"] == 0).all()
    assert not after["exit"].any() and (after["cost"] == 0).all()
    daily = result.attribution().daily
    assert daily["written_off"][day] > 0 and (daily["written_off"].drop_nulls() >= 0).all()
    atol = 1e-12 * result.init_nav
    np.testing.assert_allclose(daily["pnl"], daily["nav_change"], rtol=0, atol=atol)
    assert result.summary()["total_return"] == -1.0 and result.summary()["max_drawdown"] == -1.0


@pytest.mark.parametrize("drift", [False, True])
def test_a_levered_book_and_a_60pct_crash_end_the_book(drift):
    frame = book_panel(crash=-0.6)
    result = lf.backtest(frame, LEVERED, drift=drift)
    assert result.metrics["gross_exposure"][0] == pytest.approx(2.0)
    assert_ended(result, 2)  # held on date 2 into the crash of date 3


def test_a_short_book_and_a_rocket_end_the_book():
    frame = book_panel(target=-0.5, crash=1.5, crash_day=5)
    assert_ended(lf.backtest(frame, UNLEVERED, cost_per_dollar=0.001), 4)


def test_a_funding_shock_ends_the_book():
    frame = book_panel(funding_shock=1.3, crash_day=6)  # longs pay 130% of notional
    assert_ended(lf.backtest(frame, UNLEVERED), 5)


def test_an_impact_cost_run_ends_the_book_too():
    frame = book_panel(crash=-0.7, crash_day=4)
    impact = lf.costs.SquareRootImpact(coef=0.5, window=3)
    assert_ended(lf.backtest(frame, LEVERED, costs=impact, init_nav=1e6), 3)


def test_in_a_grid_only_the_ruined_configuration_ends():
    frame = book_panel(crash=-0.6)
    grid = lf.backtest_grid(frame, [UNLEVERED, LEVERED])
    nav = grid.metrics["nav"]
    assert (nav[:, 0] > 0).all() and (nav[2:, 1] == 0).all()
    np.testing.assert_allclose(nav[:, 1], lf.backtest(frame, LEVERED).metrics["nav"], rtol=1e-12)


def test_reference_agrees_on_a_ruin():
    """The plain-Python reference (test_backtest) floors the NAV the same way."""
    frame = book_panel(crash=-0.6).drop("dollar_volume")
    result = lf.backtest(frame, LEVERED, include_funding=False, drift=False, cost_per_dollar=0.0)
    metrics, _ = reference(frame, LEVERED, include_funding=False)
    np.testing.assert_allclose(result.metrics["nav"], metrics["nav"], rtol=1e-12, atol=1e-15)


def test_drawdown_is_measured_from_init_nav():
    """A NAV that only falls, 1 -> 0.9 -> 0.81 -> 0.729, has a max drawdown of -27.1% (the
    notebook's running high starts at the first NAV, 0.9, and reports -19%)."""
    rows = [
        (START + dt.timedelta(days=d), "A", 1.0, 0.01, 0.001, 100.0 * 0.9**d, 0.0, True)
        for d in range(4)
    ]
    names = ["date", "symbol", "target_position", "vol_fcst", "spread", "close", "funding_rate"]
    frame = pl.DataFrame(rows, schema=[*names, "is_universe"], orient="row")
    result = lf.backtest(frame, UNLEVERED, cost_per_dollar=0.0, drift=False)
    np.testing.assert_allclose(result.metrics["nav"], [0.9, 0.81, 0.729], rtol=1e-12)
    assert result.summary()["max_drawdown"] == pytest.approx(-0.271, rel=1e-12)
    assert (result.metrics["nav_high"] == 1.0).all()
    seed, _ = reference(frame, UNLEVERED, seed_drawdown=True)
    assert seed["drawdown"].min() == pytest.approx(0.729 / 0.9 - 1)  # the notebook's -19%


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((None,), {}, "parameter 'frame' must be a polars DataFrame or LazyFrame"),
        (([1, 2],), {}, "parameter 'frame' must be a polars DataFrame"),
        ((pl.DataFrame, lf.BufferedAllocator()), {}, "the class DataFrame"),
        (("frame", lf.VolumeUniverse), {}, "the class VolumeUniverse"),
        (("frame", lf.VolumeUniverse()), {}, "'allocator' must be a BufferedAllocator"),
        (("frame", lf.BufferedAllocator), {}, "the class BufferedAllocator"),
        (("frame", None), {}, "'allocator' must be a BufferedAllocator"),
        ((), {"periods_per_year": "365"}, "'periods_per_year' must be a finite number > 0"),
        ((), {"init_nav": 10**400}, "'init_nav' must be a finite number > 0"),
        ((), {"cost_per_dollar": 1.0}, r"'cost_per_dollar' must be a number in \[0, 1\)"),
        ((), {"cost_per_dollar": -0.001}, "'cost_per_dollar' must be a number in"),
        ((), {"cost_per_dollar": float("nan")}, "'cost_per_dollar' must be a number in"),
        ((), {"cost_per_dollar": 10**400}, "'cost_per_dollar' must be a number in"),
        ((), {"drift": "yes"}, "'drift' must be a bool"),
        ((), {"include_funding": 1}, "'include_funding' must be a bool"),
        ((), {"tradable": 3}, "'tradable' must be None or a column name"),
        ((), {"price_col": None}, "'price_col' must be a column name"),
        ((), {"progress": 5}, "'progress' must be None or a callable"),
    ],
)
def test_wrong_types_say_what_was_expected(args, kwargs, message):
    frame = book_panel()
    args = tuple(frame if a == "frame" else a for a in args)
    if len(args) < 2:
        args = (*(args or (frame,)), UNLEVERED)
    with pytest.raises(lf.ConfigError, match=message):
        lf.backtest(*args, **kwargs)


def test_grid_and_capacity_check_their_frame_and_huge_allocator_integers():
    with pytest.raises(lf.ConfigError, match="backtest_grid: parameter 'frame'"):
        lf.backtest_grid(None, [UNLEVERED])
    with pytest.raises(lf.ConfigError, match="capacity: parameter 'frame'"):
        lf.capacity(None, UNLEVERED)
    with pytest.raises(lf.ConfigError, match="parameter 'max_pos'"):
        lf.backtest(book_panel(), lf.BufferedAllocator(max_pos=10**400))


@pytest.mark.parametrize(
    "alloc",
    [
        lf.BufferedAllocator(max_pos=1e300, gross_cap=1e300, vol_target=1e300, gamma_cost=0.0),
        lf.BufferedAllocator(max_pos=10**300, gross_cap=10**300, vol_target=1e200),
        lf.BufferedAllocator(lambda_risk=1e-300, gamma_cost=1e300, max_pos=1e300),
    ],
)
@pytest.mark.parametrize("crash", [-0.6, 0.5])
def test_huge_valid_allocator_values_warn_nothing_and_blame_no_price(alloc, crash):
    frame = book_panel(crash=crash)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            result = lf.backtest(frame, alloc)
        except lf.DataError as exc:
            assert "prices" not in str(exc) and "leverage" in str(exc)
            return
    nav = result.metrics["nav"].to_numpy()
    assert np.isfinite(nav).all() and (nav >= 0).all()


def test_huge_valid_allocators_in_a_grid_and_a_capacity_curve_warn_nothing():
    frame = book_panel(crash=0.5)
    huge = lf.BufferedAllocator(max_pos=1e300, gross_cap=1e300, vol_target=1e300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for call in (
            lambda: lf.backtest_grid(frame, [UNLEVERED, huge]),
            lambda: lf.capacity(frame, huge, costs=lf.costs.SquareRootImpact()),
        ):
            try:
                call()
            except lf.DataError as exc:
                assert "prices" not in str(exc) and "leverage" in str(exc)


def test_book_vol_stays_finite_when_squares_overflow():
    from lazyflow.portfolio.allocator import segment_norm as _book_vol

    bounds = np.array([0, 2, 2, 5])
    vol = np.array([0.01, 0.02, 0.03, 0.01, 0.05])
    for scale in (1.0, 1e300):
        x = np.array([1.0, -2.0, 0.5, 0.0, 3.0]) * scale
        got = _book_vol(x, vol, bounds)
        want = [
            math.hypot(*(x[a:b] * vol[a:b])) if b > a else 0.0
            for a, b in itertools.pairwise(bounds)
        ]
        np.testing.assert_allclose(got, want, rtol=1e-12)
        grid = _book_vol(np.stack([x, x / 2], axis=1), vol[:, None], bounds)
        np.testing.assert_allclose(grid[:, 1], np.array(want) / 2, rtol=1e-12)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("target_position", 1e308),
        ("target_position", -1e300),
        ("vol_fcst", 5e-324),
        ("vol_fcst", 1e-310),
        ("vol_fcst", 1e300),
    ],
)
@pytest.mark.parametrize("vol_target", [None, 2.0])
def test_extreme_finite_targets_and_vols_give_finite_weights(column, value, vol_target):
    """target / vol overflowing (or vol^2 overflowing) must not turn a date's weights into NaN:
    the weights are the exact normalisation ``w = (t/v) / sum|t/v|`` (reference: fractions)."""
    from fractions import Fraction

    frame = book_panel(n_days=6, n_sym=3).with_columns(
        pl.when((pl.col("symbol") == "S1") & (pl.col("date") == START + dt.timedelta(days=2)))
        .then(value)
        .otherwise(pl.col(column))
        .alias(column)
    )
    alloc = lf.BufferedAllocator(gamma_cost=0.0, max_pos=1.0, gross_cap=1.0, vol_target=vol_target)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = lf.backtest(frame, alloc, cost_per_dollar=0.0)
    book = result.book.filter(pl.col("date") == START + dt.timedelta(days=2)).sort("symbol")
    raw = [
        Fraction(t) / Fraction(v)
        for t, v in frame.filter(pl.col("date") == START + dt.timedelta(days=2))
        .sort("symbol")
        .select("target_position", "vol_fcst")
        .iter_rows()
    ]
    want = [float(r / sum(abs(x) for x in raw)) for r in raw]
    if vol_target is None:
        np.testing.assert_allclose(book["w_desired"], want, rtol=1e-12, atol=1e-300)
    assert np.isfinite(book["w_desired"].to_numpy()).all()
    assert np.isfinite(result.metrics["nav"].to_numpy()).all()
    assert np.isfinite(result.metrics["vol_forecast_d"].to_numpy()).all()


def test_one_allocator_instead_of_a_list_is_a_config_error():
    with pytest.raises(lf.ConfigError, match="parameter 'allocators' must be a list"):
        lf.backtest_grid(book_panel(), UNLEVERED)
