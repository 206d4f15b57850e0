"""Issue 14 in the stages, the pipeline and the audit.

- class 4: an extreme finite value (1e308...) in a window's input counts as missing, so every
  rolling, EWMA and per-date window is finite or null and recovers once the value has left it;
- class 9: huge integers and a stage class instead of an instance are `ConfigError`s naming
  the parameter (the generic cases for every parameter are in test_stage_params.py);
- class 10: temporary column names never clash with a user's column;
- the modules of lazyflow import one another without a cycle.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import lazyflow as lf
from lazyflow.exprs import MAX_WINDOW_VALUE
from lazyflow.schema import unused_name

PANEL = lf.synthetic_panel(n_symbols=12, n_days=80, seed=5)
WITH_RETURNS = lf.LogReturns()(PANEL.lazy()).collect()
#: Symbols by listing date: the first two (BTC, ETH) have every date.
SYMBOLS = PANEL.group_by("symbol").agg(pl.col("date").min()).sort("date", "symbol")["symbol"]


def poke(frame: pl.DataFrame, column: str, cells: dict[tuple[int, int], float | None]):
    """`frame` with `column` set to each value of `cells`, keyed (symbol index in `SYMBOLS`,
    row of that symbol in date order); every cell must exist."""
    row = pl.int_range(pl.len()).over("symbol", order_by="date")
    value, hit = pl.col(column), pl.lit(False)
    for (s, r), v in cells.items():
        at = (pl.col("symbol") == SYMBOLS[s]) & (row == r)
        value, hit = pl.when(at).then(pl.lit(v, dtype=pl.Float64)).otherwise(value), hit | at
    assert frame.select(hit.sum()).item() == len(cells)
    return frame.with_columns(value.alias(column))


def assert_finite_or_null(frame: pl.DataFrame) -> None:
    for column, dtype in frame.schema.items():
        if dtype.is_float():
            bad = frame.filter(~pl.col(column).is_finite()).height
            assert bad == 0, f"{column}: {bad} NaN or infinite values"


# stage, the frame it reads, the column poked, the cells: (symbol, day) -> extreme finite value
WINDOW_CASES = [
    # the example: two 1e308 dollar volumes overflow the rolling sum
    (lf.VolumeUniverse(window=10), PANEL, "dollar_volume", {(4, 20): 1e308, (4, 21): 1e308}),
    # close * volume overflows the product, then the sum
    (
        lf.VolumeUniverse(window=10, dollar_volume_col=None),
        PANEL,
        "volume",
        {(0, 30): 1e306, (0, 31): 1e300},
    ),
    # no overflow, but a value 1e30 times the others swamps the running sum's precision
    (lf.VolumeUniverse(window=5), PANEL, "dollar_volume", {(6, 10): 1e40, (6, 30): 3e20}),
    (lf.EwmaVol(short_span=5, long_span=20), WITH_RETURNS, "log_returns", {(1, 9): 1e308}),
    # the square overflows, or the EWMA's weighted sum would
    (
        lf.EwmaVol(short_span=5, long_span=20, annualise=True),
        WITH_RETURNS,
        "log_returns",
        {(4, 40): -1e200, (4, 41): 1e154, (7, 30): 1e300},
    ),
    # the date's sum overflows
    (lf.FundingCarry(), PANEL, "funding_rate", {(0, 7): 1e308, (1, 7): 1e308}),
    # sums of squares overflow; annualising overflows
    (
        lf.FundingCarry(annualize=True),
        PANEL,
        "funding_rate",
        {(0, 12): -1e300, (1, 12): 1e200, (4, 13): 1e307},
    ),
    (lf.FundingCarry(winsor=0.0), PANEL, "funding_rate", {(0, 3): 1e160, (1, 3): -1e160}),
]


@pytest.mark.parametrize(
    ("stage", "frame", "column", "cells"),
    WINDOW_CASES,
    ids=[f"{s.name}-{c}-{i}" for i, (s, _, c, _) in enumerate(WINDOW_CASES)],
)
def test_extreme_values_in_a_window_count_as_missing(stage, frame, column, cells):
    """Finite or null everywhere, and bit for bit the output with those cells null: the window
    recovers as soon as the value has left it (an EWMA: it never entered)."""
    out = stage(poke(frame, column, cells).lazy()).collect()
    assert_finite_or_null(out)
    nulled = stage(poke(frame, column, dict.fromkeys(cells)).lazy()).collect()
    added = list(stage.outputs())
    assert_frame_equal(out.select(added), nulled.select(added), check_exact=True)


def reference_trail(values: list[float | None], window: int) -> list[float | None]:
    """Mean of the usable values (finite, >= 0, <= 2**53) among the last `window`, exact sums."""
    ok = [v if v is not None and 0 <= v <= MAX_WINDOW_VALUE else None for v in values]
    out = []
    for t in range(len(ok)):
        usable = [v for v in ok[max(0, t - window + 1) : t + 1] if v is not None]
        out.append(math.fsum(usable) / len(usable) if usable else None)
    return out


def test_illiquid_coin_with_two_1e308_prints_leaves_the_universe():
    """The issue's example against a plain-python rolling mean: the least liquid coin is never
    in the top deciles, and its trail volume recovers after the prints."""
    window = 10
    means = PANEL.group_by("symbol").agg(pl.col("dollar_volume").mean(), pl.len())
    illiquid = means.filter(pl.col("len") > 60).sort("dollar_volume")["symbol"][0]
    s = SYMBOLS.to_list().index(illiquid)
    panel = poke(PANEL, "dollar_volume", {(s, 20): 1e308, (s, 22): 1e308, (s, 60): 1e20})
    out = lf.VolumeUniverse(window=window, min_decile=9)(panel.lazy()).collect().sort("date")
    mine = out.filter(pl.col("symbol") == illiquid)
    expected = reference_trail(mine["dollar_volume"].to_list(), window)
    np.testing.assert_allclose(mine["trail_volume"].to_numpy(), expected, rtol=1e-12)
    assert not mine["is_universe"].any()
    assert out["trail_volume"].is_finite().all()


def test_range_spread_of_huge_prices_does_not_overflow_the_mid():
    frame = pl.LazyFrame({"high": [1.5e308, 3.0, 1e308], "low": [1e308, 1.0, 1e308]})
    spread = lf.RangeSpread()(frame).collect()["spread"].to_list()
    assert spread == [0.5 * 0.5e308 / 1.25e308, 0.5, 0.0]


# --- class 9: parameters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "parameter"),
    [
        (lf.VolumeUniverse(window=2**64), "window"),
        (lf.SigmoidTarget(k=10**400), "k"),
        (lf.Deciles(n_quantiles=3_000_000_000), "n_quantiles"),
        (lf.Deciles(n_quantiles=3e9), "n_quantiles"),
        (lf.EwmaVol(long_span=-(10**400)), "long_span"),
        (lf.FundingCarry(annualize=True, periods_per_year=2**64), "periods_per_year"),
        (lf.SigmoidTarget(keep_deciles=(1, 2**63)), "keep_deciles"),
        (lf.ForwardReturns(horizons=(2**63,)), "horizons"),
        (lf.SigmoidTarget(y_min=-1e308, y_max=1e308), "y_max"),
        (lf.SigmoidTarget(lo=0.0, hi=5e-324), "hi"),
        (lf.SigmoidTarget(lo=-1e308, hi=1e308), "hi"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_huge_parameters_are_config_errors_naming_the_parameter(stage, parameter):
    with pytest.raises(lf.ConfigError, match=rf"^{stage.name}: parameter '{parameter}'"):
        stage(lf.presets.carry()(PANEL.lazy()))


@pytest.mark.parametrize(
    "build",
    [
        lambda: lf.Pipeline([lf.Deciles]),
        lambda: lf.Deciles >> lf.EwmaVol(),
        lambda: lf.presets.carry() >> lf.RangeSpread,
        lambda: lf.LogReturns() >> lf.VolumeUniverse,
        lambda: lf.Pipeline([lf.LogReturns(), lf.Pipeline]),
        lambda: lf.Deciles >> lf.EwmaVol,
        lambda: (lambda f: f) >> lf.Deciles,
    ],
)
def test_a_stage_class_instead_of_an_instance_is_a_config_error(build):
    with pytest.raises(lf.ConfigError, match=r"got the class \w+, expected a stage instance"):
        build()


@pytest.mark.parametrize("stages", [None, lf.Deciles(), lf.presets.carry(), 3])
def test_pipeline_of_something_other_than_a_list_is_a_config_error(stages):
    with pytest.raises(lf.ConfigError, match=r"^Pipeline: expected a list of stages, got"):
        lf.Pipeline(stages)


# --- class 10: internal names ---------------------------------------------------------------


def test_unused_name_avoids_every_taken_name():
    assert unused_name([], "__rows") == "__rows"
    assert unused_name(["__rows", "__rows_1", "x"], "__rows") == "__rows_2"
    assert unused_name(iter(["n"]), "n") == "n_1"


@pytest.mark.parametrize("names", [("__rows",), ("__rows", "__rows_1", "n"), ("n", "n_1")])
def test_audit_accepts_columns_named_like_its_temporaries(names):
    pipeline = lf.presets.carry()
    plain = pipeline.audit(PANEL)
    extra = PANEL.with_columns(pl.lit(1.5).alias(name) for name in names)
    audit = pipeline.audit(extra)
    assert_frame_equal(audit.dates, plain.dates)
    assert_frame_equal(
        audit.stages.filter(~pl.col("column").is_in(names).fill_null(False)),
        plain.stages,
        check_exact=True,
    )
    assert audit.stages.filter(pl.col("column").is_in(names))["usable"].to_list() == [
        PANEL.height
    ] * len(names)


@pytest.mark.parametrize(("date_col", "symbol_col"), [("__rows", "n"), ("n", "__rows_1")])
def test_audit_counts_repeated_keys_named_like_its_temporaries(date_col, symbol_col):
    frame = lf.presets.carry()(PANEL.lazy()).collect()
    frame = frame.rename({"date": date_col, "symbol": symbol_col})
    repeated = pl.concat([frame, frame.head(2)])
    with pytest.raises(lf.DataError, match=r"2 duplicate"):
        lf.Pipeline([lambda f: f]).audit(repeated, date_col=date_col, symbol_col=symbol_col)


def test_audit_date_column_named_like_a_dates_column_is_a_schema_error():
    frame = lf.presets.carry()(PANEL.lazy()).collect().rename({"date": "rows"})
    with pytest.raises(lf.SchemaError, match="'rows' is also the name of a column"):
        lf.Pipeline([lambda f: f]).audit(frame, date_col="rows")


# --- the house rule: no import cycle --------------------------------------------------------


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the lazyflow modules it imports anywhere (top level, in a function, or under
    TYPE_CHECKING)."""
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[module] = targets & modules.keys()
    return graph


def test_lazyflow_has_no_import_cycle():
    graph = import_graph(Path(lf.__file__).parent)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            module = todo.pop()
            for nxt in graph[module] - seen:
                if nxt == goal:
                    return True
                seen.add(nxt)
                todo.append(nxt)
        return False

    assert graph["lazyflow.stages.base"] >= {"lazyflow.pipeline"}  # the graph is read
    cycles = sorted(m for m in graph if reaches(m, m))
    assert cycles == []
