"""load_um_daily on small files written in the exact Binance archive format."""

from __future__ import annotations

import random
import tempfile
import zipfile
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from binance_fixtures import (
    DAY_MS,
    FUNDING_HEADER,
    HOUR_MS,
    KLINE_HEADER,
    STEP_MS,
    epoch_ms,
    funding_path,
    funding_rows,
    kline_path,
    kline_rows,
    reference_bars,
    reference_funding,
    write_file,
)
from hypothesis import given
from hypothesis import strategies as st

import lazyflow as lf
from lazyflow.data.binance import find_um_files, load_um_daily

JAN1 = epoch_ms(date(2024, 1, 1))
FEB1 = epoch_ms(date(2024, 2, 1))


def check_symbol(panel: pl.DataFrame, symbol: str, klines: list, funding: list) -> None:
    """Every panel row of `symbol` equals the plain-python reference, and no day is missing."""
    bars, rates = reference_bars(klines), reference_funding(funding)
    rows = panel.filter(pl.col("symbol") == symbol)
    assert rows["date"].to_list() == sorted(bars)
    for row in rows.iter_rows(named=True):
        ref = bars[row["date"]]
        for field in ("open", "high", "low", "close"):
            assert row[field] == ref[field], (row["date"], field)
        assert row["volume"] == pytest.approx(ref["volume"], rel=1e-12)
        assert row["dollar_volume"] == pytest.approx(ref["dollar_volume"], rel=1e-12)
        expected = rates.get(row["date"])
        if expected is None:
            assert row["funding_rate"] is None, row["date"]
        else:
            assert row["funding_rate"] == pytest.approx(expected, rel=1e-12, abs=1e-18)


@pytest.fixture
def archive(tmp_path: Path) -> dict:
    """BTCUSDT: 1h klines, monthly Jan 2024 (header) + daily Feb 1-2 (no header), 8h funding
    Jan + Feb (jittered). ETHUSDT: 1d klines without header, 4h funding in Jan only."""
    btc_jan = kline_rows(1, JAN1, 31 * 24, "1h")
    btc_feb = kline_rows(2, FEB1, 2 * 24, "1h")
    write_file(kline_path(tmp_path, "BTCUSDT", "1h", "2024-01"), btc_jan, KLINE_HEADER)
    for day in range(2):
        rows = btc_feb[day * 24 : (day + 1) * 24]
        write_file(kline_path(tmp_path, "BTCUSDT", "1h", f"2024-02-0{day + 1}"), rows, None)
    btc_funding = funding_rows(3, JAN1, 31 * 3, 8) + funding_rows(4, FEB1, 29 * 3, 8)
    write_file(funding_path(tmp_path, "BTCUSDT", "2024-01"), btc_funding[:93], FUNDING_HEADER)
    write_file(funding_path(tmp_path, "BTCUSDT", "2024-02"), btc_funding[93:], FUNDING_HEADER)
    eth = kline_rows(5, JAN1, 31, "1d") + kline_rows(6, FEB1, 29, "1d")
    write_file(kline_path(tmp_path, "ETHUSDT", "1d", "2024-01"), eth[:31], None)
    write_file(kline_path(tmp_path, "ETHUSDT", "1d", "2024-02"), eth[31:], None)
    eth_funding = funding_rows(7, JAN1, 31 * 6, 4, jitter_ms=20)
    write_file(funding_path(tmp_path, "ETHUSDT", "2024-01"), eth_funding, FUNDING_HEADER)
    return {
        "root": tmp_path,
        "BTCUSDT": (btc_jan + btc_feb, btc_funding),
        "ETHUSDT": (eth, eth_funding),
    }


