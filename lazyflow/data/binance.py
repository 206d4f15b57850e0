"""Binance USD-M futures archive (https://data.binance.vision) -> the daily panel.

The archive lays files out as::

    data/futures/um/{daily|monthly}/klines/{SYMBOL}/{interval}/{SYMBOL}-{interval}-{YYYY-MM[-DD]}.zip
    data/futures/um/monthly/fundingRate/{SYMBOL}/{SYMBOL}-fundingRate-{YYYY-MM}.zip

each zip holding one CSV and sitting beside a ``.zip.CHECKSUM`` file
(``sha256sum`` output: hex digest, two spaces, file name).

    panel = load_um_daily("~/binance/data", symbols=["BTCUSDT", "ETHUSDT"])

Times are epoch milliseconds UTC (values >= 1e14 are read as microseconds, the
unit of newer spot files) and must fall in 1970-01-01..2200-12-31
(`lazyflow.data.dates`); a row without a time is an error. When files disagree
on a bar (or a settlement) with the same time, the daily file's row wins over the
monthly file's, and a `ConflictWarning` says how many differed.

Daily bars are UTC days: open = first open, high = max, low = min, close = last
close, volume = sum of volume (base asset), dollar_volume = sum of quote_volume
(USDT). funding_rate is the sum of the day's settlement rates (decimal, whatever
the funding interval), each settlement dated by its calc_time rounded to the
nearest minute (calc_time arrives a few ms late); a day without settlement rows
has a null funding_rate. A sum, high or low with an empty value among the day's rows is
null.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from lazyflow.data.dates import DATE_RANGE, END_EPOCH_MS, INTERVALS, MS_PER_DAY
from lazyflow.data.download import check_symbols
from lazyflow.data.download import download as download  # re-exported: lf.data.binance.download
from lazyflow.data.panel import PANEL_COLUMNS
from lazyflow.errors import ConfigError, DataError
from lazyflow.progress import ProgressFn, check_progress

KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
FUNDING_COLUMNS = ("calc_time", "funding_interval_hours", "last_funding_rate")
# Kline intervals that divide a UTC day, so they resample to daily bars.
KINDS = {"klines": KLINE_COLUMNS, "fundingRate": FUNDING_COLUMNS}

_NAME = re.compile(
    r"(?P<symbol>[A-Za-z0-9_]+)-(?:(?P<funding>fundingRate)|(?P<interval>\d+[smhdwM]))"
    r"-(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.(?:zip|csv)"
)
#: The most bytes the CSV inside one zip may expand to: 40 times the largest USD-M kline
#: file (a month of 1m bars, about 7 MB). A larger member is a `DataError` (a zip bomb).
MAX_CSV_BYTES = 256 * 2**20
_MARKETS = ("um", "cm", "spot", "option")  # data/{spot|futures/um|futures/cm|option}/...
_INTEGER = {"open_time", "close_time", "count", "calc_time", "funding_interval_hours"}
_WHO = "load_um_daily"


class ConflictWarning(UserWarning):
    """Archive files hold different rows for the same bar or settlement (same time)."""


@dataclass(frozen=True)
class ArchiveFile:
    """One archive file (zip or extracted csv): what it holds, for which symbol and interval."""

    path: Path
    kind: str  # "klines" or "fundingRate"
    symbol: str
    interval: str | None  # kline interval ("1h", "1d", ...); None for funding
    period: str  # "YYYY-MM" (a monthly file) or "YYYY-MM-DD" (a daily file)

    @property
    def monthly(self) -> bool:
        return len(self.period) == 7


def find_um_files(paths_or_dir: str | Path | Iterable[str | Path]) -> list[ArchiveFile]:
    """The USD-M kline and funding files named by `paths_or_dir`.

    Each entry is a file (.zip or .csv) or a directory searched recursively
    (any level above ``futures/``). Inside a directory, files of another market
    (spot, futures/cm, option) or another data type (trades, markPriceKlines...)
    in the archive layout are skipped; named files must be USD-M klines or
    fundingRate. A file whose name does not follow the archive's naming raises
    `DataError`. Symbol and interval come from the file name.
    """
    found: dict[Path, ArchiveFile] = {}
    for source in _sources(paths_or_dir):
        if source.is_dir():
            for path in sorted(source.rglob("*")):
                if path.suffix in (".zip", ".csv") and not path.is_dir():
                    if not path.is_file():  # a FIFO or a device would hang or never end
                        raise DataError(f"{_WHO}: {path} is not a regular file")
                    item = _classify(path, skip_foreign=True)
                    if item is not None:
                        found[path] = item
        elif source.is_file():
            found[source] = _classify(source, skip_foreign=False)
        elif source.exists():
            raise DataError(f"{_WHO}: {source} is not a regular file or a folder")
        else:
            raise DataError(f"{_WHO}: {source} does not exist")
    return list(found.values())


def load_um_daily(
    paths_or_dir: str | Path | Iterable[str | Path],
    symbols: str | Sequence[str] | None = None,
    *,
    interval: str | None = None,
    verify_checksums: bool = True,
    progress: ProgressFn | None = None,
) -> pl.DataFrame:
    """Daily panel (PANEL_COLUMNS, sorted by date, symbol) from Binance USD-M archive files.

    `paths_or_dir`: archive root (or any folder above or inside ``futures/um``),
    zip or extracted csv files, or a list of them. `symbols`: keep only these
    (exact names, e.g. "BTCUSDT"); each must have kline files. `interval`: the
    kline interval to use ("1m".."1d"); needed only when a symbol has klines of
    several intervals. Checksums are verified when the ``.CHECKSUM`` file is
    there and `verify_checksums` is true. A bar in both a daily and a monthly
    file (same open_time) counts once; so does a settlement (same calc_time).
    When their values differ, the daily file's row wins and a `ConflictWarning`
    counts the bars and settlements that differed (`_one_row_per_time`).
    Rows come from klines: a day with klines but no settlement has a null
    funding_rate; settlements on days without klines are dropped.

    Files are read one symbol at a time (each file's bytes read eagerly,
    joined, parsed once), so memory holds one symbol's raw rows plus the
    daily panel. Raises `DataError` naming the file for a bad checksum, a
    corrupt, encrypted or oversized zip (`MAX_CSV_BYTES`), a zip without exactly
    one CSV, unknown columns, a row without a time, or a time outside the
    supported dates (`lazyflow.data.dates`). `progress(done, total)` counts the files read.
    """
    check_progress(progress, _WHO)
    if interval is not None and interval not in INTERVALS:
        raise ConfigError(
            f"{_WHO}: interval={interval!r} cannot be resampled to daily bars; "
            f"use one of {', '.join(INTERVALS)}"
        )
    names = check_symbols(symbols, _WHO)
    wanted = None if names is None else set(names)
    if not isinstance(verify_checksums, bool):
        raise ConfigError(
            f"{_WHO}: parameter 'verify_checksums' must be True or False, got {verify_checksums!r}"
        )
    sources = _sources(paths_or_dir)
    groups: dict[str, dict[str, list[ArchiveFile]]] = defaultdict(lambda: defaultdict(list))
    for item in find_um_files(sources):
        if wanted is not None and item.symbol not in wanted:
            continue
        if item.kind == "klines" and interval is not None and item.interval != interval:
            continue
        groups[item.symbol][item.kind].append(item)
    with_klines = sorted(s for s, g in groups.items() if g["klines"])
    if wanted is not None and (missing := wanted.difference(with_klines)):
        raise DataError(
            f"{_WHO}: no kline files for {', '.join(sorted(missing))} in {_describe(sources)}"
            + (f" at interval {interval}" if interval else "")
        )
    if not with_klines:
        raise DataError(f"{_WHO}: no USD-M kline files found in {_describe(sources)}")
    frames, notes = [], []
    total = sum(len(groups[s]["klines"]) + len(groups[s]["fundingRate"]) for s in with_klines)
    done = 0
    for s in with_klines:
        frame, conflicts = _symbol_daily(
            s, groups[s]["klines"], groups[s]["fundingRate"], verify_checksums
        )
        frames.append(frame)
        notes += conflicts
        done += len(groups[s]["klines"]) + len(groups[s]["fundingRate"])
        if progress is not None:
            progress(done, total)
    if notes:
        warnings.warn(
            f"{_WHO}: files disagree on {', '.join(notes)} (same time, different values); "
            "kept the daily file's row over the monthly file's",
            ConflictWarning,
            stacklevel=2,
        )
    return pl.concat(frames).sort("date", "symbol")


def _sources(paths_or_dir: str | Path | Iterable[str | Path]) -> list[Path]:
    """The paths as a list; `ConfigError` unless each is a str or a path."""
    items = [paths_or_dir] if isinstance(paths_or_dir, str | os.PathLike) else paths_or_dir
    if not isinstance(items, Iterable) or isinstance(items, bytes):
        items = [items]
    items = list(items)
    for item in items:
        if not isinstance(item, str | os.PathLike):
            raise ConfigError(
                f"{_WHO}: parameter 'paths_or_dir' must be a path or a list of paths, got {item!r}"
            )
    return [Path(p).expanduser() for p in items]


def _describe(sources: list[Path]) -> str:
    return str(sources[0]) if len(sources) == 1 else f"{len(sources)} paths"


def _classify(path: Path, *, skip_foreign: bool) -> ArchiveFile | None:
    """Parse an archive file name; None for another market's or data type's file in a folder."""
    parts = path.parts
    layout = next(
        (
            i
            for i in reversed(range(1, len(parts) - 2))
            if parts[i] in ("daily", "monthly") and parts[i - 1] in _MARKETS
        ),
        None,
    )
    data_type = None
    if layout is not None:
        market, data_type = parts[layout - 1], parts[layout + 1]
        if market != "um" or data_type not in KINDS:
            if skip_foreign:
                return None
            raise DataError(
                f"{_WHO}: {path} is {market}/{parts[layout]}/{data_type} data; "
                "expected futures/um klines or fundingRate"
            )
    match = _NAME.fullmatch(path.name)
    kind = None if match is None else "fundingRate" if match["funding"] else "klines"
    if match is None or (data_type is not None and kind != data_type):
        raise DataError(
            f"{_WHO}: unknown layout for {path}: expected SYMBOL-INTERVAL-YYYY-MM[-DD] "
            "or SYMBOL-fundingRate-YYYY-MM (.zip or .csv) under klines/ or fundingRate/"
        )
    return ArchiveFile(path, kind, match["symbol"], match["interval"], match["period"])


def _symbol_daily(
    symbol: str,
    klines: list[ArchiveFile],
    funding: list[ArchiveFile],
    verify: bool,
) -> tuple[pl.DataFrame, list[str]]:
    """One symbol's daily bars joined (left) with its daily summed funding, and a note
    per kind of row (bar, settlement) that files disagreed on."""
    intervals = sorted({f.interval for f in klines if f.interval is not None})
    if len(intervals) > 1:
        raise DataError(
            f"{_WHO}: {symbol} has klines at several intervals ({', '.join(intervals)}); "
            "pass interval= to choose one"
        )
    if intervals[0] not in INTERVALS:
        raise DataError(
            f"{_WHO}: {klines[0].path}: {intervals[0]} klines cannot be resampled to daily bars"
        )
    bars, bar_conflicts = _one_row_per_time(
        _read(symbol, "klines", klines, [0, 1, 2, 3, 4, 5, 7], verify)
    )
    rates, rate_conflicts = _one_row_per_time(_read(symbol, "fundingRate", funding, [0, 2], verify))
    # One row per time, sorted: first/last are well defined (groups keep row order).
    # Sums add a day's list in time order: a group_by sum may add its partial sums in
    # another order from one run to the next (last-bit differences, seen in Polars 2.1).
    daily = (
        bars.lazy()
        .group_by(date=_utc_date(pl.col("open_time")))
        .agg(
            open=pl.col("open").first(),
            high=_complete("high").max(),  # unknown when one bar's is: it may be that one
            low=_complete("low").min(),
            close=pl.col("close").last(),
            volume=pl.col("volume"),
            dollar_volume=pl.col("quote_volume"),
        )
        .with_columns(_day_sum("volume"), _day_sum("dollar_volume"))
    )
    daily_funding = (
        rates.lazy()
        # the day of calc_time rounded to the nearest minute (it jitters a few ms late)
        .group_by(date=_utc_date(pl.col("calc_time") + 30_000))
        .agg(funding_rate=pl.col("last_funding_rate"))
        .with_columns(_day_sum("funding_rate"))
    )
    panel = (
        daily.join(daily_funding, on="date", how="left")
        .with_columns(symbol=pl.lit(symbol))
        .select(pl.col(name).cast(dtype) for name, dtype in PANEL_COLUMNS.items())
        .collect()
    )
    notes = [
        f"{n} {what}{'s' * (n > 1)} of {symbol}"
        for n, what in ((bar_conflicts, "bar"), (rate_conflicts, "settlement"))
        if n
    ]
    return panel, notes


def _complete(column: str) -> pl.Expr:
    """In a day's group: `column`, or all null when one of its values is empty."""
    return pl.when(pl.col(column).null_count() == 0).then(pl.col(column))


