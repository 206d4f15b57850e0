"""`Fetcher`: GETs with retries and backoff over one pooled `httpx.Client`.

httpx is an optional dependency (the ``lazyflow[download]`` extra): `import_httpx`
loads it or says how to install it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from lazyflow.errors import ConfigError

if TYPE_CHECKING:
    import httpx

#: The longest wait between two attempts, in seconds.
MAX_BACKOFF = 30.0
T = TypeVar("T")


def import_httpx(who: str):  # -> the httpx module
    """The httpx module, or a `ConfigError` (for `who`) saying how to install it."""
    try:
        import httpx
    except ImportError:
        raise ConfigError(
            f"{who}: needs the httpx package: pip install 'lazyflow[download]'"
        ) from None
    return httpx


class FetchFailed(Exception):
    """A request that failed for good (retries spent, or a status that is not retried)."""


class Stopped(Exception):
    """The run is being interrupted."""


class Fetcher:
    """GETs with retries and backoff over one pooled `httpx.Client` (thread-safe)."""

    def __init__(
        self, client: httpx.Client, retries: int, backoff: float, stop: threading.Event
    ) -> None:
        """`retries` more attempts after a 5xx, 429, timeout or dropped connection, the
        k-th after backoff x 2^(k-1) s; `stop` set: every call raises `Stopped` soon."""
        self.client, self.httpx = client, import_httpx("Fetcher")
        self.retries, self.backoff, self.stop = retries, backoff, stop

    def get_bytes(self, url: str, params: dict[str, str] | None, limit: int) -> bytes | None:
        """The body of `url` (None on 404); at most `limit` bytes."""

        def read(response: httpx.Response) -> bytes:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise FetchFailed(f"{url}: the answer is larger than {limit:,} bytes")
            return bytes(body)

        return self._get(url, params, read)

    def get_file(self, url: str, path: Path) -> str | None:
        """Stream `url` into `path`; its sha256 hex digest (None on 404)."""

        def write(response: httpx.Response) -> str:
            digest = hashlib.sha256()
            with path.open("wb") as fh:
                for chunk in response.iter_bytes(2**16):
                    if self.stop.is_set():
                        raise Stopped
                    digest.update(chunk)
                    fh.write(chunk)
            return digest.hexdigest()

        return self._get(url, None, write)

    def _get(self, url: str, params, consume: Callable[[httpx.Response], T]) -> T | None:
        """GET `url`: consume(response) on 200, None on 404; 5xx, 429, timeouts and
        connection errors are retried, waiting backoff x 2^k s (or the Retry-After)."""
        problem = ""
        for attempt in range(self.retries + 1):
            wait = min(self.backoff * 2 ** min(attempt, 16), MAX_BACKOFF)  # before the next try
            try:
                if self.stop.is_set():
                    raise Stopped
                with self.client.stream("GET", url, params=params) as response:
                    status = response.status_code
                    if status == 404:
                        return None
                    if status == 200:
                        return consume(response)
                    problem = f"HTTP {status}"
                    if status != 429 and status < 500:
                        raise FetchFailed(f"{url}: {problem}")
                    after = response.headers.get("Retry-After", "")
                    if after.isdigit():
                        wait = min(max(wait, float(after)), MAX_BACKOFF)
            except self.httpx.TimeoutException:
                problem = "timed out"
            except self.httpx.TransportError as e:
                problem = f"connection error ({type(e).__name__}: {e})"
            if attempt < self.retries and self.stop.wait(wait):
                raise Stopped
        raise FetchFailed(f"{url}: {problem} after {self.retries + 1} attempts")
