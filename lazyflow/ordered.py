"""Aggregations whose bits do not depend on the row order or the Polars thread count.

A plain ``sum`` may add in chunks whose boundaries depend on the threads, and in the
frame's row order. Here every sum is a running sum (``cum_sum``) in the row order of a
frame sorted once (by date and symbol in `lazyflow.factor`), which every group of
``group_by`` or ``over`` keeps.
"""

from __future__ import annotations

import polars as pl


def ordered_sum(x: pl.Expr) -> pl.Expr:
    """Aggregation: the sum of the non-null values of `x`, added one by one in the row order
    (which a group of ``group_by`` or ``over`` keeps), so its bits do not depend on the path
    Polars takes (a plain ``sum`` adds in chunks that may depend on the threads). Null when
    there is no value."""
    return x.fill_null(0.0).cum_sum().last()


def ordered_mean(x: pl.Expr) -> pl.Expr:
    """Aggregation: the mean of the non-null values of `x` (`ordered_sum` / count); null
    when there is none."""
    n = x.count()
    return pl.when(n > 0).then(ordered_sum(x) / n)


def with_correlation(
    frame: pl.LazyFrame, x: str, y: str, keys: list[str], name: str, *, rank: bool = False
) -> pl.LazyFrame:
    """`frame` with column `name`: on every row, the Pearson correlation of `x` and `y` over
    the rows of its group of `keys` where both are finite (of their average ranks among
    those rows with `rank`: Spearman): ``sum(da db) / sqrt(sum(da^2) sum(db^2))`` with
    ``da = a - mean(a)``; null with fewer than two pairs or a constant side. Each sum is a
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
