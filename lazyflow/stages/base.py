"""The base class of the built-in stages.

A stage is any callable ``LazyFrame -> LazyFrame``. Built-in stages are frozen
dataclasses whose fields are their parameters; they declare the columns they
need (`inputs`) and add (`outputs`), so a pipeline can check a schema before any
data is read. Parameters are checked at call time (`check`), never in the
constructor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar

import polars as pl

from lazyflow.errors import ConfigError, SchemaError
from lazyflow.numbers import is_number
from lazyflow.pipeline import DeclaredStage
from lazyflow.schema import Kind

#: The largest integer parameter (window, quantiles, periods per year...): the Int32 range of
#: the bucket columns, and far more rows than any window needs.
MAX_INTEGER = 2**31 - 1

class Stage(DeclaredStage):
    """Base of the built-in stages. Subclasses are ``@dataclass(frozen=True)``."""

    #: True only for label stages (forward-looking targets); see issue on factor analytics.
    is_label: ClassVar[bool] = False

    def outputs(self) -> dict[str, pl.DataType]:
        """Columns this stage adds, with their dtypes."""
        raise NotImplementedError

    def check(self) -> None:
        """Check parameter values; raise `ConfigError` naming the parameter."""

    def check_columns(self) -> None:
        """Every dataclass field named ``*_col`` or ``mask`` must be a non-empty string
        (or None where the field's type allows None)."""
        if not dataclasses.is_dataclass(self):
            return
        for field in dataclasses.fields(self):
            if field.name.endswith("_col") or field.name == "mask":
                self.column_name(field.name, optional="None" in str(field.type))

    def column_name(self, name: str, *, optional: bool = False) -> None:
        """Parameter `name` must be a non-empty string (or None when `optional`)."""
        value = getattr(self, name)
        if optional and value is None:
            return
        if not isinstance(value, str) or not value:
            allowed = "a non-empty column name" + (" or None" if optional else "")
            raise self.fail(name, f"must be {allowed}, got {value!r}")

    def flag(self, name: str) -> None:
        """Parameter `name` must be True or False (not merely truthy)."""
        value = getattr(self, name)
        if not isinstance(value, bool):
            raise self.fail(name, f"must be True or False, got {value!r}")

    def number(
        self,
        name: str,
        *,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        high_open: bool = False,
        integer: bool = False,
        optional: bool = False,
    ) -> None:
        """Parameter `name` must be a finite real number (an integer if `integer`; never a
        bool) within ``low``..``high`` (excluded when ``*_open``), or None when `optional`.
        An integer's `high` is at most `MAX_INTEGER`."""
        value = getattr(self, name)
        if optional and value is None:
            return
        if integer:
            high = MAX_INTEGER if high is None else min(high, MAX_INTEGER)
        if not is_number(value, integer) or not (
            (low is None or (value > low if low_open else value >= low))
            and (high is None or (value < high if high_open else value <= high))
        ):
            kind = "an integer" if integer else "a finite number"
            if low is not None and high is not None:
                kind += f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
            elif low is not None:
                kind += f" {'>' if low_open else '>='} {low}"
            elif high is not None:
                kind += f" {'<' if high_open else '<='} {high}"
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise self.fail(name, f"must be {kind}{' or None' if optional else ''}, got {shown}")

    def fail(self, parameter: str, problem: str) -> ConfigError:
        """A `ConfigError` that names this stage and the parameter."""
        return ConfigError(f"{self.name}: parameter '{parameter}' {problem}")

    def validate(self, schema: Mapping[str, pl.DataType]) -> pl.Schema:
        """Check parameters and input columns against `schema`; return the output schema."""
        self.check_columns()
        self.check()
        for column, kind in self.for_schema(schema).inputs().items():
            if column not in schema:
                raise SchemaError(self.name, column, "is missing", schema)
            if not kind.accepts(schema[column]):
                problem = f"has dtype {schema[column]}, expected a {kind.value} column"
                raise SchemaError(
                    self.name, column, problem + cast_hint(kind, schema[column]), schema
                )
        out = pl.Schema(schema)
        out.update(self.outputs())
        return out

    def __call__(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        self.validate(frame.collect_schema())
        return self.transform(frame)


def cast_hint(kind: Kind, dtype: pl.DataType) -> str:
    """How to fix a date given as datetime or text, or numbers given as text ("" otherwise)."""
    if kind is Kind.DATE and (dtype == pl.String or isinstance(dtype, pl.Datetime)):
        fix = "str.to_date()" if dtype == pl.String else "dt.date()"
        what = "ISO date strings" if dtype == pl.String else "datetimes"
    elif kind in (Kind.NUMERIC, Kind.FLOAT) and dtype == pl.String:
        fix, what = "cast(pl.Float64)", "numbers stored as text in CSV files"
    else:
        return ""
    return f" (read the panel with lf.scan_panel, which converts {what}, or cast it: .{fix})"


def with_mask(inputs: dict[str, Kind], mask: str | None) -> dict[str, Kind]:
    """`inputs` plus the mask column, when there is one."""
    return inputs if mask is None else {**inputs, mask: Kind.BOOL}
