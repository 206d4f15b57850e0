"""lazyflow.testing: every check passes a correct stage and catches a stage broken in its way.

Each broken stage is caught twice: on a tiny hand-made panel, where the message must name
the exact offending (date, symbol) and the two values, and by `hypothesis.find` on
`panels()` within the ci profile's example budget (so a check that cannot fail fails here).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from hypothesis import Phase, find, given, settings

import lazyflow as lf
from lazyflow.schema import Kind
from lazyflow.testing import (
    check_causal,
    check_mask,
    check_preserves_rows,
    check_row_order,
    check_schema,
    check_stage,
)

PANELS = lf.testing.panels(extra={"live": pl.Boolean})
#: The ci profile's budget, whatever profile the suite runs under; no shrinking (slow, and
#: the first failing panel is all a budget test needs).
CI = settings(settings.get_profile("ci"), database=None, phases=[Phase.explicit, Phase.generate])


def day(n: int) -> dt.date:
    return dt.date(2021, 1, n)


#: Two symbols over three dates; B is delisted after the second.
TINY = pl.DataFrame(
    {
        "date": [day(1), day(1), day(2), day(2), day(3)],
        "symbol": ["A", "B", "A", "B", "A"],
        "close": [1.0, 2.0, 3.0, 4.0, 5.0],
        "volume": [1.0, 2.0, 3.0, 4.0, 5.0],
        "live": [False, True, True, False, True],
    }
)

MESSAGE = re.compile(
    r"column '(?P<column>\w+)' at \(date=(?P<date>[\d-]+), symbol='(?P<symbol>\w+)'\) "
    r"is (?P<expected>\S+) .* but (?P<actual>\S+) "
)


def counterexample(check, stage, strategy=PANELS) -> pl.DataFrame:
    """The first panel on which `check` fails, found within the ci budget."""

    def fails(panel: pl.DataFrame) -> bool:
        try:
            check(stage, panel)
        except AssertionError:
            return True
        return False

    return find(strategy, fails, settings=CI)


def failure(check, stage, panel) -> re.Match:
    """The parsed message of `check` failing on `panel`; its (date, symbol) is in the panel."""
    with pytest.raises(AssertionError) as info:
        check(stage, panel)
    message = str(info.value)
    assert message.startswith(f"{check.__name__}: ")
    found = MESSAGE.search(message)
    assert found, message
    key = (dt.date.fromisoformat(found["date"]), found["symbol"])
    assert key in set(panel.select("date", "symbol").iter_rows()), message
    return found


# -- look-ahead ----------------------------------------------------------------------------


def next_close(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Broken: the symbol's next close (looks ahead)."""
    return frame.with_columns(nxt=pl.col("close").shift(-1).over("symbol", order_by="date"))