def test_archive_tree_matches_reference(archive: dict) -> None:
    assert lf.data.binance.load_um_daily is load_um_daily
    panel = load_um_daily(archive["root"])
    assert panel.schema == pl.Schema(lf.PANEL_COLUMNS)
    assert panel.sort("date", "symbol").equals(panel)
    check_symbol(panel, "BTCUSDT", *archive["BTCUSDT"])
    check_symbol(panel, "ETHUSDT", *archive["ETHUSDT"])
    # 1h klines -> one bar per day across the month boundary; funding only on covered days
    btc = panel.filter(pl.col("symbol") == "BTCUSDT")
    assert btc.height == 33 and btc["date"][-1] == date(2024, 2, 2)
    # ETH has no February funding file: February days are null, not 0
    eth_feb = panel.filter((pl.col("symbol") == "ETHUSDT") & (pl.col("date") >= date(2024, 2, 1)))
    assert eth_feb.height == 29 and eth_feb["funding_rate"].null_count() == 29


def test_four_hour_funding_sums_six_settlements(archive: dict) -> None:
    _, funding = archive["ETHUSDT"]
    panel = load_um_daily(archive["root"], symbols="ETHUSDT")
    jan2 = panel.filter(pl.col("date") == date(2024, 1, 2))["funding_rate"].item()
    day = [r[2] for r in funding if JAN1 + DAY_MS <= r[0] < JAN1 + 2 * DAY_MS]
    assert len(day) == 6 and jan2 == pytest.approx(sum(day), rel=1e-12)


def test_jittered_midnight_settlement_stays_on_its_day(tmp_path: Path) -> None:
    """A settlement at 2024-02-01 00:00:00.007 belongs to Feb 1, not Jan 31."""
    write_file(kline_path(tmp_path, "XUSDT", "1d", "2024-01"), kline_rows(1, JAN1, 31, "1d"), None)
    write_file(kline_path(tmp_path, "XUSDT", "1d", "2024-02"), kline_rows(2, FEB1, 1, "1d"), None)
    rows = [(FEB1 - 8 * HOUR_MS + 3, 8, 0.001), (FEB1 + 7, 8, 0.002)]
    write_file(funding_path(tmp_path, "XUSDT", "2024-02"), rows, FUNDING_HEADER)
    panel = load_um_daily(tmp_path).filter(pl.col("funding_rate").is_not_null())
    assert panel.select("date", "funding_rate").rows() == [
        (date(2024, 1, 31), 0.001),
        (date(2024, 2, 1), 0.002),
    ]


def test_paths_below_root_lists_and_symbol_filter(archive: dict) -> None:
    root = archive["root"]
    full = load_um_daily(root)
    btc = full.filter(pl.col("symbol") == "BTCUSDT")
    assert load_um_daily(root / "data" / "futures", symbols=["BTCUSDT"]).equals(btc)
    files = [f.path for f in find_um_files(root) if f.symbol == "BTCUSDT"]
    assert load_um_daily(files).equals(btc)
    assert load_um_daily((str(p) for p in files), verify_checksums=False).equals(btc)
    with pytest.raises(lf.DataError, match="no kline files for SOLUSDT"):
        load_um_daily(root, symbols=["BTCUSDT", "SOLUSDT"])
    with pytest.raises(lf.ConfigError, match="'symbols' is empty"):
        load_um_daily(root, symbols=[])


def test_extracted_csvs_equal_zips_and_duplicates_count_once(archive: dict) -> None:
    root = archive["root"]
    from_zips = load_um_daily(root)
    extracted = root / "extracted"
    for item in find_um_files(root):
        with zipfile.ZipFile(item.path) as z:
            z.extract(z.namelist()[0], extracted)
    assert load_um_daily(extracted).equals(from_zips)
    # zips and their extracted copies together: every bar and settlement counted once
    assert load_um_daily([root / "data", extracted]).equals(from_zips)


def test_daily_file_overlapping_monthly_file_counts_once(archive: dict) -> None:
    root = archive["root"]
    klines, funding = archive["BTCUSDT"]
    jan15 = [r for r in klines if JAN1 + 14 * DAY_MS <= r[0] < JAN1 + 15 * DAY_MS]
    write_file(kline_path(root, "BTCUSDT", "1h", "2024-01-15"), jan15, KLINE_HEADER)
    panel = load_um_daily(root, symbols=["BTCUSDT"])
    check_symbol(panel, "BTCUSDT", klines, funding)


