"""Terms of the factor algebra: immutable, hashable expression trees.

A `Term` is an operator name, its argument terms and its parameters (window lengths,
powers, column names). Equal terms compare and hash equal, so the planner computes an
equal sub-term once. Building a term checks its parameters (`ConfigError` naming the
operator and the parameter); nothing is computed until `lf.Factor` plans it.

    lf.col("close"), "close"          # a column (every operator also takes a name)
    a + b, a - b, a * b, a / b, -a, a ** p, abs(a)
    a.log(), a.sign(), a.abs(), a.signed_power(p)
    a < b, a <= b, a > b, a >= b, a == b, a != b     (boolean terms)
    lf.where(cond, a, b)              # cond ? a : b, null where cond is null
"""

from __future__ import annotations

import keyword
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real
from typing import Any

import polars as pl

from lazyflow.errors import ConfigError
from lazyflow.exprs import divide, finite
from lazyflow.numbers import is_number

#: What a term's operator is evaluated over: a row at a time, per symbol in date order
#: ("ts"), per date ("cs"), or per (date, group) ("group").
ROW, TS, CS, GROUP = "row", "ts", "cs", "group"


class Lag:
    """How a kernel that reads its input at several lags gets them (see `OpSpec.lagged`):
    ``lag(x, k)`` is x k rows back, and ``lag.keep(exprs)`` marks expressions the kernel
    reads more than once. This base class shifts and keeps nothing; the planner's
    (`lazyflow.algebra.plan.Lags`) computes both into columns."""

    def __call__(self, x: pl.Expr, k: int) -> pl.Expr:
        return x.shift(k)

    def keep(self, exprs: list[pl.Expr]) -> list[pl.Expr]:
        return exprs


#: The plain `Lag`: shifts.
SHIFT = Lag()


@dataclass(frozen=True)
class OpSpec:
    """How an operator is evaluated: its kind and a builder of the raw Polars expression
    from its arguments' expressions and its parameters (`params`; and a `Lag` when
    `lagged`)."""

    kind: str
    build: Callable[..., pl.Expr]
    #: how the operator is written in a formula (``ts.mean``, ``+``, ...)
    symbol: str
    #: True when the built expression reads each argument once; otherwise an argument that
    #: holds a window is computed into a column first (so it is never evaluated twice)
    reads_once: bool = False
    #: time-series operators: the rows before the current one that a value reads
    #: (``history(params)``: d - 1 for a window of d rows, d for ``delay(x, d)``)
    history: Callable[[tuple[Any, ...]], int] | None = None
    #: time-series operators whose kernel carries state from row to row (an EWMA, Polars'
    #: incremental rolling sums): evaluated per symbol, never across a symbol's first row
    stateful: bool = False
    #: the builder reads its arguments at several lags through a `Lag` (its third
    #: argument), so the lags can be computed once into columns
    lagged: bool = False


#: The deepest term (operators on a path from the top to a column): planning and printing
#: a term recurse into it, and Python's stack holds about 1000 calls.
MAX_DEPTH = 200

#: Operator name -> spec; filled by this module (row ops) and by `ts` and `cs`.
OPS: dict[str, OpSpec] = {}


