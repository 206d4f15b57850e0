"""`lazyflow.exprs.exact_sum` against `math.fsum` (the exact sum rounded once)."""

from __future__ import annotations

import math
import random

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from lazyflow.exprs import exact_sum


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
