"""Polars expression helpers shared by the stages, the factor algebra and the cost models:
missing-value rules (`finite`, `window_value`), `masked` cross-sections and `per_symbol`
windows. They import nothing from lazyflow, so any module may use them."""

from __future__ import annotations

import polars as pl

#: Window inputs (dollar volume, returns, funding) beyond +-2**53 (9.0e15, the largest float
#: that counts integers exactly) count as missing: bad prints, which would otherwise overflow a
#: window's sum (inf or NaN for the rest of the symbol's history) or swamp its precision after
#: they leave it.
MAX_WINDOW_VALUE = 2.0**53


def masked(column: str, mask: str | None) -> pl.Expr:
    """`column`, set to null where the boolean `mask` column is not true.

    Cross-sectional statistics skip nulls, so a masked column restricts the
    cross-section the way zipline's ``mask=`` does.
    """
    if mask is None:
        return pl.col(column)
    return pl.when(pl.col(mask)).then(pl.col(column))


def finite(expr: pl.Expr) -> pl.Expr:
    """`expr` as Float64, null where it is null, NaN or +-inf (non-finite counts as missing)."""
    value = expr.cast(pl.Float64)
    return pl.when(value.is_finite()).then(value)


def window_value(expr: pl.Expr) -> pl.Expr:
    """`expr` as Float64 for a window (rolling, EWMA or per-date sum): null where it is null,
    NaN, +-inf or beyond +-`MAX_WINDOW_VALUE`, so the window stays finite and recovers."""
    value = expr.cast(pl.Float64)
    return pl.when(value.abs() <= MAX_WINDOW_VALUE).then(value)


def per_symbol(expr: pl.Expr, symbol_col: str, date_col: str) -> pl.Expr:
    """`expr` evaluated over each symbol's rows in date order.

    The partition key is the symbol cast to Categorical: the same groups as the strings,
    found from integer codes instead of string hashes (about 30% less work per window).
    """
    return expr.over(pl.col(symbol_col).cast(pl.Categorical), order_by=date_col)


#: `exact_sum` scales a group's values below 2**SUM_BITS, leaving the top bits of Int128 for
#: the carries of up to 2**34 values.
SUM_BITS = 92
#: The largest power of two a Float64 holds: `exact_sum`'s scale stops there.
MAX_SHIFT = 1023.0


def exact_sum(x: pl.Expr) -> pl.Expr:
    """The sum of the finite Float64 values `x` (nulls count as 0; 0.0 for none), the same
    bits in any row order, thread count or grouping. An aggregation: use it with ``over``,
    ``group_by`` or ``select``.

    Every value is scaled by one power of two, ``2**s`` with
    ``s = min(SUM_BITS - 1 - floor(log2(max |x|)), MAX_SHIFT)`` (exact: only the exponent
    moves), truncated to Int128 and added as integers (exactly, in any order); the total is
    rounded once to Float64 and scaled back. So the result is the exact sum rounded to nearest
    (``math.fsum``), except for the parts of values below ``2**-s`` (2**-91 of the largest
    |x|, and below 2**-1023), which are dropped: error at most ``n * 2**-91 * max |x|``, where
    an ordinary float sum's is ``~n * 2**-53 * max |x|`` and its bits depend on the order of
    its additions. Needs fewer than 2**34 values per group.
    """
    x = x.fill_null(0.0)
    # a group of zeros (log2 0 = -inf) takes the largest scale
    shift = (SUM_BITS - 1 - x.abs().max().log(2).floor()).clip(upper_bound=MAX_SHIFT)
    scale = pl.lit(2.0).pow(shift)
    return ((x * scale).cast(pl.Int128).sum().cast(pl.Float64) / scale).fill_null(0.0)
