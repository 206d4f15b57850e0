"""`download`: the Binance USD-M archive's klines and funding files, with their checksums,
into the archive's own folder layout, so `load_um_daily(out)` reads the result as it is.

    summary = lf.data.binance.download("data/binance", start="2020-01")

What is fetched comes from the bucket's listing (S3 ListObjectsV2 XML, followed
through its continuation tokens), so delisted symbols are included: by default
every USDT-margined perpetual (``[A-Z0-9]+USDT``; delivery contracts
``BTCUSDT_240329`` and other margins are left out). Complete months come as
monthly files; the current month (and a complete month whose monthly file is not
published yet) as daily files, up to the last complete UTC day. Funding files are
monthly only in the archive, so the current month's days have a null
funding_rate until its monthly file appears.

Each file is written to ``NAME.part``, its sha256 checked against the
``.CHECKSUM`` file, then renamed, and stamped with the listing's LastModified:
a later run skips a file whose size and time match the listing and fetches one
Binance republished. 5xx, 429, timeouts and dropped connections are retried
with exponential backoff; a 404 is counted as missing; a checksum mismatch is
fetched once more, then reported as failed. HTTP goes through `httpx` (the
``lazyflow[download]`` extra): one pooled client keeps ``jobs`` connections
alive across thousands of small files, with connect/read timeouts per request.
"""

from __future__ import annotations

import math
import os
import re
import threading
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

from lazyflow.data.dates import INTERVALS
from lazyflow.data.fetch import Fetcher, FetchFailed, import_httpx
from lazyflow.errors import ConfigError, DataError
from lazyflow.progress import Progress
from lazyflow.version import __version__

DEFAULT_BASE_URL = "https://data.binance.vision"
#: The bucket behind DEFAULT_BASE_URL; its ListObjectsV2 answers the listing.
DEFAULT_LIST_URL = "https://s3-ap-northeast-1.amazonaws.com/data.binance.vision"
UM = "data/futures/um"
#: A USDT-margined perpetual's symbol (no delivery date suffix, USDT margin).
PERPETUAL = re.compile(r"[A-Z0-9]+USDT")
_SYMBOL = re.compile(r"[A-Z0-9_]+")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
# Only keys of this shape are written (so a listing cannot name a path outside --out).
_KEY = re.compile(
    rf"{UM}/(?:monthly|daily)/(?:klines/{_SYMBOL.pattern}/\w+|fundingRate/{_SYMBOL.pattern})/"
    rf"{_SYMBOL.pattern}-\w+-(?P<period>\d{{4}}-\d{{2}}(?:-\d{{2}})?)\.zip"
)
_MAX_CHECKSUM_BYTES = 4096
_MAX_LISTING_BYTES = 64 * 2**20
_WHO = "download"
T = TypeVar("T")


@dataclass(frozen=True)
class Remote:
    """One archive file in the listing: its key, size in bytes, LastModified (epoch s)."""

    key: str
    size: int
    modified: float


@dataclass
class DownloadSummary:
    """What a run did, per data file (a zip with its ``.CHECKSUM``), by key."""

    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already up to date
    missing: dict[str, str] = field(default_factory=dict)  # key -> why (404, no checksum)
    failed: dict[str, str] = field(default_factory=dict)  # key -> what went wrong
    bytes_fetched: int = 0

    def __str__(self) -> str:
        return (
            f"fetched {len(self.fetched):,} files ({self.bytes_fetched / 1e6:,.1f} MB), "
            f"skipped {len(self.skipped):,} up to date, missing {len(self.missing):,}, "
            f"failed {len(self.failed):,}"
        )