def _day_sum(column: str) -> pl.Expr:
    """The sum of a day's list of values in `column`, null when one of them is empty: a
    partial sum (or 0 for a day of empty values) would pass for a real figure."""
    values = pl.col(column)
    complete = values.list.drop_nulls().list.len() == values.list.len()
    return pl.when(complete).then(values.list.sum()).alias(column)


def _one_row_per_time(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """`frame` with one row per time (its first column), sorted by time, and how many
    times had rows that differ. Rule: a daily file's row wins over a monthly file's;
    between files of the same kind, the smallest values (an arbitrary but fixed
    choice), so the result never depends on the order of the files."""
    time, values = frame.columns[0], [c for c in frame.columns[1:] if c != "monthly"]
    ordered = frame.sort(time, "monthly", *values, nulls_last=True)
    repeated = ordered.filter(pl.col(time).is_duplicated()).unique([time, *values])
    conflicts = repeated.filter(pl.col(time).is_duplicated())[time].n_unique()
    return ordered.unique(time, keep="first", maintain_order=True).drop("monthly"), conflicts


def _epoch_ms(column: str) -> pl.Expr:
    """Epoch time in ms; values >= 1e14 (year 5138 in ms, 1973 in µs) are µs."""
    t = pl.col(column)
    return pl.when(t >= 10**14).then(t // 1000).otherwise(t)


def _utc_date(ms: pl.Expr) -> pl.Expr:
    return (ms // MS_PER_DAY).cast(pl.Int32).cast(pl.Date)


def _read(
    symbol: str, kind: str, files: list[ArchiveFile], keep: list[int], verify: bool
) -> pl.DataFrame:
    """The data rows of `files` (all of `kind`), times in epoch ms, with a column
    `monthly` (from a monthly file). Daily and monthly files are each joined and parsed
    once; on a failure the files are parsed one by one to name the bad one."""
    columns = KINDS[kind]
    schema = {
        c: pl.Int64 if c in _INTEGER else pl.String if c == "ignore" else pl.Float64
        for c in columns
    }
    bodies = [(f, _data_rows(f.path, _csv_bytes(f.path, verify), columns)) for f in files]
    frames = []
    for monthly in (False, True):
        group = [(f.path, body) for f, body in bodies if f.monthly is monthly]
        frame = _parse_checked(f"the {kind} of {symbol}", group, schema, keep)
        frames.append(frame.with_columns(monthly=pl.lit(monthly)))
    return pl.concat(frames)


def _parse_checked(
    what: str, group: list[tuple[Path, bytes]], schema: dict[str, pl.DataType], keep: list[int]
) -> pl.DataFrame:
    """Parse the joined `group`, times converted to epoch ms and checked (`_time_problem`)."""
    time = next(iter(schema))
    try:
        frame = _parse(b"".join(body for _, body in group), schema, keep)
        problem = _time_problem(frame, time)
    except pl.exceptions.PolarsError as joined_error:
        problem = f"cannot parse {what}: {joined_error}"
    if problem is None:
        return frame.with_columns(_epoch_ms(time))
    for path, body in group:
        try:
            found = _time_problem(_parse(body, schema, keep), time)
        except pl.exceptions.PolarsError as e:
            raise DataError(f"{_WHO}: cannot parse {path}: {e}") from e
        if found is not None:
            raise DataError(f"{_WHO}: {path}: {found}")
    raise DataError(f"{_WHO}: {problem}")


def _time_problem(frame: pl.DataFrame, time: str) -> str | None:
    """What is wrong with the `time` column (empty, or outside DATE_RANGE), or None."""
    if n := frame[time].null_count():
        return f"{n} row{'s' * (n > 1)} with an empty {time} (every row needs a time)"
    bad = frame.filter(~frame.select(_epoch_ms(time).is_between(0, END_EPOCH_MS - 1))[time])
    if bad.height:
        return (
            f"{time} {bad[time][0]} is outside the supported dates {DATE_RANGE} "
            f"({bad.height} row{'s' * (bad.height > 1)}; times must be epoch milliseconds, "
            "or microseconds from 10^14 up)"
        )
    return None


def _parse(data: bytes, schema: dict[str, pl.DataType], keep: list[int]) -> pl.DataFrame:
    if not data:
        return pl.DataFrame(schema=schema)[:, keep]
    return pl.read_csv(data, has_header=False, schema=schema, columns=keep)


def _csv_bytes(path: Path, verify: bool) -> bytes:
    """The CSV bytes of an extracted file, or of the single CSV inside a zip (checksum first)."""
    if path.suffix == ".csv":
        return path.read_bytes()
    if verify:
        _verify_checksum(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) != 1 or not members[0].filename.endswith(".csv"):
                names = [m.filename for m in members]
                raise DataError(f"{_WHO}: {path} holds {names}; expected exactly one CSV file")
            if members[0].file_size > MAX_CSV_BYTES:
                raise DataError(
                    f"{_WHO}: {path} expands to {members[0].file_size:,} bytes, more than "
                    f"the limit of {MAX_CSV_BYTES:,} (binance.MAX_CSV_BYTES)"
                )
            return archive.read(members[0])
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise DataError(f"{_WHO}: {path} is not a readable zip file ({e})") from e
    except (RuntimeError, NotImplementedError) as e:  # an encrypted member, an unknown method
        raise DataError(f"{_WHO}: {path} cannot be read: {e}") from e


def _verify_checksum(path: Path) -> None:
    """Compare the zip's sha256 with its sibling ``.CHECKSUM`` file, when there is one."""
    checksum = path.with_name(path.name + ".CHECKSUM")
    if not checksum.is_file():
        return
    tokens = checksum.read_text(errors="replace").split()
    expected = tokens[0].lower() if tokens else ""
    if re.fullmatch(r"[0-9a-f]{64}", expected) is None:
        raise DataError(f"{_WHO}: {checksum} does not start with a sha256 hex digest")
    with path.open("rb") as fh:
        actual = hashlib.file_digest(fh, "sha256").hexdigest()
    if actual != expected:
        raise DataError(
            f"{_WHO}: checksum mismatch for {path}: its sha256 is {actual}, "
            f"{checksum.name} says {expected} (re-download the file)"
        )


def _data_rows(path: Path, body: bytes, columns: tuple[str, ...]) -> bytes:
    """`body` without its header line (if any), ending in a newline; checks the column layout."""
    body = body.removeprefix(b"\xef\xbb\xbf")
    end = body.find(b"\n")
    first = body if end < 0 else body[:end]
    fields = [f.strip() for f in first.decode("utf-8", "replace").strip().split(",")]
    if fields == [""]:
        return b""
    try:
        float(fields[0])
    except ValueError:
        if tuple(fields) != columns:
            raise DataError(
                f"{_WHO}: unknown columns in {path}: {', '.join(fields)}; "
                f"expected {', '.join(columns)}"
            ) from None
        body = b"" if end < 0 else body[end + 1 :]
    else:
        if len(fields) != len(columns):
            raise DataError(
                f"{_WHO}: {path} has {len(fields)} columns, expected {len(columns)} "
                f"({', '.join(columns)})"
            )
    return body if not body or body.endswith(b"\n") else body + b"\n"
