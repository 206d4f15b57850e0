"""lazyflow.testing under review: correct stages it must pass, broken ones it must catch."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lazyflow as lf
from lazyflow.schema import Kind
from lazyflow.testing import check_causal, check_schema, check_stage
from tests.test_testing import TINY as TESTING_PANEL

#: test_testing's hand panel, keys and closes only.
TINY = TESTING_PANEL.select("date", "symbol", "close")


def twice(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(twice=2 * pl.col("close"))


@pytest.mark.parametrize("key", ["date", "symbol"])
def test_a_row_with_a_null_key_is_the_same_row_in_every_output(key):
    """A null date or symbol matches itself: a correct stage passes every check."""
    panel = TINY.with_columns(pl.when(pl.col("close") == 5.0).then(None).otherwise(key).alias(key))
    check_stage(twice, panel)


def test_a_column_named_like_the_comparisons_own_is_compared():
    """Columns 'x' and 'x (actual)' side by side are compared, not a DuplicateError."""
    panel = TINY.with_columns(pl.col("close").alias("close (actual)"))
    check_stage(lambda f: f.with_columns(x=pl.col("close"), **{"x (actual)": 1.0}), panel)
    with pytest.raises(AssertionError, match="input column 'close \\(actual\\)' changes"):
        check_stage(lambda f: f.with_columns(**{"close (actual)": 0.0}), panel)


@dataclass(frozen=True)
class PerDateMax(lf.Stage):
    """Broken: the per-date max close, built date by date; on no rows an all-null column
    of dtype Null, not the declared Float64."""

    def inputs(self) -> dict[str, Kind]:
        return {"date": Kind.DATE, "close": Kind.NUMERIC}

    def outputs(self) -> dict[str, pl.DataType]:
        return {"top": pl.Float64()}

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        df = frame.collect()
        parts = [g.with_columns(top=pl.col("close").max()) for _, g in df.group_by("date")]
        return (pl.concat(parts) if parts else df.with_columns(top=None)).lazy()


def test_check_schema_also_runs_the_stage_on_a_panel_without_rows():
    with pytest.raises(
        AssertionError,
        match=r"check_stage \(check_schema\): PerDateMax\(\): column 'top' is Float64 in the "
        "declared schema but Null in the output on the panel with no rows",
    ):
        check_stage(PerDateMax(), TINY, preserves_rows=False)


@given(st.data())
def test_a_strategy_column_can_be_given_its_dtype(data):
    """An extra column drawn by a strategy of optional values keeps its dtype when every
    drawn value is null (inferred, it would be Null and a correct Factor would fail)."""
    extra = {"w": (pl.Float64, st.none())}
    panel = data.draw(lf.testing.panels(n_symbols=1, n_dates=1, extra=extra))
    assert panel.schema["w"] == pl.Float64
    check_schema(lf.Factor("f", lf.ts.mean("w", 2)), panel)
    with pytest.raises(lf.ConfigError, match="must be a \\(dtype, strategy\\) pair"):
        lf.testing.panels(extra={"w": (pl.Float64, 0.5)})


def test_a_last_bit_difference_names_the_division_by_a_constant():
    """``close / 3.0`` is 17 / 3 on the two-row cut but 17 * (1 / 3) on the full panel (Polars
    divides by a constant as a multiplication by the reciprocal except on the smallest
    frames), so check_causal fails it: its bits depend on the frame. The message says so and
    names the fix, and the same stage dividing by a column passes."""
    panel = TINY.with_columns(close=pl.Series([17.0, None, 17.0, 3.0, 4.0]))
    with pytest.raises(AssertionError, match=r"differ in the last bit only, as a division by a "
                       r"constant does in Polars .* lazyflow.exprs.divide\(x, 3.0\)"):
        check_causal(lambda f: f.with_columns(third=pl.col("close") / 3.0), panel)
    check_causal(lambda f: f.with_columns(third=lf.exprs.divide(pl.col("close"), 3.0)), panel)


class FittedOnFirstCall:
    """A stage that fits the mean close on the first frame it sees and reuses it: on the
    full panel first, that mean reads every date, a look-ahead on every cut."""

    def __init__(self) -> None:
        self.mean: float | None = None

    def __call__(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        if self.mean is None:
            self.mean = frame.select(pl.col("close").mean()).collect().item()
        return frame.with_columns(above=pl.col("close") > self.mean)


def test_a_stage_fitted_on_the_first_panel_it_sees_is_not_causal():
    """Each run gets a fresh copy of the stage, so the full panel's fit never reaches the cut
    panel's run; with one object for every run the boolean output never differed."""
    panel = TINY.with_columns(close=pl.Series([1.0, 2.0, 3.0, 10.0, 20.0]))
    with pytest.raises(AssertionError, match=r"check_causal: .*column 'above'"):
        check_causal(FittedOnFirstCall(), panel)
