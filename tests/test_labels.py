"""ForwardReturns (a label stage) and label_columns."""

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lazyflow as lf
import lazyflow.stages as stages
from lazyflow.stages.base import Stage
from lazyflow.stages.labels import ForwardReturns, label_columns

START = dt.date(2021, 1, 1)


def random_panel(seed: int, n_symbols: int = 5, n_days: int = 12) -> pl.DataFrame:
    """A shuffled panel with gaps, nulls, NaN, inf, zero and negative prices."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_symbols):
        for d in range(n_days):
            if rng.random() < 0.2:
                continue  # the symbol has no row that day
            price = float(np.exp(rng.normal(0.0, 0.3)) * (s + 1))
            u = rng.random()
            if u < 0.06:
                price = None
            elif u < 0.09:
                price = math.nan
            elif u < 0.11:
                price = math.inf
            elif u < 0.13:
                price = 0.0
            elif u < 0.15:
                price = -price
            rows.append((START + dt.timedelta(days=d), f"S{s}", price))
    frame = pl.DataFrame(
        rows, schema={"date": pl.Date, "symbol": pl.String, "close": pl.Float64}, orient="row"
    )
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


def reference(
    frame: pl.DataFrame, h: int, log: bool, calendar: bool = True
) -> dict[tuple, float | None]:
    """Plain-python forward returns over h rows of each symbol in date order; with
    `calendar`, only where that row is h distinct dates of the frame later."""
    position = {d: i for i, d in enumerate(sorted(set(frame["date"])))}
    out = {}
    for symbol in frame["symbol"].unique():
        rows = frame.filter(pl.col("symbol") == symbol).sort("date").rows()
        for i, (date, _, p0) in enumerate(rows):
            value = None
            spans = i + h < len(rows) and position[rows[i + h][0]] - position[date] == h
            if i + h < len(rows) and (spans or not calendar):
                p1 = rows[i + h][2]
                ok = [p is not None and math.isfinite(p) and p > 0 for p in (p0, p1)]
                if all(ok):
                    value = math.log(p1 / p0) if log else p1 / p0 - 1.0
            out[(date, symbol)] = value
    return out


def assert_matches(
    result: pl.DataFrame, frame: pl.DataFrame, horizons, log: bool, calendar: bool = True
) -> None:
    for h in horizons:
        ref = reference(frame, h, log, calendar)
        got = {(d, s): v for d, s, v in result.select("date", "symbol", f"fwd_ret_{h}").rows()}
        assert got.keys() == ref.keys()
        for key, expected in ref.items():
            if expected is None:
                assert got[key] is None, (h, key)
            else:
                assert got[key] == pytest.approx(expected, rel=1e-12, abs=1e-15), (h, key)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forward_returns_match_reference(seed, log):
    frame = random_panel(seed)
    horizons = (1, 2, 5)
    out = ForwardReturns(horizons=horizons, log=log)(frame.lazy())
    assert isinstance(out, pl.LazyFrame)
    result = out.collect()
    # rows and other columns untouched, in their input order
    assert result.select(frame.columns).equals(frame)
    assert result.schema["fwd_ret_1"] == pl.Float64
    assert_matches(result, frame, horizons, log)
    rows = ForwardReturns(horizons=horizons, log=log, calendar=False)(frame.lazy()).collect()
    assert_matches(rows, frame, horizons, log, calendar=False)


def _gap_panel() -> pl.DataFrame:
    """Two symbols over 5 days; b's funding is missing on day 2, so DropNulls removes it."""
    days = [START + dt.timedelta(days=i) for i in range(5)]
    return pl.DataFrame(
        {
            "date": days * 2,
            "symbol": ["a"] * 5 + ["b"] * 5,
            "close": [1.0, 2.0, 4.0, 8.0, 16.0, 1.0, 3.0, 9.0, 27.0, 81.0],
            "funding_rate": [0.0] * 7 + [None] + [0.0] * 2,
        }
    )


def test_returns_across_a_dropped_row_calendar_versus_rows():
    """After DropNulls removes b's day-2 row, the row rule labels b's two-day move
    (day 1 -> day 3, x9) as one period; the calendar rule (carry's) makes it null."""
    dropped = lf.DropNulls()(_gap_panel().lazy())
    by_rows = (
        lf.LogReturns(calendar=False)(dropped)
        .pipe(ForwardReturns(horizons=(1,), calendar=False))
        .filter(pl.col("symbol") == "b")
        .sort("date")
        .collect()
    )
    by_calendar = (
        lf.LogReturns()(dropped)
        .pipe(ForwardReturns(horizons=(1,)))
        .filter(pl.col("symbol") == "b")
        .sort("date")
        .collect()
    )
    assert by_rows["fwd_ret_1"].to_list() == [2.0, 8.0, 2.0, None]  # day 1: 9x labelled 1 day
    assert by_calendar["fwd_ret_1"].to_list() == [2.0, None, 2.0, None]
    log3 = math.log(3)
    assert by_rows["log_returns"].to_list() == pytest.approx([None, log3, 2 * log3, log3])
    assert by_calendar["log_returns"].to_list() == pytest.approx([None, log3, None, log3])


def test_presets_log_returns_seed_by_rows_carry_by_calendar():
    panel = _gap_panel()
    seed = lf.presets.seed_carry().stages[:2]
    carry = lf.presets.carry().stages[:2]
    b_day3 = (pl.col("symbol") == "b") & (pl.col("date") == START + dt.timedelta(days=3))
    seed_value = lf.Pipeline(seed)(panel.lazy()).filter(b_day3).collect()["log_returns"]
    carry_value = lf.Pipeline(carry)(panel.lazy()).filter(b_day3).collect()["log_returns"]
    assert seed_value.to_list() == pytest.approx([2 * math.log(3)])  # the notebook's
    assert carry_value.to_list() == [None]


