"""Bad input, one case per kind of messy panel (issue 6); README "Messy data" lists the same.

Each test states the decided behaviour and checks it on the stages, the audit and the
backtest; references are computed here from the panel itself.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz import BAD_NUMBERS, messy_panel

import lazyflow as lf
from lazyflow.portfolio.checks import ROW_REASONS

PANEL = lf.synthetic_panel(n_symbols=6, n_days=60, seed=2)
BTC = "BTCUSDT"
ALLOC = lf.presets.seed_allocator()
#: The carry preset without its DropNulls, so bad rows stay in the frame.
NO_DROP = lf.Pipeline(lf.presets.carry().stages[1:])
SIGNALS = [c for c in NO_DROP(PANEL.lazy()).collect_schema() if c not in PANEL.columns]


def run(panel: pl.DataFrame | pl.LazyFrame, pipeline: lf.Pipeline = NO_DROP, **kwargs):
    """The pipeline's output (date, symbol order) and its backtest."""
    frame = pipeline(panel.lazy()).collect().sort("date", "symbol")
    return frame, lf.backtest(frame, ALLOC, **lf.presets.SEED_BACKTEST, **kwargs)


def at(panel: pl.DataFrame, name: str, day: int, **values) -> pl.DataFrame:
    """`panel` with `values` set on symbol `name`'s `day`-th row."""
    dates = panel.filter(pl.col("symbol") == name)["date"].sort()
    row = (pl.col("symbol") == name) & (pl.col("date") == dates[day])
    return panel.with_columns(
        pl.when(row).then(pl.lit(v, dtype=panel.schema[c])).otherwise(pl.col(c)).alias(c)
        for c, v in values.items()
    )


def assert_finite_metrics(result: lf.BacktestResult) -> None:
    for column in result.metrics.columns[1:]:
        assert np.isfinite(result.metrics[column].drop_nulls().to_numpy()).all(), column


def write_csv(path, frame: pl.DataFrame):
    frame.write_csv(path)
    return path


# -- missing columns, wrong dtypes ----------------------------------------------------------


def test_missing_column_is_a_schema_error_before_any_data_is_read(tmp_path):
    path = write_csv(tmp_path / "p.csv", PANEL.drop("funding_rate"))
    plan = lf.scan_panel(path)
    with pytest.raises(lf.SchemaError) as err:
        lf.presets.carry()(plan)
    assert (err.value.stage, err.value.column) == ("FundingCarry", "funding_rate")
    with pytest.raises(lf.SchemaError, match="scan_panel: column 'close' is missing"):
        lf.scan_panel(write_csv(tmp_path / "q.csv", PANEL.drop("close")))
    frame = NO_DROP(PANEL.lazy()).collect()
    with pytest.raises(lf.SchemaError, match="backtest: column 'spread' is missing"):
        lf.backtest(frame.drop("spread"), ALLOC)
    with pytest.raises(lf.SchemaError, match=r"Pipeline.audit: column 'is_universe' is missing"):
        lf.Pipeline([s for s in NO_DROP.stages if not isinstance(s, lf.VolumeUniverse)]).audit(
            PANEL
        )


