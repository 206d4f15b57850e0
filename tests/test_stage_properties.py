"""Hypothesis properties of the built-in stages and the presets, on `lazyflow.testing.panels`.

The generic properties (declared schema, rows preserved, row order, no look-ahead, masks)
go through `lazyflow.testing`'s checks, the same ones a user runs on their own stages; the
stage-specific ones (balanced deciles, standardised scores, winsor bounds, sigmoid bounds)
are written here.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_stage_support import by_date, quantile_nearest

import lazyflow as lf
from lazyflow.testing import check_preserves_rows, check_stage, panels

#: Panels with a boolean mask `live` (nulls, NaN and inf at the default rates).
MASKED = panels(extra={"live": pl.Boolean})

#: Every built-in stage with parameters and column names the presets do not use (the
#: presets cover the defaults), and windows short enough for a 12-date panel.
VARIANTS = lf.Pipeline(
    [
        lf.LogReturns(output_col="r"),
        lf.VolumeUniverse(
            window=2,
            min_decile=4,
            dollar_volume_col=None,
            trail_col="tv",
            decile_col="vd",
            universe_col="u",
        ),
        lf.FundingCarry(winsor=0.2, standardize=False, annualize=True, output_col="c"),
        lf.Deciles("close", n_quantiles=3, output_col="dq"),
        lf.SigmoidTarget("dq", n_quantiles=3, keep_deciles=(1, 3), alpha_col="a", output_col="t"),
        lf.EwmaVol(short_span=2, long_span=5, annualise=True, returns_col="r", output_col="v"),
        lf.RangeSpread(output_col="hl"),
        lf.ForwardReturns(horizons=(1, 3), log=True),
    ]
)


@given(panel=MASKED)
def test_builtin_stages_pass_every_check(panel):
    """Schema, rows, row order and no look-ahead (ForwardReturns' labels exempt), bitwise."""
    check_stage(VARIANTS, panel)


@given(panel=MASKED)
def test_masked_stages_respect_their_mask(panel):
    stage = lf.FundingCarry(winsor=0.1, mask="live") >> lf.Deciles(mask="live")
    check_stage(stage, panel, "live")


@given(panel=panels(), listed=st.sets(st.sampled_from([f"S{i}" for i in range(6)])))
def test_volume_universe_ranks_only_the_masked_symbols(panel, listed):
    """VolumeUniverse's trailing volume runs over every row (its mask restricts the ranking),
    so the mask check holds for a mask that takes whole symbols in or out, on the decile."""
    panel = panel.with_columns(live=pl.col("symbol").is_in(sorted(listed)))
    stage = lf.VolumeUniverse(window=3, mask="live")
    check_stage(stage, panel, "live", mask_columns=["volume_decile"])


@pytest.mark.parametrize("preset", [lf.presets.carry, lf.presets.seed_carry])
@given(panel=panels(n_dates=(1, 20)), with_dollar_volume=st.booleans(), seed=st.integers(0, 99))
def test_presets_pass_every_check(preset, panel, with_dollar_volume, seed):
    """The presets start with DropNulls, the one stage that removes rows on purpose; every
    stage after it preserves rows."""
    if not with_dollar_volume:
        panel = panel.drop("dollar_volume")
    pipeline = preset()
    check_stage(pipeline, panel, preserves_rows=False, seed=seed)
    check_preserves_rows(lf.Pipeline(pipeline.stages[1:]), panel)


def per_date(frame: pl.DataFrame, *columns: str):
    """For each date, the rows' values of `columns` (as tuples)."""
    data = [frame[c].to_list() for c in columns]
    for idx in by_date(frame):
        yield [tuple(col[i] for col in data) for i in idx]


def usable(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


@given(
    panels(ties=False, extra={"score": pl.Float64, "live": pl.Boolean}),
    st.integers(1, 12),
    st.booleans(),
    st.booleans(),
)
def test_deciles_cover_1_to_n_in_balanced_buckets(frame, n_quantiles, descending, use_mask):
    stage = lf.Deciles("score", n_quantiles, descending, "q", "live" if use_mask else None)
    out = stage(frame.lazy()).collect()
    for rows in per_date(out, "q", "live", "score"):
        live = [q for q, m, s in rows if (m or not use_mask) and usable(s)]
        if len(live) < 2:
            assert all(q is None for q, _, _ in rows)
            continue
        assert all(q is not None and 1 <= q <= n_quantiles for q in live)
        assert sum(q is not None for q, _, _ in rows) == len(live)
        counts = Counter(live)
        sizes = [counts.get(b, 0) for b in range(1, n_quantiles + 1)]
        assert max(sizes) - min(sizes) <= 1, sizes


@given(panels(), st.floats(0, 0.45), st.booleans())
def test_standardised_dates_have_mean_0_and_std_1(frame, winsor, annualize):
    raw = lf.FundingCarry(winsor, standardize=False, annualize=annualize, output_col="w")
    both = (raw >> lf.FundingCarry(winsor, annualize=annualize))(frame.lazy()).collect()
    for rows in per_date(both, "w", "carry_score"):
        rows = [(w, z) for w, z in rows if w is not None]
        if len(rows) < 2:
            assert all(z is None for _, z in rows)
            continue
        winsorised, scores = zip(*rows, strict=True)
        if len(set(winsorised)) == 1:
            # (x - mean) / 1e-8: zero up to the rounding of the mean, as in the seed
            assert all(abs(z) <= 1e-6 for z in scores)
            continue
        s = statistics.stdev(winsorised)
        assert abs(statistics.fmean(scores)) <= 1e-9
        # std(score) = s / (s + 1e-8): 1 up to the seed's 1e-8 guard
        assert math.isclose(statistics.stdev(scores), s / (s + 1e-8), rel_tol=1e-9)


@given(panels(), st.floats(0, 0.49))
def test_winsorised_values_stay_within_the_dates_quantiles(frame, winsor):
    out = lf.FundingCarry(winsor, standardize=False)(frame.lazy()).collect()
    for rows in per_date(out, "funding_rate", "carry_score"):
        raw = [-f for f, _ in rows if usable(f)]
        if not raw:
            continue
        lo, hi = quantile_nearest(raw, winsor), quantile_nearest(raw, 1 - winsor)
        for f, v in rows:
            if not usable(f):
                assert v is None
            else:
                assert lo <= v <= hi
                assert v == min(max(-f, lo), hi)


@given(
    st.lists(st.one_of(st.none(), st.integers(1, 12)), min_size=1, max_size=30),
    st.floats(-20, 20),
    st.floats(-2, 2),
    st.floats(-5, 5),
    st.floats(-5, 5),
    st.integers(2, 12),
)
def test_targets_stay_within_y_bounds(deciles, k, x_offset, y_a, y_b, n_quantiles):
    y_min, y_max = min(y_a, y_b), max(y_a, y_b)
    stage = lf.SigmoidTarget(
        k=k, x_offset=x_offset, y_min=y_min, y_max=y_max, n_quantiles=n_quantiles
    )
    out = stage(pl.LazyFrame({"decile_carry": deciles}, schema={"decile_carry": pl.Int32}))
    out = out.collect()
    eps = 1e-12 * max(1.0, abs(y_min), abs(y_max))
    for d, alpha, target in out.iter_rows():
        if d is None:
            assert alpha is None and target is None
            continue
        assert y_min - eps <= target <= y_max + eps
        if d <= n_quantiles:
            assert -1 - 1e-12 <= alpha <= 1 + 1e-12
