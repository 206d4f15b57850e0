"""load_um_daily on hostile or ambiguous archive files (issue 14, classes 5, 7 and 8):
times outside the supported dates, encrypted / unsupported / oversized zips, and files
that disagree on a bar."""

from __future__ import annotations

import warnings
import zipfile
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from binance_fixtures import (
    FUNDING_HEADER,
    KLINE_HEADER,
    epoch_ms,
    funding_path,
    funding_rows,
    kline_path,
    kline_rows,
    write_file,
)

import lazyflow as lf
from lazyflow.data import binance
from lazyflow.data.binance import ConflictWarning, load_um_daily
from lazyflow.data.dates import DATE_RANGE, END_EPOCH_MS, FIRST_DATE, LAST_DATE

JAN1 = epoch_ms(date(2024, 1, 1))


# --- class 5: times outside 1970-01-01..2200-12-31, or in the wrong unit ----------------


def test_supported_range_is_one_constant() -> None:
    assert (date(1970, 1, 1), date(2200, 12, 31)) == (FIRST_DATE, LAST_DATE)
    assert DATE_RANGE == "1970-01-01..2200-12-31"
    assert epoch_ms(date(2201, 1, 1)) == END_EPOCH_MS


@pytest.mark.parametrize(
    ("kind", "scale", "shift", "column"),
    [
        ("klines", 1_000_000, 0, "open_time"),  # nanoseconds read as milliseconds (the example)
        ("klines", 1, epoch_ms(date(2300, 1, 1)) - JAN1, "open_time"),  # year 2300 in ms
        ("klines", 1, -JAN1 - 86_400_000, "open_time"),  # before 1970
        ("fundingRate", 1_000_000, 0, "calc_time"),  # nanosecond settlements
        ("klines", 1, END_EPOCH_MS - JAN1, "open_time"),  # the first instant after 2200
    ],
)
def test_times_outside_the_supported_dates_name_column_and_value(
    tmp_path: Path, kind: str, scale: int, shift: int, column: str
) -> None:
    klines = kline_rows(1, JAN1, 3, "1d")
    funding = funding_rows(2, JAN1, 9, 8)
    if kind == "klines":
        klines = [((r[0] + shift) * scale, *r[1:]) for r in klines]
        bad = kline_path(tmp_path, "XUSDT", "1d", "2024-01")
    else:
        funding = [((r[0] + shift) * scale, *r[1:]) for r in funding]
        bad = funding_path(tmp_path, "XUSDT", "2024-01")
    write_file(kline_path(tmp_path, "XUSDT", "1d", "2024-01"), klines, KLINE_HEADER)
    write_file(funding_path(tmp_path, "XUSDT", "2024-01"), funding, FUNDING_HEADER)
    value = (klines if kind == "klines" else funding)[0][0]
    with pytest.raises(lf.DataError, match=f"{bad.name}: {column} {value} is outside") as info:
        load_um_daily(tmp_path)
    assert DATE_RANGE in str(info.value)


def test_times_at_the_range_limits_load(tmp_path: Path) -> None:
    last_day = END_EPOCH_MS - 86_400_000
    rows = kline_rows(1, 0, 1, "1d") + kline_rows(2, last_day, 1, "1d")
    write_file(kline_path(tmp_path, "XUSDT", "1d", "1970-01"), rows, None)
    assert load_um_daily(tmp_path)["date"].to_list() == [FIRST_DATE, LAST_DATE]


# --- class 7: encrypted, unsupported and oversized zip members ---------------------------


def patch_zip(path: Path, *, flags: int = 0, method: int | None = None) -> None:
    """Set general-purpose flag bits and/or the compression method in both zip headers."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + offset
        data[at] |= flags
        if method is not None:
            data[at + 2 : at + 4] = method.to_bytes(2, "little")
    path.write_bytes(bytes(data))


def stored_file(path: Path, rows: list[tuple]) -> Path:
    """An archive zip whose CSV is stored (not deflated), without a checksum file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(path.stem + ".csv", "\n".join(",".join(map(str, r)) for r in rows))
    return path


@pytest.mark.parametrize(
    ("kind", "flags", "method", "problem"),
    [
        ("klines", 0x1, None, "encrypted"),  # the example
        ("fundingRate", 0x1, None, "encrypted"),
        ("klines", 0, 9, "compression method is not supported"),  # deflate64 (the example)
        ("klines", 0, 99, "compression method is not supported"),  # AES
        ("fundingRate", 0, 20, "compression method is not supported"),
    ],
)
def test_unreadable_zip_members_name_the_file(
    tmp_path: Path, kind: str, flags: int, method: int | None, problem: str
) -> None:
    write_file(kline_path(tmp_path, "XUSDT", "1d", "2024-01"), kline_rows(1, JAN1, 3, "1d"), None)
    if kind == "klines":
        bad = stored_file(
            kline_path(tmp_path, "YUSDT", "1d", "2024-01"), kline_rows(2, JAN1, 3, "1d")
        )
    else:
        write_file(
            kline_path(tmp_path, "YUSDT", "1d", "2024-01"), kline_rows(2, JAN1, 3, "1d"), None
        )
        bad = stored_file(funding_path(tmp_path, "YUSDT", "2024-01"), funding_rows(3, JAN1, 9, 8))
    patch_zip(bad, flags=flags, method=method)
    with pytest.raises(lf.DataError, match=f"{bad.name} cannot be read: .*{problem}"):
        load_um_daily(tmp_path)
    assert load_um_daily(tmp_path, symbols="XUSDT").height == 3


