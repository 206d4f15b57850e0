"""`lazyflow.exprs`: `exact_sum` against `math.fsum` (the exact sum rounded once), and the
shared per-group statistics (`group_mean`, `group_std`, `winsorize`, `quantile_bucket`)
against numpy and plain-Python references."""

from __future__ import annotations

import math
import random

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from lazyflow.exprs import exact_sum, finite, group_mean, group_std, quantile_bucket, winsorize
from tests.algebra_reference import nearest_quantile


def group_sums(values: list[float | None], groups: list[int]) -> dict[int, float]:
    """exact_sum per group through ``over``, as the stages use it: {group: sum}."""
    frame = pl.DataFrame({"g": groups, "x": values}, schema={"g": pl.Int64, "x": pl.Float64})
    out = frame.with_columns(s=exact_sum(pl.col("x")).over("g"))
    return dict(zip(out["g"].to_list(), out["s"].to_list(), strict=True))


def total(values: list[float | None]) -> float:
    """exact_sum of one column, as a plain ``select`` aggregation."""
    frame = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    return frame.select(exact_sum(pl.col("x"))).item()


def fsum_by_group(values: list[float | None], groups: list[int]) -> dict[int, float]:
    """Plain-python reference: math.fsum of each group's non-null values (0.0 for none)."""
    members: dict[int, list[float]] = {}
    for g, v in zip(groups, values, strict=True):
        members.setdefault(g, [])
        if v is not None:
            members[g].append(v)
    return {g: math.fsum(vs) for g, vs in members.items()}


def random_values(rng: random.Random, n: int, p_null: float = 0.1) -> list[float | None]:
    """Signed values over twelve orders of magnitude, with nulls and exact ties."""
    out: list[float | None] = []
    for _ in range(n):
        u = rng.random()
        if u < p_null:
            out.append(None)
        elif u < p_null + 0.1:
            out.append(3e-4)  # a tie, as funding rates often are
        else:
            out.append(rng.gauss(0, 1) * 10 ** rng.uniform(-6, 6))
    return out


def test_equals_fsum_bit_for_bit_on_random_groups():
    rng = random.Random(0)
    for _ in range(20):
        n = rng.randint(1, 400)
        values = random_values(rng, n)
        groups = [rng.randint(0, 7) for _ in range(n)]
        assert group_sums(values, groups) == fsum_by_group(values, groups)


def test_exact_where_a_float_sum_is_not():
    values = [1e16, 1.0, -1e16, 0.5, 0.25, -0.125, 3.0]
    assert sum(values) != math.fsum(values)  # the plain sum loses the 1.0
    assert total(values) == math.fsum(values)


def test_empty_all_null_and_zero_groups_sum_to_zero():
    values = [None, None, 0.0, -0.0, 5e-324, -5e-324]
    assert group_sums(values, [0, 0, 1, 1, 2, 2]) == {0: 0.0, 1: 0.0, 2: 0.0}
    assert total([]) == 0.0


def test_extreme_magnitudes_stay_exact_or_within_the_documented_bound():
    huge = [1e300, -1e300, 3e299, 1.5e275, 1e308, 7e307]
    assert total(huge) == math.fsum(huge)
    tiny = [1e-270, 3e-271, -2e-270, 5e-281]
    assert total(tiny) == math.fsum(tiny)
    # below 2**-1023 (subnormal) parts are dropped too
    subnormal = [1e-300, 5e-310, 5e-324]
    assert abs(total(subnormal) - math.fsum(subnormal)) <= len(subnormal) * 2.0**-1023
    # parts below 2**-91 of the largest value are dropped: error at most n * 2**-91 * max
    wide = [1.0, 1e-30, -(2.0**-60), 2.0**-100]
    got = total(wide)
    assert abs(got - math.fsum(wide)) <= len(wide) * 2.0**-91


@given(st.integers(0, 2**32 - 1), st.integers(2, 300))
def test_same_bits_in_any_row_order(seed, n):
    rng = random.Random(seed)
    values = random_values(rng, n)
    groups = [rng.randint(0, 3) for _ in range(n)]
    frame = pl.DataFrame({"g": groups, "x": values}, schema={"g": pl.Int64, "x": pl.Float64})
    expected = frame.with_columns(s=exact_sum(pl.col("x")).over("g"))
    order = np.random.default_rng(seed).permutation(n)
    shuffled = frame[order].with_columns(s=exact_sum(pl.col("x")).over("g"))
    assert shuffled["s"].to_list() == expected["s"][order].to_list()
    # and as a group_by aggregation (another path through Polars)
    agg = dict(frame[order].group_by("g").agg(exact_sum(pl.col("x"))).iter_rows())
    assert agg == fsum_by_group(values, groups)


