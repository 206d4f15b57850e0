"""`Factor`: a built-in stage that evaluates a term of the factor algebra into one column."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from lazyflow.algebra.parse import parse
from lazyflow.algebra.plan import Plan, plan
from lazyflow.algebra.term import CS, GROUP, TS, Term
from lazyflow.errors import ConfigError, SchemaError
from lazyflow.exprs import per_symbol
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
        self.resolved()

    def fail(self, parameter: str, problem: str) -> ConfigError:
        return ConfigError(f"Factor {self.name!r}: parameter '{parameter}' {problem}")

    def inputs(self) -> dict[str, Kind]:
        term = self.resolved()
        keys: dict[str, Kind] = {self.date_col: Kind.DATE}
        kinds = {t.kind for t in _nodes(term)}
        if TS in kinds:
            keys[self.symbol_col] = Kind.SYMBOL
        for t in _nodes(term):
            if t.op == "col":
                keys.setdefault(t.params[0], Kind.NUMERIC)
            elif t.kind == GROUP:
                keys[t.params[0]] = Kind.ANY
            elif t.op == "where" and t.args[0].op == "col":
                keys[t.args[0].params[0]] = Kind.BOOL
        if self.mask is not None:
            keys[self.mask] = Kind.BOOL
        return keys

    def outputs(self) -> dict[str, pl.DataType]:
        return {self.name: pl.Float64()}

    def validate(self, schema: Mapping[str, pl.DataType]) -> pl.Schema:
        try:
            return super().validate(schema)
        except SchemaError as err:
            raise SchemaError(f"Factor {self.name!r}", err.column, err.problem, schema) from None

    def plan(self, schema: Mapping[str, pl.DataType] | None = None) -> Plan:
        """The levels that compute the factor; temporary names avoid `schema`'s columns."""
        self.check()
        date, symbol = self.date_col, self.symbol_col

        def over(expr: pl.Expr, window: Term) -> pl.Expr:
            if window.kind == TS:
                return per_symbol(expr, symbol, date)
            if window.kind == CS:
                return expr.over(date)
            return expr.over(date, window.params[0])

        taken = set(schema or ()) | set(self.inputs())
        return plan(self.resolved(), self.name, self.mask, over, taken)

    def describe(self, schema: Mapping[str, pl.DataType] | None = None) -> str:
        """The plan's levels as text (see `Plan.describe`)."""
        return f"Factor {self.name!r}: {self.plan(schema).describe()}"

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        return self.plan(frame.collect_schema()).apply(frame)


# a plain class attribute in place of the base class's read-only `name` property, so the
# dataclass field `name` is stored on the instance
Factor.name = "Factor"  # type: ignore[assignment, misc]


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
