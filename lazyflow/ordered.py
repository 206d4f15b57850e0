"""Aggregations whose bits do not depend on the row order or the Polars thread count.

A plain ``sum`` may add in chunks whose boundaries depend on the threads, and in the
frame's row order. Here every sum is a running sum (``cum_sum``) in a fixed order: the
order of a key column, or the row order of a frame sorted once, which a group of
``group_by`` or ``over`` keeps.
"""

from __future__ import annotations

import polars as pl


def ordered_sum(x: pl.Expr, order: str | pl.Expr | None = None) -> pl.Expr:
    """Aggregation: the sum of the non-null values of `x`, added one by one in the order of
    `order` (None: the row order, which a group of ``group_by`` or ``over`` keeps), so its
    bits do not depend on the path Polars takes (a plain ``sum`` adds in chunks that may
    depend on the threads). Null when there is no value. `order` must be unique among the
    rows it sums."""
    x = x.fill_null(0.0)
    if order is not None:
        x = x.sort_by(pl.col(order) if isinstance(order, str) else order)
    return x.cum_sum().last()


def ordered_mean(x: pl.Expr, order: str | pl.Expr | None = None) -> pl.Expr:
    """Aggregation: the mean of the non-null values of `x` (`ordered_sum` / count); null
    when there is none."""
    n = x.count()
    return pl.when(n > 0).then(ordered_sum(x, order) / n)


def information_coefficient(
    score: str | pl.Expr,
    forward: str | pl.Expr,
    *,
    rank: bool = False,
    order: str | pl.Expr | None = None,
) -> pl.Expr:
    """Aggregation expression: Pearson (``rank=False``) or Spearman IC of two columns.

    Over the rows where both are finite; Spearman correlates the average ranks
    among those rows. ``sum((s - mean_s)(f - mean_f)) / sqrt(sum((s - mean_s)^2) *
    sum((f - mean_f)^2))``, every sum added in the order of `order` (a column unique
    within the group, such as the symbol: the same bits in any row order; None: the
    row order). Null with fewer than two pairs or a constant side. Use it in
    ``group_by(date).agg(...)`` or with ``.over(date)``.
    """
    s = (pl.col(score) if isinstance(score, str) else score).cast(pl.Float64)
    f = (pl.col(forward) if isinstance(forward, str) else forward).cast(pl.Float64)
    both = s.is_finite() & f.is_finite()
    s, f = s.filter(both), f.filter(both)
    key = None if order is None else (pl.col(order) if isinstance(order, str) else order)
    key = None if key is None else key.filter(both)
    if rank:
        s, f = s.rank("average").cast(pl.Float64), f.rank("average").cast(pl.Float64)
    ds, df = s - ordered_mean(s, key), f - ordered_mean(f, key)
    ss, sf = ordered_sum(ds * ds, key), ordered_sum(df * df, key)
    return (
        pl.when((s.count() >= 2) & (ss > 0) & (sf > 0))
        .then(ordered_sum(ds * df, key) / (ss * sf).sqrt())
        .fill_nan(None)
    )


def with_correlation(
    frame: pl.LazyFrame, x: str, y: str, keys: list[str], name: str, *, rank: bool = False
) -> pl.LazyFrame:
    """`frame` with column `name`: on every row, the Pearson correlation of `x` and `y` over
    the rows of its group of `keys` where both are finite (of their average ranks among
    those rows with `rank`: Spearman), as `information_coefficient` defines it. Each sum is a
    running sum in the frame's row order (``cum_sum().over(keys)``): the same bits whatever
    the threads, and window expressions rather than a per-group evaluation (fast). It uses
    temporary columns named ``_a``, ``_b``, ``_n``, ``_s*`` and ``_d*``, which `frame` must
    not have."""
    both = pl.col(x).cast(pl.Float64).is_finite() & pl.col(y).cast(pl.Float64).is_finite()
    a, b = (pl.when(both).then(pl.col(c).cast(pl.Float64)) for c in (x, y))
    if rank:
        a, b = (v.rank("average").over(keys).cast(pl.Float64) for v in (a, b))

    def total(column: str) -> pl.Expr:
        return pl.col(column).fill_null(0.0).cum_sum().over(keys)

    def last(column: str) -> pl.Expr:
        return pl.col(column).last().over(keys)

    n = pl.col("_a").count().over(keys)
    frame = frame.with_columns(a.alias("_a"), b.alias("_b"))
    frame = frame.with_columns(_n=n, _sa=total("_a"), _sb=total("_b"))
    frame = frame.with_columns(
        _da=pl.col("_a") - last("_sa") / pl.col("_n"),
        _db=pl.col("_b") - last("_sb") / pl.col("_n"),
    ).with_columns(
        _aa=pl.col("_da") ** 2, _bb=pl.col("_db") ** 2, _ab=pl.col("_da") * pl.col("_db")
    )
    frame = frame.with_columns(_saa=total("_aa"), _sbb=total("_bb"), _sab=total("_ab"))
    defined = (pl.col("_n") >= 2) & (last("_saa") > 0) & (last("_sbb") > 0)
    value = pl.when(defined).then(last("_sab") / (last("_saa") * last("_sbb")).sqrt())
    temporary = ["_a", "_b", "_n", "_sa", "_sb", "_da", "_db", "_aa", "_bb", "_ab"]
    return frame.with_columns(value.fill_nan(None).alias(name)).drop(
        *temporary, "_saa", "_sbb", "_sab"
    )
