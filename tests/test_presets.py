"""The seed_carry() and carry() presets: the notebook flow end to end, laziness, difference 2."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from test_stage_support import (
    DAY0,
    assert_matches,
    random_panel,
    ref_carry,
    ref_deciles,
    ref_ewma_vol,
    ref_log_returns,
    ref_sigmoid,
    ref_universe,
)

import lazyflow as lf

SEED_STAGES = [
    lf.DropNulls(),
    lf.LogReturns(calendar=False),
    lf.VolumeUniverse(window=30, min_decile=9),
    lf.FundingCarry(winsor=0.05, standardize=True, annualize=False),
    lf.Deciles(descending=True),
    lf.SigmoidTarget(k=1.0, y_min=-0.9, y_max=0.9),
    lf.EwmaVol(short_span=21, long_span=90, blend_weight=0.5),
    lf.RangeSpread(),
]


def test_seed_carry_is_the_notebooks_flow_and_carry_only_flips_the_deciles():
    assert list(lf.presets.seed_carry().stages) == SEED_STAGES
    carry = list(lf.presets.carry().stages)
    assert carry[4] == lf.Deciles(descending=False)
    assert carry[1] == lf.LogReturns(calendar=True)
    assert (
        carry[:1] + carry[2:4] + carry[5:] == SEED_STAGES[:1] + SEED_STAGES[2:4] + SEED_STAGES[5:]
    )


def reference_seed_carry(raw: pl.DataFrame) -> dict[str, list]:
    """The notebook's signal flow in plain python, one value per row of `raw.drop_nulls()`."""
    frame = raw.drop_nulls()
    returns = ref_log_returns(frame)
    trail, decile, universe = ref_universe(frame, 30, 9, frame["dollar_volume"].to_list())
    carry = ref_carry(frame, 0.05, True)  # the whole panel's cross-section, as the seed
    deciles = ref_deciles(frame.with_columns(s=pl.Series(carry, dtype=pl.Float64)), "s", 10, True)
    alpha, target = ref_sigmoid(deciles, 1.0, 0.0, -0.9, 0.9, 1, 10)
    spread = [
        0.5 * (h - lo) / ((h + lo) / 2) for h, lo in zip(frame["high"], frame["low"], strict=True)
    ]
    return {
        "log_returns": returns,
        "trail_volume": trail,
        "volume_decile": decile,
        "is_universe": universe,
        "carry_score": carry,
        "decile_carry": deciles,
        "alpha": alpha,
        "target_position": target,
        "vol_fcst": ref_ewma_vol(frame, returns, 21, 90, 0.5),
        "spread": spread,
    }


@pytest.mark.parametrize(
    "raw",
    [
        random_panel(n_symbols=25, n_days=45, seed=12, p_null=0.03),
        lf.synthetic_panel(n_symbols=30, n_days=50, seed=3),
    ],
    ids=["random", "synthetic"],
)
def test_seed_carry_matches_the_notebook_formulas(raw):
    out = lf.presets.seed_carry()(raw.lazy()).collect()
    assert out.height == raw.drop_nulls().height
    for column, expected in reference_seed_carry(raw).items():
        assert_matches(out[column].to_list(), expected)
    # the carry score and its deciles cover rows outside the universe too
    outside = out.filter(~pl.col("is_universe"))
    assert outside.height > 0
    assert outside["decile_carry"].null_count() < outside.height


def test_seed_carry_builds_a_plan_without_reading_data(tmp_path):
    path = tmp_path / "panel.parquet"
    random_panel(seed=13).write_parquet(path)
    plan = lf.presets.seed_carry()(pl.scan_parquet(path))
    path.unlink()  # the plan must not need the data
    schema = plan.collect_schema()
    for stage in SEED_STAGES:
        for column, dtype in stage.outputs().items():
            assert schema[column] == dtype
    with pytest.raises(FileNotFoundError):
        plan.collect()


def python_calls(plan: pl.LazyFrame) -> list[str]:
    """Markers of per-row / per-group python in a query plan (map_*, apply, opaque python)."""
    text = plan.explain(optimized=False).lower() + plan.explain().lower()
    return [m for m in ("python", "map_", "opaque") if m in text]


@pytest.mark.parametrize("preset", [lf.presets.seed_carry, lf.presets.carry])
def test_presets_plan_has_no_python_calls(preset):
    panel = random_panel(seed=14).lazy()
    assert python_calls(preset()(panel)) == []
    # the check sees one when there is one
    udf = preset() >> (lambda f: f.with_columns(pl.col("close").map_batches(lambda s: s)))
    assert python_calls(udf(panel)) == ["python"]


def test_log_returns_are_one_day_for_a_symbol_reentering_the_universe():
    """DESIGN difference 2: the seed took returns after the universe filter."""
    n_days = 70
    rng = np.random.default_rng(15)
    rows = []
    # X trades 5000/day on days 0-4 and from day 45, nothing in between: its 30-day
    # trailing volume makes it leave the universe around day 34 and come back on day 45
    volumes = {"A": lambda d: 100.0, "B": lambda d: 90.0}
    volumes |= {f"C{i}": (lambda d, i=i: float(i + 1)) for i in range(7)}
    volumes["X"] = lambda d: 5000.0 if d < 5 or d >= 45 else 0.0
    for symbol, volume in volumes.items():
        price = 1.0
        for d in range(n_days):
            price *= math.exp(rng.normal(0, 0.1))
            rows.append(
                {
                    "date": DAY0 + dt.timedelta(days=d),
                    "symbol": symbol,
                    "close": price,
                    "high": price * 1.01,
                    "low": price * 0.99,
                    "volume": 1.0,
                    "dollar_volume": volume(d),
                    "funding_rate": float(rng.normal(0, 1e-4)),
                }
            )
    out = lf.presets.seed_carry()(pl.DataFrame(rows).lazy()).collect()
    x = out.filter(pl.col("symbol") == "X").sort("date")
    in_universe = x["is_universe"].to_list()
    assert in_universe[:30] == [True] * 30
    assert not any(in_universe[35:45]) and in_universe[45]
    close = x["close"].to_list()
    assert x["log_returns"][45] == pytest.approx(math.log(close[45] / close[44]), rel=1e-12)
    # the seed's order: filter the universe, then shift within what is left
    seed = (
        out.filter(pl.col("is_universe"))
        .sort("symbol", "date")
        .with_columns(
            seed_returns=pl.col("close").log() - pl.col("close").shift(1).over("symbol").log()
        )
        .filter((pl.col("symbol") == "X") & (pl.col("date") == DAY0 + dt.timedelta(days=45)))
    )
    last_in = max(i for i in range(45) if in_universe[i])
    assert seed["seed_returns"][0] == pytest.approx(math.log(close[45] / close[last_in]))
    assert abs(seed["seed_returns"][0] - x["log_returns"][45]) > 1e-3


def test_carry_preset_is_long_the_highest_carry():
    frame = lf.presets.carry()(random_panel(n_symbols=20, seed=16).lazy()).collect()
    seed = lf.presets.seed_carry()(random_panel(n_symbols=20, seed=16).lazy()).collect()
    for out, sign in [(frame, 1), (seed, -1)]:
        corr = out.select(pl.corr("carry_score", "target_position", method="spearman")).item()
        assert sign * corr > 0.9
