"""The two layouts of per-symbol windows (`lazyflow.algebra.plan`): a term with an operator that
reads many lags runs on copies sorted by (symbol, date), where lags are whole-column shifts
masked by each row's position in its symbol; other terms run ``over(symbol, order_by=date)``.
Every operator gives the same bits in both, and fused chains mask by their whole history."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyflow as lf
from lazyflow import cs, ts
from tests.algebra_reference import TOL, _finite, random_panel

#: A lagged operator: a term holding it runs in the sorted layout.
LAGGED = ts.rank("y", 3)

#: Operators and fused chains without a lagged operator (run alone: the `over` layout).
PLAIN = {
    "delay": ts.delay("x", 2),
    "delta": ts.delta("x", 3),
    "pct_change": ts.pct_change("p", 1),
    "sum": ts.sum("x", 4),
    "mean": ts.mean("x", 3),
    "std": ts.std("x", 3),
    "min": ts.min("x", 4),
    "max": ts.max("x", 2),
    "product": ts.product("p", 3),
    "ewm_mean": ts.ewm_mean("x", 4.0),
    "sum of delay": ts.sum(ts.delay("x", 2), 4),
    "std of delay": ts.std(ts.delay("x", 1), 3),
    "max of delta": ts.max(ts.delta("p", 2), 3),
    "mean of ewm": ts.mean(ts.ewm_mean("x", 3.0), 2),
    "ts of cs": ts.mean(cs.rank("x"), 3),
}


def factor(frame: pl.DataFrame, term: lf.Term, mask: str | None = None) -> pl.Series:
    return lf.Factor("f", term, mask=mask)(frame.lazy()).collect()["f"]


def bits(series: pl.Series) -> np.ndarray:
    return series.fill_null(0.0).to_numpy().view(np.int64)


def test_a_lagged_term_is_sorted_and_a_plain_one_is_not() -> None:
    schema = random_panel(0).schema
    assert lf.Factor("f", LAGGED)._layout(schema)[1].sorted
    assert not lf.Factor("f", ts.mean("x", 3))._layout(schema)[1].sorted
    assert not lf.Factor("f", cs.rank("x"))._layout(schema)[1].sorted


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), masked=st.booleans())
def test_every_operator_has_the_same_bits_in_both_layouts(seed: int, masked: bool) -> None:
    """``Factor(a + LAGGED)`` (sorted layout) equals ``Factor(a) + Factor(LAGGED)`` (each in its
    own layout) bit for bit, for every plain operator and chain ``a``."""
    frame = random_panel(seed, n_symbols=5, n_days=30)
    mask = "m" if masked else None
    lagged = factor(frame, LAGGED, mask)
    for name, term in PLAIN.items():
        alone = factor(frame, term, mask)
        summed = factor(frame, term + LAGGED, mask)
        want = (alone + lagged).fill_nan(None)
        assert summed.is_null().equals(want.is_null()), name
        assert np.array_equal(bits(summed), bits(want)), name


def fused_reference(frame: pl.DataFrame) -> np.ndarray:
    """``ts.sum(ts.delay(x, 2), 4) + ts.rank(y, 3)`` in plain Python per symbol: the sum of
    x[t-5..t-2] (all finite) plus the average rank of y[t] among y[t-2..t] (all finite)."""
    out = np.full(frame.height, np.nan)
    indexed = frame.with_row_index("_i").sort("symbol", "date")
    for _, g in indexed.group_by("symbol", maintain_order=True):
        rows, x, y = g["_i"].to_list(), g["x"].to_list(), g["y"].to_list()
        for j in range(len(rows)):
            if j < 5:
                continue
            xs, ys = x[j - 5 : j - 1], y[j - 2 : j + 1]
            if not all(_finite(v) for v in (*xs, *ys)):
                continue
            rank = sum(v < ys[-1] for v in ys) + (sum(v == ys[-1] for v in ys) + 1) / 2
            total = math.fsum(xs) + rank
            out[rows[j]] = total
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_fused_chain_in_the_sorted_layout_masks_its_whole_history(seed: int) -> None:
    """The delay reads 2 rows back and the sum 3 more: a row is null until its symbol has 6
    rows, though the whole-column shift would read the symbol before it."""
    frame = random_panel(seed, n_symbols=6, n_days=30)
    got = factor(frame, ts.sum(ts.delay("x", 2), 4) + LAGGED).to_numpy().astype(float)
    want = fused_reference(frame)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=TOL, atol=TOL)


def test_a_factor_may_overwrite_one_of_its_inputs() -> None:
    """The sorted copies are read, so writing the factor over ``x`` keeps the column in place
    and equal to the factor computed into a new column."""
    frame = random_panel(3)
    term = ts.corr("x", "y", 4)
    new = lf.Factor("f", term)(frame.lazy()).collect()
    over = lf.Factor("x", term)(frame.lazy()).collect()
    assert over.columns == frame.columns
    assert np.array_equal(bits(over["x"]), bits(new["f"]))
    assert over.drop("x").equals(frame.drop("x"))


@pytest.mark.parametrize("seed", [4, 5])
def test_null_symbols_and_dates_group_alike_in_both_layouts(seed: int) -> None:
    """``ts.decay_linear(a, 1)`` is ``a`` (weight 1), computed in the sorted layout: it equals
    ``a`` in the ``over`` layout bit for bit, also where the symbol or the date is null (as in
    ``over(symbol, order_by=date)``: null symbols are one more symbol, null dates come
    first in their symbol)."""
    frame = random_panel(seed, n_symbols=5, n_days=30)
    row = pl.int_range(pl.len())
    frame = frame.with_columns(
        pl.when(row % 17 == 0).then(None).otherwise(pl.col("symbol")).alias("symbol"),
        pl.when(row % 23 == 0).then(None).otherwise(pl.col("date")).alias("date"),
    )
    assert lf.Factor("f", ts.decay_linear("x", 1))._layout(frame.schema)[1].sorted
    for name, term in PLAIN.items():
        alone = factor(frame, term)
        sorted_layout = factor(frame, ts.decay_linear(term, 1))
        assert sorted_layout.is_null().equals(alone.is_null()), name
        assert np.array_equal(bits(sorted_layout), bits(alone)), name
