"""Data checks shared by `backtest` and `Pipeline.audit`, so the two cannot disagree.

- `drop_reason`: why a row of the signal frame may not trade (the first check it fails);
- `nav_error`: the `DataError` for a NAV that stopped being finite, naming the date and the
  rows that moved it most.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import polars as pl

from lazyflow.errors import DataError

#: Why an input row may not trade, in the order the checks run (a row counts under the first).
ROW_REASONS = ("not_tradable_flag", "bad_target", "bad_vol", "bad_spread", "bad_price")

#: A gross exposure (multiples of NAV) beyond which a non-finite NAV is the leverage's fault.
MAX_SANE_GROSS = 1e6

#: The dtype of `drop_reason`: an Enum of ROW_REASONS.
REASON = pl.Enum(ROW_REASONS)


def positive(column: str) -> pl.Expr:
    """True where `column` is finite and > 0; false where it is null, NaN, +-inf or <= 0."""
    value = pl.col(column).cast(pl.Float64)
    return (value.is_finite() & (value > 0)).fill_null(False)


def drop_reason(target: str, vol: str, spread: str, price: str, flag: str | None) -> pl.Expr:
    """The first check a row fails, as a `REASON`; null when the row may trade.

    The checks, in order: the boolean `flag` column is true (a null flag is false; no check
    when `flag` is None); the target is finite; vol, spread and price are finite and > 0.
    """
    checks: list[tuple[str, pl.Expr]] = [
        ("bad_target", pl.col(target).cast(pl.Float64).is_finite().fill_null(False)),
        ("bad_vol", positive(vol)),
        ("bad_spread", positive(spread)),
        ("bad_price", positive(price)),
    ]
    if flag is not None:
        checks.insert(0, ("not_tradable_flag", pl.col(flag).fill_null(False)))
    (reason, ok), *rest = checks
    chain = pl.when(~ok).then(pl.lit(reason, dtype=REASON))
    for reason, ok in rest:
        chain = chain.when(~ok).then(pl.lit(reason, dtype=REASON))
    return chain.otherwise(pl.lit(None, dtype=REASON))


def reason_codes(reason: pl.Series) -> np.ndarray:
    """`drop_reason` values as integer codes: i for ROW_REASONS[i], len(ROW_REASONS) if tradable."""
    return reason.to_physical().fill_null(len(ROW_REASONS)).to_numpy().astype(np.int64)


class BadMetric(NamedTuple):
    """Where the metrics stop being finite: the first such row and its columns, and `blame`,
    the row up to it with the largest |daily_return| (non-finite counts as the largest)."""

    first: int
    columns: list[str]
    blame: int


def first_bad_metric(metrics: pl.DataFrame) -> BadMetric | None:
    """Where `metrics` first holds a NaN or infinite float (nulls are fine), or None."""
    bad = metrics.select((~pl.col(pl.Float64).is_finite()).fill_null(False))
    hits = bad.select(pl.any_horizontal(pl.all())).to_series().arg_true()
    if not len(hits):
        return None
    first = int(hits[0])
    columns = [c for c in bad.columns if bad[c][first]]
    moves = np.abs(metrics["daily_return"].to_numpy()[: first + 1])
    blame = int(np.argmax(np.nan_to_num(moves, nan=np.inf)))
    return BadMetric(first, columns, blame)


def nav_error(
    bad: BadMetric,
    metrics: pl.DataFrame,
    symbols: list[str],
    size: np.ndarray,
    values: dict[str, np.ndarray],
    gross: float,
) -> DataError:
    """The error for metrics that stop being finite (`bad`, found in `metrics`).

    `symbols` are the book rows of the blamed date, `size` how much each moved the NAV (NaN
    counts as the most) and `values` the inputs to show for each (closes, funding). The
    message names the first non-finite date and columns, the date of the largest NAV move up
    to it with the NAV's parts, and the three rows that moved it most. `gross` is the book's
    gross exposure on that date (multiples of NAV): above `MAX_SANE_GROSS` (or not finite)
    the message blames the allocator's leverage, not the prices.
    """
    date, *_ = metrics.columns
    row = metrics.row(bad.blame, named=True)
    parts = ", ".join(f"{k} {row[k]:.6g}" for k in ("daily_return", "nav", "pnl", "funding_pnl"))
    worst = np.argsort(-np.nan_to_num(np.abs(size), nan=np.inf), kind="stable")[:3].tolist()
    rows = [
        f"{symbols[k]!r} ({', '.join(f'{n} {v[k]:.6g}' for n, v in values.items())})" for k in worst
    ]
    if not gross <= MAX_SANE_GROSS:
        advice = (
            f"The book's gross exposure was {gross:.3g} x NAV that date: the allocator's "
            "max_pos, gross_cap or vol_target allow a leverage whose PnL overflows; lower them"
        )
    else:
        advice = "Check those prices and funding rates for extreme values"
    return DataError(
        f"backtest: metrics {', '.join(bad.columns)} stop being finite on "
        f"{metrics[date][bad.first]}; the largest NAV move up to then was on {row[date]} "
        f"({parts}), driven most by {'; '.join(rows) or '(no position)'}. {advice}"
    )
