"""Every number of the factor analysis is bit-identical in any row order and at any Polars
thread count (issue 14, class 6): per-date sums add in symbol order, sums over dates in
date order."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from lazyflow.factor import FactorAnalysis

TABLES = ("daily", "quantile_returns", "by_horizon", "turnover", "rank_autocorr", "summary")


def near_identical_panel(seed: int, n_symbols: int = 40, n_days: int = 30) -> pl.DataFrame:
    """Scores and returns that differ in their last bits, where the order of a sum shows."""
    rng = np.random.default_rng(seed)
    n = n_symbols * n_days
    frame = pl.DataFrame(
        {
            "date": np.repeat(np.arange(n_days), n_symbols).astype("datetime64[D]"),
            "symbol": np.tile([f"S{i:03d}" for i in range(n_symbols)], n_days),
            "carry_score": 1.0 + rng.integers(0, 5, n) * 2.0**-50 + rng.normal(0, 1e-13, n),
            "decile_carry": rng.integers(1, 6, n),
            "fwd_ret_1": 0.1
            + rng.normal(0, 1e-12, n)
            + rng.normal(0, 0.01, n) * (rng.random(n) < 0.5),
            "fwd_ret_5": 1e8 + rng.normal(0, 1.0, n) * 1e-3,
        }
    )
    return frame.filter(pl.lit(rng.random(n) > 0.05))  # gaps


def _bits(tables) -> dict[str, pl.DataFrame]:
    return {name: getattr(tables, name) for name in TABLES}


def _assert_identical(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    for name in TABLES:
        assert_frame_equal(a[name], b[name], check_exact=True)


@given(seed=st.integers(0, 10_000), shuffle=st.integers(0, 10_000))
def test_bit_identical_in_any_row_order(seed, shuffle):
    frame = near_identical_panel(seed % 50, n_symbols=15, n_days=8)
    analysis = FactorAnalysis(horizons=(1, 5))
    a = _bits(analysis.tables(frame))
    b = _bits(analysis.tables(frame.sample(fraction=1.0, shuffle=True, seed=shuffle)))
    _assert_identical(a, b)


SCRIPT = f"""
import sys
import polars as pl
from lazyflow.factor import FactorAnalysis
frame = pl.read_parquet(sys.argv[1])
tables = FactorAnalysis(horizons=(1, 5), mask=None).tables(frame)
for name in {TABLES!r}:
    getattr(tables, name).write_parquet(f"{{sys.argv[2]}}_{{name}}.parquet")
"""


def test_bit_identical_across_thread_counts(tmp_path: Path):
    frame = near_identical_panel(3, n_symbols=300, n_days=40)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=1)
    outputs = []
    for threads, data in ((1, frame), (2, shuffled)):
        path = tmp_path / f"in_{threads}_{len(outputs)}.parquet"
        data.write_parquet(path)
        out = tmp_path / f"out_{len(outputs)}"
        env = os.environ | {"POLARS_MAX_THREADS": str(threads)}
        subprocess.run(
            [sys.executable, "-c", SCRIPT, str(path), str(out)], env=env, check=True, timeout=300
        )
        outputs.append({name: pl.read_parquet(f"{out}_{name}.parquet") for name in TABLES})
    _assert_identical(outputs[0], outputs[1])


def test_the_panel_tells_sum_orders_apart():
    """The test above can fail: adding these values in another order changes the bits."""
    frame = near_identical_panel(3, n_symbols=300, n_days=40)
    values = frame.filter(pl.col("date") == dt.date(1970, 1, 1))["fwd_ret_5"].to_list()
    forward = 0.0
    for v in values:
        forward += v
    backward = 0.0
    for v in reversed(values):
        backward += v
    assert forward != backward
