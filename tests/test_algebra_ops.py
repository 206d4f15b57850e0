"""Every operator of the factor algebra against an independent numpy / plain-Python reference
(tests/algebra_reference.py) on random panels with gaps, ties, nulls, NaN, inf and masks."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

import lazyflow as lf
from lazyflow import cs, ts
from tests.algebra_reference import (
    assert_close,
    average_ranks,
    compute,
    ewm_reference,
    nearest_quantile,
    per_date,
    per_symbol,
    random_panel,
)

SEEDS = (0, 1)


def _std(w: np.ndarray) -> float:
    return float(np.std(w, ddof=1))


def _constant(w: np.ndarray) -> bool:
    return _std(w) <= 1e-10 * abs(w.mean())


def _argmax(w: np.ndarray) -> float:
    return float(np.flatnonzero(w == w.max())[0] + 1)


def _argmin(w: np.ndarray) -> float:
    return float(np.flatnonzero(w == w.min())[0] + 1)


def _rank_last(w: np.ndarray) -> float:
    return float(average_ranks(w)[-1])


def _decay(w: np.ndarray) -> float:
    weights = np.arange(1, len(w) + 1, dtype=float)
    return float((w * weights).sum() / weights.sum())


def _zscore(w: np.ndarray) -> float | None:
    return None if _constant(w) else float((w[-1] - w.mean()) / _std(w))


def _cov(a: np.ndarray, b: np.ndarray) -> float | None:
    if _constant(a) or _constant(b):
        return None
    return float(np.cov(a, b, ddof=1)[0, 1])


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if _constant(a) or _constant(b):
        return None
    return float(np.corrcoef(a, b)[0, 1])


# (term, columns, reference over windows, window length the reference sees)
TS_CASES = {
    "delay": (ts.delay("x", 3), ["x"], lambda w: w[0], 4, "first"),
    "delta": (ts.delta("x", 3), ["x"], lambda w: w[-1] - w[0], 4, "only-ends"),
    "pct_change": (ts.pct_change("p", 2), ["p"], lambda w: w[-1] / w[0] - 1, 3, "only-ends"),
    "sum": (ts.sum("x", 4), ["x"], np.sum, 4, ""),
    "mean": (ts.mean("x", 5), ["x"], np.mean, 5, ""),
    "std": (ts.std("x", 4), ["x"], _std, 4, ""),
    "min": (ts.min("x", 3), ["x"], np.min, 3, ""),
    "max": (ts.max("x", 3), ["x"], np.max, 3, ""),
    "product": (ts.product("x", 3), ["x"], np.prod, 3, ""),
    "argmax": (ts.argmax("x", 4), ["x"], _argmax, 4, ""),
    "argmin": (ts.argmin("x", 4), ["x"], _argmin, 4, ""),
    "rank": (ts.rank("x", 5), ["x"], _rank_last, 5, ""),
    "decay_linear": (ts.decay_linear("x", 4), ["x"], _decay, 4, ""),
    "zscore": (ts.zscore("x", 5), ["x"], _zscore, 5, ""),
    "cov": (ts.cov("x", "y", 4), ["x", "y"], _cov, 4, ""),
    "corr": (ts.corr("x", "y", 4), ["x", "y"], _corr, 4, ""),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(TS_CASES))
def test_ts_operator_matches_reference(name: str, seed: int) -> None:
    frame = random_panel(seed)
    term, columns, fn, d, ends = TS_CASES[name]
    got = compute(frame, term)
    if ends:
        want = _ends_reference(frame, columns[0], fn, d, first_only=ends == "first")
    else:
        want = per_symbol(frame, columns, fn, d)
    assert_close(got, want, f"ts.{name}")
    assert np.isfinite(want).sum() > 20, "the reference must have values to compare"


def _ends_reference(frame: pl.DataFrame, column: str, fn, d: int, first_only: bool) -> np.ndarray:
    """Like per_symbol, but only the window's first and last values (with `first_only`, its
    first value) must be present."""
    out = np.full(frame.height, np.nan)
    indexed = frame.with_row_index("_i").sort("symbol", "date")
    for _, g in indexed.group_by("symbol", maintain_order=True):
        rows, vals = g["_i"].to_list(), g[column].to_list()
        for j in range(d - 1, len(rows)):
            a, b = vals[j - d + 1], vals[j]
            if first_only:
                b = 0.0
            if a is not None and b is not None and math.isfinite(a) and math.isfinite(b):
                value = fn(np.array([a, b]))
                out[rows[j]] = value if math.isfinite(value) else np.nan
    return out


def test_ts_rank_of_ties() -> None:
    """Windows of equal values rank today (d + 1) / 2 (Polars' rolling_rank says 1)."""
    frame = pl.DataFrame(
        {
            "date": pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 1, 8), eager=True),
            "symbol": ["a"] * 8,
            "x": [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 2.0],
        }
    )
    got = compute(frame, ts.rank("x", 4))
    want = per_symbol(frame, ["x"], _rank_last, 4)
    assert_close(got, want, "ts.rank of ties")
    assert got[3] == 2.5 and got[5] == 3.0


