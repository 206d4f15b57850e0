"""The level planner: a term -> the fewest ``with_columns`` levels that evaluate it correctly.

Polars evaluates a window expression nested in another window per group of the *outer*
window, so ``x.diff().over("symbol").rank().over("date")`` runs the diff inside each date.
The planner therefore never nests windows of different partitions:

- operators of one partition (per symbol in date order, per date, per (date, group)) that
  feed each other directly, with row-wise operators between them, are *fused* into one
  expression under one ``over``;
- an operator read inside a window of another partition is *materialised*: computed into a
  temporary column one level earlier, and read back as a column;
- an equal sub-term used more than once that contains a window is materialised as well, so
  it is computed once (window-free sub-terms are left to Polars' own sub-expression
  elimination), and so is a window-holding argument of an operator that reads it at
  several lags (``delta``, ``corr``, ``decay_linear``, most ``cs`` operators...): fused, it
  would be evaluated once per lag.

Each materialised node is one column of a ``with_columns`` group that comes after the
groups it reads. Its *level* counts the changes of partition below it: it equals the level
of what it reads when it opens the same partition, and is one more where a per-symbol
operator feeds a per-date one or the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from lazyflow.algebra.term import CS, GROUP, OPS, ROW, TS, Term
from lazyflow.exprs import finite

#: How each kind is written in `Plan.describe`.
KIND_NAMES = {TS: "per symbol", CS: "per date", GROUP: "per (date, group)", ROW: "row-wise"}


@dataclass(frozen=True)
class Step:
    """One materialised node: its column, its term (temporary columns in place of the
    sub-terms computed earlier), its Polars expression, the partitions it opens, and its
    level (how many changes of partition lie below it)."""

    column: str
    term: Term
    expr: pl.Expr
    kinds: tuple[str, ...]
    level: int


@dataclass(frozen=True)
class Plan:
    """Groups of steps; each group is one ``with_columns`` (its columns read only earlier
    groups' columns)."""

    groups: tuple[tuple[Step, ...], ...]
    output: str
    temporaries: tuple[str, ...]

    @property
    def levels(self) -> int:
        """Changes of partition (ts -> cs, cs -> ts) plus one: the level of the output."""
        return max(step.level for group in self.groups for step in group)

    def apply(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """`frame` with the output column added and no temporary column left."""
        for group in self.groups:
            frame = frame.with_columns(step.expr.alias(step.column) for step in group)
        return frame.drop(self.temporaries) if self.temporaries else frame

    def describe(self) -> str:
        """The plan as text: one line per computed column, by ``with_columns``."""
        lines = [
            f"{self.levels} level(s), {len(self.groups)} with_columns, for column '{self.output}'"
        ]
        for i, group in enumerate(self.groups, start=1):
            for step in group:
                kinds = ", ".join(KIND_NAMES[k] for k in step.kinds) or "row-wise"
                lines.append(
                    f"  with_columns {i} (level {step.level}) [{kinds}] {step.column} = {step.term}"
                )
        return "\n".join(lines)


def _key_of(t: Term) -> str:
    """The partition key of a window term: its kind, plus the group column for GROUP."""
    return f"{GROUP}:{t.params[0]}" if t.kind == GROUP else t.kind


def plan(
    root: Term,
    output: str,
    mask: str | None,
    over: Callable[[pl.Expr, Term], pl.Expr],
    taken: set[str],
) -> Plan:
    """Plan `root` into levels writing column `output`.

    `over(expr, window_term)` wraps a fused window expression in its partition; `mask`
    restricts every cross-sectional input and the output; temporary names avoid `taken`.
    """
    uses: dict[Term, int] = {}
    has_window: dict[Term, bool] = {}
    order: list[Term] = []
    stack: list[tuple[Term, bool]] = [(root, False)]
    while stack:  # post-order walk of the DAG, counting uses
        t, done = stack.pop()
        if done:
            has_window[t] = t.kind not in ("col", "lit", ROW) or any(has_window[a] for a in t.args)
            order.append(t)
            continue
        uses[t] = uses.get(t, 0) + 1
        if uses[t] == 1:
            stack.append((t, True))
            stack.extend((a, False) for a in reversed(t.args))
    materialised = {t for t in order if uses[t] > 1 and has_window[t] and t.kind != "col"}
    materialised.add(root)

    # a window read inside a window of another partition is materialised too
    pending, seen = [root], set()
    while pending:
        target = pending.pop()
        if target in seen:
            continue
        seen.add(target)
        walk: list[tuple[Term, str | None]] = [(target, None)]
        while walk:
            t, ctx = walk.pop()
            if t is not target and t in materialised:
                pending.append(t)
                continue
            if t.kind in ("col", "lit"):
                continue
            if t.kind != ROW:
                key = _key_of(t)
                if ctx not in (None, key):
                    materialised.add(t)
                    pending.append(t)
                    continue
                ctx = key
            once = OPS[t.op].reads_once
            for a in t.args:
                if not once and has_window[a] and a.kind not in ("col", "lit"):
                    materialised.add(a)  # read at several lags: computed once, into a column
                    pending.append(a)
                else:
                    walk.append((a, ctx))

    names = _names(len(materialised), taken | {output})
    column = {}
    for t in order:  # dependencies first
        if t in materialised:
            column[t] = output if t is root or t == root else names.pop()

    group: dict[Term, int] = {}
    steps: dict[Term, Step] = {}
    for t in order:
        if t not in materialised:
            continue
        deps: set[Term] = set()
        kinds: list[str] = []
        expr = _build(t, t, None, materialised, column, mask, over, deps, kinds)
        if t is root or t == root:
            expr = finite(expr if mask is None else pl.when(pl.col(mask)).then(expr))
        group[t] = 1 + max((group[d] for d in deps), default=0)
        opened = tuple(dict.fromkeys(kinds))
        level = max(
            (
                steps[d].level + (not opened or steps[d].kinds != opened) * bool(opened)
                for d in deps
            ),
            default=1,
        )
        shown = _substitute(t, t, materialised, column)
        steps[t] = Step(column[t], shown, expr, opened, level)
    groups = tuple(
        tuple(steps[t] for t in steps if group[t] == i) for i in range(1, max(group.values()) + 1)
    )
    temporaries = tuple(column[t] for t in order if t in materialised and column[t] != output)
    return Plan(groups, output, temporaries)


def _build(
    t: Term,
    target: Term,
    ctx: str | None,
    materialised: set[Term],
    column: dict[Term, str],
    mask: str | None,
    over: Callable[[pl.Expr, Term], pl.Expr],
    deps: set[Term],
    kinds: list[str],
) -> pl.Expr:
    """The expression of `t` inside `target`'s step, in window context `ctx`."""
    if t is not target and t in materialised:
        deps.add(t)
        return pl.col(column[t])
    if t.op == "col":
        return pl.col(t.params[0])
    if t.op == "lit":
        return pl.lit(t.params[0], pl.Float64)
    spec = OPS[t.op]
    inner = ctx if spec.kind == ROW else _key_of(t)
    args = [_build(a, target, inner, materialised, column, mask, over, deps, kinds) for a in t.args]
    if spec.kind == ROW:
        return spec.build(args, t.params)
    args = [a if _is_finite(x) else finite(a) for a, x in zip(args, t.args, strict=True)]
    if spec.kind in (CS, GROUP) and mask is not None:
        args = [pl.when(pl.col(mask)).then(a) for a in args]
    expr = finite(spec.build(args, t.params))
    if ctx is None:
        kinds.append(spec.kind)
        return over(expr, t)
    return expr


def _is_finite(t: Term) -> bool:
    """True when `t`'s expression is already finite or null (a window's or a literal's)."""
    return t.kind not in ("col", ROW)


def _substitute(t: Term, target: Term, materialised: set[Term], column: dict[Term, str]) -> Term:
    """`t` with every materialised sub-term other than `target` replaced by its column."""
    if t is not target and t in materialised:
        return Term("col", (), (column[t],))
    if not t.args:
        return t
    args = tuple(_substitute(a, target, materialised, column) for a in t.args)
    return Term(t.op, args, t.params)


def _names(n: int, taken: set[str]) -> list[str]:
    """n temporary column names, none in `taken` (a longer prefix until none clashes)."""
    prefix = "__lf_tmp"
    while any(name.startswith(prefix) for name in taken):
        prefix = "_" + prefix
    return [f"{prefix}{i}" for i in range(n)]
