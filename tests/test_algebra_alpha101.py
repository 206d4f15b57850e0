"""examples/alpha101.py against the same formulas composed by hand in pandas
(benchmarks/bench_factors.py), on a small synthetic panel: the benchmark's equality check."""

from __future__ import annotations

import numpy as np

import lazyflow as lf
from benchmarks import bench_factors
from examples.alpha101 import ALPHAS


def _nodes(term: lf.Term) -> list[lf.Term]:
    out, stack = [], [term]
    while stack:
        t = stack.pop()
        out.append(t)
        stack.extend(t.args)
    return out


def _nests(term: lf.Term, outer: str, inner: str) -> bool:
    return any(
        t.kind == outer and any(u.kind == inner for a in t.args for u in _nodes(a))
        for t in _nodes(term)
    )


def test_at_least_20_alphas_with_both_nestings() -> None:
    assert len(ALPHAS) >= 20
    assert sum(_nests(t, "ts", "cs") for t in ALPHAS.values()) >= 5  # ts of cs
    assert sum(_nests(t, "cs", "ts") for t in ALPHAS.values()) >= 5  # cs of ts
    assert any(t.kind == "group" for term in ALPHAS.values() for t in _nodes(term))


def test_every_alpha_equals_its_pandas_composition() -> None:
    results = bench_factors.run(n_symbols=10, n_days=260, names=list(ALPHAS))
    for r in results:
        assert bench_factors.equal(r), f"{r['alpha']}: {r['problem']}"
        if r["problem"] is not None:  # only the alphas that rank covariances of ranks
            assert r["alpha"] in bench_factors.TIE_PRONE, r
    assert sum(r["problem"] is None for r in results) >= 20


def test_the_equality_check_can_fail() -> None:
    dates = np.array([1, 1, 2, 2])
    a = np.array([0.5, 1.0, 0.5, np.nan])
    assert bench_factors.compare(a, a.copy(), dates) is None
    assert bench_factors.compare(a, a[[1, 0, 2, 3]], dates).startswith("ties:")
    assert "differ" in bench_factors.compare(a, a + np.array([0, 0, 1e-3, 0]), dates)
    assert "differ" in bench_factors.compare(a, np.array([0.5, 1.0, np.nan, 0.2]), dates)
