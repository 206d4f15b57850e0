"""Column kinds that stages declare for their inputs, checked against a Polars schema."""

from __future__ import annotations

from enum import Enum

import polars as pl


class Kind(Enum):
    """What sort of column a stage needs; `accepts` checks a concrete dtype."""

    NUMERIC = "numeric"
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
        if self is Kind.FLOAT:
            return dtype.is_float()
        if self is Kind.DATE:
            return dtype == pl.Date
        if self is Kind.SYMBOL:
            return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
        return dtype == pl.Boolean

