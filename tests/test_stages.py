"""Each built-in stage against an independent plain-python reference of the notebook's formula."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from test_stage_support import (
    DAY0,
    assert_matches,
    avg_rank,
    by_date,
    random_panel,
    ref_carry,
    ref_deciles,
    ref_ewma_vol,
    ref_log_returns,
    ref_sigmoid,
    ref_universe,
)

import lazyflow as lf


def run(stage, frame: pl.DataFrame) -> pl.DataFrame:
    out = stage(frame.lazy()).collect()
    assert out.height == frame.height
    assert out.select(frame.columns).equals(frame), "a stage changed rows or input columns"
    return out


def with_mask_col(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Adds a boolean `live` column, about 70% true, with a few nulls."""
    u = np.random.default_rng(seed).random(frame.height)
    return frame.with_columns(
        live=pl.Series([None if x < 0.05 else bool(x < 0.75) for x in u], dtype=pl.Boolean)
    )


# -- LogReturns ----------------------------------------------------------------------------


def test_log_returns_match_reference_on_shuffled_panel_with_bad_prices():
    frame = random_panel(seed=1, p_null=0.05)
    bad = frame["close"].to_list()
    bad[3], bad[10], bad[20] = 0.0, -2.0, float("inf")
    frame = frame.with_columns(close=pl.Series(bad))
    for calendar in (True, False):
        out = run(lf.LogReturns(calendar=calendar), frame)
        assert_matches(out["log_returns"].to_list(), ref_log_returns(frame, calendar=calendar))


def test_log_returns_custom_columns():
    frame = random_panel(seed=2).rename({"date": "d", "symbol": "s", "close": "px"})
    out = run(lf.LogReturns(price_col="px", output_col="r", date_col="d", symbol_col="s"), frame)
    expected = ref_log_returns(
        frame.rename({"d": "date", "s": "symbol", "px": "close"}), calendar=True
    )
    assert_matches(out["r"].to_list(), expected)


# -- VolumeUniverse --------------------------------------------------------------------------


@pytest.mark.parametrize("window", [1, 3, 30])
def test_volume_universe_from_dollar_volume_with_ties_and_nulls(window):
    frame = random_panel(seed=3, p_null=0.1)
    out = run(lf.VolumeUniverse(window=window, min_decile=4), frame)
    trail, decile, universe = ref_universe(frame, window, 4, frame["dollar_volume"].to_list())
    assert_matches(out["trail_volume"].to_list(), trail)
    assert_matches(out["volume_decile"].to_list(), decile)
    assert out["is_universe"].to_list() == universe
    assert out.schema["volume_decile"] == pl.Int32
    assert out["is_universe"].null_count() == 0


def test_volume_universe_falls_back_to_close_times_volume():
    frame = random_panel(seed=4)
    product = (frame["close"] * frame["volume"]).to_list()
    expected = ref_universe(frame, 5, 3, product)
    for stage, panel in [
        (lf.VolumeUniverse(window=5), frame.drop("dollar_volume")),
        (lf.VolumeUniverse(window=5, dollar_volume_col=None), frame),
    ]:
        out = run(stage, panel)
        assert_matches(out["trail_volume"].to_list(), expected[0])
        assert_matches(out["volume_decile"].to_list(), expected[1])


def test_volume_universe_mask_restricts_the_ranking():
    frame = with_mask_col(random_panel(seed=5), seed=5)
    out = run(lf.VolumeUniverse(window=4, min_decile=8, mask="live"), frame)
    trail, decile, universe = ref_universe(
        frame, 4, 8, frame["dollar_volume"].to_list(), mask=frame["live"].to_list()
    )
    assert_matches(out["trail_volume"].to_list(), trail)
    assert_matches(out["volume_decile"].to_list(), decile)
    assert out["is_universe"].to_list() == universe


def test_volume_universe_single_row_date_is_top_decile():
    frame = pl.DataFrame(
        {"date": [DAY0], "symbol": ["A"], "dollar_volume": [5.0]},
    )
    out = run(lf.VolumeUniverse(min_decile=9), frame)
    assert out.row(0, named=True) == {
        "date": DAY0,
        "symbol": "A",
        "dollar_volume": 5.0,
        "trail_volume": 5.0,
        "volume_decile": 10,
        "is_universe": True,
    }


# -- FundingCarry ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("winsor", "standardize", "annualize"),
    [(0.05, True, False), (0.2, True, True), (0.0, False, False), (0.25, False, True)],
)
def test_funding_carry_matches_reference(winsor, standardize, annualize):
    frame = random_panel(seed=6, p_null=0.05)
    stage = lf.FundingCarry(winsor=winsor, standardize=standardize, annualize=annualize)
    out = run(stage, frame)
    expected = ref_carry(frame, winsor, standardize, annualize)
    assert_matches(out["carry_score"].to_list(), expected)