@pytest.mark.parametrize("seed", SEEDS)
def test_ewm_mean_matches_reference(seed: int) -> None:
    frame = random_panel(seed)
    assert_close(compute(frame, ts.ewm_mean("x", 4)), ewm_reference(frame, "x", 4), "ewm_mean")


def _cs_zscore(v: np.ndarray) -> np.ndarray:
    if len(v) < 2 or _constant(v):
        return np.full(len(v), np.nan)
    return (v - v.mean()) / np.std(v, ddof=1)


def _cs_quantile(n: int):
    def fn(v: np.ndarray) -> np.ndarray:
        if len(v) < 2:
            return np.full(len(v), np.nan)
        return np.floor((average_ranks(v) - 1) * n / len(v)) + 1

    return fn


def _cs_winsorize(q: float):
    def fn(v: np.ndarray) -> np.ndarray:
        return np.clip(v, nearest_quantile(v, q), nearest_quantile(v, 1 - q))

    return fn


def _cs_scale(a: float):
    def fn(v: np.ndarray) -> np.ndarray:
        total = np.abs(v).sum()
        return v * a / total if total > 0 else np.full(len(v), np.nan)

    return fn


CS_CASES = {
    "rank": (cs.rank("x"), lambda v: average_ranks(v) / len(v)),
    "zscore": (cs.zscore("x"), _cs_zscore),
    "demean": (cs.demean("x"), lambda v: v - v.mean()),
    "winsorize": (cs.winsorize("x", 0.1), _cs_winsorize(0.1)),
    "scale": (cs.scale("x", 2.0), _cs_scale(2.0)),
    "quantile": (cs.quantile("x", 3), _cs_quantile(3)),
}


@pytest.mark.parametrize("mask", [None, "m"])
@pytest.mark.parametrize("name", sorted(CS_CASES))
def test_cs_operator_matches_reference(name: str, mask: str | None) -> None:
    frame = random_panel(3, n_symbols=12, n_days=12)
    term, fn = CS_CASES[name]
    want = per_date(frame, "x", fn, mask)
    assert_close(compute(frame, term, mask=mask), want, f"cs.{name} mask={mask}")
    assert np.isfinite(want).sum() > 20


