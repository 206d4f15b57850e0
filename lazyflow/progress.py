"""A dependency-free progress bar on stderr, drawn only on a terminal.

`Progress` is a callable ``(done, total)`` (the shape of `lf.backtest`'s
``progress=`` hook) that redraws one line in place; `Progress.working` shows an
elapsed-time ticker while a step with no natural counter (a Polars collect, a
large read) runs in the calling thread.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

_SPIN = "|/-\\"


class Progress:
    """One-line progress display for `label`; a no-op when disabled.

    Enabled by default only when `stream` (stderr) is a terminal; pass
    ``enabled=False`` for ``--quiet``. Redraws at most every `interval` seconds.
    """

    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        width: int = 30,
        interval: float = 0.1,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self.interval = interval
        self._start = time.monotonic()
        self._last: float | None = None
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        """Report `done` of `total` units; draws ``label [####....]  45%  450/1000  3.2s``."""
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and self._last is not None and now - self._last < self.interval:
            return
        self._last = now
        frac = min(max(done / total, 0.0), 1.0) if total > 0 else 1.0
        filled = round(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        self._draw(f"{self.label} [{bar}] {frac:4.0%}  {done}/{total}  {now - self._start:.1f}s")

    @contextmanager
    def working(self) -> Iterator[None]:
        """Show ``label | 3.2s`` (a spinner and the elapsed time) until the block ends."""
        if not self.enabled:
            yield
            return
        stop = threading.Event()

        def tick() -> None:
            i = 0
            while not stop.wait(self.interval if i else 0.0):
                self._draw(f"{self.label} {_SPIN[i % 4]} {time.monotonic() - self._start:.1f}s")
                i += 1

        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self._draw(f"{self.label} done in {time.monotonic() - self._start:.1f}s")
            self.close()

    def close(self) -> None:
        """End the line (if anything was drawn)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def _draw(self, line: str) -> None:
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()
        self._drawn = True