def test_forward_returns_named_columns_and_integer_prices():
    frame = pl.DataFrame(
        {
            "day": [START + dt.timedelta(days=i) for i in (2, 0, 1, 0, 1)],
            "ticker": ["a", "a", "a", "b", "b"],
            "px": [4, 1, 2, 10, 30],
        }
    )
    stage = ForwardReturns(
        horizons=(1, 2), price_col="px", output_prefix="r", date_col="day", symbol_col="ticker"
    )
    out = stage(frame.lazy()).collect()
    assert out["r1"].to_list() == [None, 1.0, 1.0, 2.0, None]
    assert out["r2"].to_list() == [None, 3.0, None, None, None]


@given(seed=st.integers(0, 10_000), other_seed=st.integers(0, 10_000))
def test_forward_returns_depend_only_on_own_symbol(seed, other_seed):
    """Shuffling rows and replacing every other symbol's rows leaves S0's returns unchanged."""
    frame = random_panel(seed, n_symbols=4, n_days=15)
    others = random_panel(other_seed, n_symbols=4, n_days=15).filter(pl.col("symbol") != "S0")
    mixed = pl.concat([frame.filter(pl.col("symbol") == "S0"), others]).sample(
        fraction=1.0, shuffle=True, seed=other_seed
    )
    stage = ForwardReturns(horizons=(1, 3))

    def own(f: pl.DataFrame) -> pl.DataFrame:
        return stage(f.lazy()).filter(pl.col("symbol") == "S0").sort("date").collect()

    assert own(frame).equals(own(mixed))


def test_forward_returns_is_the_only_label_stage():
    assert ForwardReturns.is_label is True
    assert ForwardReturns().is_label is True
    assert Stage.is_label is False
    for name in stages.__all__:
        obj = getattr(stages, name)
        if obj is not ForwardReturns:
            assert getattr(obj, "is_label", False) is False, name
    for name in lf.__all__:
        obj = getattr(lf, name)
        if obj is not ForwardReturns:
            assert getattr(obj, "is_label", False) is False, name


def test_label_columns():
    def plain(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame

    labels = ForwardReturns(horizons=(1, 3))
    other = ForwardReturns(horizons=(2,), output_prefix="log_fwd_", log=True)
    pipeline = plain >> labels >> plain
    assert label_columns(pipeline) == ("fwd_ret_1", "fwd_ret_3")
    assert label_columns([labels, plain, lf.Pipeline([other])]) == (
        "fwd_ret_1",
        "fwd_ret_3",
        "log_fwd_2",
    )
    assert label_columns([plain]) == ()


def test_forward_returns_look_ahead_by_design():
    """Dropping the last date changes the label on earlier dates: only labels may do this."""
    frame = random_panel(3).filter(pl.col("close").is_finite() & (pl.col("close") > 0))
    last = frame["date"].max()
    full = ForwardReturns(horizons=(1,))(frame.lazy()).collect()
    cut = ForwardReturns(horizons=(1,))(frame.lazy().filter(pl.col("date") < last)).collect()
    joined = cut.join(full, on=["date", "symbol"], suffix="_full")
    assert (joined["fwd_ret_1"].is_null() & joined["fwd_ret_1_full"].is_not_null()).any()


def test_pipeline_schema_and_no_data_read(tmp_path):
    path = tmp_path / "panel.parquet"
    random_panel(0).write_parquet(path)
    lazy = pl.scan_parquet(path)
    plan = lf.Pipeline([ForwardReturns(horizons=(1, 20))])(lazy)
    path.unlink()
    schema = plan.collect_schema()
    assert schema["fwd_ret_1"] == pl.Float64
    assert schema["fwd_ret_20"] == pl.Float64


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"horizons": ()}, "horizons"),
        ({"horizons": (0,)}, "horizons"),
        ({"horizons": (-1, 2)}, "horizons"),
        ({"horizons": (1.5,)}, "horizons"),
        ({"horizons": (True,)}, "horizons"),
        ({"horizons": (1, 1)}, "horizons"),
        ({"output_prefix": ""}, "output_prefix"),
    ],
)
def test_bad_parameters_raise_config_error_at_call_time(kwargs, parameter):
    stage = ForwardReturns(**kwargs)  # the constructor only stores
    with pytest.raises(lf.ConfigError, match=f"ForwardReturns: parameter '{parameter}'"):
        stage(random_panel(0).lazy())


def test_schema_errors_name_stage_and_column():
    frame = random_panel(0)
    with pytest.raises(lf.SchemaError) as err:
        ForwardReturns(price_col="mid")(frame.lazy())
    assert (err.value.stage, err.value.column) == ("ForwardReturns", "mid")
    with pytest.raises(lf.SchemaError, match="'close' has dtype String"):
        ForwardReturns()(frame.with_columns(pl.col("close").cast(pl.String)).lazy())


def test_calendar_returns_keep_a_users_column_named_like_the_temporary_one():
    frame = _gap_panel().with_columns(__calendar_day=pl.lit("mine"))
    out = ForwardReturns(horizons=(1,))(lf.LogReturns()(frame.lazy())).collect()
    assert out["__calendar_day"].to_list() == ["mine"] * frame.height
    assert out.columns == [*frame.columns, "log_returns", "fwd_ret_1"]
