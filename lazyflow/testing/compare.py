"""Bitwise comparison of two frames keyed by (date, symbol), and the first difference found.

Equality is bit equality: two floats are equal when their IEEE-754 bits are, so ``-0.0``
differs from ``0.0`` and a last-bit rounding difference is a difference. The one exception
is NaN: every NaN equals every other NaN whatever its payload or sign bit (Polars keeps no
promise about NaN payloads, and no arithmetic tells two NaNs apart). Null equals null and
differs from NaN and from every value. Columns of other dtypes (integers, booleans, strings,
dates, categoricals) compare by value with null equal to null; nested columns (lists,
structs) compare with Polars' ``ne_missing``, in which NaN equals NaN and ``-0.0`` equals
``0.0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Difference:
    """The first row (in key order) where one column differs between two frames."""

    column: str
    key: tuple
    expected: object
    actual: object
    n_rows: int


def show(value: object) -> str:
    """A value as the messages print it: floats by repr (every bit shows), null as ``null``."""
    if value is None:
        return "null"
    return repr(value) if isinstance(value, float | str) else str(value)


def differs(a: pl.Series, b: pl.Series) -> np.ndarray:
    """Per row, True where `a` and `b` differ bitwise (see the module docstring)."""
    if a.dtype != b.dtype:
        return np.ones(a.len(), dtype=bool)
    if not a.dtype.is_float():
        return a.ne_missing(b).to_numpy()
    null_a, null_b = a.is_null().to_numpy(), b.is_null().to_numpy()
    x, y = a.fill_null(0.0).to_numpy(), b.fill_null(0.0).to_numpy()
    unsigned = f"u{x.dtype.itemsize}"
    bits = (x.view(unsigned) != y.view(unsigned)) & ~(np.isnan(x) & np.isnan(y))
    return (null_a != null_b) | (bits & ~null_a)


def sort_by_keys(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """`frame` in key order; rows sharing a key are ordered by their other columns, so the
    order never depends on the order the rows came in."""
    keys = list(keys)
    if frame.select(keys).is_duplicated().any():
        others = [c for c, t in frame.schema.items() if c not in keys and not t.is_nested()]
        return frame.sort([*keys, *others], nulls_last=True)
    return frame.sort(keys)


def key_difference(
    expected: pl.DataFrame, actual: pl.DataFrame, keys: Sequence[str]
) -> tuple[tuple, int, int, int] | None:
    """The first key (in key order) present a different number of times in the two frames:
    ``(key, times in expected, times in actual, number of such keys)``; None if none."""
    keys = list(keys)
    counts = (
        expected.group_by(keys)
        .len("expected")
        .join(actual.group_by(keys).len("actual"), on=keys, how="full", coalesce=True)
        .with_columns(pl.col("expected", "actual").fill_null(0))
        .filter(pl.col("expected") != pl.col("actual"))
        .sort(keys)
    )
    if counts.height == 0:
        return None
    first = counts.row(0, named=True)
    return tuple(first[k] for k in keys), first["expected"], first["actual"], counts.height


def first_difference(
    expected: pl.DataFrame,
    actual: pl.DataFrame,
    keys: Sequence[str],
    columns: Sequence[str],
) -> Difference | None:
    """The first differing value of `columns` between two frames of the same rows, aligned
    position by position (sort both by key first); the earliest row wins, then the first
    column. None when every value is bit-identical."""
    found: list[tuple[int, int, Difference]] = []
    for order, name in enumerate(columns):
        rows = np.flatnonzero(differs(expected[name], actual[name]))
        if rows.size:
            i = int(rows[0])
            key = tuple(expected[k][i] for k in keys)
            diff = Difference(name, key, expected[name][i], actual[name][i], int(rows.size))
            found.append((i, order, diff))
    return min(found, key=lambda item: item[:2])[2] if found else None
