"""Pipeline.audit: per-stage usable values and per-date tradability, against plain-python counts
and against the backtest's `dropped`."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz import BAD_NUMBERS, messy_panel

import lazyflow as lf
from lazyflow.portfolio.checks import ROW_REASONS

ALLOC = lf.presets.seed_allocator()


def usable(value) -> bool:
    return value is not None and (not isinstance(value, float) or math.isfinite(value))


def positive(value) -> bool:
    return usable(value) and value > 0


def reference_reason(row: dict, tradable: str | None) -> str | None:
    """The first check a row fails, in the backtest's order; None when it may trade."""
    if tradable is not None and row[tradable] is not True:
        return "not_tradable_flag"
    if not usable(row["target_position"]):
        return "bad_target"
    for reason, column in [
        ("bad_vol", "vol_fcst"),
        ("bad_spread", "spread"),
        ("bad_price", "close"),
    ]:
        if not positive(row[column]):
            return reason
    return None


def reference_dates(frame: pl.DataFrame, tradable: str | None) -> dict:
    """Per date: rows, tradable rows and a count per reason, by a loop over the rows."""
    out: dict = {}
    for row in frame.iter_rows(named=True):
        counts = out.setdefault(row["date"], dict.fromkeys(("rows", "tradable", *ROW_REASONS), 0))
        counts["rows"] += 1
        reason = reference_reason(row, tradable)
        counts["tradable" if reason is None else reason] += 1
    return out


def clean_messy(seed: int, p_bad: float) -> pl.DataFrame:
    """A messy panel with clean keys (no repeated or null date/symbol) and no extreme values."""
    return messy_panel(seed, 5, 40, 0.1, p_bad, 0, 0.0, BAD_NUMBERS[:6])


MESSY = clean_messy(7, 0.05)


@pytest.mark.parametrize("tradable", ["is_universe", None])
@pytest.mark.parametrize("preset", ["carry", "seed_carry"])
def test_audit_and_backtest_count_the_same_untradable_rows(preset, tradable):
    pipeline = getattr(lf.presets, preset)()
    audit = pipeline.audit(MESSY, tradable=tradable)
    result = lf.backtest(pipeline(MESSY.lazy()), ALLOC, tradable=tradable)
    assert audit.dropped == {r: result.dropped[r] for r in ROW_REASONS}
    assert sum(audit.dropped.values()) > 0  # the panel is messy enough to drop rows
    # every book row is a tradable row of a rebalance date (all dates but the last)
    trading = audit.dates.filter(pl.col("date") < audit.dates["date"].max())
    assert result.book.filter(~pl.col("exit")).height == trading["tradable"].sum()


@given(seed=st.integers(0, 2**32 - 1), p_bad=st.sampled_from([0.0, 0.05, 0.3]))
def test_per_date_table_matches_a_loop_over_the_rows(seed, p_bad):
    panel = clean_messy(seed, p_bad)
    pipeline = lf.presets.carry()
    frame = pipeline(panel.lazy()).collect()
    for tradable in ("is_universe", None):
        dates = pipeline.audit(panel, tradable=tradable).dates
        expected = reference_dates(frame, tradable)
        assert dates["date"].to_list() == sorted(expected)
        for row in dates.iter_rows(named=True):
            assert {k: v for k, v in row.items() if k != "date"} == expected[row["date"]]


def test_stage_table_counts_rows_and_usable_values():
    pipeline = lf.presets.carry()
    audit = pipeline.audit(MESSY)
    table = audit.stages
    assert table.columns == ["step", "stage", "column", "rows", "usable", "missing"]
    names = ["input", *(type(s).__name__ for s in pipeline.stages)]
    assert table["stage"].unique(maintain_order=True).to_list() == names
    # the input: one row per panel column, counted by hand
    for row in table.filter(pl.col("step") == 0).iter_rows(named=True):
        values = MESSY[row["column"]].to_list()
        assert row["rows"] == len(values)
        assert row["usable"] == sum(usable(v) for v in values)
        assert row["missing"] == row["rows"] - row["usable"]
    # DropNulls adds no column and leaves the rows without a null
    drop = table.filter(pl.col("stage") == "DropNulls").row(0, named=True)
    assert drop["column"] is None and drop["usable"] is None
    assert drop["rows"] == sum(all(v is not None for v in r) for r in MESSY.iter_rows())
    # every later stage: its added columns, counted on the output
    frame = pipeline(MESSY.lazy()).collect()
    later = table.filter(pl.col("step") > 1)
    assert set(later["column"]) == set(frame.columns) - set(MESSY.columns)
    for row in later.iter_rows(named=True):
        assert row["rows"] == frame.height
        assert row["usable"] == sum(usable(v) for v in frame[row["column"]].to_list())


def test_a_plain_callable_that_removes_rows_shows_them_gone():
    first = MESSY["date"].min()
    pipeline = lf.Pipeline(lf.presets.carry().stages[1:]) >> (
        lambda f: f.filter(pl.col("date") > first)
    )
    table = pipeline.audit(MESSY).stages
    last = table.filter(pl.col("stage") == "<lambda>").row(0, named=True)
    assert last["rows"] == MESSY.filter(pl.col("date") > first).height
    assert last["column"] is None


def test_dates_rows_add_up():
    dates = lf.presets.carry().audit(MESSY).dates
    assert (dates["tradable"] + sum(dates[r] for r in ROW_REASONS)).equals(
        dates["rows"], check_names=False
    )


def test_custom_column_names_follow_the_backtest():
    renamed = {"target_position": "tgt", "vol_fcst": "v", "spread": "sp", "close": "px"}
    pipeline = lf.presets.carry() >> (lambda f: f.rename(renamed))
    columns = {"target_col": "tgt", "vol_col": "v", "spread_col": "sp", "price_col": "px"}
    audit = pipeline.audit(MESSY, **columns)
    assert audit.dropped == lf.presets.carry().audit(MESSY).dropped
    result = lf.backtest(pipeline(MESSY.lazy()), ALLOC, include_funding=False, **columns)
    assert audit.dropped == {r: result.dropped[r] for r in ROW_REASONS}


def test_a_mistyped_flag_is_a_schema_error():
    pipeline = lf.presets.carry() >> (lambda f: f.with_columns(pl.col("is_universe").cast(int)))
    with pytest.raises(lf.SchemaError, match=r"Pipeline.audit: column 'is_universe' has dtype"):
        pipeline.audit(MESSY)
