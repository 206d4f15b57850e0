"""lazyflow's exceptions: one base class, one subclass per kind of failure."""

from __future__ import annotations

from collections.abc import Iterable


class LazyflowError(Exception):
    """Base class of every error lazyflow raises on purpose."""


class SchemaError(LazyflowError):
    """A stage needs a column that is missing or has the wrong dtype."""

    def __init__(
        self,
        stage: str,
        column: str,
        problem: str,
        available: Iterable[str] = (),
    ) -> None:
        self.stage = stage
        self.column = column
        self.problem = problem
        self.available = list(available)
        cols = ", ".join(self.available) if self.available else "(none)"
        super().__init__(f"{stage}: column '{column}' {problem}. Columns present: {cols}")


class DataError(LazyflowError):
    """The data itself is unusable (duplicates, empty panel, unreadable file...)."""


class ConfigError(LazyflowError):
    """A stage, allocator or config parameter has a bad value."""
