"""Fuzz: messy panels through the whole pipeline, the audit and the backtest.

Every panel either makes lazyflow raise a `LazyflowError` or gives metrics that are all
finite; no other exception, ever. Every column the pipeline adds is finite or null, whatever
extreme finite values (1e308) the panel holds. When both the audit and the backtest run, their
counts of untradable rows agree.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyflow as lf
from lazyflow.portfolio.checks import ROW_REASONS

DAY0 = dt.date(2024, 1, 1)

#: Symbol names a real panel may hold: spaces, unicode, slashes, quotes, backslashes, empty.
ODD_SYMBOLS = ["BTCUSDT", "ETH USDT", "ÉTÉ/ü", 'a"b', "x'y", "", "1000SHIB", "名字", "a\\b", "t\tb"]

#: Replacement values for a numeric cell: missing, non-finite, zero, negative, extreme.
BAD_NUMBERS = (None, math.nan, math.inf, -math.inf, 0.0, -1.0, 1e300, 1e-300, -1e300)

#: Finite values that overflow a NAV or a window: huge or tiny prices, volumes and funding.
EXTREME = (1e300, 1e-300, 1e308, -1e300, 1e6, 1.7976931348623157e308, -1e308)

#: The columns that get extreme values.
EXTREME_COLUMNS = ("close", "high", "low", "volume", "dollar_volume", "funding_rate")

NUMERIC = ("open", "high", "low", "close", "volume", "dollar_volume", "funding_rate")


def messy_panel(
    seed: int,
    n_symbols: int,
    n_days: int,
    p_gap: float,
    p_bad: float,
    n_dups: int,
    p_null_key: float,
    bad_numbers: tuple = BAD_NUMBERS,
    p_extreme: float = 0.0,
) -> pl.DataFrame:
    """A shuffled panel with gaps, bad numbers (each cell with probability `p_bad`), extreme
    prices, volumes and funding rates (`p_extreme`), repeated (date, symbol) rows and null
    keys."""
    rng = np.random.default_rng(seed)
    symbols = list(rng.choice(ODD_SYMBOLS, size=n_symbols, replace=False))
    rows = []
    for s in symbols:
        price = float(np.exp(rng.normal(0, 3)))
        for d in range(n_days):
            price *= float(np.exp(rng.normal(0, 0.1)))
            if rng.random() < p_gap:
                continue
            high, low = price * (1 + 0.05 * rng.random()), price * (1 - 0.05 * rng.random())
            volume = float(rng.integers(0, 1000))
            funding = float(rng.choice([0.0001, -0.0002, 0.0003, rng.normal(0, 0.01)]))
            row = {
                "date": DAY0 + dt.timedelta(days=d),
                "symbol": s,
                "open": price,
                "high": high,
                "low": low,
                "close": price,
                "volume": volume,
                "dollar_volume": volume * price,
                "funding_rate": funding,
            }
            for column in NUMERIC:
                if rng.random() < p_bad:
                    row[column] = bad_numbers[int(rng.integers(len(bad_numbers)))]
            for column in EXTREME_COLUMNS:
                if rng.random() < p_extreme:
                    row[column] = EXTREME[int(rng.integers(len(EXTREME)))]
            for key in ("date", "symbol"):
                if rng.random() < p_null_key:
                    row[key] = None
            rows.append(row)
    for _ in range(n_dups if rows else 0):
        rows.append(dict(rows[int(rng.integers(len(rows)))]))
    schema = {"date": pl.Date, "symbol": pl.String, **dict.fromkeys(NUMERIC, pl.Float64)}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


panels = st.builds(
    messy_panel,
    seed=st.integers(0, 2**32 - 1),
    n_symbols=st.integers(1, 6),
    n_days=st.integers(1, 30),
    p_gap=st.sampled_from([0.0, 0.1, 0.5]),
    p_bad=st.sampled_from([0.0, 0.02, 0.1, 0.4]),
    n_dups=st.sampled_from([0, 0, 0, 1, 3]),
    p_null_key=st.sampled_from([0.0, 0.0, 0.05]),
    p_extreme=st.sampled_from([0.0, 0.0, 0.01, 0.05]),
)


def run_all(pipeline: lf.Pipeline, panel: pl.DataFrame) -> None:
    """Pipeline, audit and backtest: a LazyflowError or finite metrics, and agreeing counts."""
    frame = pipeline(panel.lazy()).collect()
    for column in set(frame.columns) - set(panel.columns):
        if frame.schema[column].is_float():
            values = frame[column].drop_nulls().to_numpy()
            assert np.isfinite(values).all(), f"{column} is not finite or null: {values}"
    try:
        audit = pipeline.audit(panel)
    except lf.LazyflowError:
        audit = None
    try:
        result = lf.backtest(frame, lf.presets.seed_allocator(), **lf.presets.SEED_BACKTEST)
    except lf.LazyflowError as err:
        assert str(err)  # a message, never empty
        return
    for column in result.metrics.columns[1:]:
        values = result.metrics[column].drop_nulls().to_numpy()
        assert np.isfinite(values).all(), f"metric {column} is not finite: {values}"
    if audit is not None:
        assert audit.dropped == {r: result.dropped[r] for r in ROW_REASONS}


# numpy warns while an extreme panel overflows the NAV, before the backtest raises DataError
@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
@settings(max_examples=100)  # cheap (~0.1 s each): more than the ci profile's 30
@given(panels)
def test_messy_panels_raise_lazyflow_errors_or_give_finite_metrics(panel):
    run_all(lf.presets.carry(), panel)
    run_all(lf.presets.seed_carry(), panel)


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
@pytest.mark.parametrize("dedupe", ["first", "last"])
@given(panel=panels)
def test_messy_csv_files_read_the_same_way(tmp_path_factory, dedupe, panel):
    path = tmp_path_factory.mktemp("fuzz") / "panel.csv"
    panel.write_csv(path)
    scanned = lf.scan_panel(path, dedupe=dedupe).collect()
    assert scanned.height == panel.unique(["date", "symbol"]).height
    run_all(lf.presets.carry(), scanned)


#: A 2x levered book: a 200% annual vol target, capped at 50% per coin and 2x gross.
LEVERED = lf.BufferedAllocator(
    lambda_risk=2.0, gamma_cost=0.3, max_pos=0.5, gross_cap=2.0, vol_target=2.0
)


def crashed(panel: pl.DataFrame, seed: int, move: float) -> pl.DataFrame:
    """`panel` with the closes of about half its symbols moved by `move` (a fraction) from a
    random date on: a one-day crash (or squeeze) that stays."""
    rng = np.random.default_rng(seed)
    dates = panel["date"].drop_nulls().unique().sort()
    if dates.is_empty():
        return panel
    day = dates[int(rng.integers(len(dates)))]
    hit = pl.col("symbol").hash(seed) % 2 == 0
    factor = pl.when(hit & (pl.col("date") >= day)).then(1.0 + move).otherwise(1.0)
    return panel.with_columns(pl.col("close") * factor)


def assert_invariants(result: lf.BacktestResult) -> None:
    """A finite NAV >= 0, drawdown <= 0 from init_nav, no NaN in any output."""
    m, book = result.metrics, result.book
    nav = m["nav"].to_numpy()
    assert np.isfinite(nav).all() and (nav >= 0).all()
    assert (m["drawdown"].to_numpy() <= 0).all() and (m["nav_high"] >= result.init_nav).all()
    for frame in (m, book):
        floats = frame.select(pl.col(pl.Float64))
        assert not floats.select(pl.any_horizontal(pl.all().is_nan().any())).item()
        assert np.isfinite(floats.fill_null(0.0).to_numpy()).all()
    daily = result.attribution().daily
    scale = max(result.init_nav, float(np.max(nav, initial=0.0)))
    np.testing.assert_allclose(daily["pnl"], daily["nav_change"], rtol=0, atol=1e-9 * scale)


#: Panels that mostly backtest: some gaps and bad cells, few extreme values, no broken keys.
tradable_panels = st.builds(
    messy_panel,
    seed=st.integers(0, 2**32 - 1),
    n_symbols=st.integers(2, 6),
    n_days=st.integers(5, 30),
    p_gap=st.sampled_from([0.0, 0.1]),
    p_bad=st.sampled_from([0.0, 0.02]),
    n_dups=st.just(0),
    p_null_key=st.just(0.0),
    p_extreme=st.sampled_from([0.0, 0.0, 0.01]),
)


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
@given(
    panel=tradable_panels,
    move=st.sampled_from([-0.6, -0.95, 1.5, 9.0]),
    drift=st.booleans(),
    impact=st.booleans(),
)
def test_levered_books_and_crashes_keep_the_invariants(panel, move, drift, impact):
    """Leveraged books through crashes and squeezes: a LazyflowError or the invariants, and
    the same bits in any row order."""
    frame = lf.presets.carry()(crashed(panel, 7, move).lazy()).collect()
    costs = lf.costs.SquareRootImpact(coef=0.5) if impact else None
    options = {"drift": drift, "costs": costs, "init_nav": 1e6 if impact else 1.0}
    try:
        result = lf.backtest(frame, LEVERED, **options)
    except lf.LazyflowError as err:
        assert str(err)
        return
    assert_invariants(result)
    shuffled = lf.backtest(frame.sample(fraction=1.0, shuffle=True, seed=2), LEVERED, **options)
    assert shuffled.metrics.equals(result.metrics) and shuffled.book.equals(result.book)
