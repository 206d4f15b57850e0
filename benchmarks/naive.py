"""The carry workload written the notebook's way, for the benchmark's ratio (issue 5).

The pipeline follows the notebook's cells on eager DataFrames, independently of lazyflow's
stages: a sort before each window, per-date winsor bounds and moments by ``group_by`` + join,
and the per-date volume and carry deciles by ``group_by(date).map_groups(...)`` (a Python call
per date, as the notebook's ``calc_decile`` / ``assign_deciles``). It computes the columns of
`lf.presets.carry()` (ascending carry deciles, log returns on the full panel: DESIGN
differences 1 and 2) so its frame can be checked against lazyflow's. The backtest is
`benchmarks.bench_scan.naive_backtest`: a loop over dates that filters the frame and joins per
date.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from benchmarks.bench_scan import naive_backtest

__all__ = ["naive_backtest", "naive_pipeline"]

WINDOW, MIN_DECILE = 30, 9  # the carry preset's VolumeUniverse
WINSOR = 0.05  # FundingCarry
K, Y_MIN, Y_MAX = 1.0, -0.9, 0.9  # SigmoidTarget
SHORT, LONG, BLEND = 21, 90, 0.5  # EwmaVol


def _volume_deciles(group: pl.DataFrame) -> pl.DataFrame:
    """The notebook's ``calc_decile``: one date's liquidity decile (10 = most liquid)."""
    n = group.height
    return (
        group.with_columns(pl.col("trail_volume").rank(descending=True).alias("rank"))
        .with_columns(
            (10 - (pl.col("rank") - 1) * 10 // n)
            .clip(lower_bound=1)
            .cast(pl.Int32)
            .alias("volume_decile")
        )
        .with_columns((pl.col("volume_decile") >= MIN_DECILE).alias("is_universe"))
        .drop("rank")
    )


def _carry_deciles(group: pl.DataFrame) -> pl.DataFrame:
    """The notebook's ``assign_deciles``, ranked ascending (decile 10 = highest carry)."""
    n = group.height
    if n < 2:
        return group.with_columns(pl.lit(None, dtype=pl.Int32).alias("decile_carry"))
    return (
        group.with_columns(pl.col("carry_score").rank().alias("temp_rank"))
        .with_columns(
            ((pl.col("temp_rank") - 1) * 10 // n + 1).cast(pl.Int32).alias("decile_carry")
        )
        .drop("temp_rank")
    )


def naive_pipeline(panel: pl.DataFrame) -> pl.DataFrame:
    """The carry preset's columns, computed cell by cell as the notebook does; (date, symbol)
    order."""
    df = panel.drop_nulls()
    # log returns per symbol on the full panel
    df = df.sort(["symbol", "date"]).with_columns(
        (pl.col("close").log() - pl.col("close").shift(1).over("symbol").log()).alias("log_returns")
    )
    # VolumeFilter.filter_by_volume
    df = df.sort(["date", "symbol"]).with_columns(
        pl.col("dollar_volume")
        .rolling_mean(window_size=WINDOW, min_samples=1)
        .over("symbol")
        .alias("trail_volume")
    )
    df = df.group_by("date").map_groups(_volume_deciles)
    # CryptoCarryFactor: winsorise and standardise per date through joins
    df = df.with_columns((-pl.col("funding_rate")).alias("carry_raw"))
    bounds = df.group_by("date").agg(
        pl.col("carry_raw").quantile(WINSOR).alias("lower_bound"),
        pl.col("carry_raw").quantile(1 - WINSOR).alias("upper_bound"),
    )
    df = (
        df.join(bounds, on="date", how="left")
        .with_columns(
            pl.col("carry_raw").clip(pl.col("lower_bound"), pl.col("upper_bound")).alias("wins")
        )
        .drop("lower_bound", "upper_bound")
    )
    stats = df.group_by("date").agg(
        pl.col("wins").mean().alias("mean"), pl.col("wins").std().alias("std")
    )
    df = (
        df.join(stats, on="date", how="left")
        .with_columns(
            ((pl.col("wins") - pl.col("mean")) / (pl.col("std") + 1e-8)).alias("carry_score")
        )
        .drop("carry_raw", "wins", "mean", "std")
    )
    df = df.group_by("date").map_groups(_carry_deciles)
    # carry_decile_to_target_sigmoid: lo/hi from the whole column, as the notebook collected
    lo, hi = (
        float(v) for v in df.select(lo=pl.min("decile_carry"), hi=pl.max("decile_carry")).row(0)
    )
    df = df.with_columns(
        ((pl.col("decile_carry").cast(pl.Float64) - lo) / (hi - lo) * 2.0 - 1.0).alias("alpha")
    ).with_columns(
        (Y_MIN + (Y_MAX - Y_MIN) * (1.0 / (1.0 + (-K * pl.col("alpha")).exp()))).alias(
            "target_position"
        )
    )
    # EMARealizedVol.add_vol
    df = (
        df.sort(["symbol", "date"])
        .with_columns((pl.col("log_returns") ** 2).alias("r2"))
        .with_columns(
            pl.col("r2").ewm_mean(span=SHORT).over("symbol").alias("v_s_raw"),
            pl.col("r2").ewm_mean(span=LONG).over("symbol").alias("v_l_raw"),
        )
        .with_columns(
            pl.col("v_s_raw").shift(1).over("symbol").alias("v_s"),
            pl.col("v_l_raw").shift(1).over("symbol").alias("v_l"),
        )
        .with_columns(
            (BLEND * pl.col("v_s") + (1 - BLEND) * pl.col("v_l")).sqrt().alias("vol_fcst")
        )
        .drop("r2", "v_s_raw", "v_l_raw", "v_s", "v_l")
    )
    # the high-low spread
    df = df.with_columns(
        ((pl.col("high") - pl.col("low")) / ((pl.col("high") + pl.col("low")) / 2) * 0.5).alias(
            "spread"
        )
    )
    return df.sort(["date", "symbol"])


def max_difference(
    naive: pl.DataFrame, frame: pl.DataFrame, columns: list[str], relative: bool = False
) -> float:
    """The largest |naive - lazyflow| over `columns` (divided by max(1, |lazyflow|) if
    `relative`), rows matched by (date, symbol); inf when the keys or the null patterns differ."""
    a = naive.sort(["date", "symbol"])
    b = frame.sort(["date", "symbol"])
    if a.height != b.height or not a.select("date", "symbol").equals(b.select("date", "symbol")):
        return float("inf")
    worst = 0.0
    for column in columns:
        x = a[column].cast(pl.Float64).to_numpy()
        y = b[column].cast(pl.Float64).to_numpy()
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            return float("inf")
        both = ~np.isnan(x)
        gap = np.abs(x[both] - y[both])
        if relative:
            gap /= np.maximum(1.0, np.abs(y[both]))
        worst = max(worst, float(np.max(gap, initial=0.0)))
    return worst


#: The carry preset's float columns, compared to a tolerance; the deciles are compared exactly.
FLOAT_COLUMNS = ["log_returns", "trail_volume", "carry_score", "vol_fcst", "spread"]
#: Carry scores of one date closer than this may rank either way between implementations.
NEAR_TIE = 1e-12


def disagreement(peer: pl.DataFrame, frame: pl.DataFrame, tolerance: float = 1e-9) -> str | None:
    """Why `peer` (another implementation's carry frame) is not lazyflow's `frame`, or None.

    The float columns must agree to `tolerance` (relative to max(1, |value|)), the volume
    deciles and universe flags exactly. Per-date sums add in different orders, so scores may
    differ in the last bits and a carry decile may differ where scores of one date lie within
    `NEAR_TIE` of each other: only there, and alpha and target must agree where it does not.
    """
    gap = max_difference(peer, frame, FLOAT_COLUMNS, relative=True)
    if gap > tolerance:
        return f"float columns differ by {gap:.3g} (relative) > {tolerance:g}"
    a, b = peer.sort("date", "symbol"), frame.sort("date", "symbol")
    for column in ("volume_decile", "is_universe"):
        if not a[column].cast(b[column].dtype).equals(b[column]):
            return f"{column} differs"
    near_tie = (
        b.sort("date", "carry_score")
        .with_columns(gap=pl.col("carry_score").diff().abs().over("date"))
        .with_columns(
            tie=(pl.col("gap") <= NEAR_TIE) | (pl.col("gap").shift(-1).over("date") <= NEAR_TIE)
        )
        .select("date", "symbol", "tie")
    )
    differ = (
        b.select("date", "symbol", "decile_carry")
        .join(
            a.select("date", "symbol", peer=pl.col("decile_carry").cast(pl.Int32)),
            on=["date", "symbol"],
        )
        .filter(pl.col("decile_carry").ne_missing(pl.col("peer")))
        .join(near_tie, on=["date", "symbol"], how="left")
        .with_columns(pl.col("tie").fill_null(False))
    )
    if not differ["tie"].all():
        return f"decile_carry differs away from ties, e.g. {differ.filter(~pl.col('tie')).row(0)}"
    same = a["decile_carry"].cast(pl.Int32).eq_missing(b["decile_carry"])
    gap = max_difference(a.filter(same), b.filter(same), ["alpha", "target_position"])
    if gap > tolerance:
        return f"alpha or target_position differ by {gap:.3g} where the deciles agree"
    return None