def test_numbers_as_text_in_csv_are_parsed_and_missing_markers_are_null(tmp_path):
    # beyond the CSV reader's inference rows, so the text really is in the file's numbers
    texts = ["1.5", " 2 ", "N/A", "", "nan", "NULL", "-", "1e-3", "inf"]
    n = 200 + len(texts)
    frame = pl.DataFrame(
        {
            "date": [(dt.date(2024, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(n)],
            "symbol": "A",
            "close": ["1"] * 200 + texts,
        }
    )
    out = lf.scan_panel(write_csv(tmp_path / "x.csv", frame)).collect()
    assert out["close"].dtype == pl.Float64
    assert out["close"].to_list()[200:] == [1.5, 2.0, None, None, None, None, None, 1e-3, math.inf]


def test_text_that_is_not_a_number_is_a_data_error_naming_column_and_value(tmp_path):
    bad = PANEL.with_columns(pl.col("close").cast(pl.String)).with_columns(
        pl.when(pl.col("symbol") == BTC).then(pl.lit("12,5")).otherwise("close").alias("close")
    )
    plan = lf.scan_panel(write_csv(tmp_path / "x.csv", bad))  # lazy: nothing read yet
    with pytest.raises(lf.DataError, match=r"backtest: .*'close'.*12,5"):
        lf.backtest(lf.presets.carry()(plan), ALLOC)
    with pytest.raises(lf.DataError, match=r"Pipeline.audit: .*'close'.*12,5"):
        lf.presets.carry().audit(plan)


def test_numbers_as_text_outside_csv_are_schema_errors_that_say_how_to_cast(tmp_path):
    text = PANEL.with_columns(pl.col("close").cast(pl.String))
    text.write_parquet(tmp_path / "p.parquet")
    with pytest.raises(lf.SchemaError, match=r"close.*numbers stored as text"):
        lf.scan_panel(tmp_path / "p.parquet")
    with pytest.raises(lf.SchemaError, match=r"LogReturns: column 'close'.*cast\(pl.Float64\)"):
        NO_DROP(text.lazy())


def test_datetime_dates_become_dates_in_scan_panel_and_are_refused_by_stages(tmp_path):
    stamped = PANEL.with_columns(pl.col("date").cast(pl.Datetime("ms")) + pl.duration(hours=13))
    with pytest.raises(lf.SchemaError, match=r"LogReturns: column 'date'.*scan_panel.*dt.date"):
        NO_DROP(stamped.lazy())
    stamped.write_parquet(tmp_path / "p.parquet")
    frame, result = run(lf.scan_panel(tmp_path / "p.parquet"))
    expected, reference = run(PANEL)
    assert frame.equals(expected)
    assert result.metrics.equals(reference.metrics)


def test_integer_prices_give_the_same_signals_as_the_same_floats():
    rounded = PANEL.with_columns(pl.col("close", "high", "low", "volume").round() + 1)
    as_int = rounded.with_columns(pl.col("close", "high", "low", "volume").cast(pl.Int64))
    frame, result = run(as_int)
    expected, reference = run(rounded)
    assert frame.drop("close", "high", "low", "volume").equals(
        expected.drop("close", "high", "low", "volume")
    )
    assert result.metrics.equals(reference.metrics)


# -- dates as ISO strings -----------------------------------------------------------------


def test_iso_date_strings_with_and_without_time_give_the_panels_result(tmp_path):
    styles = ["{d}", "{d}T00:00:00", "{d} 23:59:59", "{d}T08:00:00.250Z"]
    texts = [styles[i % len(styles)].format(d=d) for i, d in enumerate(PANEL["date"])]
    path = write_csv(tmp_path / "p.csv", PANEL.with_columns(date=pl.Series(texts)))
    frame, result = run(lf.scan_panel(path))
    expected, reference = run(PANEL)
    assert frame.select(SIGNALS).equals(expected.select(SIGNALS))
    assert result.metrics.equals(reference.metrics)


def test_a_malformed_date_is_a_data_error_naming_the_value(tmp_path):
    texts = [d.isoformat() for d in PANEL["date"]]
    texts[7] = "2024-02-30"
    path = write_csv(tmp_path / "p.csv", PANEL.with_columns(date=pl.Series(texts)))
    with pytest.raises(lf.DataError, match=r"backtest: cannot compute .*'date'.*2024-02-30"):
        lf.backtest(lf.presets.carry()(lf.scan_panel(path)), ALLOC)


# -- duplicate (date, symbol) rows ----------------------------------------------------------


def duplicated(panel: pl.DataFrame) -> pl.DataFrame:
    """`panel` with BTC's rows 3 and 5 repeated after the rest, with other numbers."""
    btc = panel.filter(pl.col("symbol") == BTC).sort("date")
    again = btc[[3, 5]].with_columns(pl.col("close", "funding_rate") * 2)
    return pl.concat([panel, again])


def test_duplicates_are_errors_with_count_and_examples():
    messy = duplicated(PANEL)
    frame = NO_DROP(messy.lazy()).collect()
    day = PANEL.filter(pl.col("symbol") == BTC)["date"].sort()[3]
    with pytest.raises(lf.DataError, match=rf"backtest: 2 duplicate .*\({day}, {BTC}\).*dedupe"):
        lf.backtest(frame, ALLOC)
    with pytest.raises(lf.DataError, match=rf"2 duplicate .*\({day}, {BTC}\) x2.*dedupe='last'"):
        NO_DROP.audit(messy)


@pytest.mark.parametrize("keep", ["first", "last"])
def test_dedupe_keeps_the_first_or_last_row_of_each_pair_in_file_order(tmp_path, keep):
    messy = duplicated(PANEL)
    expected: dict[tuple, tuple] = {}
    for row in messy.iter_rows():
        key = row[:2]
        if keep == "last" or key not in expected:
            expected[key] = row
    path = write_csv(tmp_path / "p.csv", messy)
    out = lf.scan_panel(path, dedupe=keep).collect()
    assert {row[:2]: row for row in out.iter_rows()} == expected
    assert out.height == len(expected)
    result = run(out)[1]
    assert_finite_metrics(result)


def test_a_bad_dedupe_value_is_a_config_error(tmp_path):
    with pytest.raises(lf.ConfigError, match="scan_panel: parameter 'dedupe'"):
        lf.scan_panel(write_csv(tmp_path / "p.csv", PANEL), dedupe="newest")


# -- unsorted input -----------------------------------------------------------------------


@given(
    seed=st.integers(0, 2**32 - 1),
    preset=st.sampled_from(["carry", "seed_carry"]),
    messy=st.booleans(),
)
def test_shuffled_input_gives_identical_signals_and_backtest(seed, preset, messy):
    pipeline = getattr(lf.presets, preset)()
    # messy: gaps, nulls, NaN, inf, zero and negative numbers, odd symbols (clean keys)
    panel = messy_panel(seed, 6, 40, 0.1, 0.05, 0, 0.0, BAD_NUMBERS[:6]) if messy else PANEL
    lf.testing.check_row_order(pipeline, panel, seed=seed)  # the signals, bit for bit
    shuffled = panel.sample(fraction=1.0, shuffle=True, seed=seed)
    _, result = run(shuffled, pipeline)
    _, reference = run(panel.sort("date", "symbol"), pipeline)
    assert result.metrics.equals(reference.metrics)
    assert result.book.equals(reference.book)


# -- nulls, NaN, inf ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "column", ["open", "high", "low", "close", "volume", "dollar_volume", "funding_rate"]
)
def test_a_null_drops_the_row_in_the_presets_and_the_audit_counts_it(column):
    messy = at(PANEL, BTC, 30, **{column: None})
    audit = lf.presets.carry().audit(messy)
    rows = dict(zip(audit.stages["stage"], audit.stages["rows"], strict=False))
    assert rows["input"] == PANEL.height and rows["DropNulls"] == PANEL.height - 1
    missing = audit.stages.filter(pl.col("stage") == "input", pl.col("column") == column)
    assert missing["missing"].item() == 1
    frame, result = run(messy, lf.presets.carry())
    assert frame.height == PANEL.height - 1
    assert_finite_metrics(result)


@pytest.mark.parametrize("key", ["date", "symbol"])
def test_a_null_key_is_dropped_by_the_presets_and_an_error_otherwise(key):
    messy = at(PANEL, BTC, 30, **{key: None})
    assert run(messy, lf.presets.carry())[0].height == PANEL.height - 1
    frame = NO_DROP(messy.lazy()).collect()
    with pytest.raises(lf.DataError, match=f"backtest: column '{key}' has 1 null"):
        lf.backtest(frame, ALLOC)
    with pytest.raises(lf.DataError, match=r"Pipeline.audit: .* null date or symbol"):
        NO_DROP.audit(messy)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    ("column", "day"),
    [("close", 30), ("high", 30), ("low", 12), ("dollar_volume", 40), ("funding_rate", 20)],
)
def test_nan_and_inf_count_as_missing_in_every_stage(column, day, value):
    messy = NO_DROP(at(PANEL, BTC, day, **{column: value}).lazy()).collect()
    as_null = NO_DROP(at(PANEL, BTC, day, **{column: None}).lazy()).collect()
    assert messy.select(SIGNALS).equals(as_null.select(SIGNALS))
    floats = messy.select(pl.col(SIGNALS).exclude(pl.Boolean, pl.Int32))
    assert floats.select(pl.all().is_nan().any()).row(0) == (False,) * floats.width


