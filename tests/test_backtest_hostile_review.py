"""Hostile review of the backtest's statistics and walk-forward: each test is a defect found
by comparing with an independent reference written here (numpy / plain Python)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
import scipy.stats

import lazyflow as lf
from lazyflow import stats
from lazyflow.walk_forward import walk_forward

START = dt.date(2024, 1, 1)


def identity(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame


def hand_panel(n_days: int, closes: dict[str, list[float]], volume: list[float]) -> pl.DataFrame:
    """Long S0, short S1 every day; dollar volume `volume[d]` on day d for both."""
    rows = [
        {
            "date": START + dt.timedelta(days=d),
            "symbol": symbol,
            "target_position": 1.0 if symbol == "S0" else -1.0,
            "vol_fcst": 0.02 + 0.01 * ((d * 7 + k) % 3),
            "spread": 0.001,
            "close": closes[symbol][d],
            "funding_rate": 0.0,
            "dollar_volume": volume[d],
            "is_universe": True,
        }
        for d in range(n_days)
        for k, symbol in enumerate(closes)
    ]
    return pl.DataFrame(rows)


def test_walk_forward_impact_cost_reads_the_adv_of_the_whole_history():
    """The out-of-sample book starts at the first test date, but the ADV on a test date is the
    mean of the symbol's last `window` rows of the panel, training dates included (as in the
    grid that made the choice). It was the mean over the test dates only: on the first test
    date the cost was that of the day's own volume, 300x here."""
    n = 30
    rng = np.random.default_rng(0)
    closes = {s: (100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))).tolist() for s in ("S0", "S1")}
    volume = [1e9 if d < 20 else 1e4 for d in range(n)]
    panel = hand_panel(n, closes, volume)
    alloc = lf.BufferedAllocator(lambda_risk=1.0, gamma_cost=0.0, max_pos=0.5, gross_cap=1.0)
    impact = lf.costs.SquareRootImpact(coef=1.0, window=30)
    kw = {"costs": impact, "init_nav": 1e6, "cost_per_dollar": 0.0}
    result = walk_forward(panel, lf.Pipeline([identity]), alloc, train=20, test=5, backtest_kw=kw)
    start = result.metrics["date"][0]
    assert start == START + dt.timedelta(days=20)

    # reference: the same book from `start` with its ADV computed by hand over all rows
    adv = {
        (START + dt.timedelta(days=d), s): float(np.mean(volume[max(0, d - 29) : d + 1]))
        for d in range(n)
        for s in closes
    }
    with_adv = panel.with_columns(
        adv=pl.Series([adv[(d, s)] for d, s in panel.select("date", "symbol").rows()])
    )
    want = lf.backtest(
        with_adv.filter(pl.col("date") >= start),
        alloc,
        costs=lf.costs.SquareRootImpact(coef=1.0, window=1, volume_col="adv"),
        init_nav=1e6,
        cost_per_dollar=0.0,
    ).metrics
    np.testing.assert_allclose(result.metrics["cost"], want["cost"], rtol=1e-9)
    np.testing.assert_allclose(result.metrics["nav"], want["nav"], rtol=1e-9)


def test_walk_forward_best_nav_of_a_book_that_ended_before_the_test_is_finite():
    """`best_nav` rebases the in-sample best's NAV at the first test date. When that book had
    already ended (NAV 0, DESIGN difference 9) it was 0 / 0 = NaN on every date; like
    `best_summary` (its returns are 0), it is init_nav throughout."""
    n = 16
    closes = {"S0": [100.0] * n, "S1": [100.0] * 5 + [10_000.0] * (n - 5)}  # the short blows up
    panel = hand_panel(n, closes, [1e6] * n)
    alloc = lf.BufferedAllocator(max_pos=0.5, gross_cap=1.0, gamma_cost=0.0)
    result = walk_forward(
        panel,
        lf.Pipeline([identity]),
        alloc,
        train=8,
        test=4,
        backtest_kw={"cost_per_dollar": 0.0, "init_nav": 2.0},
    )
    full = lf.backtest(panel, alloc, cost_per_dollar=0.0, init_nav=2.0).metrics
    assert full["nav"][5] == 0.0  # ended before the first test date (8)
    best_nav = result.metrics["best_nav"].to_numpy()
    assert np.isfinite(best_nav).all()
    np.testing.assert_array_equal(best_nav, 2.0)


def test_expected_max_sharpe_of_very_many_trials():
    """1 - 1/N rounds to 1.0 for N beyond 2**53, and Phi^-1(1.0) raised statistics' own
    StatisticsError; Phi^-1(1 - p) = -Phi^-1(p) keeps the tail."""
    g = stats.EULER_GAMMA
    for n in (10**6, 10**12, 10**20):
        want = (1 - g) * scipy.stats.norm.isf(1 / n) + g * scipy.stats.norm.isf(1 / (n * math.e))
        assert stats.expected_max_sharpe(n, 4.0) == pytest.approx(2 * want, rel=1e-12)
