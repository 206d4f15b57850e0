"""Hostile inputs for the factor algebra's two layouts (`lazyflow.algebra.plan`): edge
windows, engines and thread counts. Each test here failed before the fix it names."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import lazyflow as lf
from lazyflow import ts
from lazyflow.algebra.plan import Names, Partitions, plan
from tests.algebra_reference import compute, random_panel

#: Operators whose kernel adds many floats per window (``sum_horizontal`` before the fix).
SUMS = {
    "decay_linear": ts.decay_linear("x", 7),
    "corr": ts.corr("x", "y", 9),
    "cov": ts.cov("x", "y", 6),
    "zscore": ts.zscore("x", 8),
}


def heavy_panel(n_symbols: int = 40, n_days: int = 120) -> pl.DataFrame:
    """Values of many magnitudes (log-normal scale), so the order of a sum shows in its bits."""
    rng = np.random.default_rng(0)
    n = n_symbols * n_days
    return pl.DataFrame(
        {
            "date": [dt.date(2020, 1, 1) + dt.timedelta(days=d) for _ in range(n_symbols)
                     for d in range(n_days)],
            "symbol": [f"S{s}" for s in range(n_symbols) for _ in range(n_days)],
            "x": rng.normal(size=n) * np.exp(rng.normal(size=n) * 3),
            "y": rng.normal(size=n),
        }
    )


def bits(series: pl.Series) -> np.ndarray:
    return series.fill_null(0.0).to_numpy().view(np.int64)


def same(a: pl.Series, b: pl.Series) -> bool:
    return a.is_null().equals(b.is_null()) and np.array_equal(bits(a), bits(b))


def test_ts_rank_of_one_row_is_one() -> None:
    """``ts.rank(x, 1)`` (d = 1 is allowed) ranks today among itself: 1 where x is finite.
    It raised ``ComputeError: cannot return empty fold`` (``sum_horizontal`` of no term)."""
    frame = random_panel(1)
    got = compute(frame, ts.rank("x", 1))
    x = frame["x"].to_numpy().astype(float)
    want = np.where(np.isfinite(x), 1.0, np.nan)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(compute(frame, ts.rank("x", 1) + ts.corr("x", "y", 3) * 0),
                          compute(frame, ts.corr("x", "y", 3) * 0 + 1), equal_nan=True)


@pytest.mark.parametrize("name", sorted(SUMS))
def test_many_term_sums_have_the_same_bits_in_every_engine(name: str) -> None:
    """Polars' ``sum_horizontal`` adds its columns by a parallel reduction whose tree depends
    on the engine and the thread pool: the sorted layout's corr / cov / zscore / decay_linear
    had other last bits with ``engine="in-memory"`` than with the streaming engine (and the
    ``over`` layout other bits than the sorted one)."""
    frame = heavy_panel()
    factor = lf.Factor("f", SUMS[name])
    streaming = factor(frame.lazy()).collect(engine="streaming")["f"]
    in_memory = factor(frame.lazy()).collect(engine="in-memory")["f"]
    assert same(streaming, in_memory)
    names = Names(set(frame.columns) | set(factor.inputs()) | {"f"})
    over = plan(factor.resolved(), "f", None, Partitions("date", "symbol"), names)
    for engine in ("streaming", "in-memory"):
        assert same(over.apply(frame.lazy()).collect(engine=engine)["f"], streaming), engine


SCRIPT = """
import hashlib, sys
import polars as pl
import lazyflow as lf
from test_algebra_hostile import SUMS, heavy_panel
frame = heavy_panel()
for term in SUMS.values():
    s = lf.Factor("f", term)(frame.lazy()).collect(engine=sys.argv[1])["f"]
    print(hashlib.sha256(s.fill_null(0.0).to_numpy().tobytes()).hexdigest())
"""


def test_many_term_sums_have_the_same_bits_at_any_thread_count() -> None:
    """One Polars thread and four, each engine: the same bits."""
    outputs = set()
    for threads in (1, 4):
        for engine in ("in-memory", "streaming"):
            env = os.environ | {"POLARS_MAX_THREADS": str(threads)}
            paths = [str(Path(__file__).parent), str(Path(__file__).parent.parent)]
            env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
            run = subprocess.run(
                [sys.executable, "-c", SCRIPT, engine],
                env=env, check=True, timeout=300, capture_output=True, text=True,
            )
            outputs.add(run.stdout)
    assert len(outputs) == 1


def test_hashes_are_of_values() -> None:
    """(A guard for the test above: different values hash differently.)"""
    a = hashlib.sha256(np.array([1.0]).tobytes()).hexdigest()
    b = hashlib.sha256(np.array([np.nextafter(1.0, 2.0)]).tobytes()).hexdigest()
    assert a != b


#: Window operators applied straight to a constant, each with the same term written over a
#: column that holds the constant (the reference: what a constant means on every row).
CONSTANTS = {
    "ts.mean": (ts.mean(2.0, 3), ts.mean("two", 3)),
    "ts.delay": (ts.delay(2.0, 2), ts.delay("two", 2)),
    "ts.sum of a row term": (ts.sum(lf.lit(2.0) * 3, 2), ts.sum(lf.col("two") * 3, 2)),
    "ts.decay_linear": (ts.decay_linear(2.0, 4), ts.decay_linear("two", 4)),
    "ts.rank": (ts.rank(2.0, 3), ts.rank("two", 3)),
    "ts.std": (ts.std(2.0, 3), ts.std("two", 3)),
    "cs.rank": (lf.cs.rank(2.0), lf.cs.rank("two")),
    "cs.scale": (lf.cs.scale(2.0), lf.cs.scale("two")),
    "cs.neutralize": (lf.cs.neutralize(2.0, "g"), lf.cs.neutralize("two", "g")),
}


@pytest.mark.parametrize("name", sorted(CONSTANTS))
@pytest.mark.parametrize("sorted_layout", [False, True])
def test_a_window_of_a_constant_sees_every_row(name: str, sorted_layout: bool) -> None:
    """A constant under a window is the constant on every row of the window: ``ts.mean(2, 3)``
    is 2 from a symbol's third row, ``cs.rank(2)`` ranks the date's ties. Both layouts
    (a many-lag operator, times 0, puts the term in the sorted one) gave one row instead:
    ``ts.mean(2, 3)`` null everywhere, ``cs.rank(2)`` 1.0 (a window of one row)."""
    frame = random_panel(3).with_columns(two=pl.lit(2.0))
    constant, column = CONSTANTS[name]
    if sorted_layout:
        constant = constant + ts.corr("p", "p", 2) * 0
        column = column + ts.corr("p", "p", 2) * 0
    for mask in (None, "m"):
        got, want = compute(frame, constant, mask=mask), compute(frame, column, mask=mask)
        assert np.isfinite(want).any()
        assert np.array_equal(got, want, equal_nan=True), mask
