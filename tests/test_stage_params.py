"""Every parameter of every built-in stage is checked at call time.

The wrong values are generated from each stage's dataclass fields and their type hints,
so a new parameter is covered without editing this file.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing

import polars as pl
import pytest

import lazyflow as lf
import lazyflow.stages as stages
from lazyflow.stages.base import Stage

STAGES = [getattr(stages, name) for name in stages.__all__ if name != "Stage"]


def wrong_values(hint: typing.Any) -> list[typing.Any]:
    """Values of the wrong type or out of the domain of a parameter typed `hint`."""
    args = (
        typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
    )
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    values: list[typing.Any] = [object()] + ([] if optional else [None])
    if base is bool:
        values += [1, "no"]
    elif base is int:
        values += ["3", 2.5, True, math.nan, 2**31, 2**64, 10**400, 3e9]
    elif base is float:
        values += ["1", True, math.nan, math.inf, 10**400, -(10**400)]
    elif base is str:
        values += ["", 1]
    elif typing.get_origin(base) is tuple:
        element = typing.get_args(base)[0]
        values += ["x", (), *((w,) for w in wrong_values(element) if w is not None)]
    else:
        raise AssertionError(f"no wrong values for the type {hint!r}: extend wrong_values")
    return values


CASES = [
    pytest.param(cls, field.name, value, id=f"{cls.__name__}.{field.name}={value!r:.24}")
    for cls in STAGES
    for field in dataclasses.fields(cls)
    for value in wrong_values(typing.get_type_hints(cls)[field.name])
]


@pytest.fixture(scope="module")
def frame() -> pl.LazyFrame:
    """A small panel with every column the default built-in stages read."""
    panel = lf.synthetic_panel(n_symbols=4, n_days=6, seed=0).lazy()
    return lf.presets.carry()(panel).collect().lazy()


@pytest.mark.parametrize("cls", STAGES, ids=lambda c: c.__name__)
def test_default_stages_accept_the_frame(cls, frame):
    cls()(frame).collect()


@pytest.mark.parametrize(("cls", "name", "value"), CASES)
def test_wrong_parameter_raises_config_error_naming_stage_and_parameter(cls, name, value, frame):
    stage = cls(**{name: value})  # the constructor only stores
    with pytest.raises(lf.ConfigError, match=rf"^{cls.__name__}: parameter '{name}'"):
        stage(frame)


def test_every_field_has_wrong_values():
    assert {c.__name__ for c in STAGES} >= {"FundingCarry", "SigmoidTarget", "ForwardReturns"}
    covered = {(c, n) for c, n, _ in (p.values for p in CASES)}
    fields = {(c, f.name) for c in STAGES for f in dataclasses.fields(c)}
    assert covered == fields


@pytest.mark.parametrize(
    ("cls", "name", "value"),
    [
        (lf.SigmoidTarget, "keep_deciles", [1, 10]),
        (lf.FundingCarry, "mask", None),
        (lf.VolumeUniverse, "dollar_volume_col", None),
        (lf.SigmoidTarget, "lo", 0),
        (lf.EwmaVol, "short_span", 2.5),
        (lf.DropNulls, "columns", ["close"]),
    ],
)
def test_legitimate_values_pass(cls, name, value, frame):
    cls(**{name: value})(frame).collect()


# --- check_upstream: SigmoidTarget against the Deciles stage feeding it ---------------------

CARRY = lf.LogReturns() >> lf.FundingCarry()


def panel() -> pl.LazyFrame:
    return lf.synthetic_panel(n_symbols=20, n_days=10, seed=1).lazy()


def test_mismatched_n_quantiles_names_both_stages_and_values():
    pipe = CARRY >> lf.Deciles(n_quantiles=5) >> lf.SigmoidTarget()
    with pytest.raises(lf.ConfigError) as err:
        pipe(panel())
    message = str(err.value)
    assert message.startswith("SigmoidTarget: parameter 'n_quantiles' is 10")
    assert "Deciles" in message and "n_quantiles=5" in message and "lo=/hi=" in message
    with pytest.raises(lf.ConfigError, match="n_quantiles"):
        pipe.validate(panel().collect_schema())


def test_matching_n_quantiles_maps_top_bucket_to_plus_one():
    pipe = CARRY >> lf.Deciles(n_quantiles=5) >> lf.SigmoidTarget(n_quantiles=5)
    out = pipe(panel()).collect().drop_nulls("decile_carry")
    by_bucket = dict(zip(out["decile_carry"], out["alpha"], strict=True))
    assert by_bucket[1] == -1.0 and by_bucket[5] == 1.0


@pytest.mark.parametrize(
    "target",
    [
        lf.SigmoidTarget(keep_deciles=(1, 5)),
        lf.SigmoidTarget(lo=1, hi=5),
        lf.SigmoidTarget(hi=5),
        lf.SigmoidTarget(decile_col="other"),  # fed by a column no Deciles stage wrote
    ],
)
def test_explicit_bounds_or_other_source_skip_the_check(target):
    other = (lambda f: f.with_columns(other=pl.lit(3))) if target.decile_col == "other" else None
    pipe = CARRY >> lf.Deciles(n_quantiles=5) >> target
    if other is not None:
        pipe = CARRY >> lf.Deciles(n_quantiles=5) >> other >> target
    pipe(panel()).collect()


def test_nearest_writer_of_the_decile_column_counts():
    pipe = CARRY >> lf.Deciles(n_quantiles=5) >> lf.Deciles(n_quantiles=10) >> lf.SigmoidTarget()
    pipe(panel()).collect()
    pipe = CARRY >> lf.Deciles(n_quantiles=10) >> lf.Deciles(n_quantiles=5) >> lf.SigmoidTarget()
    with pytest.raises(lf.ConfigError, match="n_quantiles=5"):
        pipe(panel())
    # a Deciles writing another column is not the source
    pipe = (
        CARRY
        >> lf.Deciles(n_quantiles=10)
        >> lf.Deciles(n_quantiles=5, output_col="q5")
        >> lf.SigmoidTarget()
    )
    pipe(panel()).collect()


def test_check_upstream_is_a_no_op_by_default():
    assert Stage.check_upstream(lf.LogReturns(), [lf.Deciles()]) is None