def test_nan_volume_falls_back_to_the_other_rows_of_the_window():
    frame = NO_DROP(at(PANEL, BTC, 40, dollar_volume=math.nan).lazy()).collect()
    btc = PANEL.filter(pl.col("symbol") == BTC).sort("date")["dollar_volume"].to_list()
    window = btc[11:40]  # rows 11..40 without the NaN on row 40
    trail = frame.filter(pl.col("symbol") == BTC).sort("date")["trail_volume"][40]
    assert math.isclose(trail, sum(window) / len(window), rel_tol=1e-12)


# -- zero and negative prices, zero volatility ---------------------------------------------


@pytest.mark.parametrize("price", [0.0, -3.0])
def test_zero_or_negative_price_is_untradable_and_counted(price):
    messy = at(PANEL, BTC, 30, close=price)
    frame, result = run(messy, tradable=None)
    btc = frame.filter(pl.col("symbol") == BTC)
    assert btc["log_returns"][30] is None and btc["log_returns"][31] is None
    _, clean = run(PANEL, tradable=None)
    assert result.dropped["bad_price"] == clean.dropped["bad_price"] + 1
    assert NO_DROP.audit(messy, tradable=None).dropped == {
        r: result.dropped[r] for r in ROW_REASONS
    }
    assert_finite_metrics(result)


