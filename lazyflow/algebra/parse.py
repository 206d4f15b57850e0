"""A small safe parser of factor formulas (for TOML configs): text -> `Term`, no ``eval``.

The text is read with Python's expression grammar (`ast.parse`, so the usual operator
precedence holds: ``**`` binds tighter than unary ``-``) and only these nodes are accepted:

- a name: a column (``close``); ``col("name with spaces")`` for any other column name;
- numbers; ``+ - * / **``, unary ``-``; one comparison ``< <= > >= == !=``;
- calls of ``ts.<op>``, ``cs.<op>``, ``where``, ``abs``, ``log``, ``sign``, ``signed_power``
  with positional arguments and keyword parameters (``cs.scale(x, a=2)``); string
  arguments name columns (``cs.neutralize(x, "sector")``).

Anything else (attributes, subscripts, lambdas, chained comparisons, ...) is a
`ConfigError` that quotes the offending part.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from lazyflow.algebra import cs, ts
from lazyflow.algebra.term import Term, col, term, where
from lazyflow.errors import ConfigError

#: Longest formula accepted (characters).
MAX_LENGTH = 20_000

FUNCTIONS: dict[str, Callable[..., Term]] = {
    "where": where,
    "abs": lambda x: term(x).abs(),
    "log": lambda x: term(x).log(),
    "sign": lambda x: term(x).sign(),
    "signed_power": lambda x, p: term(x).signed_power(p),
    "col": col,
}
for _module, _prefix in ((ts, "ts"), (cs, "cs")):
    for _name in _module.__all__:
        FUNCTIONS[f"{_prefix}.{_name}"] = getattr(_module, _name)

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: term(a) + b,
    ast.Sub: lambda a, b: term(a) - b,
    ast.Mult: lambda a, b: term(a) * b,
    ast.Div: lambda a, b: term(a) / b,
    ast.Pow: lambda a, b: term(a) ** b,
}
_COMPARE: dict[type, Callable[[Term, Any], Term]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a.eq(b),
    ast.NotEq: lambda a, b: a.ne(b),
}


def parse(text: str) -> Term:
    """The term written in `text`; `ConfigError` (quoting the bad part) if it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"formula: must be a non-empty string, got {text!r}")
    if len(text) > MAX_LENGTH:
        raise ConfigError(f"formula: longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
        return term(_Reader(text).read(tree.body))
    except SyntaxError as exc:
        raise ConfigError(f"formula {text!r}: not a formula ({exc.msg})") from None
    except RecursionError:
        raise ConfigError(f"formula {text!r}: nested too deeply") from None


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, node: ast.AST, problem: str) -> ConfigError:
        part = ast.get_source_segment(self.text.strip(), node) or ast.dump(node)
        return ConfigError(f"formula {self.text!r}: {problem}: {part}")

    def read(self, node: ast.AST) -> Any:
        """A term, a number or a string (a column name, a group)."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float | str):
                raise self.fail(node, "only numbers and quoted column names are allowed")
            return node.value
        if isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                raise self.fail(
                    node, f"'{node.id}' is a function; call it, or write col('{node.id}')"
                )
            return col(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = self.read(node.operand)
            if isinstance(value, str):
                value = col(value)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self.read(node.left), self.read(node.right)
            if not isinstance(left, Term) and not isinstance(right, Term):
                if isinstance(left, str) or isinstance(right, str):
                    raise self.fail(node, "arithmetic on a string")
                return _BINARY[type(node.op)](left, right)
            return self._arith(node, left, right)
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
                raise self.fail(node, "write one comparison at a time (a < b)")
            left = term(self.read(node.left))
            return _COMPARE[type(node.ops[0])](left, term(self.read(node.comparators[0])))
        if isinstance(node, ast.Call):
            return self._call(node)
        raise self.fail(node, "not allowed in a formula")

    def _arith(self, node: ast.BinOp, left: Any, right: Any) -> Term:
        op = type(node.op)
        if isinstance(left, Term):
            return _BINARY[op](left, term(right))
        return _BINARY[op](term(left), term(right))

    def _call(self, node: ast.Call) -> Term:
        name = _dotted(node.func)
        if name not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise self.fail(node.func, f"unknown function (known: {known})")
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
            k.arg is None for k in node.keywords
        ):
            raise self.fail(node, "no * or ** arguments")
        args = [self.read(a) for a in node.args]
        kwargs = {k.arg: self.read(k.value) for k in node.keywords}
        try:
            return FUNCTIONS[name](*args, **kwargs)
        except TypeError as exc:
            raise self.fail(node, f"bad arguments ({exc})") from None


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None