class Term:
    """An immutable, hashable expression tree (operator, argument terms, parameters)."""

    __slots__ = ("_depth", "_hash", "args", "op", "params")

    op: str
    args: tuple[Term, ...]
    params: tuple[Any, ...]
    _hash: int
    _depth: int

    def __init__(self, op: str, args: tuple[Term, ...] = (), params: tuple[Any, ...] = ()):
        depth = max((a._depth + 1 for a in args), default=0)
        if depth > MAX_DEPTH:
            raise ConfigError(
                f"lazyflow.algebra: {OPS[op].symbol!r} would nest operators {depth} deep, more "
                f"than {MAX_DEPTH}; compute an inner part with its own lf.Factor, read its column"
            )
        object.__setattr__(self, "_depth", depth)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "_hash", hash((op, args, tuple(map(_key, params)))))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Term is immutable")

    def __reduce__(self) -> tuple[type[Term], tuple[Any, ...]]:
        """Pickled as its constructor's arguments (a sweep's worker processes receive the
        pipelines pickled; the default would set the slots, which `__setattr__` refuses)."""
        return Term, (self.op, self.args, self.params)

    def __copy__(self) -> Term:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Term:
        return self  # immutable: a copy would be equal in every way

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        if self is other:
            return True
        if not isinstance(other, Term) or self._hash != other._hash:
            return False
        return (
            self.op == other.op
            and tuple(map(_key, self.params)) == tuple(map(_key, other.params))
            and self.args == other.args
        )

    @property
    def kind(self) -> str:
        """Either "col", "lit", or the kind of its operator (ROW, TS, CS, GROUP)."""
        return self.op if self.op in ("col", "lit") else OPS[self.op].kind

    def __repr__(self) -> str:
        return f"Term({self})"

    def __str__(self) -> str:
        """The term as a formula that `lazyflow.algebra.parse` reads back."""
        return _show(self)

    def __bool__(self) -> bool:
        raise TypeError("a Term has no truth value; use lf.where(cond, a, b) for a condition")

    # arithmetic -------------------------------------------------------------------------
    def __add__(self, other: TermLike) -> Term:
        return Term("add", (self, term(other)))

    def __radd__(self, other: TermLike) -> Term:
        return Term("add", (term(other), self))

    def __sub__(self, other: TermLike) -> Term:
        return Term("sub", (self, term(other)))

    def __rsub__(self, other: TermLike) -> Term:
        return Term("sub", (term(other), self))

    def __mul__(self, other: TermLike) -> Term:
        return Term("mul", (self, term(other)))

    def __rmul__(self, other: TermLike) -> Term:
        return Term("mul", (term(other), self))

    def __truediv__(self, other: TermLike) -> Term:
        return Term("div", (self, term(other)))

    def __rtruediv__(self, other: TermLike) -> Term:
        return Term("div", (term(other), self))

    def __pow__(self, p: TermLike) -> Term:
        return Term("pow", (self, term(p)))

    def __rpow__(self, base: TermLike) -> Term:
        return Term("pow", (term(base), self))

    def __neg__(self) -> Term:
        return Term("neg", (self,))

    def __pos__(self) -> Term:
        return self

    def __abs__(self) -> Term:
        return Term("abs", (self,))

    def abs(self) -> Term:
        """|x|."""
        return Term("abs", (self,))

    def log(self) -> Term:
        """Natural logarithm; null where x <= 0."""
        return Term("log", (self,))

    def sign(self) -> Term:
        """-1, 0 or 1."""
        return Term("sign", (self,))

    def signed_power(self, p: TermLike) -> Term:
        """sign(x) * |x| ** p."""
        return Term("signed_power", (self, term(p)))

    # comparisons ------------------------------------------------------------------------
    def __lt__(self, other: TermLike) -> Term:
        return Term("lt", (self, term(other)))

    def __le__(self, other: TermLike) -> Term:
        return Term("le", (self, term(other)))

    def __gt__(self, other: TermLike) -> Term:
        return Term("gt", (self, term(other)))

    def __ge__(self, other: TermLike) -> Term:
        return Term("ge", (self, term(other)))

    def eq(self, other: TermLike) -> Term:
        """x == y as a boolean term (``==`` between terms compares the terms themselves)."""
        return Term("eq", (self, term(other)))

    def ne(self, other: TermLike) -> Term:
        """x != y as a boolean term."""
        return Term("ne", (self, term(other)))


TermLike = Term | str | int | float


def _key(value: Any) -> Any:
    """A parameter as a hash/equality key that tells 1 from 1.0 from True."""
    return (type(value).__name__, value)


