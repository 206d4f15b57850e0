"""`Factor`: a built-in stage that evaluates a term of the factor algebra into one column."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from lazyflow.algebra.parse import parse
from lazyflow.algebra.plan import Names, Partitions, Plan, plan
from lazyflow.algebra.term import GROUP, OPS, TS, Term
from lazyflow.errors import ConfigError, SchemaError
from lazyflow.exprs import symbol_code, symbol_date_key
from lazyflow.schema import Kind
from lazyflow.stages.base import Stage


@dataclass(frozen=True)
class Factor(Stage):
    """Add column `name` (Float64) = `term`, planned into window levels (`lazyflow.algebra.plan`).

    ``term`` is a `Term` or a formula string (``"cs.rank(ts.delta(close, 5))"``, see
    `lazyflow.algebra.parse`). Time-series operators run per ``symbol_col`` in
    ``date_col`` order over all of a symbol's rows; cross-sectional operators run per
    ``date_col`` over the finite values inside ``mask`` (a boolean column), and the
    factor is null outside ``mask``. Non-finite results are null. Temporary columns
    never reach the output, and the other columns and the rows are left as they are.
    """

    name: str = field()  # type: ignore[assignment]  # the output column (not Stage.name)
    term: Term | str
    mask: str | None = None
    date_col: str = "date"
    symbol_col: str = "symbol"

    def resolved(self) -> Term:
        """The term (a formula string parsed); `ConfigError` naming the parameter if bad."""
        if isinstance(self.term, Term):
            return self.term
        if isinstance(self.term, str):
            try:
                return parse(self.term)
            except ConfigError as exc:
                raise self.fail("term", str(exc)) from None
        raise self.fail("term", f"must be a term or a formula string, got {self.term!r}")

    def check(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise self.fail("name", f"must be a non-empty column name, got {self.name!r}")
        if self.date_col == self.symbol_col:
            raise self.fail("symbol_col", f"must differ from date_col, both are {self.date_col!r}")
        self.resolved()

    def fail(self, parameter: str, problem: str) -> ConfigError:
        return ConfigError(f"Factor {self.name!r}: parameter '{parameter}' {problem}")

    def inputs(self) -> dict[str, Kind]:
        term = self.resolved()
        keys: dict[str, Kind] = {self.date_col: Kind.DATE}
        kinds = {t.kind for t in _nodes(term)}
        if TS in kinds:
            keys[self.symbol_col] = Kind.SYMBOL
        uses: list[tuple[str, Kind, str]] = []  # (column, kind, the parameter that reads it)
        for t in _nodes(term):
            if t.op == "col":
                uses.append((t.params[0], Kind.NUMBER, "term"))
            elif t.kind == GROUP:
                uses.append((t.params[0], Kind.ANY, "term"))
            if t.op == "where" and t.args[0].op == "col":
                uses.append((t.args[0].params[0], Kind.BOOL, "term"))
        if self.mask is not None:
            uses.append((self.mask, Kind.BOOL, "mask"))
        kinds_of: dict[str, Kind] = {}
        for column, kind, parameter in uses:  # a column read in several ways: the strictest kind
            if column in keys and kind is not Kind.ANY:  # no dtype is both a key and this
                role = "date_col" if column == self.date_col else "symbol_col"
                raise self.fail(
                    parameter,
                    f"reads column {column!r} as a {kind.value} column, but it is the "
                    f"{role} (a {keys[column].value} column)",
                )
            if _STRICTNESS[kind] >= _STRICTNESS[kinds_of.get(column, Kind.ANY)]:
                kinds_of[column] = kind
        return keys | {c: k for c, k in kinds_of.items() if c not in keys}

    def outputs(self) -> dict[str, pl.DataType]:
        return {self.name: pl.Float64()}

    def validate(self, schema: Mapping[str, pl.DataType]) -> pl.Schema:
        try:
            return super().validate(schema)
        except SchemaError as err:
            raise SchemaError(f"Factor {self.name!r}", err.column, err.problem, schema) from None

    def plan(self, schema: Mapping[str, pl.DataType] | None = None) -> Plan:
        """The levels that compute the factor; temporary names avoid `schema`'s columns."""
        return self._layout(schema)[0]

    def _layout(self, schema: Mapping[str, pl.DataType] | None) -> tuple[Plan, Partitions, str]:
        """The plan, where it reads its columns, and the name of the permutation column.

        A term with a time-series operator that reads many lags reads copies of its input
        columns sorted by (symbol, date): each copy is the column gathered by the
        permutation that sorts the rows so."""
        self.check()
        term = self.resolved()
        names = Names(set(schema or ()) | set(self.inputs()) | {self.name})
        partitions = Partitions(self.date_col, self.symbol_col)
        permutation = names.next()
        nodes = _nodes(term)
        if any(t.kind == TS and OPS[t.op].lagged for t in nodes):
            # the symbol is read through its integer code; copied only if the term names it
            named = {t.params[0] for t in nodes if t.op == "col" or t.kind == GROUP}
            skip = set() if self.symbol_col in named else {self.symbol_col}
            columns = {c: names.next() for c in self.inputs() if c not in skip}
            partitions = Partitions(
                self.date_col, self.symbol_col, columns, names.next(), names.next()
            )
        return plan(term, self.name, self.mask, partitions, names), partitions, permutation

    def describe(self, schema: Mapping[str, pl.DataType] | None = None) -> str:
        """The plan's levels as text (see `Plan.describe`)."""
        return f"Factor {self.name!r}: {self.plan(schema).describe()}"

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        factor_plan, parts, permutation = self._layout(frame.collect_schema())
        if not parts.sorted:
            return factor_plan.apply(frame)
        # sorted by one integer key (`symbol_date_key`); ties keep the frame's order
        order = pl.col(permutation)
        index = pl.int_range(pl.len(), dtype=pl.UInt32)
        starts = (pl.col(parts.code) != pl.col(parts.code).shift(1)).fill_null(True)
        first = pl.when(starts).then(index).forward_fill()
        frame = (
            frame.with_columns(symbol_code(self.symbol_col).alias(parts.code))
            .with_columns(
                pl.arg_sort_by(
                    symbol_date_key(pl.col(parts.code), self.date_col), maintain_order=True
                ).alias(permutation)
            )
            .with_columns(
                pl.col(parts.code).gather(order).set_sorted(),
                *(pl.col(c).gather(order).alias(copy) for c, copy in parts.columns.items()),
            )
            .with_columns((index - first).alias(parts.position))
        )
        frame = factor_plan.apply(frame).with_columns(pl.col(self.name).sort_by(order))
        return frame.drop(permutation, parts.code, parts.position, *parts.columns.values())


# a plain class attribute in place of the base class's read-only `name` property, so the
# dataclass field `name` is stored on the instance
Factor.name = "Factor"  # type: ignore[assignment, misc]


#: Which kind wins when a term reads a column in several ways: a group key (any dtype) that
#: is also read as a number must be a number; one that is also a condition, a boolean.
_STRICTNESS = {Kind.ANY: 0, Kind.NUMBER: 1, Kind.BOOL: 2}


def _nodes(term: Term) -> list[Term]:
    """Every distinct node of `term`."""
    seen: dict[Term, None] = {}
    stack = [term]
    while stack:
        t = stack.pop()
        if t not in seen:
            seen[t] = None
            stack.extend(t.args)
    return list(seen)
