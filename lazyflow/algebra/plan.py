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
  would be evaluated once per lag;
- a sub-term whose expression the steps would hold more than `MAX_COPIES` times: an
  operator that reads an argument several times copies its expression (``ts.mean`` reads
  it 4 times, a division by a constant twice), nested readers multiply the copies
  (``x / 2 / 2 / ...`` doubles per level) and a shared sub-term adds them; Polars' time to
  plan grows with the copies (``x`` over 16 nested ``/ 2`` took minutes).

Each materialised node is one column of a ``with_columns`` group that comes after the
groups it reads. Its *level* counts the changes of partition below it: it equals the level
of what it reads when it opens the same partition, and is one more where a per-symbol
operator feeds a per-date one or the reverse.

Per-symbol windows run in one of two layouts (`Partitions`):

- in the frame's own rows, each window ``over(symbol, order_by=date)``
  (`lazyflow.exprs.per_symbol`);
- for a term with an operator that reads its input at many lags (``corr``, ``ts.rank``,
  ``decay_linear``...), on copies of the input columns sorted by (symbol, date) (`lf.Factor`
  sorts once and puts the result back in the frame's order). There a per-symbol window is a
  whole-column expression: a lag is a plain shift, and a value whose window would reach
  into the symbol before it (``position < history``) is null; operators that carry state
  from row to row (an EWMA, incremental rolling sums) run ``over`` the symbol's sorted
  integer code (one contiguous slice each). The lags, and the deviations and sums the
  kernel reads several times, are computed once into columns before the step (`Lags`):
  Polars' common sub-expression elimination does not share them (measured: ``corr(x, y,
  10)`` on 2.6 M rows 1.6 s as one expression, 0.2 s with them in columns). The sort costs
  about one per-symbol window, so terms without such an operator keep the first layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from lazyflow.algebra.term import CS, GROUP, OPS, ROW, SHIFT, TS, Lag, Term
from lazyflow.exprs import finite, per_symbol

#: The most copies of one sub-term's expression that a fused step may hold (see `plan`).
MAX_COPIES = 16

#: How each kind is written in `Plan.describe`.
KIND_NAMES = {TS: "per symbol", CS: "per date", GROUP: "per (date, group)", ROW: "row-wise"}


@dataclass(frozen=True)
class Partitions:
    """Where a plan reads its columns and how its windows partition them: `date` and
    `symbol` name the key columns. On rows sorted by (symbol, date) (`sorted`), `columns`
    maps each column a term names to its sorted copy, `code` is the symbol's integer code
    (flagged sorted) and `position` each row's 0-based position within its symbol."""

    date: str
    symbol: str
    columns: dict[str, str] = field(default_factory=dict)
    code: str = ""
    position: str = ""

    @property
    def sorted(self) -> bool:
        return bool(self.columns)

    def col(self, name: str) -> pl.Expr:
        """The column that holds `name`."""
        return pl.col(self.columns.get(name, name))


@dataclass(frozen=True)
class Step:
    """One materialised node: its column, its term (temporary columns in place of the
    sub-terms computed earlier), its Polars expression, the partitions it opens, its
    level (how many changes of partition lie below it), and the columns computed just
    before it (`scratch`: ``with_columns`` batches of (name, expression), see `Lags`)."""

    column: str
    term: Term
    expr: pl.Expr
    kinds: tuple[str, ...]
    level: int
    scratch: tuple[tuple[tuple[str, pl.Expr], ...], ...] = ()


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
        """`frame` (sorted as `Partitions` says) with the output column added and no
        temporary column left."""
        for group in self.groups:
            for step in group:
                for batch in step.scratch:
                    frame = frame.with_columns(expr.alias(name) for name, expr in batch)
            frame = frame.with_columns(step.expr.alias(step.column) for step in group)
            scratch = [name for step in group for batch in step.scratch for name, _ in batch]
            if scratch:
                frame = frame.drop(scratch)
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


