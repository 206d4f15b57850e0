"""Atomic outputs: a command writes into a staging folder beside its target and renames it
into place only when everything is written, so the target holds one complete run or the
previous one, never a mix.

    with staged_folder(out, "--out") as tmp:    # checks `out` before any work starts
        ...                                     # write every file into tmp
    # here `out` holds the new files (the old folder was swapped out and removed)

`staged_file` does the same for one file (``ingest --out panel.parquet``). On any error,
interrupt or SIGTERM (`terminate_on_sigterm` turns it into an exception, so cleanup runs)
the staging folder is removed and the target is left as it was. A process killed outright
(SIGKILL) leaves a ``.<name>.lazyflow-tmp-*`` folder beside the target, never a half-written
target.

The checks (a `ConfigError`, before any work): the target is not an existing file (or, for
`staged_file`, a folder); its parent folder accepts a new entry (a read-only or immutable
folder does not); an existing target folder is writable and holds only files that lazyflow
writes (`OUTPUT_NAMES`), so replacing it never deletes a user's own files.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from lazyflow.errors import ConfigError

#: Names a lazyflow output folder may hold: an existing folder holding anything else is
#: not replaced. Commands that write new names add them here.
OUTPUT_NAMES = frozenset(
    {
        "signals.parquet",
        "book.parquet",
        "metrics.parquet",
        "summary.json",
        "report.html",
        "report_files",
        "factor.parquet",
        "factor_daily.parquet",
        "sweep.parquet",
        "result.json",
        "capacity.parquet",
        "walk_forward.parquet",
        "walk_forward_windows.parquet",
    }
)
_TMP = ".lazyflow-tmp-"


class Terminated(BaseException):
    """SIGTERM, raised in the main thread by `terminate_on_sigterm` (a BaseException, like
    KeyboardInterrupt, so that only cleanup code sees it)."""


def terminate_on_sigterm() -> None:
    """Make SIGTERM raise `Terminated`, so staged outputs are cleaned up (main thread only)."""

    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"terminated (signal {signum})")

    signal.signal(signal.SIGTERM, raise_terminated)


def check_folder(target: Path, what: str) -> Path:
    """`target` resolved, after the checks of the module docstring (`what` names it in errors)."""
    target = _resolve(target, what)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{what} {target}: exists and is not a folder")
    if target.is_dir():
        foreign = sorted(p.name for p in target.iterdir() if p.name not in OUTPUT_NAMES)
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise ConfigError(
                f"{what} {target}: holds files that lazyflow did not write ({shown}); "
                "choose a new or empty folder"
            )
        _probe(target, what)
    _probe(_parent(target, what), what)
    return target


def check_file(target: Path, what: str) -> Path:
    """`target` resolved: not a folder, and its folder accepts a new file."""
    target = _resolve(target, what)
    if target.is_dir():
        raise ConfigError(f"{what} {target}: is a folder; give a file name")
    _probe(_parent(target, what), what)
    return target


def _resolve(target: Path, what: str) -> Path:
    """`target` made absolute, symlinks followed; a symlink loop is a `ConfigError`."""
    try:
        return Path(target).expanduser().resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise ConfigError(f"{what} {target}: cannot be resolved ({exc})") from exc


@contextmanager
def staged_folder(target: Path, what: str = "output") -> Iterator[Path]:
    """Check `target` (`check_folder`), yield an empty staging folder beside it, and on
    success swap it into place; on any exception remove it and leave `target` untouched."""
    target = check_folder(target, what)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{_TMP}", dir=target.parent))
    staging.chmod(0o777 & ~_umask())  # as mkdir would make it (mkdtemp makes it private)
    try:
        yield staging
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextmanager
def staged_file(target: Path, what: str = "output") -> Iterator[Path]:
    """`staged_folder` for one file: yield a temporary path beside `target`, then rename it
    onto `target` (an atomic replace) on success; remove it on any exception."""
    target = check_file(target, what)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}{_TMP}", dir=target.parent)
    os.close(fd)
    staging = Path(name)
    staging.chmod(0o666 & ~_umask())  # as open would make it (mkstemp makes it private)
    try:
        yield staging
        os.replace(staging, target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def _swap_in(staging: Path, target: Path) -> None:
    """Rename `staging` to `target`; an existing target is first renamed aside, then removed."""
    if not target.exists():
        staging.rename(target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}{_TMP}old-", dir=target.parent))
    old.rmdir()  # a free name beside the target
    target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _parent(target: Path, what: str) -> Path:
    """The nearest existing folder at or above ``target.parent`` (where staging happens)."""
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{what} {target}: {parent} is not a folder")
    return parent


def _probe(folder: Path, what: str) -> None:
    """Create and remove a file in `folder`: the only test that also holds for root and for
    immutable folders."""
    try:
        fd, name = tempfile.mkstemp(prefix=_TMP, dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise ConfigError(f"{what} {folder}: cannot write there ({exc.strerror})") from exc
