"""`lf.capacity`: one strategy at several starting NAVs, in one scan."""

from __future__ import annotations

import importlib

import numpy as np
import polars as pl
import pytest
from allocator_strategies import allocators
from hypothesis import given
from hypothesis import strategies as st
from test_backtest_drift import full_panel

import lazyflow as lf
from lazyflow.portfolio.capacity import CAPACITY_COLUMNS

run_module = importlib.import_module("lazyflow.portfolio.run")

NAVS = [1e3, 1e4, 1e5, 1e6]
IMPACT = lf.costs.SquareRootImpact(coef=0.5, window=5)


def test_each_row_is_a_backtest_at_that_nav_from_one_scan(monkeypatch):
    frame = full_panel(1, n_sym=6, n_days=30, p_untradable=0.2)
    alloc = lf.presets.seed_allocator()
    calls = []
    walk = run_module.walk
    monkeypatch.setattr(run_module, "walk", lambda *a, **k: calls.append(1) or walk(*a, **k))
    table = lf.capacity(frame, alloc, navs=NAVS, costs=IMPACT)
    assert len(calls) == 1  # four NAVs, one pass over the dates
    assert table.columns == list(CAPACITY_COLUMNS) and table["init_nav"].to_list() == NAVS
    for row in table.iter_rows(named=True):
        one = lf.backtest(frame, alloc, costs=IMPACT, init_nav=row["init_nav"])
        s = one.summary()
        for k in ("sharpe", "cagr", "total_return", "max_drawdown", "avg_turnover"):
            assert row[k] == pytest.approx(s[k], rel=1e-9, abs=1e-12), k
        assert row["total_cost"] == pytest.approx(s["total_cost"], rel=1e-9)
        m = one.metrics
        nav_before = np.concatenate([[row["init_nav"]], m["nav"].to_numpy()[:-1]])
        drag = m["cost"].sum() / nav_before.mean() * 365 / m.height
        assert row["cost_drag"] == pytest.approx(drag, rel=1e-9)
    assert table["cost_drag"].is_sorted() and table["total_cost"].is_sorted()


#: Books that trade: a turnover cap of 1e-16 leaves positions of rounding size, whose
#: "Sharpe ratio" is the ratio of rounding errors.
trading = allocators.filter(lambda a: a.turnover_cap is None or a.turnover_cap >= 0.01)


@given(seed=st.integers(0, 10_000), alloc=trading, drift=st.booleans())
def test_net_sharpe_does_not_rise_with_nav_when_only_impact_changes(seed, alloc, drift):
    """Only the impact cost depends on the NAV: the same weights pay more per dollar at a
    larger NAV. So the mean daily return falls, and a book that makes money has a net Sharpe
    ratio that falls too (to rounding). (A losing book's Sharpe ratio can rise towards 0 as
    costs add variance: mu / sigma with mu < 0, so only its mean is checked.) NAVs up to 1e6
    against ADVs of 1e5 to 1e7 dollars: impact eats the returns without ruining the book."""
    frame = full_panel(seed, n_sym=5, n_days=40)
    table = lf.capacity(frame, alloc, navs=NAVS, costs=IMPACT, drift=drift)
    assert (np.diff(table["cagr"].to_numpy()) <= 1e-12).all()
    sharpe = table["sharpe"].to_numpy()
    if np.isnan(sharpe).any():  # a book that never trades (buffer wider than any target)
        assert np.isnan(sharpe).all() and (table["avg_turnover"] == 0).all()
    elif sharpe[0] > 0:
        assert (np.diff(sharpe) <= 1e-9).all(), sharpe


def test_without_impact_the_curve_is_flat():
    frame = full_panel(2, n_sym=5, n_days=30)
    table = lf.capacity(
        frame, lf.presets.seed_allocator(), navs=[1.0, 1e9], costs=lf.costs.HalfSpread()
    )
    a, b = table.iter_rows(named=True)
    assert a["sharpe"] == pytest.approx(b["sharpe"], rel=1e-9)
    assert a["cost_drag"] == pytest.approx(b["cost_drag"], rel=1e-9)


