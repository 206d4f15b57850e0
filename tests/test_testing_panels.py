"""lazyflow.testing.panels: the drawn panels have the shape and the mess their keywords ask for."""

from __future__ import annotations

import math

import polars as pl
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

import lazyflow as lf
from lazyflow.testing import panels

CI = settings(settings.get_profile("ci"), database=None, phases=[Phase.explicit, Phase.generate])
NUMERIC = [c for c, t in lf.PANEL_COLUMNS.items() if t.is_numeric()]


def finite(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """The rows whose `columns` are all finite (no null, NaN or inf)."""
    return frame.filter(pl.all_horizontal(pl.col(c).is_finite() for c in columns))


@given(panels())
def test_default_panels_are_small_keyed_and_consistent(panel):
    assert panel.schema == pl.Schema(lf.PANEL_COLUMNS)
    assert 1 <= panel.height <= 6 * 12
    assert not panel.select("date", "symbol").is_duplicated().any()
    assert panel["date"].null_count() == panel["symbol"].null_count() == 0
    assert 1 <= panel["symbol"].n_unique() <= 6 and panel["date"].n_unique() <= 12
    ohlc = finite(panel, "open", "high", "low", "close")
    lo, hi = pl.min_horizontal("open", "close"), pl.max_horizontal("open", "close")
    assert ohlc.filter(
        (pl.col("low") > lo) | (pl.col("high") < hi) | (pl.col("low") <= 0)
    ).is_empty()
    money = finite(panel, "close", "volume", "dollar_volume")
    assert (money["dollar_volume"] == money["close"] * money["volume"]).all()


@given(st.data(), st.sampled_from(["nulls", "nans", "infs", None]))
def test_a_rate_of_one_spoils_every_numeric_cell_and_zero_none(data, kind):
    rates = {"nulls": 0.0, "nans": 0.0, "infs": 0.0}
    if kind is not None:
        rates[kind] = 1.0
    panel = data.draw(panels(**rates))
    spoiled = {
        "nulls": pl.col(NUMERIC).is_null(),
        "nans": pl.col(NUMERIC).is_nan(),
        "infs": pl.col(NUMERIC).is_infinite(),
        None: pl.col(NUMERIC).is_finite(),
    }[kind]
    assert panel.select(spoiled.all()).row(0) == (True,) * len(NUMERIC)


def test_rates_spoil_some_cells_but_not_all():
    def mixed(panel: pl.DataFrame) -> bool:
        close = panel["close"]
        return 0 < close.null_count() < panel.height and 0 < close.is_nan().sum() < panel.height

    find(panels(n_symbols=4, n_dates=8, nulls=0.2, nans=0.2, infs=0.0), mixed, settings=CI)
    find(panels(infs=0.3), lambda p: {-math.inf, math.inf} <= set(p["close"]), settings=CI)


@given(panels(n_symbols=3, n_dates=(2, 5), gaps=False, shuffle=False))
def test_without_gaps_every_symbol_is_on_every_consecutive_date(panel):
    dates = panel["date"].unique().sort()
    assert panel["symbol"].n_unique() == 3 and panel.height == 3 * dates.len()
    assert (dates.diff().dt.total_days().drop_nulls() == 1).all()
    assert panel.equals(panel.sort("date", "symbol"))


def test_gaps_give_calendar_gaps_listings_delistings_and_holes():
    def symbol_spans(panel):
        first, last = panel["date"].min(), panel["date"].max()
        spans = panel.group_by("symbol").agg(pl.col("date").min().alias("a"), pl.col("date").max())
        return spans, first, last

    def listed_late(panel):
        spans, first, _ = symbol_spans(panel)
        return (spans["a"] > first).any()

    def delisted_early(panel):
        spans, _, last = symbol_spans(panel)
        return (spans["date"] < last).any()

    def calendar_gap(panel):
        return (panel["date"].unique().sort().diff().dt.total_days().drop_nulls() > 1).any()

    def hole(panel):
        per = panel.group_by("symbol").agg(
            n=pl.len(), a=pl.col("date").min(), b=pl.col("date").max()
        )
        days = panel["date"].unique().sort().to_list()
        return any(
            days.index(b) - days.index(a) + 1 > n for a, b, n in per.select("a", "b", "n").rows()
        )

    for found in (listed_late, delisted_early, calendar_gap, hole):
        find(panels(n_symbols=(3, 5), n_dates=(6, 10)), found, settings=CI)
    find(panels(), lambda p: not p.equals(p.sort("date", "symbol")), settings=CI)


@given(panels(ties=False, extra={"score": pl.Float64}))
def test_without_ties_the_drawn_columns_hold_distinct_values(panel):
    for column in ("open", "close", "volume", "funding_rate", "score"):
        values = panel[column].drop_nulls().drop_nans()
        values = values.filter(values.is_finite())
        assert values.n_unique() == values.len(), column


def test_ties_are_common_by_default():
    def tied(panel):
        return panel.group_by("date").agg(t=pl.col("close").is_duplicated().any())["t"].any()

    find(panels(nulls=0, nans=0, infs=0), tied, settings=CI)


@given(
    panels(
        n_symbols=2,
        n_dates=3,
        extra={
            "live": pl.Boolean,
            "group": pl.Int32,
            "label": pl.String,
            "weight": pl.Float32(),
            "size": st.sampled_from([10, 20]),
        },
        nulls=0.3,
        nans=0.1,
    )
)
def test_extra_columns_follow_their_dtype_or_strategy(panel):
    assert panel.columns[-5:] == ["live", "group", "label", "weight", "size"]
    assert panel.schema["live"] == pl.Boolean and panel.schema["group"] == pl.Int32
    assert panel.schema["weight"] == pl.Float32
    assert set(panel["group"].drop_nulls()) <= {0, 1, 2, 3}
    assert set(panel["label"].drop_nulls()) <= {"g0", "g1", "g2", "g3"}
    assert set(panel["size"]) <= {10, 20}  # a strategy's values are drawn as they are
    assert panel["symbol"].n_unique() <= 2 and panel["date"].n_unique() <= 3