def plan(root: Term, output: str, mask: str | None, partitions: Partitions, names: Names) -> Plan:
    """Plan `root` into levels writing column `output`, on a frame laid out as `partitions`
    says. `mask` restricts every cross-sectional input and the output; temporary columns
    are named by `names`."""
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

    # copies of each sub-term's expression in the steps: an operator that reads an argument
    # several times copies it, nested readers multiply the copies and shared sub-terms add them
    copies = dict.fromkeys(order, 0)
    copies[root] = 1
    for t in reversed(order):  # every reader before what it reads
        if copies[t] > MAX_COPIES and t.kind not in ("col", "lit"):
            materialised.add(t)
        held = 1 if t in materialised else copies[t]
        for a, reads in zip(t.args, _reads(t), strict=True):
            copies[a] += held * reads

    column = {}
    for t in order:  # dependencies first
        if t in materialised:
            column[t] = output if t is root or t == root else names.next()

    group: dict[Term, int] = {}
    steps: dict[Term, Step] = {}
    for t in order:
        if t not in materialised:
            continue
        deps: set[Term] = set()
        kinds: list[str] = []
        lags = Lags(names)
        build = Builder(t, materialised, column, mask, partitions, lags, deps, kinds)
        expr = build(t, None)
        if t is root or t == root:
            expr = finite(expr if mask is None else pl.when(partitions.col(mask)).then(expr))
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
        steps[t] = Step(column[t], shown, expr, opened, level, lags.batches())
    groups = tuple(
        tuple(steps[t] for t in steps if group[t] == i) for i in range(1, max(group.values()) + 1)
    )
    temporaries = tuple(column[t] for t in order if t in materialised and column[t] != output)
    return Plan(groups, output, temporaries)


@dataclass
class Lags(Lag):
    """The `Lag` of a step: the columns it computes before its expression, each argument
    read at several lags (`inputs`), their shifts (`shifts`), then what the kernels `keep`
    (`kept`, one ``with_columns`` per call)."""

    names: Names
    inputs: list[tuple[str, pl.Expr]] = field(default_factory=list)
    shifts: list[tuple[str, pl.Expr]] = field(default_factory=list)
    kept: list[tuple[tuple[str, pl.Expr], ...]] = field(default_factory=list)
    shifted: dict[tuple[str, int], str] = field(default_factory=dict)

    def batches(self) -> tuple[tuple[tuple[str, pl.Expr], ...], ...]:
        """The ``with_columns`` batches, in the order they must run."""
        return tuple(b for b in (tuple(self.inputs), tuple(self.shifts), *self.kept) if b)

    def keep(self, exprs: list[pl.Expr]) -> list[pl.Expr]:
        """`exprs` computed into columns (one ``with_columns``), read back."""
        names = [self.names.next() for _ in exprs]
        self.kept.append(tuple(zip(names, exprs, strict=True)))
        return [pl.col(name) for name in names]

    def column(self, expr: pl.Expr) -> pl.Expr:
        """`expr` computed into a column of its own, read back."""
        name = self.names.next()
        self.inputs.append((name, expr))
        return pl.col(name)

    def __call__(self, x: pl.Expr, k: int) -> pl.Expr:
        """Column `x` (from `column`) k rows back, computed once."""
        if k == 0:
            return x
        key = (x.meta.output_name(), k)
        if key not in self.shifted:
            self.shifted[key] = self.names.next()
            self.shifts.append((self.shifted[key], x.shift(k)))
        return pl.col(self.shifted[key])