def download(
    out: str | Path,
    symbols: str | Iterable[str] | None = None,
    *,
    start: str | None = None,
    end: str | None = None,
    interval: str = "1d",
    jobs: int = 8,
    base_url: str = DEFAULT_BASE_URL,
    list_url: str | None = None,
    timeout: float = 30.0,
    retries: int = 4,
    backoff: float = 1.0,
    progress: bool | None = None,
    today: date | None = None,
) -> DownloadSummary:
    """Fetch what `out` lacks of the archive's USD-M klines (`interval`) and funding files.

    `symbols`: exact names (default: every USDT perpetual in the listing).
    `start`, `end`: "YYYY-MM", inclusive (default: all months, up to the last
    complete UTC day before `today`, which defaults to the current UTC date).
    `jobs` files at a time. `base_url` serves the files (a mirror or test server
    can stand in); `list_url` answers the listing (default: the S3 bucket for
    the public archive, else `base_url`). `timeout` seconds per connect or read;
    `retries` more attempts after a 5xx, 429 or timeout, waiting `backoff` x 2^k
    seconds (at most 30). `progress`: bars on stderr (None: when a terminal).
    """
    httpx = import_httpx(_WHO)
    if interval not in INTERVALS:
        raise ConfigError(f"{_WHO}: interval={interval!r}; use one of {', '.join(INTERVALS)}")
    wanted = check_symbols(symbols, _WHO)
    _check_options(out=out, jobs=jobs, retries=retries, timeout=timeout, backoff=backoff)
    if today is not None and not isinstance(today, date):
        raise ConfigError(f"{_WHO}: parameter 'today' must be a date or None, got {today!r}")
    last_day = (today or datetime.now(UTC).date()) - timedelta(days=1)
    first, last = _month_range(start, end, last_day)
    root = Path(out).expanduser()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{_WHO}: parameter 'out': {root} exists and is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    list_url = list_url or (DEFAULT_LIST_URL if base_url == DEFAULT_BASE_URL else base_url)
    stop = threading.Event()
    client = httpx.Client(
        timeout=timeout,
        limits=httpx.Limits(max_connections=jobs, max_keepalive_connections=jobs),
        follow_redirects=True,
        headers={"User-Agent": f"lazyflow/{__version__}"},
    )
    http = Fetcher(client, retries, backoff, stop)
    with client, ThreadPoolExecutor(jobs) as pool:
        try:
            if wanted is None:
                wanted = _perpetuals(http, list_url)
            plans = _run(
                pool,
                [partial(_symbol_files, http, list_url, s, interval, first, last, last_day)
                 for s in wanted],
                Progress(f"listing {len(wanted):,} symbols", enabled=progress),
            )  # fmt: skip
            unknown = [
                s for s, (_, has_klines) in zip(wanted, plans, strict=True) if not has_klines
            ]
            if unknown and symbols is not None:  # a name asked for, not one discovered
                raise DataError(
                    f"{_WHO}: no {interval} klines for {', '.join(unknown)} in the archive listing"
                )
            pairs = [pair for plan, _ in plans for pair in plan]
            outcomes = _run(
                pool,
                [partial(_fetch, http, base_url, root, pair) for pair in pairs],
                Progress(f"downloading {len(pairs):,} files", enabled=progress),
            )
        except BaseException:  # an interrupt or an error: stop the other workers
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    summary = DownloadSummary()
    for (remote, _), (outcome, detail, size) in zip(pairs, outcomes, strict=True):
        summary.bytes_fetched += size
        if outcome == "fetched":
            summary.fetched.append(remote.key)
        elif outcome == "skipped":
            summary.skipped.append(remote.key)
        elif outcome == "missing":
            summary.missing[remote.key] = detail
        else:
            summary.failed[remote.key] = detail
    return summary


