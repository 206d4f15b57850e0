"""scan_panel: round trips, renames, date parsing, casts and every error path."""

import datetime as dt
import gzip
import os
import re
import shutil

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lazyflow as lf
from lazyflow.errors import collect

PANEL = lf.synthetic_panel(n_symbols=15, n_days=40, seed=2)


def write_csv(path, data: dict) -> str:
    pl.DataFrame(data).write_csv(path)
    return str(path)


def small(**extra) -> dict:
    return {
        "date": ["2024-01-02", "2024-01-03"],
        "symbol": ["A", "B"],
        "close": [1.5, 2.5],
        **extra,
    }


def test_panel_columns_are_the_canonical_schema():
    assert list(lf.PANEL_COLUMNS) == [
        "date",
        "symbol",
        *("open", "high", "low", "close", "volume", "dollar_volume", "funding_rate"),
    ]
    assert lf.PANEL_COLUMNS["date"] == pl.Date and lf.PANEL_COLUMNS["symbol"] == pl.String


@pytest.mark.parametrize("name", ["p.csv", "p.parquet", "p.pq", "p.csv.gz"])
def test_round_trip(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".gz"):
        PANEL.write_csv(tmp_path / "plain.csv")
        with open(tmp_path / "plain.csv", "rb") as src, gzip.open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
    elif name.endswith(".csv"):
        PANEL.write_csv(path)
    else:
        PANEL.write_parquet(path)
    lazy = lf.scan_panel(path)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect_schema() == pl.Schema(lf.PANEL_COLUMNS)
    assert lazy.collect().equals(PANEL)