def test_zero_volatility_is_untradable_and_counted():
    flat = PANEL.with_columns(
        pl.when(pl.col("symbol") == BTC).then(100.0).otherwise(pl.col(c)).alias(c)
        for c in ("close", "open")
    )
    frame, result = run(flat, tradable=None)
    btc = frame.filter(pl.col("symbol") == BTC)
    zero = int((btc["vol_fcst"] == 0).sum())
    assert zero == btc.height - 2  # the first two rows have no forecast yet
    book = result.book.filter(pl.col("symbol") == BTC)
    assert book.height == 0  # never traded
    assert result.dropped["bad_vol"] >= zero
    assert_finite_metrics(result)


# -- small cross-sections and histories -----------------------------------------------------


def test_a_date_with_a_single_symbol_has_no_score_and_no_trade():
    last = PANEL["date"].max()
    lone = PANEL.filter((pl.col("date") != last) | (pl.col("symbol") == BTC))
    frame, result = run(lone, tradable=None)
    row = frame.filter(pl.col("date") == last)
    assert row.height == 1
    assert row["carry_score"][0] is None and row["decile_carry"][0] is None
    assert row["target_position"][0] is None
    assert_finite_metrics(result)


def test_a_symbol_with_a_single_row_has_no_return_and_no_volatility():
    once = pl.concat(
        [
            PANEL,
            PANEL.filter(pl.col("symbol") == BTC)
            .head(1)
            .with_columns(symbol=pl.lit("ONCE"), date=pl.col("date") + pl.duration(days=20)),
        ]
    )
    frame, result = run(once, tradable=None)
    row = frame.filter(pl.col("symbol") == "ONCE")
    assert row["log_returns"][0] is None and row["vol_fcst"][0] is None
    assert "ONCE" not in result.book["symbol"].to_list()
    assert_finite_metrics(result)


def test_an_empty_panel_is_a_data_error_not_a_polars_traceback(tmp_path):
    empty = PANEL.clear()
    frame = lf.presets.carry()(empty.lazy()).collect()
    assert frame.height == 0 and set(SIGNALS) <= set(frame.columns)
    with pytest.raises(lf.DataError, match="backtest: the frame has no rows"):
        lf.backtest(frame, ALLOC)
    with pytest.raises(lf.DataError, match=r"Pipeline.audit: the panel has no rows"):
        lf.presets.carry().audit(empty)
    header = write_csv(tmp_path / "h.csv", empty)
    assert lf.scan_panel(header).collect().height == 0
    (tmp_path / "zero.csv").write_text("")
    with pytest.raises(lf.DataError, match="scan_panel: cannot read"):
        lf.scan_panel(tmp_path / "zero.csv")