@pytest.mark.parametrize(
    ("navs", "message"),
    [
        ([], "non-empty list"),
        ("1e6", "non-empty list"),
        ([1e6, -1.0], r"navs\[1\] must be a finite number > 0"),
        ([1e6, 10**400], r"navs\[1\]"),
        ([1e6, 1e6], "repeat"),
    ],
)
def test_bad_navs_are_config_errors(navs, message):
    with pytest.raises(lf.ConfigError, match=message):
        lf.capacity(full_panel(0, 2, 3), lf.BufferedAllocator(), navs=navs)
    with pytest.raises(lf.ConfigError, match="init_nav"):
        lf.capacity(full_panel(0, 2, 3), lf.BufferedAllocator(), init_nav=5.0)


def test_lazyflow_run_draws_the_capacity_curve(tmp_path, capsys):
    from lazyflow.cli import main

    config = tmp_path / "run.toml"
    config.write_text(
        """
[data]
source = "synthetic"
n_symbols = 30
n_days = 120
seed = 1

[[stages]]
type = "DropNulls"
[[stages]]
type = "LogReturns"
[[stages]]
type = "VolumeUniverse"
window = 30
min_decile = 5
[[stages]]
type = "FundingCarry"
[[stages]]
type = "Deciles"
[[stages]]
type = "SigmoidTarget"
[[stages]]
type = "EwmaVol"
[[stages]]
type = "RangeSpread"

[factor]
enabled = false

[[backtest.costs]]
type = "SquareRootImpact"
coef = 0.5

[capacity]
navs = [1e5, 1e7, 1e9]
""",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "costs: 5 bps per traded dollar (default: Binance USD-M taker fee) + " in printed
    table = pl.read_parquet(out / "capacity.parquet")
    assert table["init_nav"].to_list() == [1e5, 1e7, 1e9]
    assert table["cost_drag"].is_sorted()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Capacity" in page and "report_files/capacity.png" in page
    assert "PnL attribution" in page and "Top 10 symbols by PnL" in page
    assert "SquareRootImpact" in page
    summary = (out / "summary.json").read_text(encoding="utf-8")
    assert '"capacity"' in summary and '"type": "SquareRootImpact"' in summary
    with pytest.raises(lf.ConfigError, match=r"capacity.navs: navs\[0\]"):
        from lazyflow.config import parse_config

        parse_config({"capacity": {"navs": [0.0]}})


def test_a_sweep_config_refuses_a_capacity_table():
    from lazyflow.sweep_config import parse_sweep_config

    with pytest.raises(lf.ConfigError, match=r"\[capacity\]: a sweep does not draw"):
        parse_sweep_config({"capacity": {"navs": [1e6]}})


@pytest.mark.parametrize(
    "navs", [np.logspace(3, 6, 4), np.array([1000, 10_000, 100_000, 1_000_000]), tuple(NAVS)]
)
def test_navs_from_numpy_are_accepted(navs):
    """``navs=np.logspace(5, 9, 5)`` is the natural call: a 1-D array (floats or integers)
    of NAVs gives the same table as the list."""
    frame, alloc = full_panel(0, 3, 6), lf.BufferedAllocator()
    want = lf.capacity(frame, alloc, navs=NAVS, costs=IMPACT)
    assert lf.capacity(frame, alloc, navs=navs, costs=IMPACT).equals(want)


def test_numpy_scalars_are_numbers_for_the_allocator():
    frame = full_panel(0, 3, 6)
    plain = lf.backtest(frame, lf.BufferedAllocator(max_pos=1, gross_cap=2))
    numpy = lf.backtest(frame, lf.BufferedAllocator(max_pos=np.int64(1), gross_cap=np.float32(2)))
    assert numpy.metrics.equals(plain.metrics)
    with pytest.raises(lf.ConfigError, match="max_pos"):
        lf.backtest(frame, lf.BufferedAllocator(max_pos=np.bool_(True)))
