"""Cross-sectional operators (``lf.cs``): per date, over the rows where the value is finite
and, when the `Factor` has a ``mask``, inside it. Rows outside get null.

Two layers, as in `lazyflow.algebra.ts`: the *kernels* ``*_expr(x)`` are plain Polars
expressions over one date's rows (``x`` finite Float64 with nulls for missing and masked
rows; `lf.Factor` wraps them in ``.over(date)``), and the *term constructors*.

The statistics are the built-in stages' own (`lazyflow.exprs`): every per-date sum (the
mean, the std, sum |x|) is `exact_sum`, the exact sum rounded once, so the bits of the
result do not depend on the row order, the thread count or the path Polars takes;
``winsorize`` is `FundingCarry`'s and ``quantile`` is `Deciles`' bucket rule.
"""

from __future__ import annotations

from numbers import Integral, Real

import polars as pl

from lazyflow.algebra.term import CS, GROUP, OPS, OpSpec, Term, TermLike, term
from lazyflow.algebra.ts import CONSTANT_RTOL
from lazyflow.errors import ConfigError
from lazyflow.exprs import exact_sum, finite, group_mean, group_std, quantile_bucket
from lazyflow.exprs import winsorize as winsorize_kernel
from lazyflow.numbers import is_number

#: ``cs.zscore`` is null on a date with a value this large (2**510, ~3.4e153): below it the
#: centred values stay under 2**511 and their squares finite.
ZSCORE_MAX = 2.0**510


# kernels -------------------------------------------------------------------------------
def per_row(value: pl.Expr, like: pl.Expr) -> pl.Expr:
    """The group's scalar `value` as a column as long as `like` (null where `like` is).

    Polars divides a column by a group's scalar as a multiplication by its reciprocal,
    which can miss the correctly rounded quotient by one bit (27 * (1/27) < 1); divided by
    a column, it divides exactly. Every per-date division divides by `per_row(...)`."""
    return value + like * 0.0


def rank_expr(x: pl.Expr) -> pl.Expr:
    """rank (average ties) / count, in (0, 1] (the top value is exactly 1)."""
    rank = x.rank("average")
    return rank / per_row(x.count(), rank)


def demean_expr(x: pl.Expr) -> pl.Expr:
    """x - mean."""
    return finite(x - group_mean(x))


def zscore_expr(x: pl.Expr) -> pl.Expr:
    """(x - mean) / std, std = sqrt(sum (x - mean)^2 / (n - 1)); null where n < 2, where the
    values are constant up to rounding (std <= CONSTANT_RTOL * |mean|), and on a date with a
    value of size ``ZSCORE_MAX`` or more (its squares could overflow). On a date whose values
    are all below ~2**-450 (1e-135) the squares reach `exact_sum`'s 2**-1023 floor and the
    std loses precision (rescaling x first costs twice the time: measured)."""
    m = group_mean(x)
    centred = x - m
    # a date with a value beyond ZSCORE_MAX is nulled by the when, but Polars evaluates the
    # std there too: clipped, the squares stay finite for exact_sum (cheaper than a guard)
    sd = group_std(centred.clip(-2 * ZSCORE_MAX, 2 * ZSCORE_MAX))
    small = (sd > CONSTANT_RTOL * m.abs()) & (x.abs().max() < ZSCORE_MAX)
    return finite(pl.when(small).then(centred / per_row(sd, centred)))


def winsorize_expr(x: pl.Expr, q: float) -> pl.Expr:
    """x clipped to the group's q and 1 - q quantiles (interpolation "nearest")."""
    return winsorize_kernel(x, q)


def scale_expr(x: pl.Expr, a: float = 1.0) -> pl.Expr:
    """x * a / sum |x|, so that sum |x| = a; null where sum |x| = 0."""
    return finite(x * a / per_row(exact_sum(x.abs()), x))


def quantile_expr(x: pl.Expr, n: int) -> pl.Expr:
    """Bucket 1..n: floor((rank - 1) * n / count) + 1 (rank average ties), as `Deciles`;
    null where count < 2."""
    return quantile_bucket(x, n).cast(pl.Float64)


def neutralize_expr(x: pl.Expr, group: str) -> pl.Expr:
    """x - mean of x within its group; evaluate over (date, group). Null where the group
    is null."""
    return pl.when(pl.col(group).is_not_null()).then(demean_expr(x))


# term constructors ---------------------------------------------------------------------
def _register(name: str, kind: str, build) -> None:
    OPS[f"cs.{name}"] = OpSpec(kind, lambda args, params: build(*args, *params), f"cs.{name}")


_register("rank", CS, rank_expr)
_register("zscore", CS, zscore_expr)
_register("demean", CS, demean_expr)
_register("winsorize", CS, winsorize_expr)
_register("scale", CS, scale_expr)
_register("quantile", CS, quantile_expr)
_register("neutralize", GROUP, neutralize_expr)


def rank(x: TermLike) -> Term:
    """cs.rank(x): average rank / count per date, in (0, 1]."""
    return Term("cs.rank", (term(x),))


def zscore(x: TermLike) -> Term:
    """cs.zscore(x): (x - mean) / std per date (ddof 1)."""
    return Term("cs.zscore", (term(x),))


def demean(x: TermLike) -> Term:
    """cs.demean(x): x - its date's mean."""
    return Term("cs.demean", (term(x),))


def winsorize(x: TermLike, q: float) -> Term:
    """cs.winsorize(x, q): clip to the date's q and 1 - q quantiles (nearest), 0 <= q < 0.5."""
    if isinstance(q, bool) or not isinstance(q, Real) or not 0 <= q < 0.5:
        raise ConfigError(f"cs.winsorize: parameter 'q' must be a number in [0, 0.5), got {q!r}")
    return Term("cs.winsorize", (term(x),), (float(q),))


def scale(x: TermLike, a: float = 1.0) -> Term:
    """cs.scale(x, a=1): x scaled so that the date's sum |x| = a."""
    if not is_number(a):
        raise ConfigError(f"cs.scale: parameter 'a' must be a finite number, got {a!r}")
    return Term("cs.scale", (term(x),), (float(a),))


def quantile(x: TermLike, n: int) -> Term:
    """cs.quantile(x, n): bucket 1..n per date by the rule of `Deciles`."""
    if isinstance(n, bool) or not isinstance(n, Integral) or not 1 <= n <= 1_000_000:
        raise ConfigError(f"cs.quantile: parameter 'n' must be an integer in 1..1000000, got {n!r}")
    return Term("cs.quantile", (term(x),), (int(n),))


def neutralize(x: TermLike, group: str) -> Term:
    """cs.neutralize(x, group): x minus its mean within (date, group column)."""
    if not isinstance(group, str) or not group:
        raise ConfigError(
            f"cs.neutralize: parameter 'group' must be a non-empty column name, got {group!r}"
        )
    return Term("cs.neutralize", (term(x),), (group,))


__all__ = ["demean", "neutralize", "quantile", "rank", "scale", "winsorize", "zscore"]