# -- extreme values -----------------------------------------------------------------------


def test_extreme_funding_is_winsorised_in_the_score():
    messy = at(PANEL, BTC, 30, funding_rate=1e6)
    frame = NO_DROP(messy.lazy()).collect().sort("date", "symbol")
    day = frame.filter(pl.col("date") == frame.filter(pl.col("symbol") == BTC)["date"][30])
    scores = day["carry_score"].to_numpy()
    assert np.isfinite(scores).all()
    assert day.filter(pl.col("symbol") == BTC)["carry_score"][0] == scores.min()


def test_funding_that_overflows_the_nav_is_a_data_error_naming_the_row():
    frame = NO_DROP(PANEL.lazy()).collect()
    held = lf.backtest(frame, ALLOC, tradable=None).book.filter(pl.col("x_new") != 0)
    date, symbol = held.row(5)[:2]
    messy = frame.with_columns(
        pl.when((pl.col("symbol") == symbol) & (pl.col("date") == date + dt.timedelta(days=1)))
        .then(1e308)
        .otherwise(pl.col("funding_rate"))
        .alias("funding_rate")
    )
    pattern = rf"backtest: metrics .* stop being finite .*'{symbol}' \(.*next funding 1e\+308"
    with pytest.raises(lf.DataError, match=pattern):
        lf.backtest(messy, ALLOC, tradable=None)


# -- symbol names -------------------------------------------------------------------------

ODD = ["a b", "ÉTÉ/ü", 'q"uote', "x'y", "名字", "sl/ash", "comma,s", "back\\slash"]


def test_odd_symbol_names_survive_csv_and_give_the_same_results(tmp_path):
    plain = sorted(PANEL["symbol"].unique().to_list())
    odd = sorted(ODD[: len(plain)])  # the same sort order, so every sum runs in the same order
    renamed = PANEL.with_columns(pl.col("symbol").replace(dict(zip(plain, odd, strict=True))))
    path = write_csv(tmp_path / "p.csv", renamed)
    scanned = lf.scan_panel(path).collect()
    assert sorted(scanned["symbol"].unique().to_list()) == odd
    frame, result = run(scanned)
    expected, reference = run(PANEL)
    assert frame.select(SIGNALS).equals(expected.select(SIGNALS))
    assert result.metrics.equals(reference.metrics)
    back = dict(zip(odd, plain, strict=True))
    assert result.book.with_columns(pl.col("symbol").replace(back)).equals(reference.book)


def test_errors_are_lazyflow_errors():
    for error in (lf.SchemaError, lf.DataError, lf.ConfigError):
        assert issubclass(error, lf.LazyflowError)
    with pytest.raises(lf.ConfigError, match="is not a stage"):
        lf.Pipeline([42])
    with pytest.raises(lf.DataError, match="expected a polars LazyFrame or DataFrame, got dict"):
        NO_DROP({"date": []})


@pytest.mark.parametrize("role", ["target_col", "date_col", "price_col"])
def test_a_column_named_like_the_backtests_temporary_one_is_used_as_given(role):
    """The backtest's temporary reason column must not clash with a user's column."""
    from test_backtest_drift import full_panel

    from lazyflow.portfolio.frame import REASON_COLUMN

    frame = full_panel(1, 3, 6)
    default = {"target_col": "target_position", "date_col": "date", "price_col": "close"}[role]
    want = lf.backtest(frame, lf.BufferedAllocator()).metrics
    got = lf.backtest(
        frame.rename({default: REASON_COLUMN}), lf.BufferedAllocator(), **{role: REASON_COLUMN}
    ).metrics
    assert got.rename({REASON_COLUMN: "date"} if role == "date_col" else {}).equals(want)
