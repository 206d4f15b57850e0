"""A dependency-free progress bar on stderr, drawn only on a terminal.

The one progress API of lazyflow: a long computation takes ``progress=``, any callable
``(done, total)`` (`ProgressFn`; check it with `check_progress`), and calls it as units
finish (dates of `lf.backtest`, configurations of `lf.sweep`, files of a loader). The
library never draws anything itself. `Progress` is the callable the command line passes:
it redraws one line in place, with an estimate of the time left; `Progress.working` shows
an elapsed-time ticker while a step with no natural counter (a Polars collect, a large
read) runs in the calling thread.

Why not rich or tqdm: the library side is a plain callable, so it needs neither; the CLI
side needs one redrawn line on stderr, off when stderr is not a terminal or with --quiet,
which this file does in under a hundred lines, so lazyflow keeps its three core
dependencies. A notebook user can pass ``progress=lambda d, t: bar.update(...)`` of any
library.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from lazyflow.errors import ConfigError

_SPIN = "|/-\\"
#: The shape of every ``progress=`` parameter: called with (units done, units in all).
ProgressFn = Callable[[int, int], None]


def check_progress(progress: Any, caller: str) -> ProgressFn | None:
    """`progress` if it is None or callable, else a `ConfigError` naming `caller`."""
    if progress is not None and not callable(progress):
        raise ConfigError(
            f"{caller}: parameter 'progress' must be None or a callable(done, total), "
            f"got {progress!r}"
        )
    return progress


def format_seconds(seconds: float) -> str:
    """``42s``, ``3m05s`` or ``2h07m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


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
        """Report `done` of `total` units; draws
        ``label [####....]  45%  450/1000  3.2s, about 4s left``."""
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and self._last is not None and now - self._last < self.interval:
            return
        self._last = now
        frac = min(max(done / total, 0.0), 1.0) if total > 0 else 1.0
        filled = round(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = now - self._start
        left = ""
        if 0 < done < total:
            left = f", about {format_seconds(elapsed * (total - done) / done)} left"
        self._draw(f"{self.label} [{bar}] {frac:4.0%}  {done}/{total}  {elapsed:.1f}s{left}")

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