def test_zip_bomb_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A member that expands beyond MAX_CSV_BYTES is refused before it is read: a deflated
    run of zeros (1000:1), a member just over the limit, and the default limit's size."""
    assert binance.MAX_CSV_BYTES == 256 * 2**20
    monkeypatch.setattr(binance, "MAX_CSV_BYTES", 100_000)
    bomb = kline_path(tmp_path, "BOMBUSDT", "1d", "2024-01")
    bomb.parent.mkdir(parents=True)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(bomb.stem + ".csv", b"0" * 10_000_000)
    assert bomb.stat().st_size < 100_000
    with pytest.raises(lf.DataError, match=f"{bomb.name} expands to 10,000,000 bytes, more"):
        load_um_daily(tmp_path)
    rows = kline_rows(1, JAN1, 31, "1d")
    size = len(("\n".join(",".join(map(str, r)) for r in rows)).encode())
    stored_file(bomb, rows)
    monkeypatch.setattr(binance, "MAX_CSV_BYTES", size - 1)
    with pytest.raises(lf.DataError, match=f"expands to {size:,} bytes, more than the limit"):
        load_um_daily(tmp_path)
    monkeypatch.setattr(binance, "MAX_CSV_BYTES", size)  # exactly at the limit: fine
    assert load_um_daily(tmp_path).height == 31


# --- class 8: files that disagree on a bar; rows without a time ---------------------------


def conflicting_archive(root: Path) -> tuple[Path, Path, list[tuple], list[tuple]]:
    """XUSDT 1h: a monthly January file, and a daily Jan 10 file whose bars 3 and 7 differ."""
    monthly_rows = kline_rows(1, JAN1, 31 * 24, "1h")
    day = monthly_rows[9 * 24 : 10 * 24]
    daily_rows = [(r[0], r[1], r[2] * 1.5, *r[3:]) if i in (3, 7) else r for i, r in enumerate(day)]
    monthly = write_file(kline_path(root, "XUSDT", "1h", "2024-01"), monthly_rows, KLINE_HEADER)
    daily = write_file(kline_path(root, "XUSDT", "1h", "2024-01-10"), daily_rows, KLINE_HEADER)
    return monthly, daily, monthly_rows, daily_rows