def stats_frame(seed: int) -> pl.DataFrame:
    """Forty dates of 0..30 rows: nulls, exact ties, magnitudes 1e-6..1e6, a date of one
    value and dates of none."""
    rng = np.random.default_rng(seed)
    dates, xs = [], []
    for d in range(40):
        n = int(rng.integers(0, 31)) if d > 1 else d
        for _ in range(n):
            dates.append(d)
            if rng.random() < 0.15:
                xs.append(None)
            elif rng.random() < 0.2:
                xs.append(float(rng.integers(-3, 4)))
            else:
                xs.append(float(rng.normal() * 10.0 ** rng.integers(-6, 7)))
    return pl.DataFrame({"date": dates, "x": xs}, schema={"date": pl.Int64, "x": pl.Float64})


def by_date(frame: pl.DataFrame, column: str) -> dict[int, list[tuple[float | None, float]]]:
    """{date: [(x, column) per row]}."""
    rows: dict[int, list[tuple[float | None, float]]] = {}
    for d, x, v in zip(frame["date"], frame["x"], frame[column], strict=True):
        rows.setdefault(d, []).append((x, v))
    return rows


@given(st.integers(0, 2**32 - 1))
def test_group_mean_and_std_match_numpy(seed):
    frame = stats_frame(seed)
    x = pl.col("x")
    out = frame.with_columns(
        mean=group_mean(x).over("date"), sd=group_std(x - group_mean(x)).over("date")
    )
    for rows in by_date(out, "mean").values():
        values = np.array([v for v, _ in rows if v is not None])
        mean = rows[0][1]
        if len(values) == 0:
            assert mean is None or math.isnan(mean)
            continue
        assert mean == math.fsum(values) / len(values)
    for d, rows in by_date(out, "sd").items():
        values = np.array([v for v, _ in rows if v is not None])
        sd = rows[0][1]
        if len(values) < 2:
            assert math.isnan(sd)
            continue
        want = np.std(values, ddof=1)
        assert abs(sd - want) <= 1e-12 * max(want, np.abs(values).max()), d


@given(st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.05, 0.2, 0.49]))
def test_winsorize_in_and_outside_over_matches_nearest_quantiles(seed, q):
    frame = stats_frame(seed)
    inside = frame.with_columns(w=winsorize(pl.col("x"), q).over("date"))
    outside = frame.with_columns(w=winsorize(pl.col("x"), q, by="date"))
    assert inside.equals(outside, null_equal=True)
    for rows in by_date(inside, "w").values():
        values = sorted(v for v, _ in rows if v is not None)
        for v, w in rows:
            if v is None:
                assert w is None
                continue
            low, high = nearest_quantile(values, q), nearest_quantile(values, 1 - q)
            assert w == min(max(v, low), high)


@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from([1, 3, 10, 7919]),
    st.booleans(),
    st.sampled_from([1, 2]),
)
def test_quantile_bucket_matches_plain_python(seed, n, descending, min_count):
    frame = stats_frame(seed)
    bucket = quantile_bucket(pl.col("x"), n, descending, min_count=min_count)
    out = frame.with_columns(b=bucket.over("date"))
    assert out.schema["b"] == pl.Int64
    for rows in by_date(out, "b").values():
        values = [v for v, _ in rows if v is not None]
        for v, b in rows:
            if v is None or len(values) < min_count:
                assert b is None
                continue
            above = sum(u > v for u in values) if descending else sum(u < v for u in values)
            ties = sum(u == v for u in values)
            rank = above + (ties + 1) / 2
            assert b == math.floor((rank - 1) * n / len(values)) + 1
            assert 1 <= b <= n


def test_finite_nulls_nan_and_inf_and_keeps_every_finite_value():
    values = [1.0, None, float("nan"), float("inf"), -float("inf"), -0.0, 1e308, 5e-324]
    got = pl.DataFrame({"x": values}).select(finite(pl.col("x")))["x"].to_list()
    assert got == [1.0, None, None, None, None, -0.0, 1e308, 5e-324]
    ints = pl.DataFrame({"x": [1, None, 3]}).select(finite(pl.col("x")))["x"]
    assert ints.dtype == pl.Float64 and ints.to_list() == [1.0, None, 3.0]
