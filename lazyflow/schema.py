"""Column kinds that stages declare for their inputs, checked against a Polars schema; the
schema flow of a pipeline; free names for temporary columns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

import polars as pl


class Kind(Enum):
    """What sort of column a stage needs; `accepts` checks a concrete dtype."""

    NUMERIC = "numeric"
    NUMBER = "numeric or boolean"  # read as a number, a boolean as 0/1
    FLOAT = "float"
    DATE = "date"
    SYMBOL = "string"
    BOOL = "boolean"
    ANY = "any"

    def accepts(self, dtype: pl.DataType) -> bool:
        if self is Kind.ANY:
            return True
        if self is Kind.NUMERIC:
            return dtype.is_numeric()
        if self is Kind.NUMBER:
            return dtype.is_numeric() or dtype == pl.Boolean
        if self is Kind.FLOAT:
            return dtype.is_float()
        if self is Kind.DATE:
            return dtype == pl.Date
        if self is Kind.SYMBOL:
            return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
        return dtype == pl.Boolean


@dataclass(frozen=True)
class SchemaStep:
    """One stage's place in a pipeline's schema flow: what it needs and what it adds."""

    stage: str
    needs: dict[str, str]
    adds: dict[str, str]


def unused_name(taken: Iterable[str], stem: str) -> str:
    """A column name that is not in `taken`: `stem`, else the first free ``stem_1``,
    ``stem_2``, ... For temporary columns, which must never clash with a user's column."""
    taken = set(taken)
    name, n = stem, 0
    while name in taken:
        n += 1
        name = f"{stem}_{n}"
    return name