def test_microsecond_timestamps_read_as_milliseconds(tmp_path: Path) -> None:
    rows = kline_rows(9, JAN1, 48, "1h")
    micro = [(r[0] * 1000, *r[1:6], r[6] * 1000 + 999, *r[7:]) for r in rows]
    write_file(kline_path(tmp_path / "ms", "AUSDT", "1h", "2024-01"), rows, KLINE_HEADER)
    write_file(kline_path(tmp_path / "us", "AUSDT", "1h", "2024-01"), micro, KLINE_HEADER)
    panel = load_um_daily(tmp_path / "us")
    assert panel["date"].to_list() == [date(2024, 1, 1), date(2024, 1, 2)]
    assert panel.equals(load_um_daily(tmp_path / "ms"))


def test_other_markets_and_data_types_are_skipped(archive: dict) -> None:
    root = archive["root"]
    before = load_um_daily(root)
    spot = root / "data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip"
    write_file(spot, kline_rows(11, JAN1, 24, "1h"), KLINE_HEADER)
    mark = root / "data/futures/um/monthly/markPriceKlines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip"
    write_file(mark, kline_rows(12, JAN1, 24, "1h"), KLINE_HEADER)
    assert load_um_daily(root).equals(before)
    with pytest.raises(lf.DataError, match="markPriceKlines"):
        load_um_daily([mark])


def test_several_intervals_need_a_choice(archive: dict) -> None:
    root = archive["root"]
    klines, funding = archive["BTCUSDT"]
    daily = kline_rows(13, JAN1, 31, "1d")
    write_file(kline_path(root, "BTCUSDT", "1d", "2024-01"), daily, None)
    with pytest.raises(lf.DataError, match=r"BTCUSDT has klines at several intervals \(1d, 1h\)"):
        load_um_daily(root)
    check_symbol(load_um_daily(root, interval="1h"), "BTCUSDT", klines, funding)
    check_symbol(load_um_daily(root, "BTCUSDT", interval="1d"), "BTCUSDT", daily, funding)
    with pytest.raises(lf.ConfigError, match="interval='1w'"):
        load_um_daily(root, interval="1w")


def test_weekly_klines_cannot_become_daily_bars(tmp_path: Path) -> None:
    path = kline_path(tmp_path, "WUSDT", "1w", "2024-01")
    write_file(path, kline_rows(1, JAN1, 4, "1d"), KLINE_HEADER)
    with pytest.raises(lf.DataError, match=f"{path.name}: 1w klines cannot be resampled"):
        load_um_daily(tmp_path)


def test_checksum_mismatch_names_the_file(archive: dict) -> None:
    path = kline_path(archive["root"], "ETHUSDT", "1d", "2024-02")
    checksum = path.with_name(path.name + ".CHECKSUM")
    checksum.write_text("0" * 64 + f"  {path.name}\n")
    with pytest.raises(lf.DataError, match=f"checksum mismatch for .*{path.name}"):
        load_um_daily(archive["root"])
    assert load_um_daily(archive["root"], verify_checksums=False).height == 33 + 60
    checksum.write_text("not a digest\n")
    with pytest.raises(lf.DataError, match="does not start with a sha256"):
        load_um_daily(archive["root"])
    checksum.unlink()  # no checksum file: nothing to verify
    assert load_um_daily(archive["root"]).height == 33 + 60


