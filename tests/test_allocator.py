"""`lf.BufferedAllocator`: one date's arithmetic, parameter checks, 2-D positions, helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from allocator_strategies import allocators
from hypothesis import given
from hypothesis import strategies as st

import lazyflow as lf
from lazyflow.portfolio.allocator import segment_sums, shrink


def one_date(alloc, x_prev, is_new, target, vol, spread):
    """The notebook's rebalance_day for one date, one symbol at a time."""
    n = len(target)
    w = [target[i] / vol[i] for i in range(n)]
    total = sum(abs(v) for v in w)
    w = [v / total for v in w]
    if alloc.vol_target is not None:
        var = sum(w[i] ** 2 * vol[i] ** 2 for i in range(n))
        w = [v * (alloc.vol_target / math.sqrt(alloc.periods_per_year)) / math.sqrt(var) for v in w]
    buf = [alloc.gamma_cost * spread[i] / (alloc.lambda_risk * vol[i] ** 2) for i in range(n)]
    trade = []
    for i in range(n):
        d = w[i] - x_prev[i]
        if is_new[i] and alloc.ignore_open:
            trade.append(w[i])
        elif abs(d) <= buf[i]:
            trade.append(0.0)
        else:
            trade.append(math.copysign(abs(d) - buf[i], d))
    x = [min(max(x_prev[i] + trade[i], -alloc.max_pos), alloc.max_pos) for i in range(n)]
    gross = sum(abs(v) for v in x)
    if gross > alloc.gross_cap:
        x = [v * alloc.gross_cap / gross for v in x]
    tf = [x[i] - x_prev[i] for i in range(n)]
    if alloc.turnover_cap is not None:
        tot = sum(abs(v) for v in tf)
        if tot > alloc.turnover_cap:
            tf = [v * alloc.turnover_cap / tot for v in tf]
            x = [x_prev[i] + tf[i] for i in range(n)]
    return {"w_desired": w, "buffer": buf, "trade": trade, "x_new": x, "trade_final": tf}


def vectors(seed, n):
    rng = np.random.default_rng(seed)
    return (
        rng.uniform(-0.3, 0.3, n),  # x_prev
        rng.uniform(size=n) < 0.3,  # is_new
        rng.uniform(-1, 1, n),  # target
        rng.uniform(0.01, 0.1, n),  # vol
        rng.uniform(0.0005, 0.02, n),  # spread
    )




@given(alloc=allocators, seed=st.integers(0, 10_000), n=st.integers(1, 12))
def test_one_date_matches_the_notebook(alloc, seed, n):
    x_prev, is_new, target, vol, spread = vectors(seed, n)
    # yesterday's book satisfied the caps (the invariants below need a feasible start)
    x_prev = np.clip(x_prev, -alloc.max_pos, alloc.max_pos)
    x_prev *= min(1.0, alloc.gross_cap / np.abs(x_prev).sum())
    got = alloc(x_prev, is_new, target, vol, spread)
    want = one_date(alloc, x_prev, is_new, target, vol, spread)
    for name, values in want.items():
        np.testing.assert_allclose(got[name], values, rtol=1e-12, atol=1e-14, err_msg=name)
    np.testing.assert_array_equal(got["delta"], got["w_desired"] - x_prev)
    assert (np.abs(got["x_new"]) <= alloc.max_pos + 1e-12).all()
    assert np.abs(got["x_new"]).sum() <= alloc.gross_cap + 1e-12
    if alloc.turnover_cap is not None:
        assert np.abs(got["trade_final"]).sum() <= alloc.turnover_cap + 1e-12
    np.testing.assert_allclose(got["x_new"], x_prev + got["trade_final"], atol=1e-15)


@given(allocs=st.lists(allocators, min_size=1, max_size=4), seed=st.integers(0, 10_000))
def test_positions_may_be_two_dimensional(allocs, seed):
    """Many configurations with the same caps run as columns of one 2-D rebalance."""
    base = allocs[0]
    k = len(allocs)
    x_prev, is_new, target, vol, spread = vectors(seed, 9)
    x2 = np.column_stack([x_prev * (j + 1) / k for j in range(k)])
    desired = [a.desired(target, vol, spread) for a in allocs]
    w2 = np.column_stack([d.w_desired for d in desired])
    buf2 = np.column_stack([d.buffer for d in desired])
    two = base.rebalance(x2, is_new[:, None], w2, buf2)
    for j in range(k):
        one = base.rebalance(x2[:, j], is_new, w2[:, j], buf2[:, j])
        for a, b in zip(one, two, strict=True):
            np.testing.assert_allclose(a, b[:, j], rtol=1e-13, atol=1e-15)


