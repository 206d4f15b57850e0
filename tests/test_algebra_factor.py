"""`lf.Factor`: planning into levels, sub-term sharing, temporary columns, schema checks, and
the hypothesis properties (row order bitwise, no look-ahead, other columns untouched)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyflow as lf
from lazyflow import cs, ts
from tests.algebra_reference import random_panel

#: A term that nests every partition: ts of cs, cs of ts, a group, a shared sub-term.
NESTED = (
    cs.rank(ts.corr(cs.rank("x"), ts.delta("p", 2), 4))
    + cs.zscore(ts.mean(cs.winsorize("y", 0.1), 3))
    - cs.neutralize(ts.decay_linear(ts.delta("p", 2), 3), "g") * ts.std("x", 3)
    + lf.where(ts.rank("x", 3) > 2, cs.scale("x"), cs.quantile(ts.delta("p", 2), 4))
)


def test_nested_windows_are_planned_into_levels() -> None:
    """ts.delta feeds cs.rank: two levels; the shared ts.mean is computed once."""
    shared = ts.mean("x", 3)
    factor = lf.Factor("f", cs.rank(shared) + shared / ts.std(shared, 3))
    plan = factor.plan()
    assert plan.levels == 2 and len(plan.groups) == 2
    assert [s.term for s in plan.groups[0]] == [shared]
    assert "(level 2)" in factor.describe() and "cs.rank(__lf_tmp" in factor.describe()

    def shape(term: lf.Term) -> tuple[int, int]:
        plan = lf.Factor("f", term).plan()
        return plan.levels, len(plan.groups)

    assert shape(cs.rank(ts.delta("x", 1))) == (2, 2)
    assert shape(ts.mean(ts.delta("x", 1), 3) * ts.max("y", 2)) == (1, 1)  # fused
    # cs.rank reads its input twice (rank and count): the zscore is computed once, first
    assert shape(cs.rank(cs.zscore("x"))) == (1, 2)
    assert shape(ts.mean(cs.rank(ts.delta("x", 1)), 3)) == (3, 3)


def test_the_trap_factor_avoids() -> None:
    """Polars' nested window runs the inner diff per date (all nulls); Factor does not."""
    frame = random_panel(0)
    naive = frame.select(pl.col("p").diff().over("symbol").rank().over("date")).to_series()
    assert naive.null_count() == frame.height
    planned = lf.Factor("f", cs.rank(ts.delta("p", 1)))(frame.lazy()).collect()["f"]
    assert planned.null_count() < frame.height / 2


def test_temporary_columns_never_leak_nor_clash() -> None:
    frame = random_panel(1).with_columns(pl.lit(7.0).alias("__lf_tmp0"))
    out = lf.Factor("f", NESTED)(frame.lazy()).collect()
    assert out.columns == [*frame.columns, "f"]
    assert out["__lf_tmp0"].equals(frame["__lf_tmp0"])
    assert out["f"].dtype == pl.Float64 and out["f"].is_not_null().sum() > 0


def test_declared_inputs_name_a_missing_column_before_reading() -> None:
    factor = lf.Factor("f", ts.mean("close", 3) + cs.neutralize("x", "sector"), mask="univ")
    inputs = factor.inputs()
    assert set(inputs) == {"date", "symbol", "close", "x", "sector", "univ"}
    schema = {"date": pl.Date, "symbol": pl.String, "close": pl.Float64, "x": pl.Float64}
    with pytest.raises(lf.SchemaError, match="Factor 'f': column 'sector' is missing"):
        lf.Pipeline([factor]).validate(schema)
    assert "symbol" not in lf.Factor("f", cs.rank("x")).inputs()


def test_a_column_read_in_several_ways_gets_the_strictest_kind() -> None:
    """A boolean column reads as 0/1 where used as a number (it was refused as not
    numeric); a group key also read as a number must be a number (a String one passed the
    schema check and failed inside Polars), one also used as a condition a boolean."""
    frame = random_panel(4).with_columns(flag=pl.col("x") > 0, sector=pl.lit("a"))
    out = lf.Factor("f", lf.col("flag") * 2)(frame.lazy()).collect()
    want = (frame["x"] > 0).cast(pl.Float64) * 2
    assert out["f"].equals(want.alias("f"))
    with pytest.raises(lf.SchemaError, match="column 'sector' has dtype String, expected a "
                       "numeric or boolean column"):
        lf.Factor("f", cs.neutralize("x", "sector") + lf.col("sector"))(frame.lazy())
    kinds = lf.Factor("f", cs.neutralize("x", "flag") + lf.where("flag", 1, 0)).inputs()
    assert kinds["flag"] is lf.schema.Kind.BOOL and kinds["x"] is lf.schema.Kind.NUMBER