def load_warning(paths) -> tuple[pl.DataFrame, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        panel = load_um_daily(paths)
    return panel, [str(w.message) for w in caught if w.category is ConflictWarning]


def test_daily_file_wins_whatever_the_argument_order(tmp_path: Path) -> None:
    monthly, daily, _, daily_rows = conflicting_archive(tmp_path)
    first, notes = load_warning([monthly, daily])
    second, notes_reversed = load_warning([daily, monthly])
    assert first.equals(second)
    assert notes == notes_reversed and len(notes) == 1
    # the same bits on every load (day sums do not depend on Polars' thread scheduling)
    assert all(load_warning([daily, monthly])[0].equals(first) for _ in range(10))
    assert "2 bars of XUSDT" in notes[0] and "kept the daily file's row" in notes[0]
    jan10 = first.filter(pl.col("date") == date(2024, 1, 10))
    assert jan10["high"].item() == max(r[2] for r in daily_rows)
    # without the daily file: the monthly bars, and no warning
    alone, none = load_warning([monthly])
    assert not none and alone["high"].to_list()[9] < jan10["high"].item()


def test_same_kind_duplicates_are_order_independent_and_counted(tmp_path: Path) -> None:
    """A zip and an extracted CSV of the same month that differ: the result does not
    depend on which is listed first, and the differing bars are counted."""
    monthly, _, rows, _ = conflicting_archive(tmp_path / "a")
    changed = [
        (r[0], r[1], r[2], r[3], r[4] * 1.02, *r[5:]) if i < 5 else r for i, r in enumerate(rows)
    ]
    csv = write_file(kline_path(tmp_path / "b", "XUSDT", "1h", "2024-01", "csv"), changed, None)
    first, notes = load_warning([monthly, csv])
    second, _ = load_warning([csv, monthly])
    assert first.equals(second)
    assert "5 bars of XUSDT" in notes[0]


def test_funding_settlements_that_disagree(tmp_path: Path) -> None:
    write_file(kline_path(tmp_path, "XUSDT", "1d", "2024-01"), kline_rows(1, JAN1, 31, "1d"), None)
    rows = funding_rows(2, JAN1, 93, 8, jitter_ms=0)
    write_file(funding_path(tmp_path, "XUSDT", "2024-01"), rows, FUNDING_HEADER)
    day = [(t, h, rate + 1e-3) for t, h, rate in rows[3:6]]  # Jan 2, every settlement differs
    write_file(funding_path(tmp_path, "XUSDT", "2024-01-02"), day, FUNDING_HEADER)
    panel, notes = load_warning(tmp_path)
    assert notes and "3 settlements of XUSDT" in notes[0]
    jan2 = panel.filter(pl.col("date") == date(2024, 1, 2))["funding_rate"].item()
    assert jan2 == pytest.approx(sum(r[2] for r in day), rel=1e-12)


@pytest.mark.parametrize(
    ("kind", "column", "where"),
    [
        ("klines", "open_time", "monthly"),  # the example
        ("klines", "open_time", "daily"),
        ("fundingRate", "calc_time", "monthly"),
    ],
)
def test_rows_without_a_time_raise(tmp_path: Path, kind: str, column: str, where: str) -> None:
    klines = kline_rows(1, JAN1, 31, "1d")
    funding = funding_rows(2, JAN1, 93, 8)
    write_file(kline_path(tmp_path, "XUSDT", "1d", "2024-01"), klines, None)
    write_file(funding_path(tmp_path, "XUSDT", "2024-01"), funding, FUNDING_HEADER)
    period = "2024-01" if where == "monthly" else "2024-01-05"
    if kind == "klines":
        rows = (klines if where == "monthly" else klines[4:5]) + [("", *klines[0][1:])] * 2
        bad = write_file(kline_path(tmp_path, "XUSDT", "1d", period), rows, KLINE_HEADER)
    else:
        rows = [*funding, ("", 8, 1e-4), ("", 8, 2e-4)]
        bad = write_file(funding_path(tmp_path, "XUSDT", period), rows, FUNDING_HEADER)
    with pytest.raises(lf.DataError, match=f"{bad.name}: 2 rows with an empty {column}"):
        load_um_daily(tmp_path)


def test_only_regular_files_and_folders(tmp_path: Path) -> None:
    """/dev/zero would read for ever and a FIFO would hang: both are refused up front,
    named directly or found in a folder."""
    import os

    fifo = tmp_path / "fifo" / kline_path(Path(), "XUSDT", "1d", "2024-01")
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    for path in (Path("/dev/zero"), fifo):
        with pytest.raises(lf.DataError, match=f"{path} is not a regular file or a folder"):
            load_um_daily(path)
    with pytest.raises(lf.DataError, match=f"{fifo.name} is not a regular file"):
        load_um_daily(tmp_path / "fifo")


@pytest.mark.parametrize(
    ("kind", "column", "position"),
    [
        ("fundingRate", "funding_rate", 2),
        ("klines", "volume", 5),
        ("klines", "dollar_volume", 7),
        ("klines", "high", 2),
        ("klines", "low", 3),
    ],
)
def test_an_empty_value_makes_the_days_sum_missing_not_smaller(
    tmp_path: Path, kind: str, column: str, position: int
) -> None:
    """A day's sum (funding_rate, volume, dollar_volume), high or low with an empty value among
    its rows is null: a partial sum (0 for a day of empty values) or the extreme of the other
    bars would pass for a real number."""
    klines = kline_rows(1, JAN1, 48, "1h")
    rates = funding_rows(2, JAN1, 6, 8)
    rows = klines if kind == "klines" else rates
    # day 1: one empty value among its rows; day 2: klines two, funding every one
    for i in (3, 30, 31) if kind == "klines" else (1, 3, 4, 5):
        rows[i] = (*rows[i][:position], "", *rows[i][position + 1 :])
    write_file(kline_path(tmp_path, "AUSDT", "1h", "2024-01"), klines, KLINE_HEADER)
    write_file(funding_path(tmp_path, "AUSDT", "2024-01"), rates, FUNDING_HEADER)
    panel = load_um_daily(tmp_path)
    assert panel.height == 2
    assert panel[column].to_list() == [None, None]


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"symbols": [5]}, "symbols"),
        ({"symbols": 5}, "symbols"),
        ({"symbols": b"AUSDT"}, "symbols"),
        ({"symbols": ["AUSDT", None]}, "symbols"),
        ({"verify_checksums": "no"}, "verify_checksums"),
        ({"paths_or_dir": None}, "paths_or_dir"),
        ({"paths_or_dir": 5}, "paths_or_dir"),
    ],
)
def test_wrong_argument_types_are_config_errors(tmp_path: Path, kwargs: dict, parameter: str):
    """Not a TypeError from deep inside, and never a truthy string read as True."""
    write_file(kline_path(tmp_path, "AUSDT", "1d", "2024-01"), kline_rows(1, JAN1, 3, "1d"), None)
    with pytest.raises(lf.ConfigError, match=f"load_um_daily: parameter '{parameter}'"):
        load_um_daily(**{"paths_or_dir": tmp_path, **kwargs})