def test_directory_and_glob_of_parquet(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    dates = PANEL["date"].unique().sort()
    cut = dates[len(dates) // 2]
    PANEL.filter(pl.col("date") < cut).write_parquet(folder / "part0.parquet")
    PANEL.filter(pl.col("date") >= cut).write_parquet(folder / "part1.parquet")
    assert lf.scan_panel(folder).collect().equals(PANEL)
    assert lf.scan_panel(str(folder / "*.parquet")).collect().equals(PANEL)
    PANEL.write_csv(tmp_path / "a.csv")
    assert lf.scan_panel(str(tmp_path / "a*.csv")).collect().equals(PANEL)


def test_rename_and_key_columns(tmp_path):
    renamed = PANEL.rename({"symbol": "ticker", "date": "day", "close": "px_last"})
    path = tmp_path / "p.parquet"
    renamed.write_parquet(path)
    out = lf.scan_panel(path, rename={"ticker": "symbol", "px_last": "close"}, date_col="day")
    assert out.collect().equals(PANEL)
    # date_col / symbol_col name columns after `rename`; the output keys are always date/symbol
    out = lf.scan_panel(
        path, rename={"px_last": "close", "day": "when"}, date_col="when", symbol_col="ticker"
    )
    assert out.collect().equals(PANEL)


def test_keys_come_first_other_columns_kept(tmp_path):
    path = write_csv(
        tmp_path / "x.csv",
        {"close": [1, 2], "extra": ["u", "v"], "symbol": [7, 8], "date": ["2024-01-02"] * 2},
    )
    out = lf.scan_panel(path).collect()
    assert out.columns == ["date", "symbol", "close", "extra"]
    assert out["symbol"].to_list() == ["7", "8"]  # integer ids become strings
    assert out["close"].dtype == pl.Float64 and out["close"].to_list() == [1.0, 2.0]
    assert out["extra"].to_list() == ["u", "v"]


def test_csv_symbols_keep_leading_zeros(tmp_path):
    path = write_csv(tmp_path / "x.csv", small(symbol=["0001", "0002"]))
    assert lf.scan_panel(path).collect()["symbol"].to_list() == ["0001", "0002"]


def test_csv_integers_then_decimals_read_as_float(tmp_path):
    n = 300  # more rows than the CSV reader's schema inference looks at
    data = {
        "date": ["2024-01-02"] * n,
        "symbol": [f"S{i}" for i in range(n)],
        "close": [str(i) for i in range(n - 1)] + ["1.25"],
        "volume": list(range(n)),
    }
    path = write_csv(tmp_path / "x.csv", data)
    out = lf.scan_panel(path, required=("close", "volume")).collect()
    assert out["close"].dtype == pl.Float64 and out["close"][-1] == 1.25
    assert out["volume"].dtype == pl.Float64 and out["volume"].sum() == n * (n - 1) / 2


def test_integer_prices_cast_in_parquet(tmp_path):
    frame = PANEL.with_columns(
        pl.col("close").round().cast(pl.Int32), pl.col("volume").round().cast(pl.UInt64)
    )
    path = tmp_path / "p.parquet"
    frame.write_parquet(path)
    out = lf.scan_panel(path).collect()
    assert out["close"].dtype == pl.Float64 and out["volume"].dtype == pl.Float64
    assert out["close"].to_list() == [float(x) for x in frame["close"]]


@pytest.mark.parametrize(
    "text",
    [
        "{d}",
        "{d}T00:00:00",
        "{d} 00:00:00",
        "{d}T23:59:59",
        "{d} 13:05",
        "{d}T01:02:03.123456",
        "{d}T00:00:00Z",
    ],
)
def test_iso_date_strings(tmp_path, text):
    days = [dt.date(2024, 1, 2), dt.date(2024, 2, 29)]
    path = write_csv(tmp_path / "x.csv", small(date=[text.format(d=d.isoformat()) for d in days]))
    out = lf.scan_panel(path).collect()
    assert out["date"].dtype == pl.Date and out["date"].to_list() == days


def test_mixed_date_strings(tmp_path):
    path = write_csv(tmp_path / "x.csv", small(date=["2024-01-02", "2024-01-03 10:00:00"]))
    assert lf.scan_panel(path).collect()["date"].to_list() == [
        dt.date(2024, 1, 2),
        dt.date(2024, 1, 3),
    ]


@pytest.mark.parametrize("bad", ["02/01/2024", "2024-13-01", "2024-01-02T00:00:00+05:00", "x"])
def test_bad_date_strings_fail_when_collected(tmp_path, bad):
    path = write_csv(tmp_path / "x.csv", small(date=["2024-01-02", bad]))
    lazy = lf.scan_panel(path)  # building the plan reads no rows
    with pytest.raises(pl.exceptions.PolarsError, match=bad.replace("+", r"\+")):
        lazy.collect()


@pytest.mark.parametrize("tz", [None, "UTC"])
def test_datetime_column_becomes_date(tmp_path, tz):
    stamps = [dt.datetime(2024, 1, 2, 0, 0), dt.datetime(2024, 1, 3, 13, 30)]
    frame = pl.DataFrame(small(date=stamps)).with_columns(
        pl.col("date").cast(pl.Datetime("ms", tz))
    )
    path = tmp_path / "p.parquet"
    frame.write_parquet(path)
    out = lf.scan_panel(path).collect()
    assert out["date"].to_list() == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]


def test_missing_path_is_a_data_error(tmp_path):
    with pytest.raises(lf.DataError, match=r"nope\.parquet"):
        lf.scan_panel(tmp_path / "nope.parquet")
    with pytest.raises(lf.DataError, match=r"no file matches .*\*\.csv"):
        lf.scan_panel(str(tmp_path / "*.csv"))


@pytest.mark.parametrize("name", ["p.csv", "p.parquet", "", "*.csv"])
def test_a_home_relative_path_is_expanded(tmp_path, monkeypatch, name):
    """``~/...`` reads as it does for Polars and `load_um_daily` (a folder and a glob too)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    write_csv(tmp_path / "p.csv", small())
    pl.read_csv(tmp_path / "p.csv").write_parquet(tmp_path / "p.parquet")
    got = lf.scan_panel(f"~/{name}").collect()
    assert got["symbol"].to_list() == ["A", "B"]


def test_unknown_format_names_path_and_formats(tmp_path):
    path = tmp_path / "panel.xlsx"
    path.write_text("x")
    with pytest.raises(lf.DataError, match=r"panel\.xlsx.*csv.*parquet"):
        lf.scan_panel(path)


def test_directory_without_parquet(tmp_path):
    (tmp_path / "a.csv").write_text("date,symbol,close\n")
    with pytest.raises(lf.DataError, match="no parquet files"):
        lf.scan_panel(tmp_path)


def test_unreadable_file_is_a_data_error(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not a parquet file at all")
    with pytest.raises(lf.DataError, match=r"broken\.parquet"):
        lf.scan_panel(path)


@pytest.mark.parametrize(
    ("data", "kwargs", "column", "problem"),
    [
        ({"symbol": ["A"], "close": [1.0]}, {}, "date", "is missing"),
        ({"date": ["2024-01-02"], "close": [1.0]}, {}, "symbol", "is missing"),
        (small(), {"required": ("close", "volume")}, "volume", "is missing"),
        (small(), {"rename": {"ticker": "symbol"}}, "ticker", "is missing"),
        (small(ts=["2024-01-02"] * 2), {"date_col": "ts"}, "date", "would appear twice"),
        (small(px=[1.0, 2.0]), {"rename": {"px": "close"}}, "close", "would appear twice"),
        (small(), {"required": "volume"}, "volume", "is missing"),
        (small(close=["a", "b"]), {}, "close", "expected a numeric"),
        (small(funding_rate=[True, False]), {}, "funding_rate", "expected a numeric"),
        (small(date=[20240102, 20240103]), {}, "date", "expected Date, Datetime or ISO"),
        (small(symbol=[1.5, 2.5]), {}, "symbol", "expected strings or integer ids"),
    ],
)
def test_schema_errors(tmp_path, data, kwargs, column, problem):
    path = tmp_path / "x.parquet"
    pl.DataFrame(data).write_parquet(path)
    with pytest.raises(lf.SchemaError, match=problem) as err:
        lf.scan_panel(path, **kwargs)
    assert err.value.stage == "scan_panel"
    assert err.value.column == column
    assert err.value.available


def test_same_date_and_symbol_column_is_a_config_error(tmp_path):
    path = write_csv(tmp_path / "x.csv", small())
    with pytest.raises(lf.ConfigError, match="date_col and symbol_col"):
        lf.scan_panel(path, date_col="symbol")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("dates")


@given(
    days=st.lists(st.dates(dt.date(1971, 1, 1), dt.date(2099, 12, 31)), min_size=1, max_size=20),
    styles=st.lists(
        st.sampled_from(["", "T00:00:00", " 12:34:56", "T23:59:59.5", "Z"]), min_size=1
    ),
)
def test_any_iso_date_string_parses_to_its_day(folder, days, styles):
    texts = []
    for i, d in enumerate(days):
        style = styles[i % len(styles)]
        texts.append(d.isoformat() + ("T00:00:00Z" if style == "Z" else style))
    path = write_csv(folder / "d.csv", {"date": texts, "symbol": ["A"] * len(days), "close": 1.0})
    assert lf.scan_panel(path).collect()["date"].to_list() == days


# -- the CSV reader: numbers typed first, text only for the columns that need it ----------------


def text_parse_reference(texts: list[str | None]) -> list[float | None]:
    """scan_panel's rule for a number written as text, in plain Python."""
    out: list[float | None] = []
    for text in texts:
        stripped = "" if text is None else text.strip()
        if stripped.lower() in ("", "na", "n/a", "nan", "null", "none", "-"):
            out.append(None)
        else:
            value = float(stripped)
            out.append(None if value != value else value)  # NaN text is missing
    return out


@pytest.mark.parametrize("late", [False, True])
def test_csv_text_in_some_number_columns_falls_back_for_those_only(tmp_path, late):
    """Clean number columns stay typed, columns with markers or padded numbers are parsed as
    text; the values equal the plain-Python rule wherever the text sits in the file."""
    n = 400
    rng = np.random.default_rng(5)
    clean = rng.normal(size=n).tolist()
    marked = [str(float(x)) for x in rng.normal(size=n)]
    at = n - 3 if late else 2
    marked[at : at + 3] = [" N/A ", " 2.5 ", "NaN"]
    path = write_csv(
        tmp_path / "x.csv",
        {
            "date": [(dt.date(2024, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(n)],
            "symbol": "A",
            "close": clean,
            "funding_rate": marked,
            "note": ["NA"] * n,  # not a panel number: kept as text, even a missing marker
        },
    )
    lazy = lf.scan_panel(path, required=("close", "funding_rate"))
    for _ in range(2):  # the second read starts from what the first one learned
        out = lazy.collect()
        assert out["close"].to_list() == clean
        assert out["funding_rate"].to_list() == text_parse_reference(marked)
        assert out["note"].to_list() == ["NA"] * n
    assert lazy.select("close").collect()["close"].to_list() == clean
    assert lazy.select(pl.len()).collect().item() == n
    assert lazy.filter(pl.col("funding_rate") > 0).collect().height == sum(
        1 for v in text_parse_reference(marked) if v is not None and v > 0
    )
    assert lazy.head(3).collect()["close"].to_list() == clean[:3]


def test_csv_nan_text_is_missing_in_typed_columns(tmp_path):
    path = write_csv(tmp_path / "x.csv", small(close=["NaN", "nan"]))
    assert lf.scan_panel(path).collect()["close"].to_list() == [None, None]


def test_csv_rename_with_typed_reading(tmp_path):
    path = tmp_path / "p.csv"
    PANEL.rename({"symbol": "ticker", "date": "day", "close": "px"}).write_csv(path)
    out = lf.scan_panel(path, rename={"ticker": "symbol", "px": "close"}, date_col="day")
    assert out.collect().equals(PANEL)


@pytest.mark.parametrize("text", ["2024/01/02", "2024.01.02", "2024-01-02 x", "02/01/2024"])
def test_csv_dates_stay_strict_iso(tmp_path, text):
    path = write_csv(tmp_path / "x.csv", small(date=["2024-01-01", text]))
    with pytest.raises(pl.exceptions.PolarsError, match=re.escape(text)):
        lf.scan_panel(path).collect()


def test_csv_file_shuffled_reads_as_the_panel_in_file_order(tmp_path):
    shuffled = PANEL.sample(fraction=1.0, shuffle=True, seed=4)
    path = tmp_path / "p.csv"
    shuffled.write_csv(path)
    assert lf.scan_panel(path).collect().equals(shuffled)


# -- dates outside FIRST_DATE..LAST_DATE (issue 14, class 5) ---------------------------------

NS = 1_700_000_000_000_000_000  # 2023-11-14 in nanoseconds: year 55969 when read as ms


def test_the_date_range_is_shared():
    from lazyflow.data.dates import DATE_RANGE, FIRST_DATE, LAST_DATE

    assert [dt.date(1970, 1, 1), dt.date(2200, 12, 31)] == [FIRST_DATE, LAST_DATE]
    assert DATE_RANGE == "1970-01-01..2200-12-31"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("1969-12-31", "1969-12-31"),
        ("2201-01-01", "2201-01-01"),
        ("+12345-01-01", "+12345-01-01"),
        ("0001-01-01T00:00:00", "0001-01-01"),
    ],
)
def test_csv_dates_outside_the_range_fail_naming_column_and_value(tmp_path, text, shown):
    data = {("day" if k == "date" else k): v for k, v in small(date=["2024-01-01", text]).items()}
    path = write_csv(tmp_path / "x.csv", data)
    lazy = lf.scan_panel(path, rename={"day": "when"}, date_col="when")
    pattern = rf"{re.escape(shown)} \(scan_panel: column 'day' outside 1970-01-01..2200-12-31\)"
    with pytest.raises(pl.exceptions.PolarsError, match=pattern):
        lazy.collect()
    with pytest.raises(lf.DataError, match=rf"backtest: .*{re.escape(shown)}.*'day' outside"):
        collect(lazy, "backtest")  # how every entry point collects


@pytest.mark.parametrize("tz", [None, "UTC", "Asia/Tokyo", "America/New_York"])
def test_nanoseconds_read_as_milliseconds_fail_without_a_panic(tmp_path, tz):
    frame = pl.DataFrame(small(date=[1_700_000_000_000, NS])).with_columns(
        pl.col("date").cast(pl.Datetime("ms", tz))
    )
    frame.write_parquet(tmp_path / "p.parquet")
    # a PanicException is no PolarsError: this fails if Polars panics
    with pytest.raises(pl.exceptions.PolarsError, match=rf"{NS} \(ms since epoch\).*'date'"):
        lf.scan_panel(tmp_path / "p.parquet").collect()


@pytest.mark.parametrize(
    ("days", "shown"),
    [(-1, "1969-12-31"), (2**31 - 1, f"{2**31 - 1} (days since"), (-(2**31), "-2147483648")],
)
def test_parquet_dates_outside_the_range_fail_without_a_panic(tmp_path, days, shown):
    frame = pl.DataFrame(small(date=[19_000, days])).with_columns(pl.col("date").cast(pl.Date))
    frame.write_parquet(tmp_path / "p.parquet")
    with pytest.raises(pl.exceptions.PolarsError, match=re.escape(shown)):
        lf.scan_panel(tmp_path / "p.parquet").collect()


def test_the_range_ends_are_accepted_and_nulls_kept(tmp_path):
    days = [dt.date(1970, 1, 1), dt.date(2200, 12, 31), None]
    frame = pl.DataFrame({"date": days, "symbol": ["A", "B", "C"], "close": [1.0, 2.0, 3.0]})
    frame.write_csv(tmp_path / "p.csv")
    assert lf.scan_panel(tmp_path / "p.csv").collect()["date"].to_list() == days
    for tz in (None, "Asia/Tokyo", "America/New_York"):
        stamps = frame.with_columns(pl.col("date").cast(pl.Datetime("ns")).dt.replace_time_zone(tz))
        stamps.write_parquet(tmp_path / "p.parquet")
        assert lf.scan_panel(tmp_path / "p.parquet").collect()["date"].to_list() == days


# -- paths that are not regular files (issue 14, class 7) ------------------------------------


def test_devices_and_fifos_are_refused_before_reading(tmp_path):
    fifo = tmp_path / "panel.csv"
    os.mkfifo(fifo)  # opening it to read would block for ever
    message = "is not a regular file"
    for path in ("/dev/zero", fifo, str(tmp_path / "pan*.csv")):
        with pytest.raises(lf.DataError, match=rf"scan_panel: .*{message}"):
            lf.scan_panel(path)
    folder = tmp_path / "parts"
    folder.mkdir()
    PANEL.write_parquet(folder / "a.parquet")
    os.mkfifo(folder / "b.parquet")
    with pytest.raises(lf.DataError, match=rf"b\.parquet {message}"):
        lf.scan_panel(folder)


def test_a_csv_scan_goes_to_sweep_workers(tmp_path):
    """The CSV reader is a Python IO source, which Polars cannot pickle without cloudpickle:
    `lf.sweep` reads the panel once and sends the data to its worker processes."""
    path = tmp_path / "p.csv"
    PANEL.write_csv(path)
    pipelines = [lf.presets.carry(), lf.presets.seed_carry()]
    pooled = lf.sweep(lf.scan_panel(path), pipelines, lf.BufferedAllocator(), n_jobs=2)
    assert pooled.equals(lf.sweep(PANEL, pipelines, lf.BufferedAllocator(), n_jobs=1))
