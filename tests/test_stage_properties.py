"""Hypothesis properties of the seed's stages and of the carry() preset on random panels."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import Counter

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from test_stage_support import DAY0, by_date, quantile_nearest

import lazyflow as lf


@st.composite
def panels(draw, max_symbols: int = 7, max_days: int = 14, unique_scores: bool = False):
    """A raw panel with random symbols, dates (with gaps), missing rows and a few nulls.

    Prices, volumes and funding are integers (funding in bps), so ties are real
    and sums exact. `score` is a distinct integer per row when `unique_scores`.
    The row order is a random permutation.
    """
    n_symbols = draw(st.integers(1, max_symbols))
    days = sorted(draw(st.sets(st.integers(0, 3 * max_days), min_size=1, max_size=max_days)))
    cells = [(d, s) for d in days for s in range(n_symbols)]
    present = draw(st.lists(st.booleans(), min_size=len(cells), max_size=len(cells)))
    cells = [c for c, keep in zip(cells, present, strict=True) if keep] or cells[:1]
    n = len(cells)

    def column(lo: int, hi: int, unique: bool = False):
        return draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n, unique=unique))

    close, width = column(1, 1000), column(0, 50)
    funding = [None if f == 21 else f * 1e-4 for f in column(-20, 21)]
    frame = pl.DataFrame(
        {
            "date": [DAY0 + dt.timedelta(days=d) for d, _ in cells],
            "symbol": [f"S{s}" for _, s in cells],
            "close": [float(c) for c in close],
            "high": [c + w / 2 for c, w in zip(close, width, strict=True)],
            "low": [c - w / 100 for c, w in zip(close, width, strict=True)],
            "volume": [float(v) for v in column(0, 30)],
            "funding_rate": funding,
            "score": [float(v) for v in column(-(10**6), 10**6, unique=unique_scores)],
            "live": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        },
        schema_overrides={"funding_rate": pl.Float64},
    )
    order = draw(st.permutations(range(n)))
    return frame[list(order)]


def per_date(frame: pl.DataFrame, *columns: str):
    """For each date, the rows' values of `columns` (as tuples)."""
    data = [frame[c].to_list() for c in columns]
    for idx in by_date(frame):
        yield [tuple(col[i] for col in data) for i in idx]


@given(
    panels(unique_scores=True),
    st.integers(1, 12),
    st.booleans(),
    st.booleans(),
)
def test_deciles_cover_1_to_n_in_balanced_buckets(frame, n_quantiles, descending, use_mask):
    stage = lf.Deciles("score", n_quantiles, descending, "q", "live" if use_mask else None)
    out = stage(frame.lazy()).collect()
    for rows in per_date(out, "q", "live"):
        live = [q for q, m in rows if m or not use_mask]
        if len(live) < 2:
            assert all(q is None for q, _ in rows)
            continue
        assert all(q is not None and 1 <= q <= n_quantiles for q in live)
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
        raw = [-f for f, _ in rows if f is not None]
        if not raw:
            continue
        lo, hi = quantile_nearest(raw, winsor), quantile_nearest(raw, 1 - winsor)
        for f, v in rows:
            if f is None:
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


def sorted_output(frame: pl.DataFrame) -> pl.DataFrame:
    return lf.presets.carry()(frame.lazy()).collect().sort("date", "symbol")


def assert_frames_close(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """Same columns, dtypes and nulls; floats equal to 1e-12, everything else exactly."""
    assert a.schema == b.schema
    assert a.height == b.height
    for name in a.columns:
        x, y = a[name], b[name]
        assert x.is_null().equals(y.is_null()), name
        if x.dtype.is_float():
            diff = (
                ((x - y).abs() <= 1e-12 * (1 + y.abs())) | x.is_null() | (x.is_nan() & y.is_nan())
            )
            assert diff.all(), name
        else:
            assert x.equals(y), name


@given(panels(), st.randoms(use_true_random=False), st.booleans())
def test_carry_preset_output_does_not_depend_on_row_order(frame, rnd, with_dollar_volume):
    if with_dollar_volume:
        frame = frame.with_columns(dollar_volume=pl.col("volume") * 7)
    order = list(range(frame.height))
    rnd.shuffle(order)
    assert_frames_close(sorted_output(frame[order]), sorted_output(frame))


@given(panels(max_days=20), st.data())
def test_carry_preset_has_no_look_ahead(frame, data):
    last = data.draw(st.sampled_from(sorted(frame["date"].unique())), label="cut")
    full = sorted_output(frame).filter(pl.col("date") <= last)
    truncated = sorted_output(frame.filter(pl.col("date") <= last))
    assert_frames_close(truncated, full)