def test_funding_carry_mask_and_nan():
    frame = with_mask_col(random_panel(seed=7), seed=7)
    funding = frame["funding_rate"].to_list()
    funding[0], funding[5] = float("nan"), float("-inf")
    frame = frame.with_columns(funding_rate=pl.Series(funding))
    out = run(lf.FundingCarry(winsor=0.1, mask="live"), frame)
    expected = ref_carry(frame, 0.1, True, mask=frame["live"].to_list())
    assert_matches(out["carry_score"].to_list(), expected)
    assert out["carry_score"][0] is None


def test_funding_carry_sign_is_what_a_long_earns():
    # positive funding: longs pay shorts, so the long's carry is the lowest score
    frame = pl.DataFrame(
        {"date": [DAY0] * 3, "symbol": list("abc"), "funding_rate": [0.001, 0.0, -0.001]}
    )
    out = run(lf.FundingCarry(winsor=0.0), frame)
    scores = out["carry_score"].to_list()
    assert scores[0] < scores[1] < scores[2]
    assert scores == pytest.approx([-1.0, 0.0, 1.0], abs=1e-4)


def test_funding_carry_single_row_date_is_null_as_in_the_seed():
    frame = pl.DataFrame(
        {
            "date": [DAY0, DAY0, DAY0 + dt.timedelta(days=1)],
            "symbol": ["a", "b", "a"],
            "funding_rate": [0.001, -0.001, 0.002],
        }
    )
    standardised = run(lf.FundingCarry(), frame)["carry_score"].to_list()
    assert standardised[2] is None
    assert standardised[0] == pytest.approx(-0.001 / (math.sqrt(2) * 0.001 + 1e-8), rel=1e-12)
    raw = run(lf.FundingCarry(standardize=False), frame)["carry_score"].to_list()
    assert raw == pytest.approx([-0.001, 0.001, -0.002])


# -- Deciles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_quantiles", "descending"), [(10, False), (10, True), (3, False)])
def test_deciles_match_reference_with_ties(n_quantiles, descending):
    frame = run(lf.FundingCarry(standardize=False), random_panel(seed=8, p_null=0.05))
    out = run(lf.Deciles(n_quantiles=n_quantiles, descending=descending), frame)
    expected = ref_deciles(frame, "carry_score", n_quantiles, descending)
    assert_matches(out["decile_carry"].to_list(), expected)
    assert out.schema["decile_carry"] == pl.Int32


def test_deciles_mask_nan_and_small_dates():
    frame = pl.DataFrame(
        {
            "date": [DAY0] * 4 + [DAY0 + dt.timedelta(days=1)] * 2 + [DAY0 + dt.timedelta(days=2)],
            "score": [1.0, float("nan"), 3.0, 2.0, 5.0, 6.0, 7.0],
            "live": [True, True, True, False, True, None, True],
        }
    )
    out = run(lf.Deciles(score_col="score", output_col="q", mask="live"), frame)
    # day 0: live scores 1 and 3 (NaN is missing, 2 masked) -> 1 and 6; day 1: one live -> null
    assert out["q"].to_list() == [1, None, 6, None, None, None, None]
    assert_matches(out["q"].to_list(), ref_deciles(frame, "score", mask=frame["live"].to_list()))


def test_descending_deciles_are_the_seeds_and_default_is_reversed():
    """DESIGN difference 1: seed ranks descending (decile 1 = highest score)."""
    frame = random_panel(n_symbols=14, seed=9)
    frame = frame.with_columns(carry_score=np.random.default_rng(9).normal(size=frame.height))
    seed = run(lf.Deciles(descending=True), frame)
    default = run(lf.Deciles(), frame)
    assert_matches(seed["decile_carry"].to_list(), ref_deciles(frame, "carry_score", 10, True))
    # default ranks ascending: the same as the seed's deciles of the negated score
    negated = run(lf.Deciles(descending=True), frame.with_columns(-pl.col("carry_score")))
    assert default["decile_carry"].to_list() == negated["decile_carry"].to_list()
    for idx in by_date(frame):
        if len(idx) < 2:
            continue
        scores = [frame["carry_score"][i] for i in idx]
        top, bottom = idx[scores.index(max(scores))], idx[scores.index(min(scores))]
        last = (len(idx) - 1) * 10 // len(idx) + 1  # 10 once a date has 10 or more scores
        assert (seed["decile_carry"][top], seed["decile_carry"][bottom]) == (1, last)
        assert (default["decile_carry"][top], default["decile_carry"][bottom]) == (last, 1)


