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


def last_bit_hint(expected: object, actual: object) -> str:
    """A hint for two floats one unit in the last place apart ("" otherwise): the mark of a
    division by a constant, which Polars computes as a multiplication by the reciprocal on
    some rows and as a division on others, depending on the frame's length and chunks."""
    if not (isinstance(expected, float) and isinstance(actual, float)) or expected == actual:
        return ""
    if np.nextafter(expected, actual) != actual:
        return ""
    return (
        "; they differ in the last bit only, as a division by a constant does in Polars "
        "(on some rows a multiplication by the reciprocal): divide by a column instead, "
        "e.g. lazyflow.exprs.divide(x, 3.0), for the same bits on every row"
    )


def differences(expected: pl.DataFrame, actual: pl.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """A (rows, columns) boolean array: True where the two frames' `columns` differ bitwise
    (see the module docstring), row by row. One Polars query for all the columns.

    Floats: Polars' ``ne_missing`` is IEEE equality with null equal to null and NaN equal
    to NaN; it sees every other difference of bits except ``-0.0`` against ``0.0``, which
    ``1/x`` tells apart (``-inf`` against ``inf``).
    """
    if not columns:
        return np.zeros((expected.height, 0), dtype=bool)
    # positional names, which no column name can collide with
    both = pl.concat(
        [
            expected.select(pl.col(c).alias(f"e{i}") for i, c in enumerate(columns)),
            actual.select(pl.col(c).alias(f"a{i}") for i, c in enumerate(columns)),
        ],
        how="horizontal",
    )
    checks = []
    for i, column in enumerate(columns):
        a, b = pl.col(f"e{i}"), pl.col(f"a{i}")
        if expected.schema[column] != actual.schema[column]:
            checks.append(pl.repeat(True, pl.len()).alias(f"e{i}"))
            continue
        differ = a.ne_missing(b)
        if expected.schema[column].is_float():
            signed_zeros = (a == 0) & (b == 0) & ((1.0 / a) != (1.0 / b))
            differ = differ | signed_zeros.fill_null(False)
        checks.append(differ.alias(f"e{i}"))
    return both.select(checks).to_numpy()


def differs(a: pl.Series, b: pl.Series) -> np.ndarray:
    """Per row, True where the series `a` and `b` differ bitwise."""
    return differences(a.to_frame("x"), b.to_frame("x"), ["x"])[:, 0]


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
    ``(key, times in expected, times in actual, number of such keys)``; None if none. A
    null in a key matches a null."""
    keys = list(keys)
    counts = (
        expected.group_by(keys)
        .len("expected")
        .join(
            actual.group_by(keys).len("actual"),
            on=keys,
            how="full",
            coalesce=True,
            nulls_equal=True,
        )
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
    found = differences(expected, actual, columns)
    if not found.any():
        return None
    row = int(np.argmax(found.any(axis=1)))
    col = int(np.argmax(found[row]))
    name = columns[col]
    return Difference(
        name,
        expected.select(keys).row(row),
        expected[name][row],
        actual[name][row],
        int(found[:, col].sum()),
    )