@dataclass
class Builder:
    """Builds the expression of materialised node `target` (see `plan`); records the
    materialised nodes it reads (`deps`) and the partitions it opens (`kinds`)."""

    target: Term
    materialised: set[Term]
    column: dict[Term, str]
    mask: str | None
    partitions: Partitions
    lags: Lags
    deps: set[Term]
    kinds: list[str]

    def __call__(self, t: Term, ctx: str | None) -> pl.Expr:
        """The expression of `t` inside the target's step, in window context `ctx`."""
        if t is not self.target and t in self.materialised:
            self.deps.add(t)
            return pl.col(self.column[t])
        if t.op == "col":
            return self.partitions.col(t.params[0])
        if t.op == "lit":
            return pl.lit(t.params[0], pl.Float64)
        spec = OPS[t.op]
        inner = ctx if spec.kind == ROW else _key_of(t)
        args = [self(a, inner) for a in t.args]
        if spec.kind == ROW:
            return spec.build(args, t.params)
        args = [a if _is_finite(x) else finite(a) for a, x in zip(args, t.args, strict=True)]
        # a constant argument is one value: repeated to the window's rows, so that a window
        # of it sees every row (``ts.mean(2, 2)`` is 2 from a symbol's second row, ``cs.rank(2)``
        # ranks the date's ties) instead of a single row
        args = [
            pl.when(pl.repeat(True, pl.len())).then(a) if _constant(x) else a
            for a, x in zip(args, t.args, strict=True)
        ]
        if spec.kind in (CS, GROUP) and self.mask is not None:
            args = [pl.when(self.partitions.col(self.mask)).then(a) for a in args]
        params = t.params
        if spec.kind == GROUP:  # the group column, read where the plan reads its columns
            params = (self.partitions.columns.get(params[0], params[0]), *params[1:])
        if spec.lagged and self.partitions.sorted:
            expr = spec.build([self.lags.column(a) for a in args], params, self.lags)
        elif spec.lagged:
            expr = spec.build(args, params, SHIFT)
        else:
            expr = spec.build(args, params)
        expr = finite(expr)
        if ctx is not None:
            return expr
        self.kinds.append(spec.kind)
        return self.over(expr, t)

    def over(self, expr: pl.Expr, window: Term) -> pl.Expr:
        """`expr`, the fused window expression topped by `window`, in its partition."""
        parts = self.partitions
        date = parts.col(parts.date)
        if window.kind == CS:
            return expr.over(date)
        if window.kind == GROUP:
            return expr.over(date, parts.col(window.params[0]))
        if not parts.sorted:
            return per_symbol(expr, parts.symbol, parts.date)
        history, stateful = self.region(window)
        if stateful:
            return expr.over(parts.code)
        return pl.when(pl.col(parts.position) >= history).then(expr) if history else expr

    def region(self, t: Term) -> tuple[int, bool]:
        """The rows before the current one that the fused time-series expression topped
        by `t` reads (its operators' histories add up along each path), and whether one
        of its operators carries state."""
        if t.kind in ("col", "lit") or (t is not self.target and t in self.materialised):
            return 0, False
        spec = OPS[t.op]
        own = spec.history(t.params) if spec.history else 0
        reads = [self.region(a) for a in t.args]
        history = own + max((h for h, _ in reads), default=0)
        return history, spec.stateful or any(s for _, s in reads)


def _reads(t: Term) -> list[int]:
    """How many times the expression of `t` reads each argument's expression (a lagged
    operator reads its arguments from columns of their own, `Lags`: once)."""
    if t.kind in ("col", "lit") or OPS[t.op].lagged:
        return [1] * len(t.args)
    names = [f"\x00arg{i}" for i in range(len(t.args))]
    args = [
        pl.lit(a.params[0], pl.Float64) if a.op == "lit" else pl.col(name)
        for a, name in zip(t.args, names, strict=True)
    ]
    roots = OPS[t.op].build(args, t.params).meta.root_names()
    return [roots.count(name) for name in names]


def _constant(t: Term) -> bool:
    """True when `t` reads no column (a literal, or row-wise operators of literals)."""
    return t.op == "lit" or (t.op != "col" and t.kind == ROW and all(map(_constant, t.args)))


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


class Names:
    """Temporary column names ``__lf_tmp0``, ``__lf_tmp1``..., none in `taken` (the prefix
    grows by ``_`` until no taken name starts with it)."""

    def __init__(self, taken: set[str]) -> None:
        self.prefix = "__lf_tmp"
        while any(name.startswith(self.prefix) for name in taken):
            self.prefix = "_" + self.prefix
        self.count = 0

    def next(self) -> str:
        """A new name."""
        self.count += 1
        return f"{self.prefix}{self.count - 1}"