def _check_options(
    out: object, jobs: object, retries: object, timeout: object, backoff: object
) -> None:
    """`ConfigError` naming the first bad option: `out` a path, `jobs` an integer >= 1,
    `retries` an integer >= 0, `timeout` a finite number of seconds > 0, `backoff` >= 0."""
    if not isinstance(out, str | os.PathLike):
        raise ConfigError(f"{_WHO}: parameter 'out' must be a folder path, got {out!r}")
    for name, value, low in (("jobs", jobs, 1), ("retries", retries, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(
                f"{_WHO}: parameter '{name}' must be an integer >= {low}, got {value!r}"
            )
    for name, value, positive in (("timeout", timeout, True), ("backoff", backoff, False)):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and (value > 0 if positive else value >= 0)):
            rule = "> 0" if positive else ">= 0"
            raise ConfigError(
                f"{_WHO}: parameter '{name}' must be a finite number of seconds {rule}, "
                f"got {value!r}"
            )


def check_symbols(symbols: object, who: str) -> list[str] | None:
    """`symbols` (None, one name or a list of names) as sorted distinct archive symbols, or a
    `ConfigError` for `who` naming the parameter."""
    if symbols is None:
        return None
    if isinstance(symbols, str):
        names = [symbols]
    elif isinstance(symbols, Iterable) and not isinstance(symbols, bytes):
        names = list(symbols)
    else:
        raise ConfigError(
            f"{who}: parameter 'symbols' must be None, a symbol or a list of them, got {symbols!r}"
        )
    if not names:
        raise ConfigError(f"{who}: parameter 'symbols' is empty; pass None for every symbol")
    for name in names:
        if not isinstance(name, str) or _SYMBOL.fullmatch(name) is None:
            raise ConfigError(
                f"{who}: parameter 'symbols': {name!r} is not an archive symbol (A-Z, 0-9, _; "
                "e.g. BTCUSDT)"
            )
    return sorted(set(names))


def _month_range(start: str | None, end: str | None, last_day: date) -> tuple[str, str]:
    """The first and last "YYYY-MM" to fetch, checked; the last at most last_day's month."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and (not isinstance(value, str) or not _MONTH.fullmatch(value)):
            raise ConfigError(f"{_WHO}: {name}={value!r}; expected a month as YYYY-MM")
    first, last = start or "0000-01", min(end or "9999-12", f"{last_day:%Y-%m}")
    if first > last:
        raise ConfigError(
            f"{_WHO}: start={first} is after end={last} (data ends on the last complete UTC "
            f"day, {last_day})"
        )
    return first, last


def _run(pool: ThreadPoolExecutor, tasks: list[Callable[[], T]], bar: Progress) -> list[T]:
    """Run `tasks` on `pool`, results in task order; the bar counts them as they finish."""
    futures = {pool.submit(task): i for i, task in enumerate(tasks)}
    results: list = [None] * len(tasks)
    bar(0, len(tasks))
    for done, future in enumerate(as_completed(futures), start=1):
        results[futures[future]] = future.result()
        bar(done, len(tasks))
    bar.close()
    return results


def _perpetuals(http: Fetcher, list_url: str) -> list[str]:
    """Every USDT perpetual with monthly or daily klines in the listing (delisted included)."""
    names: set[str] = set()
    for freq in ("monthly", "daily"):
        prefix = f"{UM}/{freq}/klines/"
        folders, _ = _list(http, list_url, prefix)
        names.update(f.removeprefix(prefix).rstrip("/") for f in folders)
    return sorted(n for n in names if PERPETUAL.fullmatch(n))


def _symbol_files(
    http: Fetcher, list_url: str, symbol: str, interval: str, first: str, last: str, last_day: date
) -> tuple[list[tuple[Remote, Remote | None]], bool]:
    """The (zip, its checksum) pairs of `symbol` to have, and whether it has klines at all.

    Monthly klines and funding for the complete months in [first, last]; daily
    klines up to `last_day` for its month when that month is not complete, and
    for the last complete month when its monthly file is not published yet."""
    klines = _list(http, list_url, f"{UM}/monthly/klines/{symbol}/{interval}/")[1]
    funding = _list(http, list_url, f"{UM}/monthly/fundingRate/{symbol}/")[1]
    current = f"{last_day:%Y-%m}"
    if (last_day + timedelta(days=1)).day == 1:
        complete, running = current, set()
    else:
        complete, running = f"{last_day.replace(day=1) - timedelta(days=1):%Y-%m}", {current}
    published = {_period(r.key) for r in klines}
    late = {complete} - published
    daily_months = sorted(m for m in running | late if first <= m <= last)
    daily = [
        remote
        for month in daily_months
        for remote in _list(
            http, list_url, f"{UM}/daily/klines/{symbol}/{interval}/{symbol}-{interval}-{month}-"
        )[1]
    ]
    listed = {r.key: r for r in (*klines, *funding, *daily)}
    pairs = []
    for remote in listed.values():
        period = _period(remote.key)
        if period is None:
            continue
        if len(period) == 7 and not first <= period <= min(last, complete):
            continue
        if len(period) == 10 and (period[:7] not in daily_months or period > f"{last_day}"):
            continue
        pairs.append((remote, listed.get(remote.key + ".CHECKSUM")))
    return sorted(pairs, key=lambda p: p[0].key), bool(klines or daily)


def _period(key: str) -> str | None:
    """ "YYYY-MM" or "YYYY-MM-DD" of a data zip's key in the archive layout; None otherwise."""
    match = _KEY.fullmatch(key)
    return None if match is None else match["period"]


def _list(http: Fetcher, list_url: str, prefix: str) -> tuple[list[str], list[Remote]]:
    """Folders (CommonPrefixes) and files directly under `prefix`, every page of them."""
    folders: list[str] = []
    files: list[Remote] = []
    token = None
    while True:
        params = {"list-type": "2", "prefix": prefix, "delimiter": "/"}
        if token is not None:
            params["continuation-token"] = token
        try:
            body = http.get_bytes(list_url, params, _MAX_LISTING_BYTES)
        except FetchFailed as e:
            raise DataError(f"{_WHO}: cannot list {prefix}: {e}") from e
        if body is None:
            raise DataError(f"{_WHO}: the listing {list_url} answered 404 for prefix {prefix}")
        try:
            page = ElementTree.fromstring(body)
            for node in page:
                tag = node.tag.rpartition("}")[2]
                if tag == "CommonPrefixes":
                    folders.append(_text(node, "Prefix"))
                elif tag == "Contents":
                    stamp = _text(node, "LastModified").replace("Z", "+00:00")
                    modified = datetime.fromisoformat(stamp).timestamp()
                    files.append(Remote(_text(node, "Key"), int(_text(node, "Size")), modified))
        except (ElementTree.ParseError, ValueError) as e:
            raise DataError(
                f"{_WHO}: the listing {list_url} is not S3 ListObjectsV2 XML ({e})"
            ) from e
        truncated = next((n.text for n in page if n.tag.endswith("IsTruncated")), "false")
        if truncated != "true":
            return folders, files
        token = next((n.text for n in page if n.tag.endswith("NextContinuationToken")), None)
        if not token:
            raise DataError(
                f"{_WHO}: the listing {list_url} is truncated without a continuation token"
            )


def _text(node: ElementTree.Element, tag: str) -> str:
    child = next((c for c in node if c.tag.rpartition("}")[2] == tag), None)
    if child is None or child.text is None:
        raise DataError(f"{_WHO}: a listing entry has no <{tag}>")
    return child.text


def _fetch(
    http: Fetcher, base_url: str, root: Path, pair: tuple[Remote, Remote | None]
) -> tuple[str, str, int]:
    """Bring one zip and its checksum up to date: (outcome, detail, bytes fetched), with
    outcome "fetched", "skipped", "missing" or "failed"."""
    remote, checksum = pair
    path = root / remote.key
    if checksum is None:
        return "missing", "no .CHECKSUM file in the listing", 0
    checksum_path = path.with_name(path.name + ".CHECKSUM")
    if _up_to_date(path, remote) and _up_to_date(checksum_path, checksum):
        return "skipped", "", 0
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    url = f"{base_url.rstrip('/')}/{remote.key}"
    size, problem = 0, ""
    try:
        for _ in range(2):  # a checksum mismatch is fetched once more
            text = http.get_bytes(url + ".CHECKSUM", None, _MAX_CHECKSUM_BYTES)
            if text is None:
                return "missing", "HTTP 404 for its .CHECKSUM", size
            expected = (text.split() or [b""])[0].decode("ascii", "replace").lower()
            if re.fullmatch(r"[0-9a-f]{64}", expected) is None:
                return "failed", f"{url}.CHECKSUM does not start with a sha256 digest", size
            digest = http.get_file(url, part)
            if digest is None:
                return "missing", "HTTP 404", size
            size += part.stat().st_size
            if digest == expected:
                _settle(part, path, remote.modified)
                checksum_part = checksum_path.with_name(checksum_path.name + ".part")
                checksum_part.write_bytes(text)
                _settle(checksum_part, checksum_path, checksum.modified)
                return "fetched", "", size
            problem = f"checksum mismatch: sha256 {digest}, .CHECKSUM says {expected}"
        return "failed", f"{problem} (fetched twice)", size
    except FetchFailed as e:
        return "failed", str(e), size
    finally:
        part.unlink(missing_ok=True)


def _up_to_date(path: Path, remote: Remote) -> bool:
    """`path` has the listed size and is at least as new as the listed LastModified."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    # to the second: some file systems keep whole seconds, the listing has milliseconds
    return stat.st_size == remote.size and stat.st_mtime >= math.floor(remote.modified)


def _settle(part: Path, path: Path, modified: float) -> None:
    """Stamp `part` with the listing's LastModified and move it into place."""
    os.utime(part, (modified, modified))
    os.replace(part, path)
