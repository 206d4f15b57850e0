"""Small Binance USD-M archive files written in the exact archive format, plus plain-python
reference aggregations (independent of lazyflow) to check the loader against."""

from __future__ import annotations

import hashlib
import random
import zipfile
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
STEP_MS = {"15m": HOUR_MS // 4, "1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS}


def epoch_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def kline_rows(seed: int, start_ms: int, n: int, interval: str) -> list[tuple]:
    """`n` consecutive bars of `interval` from `start_ms`: a random walk with realistic fields."""
    rng = random.Random(seed)
    step = STEP_MS[interval]
    rows, price = [], 100.0 * (1 + rng.random())
    for i in range(n):
        t = start_ms + i * step
        close = price * (1 + rng.gauss(0, 0.01))
        high = max(price, close) * (1 + rng.random() * 0.005)
        low = min(price, close) * (1 - rng.random() * 0.005)
        volume = round(rng.uniform(1, 1000), 3)
        quote = volume * (high + low) / 2
        rows.append(
            (t, price, high, low, close, volume, t + step - 1, quote, rng.randint(1, 500),
             volume / 2, quote / 2, 0)
        )  # fmt: skip
        price = close
    return rows


def funding_rows(
    seed: int, start_ms: int, n: int, interval_hours: int, jitter_ms: int = 5
) -> list[tuple]:
    """`n` settlements every `interval_hours` from `start_ms`, each calc_time 0..jitter ms late."""
    rng = random.Random(seed)
    step = interval_hours * HOUR_MS
    return [
        (start_ms + i * step + rng.randint(0, jitter_ms), interval_hours, rng.gauss(1e-4, 3e-4))
        for i in range(n)
    ]


def csv_text(rows: list[tuple], header: str | None) -> str:
    lines = [",".join(map(str, row)) for row in rows]
    return "\n".join(([header] if header else []) + lines) + "\n"


def write_file(path: Path, rows: list[tuple], header: str | None, *, checksum: bool = True) -> Path:
    """Write `rows` as the archive does: a zip holding one CSV plus a .CHECKSUM, or a bare .csv."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = csv_text(rows, header)
    if path.suffix == ".csv":
        path.write_text(text)
        return path
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(path.stem + ".csv", text)
    if checksum:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
    return path


def kline_path(root: Path, symbol: str, interval: str, period: str, ext: str = "zip") -> Path:
    """data/futures/um/{daily|monthly}/klines/SYMBOL/INTERVAL/SYMBOL-INTERVAL-PERIOD.zip"""
    freq = "daily" if len(period) == 10 else "monthly"
    folder = root / "data" / "futures" / "um" / freq / "klines" / symbol / interval
    return folder / f"{symbol}-{interval}-{period}.{ext}"


def funding_path(root: Path, symbol: str, period: str, ext: str = "zip") -> Path:
    folder = root / "data" / "futures" / "um" / "monthly" / "fundingRate" / symbol
    return folder / f"{symbol}-fundingRate-{period}.{ext}"


def utc_day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date()


def reference_bars(rows: list[tuple]) -> dict[date, dict[str, float]]:
    """Daily bars by plain python: first open, max high, min low, last close, summed volumes."""
    by_time = {row[0]: row for row in rows}  # one bar per open_time
    days: dict[date, list[tuple]] = defaultdict(list)
    for t in sorted(by_time):
        days[utc_day(t)].append(by_time[t])
    return {
        d: {
            "open": bars[0][1],
            "high": max(b[2] for b in bars),
            "low": min(b[3] for b in bars),
            "close": bars[-1][4],
            "volume": sum(b[5] for b in bars),
            "dollar_volume": sum(b[7] for b in bars),
        }
        for d, bars in days.items()
    }


def reference_funding(rows: list[tuple]) -> dict[date, float]:
    """Sum of each UTC day's settlement rates, calc_time taken to the nearest second."""
    by_time = {row[0]: row for row in rows}
    out: dict[date, float] = defaultdict(float)
    for t, row in by_time.items():
        out[utc_day(round(t / 1000) * 1000)] += row[2]
    return dict(out)


class ArchiveServer:
    """A miniature data.binance.vision on 127.0.0.1 (a threaded http.server): files of a
    folder written with `write_file`, and the bucket's ListObjectsV2 listing at ``/``,
    `page_size` entries per page (continuation tokens). Faults, by key: `absent` keys
    are listed but answer 404; `errors[key]` is a list of statuses answered (and
    consumed) before the file; `stall` keys send half the file, then hang until the
    client gives up. `requests` logs every path asked for."""

    def __init__(self, folder: Path, page_size: int = 3) -> None:
        import threading
        from http.server import ThreadingHTTPServer

        self.folder, self.page_size = folder, page_size
        self.absent: set[str] = set()
        self.errors: dict[str, list[int]] = {}
        self.stall: set[str] = set()
        self.modified: dict[str, datetime] = {}
        self.requests: list[str] = []
        self.released = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def archive_keys(self) -> list[str]:
        return sorted(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*.zip*"))

    def last_modified(self, key: str) -> datetime:
        return self.modified.get(key, datetime(2024, 1, 1, tzinfo=UTC))

    def file_requests(self) -> list[str]:
        return [r for r in self.requests if not r.startswith("/?")]

    def listing(self, query: dict[str, list[str]]) -> bytes:
        from xml.sax.saxutils import escape

        prefix = query.get("prefix", [""])[0]
        delimiter = query.get("delimiter", [""])[0]
        entries: dict[str, str | None] = {}  # name -> key (a file) or None (a folder)
        for key in self.archive_keys():
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix) :]
            if delimiter and delimiter in rest:
                entries[prefix + rest.split(delimiter)[0] + delimiter] = None
            else:
                entries[key] = key
        names = sorted(entries)
        start = int(query.get("continuation-token", ["0"])[0])
        page = names[start : start + self.page_size]
        more = start + self.page_size < len(names)
        parts = ['<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">']
        parts.append(f"<Name>data.binance.vision</Name><Prefix>{escape(prefix)}</Prefix>")
        parts.append(f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{self.page_size}</MaxKeys>")
        parts.append(f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>")
        if more:
            parts.append(f"<NextContinuationToken>{start + self.page_size}</NextContinuationToken>")
        for name in page:
            if entries[name] is None:
                parts.append(f"<CommonPrefixes><Prefix>{escape(name)}</Prefix></CommonPrefixes>")
            else:
                stamp = self.last_modified(name).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                size = (self.folder / name).stat().st_size
                parts.append(
                    f"<Contents><Key>{escape(name)}</Key><LastModified>{stamp}</LastModified>"
                    f'<ETag>"x"</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass>'
                    "</Contents>"
                )
        parts.append("</ListBucketResult>")
        return "".join(parts).encode()

    def _handler(self):
        from http.server import BaseHTTPRequestHandler
        from urllib.parse import parse_qs, urlsplit

        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server.requests.append(self.path)
                url = urlsplit(self.path)
                key = url.path.lstrip("/")
                if not key and "list-type=2" in url.query:
                    return self._send(200, server.listing(parse_qs(url.query)))
                if server.errors.get(key):
                    return self._send(server.errors[key].pop(0), b"server error")
                path = server.folder / key
                if key in server.absent or not path.is_file():
                    return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")
                body = path.read_bytes()
                if key in server.stall:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    server.released.wait(10)
                    return None
                return self._send(200, body)

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