def col(name: str) -> Term:
    """The frame column `name` (read as Float64; booleans as 0/1 where used as numbers)."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"lf.col: parameter 'name' must be a non-empty column name, got {name!r}")
    return Term("col", (), (name,))


def lit(value: float) -> Term:
    """A constant."""
    if not is_number(value):
        raise ConfigError(f"lf.lit: parameter 'value' must be a finite number, got {value!r}")
    return Term("lit", (), (float(value),))


def term(value: TermLike) -> Term:
    """`value` as a term: a term itself, a column name, or a finite number."""
    if isinstance(value, Term):
        return value
    if isinstance(value, str):
        return col(value)
    if isinstance(value, Real) and not isinstance(value, bool):
        return lit(value)
    raise ConfigError(f"lazyflow.algebra: {value!r} is not a term, a column name or a number")


def where(cond: TermLike, a: TermLike, b: TermLike) -> Term:
    """``cond ? a : b`` row by row; null where `cond` is null (a comparison with a missing
    value never takes the else branch)."""
    return Term("where", (term(cond), term(a), term(b)))


def _row(name: str, symbol: str, fn: Callable[..., pl.Expr]) -> None:
    once = name not in ("where", "signed_power")
    OPS[name] = OpSpec(ROW, lambda args, params: fn(*args), symbol, once)


# row-wise operators; a result that can leave the finite range (log, /, **) is made finite
def _f(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Float64)


_row("add", "+", lambda a, b: _f(a) + _f(b))
_row("sub", "-", lambda a, b: _f(a) - _f(b))
_row("mul", "*", lambda a, b: _f(a) * _f(b))
_row("div", "/", lambda a, b: finite(divide(_f(a), b if b.meta.is_literal() else _f(b))))
_row("pow", "**", lambda a, b: finite(_f(a).pow(_f(b))))
_row("neg", "-", lambda a: -_f(a))
_row("abs", "abs", lambda a: _f(a).abs())
_row("log", "log", lambda a: finite(_f(a).log()))
_row("sign", "sign", lambda a: _f(a).sign())
_row("signed_power", "signed_power", lambda a, p: finite(_f(a).sign() * _f(a).abs().pow(_f(p))))
# comparisons read finite values only, so a NaN never compares true
_row("lt", "<", lambda a, b: finite(a) < finite(b))
_row("le", "<=", lambda a, b: finite(a) <= finite(b))
_row("gt", ">", lambda a, b: finite(a) > finite(b))
_row("ge", ">=", lambda a, b: finite(a) >= finite(b))
_row("eq", "==", lambda a, b: finite(a) == finite(b))
_row("ne", "!=", lambda a, b: finite(a) != finite(b))
_row(
    "where",
    "where",
    lambda c, a, b: (
        pl.when(c.cast(pl.Boolean).is_null())
        .then(pl.lit(None, pl.Float64))
        .when(c.cast(pl.Boolean))
        .then(a.cast(pl.Float64))
        .otherwise(b.cast(pl.Float64))
    ),
)

_INFIX = {"add": 1, "sub": 1, "mul": 2, "div": 2, "pow": 4}
_COMPARE = ("lt", "le", "gt", "ge", "eq", "ne")


def _show(t: Term, parent: int = 0) -> str:
    """Formula text of `t`; parenthesised where the parent binds tighter."""
    if t.op == "col":
        name = t.params[0]
        return name if _bare(name) else f"col({name!r})"
    if t.op == "lit":
        value = t.params[0]
        text = repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
        return f"({text})" if value < 0 and parent else text
    spec = OPS[t.op]
    if t.op in _INFIX:
        level = _INFIX[t.op]
        left = _show(t.args[0], level + (t.op == "pow"))
        right = _show(t.args[1], level + (t.op != "pow"))
        text = f"{left} {spec.symbol} {right}"
        return f"({text})" if level < parent else text
    if t.op in _COMPARE:
        text = f"{_show(t.args[0], 1)} {spec.symbol} {_show(t.args[1], 1)}"
        return f"({text})" if parent else text
    if t.op == "neg":
        text = f"-{_show(t.args[0], 3)}"
        return f"({text})" if parent >= 3 else text
    parts = [_show(a) for a in t.args] + [_param(p) for p in t.params]
    return f"{spec.symbol}({', '.join(parts)})"


def _bare(name: str) -> bool:
    """True when a formula reads `name` written bare as this column: an identifier that is
    no keyword (``if``, ``None``) nor a formula function, and that Python does not rewrite
    (it reads identifiers NFKC-normalised: the ligature ``ﬁ`` as ``fi``)."""
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and name not in _RESERVED
        and unicodedata.normalize("NFKC", name) == name
    )


def _param(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


#: Names a formula reads as functions or namespaces, so a column of that name is col("...").
_RESERVED = frozenset({"ts", "cs", "col", "where", "abs", "log", "sign", "signed_power"})
