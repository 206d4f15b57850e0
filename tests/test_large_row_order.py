"""Row order never changes a bit, on a panel large enough (124k rows) to span Polars' morsels
(chunks of ~100k rows): Polars divides a column by a constant with a multiplication by its
reciprocal, except on a few rows at the start of a chunk, where it divides; so a division
by a literal gives bits that depend on where a row lands. lazyflow divides by a column
(`lazyflow.exprs.divide`), which is exact everywhere."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import lazyflow as lf
from lazyflow import cs, ts

KEY = ["date", "symbol"]


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    return lf.synthetic_panel(n_symbols=300, n_days=900, seed=11)


def same_bits(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.columns == b.columns
    for column in a.columns:
        x, y = a[column], b[column]
        assert x.is_null().equals(y.is_null()), column
        if x.dtype == pl.Float64:
            bits_x, bits_y = (s.fill_null(0.0).to_numpy().view(np.int64) for s in (x, y))
            differ = int(np.sum(bits_x != bits_y))
            assert differ == 0, f"{column}: {differ} rows differ"
        else:
            assert x.equals(y), column


def test_factor_terms_with_constant_divisions(panel: pl.DataFrame) -> None:
    term = (
        ts.corr("open", "volume", 10)
        + ts.zscore("close", 7)
        + ts.mean("close", 9) / 3
        + ts.cov("high", "low", 6) / 7
        + cs.rank(ts.sum("volume", 5) / 11)
    )
    factor = lf.Factor("f", term)
    base = factor(panel.lazy()).collect().sort(KEY)
    for seed in (1, 2):
        shuffled = panel.sample(fraction=1.0, shuffle=True, seed=seed)
        same_bits(base, factor(shuffled.lazy()).collect().sort(KEY))


def test_the_carry_pipeline(panel: pl.DataFrame) -> None:
    pipeline = lf.presets.carry()
    base = pipeline(panel.lazy()).collect().sort(KEY)
    shuffled = panel.sample(fraction=1.0, shuffle=True, seed=3)
    same_bits(base, pipeline(shuffled.lazy()).collect().sort(KEY))