# -- SigmoidTarget ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"k": 1.0, "y_min": -0.9, "y_max": 0.9},
        {"k": 2.5, "x_offset": 0.3, "keep_deciles": (1, 2, 9, 10)},
        {"k": -3.0, "lo": 2, "hi": 8, "y_min": 0.0, "y_max": 1.0},
        {"n_quantiles": 5, "keep_deciles": (2, 3, 4)},
    ],
)
def test_sigmoid_target_matches_reference(params):
    deciles = [None, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 3]
    frame = pl.DataFrame({"decile_carry": pl.Series(deciles, dtype=pl.Int32)})
    stage = lf.SigmoidTarget(**params)
    out = run(stage, frame)
    keep = params.get("keep_deciles")
    lo = params.get("lo", min(keep) if keep else 1)
    hi = params.get("hi", max(keep) if keep else params.get("n_quantiles", 10))
    alpha, target = ref_sigmoid(
        deciles,
        params.get("k", 4.0),
        params.get("x_offset", 0.0),
        params.get("y_min", -0.85),
        params.get("y_max", 0.85),
        lo,
        hi,
        keep,
    )
    assert_matches(out["alpha"].to_list(), alpha)
    assert_matches(out["target_position"].to_list(), target)


def test_sigmoid_seed_printout_values():
    # the notebook prints decile 6 -> alpha 0.111111, target 0.049949; decile 1 -> -1, -0.415905
    frame = pl.DataFrame({"decile_carry": [6, 1, 4, 3]})
    out = run(lf.SigmoidTarget(k=1.0, y_min=-0.9, y_max=0.9), frame)
    assert out["alpha"].round(6).to_list() == [0.111111, -1.0, -0.333333, -0.555556]
    assert out["target_position"].round(6).to_list() == [0.049949, -0.415905, -0.148626, -0.243762]


# -- EwmaVol ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("short", "long", "weight", "annualise"),
    [(30, 120, 0.5, False), (21, 90, 0.5, False), (2, 5, 0.2, True), (3, 4, 1.0, False)],
)
def test_ewma_vol_matches_reference_with_nulls(short, long, weight, annualise):
    frame = run(lf.LogReturns(), random_panel(seed=10, n_days=60, p_null=0.05))
    out = run(lf.EwmaVol(short, long, weight, annualise=annualise), frame)
    expected = ref_ewma_vol(
        frame, frame["log_returns"].to_list(), short, long, weight, annualise=annualise
    )
    assert_matches(out["vol_fcst"].to_list(), expected)


def test_ewma_vol_first_values_by_hand():
    frame = pl.DataFrame(
        {
            "date": [DAY0 + dt.timedelta(days=d) for d in (2, 0, 1, 3)],
            "symbol": ["a"] * 4,
            "r": [-0.2, None, 0.1, 0.3],
        }
    )
    out = run(lf.EwmaVol(short_span=3, long_span=7, returns_col="r", output_col="v"), frame)
    a_s, a_l = 0.5, 0.25
    v_day2 = 0.5 * ((1 - a_s) * 0.01 + 0.04) / (2 - a_s) + 0.5 * ((1 - a_l) * 0.01 + 0.04) / (
        2 - a_l
    )
    assert out["v"].to_list()[1:3] == [None, None]
    assert out["v"][0] == pytest.approx(0.1, rel=1e-12)
    assert out["v"][3] == pytest.approx(math.sqrt(v_day2), rel=1e-12)


# -- RangeSpread, DropNulls ----------------------------------------------------------------


def test_range_spread():
    frame = random_panel(seed=11)
    out = run(lf.RangeSpread(), frame)
    expected = [
        0.5 * (h - lo) / ((h + lo) / 2) for h, lo in zip(frame["high"], frame["low"], strict=True)
    ]
    assert_matches(out["spread"].to_list(), expected)


def test_drop_nulls_is_the_only_row_remover():
    frame = pl.DataFrame({"a": [1, None, 3, 4], "b": ["x", "y", None, "z"]})
    assert lf.DropNulls()(frame.lazy()).collect().to_dict(as_series=False) == {
        "a": [1, 4],
        "b": ["x", "z"],
    }
    assert lf.DropNulls(columns=("a",))(frame.lazy()).collect()["a"].to_list() == [1, 3, 4]
    assert lf.DropNulls(columns=("a",)).inputs() == {"a": lf.Kind.ANY}
    assert lf.DropNulls().inputs() == {}


def test_avg_rank_reference_is_polars_rank():
    values = [3.0, 1.0, 3.0, 2.0, 2.0, 2.0]
    assert avg_rank(values) == pl.Series(values).rank().to_list()


# -- schema and parameter errors -------------------------------------------------------------

DATE_SYMBOL = {"date": pl.Date, "symbol": pl.String}

