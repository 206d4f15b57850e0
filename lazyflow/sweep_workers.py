"""The local engine of `lazyflow.sweeps.sweep`: a pool of spawned worker processes that never
hangs. See `sweeps`' module docstring for what it promises.

- The panel goes to the workers through a temporary file, not in the pool's initializer
  arguments: a worker that dies while it starts would otherwise leave the parent blocked
  for ever writing a large process object into the worker's pipe (CPython's spawn writes
  the whole object before it looks at the child).
- Before starting workers, `_why_workers_cannot_start` checks the main module: read from
  stdin, or calling sweep outside ``if __name__ == "__main__":``, it cannot host workers,
  and the sweep runs in process with a one-line `SweepWarning`.
- A worker that runs sweep while it imports the main module stops at once (`sweep` checks
  ``_inheriting``); the parent sees the broken pool and raises a `ConfigError`.
- Workers are spawned with SIGINT ignored, and stopped (terminated) by the parent on any
  error or interrupt, so Ctrl-C prints one line, not a traceback per worker.
"""

from __future__ import annotations

import ast
import multiprocessing
import pickle
import signal
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from lazyflow.errors import ConfigError, collect
from lazyflow.pipeline import Pipeline
from lazyflow.portfolio.allocator import BufferedAllocator
from lazyflow.progress import ProgressFn


class Ticker:
    """Counts finished pipelines and reports the configurations done to `progress`."""

    def __init__(self, progress: ProgressFn | None, n_tasks: int, n_alloc: int):
        self.progress, self.n_alloc, self.total = progress, n_alloc, n_tasks * n_alloc
        self.done = 0
        self(0)

    def __call__(self, finished: int = 1) -> None:
        self.done += finished * self.n_alloc
        if self.progress is not None:
            self.progress(self.done, self.total)


class SweepWarning(UserWarning):
    """`sweep` could not use worker processes and ran in this process."""


def run_local(
    panel: pl.DataFrame | pl.LazyFrame,
    tasks: list[tuple],
    workers: int,
    tick: Ticker,
    evaluate: Callable[..., pl.DataFrame],
) -> list[pl.DataFrame]:
    """`evaluate(panel, *task)` for every task: in this process with one worker, else in a
    pool of `workers` spawned processes (`evaluate` must then be a module-level function: it
    is pickled by reference)."""
    if workers > 1:
        reason = _why_workers_cannot_start()
        if reason is not None:
            message = f"sweep: running in this process, not {workers} workers: {reason}"
            warnings.warn(message, SweepWarning, stacklevel=4)  # user -> sweep -> _sweep -> here
            workers = 1
    if workers == 1:
        results = []
        for task in tasks:
            results.append(evaluate(panel, *task))
            tick()
        return results
    for task in tasks:
        try:  # both ways: an object may pickle and fail only when a worker unpickles it
            pickle.loads(pickle.dumps(task))
        except (pickle.PicklingError, pickle.UnpicklingError, AttributeError, TypeError) as exc:
            raise ConfigError(
                f"sweep: engine='local' sends each pipeline to a worker process, and the "
                f"pipeline {task[0]!r} cannot be pickled ({exc}); use module-level functions "
                "as stages, n_jobs=1 or engine='ray'"
            ) from exc
    with tempfile.TemporaryDirectory(prefix="lazyflow-sweep-") as folder:
        # the panel goes to the workers through a file: a process object as small as this
        # path never fills the pipe that starts a worker, so a worker that dies on start is
        # seen (BrokenProcessPool) instead of blocking the parent's write for ever
        path = Path(folder) / "panel.pickle"
        with path.open("wb") as file:
            pickle.dump(collected(panel), file, protocol=pickle.HIGHEST_PROTOCOL)
        return _pool_run(tasks, workers, str(path), tick, evaluate)


def collected(panel: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The panel as a DataFrame, read once here: workers then get its data, not a plan that
    each would run again (and a file scan's plan may not pickle: `scan_panel` reads CSV
    through a Python IO source, which Polars pickles only with cloudpickle)."""
    return panel if isinstance(panel, pl.DataFrame) else collect(panel, "sweep")


def _pool_run(
    tasks: list[tuple],
    workers: int,
    panel_path: str,
    tick: Ticker,
    evaluate: Callable[..., pl.DataFrame],
) -> list[Any]:
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(panel_path,)
    )
    try:
        with _sigint_ignored():  # the workers start ignoring Ctrl-C (inherited through exec)
            futures = {
                pool.submit(_evaluate_kept, evaluate, *task): i for i, task in enumerate(tasks)
            }
        results: list[Any] = [None] * len(tasks)
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            tick()
    except BrokenProcessPool:
        _stop(pool)
        raise ConfigError(
            "sweep: the worker processes stopped before finishing. Either the main script "
            "calls sweep at its top level (spawned workers import it again): put the call "
            'under `if __name__ == "__main__":`; or a worker was killed (out of memory?). '
            "n_jobs=1 runs everything in this process"
        ) from None
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown()
    return results


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while workers are spawned (main thread only), so that a Ctrl-C while
    they import lazyflow does not print one traceback per worker; the parent handles it."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now (not after their current task)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown drops it
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


def _why_workers_cannot_start() -> str | None:
    """Why spawned workers could not import the main module, or None when they can: it was
    read from stdin, or it calls sweep outside an ``if __name__ == "__main__":`` block (each
    worker would run the sweep again). A main module without a file (an interactive
    session, ``python -c``) is not imported by the workers."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None:
        return None
    if not Path(path).is_file():
        return f"the main script ({path}) is not a file that workers can import"
    frame = sys._getframe(1)
    while frame is not None and not (
        frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"
    ):
        frame = frame.f_back
    if frame is None:  # not called from the main module's top level
        return None
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return None
    line = frame.f_lineno
    for node in ast.walk(tree):
        if _is_main_guard(node) and node.lineno <= line <= (node.end_lineno or node.lineno):
            return None
    return (
        f'{path} calls sweep outside `if __name__ == "__main__":` (spawned workers import '
        "the script again); add the guard to use workers"
    )


def _is_main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":`` (either way round)."""
    if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = {s.id for s in sides if isinstance(s, ast.Name)}
    values = {s.value for s in sides if isinstance(s, ast.Constant)}
    return names == {"__name__"} and values == {"__main__"}


#: A worker process's panel: read once per worker (pickling the panel costs about as much
#: as one pipeline's work), not once per task.
_KEPT: list[pl.DataFrame | pl.LazyFrame] = []


def _start_worker(panel_path: str) -> None:
    """Read the panel. The worker ignores Ctrl-C (`_sigint_ignored`): the parent stops it."""
    with open(panel_path, "rb") as file:
        _KEPT[:] = [pickle.load(file)]


def _evaluate_kept(
    evaluate: Callable[..., pl.DataFrame],
    pipeline: Pipeline,
    allocators: Sequence[BufferedAllocator],
    options: Mapping[str, Any],
) -> pl.DataFrame:
    """`evaluate` on the worker's panel."""
    return evaluate(_KEPT[0], pipeline, allocators, options)
