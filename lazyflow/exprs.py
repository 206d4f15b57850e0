"""Polars expression helpers shared by the stages, the factor algebra and the cost models:
missing-value rules (`finite`, `window_value`), `masked` cross-sections, `per_symbol`
windows, and the per-group statistics that the built-in stages and ``lf.cs`` both use
(`exact_sum`, `group_mean`, `group_std`, `winsorize`, `quantile_bucket`: aggregations or
kernels over one group's rows, to be wrapped in ``over(date)``). They import nothing from
lazyflow, so any module may use them."""

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
    """`expr` as Float64, null where it is null, NaN or +-inf (non-finite counts as missing).
    Reads `expr` once (``fill_nan`` or ``when(is_finite)`` would evaluate it twice)."""
    inf = float("inf")
    return expr.cast(pl.Float64).replace([inf, -inf, float("nan")], None)


def window_value(expr: pl.Expr) -> pl.Expr:
    """`expr` as Float64 for a window (rolling, EWMA or per-date sum): null where it is null,
    NaN, +-inf or beyond +-`MAX_WINDOW_VALUE`, so the window stays finite and recovers.
    The built-in stages' rule (their rolling and EWMA kernels carry state); the factor
    algebra keeps every finite value instead and adds each window afresh."""
    value = expr.cast(pl.Float64)
    return pl.when(value.abs() <= MAX_WINDOW_VALUE).then(value)


def divide(x: pl.Expr, divisor: pl.Expr | float) -> pl.Expr:
    """``x / divisor`` by true division, the same bits on every row.

    Polars divides a column by a constant as a multiplication by its reciprocal, except on
    a few rows at the start of a chunk, where it divides: the last bit of ``x / 3`` depends
    on where a row lands (its row order, the chunks, the threads). Divided by a column,
    it divides exactly on every row, so a constant divisor is made one: ``x * 0 + d``
    (which is d where x is finite; the quotient is NaN, not +-inf, where x is not)."""
    if isinstance(divisor, pl.Expr) and not divisor.meta.is_literal():
        return x / divisor
    return x / (x * 0.0 + divisor)


def per_symbol(expr: pl.Expr, symbol_col: str, date_col: str) -> pl.Expr:
    """`expr` evaluated over each symbol's rows in date order.

    The partition key is the symbol cast to Categorical: the same groups as the strings,
    found from integer codes instead of string hashes (about 30% less work per window).
    """
    return expr.over(pl.col(symbol_col).cast(pl.Categorical), order_by=date_col)


def symbol_code(symbol_col: str) -> pl.Expr:
    """The symbol's integer code (its Categorical id, UInt32); a null symbol is one more
    symbol, coded 2**32 - 1."""
    return pl.col(symbol_col).cast(pl.Categorical).to_physical().fill_null(2**32 - 1)


def symbol_date_key(code: pl.Expr, date_col: str) -> pl.Expr:
    """One UInt64 per row that sorts the rows by (symbol, date) as ``over(symbol,
    order_by=date)`` orders them: `code` (`symbol_code`) in the high 32 bits, the date's day
    number (Int32, offset to be positive) in the low ones, a null date first."""
    day = pl.col(date_col).to_physical().cast(pl.Int64) + (2**31 + 1)
    return code.cast(pl.UInt64) * 2**32 + day.fill_null(0).cast(pl.UInt64)


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


def group_mean(x: pl.Expr) -> pl.Expr:
    """The group's mean of the finite values `x` over its non-null ones: ``exact_sum / count``
    (NaN for a group without values)."""
    return exact_sum(x) / x.count()


def group_std(centred: pl.Expr, ddof: int = 1) -> pl.Expr:
    """The group's standard deviation from its `centred` values (x - group mean, finite,
    with ``|centred| < 2**511`` so the squares stay finite):
    ``sqrt(exact_sum(centred^2) / (count - ddof))``; NaN where ``count <= ddof`` (a
    division, not a ``when``: `centred` is read once more per use)."""
    divisor = (centred.count().cast(pl.Int64) - ddof).clip(lower_bound=0)
    return (exact_sum(centred * centred) / divisor).sqrt()


def winsorize(x: pl.Expr, q: float, by: str | None = None) -> pl.Expr:
    """`x` clipped to its group's `q` and ``1 - q`` quantiles (interpolation "nearest").

    Without `by` a kernel over one group's rows (wrap it in ``over``); with `by` a row-wise
    expression whose two bounds are each taken ``over(by)`` (measured ~10% less CPU in
    `FundingCarry` than the whole clip inside one ``over``)."""
    low = x.quantile(q, interpolation="nearest")
    high = x.quantile(1 - q, interpolation="nearest")
    if by is not None:
        low, high = low.over(by), high.over(by)
    return x.clip(low, high)


def quantile_bucket(x: pl.Expr, n: int, descending: bool = False, min_count: int = 2) -> pl.Expr:
    """Bucket 1..`n` (Int64) of `x` in its group: ``floor((rank - 1) * n / count) + 1``, rank
    the average-ties rank (from the highest value down if `descending`) among the group's
    non-null values; null where ``count < min_count`` and where `x` is null. Computed in
    integers, ``(2 rank - 2) n // (2 count)``, so the floor is exact."""
    count = x.count().cast(pl.Int64)
    twice_below = ((x.rank("average", descending=descending) * 2 - 2) * n).cast(pl.Int64)
    return pl.when(count >= min_count).then(twice_below // (count * 2) + 1)
