"""Hostile inputs for the factor algebra (a review): formulas whose plan grew exponentially,
numbers and nestings that raised Python errors, key columns read as values, and column names
that did not read back. Each test failed before the fix in `lazyflow/algebra` it names."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import lazyflow as lf
from lazyflow import cs, ts
from lazyflow.algebra.parse import parse

X = [1.0, -2.0, 4.0, None, 8.0, -3.0]


def panel() -> pl.DataFrame:
    """One symbol, six days (a null among them), and a second symbol's rows interleaved."""
    days = [dt.date(2024, 1, d) for d in range(1, 7)]
    return pl.DataFrame(
        {
            "date": days + days,
            "symbol": ["a"] * 6 + ["b"] * 6,
            "x": X + [2.0] * 6,
        }
    ).sample(fraction=1.0, shuffle=True, seed=3)


def factor_of(term: lf.Term | str, symbol: str = "a") -> list[float | None]:
    frame = panel().with_row_index("i")
    out = lf.Factor("f", term)(frame.lazy()).collect().sort("symbol", "date")
    return out.filter(pl.col("symbol") == symbol)["f"].to_list()


def plan_size(term: lf.Term | str) -> int:
    """Characters of the Polars expressions the plan runs (a proxy for Polars' work)."""
    steps = [step for group in lf.Factor("f", term).plan().groups for step in group]
    scratch = [expr for s in steps for batch in s.scratch for _, expr in batch]
    return sum(len(str(e)) for e in [*(s.expr for s in steps), *scratch])


def means(x: list[float | None], d: int) -> list[float | None]:
    """ts.mean(x, d) by hand: null until d rows, null if a value in the window is."""
    out: list[float | None] = []
    for t in range(len(x)):
        window = x[t - d + 1 : t + 1] if t >= d - 1 else [None]
        out.append(None if None in window else sum(window) / d)  # type: ignore[arg-type]
    return out


def nested_where(depth: int) -> lf.Term:
    t = lf.col("x")
    for _ in range(depth):
        t = lf.where(t > 0, t, 0)
    return t


def test_nested_readers_are_computed_into_columns_not_copied() -> None:
    """An operator that reads its argument several times copied its expression (a division
    by a constant reads the numerator twice, ts.mean 4 times, where its condition twice),
    and nested ones multiplied the copies: ``x / 2 / 2 ... / 2`` (16 times, 32 characters)
    took minutes, 9 nested ts.mean did not finish. `plan.MAX_COPIES` bounds the copies."""
    halves = "x" + " / 2" * 16
    smooth = "ts.mean(" * 6 + "x" + ", 2)" * 6
    for term in (halves, smooth, nested_where(10)):
        assert plan_size(term) < 60_000, term
    assert factor_of(halves) == [None if v is None else v / 2**16 for v in X]
    want = X
    for _ in range(6):
        want = means(want, 2)
    assert factor_of(smooth) == want
    assert factor_of(nested_where(10)) == [None if v is None else max(v, 0.0) for v in X]


def test_a_number_too_large_for_a_float_is_a_config_error() -> None:
    """An integer beyond 1.8e308 passed `isinstance(Real)` and raised OverflowError when
    converted to a float."""
    with pytest.raises(lf.ConfigError, match=r"lf\.lit: parameter 'value'"):
        lf.lit(10**400)
    with pytest.raises(lf.ConfigError, match=r"cs\.scale: parameter 'a'"):
        cs.scale("x", 10**400)
    with pytest.raises(lf.ConfigError, match=r"Factor 'f': parameter 'term'.*lf\.lit"):
        lf.Factor("f", "x * " + "9" * 400).check()
    with pytest.raises(lf.ConfigError, match=r"lf\.lit"):
        lf.col("x") + 10**400


def test_a_formula_nested_too_deep_is_a_config_error() -> None:
    """A deep formula raised RecursionError (in the parser from ~330 levels, in the planner
    from ~350); terms are now at most `term.MAX_DEPTH` (200) operators deep."""
    with pytest.raises(lf.ConfigError, match="nested too deeply"):
        parse("-" * 1000 + "x")
    with pytest.raises(lf.ConfigError, match=r"'\+' would nest operators 201 deep"):
        parse(" + ".join(["x"] * 202))
    t = lf.col("x")
    with pytest.raises(lf.ConfigError, match=r"'ts\.delay' would nest operators 201 deep"):
        for _ in range(201):
            t = ts.delay(t, 1)
    deepest = " + ".join(["x"] * 201)  # 200 additions: computed, printed and read back
    assert parse(str(parse(deepest))) == parse(deepest)
    assert factor_of(deepest) == [None if v is None else v * 201 for v in X]


def test_a_key_column_read_as_a_value_is_a_config_error() -> None:
    """The date or symbol column used as the mask, as a number or as a condition passed
    the schema check (the key's kind won) and failed inside Polars; with
    date_col == symbol_col, ts.mean ordered each symbol by itself (row-order dependent)."""
    frame = panel().lazy()
    cases = {
        "mask": lf.Factor("f", cs.rank("x"), mask="date"),
        "term": lf.Factor("f", ts.mean(lf.col("symbol"), 2)),
        "symbol_col": lf.Factor("f", ts.mean("x", 2), date_col="symbol"),
    }
    for parameter, stage in cases.items():
        with pytest.raises(lf.ConfigError, match=f"Factor 'f': parameter '{parameter}'"):
            stage(frame).collect()
    with pytest.raises(lf.ConfigError, match="reads column 'date' as a boolean column"):
        lf.Factor("f", lf.where("date", 1.0, 0.0))(frame)
    # a group key may be a key column
    assert factor_of(cs.neutralize("x", "date")) == [
        None if v is None else v - (v + 2.0) / 2 for v in X
    ]


@pytest.mark.parametrize("name", ["if", "None", "True", "lambda", "ﬁ", "ｃｌｏｓｅ"])
def test_a_term_prints_a_formula_that_reads_back(name: str) -> None:
    """A column named as a Python keyword printed bare (``if``, not a formula), and one
    that Python rewrites (NFKC: the ligature ``ﬁ`` read back as column ``fi``)."""
    term = cs.rank(lf.col(name)) + ts.delay(name, 1)
    assert parse(str(term)) == term