STAGES = [
    (lf.LogReturns(), {**DATE_SYMBOL, "close": pl.Float64}),
    (
        lf.VolumeUniverse(dollar_volume_col=None, mask="m"),
        {**DATE_SYMBOL, "close": pl.Float64, "volume": pl.Float64, "m": pl.Boolean},
    ),
    (lf.FundingCarry(mask="m"), {"date": pl.Date, "funding_rate": pl.Float64, "m": pl.Boolean}),
    (lf.Deciles(), {"date": pl.Date, "carry_score": pl.Float64}),
    (lf.SigmoidTarget(), {"decile_carry": pl.Int32}),
    (lf.EwmaVol(), {**DATE_SYMBOL, "log_returns": pl.Float64}),
    (lf.RangeSpread(), {"high": pl.Float64, "low": pl.Float64}),
    (lf.DropNulls(columns=("close",)), {"close": pl.Float64}),
]


@pytest.mark.parametrize(("stage", "schema"), STAGES, ids=lambda x: getattr(x, "name", ""))
def test_missing_and_mistyped_columns_name_stage_and_column(stage, schema):
    out = stage.validate(schema)
    assert set(stage.outputs()) <= set(out)
    for column in schema:
        missing = {c: t for c, t in schema.items() if c != column}
        with pytest.raises(lf.SchemaError, match=f"{stage.name}: column '{column}' is missing"):
            stage.validate(missing)
        if stage.inputs()[column] is lf.Kind.ANY:
            continue
        wrong = pl.Float64 if schema[column] in (pl.String, pl.Date, pl.Boolean) else pl.String
        with pytest.raises(lf.SchemaError) as err:
            stage(pl.LazyFrame(schema={**schema, column: wrong}))
        assert (err.value.stage, err.value.column) == (stage.name, column)
        assert "has dtype" in str(err.value)


def test_volume_universe_names_fallback_columns_when_dollar_volume_is_absent():
    with pytest.raises(lf.SchemaError, match=r"column 'volume' is missing \(no 'dollar_volume'"):
        lf.VolumeUniverse().validate({**DATE_SYMBOL, "close": pl.Float64})
    # with dollar volume present, close and volume are not needed
    lf.VolumeUniverse().validate({**DATE_SYMBOL, "dollar_volume": pl.Int64})
    with pytest.raises(lf.SchemaError, match="column 'dollar_volume' has dtype String"):
        lf.VolumeUniverse().validate({**DATE_SYMBOL, "dollar_volume": pl.String})


@pytest.mark.parametrize(
    ("stage", "parameter"),
    [
        (lf.VolumeUniverse(window=0), "window"),
        (lf.VolumeUniverse(window=2.5), "window"),
        (lf.VolumeUniverse(min_decile=11), "min_decile"),
        (lf.VolumeUniverse(min_decile=0), "min_decile"),
        (lf.FundingCarry(winsor=0.5), "winsor"),
        (lf.FundingCarry(winsor=-0.01), "winsor"),
        (lf.FundingCarry(periods_per_year=0), "periods_per_year"),
        (lf.Deciles(n_quantiles=0), "n_quantiles"),
        (lf.SigmoidTarget(keep_deciles=(3,)), "hi"),
        (lf.SigmoidTarget(lo=4, hi=4), "hi"),
        (lf.SigmoidTarget(keep_deciles=()), "keep_deciles"),
        (lf.SigmoidTarget(y_min=0.5, y_max=0.1), "y_min"),
        (lf.SigmoidTarget(n_quantiles=0), "n_quantiles"),
        (lf.EwmaVol(short_span=90, long_span=21), "short_span"),
        (lf.EwmaVol(short_span=0.5, long_span=2), "short_span"),
        (lf.EwmaVol(blend_weight=1.5), "blend_weight"),
        (lf.EwmaVol(periods_per_year=-1), "periods_per_year"),
        (lf.DropNulls(columns=()), "columns"),
        (lf.DropNulls(columns="close"), "columns"),
    ],
)
def test_bad_parameters_raise_config_error_at_call_time(stage, parameter):
    frame = pl.LazyFrame(schema={c: pl.Float64 for c in ("close",)})
    with pytest.raises(lf.ConfigError, match=f"{stage.name}: parameter '{parameter}'"):
        stage(frame)


def test_stages_are_frozen_and_keep_seed_names():
    stage = lf.FundingCarry()
    with pytest.raises(AttributeError):
        stage.winsor = 0.1  # type: ignore[misc]
    names = {
        **lf.VolumeUniverse().outputs(),
        **lf.FundingCarry().outputs(),
        **lf.Deciles().outputs(),
        **lf.SigmoidTarget().outputs(),
        **lf.EwmaVol().outputs(),
        **lf.RangeSpread().outputs(),
        **lf.LogReturns().outputs(),
    }
    assert set(names) == {
        "trail_volume",
        "volume_decile",
        "is_universe",
        "carry_score",
        "decile_carry",
        "alpha",
        "target_position",
        "vol_fcst",
        "spread",
        "log_returns",
    }