def test_formula_strings_and_bad_formulas() -> None:
    frame = random_panel(2)
    a = lf.Factor("f", "cs.rank(ts.delta(p, 2)) * -1 + abs(x) ** 2")(frame.lazy()).collect()
    b = lf.Factor("f", cs.rank(ts.delta("p", 2)) * -1 + abs(lf.col("x")) ** 2)(frame.lazy())
    assert a["f"].equals(b.collect()["f"])
    with pytest.raises(
        lf.ConfigError, match=r"Factor 'f': parameter 'term'.*ts\.mean: parameter 'd'"
    ):
        lf.Factor("f", "ts.mean(x, -2)").check()
    with pytest.raises(lf.ConfigError, match=r"parameter 'term'.*unknown function.*: __import__"):
        lf.Factor("f", "__import__('os')").check()
    with pytest.raises(lf.ConfigError, match=r"not allowed in a formula: x\.real"):
        lf.Factor("f", "x.real").check()


def test_every_alpha101_term_reads_back_from_its_text() -> None:
    from examples.alpha101 import ALPHAS

    for name, term in [*ALPHAS.items(), ("nested", NESTED)]:
        assert lf.algebra.parse(str(term)) == term, name


def test_mask_nulls_the_factor_outside_and_restricts_cs_inputs() -> None:
    frame = random_panel(3)
    out = lf.Factor("f", cs.rank("x") + ts.mean("y", 2), mask="m")(frame.lazy()).collect()
    outside = ~out["m"].fill_null(False)
    assert out.filter(outside)["f"].null_count() == outside.sum()


def assert_same_bits(a: pl.Series, b: pl.Series) -> None:
    """Same nulls and the same 64 bits in every value."""
    assert a.is_null().equals(b.is_null())
    bits_a, bits_b = (s.fill_null(0.0).to_numpy().view(np.int64) for s in (a, b))
    assert np.array_equal(bits_a, bits_b)


@settings(max_examples=10)
@given(seed=st.integers(0, 10_000), shuffle=st.integers(0, 10_000), masked=st.booleans())
def test_row_order_never_changes_a_bit(seed: int, shuffle: int, masked: bool) -> None:
    frame = random_panel(seed, n_symbols=5, n_days=15)
    factor = lf.Factor("f", NESTED, mask="m" if masked else None)
    key = ["date", "symbol"]
    base = factor(frame.lazy()).collect().sort(key)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=shuffle)
    assert_same_bits(base["f"], factor(shuffled.lazy()).collect().sort(key)["f"])


@settings(max_examples=10)
@given(seed=st.integers(0, 10_000), cut=st.integers(3, 14))
def test_no_look_ahead(seed: int, cut: int) -> None:
    """The factor on dates <= T is the same (bitwise) with or without the later rows."""
    frame = random_panel(seed, n_symbols=5, n_days=15)
    t = dt.date(2024, 1, 1) + dt.timedelta(days=cut)
    key = ["date", "symbol"]
    full = lf.Factor("f", NESTED, mask="m")(frame.lazy()).collect()
    full = full.filter(pl.col("date") <= t).sort(key)
    early = frame.filter(pl.col("date") <= t)
    part = lf.Factor("f", NESTED, mask="m")(early.lazy()).collect().sort(key)
    assert_same_bits(full["f"], part["f"])


@settings(max_examples=10)
@given(seed=st.integers(0, 10_000))
def test_factor_never_drops_reorders_or_changes_other_columns(seed: int) -> None:
    frame = random_panel(seed, n_symbols=4, n_days=10)
    out = lf.Factor("f", NESTED, mask="m")(frame.lazy()).collect()
    assert out.drop("f").equals(frame)
    declared = lf.Factor("f", NESTED, mask="m").validate(frame.schema)
    assert dict(declared) == dict(out.schema)