def test_cs_huge_values_exact_or_null() -> None:
    """Per-date sums are exact_sum: mean, std and sum |x| stay right at 1e150 and 1e-100;
    a date with a value of 2**510 or more (here 1e300, whose square is inf: exact_sum would
    fail) has a null zscore; the other cs operators are unaffected there."""
    x = [1e150, -2e150, 3e150, 1e-100, -3e-100, 2e-100, 1.0, 2.0, 1e300]
    frame = pl.DataFrame(
        {"date": [dt.date(2024, 1, 1 + i // 3) for i in range(9)], "x": x}
    )
    z = compute(frame, cs.zscore("x"))
    for day in range(2):
        v = np.array(x[3 * day : 3 * day + 3]) / x[3 * day]  # numpy's squares would overflow
        want = (v - v.mean()) / v.std(ddof=1)
        np.testing.assert_allclose(z[3 * day : 3 * day + 3], want, rtol=1e-12)
    assert np.isnan(z[6:]).all()
    scaled = compute(frame, cs.scale("x"))
    np.testing.assert_allclose(scaled[:3], np.array(x[:3]) / 6e150, rtol=1e-15)
    assert np.isfinite(compute(frame, cs.demean("x"))[6:]).all()


@pytest.mark.parametrize("mask", [None, "m"])
def test_neutralize_matches_reference(mask: str | None) -> None:
    frame = random_panel(4, n_symbols=12, n_days=12)
    want = per_date(frame, "x", lambda v: v - v.mean(), mask, by=("date", "g"))
    assert_close(compute(frame, cs.neutralize("x", "g"), mask=mask), want, "neutralize")


def test_row_operators_match_reference() -> None:
    frame = random_panel(5)
    x, y, p = (frame[c].to_numpy().astype(float) for c in ("x", "y", "p"))
    with np.errstate(all="ignore"):
        cases = {
            "x + 2 * y - 1": x + 2 * y - 1,
            "x / y": x / y,
            "-x": -x,
            "abs(x)": np.abs(x),
            "log(p)": np.log(p),
            "sign(x)": np.sign(x),
            "p ** 0.5": p**0.5,
            "signed_power(x, 2)": np.sign(x) * np.abs(x) ** 2,
            "where(x > y, x, y)": np.where(np.isnan(x) | np.isnan(y), np.nan, np.maximum(x, y)),
            "3 - x": 3 - x,
        }
    finite_inputs = np.isfinite(x) & np.isfinite(y) & np.isfinite(p)
    for formula, want in cases.items():
        want = np.where(finite_inputs & np.isfinite(want), want, np.nan)
        got = compute(frame, formula)
        got = np.where(finite_inputs, got, np.nan)
        assert_close(got, want, formula)


def test_where_is_null_where_the_condition_is_null() -> None:
    frame = pl.DataFrame(
        {"date": [dt.date(2024, 1, 1)] * 3, "symbol": ["a", "b", "c"], "x": [1.0, None, 3.0]}
    )
    got = compute(frame, lf.where(lf.col("x") > 2, 1.0, 0.0))
    assert np.array_equal(got, [0.0, np.nan, 1.0], equal_nan=True)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_window_after_overflow_recovers() -> None:
    """Two 1e308 values: null while they are in the window, exact again afterwards."""
    x = [1.0, 2.0, 1e308, 1e308, 3.0, 4.0, 5.0, 6.0, -1e308, 1e308, 7.0, 8.0, 9.0]
    frame = pl.DataFrame(
        {
            "date": pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 1, 13), eager=True),
            "symbol": ["a"] * len(x),
            "x": x,
            "y": [float(i % 3) for i in range(len(x))],
        }
    )
    for term in (
        ts.sum("x", 2),
        ts.mean("x", 2),
        ts.std("x", 2),
        ts.cov("x", "y", 2),
        ts.corr("x", "y", 3),
        ts.zscore("x", 2),
        ts.product("x", 2),
        ts.decay_linear("x", 2),
        ts.ewm_mean("x", 1.0),
    ):
        got = compute(frame, term)
        assert not np.isinf(got).any(), term
        d = 3 if term.op == "ts.corr" else 2
        clean = [
            i for i in range(len(x)) if all(abs(v) < 1e300 for v in x[max(0, i - d + 1) : i + 1])
        ]
        want = per_symbol(frame, ["x", "y"], _TWO_COLUMN.get(term.op, lambda a, b: a.mean()), d)
        if term.op != "ts.ewm_mean":  # an EWMA has no window: the values decay
            assert_close(got[clean], want[clean], str(term))
        assert np.isfinite(got[-1]), f"{term} did not recover"


_TWO_COLUMN = {
    "ts.sum": lambda a, b: a.sum(),
    "ts.mean": lambda a, b: a.mean(),
    "ts.std": lambda a, b: _std(a),
    "ts.cov": _cov,
    "ts.corr": _corr,
    "ts.zscore": lambda a, b: _zscore(a),
    "ts.product": lambda a, b: a.prod(),
    "ts.decay_linear": lambda a, b: _decay(a),
}


def test_constant_windows_up_to_rounding_are_null() -> None:
    """0.1 + 0.2 and 0.3 differ in the last bit: corr, cov, zscore treat them as constant."""
    x = [5.0, -2.0, 0.1 + 0.2, 0.3, 0.3, 0.3, 1.0]
    frame = pl.DataFrame(
        {
            "date": pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 1, 7), eager=True),
            "symbol": ["a"] * 7,
            "x": x,
            "y": [1.0, 2.0, 4.0, 3.0, 5.0, 1.0, 2.0],
        }
    )
    for term in (ts.corr("x", "y", 3), ts.cov("y", "x", 3), ts.zscore("x", 3)):
        got = compute(frame, term)
        assert np.isnan(got[4:6]).all(), term
        assert np.isfinite(got[2:4]).all() and np.isfinite(got[6]), term


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("spike", [1e5, 1e10, 1e16, 1e100, 1e300])
def test_sums_are_exact_again_once_a_spike_has_left(spike: float) -> None:
    """An incremental rolling sum keeps a spike's rounding; ts.sum/mean/std/corr do not."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=60)
    x[20], x[21] = spike, -0.7 * spike
    frame = pl.DataFrame(
        {
            "date": pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 2, 29), eager=True),
            "symbol": ["a"] * 60,
            "x": x,
            "y": rng.normal(size=60),
        }
    )
    after = slice(27, None)
    cases = {
        "ts.sum": lambda a, b: a.sum(),
        "ts.mean": lambda a, b: a.mean(),
        "ts.std": lambda a, b: _std(a),
        "ts.corr": _corr,
    }
    for op, fn in cases.items():
        term = ts.corr("x", "y", 5) if op == "ts.corr" else getattr(ts, op[3:])("x", 5)
        want = per_symbol(frame, ["x", "y"], fn, 5)
        assert_close(compute(frame, term)[after], want[after], f"{term} after {spike}")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ts.mean("x", -3), "ts.mean: parameter 'd' .* look ahead"),
        (lambda: ts.delay("x", 2.5), "ts.delay: parameter 'd' must be a positive integer"),
        (lambda: ts.sum("x", 2**64), r"ts.sum: parameter 'd' must be in 1\.\.100000"),
        (lambda: ts.std("x", 1), r"ts.std: parameter 'd' must be in 2\.\."),
        (lambda: ts.corr("x", "y", 0), "ts.corr: parameter 'd'"),
        (lambda: ts.mean("x", True), "ts.mean: parameter 'd'"),
        (lambda: ts.ewm_mean("x", 0.5), "ts.ewm_mean: parameter 'span'"),
        (lambda: cs.winsorize("x", 0.5), "cs.winsorize: parameter 'q'"),
        (lambda: cs.quantile("x", 0), "cs.quantile: parameter 'n'"),
        (lambda: cs.scale("x", math.inf), "cs.scale: parameter 'a'"),
        (lambda: cs.neutralize("x", ""), "cs.neutralize: parameter 'group'"),
        (lambda: lf.col(""), "lf.col: parameter 'name'"),
        (lambda: lf.col("x") + math.nan, "lf.lit: parameter 'value'"),
    ],
)
def test_bad_parameters_raise_config_error(make, message: str) -> None:
    with pytest.raises(lf.ConfigError, match=message):
        make()


def test_terms_are_immutable_and_hashable() -> None:
    a = cs.rank(ts.delta("close", 5)) * 2
    b = cs.rank(ts.delta(lf.col("close"), 5)) * 2.0
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert ts.delta("close", 5) != ts.delta("close", 6)
    with pytest.raises(AttributeError):
        a.op = "x"  # type: ignore[misc]
    with pytest.raises(TypeError, match="truth value"):
        bool(lf.col("x") > 1)


def test_cs_rank_tops_at_exactly_one_and_quantile_is_deciles() -> None:
    """Per-date divisions are exact (Polars divides by a group's scalar via its reciprocal,
    27 * (1/27) < 1): the top rank is 1.0 and cs.quantile equals the Deciles stage."""
    panel = lf.synthetic_panel(n_symbols=80, n_days=40, seed=2).lazy()
    stages = lf.Deciles(score_col="close", output_col="dec") >> lf.Factor(
        "q", cs.quantile("close", 10)
    )
    out = (stages >> lf.Factor("r", cs.rank("close")))(panel).collect()
    assert (out.group_by("date").agg(pl.col("r").max())["r"] == 1.0).all()
    assert out["q"].equals(out["dec"].cast(pl.Float64))