def test_corrupt_or_wrong_zips_name_the_file(tmp_path: Path) -> None:
    rows = kline_rows(1, JAN1, 2, "1d")
    path = write_file(kline_path(tmp_path, "ZUSDT", "1d", "2024-01"), rows, None, checksum=False)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(lf.DataError, match=f"{path.name} is not a readable zip"):
        load_um_daily(tmp_path)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.csv", "1,2\n")
        z.writestr("b.csv", "1,2\n")
    with pytest.raises(lf.DataError, match=f"{path.name} holds .*exactly one CSV"):
        load_um_daily(tmp_path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("time,open,high,low,close\n1,2,3,4,5\n", "unknown columns in .*ZUSDT-1d-2024-01"),
        ("1704067200000,1,2,3\n", "ZUSDT-1d-2024-01.csv has 4 columns, expected 12"),
        (f"{KLINE_HEADER}\n1704067200000,1,2,x,4,5,6,7,8,9,10,0\n", "cannot parse .*ZUSDT"),
    ],
)
def test_unknown_columns_name_the_file(tmp_path: Path, text: str, problem: str) -> None:
    good = kline_path(tmp_path, "GOODUSDT", "1d", "2024-01", "csv")
    write_file(good, kline_rows(1, JAN1, 3, "1d"), None)
    bad = kline_path(tmp_path, "ZUSDT", "1d", "2024-01", "csv")
    bad.parent.mkdir(parents=True)
    bad.write_text(text)
    with pytest.raises(lf.DataError, match=problem):
        load_um_daily(tmp_path)


def test_unknown_names_and_missing_paths(tmp_path: Path) -> None:
    stray = tmp_path / "notes.csv"
    stray.write_text("a,b\n")
    with pytest.raises(lf.DataError, match=r"unknown layout for .*notes\.csv"):
        load_um_daily(tmp_path)
    with pytest.raises(lf.DataError, match="does not exist"):
        load_um_daily(tmp_path / "nowhere")
    stray.unlink()
    with pytest.raises(lf.DataError, match="no USD-M kline files found"):
        load_um_daily(tmp_path)


@given(
    interval=st.sampled_from(["15m", "1h", "4h"]),
    n_days=st.integers(1, 4),
    start_offset=st.integers(-2, 1),
    daily_files=st.sets(st.integers(0, 3), max_size=4),
    header=st.booleans(),
    funding_hours=st.sampled_from([1, 4, 8]),
    seed=st.integers(0, 10_000),
    shuffle=st.booleans(),
)
def test_any_split_into_files_matches_reference(
    interval: str,
    n_days: int,
    start_offset: int,
    daily_files: set[int],
    header: bool,
    funding_hours: int,
    seed: int,
    shuffle: bool,
) -> None:
    """Bars spread over monthly files plus overlapping daily files, near a month boundary,
    with or without header, rows in or out of time order: the panel equals the reference."""
    rng = random.Random(seed)

    def write(path: Path, rows: list, header: str | None) -> None:
        write_file(path, rng.sample(rows, len(rows)) if shuffle else rows, header)

    start = FEB1 + start_offset * DAY_MS
    per_day = DAY_MS // STEP_MS[interval]
    klines = kline_rows(seed, start, n_days * per_day, interval)
    funding = funding_rows(seed + 1, start, n_days * 24 // funding_hours, funding_hours)
    kline_header = KLINE_HEADER if header else None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for month, lo, hi in (("2024-01", 0, FEB1), ("2024-02", FEB1, 10**15)):
            rows = [r for r in klines if lo <= r[0] < hi]
            if rows:
                write(kline_path(root, "QUSDT", interval, month), rows, kline_header)
            settle = [r for r in funding if lo <= r[0] < hi]
            if settle:
                write(funding_path(root, "QUSDT", month), settle, FUNDING_HEADER)
        for day in sorted(d for d in daily_files if d < n_days):
            first = date(2024, 2, 1) + timedelta(days=start_offset + day)
            rows = klines[day * per_day : (day + 1) * per_day]
            write(kline_path(root, "QUSDT", interval, first.isoformat()), rows, kline_header)
        panel = load_um_daily(root)
    assert panel.height == n_days
    check_symbol(panel, "QUSDT", klines, funding)