def test_desired_groups_rows_by_date():
    alloc = lf.BufferedAllocator(vol_target=0.3)
    _, _, target, vol, spread = vectors(3, 10)
    bounds = np.array([0, 4, 4, 10])  # the middle date has no rows
    grouped = alloc.desired(target, vol, spread, bounds)
    for a, b in [(0, 4), (4, 10)]:
        alone = alloc.desired(target[a:b], vol[a:b], spread[a:b])
        np.testing.assert_allclose(grouped.w_desired[a:b], alone.w_desired, rtol=1e-14)
        np.testing.assert_array_equal(grouped.buffer[a:b], alone.buffer)
        realised = np.sqrt(np.sum(grouped.w_desired[a:b] ** 2 * vol[a:b] ** 2)) * np.sqrt(365)
        assert realised == pytest.approx(0.3)


def test_all_zero_targets_give_zero_weights():
    alloc = lf.BufferedAllocator(vol_target=0.2)
    out = alloc(np.zeros(3), np.ones(3, bool), np.zeros(3), np.full(3, 0.05), np.full(3, 0.01))
    assert np.array_equal(out["w_desired"], np.zeros(3)) and np.array_equal(
        out["x_new"], np.zeros(3)
    )


def test_segment_sums_and_shrink():
    values = np.arange(1.0, 7.0)
    np.testing.assert_array_equal(
        segment_sums(values, np.array([0, 0, 2, 2, 6, 6])), [0.0, 3.0, 0.0, 18.0, 0.0]
    )
    assert segment_sums(values, None) == 21.0
    np.testing.assert_array_equal(segment_sums(np.empty(0), np.array([0, 0, 0])), [0.0, 0.0])
    assert shrink(2.0, 1.0) == 0.5 and shrink(0.5, 1.0) == 1.0 and shrink(1.0, 1.0) == 1.0
    assert shrink(3.0, 0.0) == 0.0 and shrink(0.0, 0.0) == 0.0
    np.testing.assert_array_equal(shrink(np.array([0.5, 4.0]), 2.0), [1.0, 0.5])
    assert math.isnan(shrink(math.nan, 1.0)) and math.isnan(shrink(math.inf, math.inf))
    # two numbers (one allocator's step) give the array path's bits
    totals = [0.0, 1e-320, 0.3, 1.0, 2.5, 1e308, math.inf, math.nan]
    for cap in (0.0, 0.7, 1.0, math.inf):
        with np.errstate(invalid="ignore"):
            expected = shrink(np.array(totals), cap)
        got = np.array([shrink(t, cap) for t in totals])
        assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lambda_risk", 0.0),
        ("lambda_risk", float("nan")),
        ("gamma_cost", -0.1),
        ("max_pos", 0.0),
        ("gross_cap", -1.0),
        ("turnover_cap", -0.01),
        ("vol_target", 0.0),
        ("periods_per_year", 0),
        ("ignore_open", "yes"),
        ("max_pos", "0.05"),
        ("gross_cap", float("inf")),
        ("turnover_cap", float("inf")),
        ("vol_target", True),
    ],
)
def test_bad_parameters_raise_config_error_naming_them(field, value):
    alloc = lf.BufferedAllocator(**{field: value})  # the constructor only stores
    with pytest.raises(lf.ConfigError, match=f"BufferedAllocator: parameter '{field}'"):
        alloc.check()
    with pytest.raises(lf.ConfigError, match=field):
        alloc(np.zeros(2), np.ones(2, bool), np.ones(2), np.ones(2), np.ones(2))


def test_zero_turnover_cap_freezes_the_book_and_gamma_zero_removes_the_buffer():
    x_prev, is_new, target, vol, spread = vectors(5, 6)
    frozen = lf.BufferedAllocator(max_pos=1.0, gross_cap=5.0, turnover_cap=0.0)
    out = frozen(x_prev, is_new, target, vol, spread)
    np.testing.assert_array_equal(out["x_new"], x_prev)
    free = lf.BufferedAllocator(gamma_cost=0.0, max_pos=1.0, gross_cap=5.0, ignore_open=False)
    out = free(x_prev, is_new, target, vol, spread)
    np.testing.assert_allclose(out["x_new"], out["w_desired"], atol=1e-15)