def previous_close(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(prv=pl.col("close").shift(1).over("symbol", order_by="date"))


def test_check_causal_names_the_first_row_that_looks_ahead():
    check_causal(previous_close, TINY)
    with pytest.raises(AssertionError) as info:
        check_causal(next_close, TINY)
    assert str(info.value) == (
        "check_causal: next_close: column 'nxt' at (date=2021-01-01, symbol='A') is 3.0 on the "
        "full panel but null on the panel cut after 2021-01-01 (2 row(s) differ)"
    )
    # one cut date, or several
    with pytest.raises(AssertionError, match="cut after 2021-01-02"):
        check_causal(next_close, TINY, cut=day(2))
    check_causal(next_close, TINY, cut=[day(3)])


@given(PANELS)
def test_check_causal_passes_causal_stages(panel):
    check_causal(previous_close, panel)


def test_check_causal_catches_look_ahead_within_the_ci_budget():
    found = failure(check_causal, next_close, counterexample(check_causal, next_close))
    assert found["column"] == "nxt" and found["actual"] == "null"


def test_labels_may_look_ahead_but_an_unmarked_stage_may_not():
    """`ForwardReturns` (is_label) is exempt; the same formula in a plain callable is not."""

    def forward_return(frame: pl.LazyFrame) -> pl.LazyFrame:
        ahead = pl.col("close").shift(-1).over("symbol", order_by="date")
        return frame.with_columns(fwd_ret_1=ahead / pl.col("close") - 1.0)

    labels = lf.ForwardReturns(horizons=(1,))
    check_causal(labels, TINY)
    check_causal(lf.LogReturns() >> labels, TINY)
    with pytest.raises(AssertionError, match="column 'fwd_ret_1' at \\(date=2021-01-01"):
        check_causal(forward_return, TINY)


# -- row order -----------------------------------------------------------------------------


def running_volume_unordered(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Broken: a running sum in whatever order the rows come."""
    return frame.with_columns(cum=pl.col("volume").cum_sum().over("symbol"))


def running_volume(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(cum=pl.col("volume").cum_sum().over("symbol", order_by="date"))


def test_check_row_order_names_a_row_whose_value_moved():
    check_row_order(running_volume, TINY)
    found = failure(check_row_order, running_volume_unordered, TINY)
    assert found["column"] == "cum"
    # the value "as given" (TINY is sorted) is the right running sum; the other is not
    right = running_volume(TINY.lazy()).collect()
    key = (pl.col("date") == dt.date.fromisoformat(found["date"])) & (
        pl.col("symbol") == found["symbol"]
    )
    value = right.filter(key)["cum"].item()
    assert float(found["expected"]) == value != float(found["actual"])
    # the reversed order is tried too, so a shuffle that happens to keep the order is no escape
    with pytest.raises(AssertionError, match=r"with the rows (shuffled|reversed)"):
        check_row_order(running_volume_unordered, TINY.filter(pl.col("symbol") == "A").head(2))


@given(PANELS)
def test_check_row_order_passes_ordered_stages(panel):
    check_row_order(running_volume, panel)


def test_check_row_order_catches_order_dependence_within_the_ci_budget():
    panel = counterexample(check_row_order, running_volume_unordered)
    assert failure(check_row_order, running_volume_unordered, panel)["column"] == "cum"


# -- rows preserved ------------------------------------------------------------------------


def liquid_only(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Broken: keeps the liquid rows only."""
    return frame.filter(pl.col("volume") > 2)


def liquid_flag(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(liquid=pl.col("volume") > 2)


def test_check_preserves_rows_names_the_first_dropped_row():
    check_preserves_rows(liquid_flag, TINY)
    with pytest.raises(AssertionError) as info:
        check_preserves_rows(liquid_only, TINY)
    assert str(info.value) == (
        "check_preserves_rows: liquid_only: row (date=2021-01-01, symbol='A') appears 1 time(s) "
        "in the panel but 0 in the output (5 rows in, 3 out; 2 keys differ)"
    )


def test_check_preserves_rows_sees_moved_duplicated_and_changed_rows():
    cases = {
        "rows are reordered: row 0 is (date=2021-01-01, symbol='A') in the panel but "
        "(date=2021-01-03, symbol='A') in the output": lambda f: f.reverse(),
        "row (date=2021-01-01, symbol='A') appears 1 time(s) in the panel but 2": lambda f: (
            pl.concat([f, f.head(1)])
        ),
        "input column 'close' changes at (date=2021-01-02, symbol='B'): 4.0 in the panel but "
        "-4.0 in the output": lambda f: f.with_columns(
            close=pl.when(pl.col("volume") == 4).then(-pl.col("close")).otherwise("close")
        ),
        "input column 'volume' is Float64 in the panel but Int64": lambda f: f.with_columns(
            pl.col("volume").cast(pl.Int64)
        ),
        "input column 'live' (Boolean) is missing": lambda f: f.drop("live"),
    }
    for message, stage in cases.items():
        with pytest.raises(AssertionError, match=re.escape(message)):
            check_preserves_rows(stage, TINY)


@given(PANELS)
def test_check_preserves_rows_passes_column_adding_stages(panel):
    check_preserves_rows(liquid_flag, panel)


def test_check_preserves_rows_catches_dropped_rows_within_the_ci_budget():
    panel = counterexample(check_preserves_rows, liquid_only)
    with pytest.raises(AssertionError, match=r"appears 1 time\(s\) in the panel but 0"):
        check_preserves_rows(liquid_only, panel)


# -- schema --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeRank(lf.Stage):
    """The dense rank of volume per date (UInt32, 1 = lowest)."""

    output_col: str = "volume_rank"

    def inputs(self) -> dict[str, Kind]:
        return {"date": Kind.DATE, "volume": Kind.NUMERIC}

    def outputs(self) -> dict[str, pl.DataType]:
        return {self.output_col: pl.UInt32()}

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        rank = pl.col("volume").rank("dense").over("date")
        return frame.with_columns(rank.alias(self.output_col))


class VolumeRankDeclaredFloat(VolumeRank):
    """Broken: declares a Float64 rank but produces UInt32."""

    def outputs(self) -> dict[str, pl.DataType]:
        return {self.output_col: pl.Float64()}


def test_check_schema_names_the_column_and_both_dtypes():
    check_schema(VolumeRank(), TINY)
    check_schema(VolumeRank() >> liquid_flag, TINY)
    check_schema(liquid_flag, TINY)  # a plain callable declares what Polars infers
    message = (
        "check_schema: VolumeRankDeclaredFloat(output_col='volume_rank'): column 'volume_rank' "
        "is Float64 in the declared schema but UInt32 in the output, e.g. 1 at "
        "(date=2021-01-01, symbol='A')"
    )
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_schema(VolumeRankDeclaredFloat(), TINY)
    with pytest.raises(
        AssertionError, match="column 'volume_rank' is Float64 in the declared schema"
    ):
        check_schema(liquid_flag >> VolumeRankDeclaredFloat(), TINY)


@given(PANELS)
def test_check_schema_passes_a_stage_that_declares_its_dtypes(panel):
    check_schema(VolumeRank(), panel)


def test_check_schema_catches_a_wrong_dtype_within_the_ci_budget():
    counterexample(check_schema, VolumeRankDeclaredFloat())


# -- mask ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskedVolumeRank(lf.Stage):
    """The average rank of volume per date among the rows where `mask` is true."""

    mask: str = "live"

    def inputs(self) -> dict[str, Kind]:
        return {"date": Kind.DATE, "volume": Kind.NUMERIC, self.mask: Kind.BOOL}

    def outputs(self) -> dict[str, pl.DataType]:
        return {"vr": pl.Float64()}

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        volume = pl.when(pl.col(self.mask)).then(pl.col("volume"))
        return frame.with_columns(vr=volume.rank().over("date"))


class RankIgnoresMask(MaskedVolumeRank):
    """Broken: ranks the whole cross-section, then blanks the rows outside the mask."""

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        rank = pl.col("volume").rank().over("date")
        return frame.with_columns(vr=pl.when(pl.col(self.mask)).then(rank))


class RankFillsOutsideMask(MaskedVolumeRank):
    """Broken: gives the rows outside the mask a rank of 0."""

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        return super().transform(frame).with_columns(pl.col("vr").fill_null(0.0))


def test_check_mask_names_the_first_row_that_sees_outside_the_mask():
    check_mask(MaskedVolumeRank(), TINY, "live")
    with pytest.raises(AssertionError) as info:
        check_mask(RankIgnoresMask(), TINY, "live")
    assert str(info.value) == (
        "check_mask: RankIgnoresMask(mask='live'): column 'vr' at (date=2021-01-01, "
        "symbol='B') is 1.0 on the rows inside the mask alone but 2.0 on the whole panel "
        "(1 row(s) differ)"
    )
    with pytest.raises(AssertionError) as info:
        check_mask(RankFillsOutsideMask(), TINY, "live")
    assert str(info.value) == (
        "check_mask: RankFillsOutsideMask(mask='live'): column 'vr' at (date=2021-01-01, "
        "symbol='A') is 0.0 outside the mask 'live' (live=False) but should be null "
        "(2 row(s) outside the mask have a value)"
    )


@given(PANELS)
def test_check_mask_passes_a_stage_that_respects_its_mask(panel):
    check_mask(MaskedVolumeRank(), panel, "live")


def test_check_mask_catches_an_ignored_mask_within_the_ci_budget():
    panel = counterexample(lambda s, p: check_mask(s, p, "live"), RankIgnoresMask())
    with pytest.raises(AssertionError, match="inside the mask alone but"):
        check_mask(RankIgnoresMask(), panel, "live")


# -- check_stage, bitwise equality, errors ---------------------------------------------------


@given(PANELS)
def test_check_stage_passes_a_correct_stage(panel):
    check_stage(
        MaskedVolumeRank() >> previous_close >> running_volume,
        panel,
        mask="live",
        mask_columns=["vr"],
    )


@pytest.mark.parametrize(
    ("stage", "kwargs", "fragment"),
    [
        (
            VolumeRankDeclaredFloat(),
            {},
            "is Float64 in the declared schema but UInt32 in the output",
        ),
        (liquid_only, {}, "in the panel but 0 in the output"),
        (running_volume_unordered, {}, "with the rows as given but"),
        (next_close, {}, "on the full panel but null on the panel cut after"),
        (RankIgnoresMask(), {"mask": "live"}, "inside the mask alone"),
    ],
)
def test_check_stage_runs_every_check(stage, kwargs, fragment):
    with pytest.raises(AssertionError, match=fragment):
        check_stage(stage, TINY, **kwargs)
    if stage is liquid_only:
        check_stage(stage, TINY, preserves_rows=False)


def test_equality_is_bitwise_except_that_nan_equals_nan():
    """NaN equals NaN whatever its sign bit; -0.0 is not 0.0; null is not NaN."""
    check_preserves_rows(lambda f: f, TINY.with_columns(x=pl.lit(float("nan"))))
    nan_signs = pl.Series([float("nan"), -float("nan")])
    assert not lf.testing.compare.differs(nan_signs, nan_signs.reverse()).any()
    zeros = pl.Series([0.0, -0.0])
    assert lf.testing.compare.differs(zeros, zeros.reverse()).all()
    assert lf.testing.compare.differs(pl.Series([None, 1.0]), pl.Series([float("nan"), 1.0]))[0]
    last_bit = pl.Series([0.1 + 0.2]), pl.Series([0.3])
    assert lf.testing.compare.differs(*last_bit)[0]

    def negative_zero_on_shuffle(frame: pl.LazyFrame) -> pl.LazyFrame:
        first = pl.int_range(pl.len()) == 0
        return frame.with_columns(z=pl.when(first).then(pl.lit(-0.0)).otherwise(pl.lit(0.0)))

    with pytest.raises(AssertionError, match=r"is -0.0 with the rows as given but 0.0"):
        check_row_order(negative_zero_on_shuffle, TINY)


def test_bad_panels_and_arguments_are_lazyflow_errors():
    with pytest.raises(lf.DataError, match="check_causal: the panel has 2 rows sharing"):
        check_causal(previous_close, pl.concat([TINY, TINY.head(1)]))
    with pytest.raises(lf.DataError, match="no key column 'symbol'"):
        check_row_order(previous_close, TINY.drop("symbol"))
    with pytest.raises(lf.DataError, match="mask 'close' must be a boolean panel column"):
        check_mask(MaskedVolumeRank(), TINY, "close")
    with pytest.raises(lf.ConfigError, match="parameter 'cut' must hold dates"):
        check_causal(previous_close, TINY, cut=["2021-01-01"])
    with pytest.raises(lf.ConfigError, match="is not a stage"):
        check_schema("LogReturns", TINY)
    with pytest.raises(lf.ConfigError, match="panels: parameter 'nans' must be a rate"):
        lf.testing.panels(nans=1.5)
    with pytest.raises(lf.ConfigError, match="panels: parameter 'n_dates' has min 3 > max 2"):
        lf.testing.panels(n_dates=(3, 2))
    with pytest.raises(lf.ConfigError, match="extra column 'when' must be a boolean"):
        lf.testing.panels(extra={"when": pl.Datetime})


def test_a_lazy_panel_and_custom_key_names():
    renamed = TINY.rename({"date": "day", "symbol": "coin"})

    def prev(frame):
        return frame.with_columns(prv=pl.col("close").shift(1).over("coin", order_by="day"))

    check_stage(prev, renamed.lazy(), date_col="day", symbol_col="coin")
    with pytest.raises(AssertionError, match="at \\(day=2021-01-01, coin='A'\\)"):
        check_causal(
            lambda f: f.with_columns(n=pl.col("close").shift(-1).over("coin", order_by="day")),
            renamed,
            date_col="day",
            symbol_col="coin",
        )


def test_lazyflow_and_the_checks_import_without_hypothesis():
    """hypothesis is the `testing` extra: blocked, `import lazyflow` and the checks still
    work, and `lf.testing.panels` says how to install it."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["hypothesis"] = None  # any import of hypothesis now fails
        import datetime as dt
        import polars as pl
        import lazyflow as lf
        panel = pl.DataFrame({"date": [dt.date(2021, 1, d) for d in (1, 2, 3)],
                              "symbol": ["A"] * 3, "close": [1.0, 2.0, 4.0]})
        lf.testing.check_stage(lf.LogReturns(), panel)
        try:
            lf.testing.panels
        except ImportError as exc:
            print(exc)
        """
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "lazyflow.testing.panels needs hypothesis: pip install 'lazyflow[testing]'" in (
        done.stdout
    )


def readme_recipes() -> list[str]:
    """The python blocks of the README's "Test your own stages" section."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Test your own stages\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_recipes_run(monkeypatch):
    """The Stage subclass example passes its checks; the Factor recipes run once the factor
    algebra (lf.Factor, lf.ts, lf.cs) is in lazyflow."""
    recipe, examples = readme_recipes()
    module = types.ModuleType("readme_recipes")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # for the dataclass
    exec(compile(recipe + examples, "README.md", "exec"), module.__dict__)
    module.test_reversal()
    if hasattr(lf, "Factor"):
        module.test_momentum()
        module.test_ranked_delta()


def test_a_column_named_like_the_checks_own_is_still_compared():
    """The comparisons stack cases under a column of their own: a stage's output column of
    the same name must not be overwritten (and so escape the comparison)."""
    from lazyflow.testing.checks import CASE

    def ahead(frame: pl.LazyFrame) -> pl.LazyFrame:
        return next_close(frame).rename({"nxt": CASE})

    def by_order(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.with_columns(pl.col("close").cum_sum().alias(CASE))

    assert failure(check_causal, ahead, TINY)["column"] == CASE
    assert failure(check_row_order, by_order, TINY)["column"] == CASE


def test_null_dates_are_not_a_cut():
    """A row without a date is never a cut date (a cut at null would compare nothing)."""
    panel = TINY.with_columns(date=pl.when(pl.col("close") == 5.0).then(None).otherwise("date"))
    check_causal(lambda frame: frame.with_columns(twice=2 * pl.col("close")), panel)
    assert failure(check_causal, next_close, panel)["date"] == "2021-01-01"


def test_wrong_argument_types_are_config_errors():
    """A bad seed or flag says so (not a TypeError or OverflowError from Polars), one column
    name may be given as a string, and a stage that returns no frame is named."""
    for seed in ("x", -1, 2**70, 1.5, True):
        with pytest.raises(lf.ConfigError, match="check_row_order: parameter 'seed'"):
            check_row_order(previous_close, TINY, seed=seed)
    with pytest.raises(lf.ConfigError, match="check_stage: parameter 'preserves_rows'"):
        check_stage(previous_close, TINY, preserves_rows="no")
    with pytest.raises(lf.ConfigError, match="check_mask: parameter 'columns'"):
        check_mask(previous_close, TINY, "live", columns=[5])

    def masked(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.with_columns(twice=pl.when("live").then(2 * pl.col("close")))

    check_mask(masked, TINY, "live", columns="twice")
    with pytest.raises(lf.ConfigError, match="returned NoneType, expected a LazyFrame"):
        check_schema(lambda frame: None, TINY)
